"""Training, evaluation and input throughput through the real training path; FLOP/s vs peak.

  python experiments/benchmark.py --models=inception_small,mlp_1x512 \\
      --precisions=float32,mixed_bfloat16 --jit=false,true --out=bench.jsonl

  python experiments/benchmark.py --models=inception_small --precisions=float32,mixed_bfloat16 \\
      --jit=false --baseline=torch --nokeras_fit

Prints one JSON line per measurement and a table; --out writes the JSON lines (atomically).
--baseline=torch also trains the same network in PyTorch (rethinking/perf/torch_reference.py:
eager, channels_last, float32 or bfloat16 autocast) in a subprocess, alternating its timed calls
with ours (A/B/A/B, the same number of steps per call, medians on both sides), and prints the
ratio.
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
from rethinking import host  # noqa: E402
from rethinking import validation  # noqa: E402
from rethinking.perf import torch_reference  # noqa: E402

_MODELS = flags.DEFINE_list("models", ["inception_small", "mlp_1x512"], "Comma list of model "
                            f"names among {', '.join(config_lib.MODEL_NAMES)}.")
_PRECISIONS = flags.DEFINE_list("precisions", ["float32"], "Comma list among "
                                f"{', '.join(config_lib.PRECISIONS)}.")
_JIT = flags.DEFINE_list("jit", ["false", "true"], "XLA off/on: any of false,true.")
_STEPS = flags.DEFINE_integer("steps", 20, "Training steps per timed call.", lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per measurement (after a warm-up).",
                                lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size.", lower_bound=1)
_TRAIN_SIZE = flags.DEFINE_integer("train_size", 0, "Resident training images (0: 2 x steps x "
                                   "batch; 50000 with --epoch).", lower_bound=0)
_EVAL_SIZE = flags.DEFINE_integer("eval_size", 2000, "Images per evaluation call.",
                                  lower_bound=1)
_EVAL_BATCH_SIZE = flags.DEFINE_integer("eval_batch_size", 0, "Images per compiled evaluation "
                                        "step; 0 = the device rule.", lower_bound=0)
_EPOCH = flags.DEFINE_bool("epoch", False, "Also time one whole CIFAR-10-sized epoch (50,000 "
                           "train + whole train and 10,000 test evaluation) against the "
                           "prediction from the step throughputs.")
_AUGMENT = flags.DEFINE_bool("augment", False, "Random-crop augmentation in the train step.")
_KERAS_FIT = flags.DEFINE_bool("keras_fit", True, "Also time plain Keras model.fit (same model, "
                                "batch, optimizer, images) in this process: the baseline.")
_BASELINE = flags.DEFINE_enum("baseline", "none", ["none", "torch"],
                              "torch: time the PyTorch reference of inception_small, interleaved "
                              "with our training calls (needs the torch extra).")
_PROFILE = flags.DEFINE_string("profile", None, "Also trace one training call per setting with "
                               "the TensorFlow profiler under this directory (one subdirectory "
                               "per setting; open with TensorBoard) and print its op table.")
_PEAK_SIZES = flags.DEFINE_list("peak_sizes", ["1024", "2048", "4096"], "n of the n x n matmuls "
                                "timed for the peak (positive integers; the fastest counts).")
_OUT = flags.DEFINE_string("out", None, "Write the JSON lines here.")
cli.validate(_MODELS, lambda v: bool(v) and set(v) <= set(config_lib.MODEL_NAMES),
             f"must be among {', '.join(config_lib.MODEL_NAMES)}")
cli.validate(_PRECISIONS, lambda v: bool(v) and set(v) <= set(config_lib.PRECISIONS),
             f"must be among {', '.join(config_lib.PRECISIONS)}")
cli.validate(_JIT, lambda v: bool(v) and {j.lower() for j in v} <= {"false", "true"},
             "must be false and/or true")
cli.validate(_PEAK_SIZES, lambda v: bool(v) and all(x.isdigit() and int(x) > 0 for x in v),
             "must be positive integers")
cli.require_writable_file(_OUT)


def check_flags():
  """--train_size against --steps x --batch_size, --baseline against the models and
  precisions, or None."""
  if _TRAIN_SIZE.value and _TRAIN_SIZE.value < _STEPS.value * _BATCH_SIZE.value:
    return validation.Invalid("train_size", _TRAIN_SIZE.value,
                              f"must hold at least --steps x --batch_size = "
                              f"{_STEPS.value * _BATCH_SIZE.value} images")
  if _BASELINE.value == "torch":
    if not torch_reference.available():
      return validation.Invalid("baseline", "torch", "PyTorch is not installed (pip install "
                                "'.[torch]', a CPU build)")
    if _MODELS.value != ["inception_small"]:
      return validation.Invalid("baseline", "torch", "the torch reference is inception_small "
                                "only; pass --models=inception_small")
    for precision in _PRECISIONS.value:
      if precision not in torch_reference.PRECISIONS:
        return validation.Invalid("baseline", "torch", f"--precisions={precision} has no torch "
                                  f"counterpart (among {', '.join(torch_reference.PRECISIONS)})")
  return None


def _op_tables(line, top=12):
  """Markdown op tables of a "profile" line: top op types, then categories."""
  out = [f"{line['model']} {line['precision']} jit={line['jit']}: one call of {line['steps']} "
         f"steps, {line['op_milliseconds']:.0f} ms of op time (trace: {line['profile_dir']})",
         "", "| op | category | ms | calls | share |", "|---|---|---:|---:|---:|"]
  out += [f"| {r['op_type']} | {r['category']} | {r['milliseconds']:.1f} | {r['count']} | "
          f"{r['share']:.1%} |" for r in line["ops"][:top]]
  out += ["", "| category | ms | share |", "|---|---:|---:|"]
  out += [f"| {r['op_type']} | {r['milliseconds']:.1f} | {r['share']:.1%} |"
          for r in line["categories"]]
  return "\n".join(out)


def _table(lines):
  rows = [f"{'model':22} {'precision':15} {'jit':5} {'phase':6} {'img/s':>10} "
          f"{'min-max':>19} {'GFLOP/img':>9} {'util':>6}"]
  for l in lines:
    if l["phase"] == "profile":
      continue
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
  cli.start(argv, check_flags)
  # TensorFlow loads only after the flags are validated.
  import keras  # pylint: disable=import-outside-toplevel
  from rethinking.perf import benchmark  # pylint: disable=import-outside-toplevel
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
                                    augment=_AUGMENT.value, keras_fit=_KERAS_FIT.value,
                                    eval_batch_size=_EVAL_BATCH_SIZE.value,
                                    baseline=None if _BASELINE.value == "none" else
                                    _BASELINE.value,
                                    profile_dir=_PROFILE.value and os.path.join(
                                        _PROFILE.value, f"{model}_{precision}_jit{jit}"))
        try:
          out = benchmark.run(setting, peaks[compute], measure_epoch=_EPOCH.value)
        finally:
          keras.mixed_precision.set_global_policy("float32")
        for line in out:
          line["peak_precision"] = compute
          print(json.dumps(line), flush=True)
        lines += out
  print(_table(lines))
  for l in lines:
    if l["phase"] == "profile":
      print(_op_tables(l))
    if l["phase"] == "torch":
      print(f"{l['model']} {l['precision']} training step, interleaved in one sitting: ours "
            f"{l['ours_images_per_second']:.1f} img/s vs torch channels_last "
            f"{l['images_per_second']:.1f} img/s ({l['framework']}): {l['ratio']:.2f}x")
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
