"""The optimization of the paper (Appendix A): SGD with momentum on the cross-entropy plus the
L2 penalty, the learning rate decayed per epoch, and loss scaling for float16; optionally an
average of the weights that evaluations use instead of the trained weights (a fidelity probe).

The one home of the learning-rate schedule: a new schedule, or a new parameter of this one
(besides its flag and config field), changes this file only.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Dict, List, Optional

import keras
import tensorflow as tf

from rethinking import config as config_lib


def learning_rate_schedule(train: config_lib.TrainConfig,
                           steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule:
  """lr(step) = learning_rate * lr_decay ** (step // steps_per_epoch): the paper's decay per
  epoch, constant within an epoch."""
  return keras.optimizers.schedules.ExponentialDecay(
      train.learning_rate, decay_steps=steps_per_epoch, decay_rate=train.lr_decay,
      staircase=True)


class WeightAverage:
  """The exponential moving average of the trainable weights that TensorFlow's CIFAR-10
  tutorial (whose network is our AlexNet) evaluated: tf.train.ExponentialMovingAverage(decay,
  num_updates=global_step), i.e. after update t, average <- d * average + (1 - d) * weight with
  d = min(decay, (1 + t) / (10 + t)), starting from the initial weights.

  Hand-written because neither offer fits: that class is TF1's (its apply() makes slots through
  slot_creator, which takes tf.Variables, not Keras 3's), and Keras' optimizer EMA (use_ema) has
  no warm-up: at 0.9999 its average would still hold 68% of the first step's weights after
  3,900 steps (10 AlexNet epochs), the tutorial's 1e-25, and it averages trainable weights only.

  `variables` are the trainable weights followed by batch norm's moving statistics, if any: the
  tutorial's network has no batch norm, and averaged weights evaluated with the statistics of
  the current ones would be a mismatch (with momentum 0.9 those follow the last ~10 steps, the
  average the last ~t/9). TensorFlow's Inception training (tensorflow/models, inception_train.py)
  averaged tf.trainable_variables() + tf.moving_average_variables() with the same decay (its
  "double-average" of the batch-norm statistics); so does this. Call inside the strategy's
  scope."""

  def __init__(self, variables, decay: float):
    self.decay = float(decay)
    self.variables = list(variables)
    self.averages = [tf.Variable(tf.identity(v), trainable=False, name=f"average_{i}")
                     for i, v in enumerate(self.variables)]

  def update(self, num_updates) -> None:
    """After optimizer update number `num_updates` (1-based); cross-replica (or no) context."""
    t = tf.cast(num_updates, tf.float32)
    decay = tf.minimum(self.decay, (1.0 + t) / (10.0 + t))
    for average, variable in zip(self.averages, self.variables):
      average.assign_sub((1.0 - tf.cast(decay, average.dtype)) * (average - variable))

  @contextlib.contextmanager
  def swapped_in(self):
    """The averages in the model's variables for the block; the trained weights after it.

    Under MirroredStrategy a batch-norm statistic comes back as replica 0's value on every
    replica: the only copy that evaluations and checkpoints read (layers.FusedBatchNormalization),
    and the others follow their own batches again within ~20 steps."""
    trained = [v.numpy() for v in self.variables]
    try:
      for variable, average in zip(self.variables, self.averages):
        variable.assign(average)
      yield
    finally:
      for variable, value in zip(self.variables, trained):
        variable.assign(value)


@dataclasses.dataclass(frozen=True)
class Optimization:
  """The optimizer of a run and its schedule (Keras objects, built in the strategy's scope)."""
  optimizer: keras.optimizers.Optimizer
  schedule: keras.optimizers.schedules.LearningRateSchedule
  precision: str = "float32"
  weight_average: Optional[WeightAverage] = None  # --eval_ema: what evaluations use

  def after_update(self, num_updates) -> None:
    """In the compiled loop after each SGD step (cross-replica context)."""
    if self.weight_average is not None:
      self.weight_average.update(num_updates)

  def evaluation_weights(self):
    """A context in which the model holds the weights that evaluations read."""
    if self.weight_average is None:
      return contextlib.nullcontext()
    return self.weight_average.swapped_in()

  def checkpointed(self) -> Dict[str, List[tf.Variable]]:
    """State beyond the optimizer's that a checkpoint must hold (tf.train.Checkpoint kwargs)."""
    return {"weight_average": self.weight_average.averages} if self.weight_average else {}

  def learning_rate(self, step) -> tf.Tensor:
    """The rate applied by optimizer step `step` (0-based)."""
    return self.schedule(step)

  def scaled_loss(self, loss: tf.Tensor) -> tf.Tensor:
    """The loss whose gradients are taken: scaled under mixed_float16 (the LossScaleOptimizer
    unscales them), as is otherwise."""
    return self.optimizer.scale_loss(loss) if self.precision == "mixed_float16" else loss


def build(train: config_lib.TrainConfig, steps_per_epoch: int, variables,
          statistics=()) -> Optimization:
  """SGD with momentum on `variables` at the run's schedule; with --eval_ema, the average of
  `variables` and `statistics` (batch norm's moving mean and variance: see WeightAverage).
  Call inside the strategy's scope."""
  schedule = learning_rate_schedule(train, steps_per_epoch)
  optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=train.momentum)
  if train.precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  optimizer.build(variables)
  average = (WeightAverage(list(variables) + list(statistics), train.eval_ema)
             if train.eval_ema else None)
  return Optimization(optimizer, schedule, train.precision, average)
