"""The trainer: SGD with momentum on a corrupted dataset, one run directory per setting.

flags -> RunConfig -> `train(config)` -> `<logdir>/<run_name>/`:
  events.* (TensorBoard: per-step loss and learning rate; per-evaluation accuracy and loss on the
  whole corrupted training set without augmentation, and on the clean test set; HParams),
  ckpt-* (tf.train.CheckpointManager, two or more kept), state.json (what the checkpoints do not
  hold: evaluation history, fingerprints), results.json (written atomically, last).

Training runs as compiled calls of up to `steps_per_call` steps over device-resident data
(rethinking.data.pipeline): no host work between steps, the batch order and augmentation are
pure functions of (seed, step), so a resumed run repeats exactly what an uninterrupted one does.
"""
from __future__ import annotations

import dataclasses
import math
import os
import signal
import time
from typing import Callable, Optional

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from rethinking import config as config_lib
from rethinking.data import datasets
from rethinking.data import imagenet
from rethinking.data import pipeline as pipeline_lib
from rethinking.data import preprocessing
from rethinking.training import runio

RESULTS = "results.json"
STATE = "state.json"
DEFAULT_STEPS_PER_CALL = 100
EVAL_CHUNK = 1000


class FingerprintMismatchError(RuntimeError):
  """The run directory holds a run of another setting or on other data."""


# Settings that may change between a run and its continuation in the same directory: how long
# to train, how often to evaluate, where data and logs live. Anything else is another setting.
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "max_steps"), ("train", "stop_when_fit"),
                     ("train", "eval_every"), ("train", "test_every"), ("train", "steps_per_call"), ("data", "data_dir"),
                     ("data", "download"), ("logdir",)}


def setting_differences(saved: dict, current: dict) -> list:
  """Config entries (as "section.name") that differ beyond RESUMABLE_CHANGES."""
  out = []
  for key in sorted(set(saved) | set(current)):
    a, b = saved.get(key), current.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      out += [f"{key}.{k}" for k in sorted(set(a) | set(b))
              if a.get(k) != b.get(k) and (key, k) not in RESUMABLE_CHANGES]
    elif a != b and (key,) not in RESUMABLE_CHANGES:
      out.append(key)
  return out


def run_name_for(cfg: config_lib.RunConfig) -> str:
  """A readable default run name: model_dataset_corruption[-p]_seed."""
  c = cfg.corruption
  kind = f"labels{c.prob:g}" if c.kind == "labels" else c.kind
  parts = [cfg.model.name, cfg.data.name, kind]
  if cfg.train.augment:
    parts.append("crop")
  if cfg.model.weight_decay:
    parts.append(f"wd{cfg.model.weight_decay:g}")
  if cfg.data.train_size:
    parts.append(f"n{cfg.data.train_size}")
  parts.append(f"s{cfg.train.seed}")
  return "_".join(parts)


def run_dir_for(cfg: config_lib.RunConfig) -> str:
  return os.path.join(cfg.logdir, cfg.run_name or run_name_for(cfg))


def make_strategy(name: str) -> tf.distribute.Strategy:
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"unknown strategy {name!r}; known: {', '.join(config_lib.STRATEGIES)}")


class _StopRequest:
  """Turns SIGINT/SIGTERM into a flag checked between compiled calls."""

  def __init__(self):
    self.requested = False
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread: leave signals alone
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    logging.warning("signal %d: checkpointing and stopping after the current call", signum)
    self.requested = True

  def __exit__(self, *args):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


class Trainer:
  """One run of one configuration. `run()` returns the results dict (also in results.json)."""

  def __init__(self, cfg: config_lib.RunConfig,
               data: Optional[pipeline_lib.PreparedData] = None,
               on_evaluation: Optional[Callable[[dict], None]] = None,
               after_call: Optional[Callable[["Trainer", int], None]] = None):
    """on_evaluation(record) runs after each evaluation; after_call(trainer, step) after each
    compiled call (e.g. to `request_stop()` at a chosen step)."""
    self.cfg = cfg
    self.run_dir = run_dir_for(cfg)
    self._data = data
    self._on_evaluation = on_evaluation
    self._after_call = after_call
    self._stop: Optional[_StopRequest] = None

  def request_stop(self) -> None:
    """Checkpoint and stop (status "stopped") after the current compiled call."""
    if self._stop is not None:
      self._stop.requested = True

  # ---- setup -------------------------------------------------------------------------------
  def setup(self):
    """Builds strategy, data pipeline, model, optimizer, checkpointing and compiled functions."""
    cfg, t = self.cfg, self.cfg.train
    keras.utils.set_random_seed(t.seed)  # weight initialisation
    if t.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(t.precision)
    self.strategy = make_strategy(t.strategy)
    self.replicas = self.strategy.num_replicas_in_sync
    if t.batch_size % self.replicas:
      raise ValueError(f"batch size {t.batch_size} is not divisible by {self.replicas} replicas")
    self.streamed = cfg.data.name in datasets.STREAMED
    if self.streamed:
      self._setup_streamed()
    else:
      data = self._data or pipeline_lib.prepare(cfg.data, cfg.corruption)
      self.data = data
      self.pipeline = pipeline_lib.ResidentPipeline(
          data, batch_size=t.batch_size, seed=t.seed, augment=t.augment, strategy=self.strategy)
      self.steps_per_epoch = self.pipeline.steps_per_epoch
      self.num_eval_train = self.pipeline.num_train
      crop = preprocessing.crop_size_for(data.image_shape[0])
      self.input_shape = (crop, crop, data.image_shape[-1])
      self.num_classes = data.num_classes
      self.data_summary = {
          "name": data.name, "train_size": data.train_size,
          "test_size": int(data.test_labels.shape[0]), "fingerprint": data.data_fingerprint,
          "corruption_fingerprint": data.corruption_fingerprint,
          "fraction_labels_changed": data.fraction_labels_changed}
    spe = self.steps_per_epoch
    total = t.epochs * spe
    self.total_steps = min(total, t.max_steps) if t.max_steps else total
    from rethinking import models  # pylint: disable=import-outside-toplevel
    with self.strategy.scope():
      self.model = models.build(cfg.model.name, num_classes=self.num_classes,
                                input_shape=self.input_shape,
                                weight_decay=cfg.model.weight_decay, dropout=cfg.model.dropout)
      self.schedule = keras.optimizers.schedules.ExponentialDecay(
          t.learning_rate, decay_steps=spe, decay_rate=t.lr_decay, staircase=True)
      optimizer = keras.optimizers.SGD(learning_rate=self.schedule, momentum=t.momentum)
      if t.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
      self.optimizer = optimizer
      self.optimizer.build(self.model.trainable_variables)
      # Kept so a run whose every checkpoint is unreadable restarts from the same initial point.
      self._initial_weights = [v.numpy() for v in self.model.weights]
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                          step=self.step)
    self.manager = tf.train.CheckpointManager(self.checkpoint, self.run_dir, max_to_keep=3)
    self.loss_fn = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="sum_over_batch_size")
    self._build_functions()

  def _setup_streamed(self):
    """ImageNet: a tf.data stream per epoch instead of resident arrays (see data/imagenet.py)."""
    cfg, t = self.cfg, self.cfg.train
    size = cfg.data.train_size or imagenet.TRAIN_EXAMPLES
    self.stream = imagenet.StreamedData(
        data_dir=cfg.data.data_dir, corruption=cfg.corruption.kind, prob=cfg.corruption.prob,
        seed=t.seed, image_size=imagenet.image_size_for(cfg.model.name),
        train_size=cfg.data.train_size, download=cfg.data.download)
    self.stream.check_available()
    self.steps_per_epoch = max(size // t.batch_size, 1)
    self.num_eval_train = min(size, imagenet.TRAIN_EVAL_EXAMPLES)
    self.input_shape = (self.stream.image_size, self.stream.image_size, 3)
    self.num_classes = imagenet.NUM_CLASSES
    # The exact arrays cannot be hashed up front for a streamed 1.28M-image set: the fingerprint
    # covers what determines them (dataset version, subset, corruption and its seed).
    ident = runio.json_fingerprint({"dataset": "imagenet2012", "version": self.stream.version(),
                                    "train_size": cfg.data.train_size})
    self.data_summary = {
        "name": "imagenet2012", "train_size": size, "test_size": imagenet.VALIDATION_EXAMPLES,
        "fingerprint": ident,
        "corruption_fingerprint": runio.json_fingerprint(
            {"data": ident, "corruption": dataclasses.asdict(cfg.corruption)}),
        "fraction_labels_changed": None}
    self._iterator_epoch = None

  def _build_functions(self):
    model, optimizer, t = self.model, self.optimizer, self.cfg.train
    pipeline = None if self.streamed else self.pipeline
    replicas, spe = self.replicas, self.steps_per_epoch
    variables = model.trainable_variables
    scale_loss = t.precision == "mixed_float16"
    default_strategy = t.strategy == "default"

    def gradients(x, y):
      with tf.GradientTape() as tape:
        logits = model(x, training=True)
        ce = self.loss_fn(y, logits)
        reg = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
        # Gradients are summed over replicas: each contributes 1/replicas of the mean.
        loss = (ce + tf.cast(reg, ce.dtype)) / replicas
        if scale_loss:
          loss = optimizer.scale_loss(loss)
      grads = tape.gradient(loss, variables)
      correct = tf.reduce_sum(tf.cast(
          tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.int32))
      return ce, correct, grads

    def step_on(x, y):
      ce, correct, grads = gradients(x, y)
      optimizer.apply(grads, variables)
      return ce, correct

    if t.jit and default_strategy:
      compiled_step = tf.function(step_on, jit_compile=True)
    elif t.jit:
      # Cross-replica gradient aggregation cannot live inside an XLA cluster.
      compiled_gradients = tf.function(gradients, jit_compile=True)

      def compiled_step(x, y):
        ce, correct, grads = compiled_gradients(x, y)
        optimizer.apply(grads, variables)
        return ce, correct
    else:
      compiled_step = step_on

    def replica_step(order, step, step_in_epoch):
      ctx = tf.distribute.get_replica_context()
      x, y = pipeline.train_batch(order, step, step_in_epoch,
                                  ctx.replica_id_in_sync_group, replicas)
      return compiled_step(x, y)

    strategy = self.strategy
    self.writer = writer = tf.summary.create_file_writer(self.run_dir)
    schedule = self.schedule

    def account(step, per_replica, loss_sum, correct_sum, first_nonfinite):
      """Reduces one step over replicas, logs loss and learning rate, tracks divergence."""
      ce, correct = per_replica
      ce = tf.cast(strategy.reduce(tf.distribute.ReduceOp.MEAN, ce, axis=None), tf.float32)
      correct = strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None)
      first_nonfinite = tf.where(
          tf.logical_and(first_nonfinite < 0, tf.logical_not(tf.math.is_finite(ce))),
          step + 1, first_nonfinite)
      with tf.compat.v1.name_scope(None):  # tags without the loop's "while/" scope
        tf.summary.scalar("train/loss", ce, step=step + 1)
        tf.summary.scalar("train/learning_rate", schedule(step), step=step + 1)
      return loss_sum + ce, correct_sum + tf.cast(correct, tf.int64), first_nonfinite

    @tf.function
    def train_call(start, num_steps):
      epoch = start // spe
      order = pipeline.epoch_order(epoch)
      loss_sum = tf.constant(0.0, tf.float32)
      correct_sum = tf.constant(0, tf.int64)
      first_nonfinite = tf.constant(-1, tf.int64)
      with writer.as_default():
        for i in tf.range(num_steps):
          step = start + i
          per_replica = strategy.run(replica_step, args=(order, step, step - epoch * spe))
          loss_sum, correct_sum, first_nonfinite = account(
              step, per_replica, loss_sum, correct_sum, first_nonfinite)
      self.step.assign(start + tf.cast(num_steps, tf.int64))
      return loss_sum, correct_sum, first_nonfinite

    self.train_call = self._train_call_streamed if self.streamed else train_call

    @tf.function
    def streamed_call(iterator, start, num_steps):
      loss_sum = tf.constant(0.0, tf.float32)
      correct_sum = tf.constant(0, tf.int64)
      first_nonfinite = tf.constant(-1, tf.int64)
      with writer.as_default():
        for i in tf.range(num_steps):
          step = start + i
          per_replica = strategy.run(compiled_step, args=next(iterator))
          loss_sum, correct_sum, first_nonfinite = account(
              step, per_replica, loss_sum, correct_sum, first_nonfinite)
      self.step.assign(start + tf.cast(num_steps, tf.int64))
      return loss_sum, correct_sum, first_nonfinite

    self._streamed_call = streamed_call

    def eval_chunk(x, y, mask):
      logits = tf.cast(model(x, training=False), tf.float32)
      ce = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
      correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y)
      return (tf.reduce_sum(tf.where(mask, ce, 0.0)),
              tf.reduce_sum(tf.cast(tf.logical_and(correct, mask), tf.int64)))

    compiled_chunk = tf.function(eval_chunk, jit_compile=True) if t.jit else eval_chunk

    @tf.function
    def eval_split(images, labels):
      # Fixed-size chunks (the tail padded and masked): one compiled shape, and gathers from the
      # resident variable instead of slices, which would copy the whole array each time.
      n = tf.shape(labels, out_type=tf.int64)[0]
      loss, correct = tf.constant(0.0, tf.float64), tf.constant(0, tf.int64)
      for start in tf.range(0, n, EVAL_CHUNK):
        position = start + tf.range(EVAL_CHUNK, dtype=tf.int64)
        index = tf.minimum(position, n - 1)
        ce, c = compiled_chunk(tf.gather(images, index), tf.gather(labels, index), position < n)
        loss += tf.cast(ce, tf.float64)
        correct += c
      return loss, correct

    self.eval_split = eval_split

    def eval_batch(x, y):
      logits = tf.cast(model(x, training=False), tf.float32)
      ce = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
      top1 = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y)
      top5 = tf.math.in_top_k(y, logits, 5)
      return (tf.reduce_sum(ce), tf.reduce_sum(tf.cast(top1, tf.int64)),
              tf.reduce_sum(tf.cast(top5, tf.int64)))

    self.eval_batch = tf.function(eval_batch, jit_compile=t.jit)

  def _train_call_streamed(self, start, num_steps):
    """Runs steps [start, start + num_steps) of one epoch from that epoch's stream."""
    start_int, t = int(start), self.cfg.train
    epoch, in_epoch = divmod(start_int, self.steps_per_epoch)
    if self._iterator_epoch != (epoch, start_int):
      ds = self.stream.train(t.batch_size, epoch, t.augment).skip(in_epoch)
      self._iterator = iter(self.strategy.experimental_distribute_dataset(ds))
    self._iterator_epoch = (epoch, start_int + int(num_steps))
    return self._streamed_call(self._iterator, start, num_steps)

  # ---- evaluation -------------------------------------------------------------------------
  def evaluate(self, splits=("train", "test")) -> dict:
    """Accuracy and mean cross-entropy on the whole training set (corrupted labels, no
    augmentation, inference mode) and on the test set (clean labels); `splits` picks which."""
    if self.streamed:
      return self._evaluate_streamed(splits)
    out = {}
    for split, (images, labels) in self.pipeline.eval_splits().items():
      if split not in splits:
        continue
      n = int(labels.shape[0])
      loss, correct = self.eval_split(images, labels)
      out[f"{split}_accuracy"] = int(correct) / n
      out[f"{split}_loss"] = float(loss) / n
      out[f"{split}_correct"] = int(correct)
    return out

  def _evaluate_streamed(self, splits=("train", "test")) -> dict:
    """Top-1/top-5 accuracy and loss on the first TRAIN_EVAL_EXAMPLES training examples
    (corrupted labels) and on the whole validation split (clean labels)."""
    out = {}
    for split in splits:
      n = loss = correct = top5 = 0
      for x, y in self.stream.evaluation(split, self.cfg.train.batch_size):
        ce, c, c5 = self.eval_batch(x, y)
        n += int(y.shape[0])
        loss += float(ce)
        correct += int(c)
        top5 += int(c5)
      out[f"{split}_accuracy"] = correct / max(n, 1)
      out[f"{split}_top5_accuracy"] = top5 / max(n, 1)
      out[f"{split}_loss"] = loss / max(n, 1)
      out[f"{split}_correct"] = correct
    return out

  # ---- state -------------------------------------------------------------------------------
  def _fingerprints(self) -> dict:
    return {"data": self.data_summary["fingerprint"],
            "corruption": self.data_summary["corruption_fingerprint"]}

  def _check_same_setting(self, saved_config: dict) -> None:
    changed = setting_differences(saved_config, self.cfg.to_dict())
    if changed:
      raise FingerprintMismatchError(
          f"{self.run_dir} holds a run of another setting (differs in {', '.join(changed)}); "
          f"use another --run_name")

  def _restore(self) -> dict:
    """Restores the newest readable checkpoint; returns the saved state (or a fresh one)."""
    state = {"history": [], "steps_to_fit": None, "epochs_to_fit": None,
             "train_seconds": 0.0, "wall_seconds": 0.0, "train_images": 0}
    state_path = os.path.join(self.run_dir, STATE)
    saved = runio.read_json(state_path) if os.path.exists(state_path) else None
    if saved:
      self._check_same_setting(saved.get("config", {}))
    if saved and saved.get("fingerprints") != self._fingerprints():
      raise FingerprintMismatchError(
          f"{self.run_dir} holds a run on other data or another corruption "
          f"({saved.get('fingerprints')} != {self._fingerprints()}); use another --run_name")
    snapshots = (saved or {}).get("snapshots", {})
    for path in reversed(self.manager.checkpoints):
      number = path.rsplit("-", 1)[-1]
      if number not in snapshots:
        # Killed between the checkpoint and its state.json entry: the pair is incomplete.
        logging.warning("checkpoint %s has no saved state; falling back to an older one", path)
        continue
      try:
        self.checkpoint.restore(path).assert_existing_objects_matched()
      except Exception as e:  # pylint: disable=broad-except  (any unreadable checkpoint)
        logging.warning("checkpoint %s is unreadable (%s); falling back to an older one",
                        path, str(e).splitlines()[0][:200])
        continue
      state.update(snapshots[number])
      logging.warning("resumed from %s at step %d", path, int(self.step.numpy()))
      return state
    if self.manager.checkpoints:
      logging.warning("no usable checkpoint in %s: starting from step 0", self.run_dir)
      keras.utils.set_random_seed(self.cfg.train.seed)
      for v, init in zip(self.model.weights, self._initial_weights):
        v.assign(init)
      for v in self.optimizer.variables:
        v.assign(tf.zeros_like(v))
    self.step.assign(0)
    return state

  def _save(self, state: dict) -> None:
    step = int(self.step.numpy())
    self.manager.save(checkpoint_number=step)
    path = os.path.join(self.run_dir, STATE)
    saved = runio.read_json(path) if os.path.exists(path) else {"snapshots": {}}
    kept = {os.path.basename(p).split("-")[-1] for p in self.manager.checkpoints}
    snapshots = {k: v for k, v in saved.get("snapshots", {}).items() if k in kept}
    snapshots[str(step)] = state
    runio.atomic_write_json(path, {"fingerprints": self._fingerprints(),
                                   "config": self.cfg.to_dict(), "snapshots": snapshots})

  def _write_hparams(self):
    from tensorboard.plugins.hparams import api as hp  # pylint: disable=import-outside-toplevel
    c = self.cfg
    hparams = {"model": c.model.name, "dataset": c.data.name, "corruption": c.corruption.kind,
               "corrupt_prob": c.corruption.label_prob, "train_size": self.data_summary["train_size"],
               "augment": c.train.augment, "weight_decay": c.model.weight_decay,
               "dropout": c.model.dropout, "learning_rate": c.train.learning_rate,
               "lr_decay": c.train.lr_decay, "batch_size": c.train.batch_size,
               "seed": c.train.seed, "precision": c.train.precision}
    with self.writer.as_default():
      hp.hparams(hparams, trial_id=os.path.basename(self.run_dir))

  # ---- the run -----------------------------------------------------------------------------
  def run(self) -> dict:
    os.makedirs(self.run_dir, exist_ok=True)
    with runio.RunLock(self.run_dir), _StopRequest() as stop:
      self._stop = stop
      results_path = os.path.join(self.run_dir, RESULTS)
      if os.path.exists(results_path):
        previous = runio.read_json(results_path)
        self._check_same_setting(previous.get("config", {}))
        if previous.get("status") == "completed" and previous["config"] == self.cfg.to_dict():
          logging.info("%s already completed; not training again", self.run_dir)
          return previous
      policy = keras.mixed_precision.global_policy()
      try:
        self.setup()
        state = self._restore()
        self._write_hparams()
        return self._loop(state, stop)
      finally:
        keras.mixed_precision.set_global_policy(policy)

  def _loop(self, state: dict, stop: _StopRequest) -> dict:
    t = self.cfg.train
    spe = self.steps_per_epoch
    per_call = t.steps_per_call or DEFAULT_STEPS_PER_CALL
    status = "completed"
    diverged_at = None
    wall_start = time.time() - state["wall_seconds"]
    step = int(self.step.numpy())
    epoch_loss, epoch_correct, epoch_steps = 0.0, 0, 0
    last_eval = state["history"][-1] if state["history"] else None
    while step < self.total_steps:
      if stop.requested:
        status = "stopped"
        break
      in_epoch = step % spe
      n = min(per_call, spe - in_epoch, self.total_steps - step)
      started = time.time()
      loss_sum, correct, nonfinite = self.train_call(tf.constant(step, tf.int64),
                                                     tf.constant(n, tf.int64))
      loss_sum, correct, nonfinite = float(loss_sum), int(correct), int(nonfinite)
      state["train_seconds"] += time.time() - started
      state["train_images"] += n * t.batch_size
      step += n
      epoch_loss += loss_sum
      epoch_correct += correct
      epoch_steps += n
      if nonfinite >= 0:
        status, diverged_at = "diverged", nonfinite
        logging.error("loss became non-finite at step %d: stopping (status diverged)", nonfinite)
        break
      if self._after_call:
        self._after_call(self, step)
      epoch_done = step % spe == 0
      epoch = step // spe
      last = step >= self.total_steps
      if (epoch_done and epoch % max(t.eval_every, 1) == 0) or last:
        metrics = self.evaluate(("train",))
        fit = metrics["train_correct"] == self.num_eval_train
        if last or (fit and t.stop_when_fit) or (t.test_every and epoch % t.test_every == 0):
          metrics.update(self.evaluate(("test",)))
        else:  # test set skipped at this evaluation (--test_every)
          metrics.update(test_accuracy=None, test_loss=None)
        record = {"step": step, "epoch": step / spe,
                  "running_train_loss": epoch_loss / max(epoch_steps, 1),
                  "running_train_accuracy": epoch_correct / max(epoch_steps * t.batch_size, 1),
                  "learning_rate": float(self.schedule(step - 1)),
                  **{k: v for k, v in metrics.items() if not k.endswith("_correct")}}
        state["history"].append(record)
        last_eval = record
        with self.writer.as_default(step=step):
          for key in ("train_accuracy", "train_loss", "test_accuracy", "test_loss"):
            if record[key] is not None:
              tf.summary.scalar(f"eval/{key}", record[key])
          tf.summary.scalar("train/running_accuracy", record["running_train_accuracy"])
        self.writer.flush()
        if fit and state["steps_to_fit"] is None:
          state["steps_to_fit"], state["epochs_to_fit"] = step, step / spe
        state["wall_seconds"] = time.time() - wall_start
        self._save(state)
        logging.info(
            "epoch %.2f step %d | loss %.4f running acc %.4f | whole train set acc %.4f loss "
            "%.4f | test acc %s | %.0f img/s | %s, n=%d, %s", step / spe, step,
            record["running_train_loss"], record["running_train_accuracy"],
            record["train_accuracy"], record["train_loss"],
            "-" if record["test_accuracy"] is None else f"{record['test_accuracy']:.4f}",
            state["train_images"] / max(state["train_seconds"], 1e-9),
            self.data_summary["name"], self.data_summary["train_size"], t.precision)
        if self._on_evaluation:
          self._on_evaluation(record)
        epoch_loss, epoch_correct, epoch_steps = 0.0, 0, 0
        if fit and t.stop_when_fit:
          break
    if status == "stopped":
      state["wall_seconds"] = time.time() - wall_start
      self._save(state)  # resume point; the next start continues from this step
    if status != "diverged" and (last_eval is None or last_eval["step"] != step
                                 or last_eval.get("test_accuracy") is None):
      last_eval = {"step": step, "epoch": step / spe, **self.evaluate()}
    state["wall_seconds"] = time.time() - wall_start
    results = self._results(state, last_eval or {}, status, diverged_at, step)
    runio.atomic_write_json(os.path.join(self.run_dir, RESULTS), results)
    self.writer.flush()
    return results

  def _results(self, state, last_eval, status, diverged_at, step) -> dict:
    c = self.cfg
    d = self.data_summary
    final = {k: last_eval.get(k) for k in ("train_accuracy", "train_loss", "test_accuracy",
                                           "test_loss")}
    if self.streamed:
      final.update({k: last_eval.get(k) for k in ("train_top5_accuracy", "test_top5_accuracy")})
    final["step"] = step
    return {
        "config": c.to_dict(),
        "run_dir": self.run_dir,
        "status": status,
        "diverged_at_step": diverged_at,
        "final": final,
        "steps_to_fit": state["steps_to_fit"],
        "epochs_to_fit": state["epochs_to_fit"],
        "steps_per_epoch": self.steps_per_epoch,
        "corruption": {"kind": c.corruption.kind, "prob": c.corruption.label_prob,
                       "fraction_labels_changed": d["fraction_labels_changed"],
                       "fingerprint": d["corruption_fingerprint"],
                       "pixel_unit": c.corruption.pixel_unit},
        "data": {"name": d["name"], "train_size": d["train_size"],
                 "test_size": d["test_size"], "fingerprint": d["fingerprint"],
                 "train_evaluated": self.num_eval_train},
        "device": runio.describe_device(),
        "strategy": c.train.strategy,
        "replicas": self.replicas,
        "precision": c.train.precision,
        "jit": c.train.jit,
        "wall_seconds": state["wall_seconds"],
        "train_seconds": state["train_seconds"],
        "examples_per_second": state["train_images"] / max(state["train_seconds"], 1e-9),
        "peak_memory_bytes": runio.peak_memory_bytes(),
        "history": state["history"],
        "versions": runio.versions(),
    }


def train(cfg: config_lib.RunConfig, data: Optional[pipeline_lib.PreparedData] = None) -> dict:
  """Trains one configuration; returns results (also written to <run dir>/results.json)."""
  return Trainer(cfg, data).run()
