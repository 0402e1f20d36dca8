"""Throughput of the real training path: train step, whole-split evaluation, input pipeline.

Everything is measured through the trainer's own session (`Trainer.setup()`: the same resident
source, compiled multi-step call of training/steps.py, strategy and optimizer as
experiments/train.py) on
synthetic uint8 images of the dataset's shape, so a benchmark needs no data on disk. Each
measurement: one warm-up call (compilation excluded), then `repeats` timed calls; the median and
the spread (min, max) are reported, with achieved FLOP/s against the machine's matmul peak
measured in the same process.
"""
from __future__ import annotations

import dataclasses
import shutil
import statistics
import tempfile
import time
from typing import Callable, List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from rethinking import config as config_lib
from rethinking import host
from rethinking import models
from rethinking.data import corruption as corruption_lib
from rethinking.data import pipeline as pipeline_lib
from rethinking.data import preprocessing
from rethinking.perf import op_profile
from rethinking.perf import torch_reference
from rethinking.training import trainer as trainer_lib


def matmul_peak(dtype: str = "float32", sizes=(1024, 2048, 4096), repeats: int = 5) -> float:
  """FLOP/s of the fastest of n x n matmuls (2 n^3 FLOPs), n in `sizes`, in this process: the
  median of `repeats` timed calls per size. Several sizes because which one is fastest depends
  on the caches (on a 2-core Zen 3 here: 94 GFLOP/s at 1024, 66 at 4096 in one sitting)."""
  best = 0.0
  for n in sizes:
    a = tf.random.stateless_uniform([n, n], [1, 2], dtype=tf.float32)
    b = tf.random.stateless_uniform([n, n], [3, 4], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[0, :1], tf.float32)))
    calls = max(1, int(2e9 // (2 * n ** 3)))  # >= ~2 GFLOP per timing, so short ones count
    matmul(a, b).numpy()  # warm-up
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      for _ in range(calls):
        matmul(a, b).numpy()
      times.append((time.perf_counter() - start) / calls)
    best = max(best, 2 * n ** 3 / statistics.median(times))
  return best


def synthetic_data(train_size: int, test_size: int, image_shape=(32, 32, 3),
                   num_classes: int = 10, seed: int = 0) -> pipeline_lib.PreparedData:
  """Random uint8 images and labels in the form `pipeline.prepare` returns."""
  rng = np.random.default_rng(seed)
  train = rng.integers(0, 256, (train_size,) + tuple(image_shape), dtype=np.uint8)
  test = rng.integers(0, 256, (test_size,) + tuple(image_shape), dtype=np.uint8)
  train_labels = rng.integers(0, num_classes, train_size).astype(np.int32)
  test_labels = rng.integers(0, num_classes, test_size).astype(np.int32)
  return pipeline_lib.PreparedData(
      name="synthetic", train_images=tf.cast(train, tf.float32) / 255.0,
      train_labels=tf.constant(train_labels), clean_train_labels=train_labels,
      test_images=tf.cast(test, tf.float32) / 255.0, test_labels=tf.constant(test_labels),
      num_classes=num_classes, fraction_labels_changed=0.0,
      data_fingerprint=corruption_lib.fingerprint(train, train_labels),
      corruption_fingerprint=corruption_lib.fingerprint(train, train_labels))


def _timed(call: Callable[[int], None], repeats: int,
           between: Optional[Callable[[], float]] = None) -> Tuple[List[float], List[float]]:
  """Seconds of `repeats` calls after a warm-up call; with `between` (another framework's
  timed call, returning its seconds), also that many of those, alternating with ours
  (A/B/A/B) so that both sides see the same machine state."""
  call(-1)  # warm-up: tracing and compilation
  times, other = [], []
  for i in range(repeats):
    start = time.perf_counter()
    call(i)
    times.append(time.perf_counter() - start)
    if between is not None:
      other.append(between())
  return times, other


@dataclasses.dataclass(frozen=True)
class BenchmarkCase:
  model: str
  precision: str = "float32"
  jit: bool = False
  batch_size: int = 128
  steps: int = 20
  repeats: int = 5
  train_size: int = 0  # 0: batch_size * steps * 2 (the resident array the steps draw from)
  eval_size: int = 0  # 0: 2,000 images
  augment: bool = False
  strategy: str = "default"
  # Also time plain Keras `model.fit` on the same model, batch, optimizer and (preprocessed,
  # host-resident) images in this process: the baseline our path is compared against.
  keras_fit: bool = False
  # "torch": also time rethinking/perf/torch_reference.py's PyTorch network (channels_last, same
  # precision, batch and steps per call) in a subprocess, alternating with our training calls.
  baseline: Optional[str] = None
  # Also trace one training call with the TensorFlow profiler into this directory (TensorBoard's
  # profile tab reads it) and report its op table (line phase "profile").
  profile_dir: Optional[str] = None
  # Images per compiled evaluation call; 0 = the device rule (training/device_rules.py).
  eval_batch_size: int = 0


def run(setting: BenchmarkCase, peak_flops: float, measure_epoch: bool = False,
        data: Optional[pipeline_lib.PreparedData] = None) -> List[dict]:
  """Measurements (one dict per phase: train, eval, input and optionally keras_fit, epoch)."""
  s = setting
  train_size = s.train_size or s.batch_size * s.steps * 2
  eval_size = s.eval_size or 2000
  image_shape = (299, 299, 3) if s.model == "inception_v3" else (32, 32, 3)
  data = data or synthetic_data(train_size, eval_size, image_shape,
                                1000 if s.model == "inception_v3" else 10)
  cfg = config_lib.RunConfig(
      model=config_lib.ModelConfig(name=s.model),
      train=config_lib.TrainConfig(epochs=1000, batch_size=s.batch_size, precision=s.precision,
                                   jit=s.jit, eval_batch_size=s.eval_batch_size,
                                   augment=s.augment, strategy=s.strategy,
                                   steps_per_call=s.steps),
      logdir=tempfile.mkdtemp(prefix="rethinking-bench-"), run_name="bench")
  try:
    t = trainer_lib.Trainer(cfg, data=data)
    return _measure(t.setup(), s, data, measure_epoch, peak_flops, image_shape)
  finally:
    shutil.rmtree(cfg.logdir, ignore_errors=True)


def _calls(session, steps: int):
  """The three timed calls (train, whole-train-split evaluation, input only), each taking the
  repeat index, and the number of images the evaluation call sees."""
  spe = session.steps_per_epoch

  def train_call(i):
    session.train_call((max(i, 0) * steps) % (spe - steps + 1), steps)

  pipeline = session.source.pipeline
  images, labels = pipeline.eval_splits()["train"]

  def eval_call(i):
    del i
    session.evaluator.whole_split(images, labels)[1].numpy()

  @tf.function
  def input_only(start):
    order = pipeline.epoch_order(start // spe)
    total = tf.constant(0.0)
    for k in tf.range(steps, dtype=tf.int64):
      x, _ = pipeline.train_batch(order, start + k, k)
      total += tf.cast(x[0, 0, 0, 0], tf.float32)  # keeps the batch from being pruned
    return total

  def input_call(i):
    input_only(tf.constant(0, tf.int64)).numpy()

  return train_call, eval_call, input_call, int(labels.shape[0])


def _measure(session, s: BenchmarkCase, data, measure_epoch: bool, peak_flops: float,
             image_shape):
  steps = min(s.steps, session.steps_per_epoch)
  train_call, eval_call, input_call, num_eval = _calls(session, steps)
  forward, training = models.flops_per_image(session.model)
  common = dict(model=s.model, precision=s.precision, jit=s.jit, batch_size=s.batch_size,
                eval_batch_size=session.device.eval_batch,
                strategy=s.strategy, augment=s.augment, device=host.describe_device(),
                peak_flops_per_second=peak_flops, data="synthetic uint8 " + "x".join(
                    map(str, image_shape)))
  lines = []
  for phase, call, images_per_call, flops in (
      ("train", train_call, steps * s.batch_size, training),
      ("eval", eval_call, num_eval, forward),
      ("input", input_call, steps * s.batch_size, 0.0)):
    if phase == "train" and s.baseline == "torch":
      times, torch_line = _interleaved_with_torch(call, s, steps, image_shape, common, training,
                                                  peak_flops)
    else:
      times, _ = _timed(call, s.repeats)
    rates = sorted(images_per_call / x for x in times)
    median = statistics.median(rates)
    achieved = median * flops
    lines.append({**common, "phase": phase, "steps": steps if phase != "eval" else None,
                  "images_per_call": images_per_call, "repeats": s.repeats,
                  "images_per_second": median, "spread": [rates[0], rates[-1]],
                  "flops_per_image": flops, "achieved_flops_per_second": achieved,
                  "utilization": achieved / peak_flops if flops else None})
    if phase == "train" and s.baseline == "torch":
      torch_line["ours_images_per_second"] = median
      torch_line["ratio"] = median / torch_line["images_per_second"]
      lines.append(torch_line)
  if s.profile_dir:
    lines.append(_profile_line(lambda: train_call(0), s.profile_dir, common, steps))
  if s.keras_fit:
    rates = _keras_fit_rates(s, data, session.source.pipeline.num_train)
    median = statistics.median(rates)
    lines.append({**common, "phase": "keras_fit", "steps": steps,
                  "images_per_call": steps * s.batch_size, "repeats": s.repeats,
                  "images_per_second": median, "spread": [rates[0], rates[-1]],
                  "flops_per_image": training, "achieved_flops_per_second": median * training,
                  "utilization": median * training / peak_flops})
  if measure_epoch:
    lines.append(_epoch_line(session, s, lines, common))
  return lines


def _profile_line(call: Callable[[], None], profile_dir: str, common: dict, steps: int) -> dict:
  """One traced training call (already compiled), its op table by op type and by category."""
  rows = op_profile.op_table(op_profile.trace(call, profile_dir))
  as_dicts = lambda table: [dataclasses.asdict(r) for r in table]  # noqa: E731
  return {**common, "phase": "profile", "steps": steps, "profile_dir": profile_dir,
          "op_milliseconds": sum(r.milliseconds for r in rows), "ops": as_dicts(rows),
          "categories": as_dicts(op_profile.by_category(rows)), "images_per_second": None,
          "spread": None, "flops_per_image": None, "utilization": None}


def _interleaved_with_torch(train_call, s: BenchmarkCase, steps: int, image_shape, common: dict,
                            flops: float, peak_flops: float):
  """Our timed training calls alternating with the PyTorch reference's (same batch, steps per
  call and precision; its process idles while ours runs and vice versa). Returns our times and
  the torch measurement line (phase "torch")."""
  if s.model != "inception_small":
    raise ValueError(f"the torch reference is inception_small only, not {s.model}")
  crop = preprocessing.crop_size_for(image_shape[0])
  with torch_reference.TorchReference(s.precision, s.batch_size, steps,
                                      image_size=crop) as reference:
    times, torch_times = _timed(train_call, s.repeats, between=reference.timed_call)
  rates = sorted(steps * s.batch_size / x for x in torch_times)
  median = statistics.median(rates)
  return times, {
      **common, "phase": "torch", "jit": False, "framework": reference.description,
      "torch_parameters": reference.params, "steps": steps,
      "images_per_call": steps * s.batch_size, "repeats": s.repeats,
      "images_per_second": median, "spread": [rates[0], rates[-1]], "flops_per_image": flops,
      "achieved_flops_per_second": median * flops, "utilization": median * flops / peak_flops}


def _keras_fit_rates(s: BenchmarkCase, data, num_train: int) -> List[float]:
  """Steady-state images/s of plain Keras: `model.compile(SGD(momentum=0.9),
  jit_compile=s.jit)` and `model.fit(x, y, batch_size)` on host numpy arrays that were
  centre-cropped and standardised beforehand (the baseline pays for no preprocessing). One fit
  of `repeats + 1` epochs of `steps` batches; per epoch, the rate between its first and last
  batch end (so fit's per-call setup and the compiling first epoch are excluded, as warm-up is
  for our own path)."""
  keras.mixed_precision.set_global_policy(s.precision)
  n = min(num_train, s.steps * s.batch_size) // s.batch_size * s.batch_size
  x = preprocessing.preprocess_eval(data.train_images[:n]).numpy()
  y = np.asarray(data.train_labels[:n])
  model = models.build(s.model, num_classes=int(data.num_classes), input_shape=x.shape[1:])
  model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=s.jit)
  ends: List[List[float]] = []

  class BatchTimes(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
      ends.append([])

    def on_train_batch_end(self, batch, logs=None):
      ends[-1].append(time.perf_counter())

  model.fit(x, y, batch_size=s.batch_size, epochs=s.repeats + 1, verbose=0, shuffle=True,
            callbacks=[BatchTimes()])
  return sorted((len(e) - 1) * s.batch_size / (e[-1] - e[0]) for e in ends[1:])


def _epoch_line(session: trainer_lib.Session, s: BenchmarkCase, lines: List[dict],
                common: dict) -> dict:
  """Times one whole epoch (all training steps + whole train and test evaluation) against the
  prediction from the measured step throughputs."""
  rate = {l["phase"]: l["images_per_second"] for l in lines}
  pipeline = session.source.pipeline
  n_train = pipeline.num_train
  n_test = int(pipeline.test_labels.shape[0])
  spe = session.steps_per_epoch
  trained = spe * s.batch_size
  predicted = trained / rate["train"] + (n_train + n_test) / rate["eval"]
  start = time.perf_counter()
  step = 0
  while step < spe:
    step += session.train_call(step, min(s.steps, spe - step)).steps
  session.source.evaluate(session.evaluator)
  seconds = time.perf_counter() - start
  return {**common, "phase": "epoch", "train_images": trained, "evaluated_images":
          n_train + n_test, "seconds": seconds, "predicted_seconds": predicted,
          "overhead": seconds / predicted - 1.0, "images_per_second": trained / seconds,
          "spread": None, "flops_per_image": None, "utilization": None,
          "peak_memory_bytes": host.peak_memory_bytes()}
