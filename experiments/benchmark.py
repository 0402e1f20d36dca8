"""Training, evaluation and input throughput through the real training path; FLOP/s vs peak.

  python experiments/benchmark.py --models=inception_small,mlp_1x512 \\
      --precisions=float32,mixed_bfloat16 --jit=false,true --out=bench.jsonl

Prints one JSON line per measurement and a table; --out writes the JSON lines (atomically).
Each line: model, precision, jit, phase (train|eval|input|keras_fit|epoch), batch_size,
images_per_second (median of --repeats timed calls after a warm-up), spread [min, max],
flops_per_image, peak_flops_per_second (a 4096^2 matmul in this process, in the precision's
compute type), utilization, device. Data: synthetic uint8 images of CIFAR-10's shape, resident
on the device exactly as in experiments/train.py.
"""
from __future__ import annotations

import json
import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import config as config_lib  # noqa: E402
from rethinking import validation  # noqa: E402

_MODELS = flags.DEFINE_list("models", ["inception_small", "mlp_1x512"], "Model names.")
_PRECISIONS = flags.DEFINE_list("precisions", ["float32"], f"Of {config_lib.PRECISIONS}.")
_JIT = flags.DEFINE_list("jit", ["false", "true"], "XLA off/on: any of false,true.")
_STEPS = flags.DEFINE_integer("steps", 20, "Training steps per timed call.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per measurement (after a warm-up).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size.")
_TRAIN_SIZE = flags.DEFINE_integer("train_size", 0, "Resident training images (0: 2 x steps x "
                                   "batch; 50000 with --epoch).")
_EVAL_SIZE = flags.DEFINE_integer("eval_size", 2000, "Images per evaluation call.")
_EPOCH = flags.DEFINE_bool("epoch", False, "Also time one whole CIFAR-10-sized epoch (50,000 "
                           "train + whole train and 10,000 test evaluation) against the "
                           "prediction from the step throughputs.")
_AUGMENT = flags.DEFINE_bool("augment", False, "Random-crop augmentation in the train step.")
_KERAS_FIT = flags.DEFINE_bool("keras_fit", True, "Also time plain Keras model.fit (same model, "
                                "batch, optimizer, images) in this process: the baseline.")
_PEAK_SIZES = flags.DEFINE_list("peak_sizes", ["1024", "2048", "4096"],
                                "n of the n x n matmuls timed for the peak (the fastest counts).")
_OUT = flags.DEFINE_string("out", None, "Write the JSON lines here.")


def _validate():
  for name in _MODELS.value:
    if name not in config_lib.MODEL_NAMES:
      cli.die(f"error: --models={name}: must be among {', '.join(config_lib.MODEL_NAMES)}")
  for p in _PRECISIONS.value:
    if p not in config_lib.PRECISIONS:
      cli.die(f"error: --precisions={p}: must be among {', '.join(config_lib.PRECISIONS)}")
  for j in _JIT.value:
    if j.lower() not in ("false", "true"):
      cli.die(f"error: --jit={j}: must be false and/or true")
  for flag, value in ((_STEPS, _STEPS.value), (_REPEATS, _REPEATS.value),
                      (_BATCH_SIZE, _BATCH_SIZE.value), (_EVAL_SIZE, _EVAL_SIZE.value)):
    if value <= 0:
      cli.die(f"error: --{flag.name}={value}: must be a positive integer")
  if not all(v.isdigit() and int(v) > 0 for v in _PEAK_SIZES.value):
    cli.die(f"error: --peak_sizes={','.join(_PEAK_SIZES.value)}: must be positive integers")
  if _TRAIN_SIZE.value < 0:
    cli.die(f"error: --train_size={_TRAIN_SIZE.value}: must be >= 0")
  if _TRAIN_SIZE.value and _TRAIN_SIZE.value < _STEPS.value * _BATCH_SIZE.value:
    cli.die(f"error: --train_size={_TRAIN_SIZE.value}: must hold at least --steps x "
            f"--batch_size = {_STEPS.value * _BATCH_SIZE.value} images")
  if _OUT.value and not validation.writable_location(os.path.dirname(
      os.path.abspath(_OUT.value))):
    cli.die(f"error: --out={_OUT.value}: directory is not writable")


def _table(lines):
  rows = [f"{'model':22} {'precision':15} {'jit':5} {'phase':6} {'img/s':>10} "
          f"{'min-max':>19} {'GFLOP/img':>9} {'util':>6}"]
  for l in lines:
    spread = l.get("spread") or [float("nan")] * 2
    util = l.get("utilization")
    rows.append(
        f"{l['model']:22} {l['precision']:15} {str(l['jit']):5} {l['phase']:6} "
        f"{l['images_per_second']:10.1f} {spread[0]:9.1f}-{spread[1]:<9.1f} "
        f"{(l.get('flops_per_image') or 0) / 1e9:9.3f} "
        f"{'' if util is None else f'{util:6.1%}'}")
    if l["phase"] == "epoch":
      rows.append(f"{'':22} epoch {l['seconds']:.1f} s vs predicted {l['predicted_seconds']:.1f}"
                  f" s ({l['overhead']:+.1%}); peak RSS {l['peak_memory_bytes'] / 2**30:.2f} "
                  f"GiB")
  return "\n".join(rows)


def main(argv):
  if len(argv) > 1:
    cli.die(f"error: unexpected arguments {argv[1:]}")
  _validate()
  import keras  # pylint: disable=import-outside-toplevel
  from rethinking import benchmark  # pylint: disable=import-outside-toplevel
  from rethinking import host  # pylint: disable=import-outside-toplevel
  sizes = [int(v) for v in _PEAK_SIZES.value]
  peaks = {"float32": benchmark.matmul_peak("float32", sizes)}
  if any(p != "float32" for p in _PRECISIONS.value):
    peaks["bfloat16"] = benchmark.matmul_peak("bfloat16", sizes)
    peaks["float16"] = benchmark.matmul_peak("float16", sizes)
  lines = []
  for model in _MODELS.value:
    for precision in _PRECISIONS.value:
      for jit in (j.lower() == "true" for j in _JIT.value):
        compute = {"float32": "float32", "mixed_bfloat16": "bfloat16",
                   "mixed_float16": "float16"}[precision]
        train_size = _TRAIN_SIZE.value or (50000 if _EPOCH.value else 0)
        setting = benchmark.BenchmarkCase(model=model, precision=precision, jit=jit,
                                    batch_size=_BATCH_SIZE.value, steps=_STEPS.value,
                                    repeats=_REPEATS.value, train_size=train_size,
                                    eval_size=10000 if _EPOCH.value else _EVAL_SIZE.value,
                                    augment=_AUGMENT.value, keras_fit=_KERAS_FIT.value)
        try:
          out = benchmark.run(setting, peaks[compute], measure_epoch=_EPOCH.value)
        finally:
          keras.mixed_precision.set_global_policy("float32")
        for line in out:
          line["peak_precision"] = compute
          print(json.dumps(line), flush=True)
        lines += out
  print(_table(lines))
  print(f"measured on {host.describe_device()}, synthetic CIFAR-10-shaped data, "
        f"batch {_BATCH_SIZE.value}; peak matmul "
        + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in peaks.items()))
  if _OUT.value:
    tmp = _OUT.value + ".tmp"
    with open(tmp, "w") as f:
      for line in lines:
        f.write(json.dumps(line) + "\n")
    os.replace(tmp, _OUT.value)


if __name__ == "__main__":
  cli.run(main)
