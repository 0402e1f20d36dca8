"""The small Inception of Appendix A / Figure 3, with and without batch norm (1,649,402 params).

Input 28x28x3: Conv 3x3/1 96 -> Inception(32, 32) -> Inception(32, 48) -> Downsample(80) ->
Inception(112, 48) -> Inception(96, 64) -> Inception(80, 80) -> Inception(48, 96) ->
Downsample(96) -> Inception(176, 160) -> Inception(176, 160) -> 7x7 mean pooling -> FC 10.
"""
from __future__ import annotations

import keras

from rethinking.models.layers import KERNEL_INITIALIZER, conv_module, l2

# Padding of the Downsample module's stride-2 convolution and max pool (Figure 3 does not say;
# the parameter count does not depend on it). "same" takes 28 -> 14 -> 7, so the paper's "7x7
# mean pooling" covers exactly the last feature map, and training costs ~1.2 GFLOP per image;
# "valid" would give 28 -> 13 -> 6 (6x6 before the pooling, ~1.06 GFLOP).
DOWNSAMPLE_PADDING = "same"


def inception_module(x, c1: int, c3: int, name: str, **kw):
  """A 1x1 Conv module with c1 channels and a 3x3 one with c3, concatenated along channels."""
  a = conv_module(x, c1, 1, name=f"{name}_1x1_", **kw)
  b = conv_module(x, c3, 3, name=f"{name}_3x3_", **kw)
  return keras.layers.Concatenate(name=f"{name}_concat")([a, b])


def downsample_module(x, c3: int, name: str, padding: str = DOWNSAMPLE_PADDING, **kw):
  """A 3x3 stride-2 Conv module with c3 channels and a 3x3 stride-2 max pool, concatenated."""
  a = conv_module(x, c3, 3, strides=2, padding=padding, name=f"{name}_conv_", **kw)
  b = keras.layers.MaxPooling2D(3, strides=2, padding=padding, name=f"{name}_pool")(x)
  return keras.layers.Concatenate(name=f"{name}_concat")([a, b])


def build(*, num_classes=10, input_shape=(28, 28, 3), weight_decay=0.0, dropout=0.0,
          batch_norm=True, downsample_padding=DOWNSAMPLE_PADDING,
          name="inception_small") -> keras.Model:
  """Float32 logits [batch, num_classes] of the small Inception.

  batch_norm=False removes batch norm (Table 1's "Inception w/o BatchNorm"; the convolutions get
  biases instead, same count). weight_decay: L2 penalty on every kernel (layers.l2). dropout > 0
  adds dropout before the classifier -- the paper uses none on CIFAR-10; it is there so that a
  --dropout flag means the same for every model.
  """
  kw = dict(batch_norm=batch_norm, weight_decay=weight_decay)
  inputs = keras.Input(input_shape, name="images")
  x = conv_module(inputs, 96, 3, name="stem_", **kw)
  x = inception_module(x, 32, 32, "inception1", **kw)
  x = inception_module(x, 32, 48, "inception2", **kw)
  x = downsample_module(x, 80, "downsample1", padding=downsample_padding, **kw)
  x = inception_module(x, 112, 48, "inception3", **kw)
  x = inception_module(x, 96, 64, "inception4", **kw)
  x = inception_module(x, 80, 80, "inception5", **kw)
  x = inception_module(x, 48, 96, "inception6", **kw)
  x = downsample_module(x, 96, "downsample2", padding=downsample_padding, **kw)
  x = inception_module(x, 176, 160, "inception7", **kw)
  x = inception_module(x, 176, 160, "inception8", **kw)
  # The 7x7 mean pooling: a global mean, which is the same on the 7x7 map of a 28x28 input and
  # still defined for other input sizes.
  x = keras.layers.GlobalAveragePooling2D(name="mean_pool")(x)
  if dropout:
    x = keras.layers.Dropout(dropout, name="dropout")(x)
  logits = keras.layers.Dense(num_classes, kernel_initializer=KERNEL_INITIALIZER,
                              kernel_regularizer=l2(weight_decay), dtype="float32",
                              name="logits")(x)
  return keras.Model(inputs, logits, name=name)
