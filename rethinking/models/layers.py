"""Building blocks shared by the model families: the paper's Conv module, and LRN."""
from __future__ import annotations

import keras
import tensorflow as tf

# Initialisation is not stated by the paper: Keras' default (Glorot uniform) for every kernel.
KERNEL_INITIALIZER = "glorot_uniform"


def l2(weight_decay: float):
  """The paper's weight decay: an L2 penalty weight_decay * sum(w^2) on each kernel, added to the
  loss (not decoupled decay). None when weight_decay is 0."""
  return keras.regularizers.L2(weight_decay) if weight_decay else None


def conv_module(x, filters: int, kernel_size: int, strides: int = 1, padding: str = "same",
                batch_norm: bool = True, weight_decay: float = 0.0, name: str = ""):
  """Conv -> BN -> ReLU (Figure 3). The paper's BN has a learned offset but no learned scale
  (that is what makes Table 1's counts exact); without BN the convolution carries a bias."""
  x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                          use_bias=not batch_norm, kernel_initializer=KERNEL_INITIALIZER,
                          kernel_regularizer=l2(weight_decay), name=f"{name}conv")(x)
  if batch_norm:
    x = keras.layers.BatchNormalization(center=True, scale=False, name=f"{name}bn")(x)
  return keras.layers.ReLU(name=f"{name}relu")(x)


@keras.saving.register_keras_serializable(package="rethinking")
class LocalResponseNormalization(keras.layers.Layer):
  """Wraps tf.nn.local_response_normalization (Keras 3 has no LRN layer).

  depth_radius is the half-width of the window; alpha is not divided by the window size (the
  TensorFlow convention, unlike Caffe's). Computed in float32 under mixed precision.
  """

  def __init__(self, depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, **kwargs):
    super().__init__(**kwargs)
    self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

  def call(self, inputs):
    x = tf.nn.local_response_normalization(tf.cast(inputs, tf.float32), self.depth_radius,
                                           self.bias, self.alpha, self.beta)
    return tf.cast(x, inputs.dtype)

  def get_config(self):
    return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
            "alpha": self.alpha, "beta": self.beta}
