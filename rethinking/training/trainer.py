"""The outer loop: train until the next evaluation, evaluate and record, checkpoint, repeat.

flags -> RunConfig -> `train(config)` -> `<logdir>/<run_name>/` (rethinking.rundir): TensorBoard
events (per-step loss and learning rate; per-evaluation accuracy and loss on the whole corrupted
training set without augmentation and on the clean test set; HParams), checkpoints, state.json,
model.keras and results.json (written atomically, last).

The pieces: sources.py (the data), optimizer.py (schedule, SGD, loss scaling), steps.py (the
compiled multi-step call and the evaluation passes), controller.py (the outer loop: when to
train, evaluate, checkpoint and stop), state.py (checkpoints, run state, the stop signal),
progress.py (what the user sees), records.py (results.json, HParams).
Batches and augmentation are pure functions of (seed, step), so a resumed run repeats exactly
what an uninterrupted one does.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from typing import Callable, Optional

import keras
import tensorflow as tf

from rethinking import config as config_lib
from rethinking import host
from rethinking import models
from rethinking.models import layers
from rethinking import rundir
from rethinking.data import pipeline as pipeline_lib
from rethinking.training import controller as controller_lib
from rethinking.training import device_rules
from rethinking.training import optimizer as optimizer_lib
from rethinking.training import distribution
from rethinking.training import progress as progress_lib
from rethinking.training import records
from rethinking.training import sources
from rethinking.training import state as state_lib
from rethinking.training import steps as steps_lib

FingerprintMismatchError = state_lib.FingerprintMismatchError
RunDirectoryError = state_lib.RunDirectoryError
RunWriteError = state_lib.RunWriteError


@dataclasses.dataclass
class Session:
  """Everything built for one run (setup's output): the loop reads it, nothing else sets it."""
  strategy: tf.distribute.Strategy
  source: sources.Source
  model: keras.Model
  optimization: optimizer_lib.Optimization
  step: tf.Variable
  stop_flag: tf.Variable
  writer: object  # tf.summary writer
  checkpoints: state_lib.Checkpoints
  train_call: steps_lib.TrainCall
  evaluator: steps_lib.Evaluator
  total_steps: int
  # Whether to stop now; with several workers, whether any one was asked to (agreed by all).
  should_stop: Callable[[], bool]
  device: device_rules.DeviceChoices  # the XLA and evaluation-batch choices in use

  @property
  def steps_per_epoch(self) -> int:
    return self.source.steps_per_epoch

  @property
  def optimizer(self) -> keras.optimizers.Optimizer:
    return self.optimization.optimizer


class Trainer:
  """One run of one configuration. `run()` returns its rundir.Results (also results.json)."""

  def __init__(self, cfg: config_lib.RunConfig,
               data: Optional[pipeline_lib.PreparedData] = None,
               on_evaluation: Optional[Callable[[dict], None]] = None,
               after_call: Optional[Callable[["Trainer", int], None]] = None,
               say: Optional[Callable[[str], None]] = None):
    """on_evaluation(record) runs after each evaluation; after_call(trainer, step) after each
    compiled call (e.g. to `request_stop()`); say(line) prints progress (default: stdout)."""
    self.cfg = cfg
    self.run_dir = rundir.run_dir_for(cfg.to_dict())
    # Only the chief writes the run directory; other workers write to a scratch directory.
    self.role = distribution.Role.from_environment(cfg.train.strategy)
    self.write_dir = self.run_dir if self.role.is_chief else rundir.temporary_run_dir()
    self._data = data
    self._on_evaluation = on_evaluation
    self._after_call = after_call
    self._say = say
    self.stop = state_lib.StopSignal()
    self.session: Optional[Session] = None

  @property
  def model(self) -> Optional[keras.Model]:
    return self.session.model if self.session else None

  def request_stop(self) -> None:
    """Stop at the next step with a checkpoint (status "stopped"), as SIGINT/SIGTERM do."""
    self.stop.request()

  # ---- setup -------------------------------------------------------------------------------
  def setup(self) -> Session:
    """Builds strategy, data source, model, optimizer, checkpointing and the compiled calls."""
    cfg, train = self.cfg, self.cfg.train
    # Keras draws initial weights from its global generator: seeding it is the only way to make
    # the initialization a function of the run's seed.
    keras.utils.set_random_seed(train.seed)
    if train.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(train.precision)
    strategy = steps_lib.make_strategy(train.strategy)
    problem = distribution.divisibility_problem(train.batch_size,
                                                strategy.num_replicas_in_sync)
    if problem:
      raise distribution.ReplicaBatchError(problem)
    source = sources.make_source(cfg, strategy, self._data,
                                 image_size=models.default_input_shape(cfg.model.name)[0])
    steps_per_epoch = source.steps_per_epoch
    total_steps = train.epochs * steps_per_epoch
    if train.max_steps:
      total_steps = min(total_steps, train.max_steps)
    with strategy.scope():
      model = models.build(cfg.model.name, num_classes=source.num_classes,
                           input_shape=source.input_shape, weight_decay=cfg.model.weight_decay,
                           weight_decay_layers=cfg.model.weight_decay_layers,
                           dropout=cfg.model.dropout)
      optimization = optimizer_lib.build(train, steps_per_epoch, model.trainable_variables,
                                         statistics=layers.batch_norm_statistics(model))
      optimizer = optimization.optimizer
      step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    stop_flag = tf.Variable(False, trainable=False, name="stop_requested")
    self.stop.listeners.append(lambda: stop_flag.assign(True))
    if self.stop.requested.is_set():
      stop_flag.assign(True)
    writer = tf.summary.create_file_writer(self.write_dir)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step,
                                     **optimization.checkpointed())
    checkpoints = distribution.checkpoints_for(
        self.run_dir, self.write_dir, checkpoint, fingerprints=source.summary.fingerprints,
        config=cfg.to_dict())
    device = device_rules.resolve(
        device_rules.device_kind(d.device_type for d in tf.config.list_logical_devices()),
        jit=train.jit, eval_batch=train.eval_batch_size)
    train_call = steps_lib.TrainCall(model, optimization, source, strategy, writer, step,
                                     stop_flag, jit=device.jit)
    self.session = Session(
        strategy=strategy, source=source, model=model, optimization=optimization,
        step=step, stop_flag=stop_flag, writer=writer, checkpoints=checkpoints,
        train_call=train_call,
        evaluator=steps_lib.Evaluator(model, jit=device.jit, stop_flag=stop_flag,
                                      chunk_size=device.eval_batch),
        total_steps=total_steps,
        should_stop=distribution.make_stop_check(strategy, self.stop, stop_flag), device=device)
    return self.session

  def evaluate(self, splits=("train", "test")) -> dict:
    """Accuracy and mean cross-entropy on the whole training set (corrupted labels, no
    augmentation, inference mode) and on the test set (clean labels); `splits` picks which."""
    with self.session.optimization.evaluation_weights():
      return self.session.source.evaluate(self.session.evaluator, splits)

  # ---- the run -----------------------------------------------------------------------------
  def run(self) -> rundir.Results:
    created = rundir.first_missing_directory(self.write_dir)
    os.makedirs(self.write_dir, exist_ok=True)
    trained = False
    try:
      with distribution.lock_if_chief(self.role, self.run_dir), self.stop:
        present = set(os.listdir(self.write_dir))  # once locked: no one else adds files
        previous = self._previous_results()
        if previous is not None:
          return previous
        policy = keras.mixed_precision.global_policy()
        try:
          with distribution.peer_failures_explained(self.role), \
              state_lib.full_disk_explained(self.write_dir):
            session = self.setup()
            state = session.checkpoints.restore()
            distribution.check_same_restore_point(session.strategy, int(session.step.numpy()))
            trained = True
            records.write_hparams(session.writer, self.cfg, session.source.summary.train_size,
                                  trial_id=os.path.basename(self.run_dir))
            return self._train(session, state)
        finally:
          keras.mixed_precision.set_global_policy(policy)
          if not trained:  # refused before training: remove the events file setup created
            for name in set(os.listdir(self.write_dir)) - present:
              if name.startswith("events.out"):
                os.unlink(os.path.join(self.write_dir, name))
    finally:
      if not self.role.is_chief:
        shutil.rmtree(self.write_dir, ignore_errors=True)  # a worker's scratch directory
      elif created and not trained and not os.listdir(self.run_dir):
        shutil.rmtree(created, ignore_errors=True)  # refused before training: no trace

  def _previous_results(self) -> Optional[rundir.Results]:
    """Results to return without training (state.previous_results), said as it is."""
    previous, why = state_lib.previous_results(self.run_dir, self.cfg,
                                               set_aside=self.role.is_chief)
    if previous is not None:
      self._print(why)
    return previous

  def _print(self, text: str) -> None:
    (self._say or (lambda line: print(line, flush=True)))(text)

  def _train(self, session: Session, state: state_lib.RunState) -> rundir.Results:
    """The banner, then the outer loop (controller.Controller), then the results."""
    train, summary = self.cfg.train, session.source.summary
    step = int(session.step.numpy())
    data_line = f"{summary.name} n={summary.train_size:,}"
    if summary.jpeg:  # a fidelity probe's numbers are on the re-encoded images, not the copy's
      data_line += f" re-encoded JPEG q{summary.jpeg['quality']}"
    progress = progress_lib.Progress(total_steps=session.total_steps,
                                     steps_per_epoch=session.steps_per_epoch, start_step=step,
                                     say=self._say)
    progress.banner(run_dir=self.run_dir, setting=records.describe_setting(self.cfg),
                    data=f"{data_line} (test {summary.test_size:,})",
                    device=host.describe_device(), precision=train.precision,
                    batch_size=train.batch_size, resumed_from=step or None)
    hooks = controller_lib.Hooks(
        evaluate=lambda at, since: self._evaluate_and_record(session, state, at, since),
        on_evaluation=self._on_evaluation, request_stop=self.stop.request,
        after_call=(lambda at: self._after_call(self, at)) if self._after_call else None)
    loop = controller_lib.Controller(session, state, train, progress, hooks, data_line)
    status, diverged_at, step = loop.run()
    return self._finish(session, state, status, diverged_at, step)

  def _evaluate_and_record(self, session: Session, state: state_lib.RunState, step: int,
                           since: steps_lib.RunningSums):
    """Evaluates at `step`, appends the record to the history and TensorBoard; returns
    (record, fit), or (None, False) when a stop interrupted the evaluation."""
    train, epoch_steps = self.cfg.train, session.steps_per_epoch
    epoch = step // epoch_steps
    running_accuracy = (since.correct / (since.steps * train.batch_size) if since.steps
                        else None)
    last = step >= session.total_steps
    if (not last and running_accuracy is not None
        and running_accuracy < train.skip_train_eval_below):
      metrics = {"train_accuracy": None, "train_loss": None, "train_correct": -1}
    else:
      metrics = self.evaluate(("train",))
    if session.should_stop():
      return None, False  # interrupted: partial sums, discarded
    fit = metrics["train_correct"] == session.source.summary.train_evaluated
    if last or (fit and train.stop_when_fit) or (train.test_every and epoch % train.test_every == 0):
      metrics.update(self.evaluate(("test",)))
      if session.should_stop():
        return None, False
    else:  # test set skipped at this evaluation (--test_every)
      metrics.update(test_accuracy=None, test_loss=None)
    record = {"step": step, "epoch": step / epoch_steps,
              # None when no step ran since the last evaluation (one delayed by a stop).
              "running_train_loss": since.mean_loss if since.steps else None,
              "running_train_accuracy": running_accuracy,
              # The rate the optimizer applied at this record's last step.
              "learning_rate": float(session.optimization.learning_rate(step - 1)),
              **{k: v for k, v in metrics.items() if not k.endswith("_correct")}}
    state.history.append(record)
    if fit and state.steps_to_fit is None:
      state.steps_to_fit, state.epochs_to_fit = step, step / epoch_steps
    with session.writer.as_default(step=step):
      for key, text in records.EVAL_SCALARS.items():
        if record.get(key) is not None:  # a metric this evaluation did not measure
          tf.summary.scalar(f"eval/{key}", record[key], description=text)
      if record["running_train_accuracy"] is not None:
        tf.summary.scalar("train/running_accuracy", record["running_train_accuracy"],
                          description="accuracy of the training batches since the last "
                                      "evaluation (training mode, before each update)")
      if fit and state.steps_to_fit == step:
        tf.summary.scalar("fit/steps_to_fit", step, description="first step at which the whole "
                          "training set was fit (100% inference-mode accuracy)")
    session.writer.flush()
    return record, fit

  def _finish(self, session: Session, state: state_lib.RunState, status: str,
              diverged_at: Optional[int], step: int) -> rundir.Results:
    final = dict(state.last_evaluation or {})
    if status == "completed" and (final.get("step") != step or final.get("test_accuracy") is None):
      final = {"step": step, **self.evaluate()}
    if status == "completed":
      with session.optimization.evaluation_weights():  # the weights its numbers came from
        records.save_model(session.model, os.path.join(self.write_dir, rundir.MODEL))
    results = records.results(
        self.cfg, session.source.summary, state, final=final, status=status, step=step,
        diverged_at=diverged_at, stop_signal=self.stop.signal_name,
        steps_per_epoch=session.steps_per_epoch, run_dir=self.run_dir,
        replicas=session.strategy.num_replicas_in_sync, device=session.device)
    results.write(self.write_dir)  # a worker's scratch directory unless this is the chief
    session.writer.flush()
    return results


def train(cfg: config_lib.RunConfig,
          data: Optional[pipeline_lib.PreparedData] = None) -> rundir.Results:
  """Trains one configuration; returns its results (also <run dir>/results.json)."""
  return Trainer(cfg, data).run()
