r"""Empirical Rademacher complexity (Section 2.1) of a model family on n CIFAR-10 training images.

  python experiments/rademacher.py --data_dir=/path/to/tfds --family=kernel_gaussian \
      --n=500,1000,2000 --draws=10
  python experiments/rademacher.py --family=mlp_1x512 --n=500,1000  # data: $TFDS_DATA_DIR

For each n (the first n training images in stored order) and each of --draws sign vectors
sigma in {-1, +1}^n, trains the family on sigma and reports (1/n) sum_i sigma_i h(x_i) with h the
signs of its outputs on the same points; the mean over draws with a 95% t interval. The paper
expects ~1 for the networks (they fit random labels) but never measures it. Inputs: flat pixels
in [0, 1] for the kernels and the constant family; the networks' centre 28x28 crop with
per-image standardization for mlp_1x512. Data: rethinking.theory.data; measurements:
docs/measurements/theory/README.md.
"""
from __future__ import annotations

import os
import sys
import time

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import validation  # noqa: E402  pylint: disable=wrong-import-position

# Kept here as well as in rethinking.theory.rademacher.FAMILIES so that flags are checked before
# the library (and TensorFlow) is imported.
FAMILIES = ("mlp_1x512", "kernel_gaussian", "kernel_linear", "constant")

_FAMILY = flags.DEFINE_enum("family", "kernel_gaussian", FAMILIES, "The model family.")
_DATASET, _DATA_DIR, _DOWNLOAD = cli.define_data_flags()
flags.adopt_module_key_flags(cli)  # --help lists them with this app's flags
_N = flags.DEFINE_list("n", ["500", "1000", "2000"], "Comma-separated sample sizes, each a "
                       "positive integer.")
_DRAWS = flags.DEFINE_integer("draws", 10, "Sign vectors per n (>= 2, for an interval).",
                              lower_bound=2)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the signs and of the models.")
_BANDWIDTH = flags.DEFINE_float("bandwidth", None, "kernel_gaussian gamma, > 0; default 1 / "
                                "median squared distance of the n points.")
_MAX_EPOCHS = flags.DEFINE_integer("max_epochs", 200, "mlp_1x512: stop after this many epochs "
                                   "even if sigma is not fit yet.", lower_bound=1)
_OUT = flags.DEFINE_string("out", "", "Write the result as one JSON object here (atomically).")
cli.require_writable_file(_OUT, ".json")
cli.validate(_BANDWIDTH, lambda v: v is None or 0 < v < float("inf"), "must be a positive number")


def _sizes(values):
  try:
    sizes = [int(v) for v in values]
  except ValueError:
    return None
  return sizes if sizes and all(v >= 1 for v in sizes) else None


cli.validate(_N, _sizes, "must be comma-separated positive integers")


def check_flags():
  """--n against the prepared split's size (it joins --n, --dataset, --data_dir), or None."""
  size = validation.prepared_split_size(_DATASET.value, "train", _DATA_DIR.value)
  if size is not None and max(_sizes(_N.value)) > size:
    return validation.Invalid("n", ",".join(_N.value), f"must be at most {size} each")
  return None


def main(argv):
  cli.start(argv, check_flags)
  # Imported after the flags are validated: these load TensorFlow (bad flags answer at once).
  from rethinking import host  # pylint: disable=import-outside-toplevel
  from rethinking.data import datasets  # pylint: disable=import-outside-toplevel
  from rethinking.theory import data as theory_data  # pylint: disable=import-outside-toplevel
  from rethinking.theory import rademacher  # pylint: disable=import-outside-toplevel

  sizes = _sizes(_N.value)
  try:
    images, _, _ = theory_data.load_split(_DATASET.value, "train", _DATA_DIR.value,
                                          size=max(sizes), download=_DOWNLOAD.value)
  except datasets.DatasetUnavailableError as e:
    cli.die(f"error: {e}")
  if _FAMILY.value == "mlp_1x512":
    points = theory_data.network_inputs(images)
    inputs = "centre 28x28 crop, per-image standardization"
    device = host.describe_device()
    precision = "float32"
  else:
    points = theory_data.flat_pixels(images)
    inputs = "flattened pixels in [0, 1]"
    device = host.cpu_description()
    precision = "float64"
  fit_predict = rademacher.family(_FAMILY.value, bandwidth=_BANDWIDTH.value,
                                  max_epochs=_MAX_EPOCHS.value)
  data = theory_data.provenance(_DATASET.value, _DATA_DIR.value)
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
  cli.write_result(_OUT.value, result)


if __name__ == "__main__":
  cli.run(main)
