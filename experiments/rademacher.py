"""Empirical Rademacher complexity (Section 2.1) of a model family on n CIFAR-10 training images.

  python experiments/rademacher.py --data_dir=../shared/tfds --family=kernel_gaussian \
      --n=500,1000,2000 --draws=10
  python experiments/rademacher.py --data_dir=../shared/tfds --family=mlp_1x512 --n=500,1000

For each n (the first n training images in stored order) and each of --draws sign vectors
sigma in {-1, +1}^n, trains the family on sigma and reports (1/n) sum_i sigma_i h(x_i) with h the
signs of its outputs on the same points; the mean over draws with a 95% t interval. The paper
expects ~1 for the networks (they fit random labels) but never measures it. Inputs: flat pixels
in [0, 1] for the kernels and the constant family; the networks' centre 28x28 crop with
per-image standardization for mlp_1x512.
"""
from __future__ import annotations

import os
import sys
import time

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import validation  # noqa: E402  pylint: disable=wrong-import-position

DATASETS = ("cifar10", "mnist")
# Kept here as well as in rethinking.theory.rademacher.FAMILIES so that flags are checked before
# the library (and TensorFlow) is imported.
FAMILIES = ("mlp_1x512", "kernel_gaussian", "kernel_linear", "constant")

_FAMILY = flags.DEFINE_string("family", "kernel_gaussian", f"One of {FAMILIES}.")
_DATASET = flags.DEFINE_string("dataset", "cifar10", f"One of {DATASETS}.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir (default: $TFDS_DATA_DIR).")
_DOWNLOAD = flags.DEFINE_bool("download", False, "Let tfds download a missing dataset.")
_N = flags.DEFINE_list("n", ["500", "1000", "2000"], "Comma-separated sample sizes.")
_DRAWS = flags.DEFINE_integer("draws", 10, "Sign vectors per n.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the signs and of the models.")
_BANDWIDTH = flags.DEFINE_float("bandwidth", None, "kernel_gaussian gamma; default 1 / median "
                                "squared distance of the n points.")
_MAX_EPOCHS = flags.DEFINE_integer("max_epochs", 200, "mlp_1x512: stop after this many epochs "
                                   "even if sigma is not fit yet.")
_OUT = flags.DEFINE_string("out", "", "Write the result as one JSON object here (atomically).")


def _sizes():
  try:
    return [int(v) for v in _N.value]
  except ValueError:
    return None


def check_flags():
  """The first bad flag as a validation.Invalid, or None. Reads no data."""
  if _FAMILY.value not in FAMILIES:
    return validation.Invalid("family", _FAMILY.value, f"must be one of {', '.join(FAMILIES)}")
  if _DATASET.value not in DATASETS:
    return validation.Invalid("dataset", _DATASET.value, f"must be one of {', '.join(DATASETS)}")
  size = validation.prepared_split_size(_DATASET.value, "train", _DATA_DIR.value)
  sizes = _sizes()
  if not sizes or any(v < 1 or (size is not None and v > size) for v in sizes):
    limit = f" up to {size}" if size is not None else ""
    return validation.Invalid("n", ",".join(_N.value),
                              f"must be comma-separated positive integers{limit}")
  if _DRAWS.value < 2:
    return validation.Invalid("draws", _DRAWS.value, "must be >= 2 (for an interval)")
  if _MAX_EPOCHS.value < 1:
    return validation.Invalid("max_epochs", _MAX_EPOCHS.value, "must be a positive integer")
  if _BANDWIDTH.value is not None and not 0 < _BANDWIDTH.value < float("inf"):
    return validation.Invalid("bandwidth", _BANDWIDTH.value, "must be a positive number")
  return cli.path_problem(_DATA_DIR.value, _OUT.value)


def main(argv):
  cli.start(argv, check_flags)
  from rethinking.data import datasets  # pylint: disable=import-outside-toplevel
  from rethinking.theory import _data, rademacher  # pylint: disable=import-outside-toplevel
  from rethinking.training import runio  # pylint: disable=import-outside-toplevel

  sizes = _sizes()
  try:
    images, _, _ = _data.load_split(_DATASET.value, "train", _DATA_DIR.value, size=max(sizes),
                                    download=_DOWNLOAD.value)
  except datasets.DatasetUnavailableError as e:
    cli.die(f"error: {e}")
  if _FAMILY.value == "mlp_1x512":
    points = _data.network_inputs(images)
    inputs = "centre 28x28 crop, per-image standardization"
    device = runio.describe_device()
    precision = "float32"
  else:
    points = _data.flat_pixels(images)
    inputs = "flattened pixels in [0, 1]"
    device = _data.cpu_description()
    precision = "float64"
  fit_predict = rademacher.family(_FAMILY.value, bandwidth=_BANDWIDTH.value,
                                  max_epochs=_MAX_EPOCHS.value)
  data = _data.provenance(_DATASET.value, _DATA_DIR.value)
  start = time.perf_counter()
  estimates = []
  for n in sizes:
    # Independent signs for each n: the seed is (seed, n).
    est = rademacher.estimate(fit_predict, points[:n], draws=_DRAWS.value,
                              seed=(_SEED.value, n))
    estimates.append(est.as_dict())
    low, high = est.interval
    print(f"Rademacher {_FAMILY.value} on {data} ({inputs}), n={n}, {est.draws} draws, "
          f"{device}, {precision}: {est.mean:.4f} (95% CI {low:.4f} .. {high:.4f}); mean "
          f"fraction of signs fit {sum(est.fraction_fit) / est.draws:.4f}; {est.seconds:.1f} s")
  result = {"family": _FAMILY.value, "dataset": _DATASET.value, "data": data, "inputs": inputs,
            "draws": _DRAWS.value, "seed": _SEED.value, "device": device, "precision": precision,
            "bandwidth": _BANDWIDTH.value, "max_epochs": _MAX_EPOCHS.value,
            "estimates": estimates, "seconds": time.perf_counter() - start,
            "paper_claim": "R_n ~ 1 for networks that fit random labels (argued, not measured)"}
  if _OUT.value:
    os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
    runio.atomic_write_json(_OUT.value, result)


if __name__ == "__main__":
  cli.run(main)
