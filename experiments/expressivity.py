r"""Theorem 1 on real data: the depth-two ReLU network with d + n + n k weights fits n images.

  python experiments/expressivity.py --labels=random   # data: $TFDS_DATA_DIR or tfds's default
  python experiments/expressivity.py --data_dir=/path/to/tfds --labels=true --n=10000 \
      --out=docs/measurements/theory/expressivity_cifar10_true_n10000.json

Points are the first n training images in stored order, pixels scaled to [0, 1] and flattened
(d = 3072 on CIFAR-10); targets are one-hot labels (true, or the project's keyed random labels).
Reports the number of weights, the largest |c(x_i) - y_i| over the n points from the float64
Keras forward pass (and from the extended-precision numpy path), training accuracy (argmax,
must be 100%), test accuracy on the whole test split, and wall time. Data: rethinking.theory.data;
measurements: docs/measurements/theory/README.md.
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

_DATASET, _DATA_DIR, _DOWNLOAD = cli.define_data_flags()
flags.adopt_module_key_flags(cli)  # --help lists them with this app's flags
_N = flags.DEFINE_integer("n", 0, "Fit the first n training images; 0 = the whole split.",
                          lower_bound=0)
_LABELS = flags.DEFINE_enum("labels", "random", LABELS, "Training labels to fit.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random labels and of the projection.")
_KERAS_EVAL = flags.DEFINE_bool("keras_eval", True, "Evaluate with the Keras model (O(n m)); "
                                "otherwise with the numpy piecewise-linear path only.")
_OUT = flags.DEFINE_string("out", "", "Write the result as one JSON object here (atomically).")
cli.require_writable_file(_OUT, ".json")


def check_flags():
  """--n against the prepared split's size (it joins --n, --dataset and --data_dir), or None."""
  size = validation.prepared_split_size(_DATASET.value, "train", _DATA_DIR.value)
  if size is not None and _N.value > size:
    return validation.Invalid("n", _N.value, f"must be 0 (all) to {size}")
  return None


def main(argv):
  cli.start(argv, check_flags)
  # Imported after the flags are validated: these load TensorFlow (bad flags answer at once).
  import numpy as np  # pylint: disable=import-outside-toplevel
  from rethinking import host  # pylint: disable=import-outside-toplevel
  from rethinking.data import datasets  # pylint: disable=import-outside-toplevel
  from rethinking.theory import data as theory_data  # pylint: disable=import-outside-toplevel
  from rethinking.theory import expressivity  # pylint: disable=import-outside-toplevel

  name, data_dir = _DATASET.value, _DATA_DIR.value
  try:
    (train_images, train_labels, test_images, test_labels,
     num_classes) = theory_data.load_train_and_test(name, data_dir, _N.value, 0,
                                                    download=_DOWNLOAD.value)
  except datasets.DatasetUnavailableError as e:
    cli.die(f"error: {e}")
  if _LABELS.value == "random":
    train_labels = theory_data.random_labels(train_labels, num_classes, _SEED.value)
  x, x_test = theory_data.flat_pixels(train_images), theory_data.flat_pixels(test_images)
  n, d = x.shape
  targets = np.eye(num_classes)[train_labels]

  start = time.perf_counter()
  network = expressivity.fit(x, train_labels, num_classes=num_classes, seed=_SEED.value)
  construction_seconds = time.perf_counter() - start
  exact_train = network.predict(x)
  exact_test = network.predict(x_test)
  result = {
      "dataset": name, "labels": _LABELS.value, "n": n, "d": d, "num_classes": num_classes,
      "seed": _SEED.value, "num_weights": network.num_weights,
      "max_abs_weight": float(np.abs(network.output_weights).max()),
      "construction_seconds": construction_seconds,
      "max_abs_error_numpy": float(np.abs(exact_train - targets).max()),
      "train_accuracy_numpy": float(np.mean(exact_train.argmax(1) == train_labels)),
      "test_accuracy_numpy": float(np.mean(exact_test.argmax(1) == test_labels)),
      "precision": "float64", "data": theory_data.provenance(name, data_dir),
  }
  if _KERAS_EVAL.value:
    model = network.to_keras()
    assert model.count_params() == network.num_weights
    train_out = expressivity.keras_forward(model, x)
    test_out = expressivity.keras_forward(model, x_test)
    result.update(evaluated_with="keras float64 forward pass", device=host.describe_device(),
                  max_abs_error=float(np.abs(train_out - targets).max()),
                  train_accuracy=float(np.mean(train_out.argmax(1) == train_labels)),
                  test_accuracy=float(np.mean(test_out.argmax(1) == test_labels)))
  else:
    result.update(evaluated_with="numpy piecewise-linear path", device=host.cpu_description(),
                  max_abs_error=result["max_abs_error_numpy"],
                  train_accuracy=result["train_accuracy_numpy"],
                  test_accuracy=result["test_accuracy_numpy"])
  result["seconds"] = time.perf_counter() - start
  print(f"Theorem 1 on {result['data']}, {_LABELS.value} labels, n={n}, d={d}, "
        f"{result['device']}, float64 ({result['evaluated_with']}): "
        f"{result['num_weights']:,} weights, max |c(x_i) - y_i| = {result['max_abs_error']:.2g} "
        f"(numpy path {result['max_abs_error_numpy']:.2g}), train accuracy "
        f"{100 * result['train_accuracy']:.2f}%, test accuracy {100 * result['test_accuracy']:.2f}%"
        f" ({len(test_labels)} test images), {result['seconds']:.1f} s")
  cli.write_result(_OUT.value, result)


if __name__ == "__main__":
  cli.run(main)
