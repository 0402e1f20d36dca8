"""The small AlexNet of Appendix A (1,387,786 params): TensorFlow's classic CIFAR-10 tutorial
network: two (conv 5x5 -> max-pool 3x3/2 -> LRN) modules, FC 384, FC 192, linear 10.

Order within a module follows PAPER.md (conv -> pool -> LRN, both times); the tutorial swaps
pool and LRN in the second module, which changes nothing in the count. No batch norm: the
paper's AlexNet has LRN only.
"""
from __future__ import annotations

import keras

from rethinking.models.layers import KERNEL_INITIALIZER, LocalResponseNormalization, l2


def build(*, num_classes=10, input_shape=(28, 28, 3), weight_decay=0.0, dropout=0.0,
          name="alexnet_small") -> keras.Model:
  """Float32 logits [batch, num_classes]. weight_decay: L2 penalty on every kernel (layers.l2).
  dropout > 0 adds dropout before the 10-way layer (the paper uses none on CIFAR-10)."""
  reg = l2(weight_decay)
  dense = dict(kernel_initializer=KERNEL_INITIALIZER, kernel_regularizer=reg)
  inputs = keras.Input(input_shape, name="images")
  x = inputs
  for i in (1, 2):
    x = keras.layers.Conv2D(64, 5, padding="same", activation="relu", name=f"conv{i}",
                            **dense)(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{i}")(x)
    # The tutorial's LRN settings; the paper does not state them.
    x = LocalResponseNormalization(4, 1.0, 0.001 / 9.0, 0.75, name=f"norm{i}")(x)
  x = keras.layers.Flatten(name="flatten")(x)
  x = keras.layers.Dense(384, activation="relu", name="fc1", **dense)(x)
  x = keras.layers.Dense(192, activation="relu", name="fc2", **dense)(x)
  if dropout:
    x = keras.layers.Dropout(dropout, name="dropout")(x)
  logits = keras.layers.Dense(num_classes, dtype="float32", name="logits", **dense)(x)
  return keras.Model(inputs, logits, name=name)
