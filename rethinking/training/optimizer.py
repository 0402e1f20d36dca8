"""The optimization of the paper (Appendix A): SGD with momentum on the cross-entropy plus the
L2 penalty, the learning rate decayed per epoch, and loss scaling for float16.

The one home of the learning-rate schedule: a new schedule, or a new parameter of this one
(besides its flag and config field), changes this file only.
"""
from __future__ import annotations

import dataclasses

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


@dataclasses.dataclass(frozen=True)
class Optimization:
  """The optimizer of a run and its schedule (Keras objects, built in the strategy's scope)."""
  optimizer: keras.optimizers.Optimizer
  schedule: keras.optimizers.schedules.LearningRateSchedule
  precision: str = "float32"

  def learning_rate(self, step) -> tf.Tensor:
    """The rate applied by optimizer step `step` (0-based)."""
    return self.schedule(step)

  def scaled_loss(self, loss: tf.Tensor) -> tf.Tensor:
    """The loss whose gradients are taken: scaled under mixed_float16 (the LossScaleOptimizer
    unscales them), as is otherwise."""
    return self.optimizer.scale_loss(loss) if self.precision == "mixed_float16" else loss


def build(train: config_lib.TrainConfig, steps_per_epoch: int, variables) -> Optimization:
  """SGD with momentum on `variables` at the run's schedule; call inside the strategy's scope."""
  schedule = learning_rate_schedule(train, steps_per_epoch)
  optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=train.momentum)
  if train.precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  optimizer.build(variables)
  return Optimization(optimizer, schedule, train.precision)
