"""Inception V3 for the ImageNet rows (Table 2), from keras.applications (not re-written)."""
from __future__ import annotations

import keras

from rethinking.models.layers import KERNEL_INITIALIZER, l2, penalize_kernel


def build(*, num_classes=1000, input_shape=(299, 299, 3), weight_decay=0.0, dropout=0.0,
          name="inception_v3") -> keras.Model:
  """Float32 logits of Inception V3, randomly initialized (input_shape at least 75x75).

  dropout: rate of the dropout before the classifier, as the ImageNet rows with dropout use it
  (TF-slim's Inception V3 keeps 0.8, i.e. dropout=0.2). weight_decay: L2 penalty on every kernel
  (layers.l2), added to the loss. keras.applications' batch norm already has an offset and no
  scale, like the paper's.
  """
  base = keras.applications.InceptionV3(weights=None, include_top=False,
                                        input_shape=input_shape, pooling="avg")
  if weight_decay:
    # keras.applications builds without regularizers: one on each kernel, after the fact.
    for layer in base.layers:
      if getattr(layer, "kernel", None) is not None:
        penalize_kernel(layer, weight_decay)
  x = base.output
  if dropout:
    x = keras.layers.Dropout(dropout, name="dropout")(x)
  logits = keras.layers.Dense(num_classes, kernel_initializer=KERNEL_INITIALIZER,
                              kernel_regularizer=l2(weight_decay), dtype="float32",
                              name="logits")(x)
  return keras.Model(base.input, logits, name=name)
