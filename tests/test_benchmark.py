"""The benchmark harness (experiments/benchmark.py, rethinking/perf/) on a tiny setting:
well-formed measurements through the trainer's own path. No test asserts a speed."""
import glob
import json
import os
import subprocess
import sys
import tempfile

import pytest
import tensorflow as tf

from rethinking import models
from rethinking.perf import benchmark
from rethinking.perf import op_profile
from rethinking.perf import torch_reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = {"model", "precision", "jit", "phase", "batch_size", "images_per_second", "spread",
        "flops_per_image", "peak_flops_per_second", "utilization", "device"}


def _bench_dirs():
  return set(glob.glob(os.path.join(tempfile.gettempdir(), "rethinking-bench-*")))


def test_matmul_peak_is_a_positive_rate():
  peak = benchmark.matmul_peak("float32", sizes=(128, 256), repeats=2)
  assert 1e8 < peak < 1e14  # between 0.1 GFLOP/s and 100 TFLOP/s


def test_run_measures_every_phase_through_the_trainer_and_cleans_up():
  before = _bench_dirs()
  setting = benchmark.BenchmarkCase(model="mlp_1x512", batch_size=16, steps=3, repeats=2,
                              train_size=96, eval_size=64, keras_fit=True)
  lines = benchmark.run(setting, peak_flops=1e11, measure_epoch=True)
  assert [l["phase"] for l in lines] == ["train", "eval", "input", "keras_fit", "epoch"]
  forward, training = models.flops_per_image(models.build("mlp_1x512"))
  by_phase = {l["phase"]: l for l in lines}
  for phase in ("train", "eval", "input", "keras_fit"):
    line = by_phase[phase]
    assert KEYS <= set(line), phase
    low, high = line["spread"]
    assert 0 < low <= line["images_per_second"] <= high, phase
    assert line["batch_size"] == 16 and line["model"] == "mlp_1x512"
  assert by_phase["train"]["flops_per_image"] == training
  assert by_phase["eval"]["flops_per_image"] == forward
  assert by_phase["input"]["utilization"] is None
  assert by_phase["train"]["utilization"] == pytest.approx(
      by_phase["train"]["images_per_second"] * training / 1e11)
  epoch = by_phase["epoch"]
  assert epoch["train_images"] == 96 // 16 * 16
  assert epoch["evaluated_images"] == 96 + 64
  assert epoch["seconds"] > 0 and epoch["predicted_seconds"] > 0
  assert epoch["peak_memory_bytes"] > 0
  assert _bench_dirs() <= before  # the temporary run directory is removed


def _app(*args):
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "benchmark.py"),
                         *args], capture_output=True, text=True, timeout=300, check=False)


def test_the_app_prints_a_table_and_writes_json_lines(tmp_path):
  out = tmp_path / "bench.jsonl"
  proc = _app("--models=mlp_1x512", "--precisions=float32", "--jit=false", "--steps=2",
              "--repeats=2", "--batch_size=16", "--eval_size=32", "--peak_sizes=128",
              "--nokeras_fit", f"--out={out}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = [json.loads(l) for l in out.read_text().splitlines()]
  assert [l["phase"] for l in lines] == ["train", "eval", "input"]
  assert all(KEYS <= set(l) for l in lines)
  assert "img/s" in proc.stdout and "peak matmul float32" in proc.stdout
  printed = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
  assert printed == lines


@pytest.mark.parametrize("flag", ["--models=resnet50", "--precisions=float64", "--jit=maybe",
                                  "--steps=0", "--peak_sizes=0", "--baseline=jax"])
def test_bad_flags_fail_in_one_line_and_write_nothing(tmp_path, flag):
  out = tmp_path / "bench.jsonl"
  proc = _app(flag, f"--out={out}")
  assert proc.returncode == 2
  assert len(proc.stderr.strip().splitlines()) == 1 and flag.split("=")[0] in proc.stderr
  assert not out.exists()


# --- The PyTorch reference (optional: torch is an extra, absent from a plain install) ---------

def test_the_torch_reference_module_imports_without_torch():
  """The parent process never imports torch: only the subprocess does."""
  proc = subprocess.run([sys.executable, "-c", (
      "import sys; import rethinking.perf.torch_reference as t; "
      "assert 'torch' not in sys.modules; print(t.PRECISIONS)")],
      capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_torch_reference_has_table1s_parameter_count_and_the_same_shapes():
  torch = pytest.importorskip("torch")
  model = torch_reference.build()
  assert torch_reference.count_params(model) == 1_649_402 == models.count_params(
      models.build("inception_small"))
  batch_norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
  assert len(batch_norms) == 19
  # A learned offset, no learned scale; Keras' momentum 0.9 and epsilon 1e-3.
  assert all(b.bias.requires_grad and not b.weight.requires_grad for b in batch_norms)
  assert all(b.momentum == 0.1 and b.eps == 1e-3 for b in batch_norms)
  pooled = model[:-3](torch.zeros(2, 3, 28, 28))
  assert tuple(pooled.shape) == (2, 336, 7, 7)  # the 7x7 map of the mean pooling


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_the_torch_reference_times_training_calls_in_a_subprocess(precision):
  pytest.importorskip("torch")
  with torch_reference.TorchReference(precision, batch_size=4, steps=1, threads=1) as reference:
    assert reference.params == 1_649_402 and "torch" in reference.description
    assert all(reference.timed_call() > 0 for _ in range(2))
    process = reference.process
  assert process.poll() == 0  # asked to quit, and did


def test_the_torch_baseline_alternates_with_our_training_calls_and_gives_the_ratio():
  pytest.importorskip("torch")
  setting = benchmark.BenchmarkCase(model="inception_small", batch_size=4, steps=1, repeats=2,
                              train_size=8, eval_size=4, baseline="torch")
  lines = benchmark.run(setting, peak_flops=1e11)
  assert [l["phase"] for l in lines] == ["train", "torch", "eval", "input"]
  train, torch_line = lines[0], lines[1]
  assert KEYS <= set(torch_line)
  assert torch_line["torch_parameters"] == 1_649_402
  assert torch_line["steps"] == train["steps"] and torch_line["repeats"] == train["repeats"]
  assert torch_line["ours_images_per_second"] == train["images_per_second"]
  assert torch_line["ratio"] == pytest.approx(
      train["images_per_second"] / torch_line["images_per_second"])


@pytest.mark.parametrize("flags", [["--models=mlp_1x512"],
                                   ["--models=inception_small", "--precisions=mixed_float16"]])
def test_the_torch_baseline_refuses_what_it_cannot_compare(tmp_path, flags):
  out = tmp_path / "bench.jsonl"
  proc = _app("--baseline=torch", *flags, f"--out={out}")
  assert proc.returncode == 2
  assert len(proc.stderr.strip().splitlines()) == 1 and "--baseline=torch" in proc.stderr
  assert not out.exists()


def test_the_op_table_sums_a_traced_calls_ops_by_type_and_category(tmp_path):
  x, w = tf.ones([2, 8, 8, 3]), tf.ones([3, 3, 3, 4])
  conv = tf.function(lambda x, w: tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME")))
  conv(x, w)
  rows = op_profile.op_table(op_profile.trace(lambda: conv(x, w).numpy(), str(tmp_path)))
  kinds = {r.op_type: r for r in rows}
  assert any(k.startswith("Conv2D") or k.startswith("FusedConv2D") for k in kinds), kinds
  assert sum(r.share for r in rows) == pytest.approx(1.0)
  assert op_profile.op_type("a/b/conv:_MklNativeConv2DBackpropFilter") == "Conv2DBackpropFilter"
  assert op_profile.category("Conv2DBackpropFilter") == "convolution filter gradient"
  assert op_profile.category("FusedBatchNormGradV3") == "batch norm (fused)"
  categories = op_profile.by_category(rows)
  assert sum(r.milliseconds for r in categories) == pytest.approx(
      sum(r.milliseconds for r in rows))
