"""Multi-layer perceptrons of Table 1: 1x512 (1,209,866 params) and 3x512 (1,735,178)."""
from __future__ import annotations

import keras

from rethinking.models.layers import KERNEL_INITIALIZER, l2


def build(*, hidden_layers=1, units=512, num_classes=10, input_shape=(28, 28, 3),
          weight_decay=0.0, dropout=0.0, name=None) -> keras.Model:
  """Float32 logits of flatten -> hidden_layers x (Dense units, ReLU) -> Dense num_classes.
  weight_decay: L2 penalty on every kernel (layers.l2). dropout > 0 adds dropout before the
  last layer (the paper uses none on CIFAR-10)."""
  dense = dict(kernel_initializer=KERNEL_INITIALIZER, kernel_regularizer=l2(weight_decay))
  inputs = keras.Input(input_shape, name="images")
  x = keras.layers.Flatten(name="flatten")(inputs)
  for i in range(hidden_layers):
    x = keras.layers.Dense(units, activation="relu", name=f"hidden{i + 1}", **dense)(x)
  if dropout:
    x = keras.layers.Dropout(dropout, name="dropout")(x)
  logits = keras.layers.Dense(num_classes, dtype="float32", name="logits", **dense)(x)
  return keras.Model(inputs, logits, name=name or f"mlp_{hidden_layers}x{units}")
