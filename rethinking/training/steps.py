"""The inner loop: strategy, the compiled multi-step training call, and evaluation passes.

Like Orbit's `steps_per_loop` (tensorflow/models orbit/), one compiled call runs up to
`num_steps` SGD steps with no host work between them; per-step loss and learning rate go to
TensorBoard from inside the graph. The call checks an in-graph stop flag before every step, so
a stop request (state.StopSignal) ends it at the next step instead of at the end of the call.
The outer loop (trainer.py) owns checkpoints, evaluation cadence and the run directory.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import keras
import tensorflow as tf

from rethinking.training import distribution

EVAL_CHUNK = 1000  # images per compiled evaluation chunk (resident data)
MAX_STEPS_PER_CALL = 100
CALL_SECONDS = 5.0  # automatic call length: a call ends within ~this, for progress and stops


def make_strategy(name: str) -> tf.distribute.Strategy:
  """The tf.distribute strategy named by --strategy (rethinking.training.distribution)."""
  return distribution.make_strategy(name)


@dataclasses.dataclass(frozen=True)
class Cadence:
  """When the outer loop calls, evaluates and stops: calls never cross an epoch's end or the
  last step; evaluations come every `eval_every` epochs and at the last step."""
  total_steps: int
  steps_per_epoch: int
  eval_every: int = 1
  steps_per_call: int = 0  # 0: automatic

  def call_length(self, step: int, seconds_per_step=None) -> int:
    """The configured steps per call, or automatically up to MAX_STEPS_PER_CALL steps taking
    at most ~CALL_SECONDS (the first call, which also traces, at most 10)."""
    per_call = self.steps_per_call
    if not per_call:
      per_call = 10 if seconds_per_step is None else int(
          max(1, min(MAX_STEPS_PER_CALL, CALL_SECONDS / max(seconds_per_step, 1e-9))))
    epoch_steps = self.steps_per_epoch
    return min(per_call, epoch_steps - step % epoch_steps, self.total_steps - step)

  def evaluation_due(self, step: int) -> bool:
    epoch_steps, every = self.steps_per_epoch, max(self.eval_every, 1)
    return step >= self.total_steps or (step % epoch_steps == 0
                                        and (step // epoch_steps) % every == 0)

  def evaluations_left(self, step: int) -> int:
    epoch_steps, every = self.steps_per_epoch, max(self.eval_every, 1)
    return max(0, -(-self.total_steps // epoch_steps) // every - (step // epoch_steps) // every)


@dataclasses.dataclass(frozen=True)
class CallResult:
  """What one compiled call reports: sums over the steps it ran (host numbers)."""
  steps: int  # steps actually run (fewer than asked when a stop was requested)
  loss_sum: float  # sum over steps of the mean cross-entropy of the global batch
  correct: int  # training examples classified correctly (training mode, before the update)
  first_nonfinite_step: int  # 1-based step whose loss was not finite; -1 when none
  peer_stopped: bool = False  # another worker's stop request ended the call (multi-worker)


@dataclasses.dataclass
class RunningSums:
  """Training-mode loss and accuracy summed over the steps since the last evaluation."""
  loss: float = 0.0
  correct: int = 0
  steps: int = 0

  def add(self, result: CallResult) -> None:
    self.loss += result.loss_sum
    self.correct += result.correct
    self.steps += result.steps

  @property
  def mean_loss(self) -> float:
    return self.loss / max(self.steps, 1)


class TrainCall:
  """`call(start, num_steps) -> CallResult`: SGD steps [start, start + n) in one compiled call.

  The inner loop of Orbit's split (its `train(num_steps)`): built once per run from the session's
  model, optimization (training/optimizer.py), data source and strategy."""

  def __init__(self, model: keras.Model, optimization, source, strategy: tf.distribute.Strategy,
               writer, step_variable: tf.Variable, stop_flag: tf.Variable, *, jit: bool = False):
    self.model, self.optimization, self.source = model, optimization, source
    self.strategy, self.writer = strategy, writer
    self.step_variable, self.stop_flag = step_variable, stop_flag
    self.variables = model.trainable_variables
    self.sgd_step = self._sgd_step_for(jit)
    self.compiled_call = tf.function(self._steps)

  def gradients(self, images, labels):
    """(mean cross-entropy, correct predictions, gradients) of one replica's batch."""
    with tf.GradientTape() as tape:
      logits = tf.cast(self.model(images, training=True), tf.float32)
      # The functional loss: a plain mean over this replica's examples. (Keras' loss *classes*
      # already divide by the replica count under a strategy; dividing here once, explicitly,
      # keeps the total right whatever Keras does.) Gradients are summed over replicas.
      cross_entropy = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
          labels, logits, from_logits=True))
      penalty = tf.add_n(self.model.losses) if self.model.losses else tf.constant(0.0)
      loss = (cross_entropy + tf.cast(penalty, tf.float32)) / self.strategy.num_replicas_in_sync
      loss = self.optimization.scaled_loss(loss)
    grads = tape.gradient(loss, self.variables)
    correct = tf.reduce_sum(tf.cast(
        tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.int32))
    return cross_entropy, correct, grads

  def _sgd_step_for(self, jit: bool):
    optimizer, variables = self.optimization.optimizer, self.variables
    gradients = self.gradients
    if jit and self.strategy is not tf.distribute.get_strategy():
      # Cross-replica gradient aggregation cannot live inside an XLA cluster: compile the rest.
      gradients = tf.function(self.gradients, jit_compile=True)

    def sgd_step(images, labels):
      cross_entropy, correct, grads = gradients(images, labels)
      optimizer.apply(grads, variables)
      return cross_entropy, correct

    if jit and self.strategy is tf.distribute.get_strategy():  # the default strategy: one device
      return tf.function(sgd_step, jit_compile=True)
    return sgd_step

  def stop_requested(self):
    if not distribution.spans_workers(self.strategy):
      return self.stop_flag.read_value()
    # Every worker must stop at the same step, or the others wait in the next collective for
    # it: a stop requested on any worker (a signal sent to one only) stops them all.
    requests = self.strategy.run(lambda: tf.cast(self.stop_flag.read_value(), tf.int32))
    return self.strategy.reduce(tf.distribute.ReduceOp.SUM, requests, axis=None) > 0

  def _replica_step(self, *args):
    return self.sgd_step(*self.source.replica_batch(*args))

  def _log_step(self, step, cross_entropy):
    with tf.compat.v1.name_scope(None):  # tags without the loop's "while/" scope
      tf.summary.scalar("train/loss", cross_entropy, step=step + 1,
                        description="cross-entropy of the training batch (mean over the "
                                    "global batch, training mode, before the update)")
      tf.summary.scalar("train/learning_rate", self.optimization.learning_rate(step),
                        step=step + 1, description="SGD learning rate used by this step")

  def _steps(self, inputs, start, num_steps):
    """The compiled loop: (steps done, summed loss, correct, first non-finite step or -1)."""
    strategy = self.strategy
    context = self.source.begin_call(inputs, start)
    loss_sum = tf.constant(0.0, tf.float32)
    correct_sum = tf.constant(0, tf.int64)
    first_nonfinite = tf.constant(-1, tf.int64)
    done = tf.constant(0, tf.int64)
    with self.writer.as_default():
      for i in tf.range(num_steps):
        if self.stop_requested():
          break
        step = start + i
        cross_entropy, correct = strategy.run(self._replica_step,
                                              args=self.source.step_inputs(context, step))
        self.optimization.after_update(step + 1)
        cross_entropy = tf.cast(
            strategy.reduce(tf.distribute.ReduceOp.MEAN, cross_entropy, axis=None), tf.float32)
        correct = strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None)
        first_nonfinite = tf.where(
            tf.logical_and(first_nonfinite < 0, tf.logical_not(tf.math.is_finite(cross_entropy))),
            step + 1, first_nonfinite)
        self._log_step(step, cross_entropy)
        loss_sum += cross_entropy
        correct_sum += tf.cast(correct, tf.int64)
        done = i + 1
    self.step_variable.assign(start + done)
    return done, loss_sum, correct_sum, first_nonfinite

  def __call__(self, start: int, num_steps: int) -> CallResult:
    inputs = self.source.host_inputs(start, num_steps)
    done, loss_sum, correct, nonfinite = self.compiled_call(
        inputs, tf.constant(start, tf.int64), tf.constant(num_steps, tf.int64))
    # Fewer steps than asked with no local request: another worker's stop (stop_requested).
    peer_stopped = int(done) < num_steps and not bool(self.stop_flag.numpy())
    return CallResult(int(done), float(loss_sum), int(correct), int(nonfinite), peer_stopped)


def split_metrics(split: str, loss_sum: float, correct: int, count: int,
                  top5_correct: Optional[int] = None) -> Dict[str, float]:
  """The metrics of one whole-split pass from its sums, as the history records them: accuracy
  and mean cross-entropy (top-5 accuracy when measured), and the correct count, from which the
  trainer tells a fit. The one place they are computed (declared in rundir.Evaluation)."""
  count = max(count, 1)
  out = {f"{split}_accuracy": correct / count, f"{split}_loss": loss_sum / count,
         f"{split}_correct": int(correct)}
  if top5_correct is not None:
    out[f"{split}_top5_accuracy"] = top5_correct / count
  return out


class Evaluator:
  """Inference-mode passes (`training=False`: batch norm uses its moving statistics, dropout is
  off) that sum loss and correct predictions over a whole split."""

  def __init__(self, model: keras.Model, jit: bool = False,
               stop_flag: tf.Variable = None, chunk_size: int = EVAL_CHUNK):
    """stop_flag: when it turns true a pass ends early (its sums are then partial and the
    trainer discards them). chunk_size: images per compiled call over resident data."""
    stop_flag = stop_flag if stop_flag is not None else tf.Variable(False, trainable=False)
    self.stop_requested = lambda: bool(stop_flag.numpy())

    def chunk(images, labels, mask):
      logits = tf.cast(model(images, training=False), tf.float32)
      loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
      correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
      return (tf.reduce_sum(tf.where(mask, loss, 0.0)),
              tf.reduce_sum(tf.cast(tf.logical_and(correct, mask), tf.int64)))

    compiled_chunk = tf.function(chunk, jit_compile=True) if jit else chunk

    @tf.function
    def whole_split(images, labels):
      # Fixed-size chunks (the tail padded and masked): one compiled shape, and gathers from the
      # resident variable instead of slices, which would copy the whole array each time.
      n = tf.shape(labels, out_type=tf.int64)[0]
      loss, correct = tf.constant(0.0, tf.float64), tf.constant(0, tf.int64)
      for start in tf.range(0, n, chunk_size):
        if stop_flag.read_value():
          break
        position = start + tf.range(chunk_size, dtype=tf.int64)
        index = tf.minimum(position, n - 1)
        chunk_loss, chunk_correct = compiled_chunk(
            tf.gather(images, index), tf.gather(labels, index), position < n)
        loss += tf.cast(chunk_loss, tf.float64)
        correct += chunk_correct
      return loss, correct

    def batch(images, labels):
      logits = tf.cast(model(images, training=False), tf.float32)
      loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
      top1 = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
      top5 = tf.math.in_top_k(labels, logits, 5)
      return (tf.reduce_sum(loss), tf.reduce_sum(tf.cast(top1, tf.int64)),
              tf.reduce_sum(tf.cast(top5, tf.int64)))

    self.whole_split = whole_split  # (images, labels) -> (summed loss, correct)
    self.batch = tf.function(batch, jit_compile=jit)  # -> (summed loss, top-1, top-5 correct)
