"""The small Inception of Appendix A / Figure 3, with and without batch norm (1,649,402 params)."""
from __future__ import annotations

import keras

from rethinking.models.layers import KERNEL_INITIALIZER, conv_module, l2


def inception_module(x, c1: int, c3: int, name: str, **kw):
  """A 1x1 Conv module with c1 channels and a 3x3 one with c3, concatenated."""
  a = conv_module(x, c1, 1, name=f"{name}_1x1_", **kw)
  b = conv_module(x, c3, 3, name=f"{name}_3x3_", **kw)
  return keras.layers.Concatenate(name=f"{name}_concat")([a, b])


def downsample_module(x, c3: int, name: str, **kw):
  """A 3x3 stride-2 Conv module with c3 channels and a 3x3 stride-2 max pool, concatenated."""
  a = conv_module(x, c3, 3, strides=2, padding="valid", name=f"{name}_conv_", **kw)
  b = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name=f"{name}_pool")(x)
  return keras.layers.Concatenate(name=f"{name}_concat")([a, b])


def build(*, num_classes=10, input_shape=(28, 28, 3), weight_decay=0.0, dropout=0.0,
          batch_norm=True, name="inception_small") -> keras.Model:
  """Logits of the small Inception. dropout > 0 adds dropout before the classifier (the paper
  uses none on CIFAR-10)."""
  kw = dict(batch_norm=batch_norm, weight_decay=weight_decay)
  inputs = keras.Input(input_shape, name="images")
  x = conv_module(inputs, 96, 3, name="stem_", **kw)
  x = inception_module(x, 32, 32, "inception1", **kw)
  x = inception_module(x, 32, 48, "inception2", **kw)
  x = downsample_module(x, 80, "downsample1", **kw)
  x = inception_module(x, 112, 48, "inception3", **kw)
  x = inception_module(x, 96, 64, "inception4", **kw)
  x = inception_module(x, 80, 80, "inception5", **kw)
  x = inception_module(x, 48, 96, "inception6", **kw)
  x = downsample_module(x, 96, "downsample2", **kw)
  x = inception_module(x, 176, 160, "inception7", **kw)
  x = inception_module(x, 176, 160, "inception8", **kw)
  x = keras.layers.GlobalAveragePooling2D(name="mean_pool")(x)  # the 7x7 mean pooling
  if dropout:
    x = keras.layers.Dropout(dropout, name="dropout")(x)
  logits = keras.layers.Dense(num_classes, kernel_initializer=KERNEL_INITIALIZER,
                              kernel_regularizer=l2(weight_decay), dtype="float32",
                              name="logits")(x)
  return keras.Model(inputs, logits, name=name)
