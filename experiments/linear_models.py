r"""Section 5: minimum-norm interpolation with a kernel, on true and random labels.

  python experiments/linear_models.py --data_dir=/path/to/tfds --n_train=10000 \
      --labels=true,random --out=docs/measurements/theory/kernel_gaussian_cifar10_n10000.json
  python experiments/linear_models.py --kernel=linear --n_train=3000  # data: $TFDS_DATA_DIR

Preprocessing as Section 5: pixels scaled to [0, 1] and flattened (no crop, no whitening).
Targets are one-hot labels; K alpha = y is solved exactly (Cholesky), the prediction is the argmax
of the K(x, X) alpha. Training error is measured by recomputing the outputs on the training
points, not assumed. Several --labels share one Gram matrix and one factorization; --out then
holds a JSON list with one object per labels setting (one object when one setting is given).
Data: rethinking.theory.data; measurements: docs/measurements/theory/README.md.
"""
from __future__ import annotations

import os
import sys
import time

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import validation  # noqa: E402  pylint: disable=wrong-import-position

LABELS = ("true", "random")
KERNELS = ("gaussian", "linear")
PRECISIONS = ("auto", "float64", "float32")
# "auto" keeps float64 (with a second copy of K to check K alpha) while that fits this budget.
_FLOAT64_BUDGET_BYTES = 8 * 2**30

_DATASET, _DATA_DIR, _DOWNLOAD = cli.define_data_flags()
flags.adopt_module_key_flags(cli)  # --help lists them with this app's flags
_N_TRAIN = flags.DEFINE_integer("n_train", 10000, "First n training images; 0 = all.",
                                lower_bound=0)
_N_TEST = flags.DEFINE_integer("n_test", 0, "First n test images; 0 = all.", lower_bound=0)
_KERNEL = flags.DEFINE_enum("kernel", "gaussian", KERNELS, "The kernel k(x, x').")
_BANDWIDTH = flags.DEFINE_float("bandwidth", None, "Gaussian kernel gamma in "
                                "exp(-gamma ||x - x'||^2), > 0; default 1 / median squared "
                                "distance.")
_LABELS = flags.DEFINE_list("labels", ["true"], f"Comma-separated, distinct, each one of "
                            f"{', '.join(LABELS)}.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random labels and the bandwidth sample.")
_PRECISION = flags.DEFINE_enum("precision", "auto", PRECISIONS, "auto: float64 while two n x n "
                               "copies fit in 8 GiB, else float32 in place.")
_OUT = flags.DEFINE_string("out", "", "Write the result JSON here (atomically).")
cli.require_writable_file(_OUT, ".json")
cli.validate(_BANDWIDTH, lambda v: v is None or 0 < v < float("inf"), "must be a positive number")
cli.validate(_LABELS, lambda v: bool(v) and set(v) <= set(LABELS) and len(set(v)) == len(v),
             f"must be distinct values among {', '.join(LABELS)}")


def check_flags():
  """--n_train / --n_test against the prepared splits' sizes, or None. Reads no data."""
  for flag, split, value in (("n_train", "train", _N_TRAIN.value),
                             ("n_test", "test", _N_TEST.value)):
    size = validation.prepared_split_size(_DATASET.value, split, _DATA_DIR.value)
    if size is not None and value > size:
      return validation.Invalid(flag, value, f"must be 0 (all) to {size}")
  return None


def _reference(dataset: str, kernel: str) -> str:
  """The paper's Section 5 figure for this setting (reference only, never used to compute)."""
  # Imported after the flags are validated (bad flags answer at once).
  from rethinking import paper  # pylint: disable=import-outside-toplevel
  cell = paper.SECTION5.get((dataset, kernel, "raw pixels"))
  if cell is None:
    return "the paper reports no number for this setting"
  return (f"the paper: {cell} % test error, true labels, all {dataset} training images, "
          "raw pixels (reference only)")


def main(argv):
  cli.start(argv, check_flags)
  # Imported after the flags are validated: these load TensorFlow (bad flags answer at once).
  import numpy as np  # pylint: disable=import-outside-toplevel
  from rethinking import host  # pylint: disable=import-outside-toplevel
  from rethinking.data import datasets  # pylint: disable=import-outside-toplevel
  from rethinking.theory import data as theory_data  # pylint: disable=import-outside-toplevel
  from rethinking.theory import kernels  # pylint: disable=import-outside-toplevel

  name, data_dir = _DATASET.value, _DATA_DIR.value
  try:
    (train_images, train_labels, test_images, test_labels,
     num_classes) = theory_data.load_train_and_test(name, data_dir, _N_TRAIN.value, _N_TEST.value,
                                                    download=_DOWNLOAD.value)
  except datasets.DatasetUnavailableError as e:
    cli.die(f"error: {e}")
  n = len(train_labels)
  precision = _PRECISION.value
  if precision == "auto":
    precision = "float64" if 2 * 8 * n * n <= _FLOAT64_BUDGET_BYTES else "float32"
  keep_gram = not (precision == "float32" and 2 * 4 * n * n > _FLOAT64_BUDGET_BYTES)
  x = theory_data.flat_pixels(train_images, dtype=precision)
  x_test = theory_data.flat_pixels(test_images, dtype=precision)
  del train_images, test_images
  label_sets = {"true": train_labels}
  if "random" in _LABELS.value:
    label_sets["random"] = theory_data.random_labels(train_labels, num_classes, _SEED.value)
  label_sets = {k: label_sets[k] for k in _LABELS.value}
  # All label settings in one right-hand side: one Gram matrix, one factorization.
  targets = np.concatenate([kernels.as_targets(v, num_classes) for v in label_sets.values()],
                           axis=1)
  bandwidth = _BANDWIDTH.value
  if _KERNEL.value == "gaussian" and bandwidth is None:
    bandwidth = kernels.median_bandwidth(x, seed=_SEED.value)

  start = time.perf_counter()
  try:
    fit = kernels.fit_min_norm(x, targets, kernel=_KERNEL.value, bandwidth=bandwidth,
                               dtype=precision, keep_gram=keep_gram)
  except ValueError as e:
    cli.die(f"error: {e}")
  test_start = time.perf_counter()
  test_out = fit.interpolant.predict(x_test)
  test_seconds = time.perf_counter() - test_start
  seconds = time.perf_counter() - start
  device = host.cpu_description()
  results = []
  for i, (labels_name, labels) in enumerate(label_sets.items()):
    cols = slice(i * num_classes, (i + 1) * num_classes)
    train_out = fit.train_predictions[:, cols]
    result = {
        "dataset": name, "data": theory_data.provenance(name, data_dir), "labels": labels_name,
        "n_train": n, "n_test": len(test_labels), "d": x.shape[1], "kernel": _KERNEL.value,
        "bandwidth": bandwidth if _KERNEL.value == "gaussian" else None,
        "bandwidth_rule": ("flag" if _BANDWIDTH.value is not None else "1 / median squared "
                           "distance") if _KERNEL.value == "gaussian" else None,
        "method": fit.method, "precision": fit.precision, "device": device, "seed": _SEED.value,
        "train_error": float(np.mean(train_out.argmax(1) != labels)),
        "max_abs_train_residual": float(np.abs(train_out - targets[:, cols]).max()),
        "test_error": float(np.mean(test_out[:, cols].argmax(1) != test_labels)),
        "seconds": seconds, "stage_seconds": {**fit.seconds, "test_predictions": test_seconds},
        "peak_memory_bytes": host.peak_memory_bytes(),
        "solved_with_labels": list(label_sets),
        "paper_reference": _reference(name, _KERNEL.value),
    }
    results.append(result)
    print(f"Section 5 min-norm {_KERNEL.value} kernel on {result['data']}, {labels_name} labels, "
          f"n_train={n}, {device}, {fit.precision} ({fit.method}): train error "
          f"{100 * result['train_error']:.2f}% (max |K alpha - y| "
          f"{result['max_abs_train_residual']:.2g}), test error "
          f"{100 * result['test_error']:.2f}% on {len(test_labels)}, {seconds:.0f} s, peak "
          f"memory {result['peak_memory_bytes'] / 2**30:.1f} GiB; {result['paper_reference']}")
  cli.write_result(_OUT.value, results[0] if len(results) == 1 else results)


if __name__ == "__main__":
  cli.run(main)
