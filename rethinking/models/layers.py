"""Building blocks shared by the model families of Appendix A: the Conv module of Figure 3, the
weight-decay penalty, and local response normalization (which Keras 3 lacks)."""
from __future__ import annotations

import keras
import tensorflow as tf

# Initialization is not stated by the paper: Keras' default (Glorot uniform) for every kernel,
# zeros for biases and batch-norm offsets.
KERNEL_INITIALIZER = "glorot_uniform"
# Batch norm's moving averages are not stated by the paper either; they only matter for
# inference-mode evaluation, never for the parameter count. Momentum 0.9 (PyTorch's default;
# Keras' is 0.99) makes the moving statistics follow the weights within ~20 steps: "training
# accuracy", measured by an inference pass (PITFALLS.md), then reflects the current weights.
# With 0.99 a fitted model can sit at chance accuracy in inference mode for a hundred steps or
# more (tests/test_models.py's fit of 256 random labels does), which would inflate the steps to
# fit of Figure 1b. Epsilon: Keras' (and TensorFlow's) default.
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-3


def penalize_kernel(layer, weight_decay: float) -> None:
  """Puts l2(weight_decay) on an already built layer's kernel: Keras 3 collects a layer's
  penalties from its variables' `regularizer`, so it enters model.losses."""
  layer.kernel.regularizer = l2(weight_decay)
  layer.kernel_regularizer = layer.kernel.regularizer  # so get_config() records it


def l2(weight_decay: float):
  """The paper's weight decay as an L2 penalty added to the loss (not decoupled decay).

  keras.regularizers.L2(l) adds l * sum(w ** 2) for each kernel it is attached to -- no factor of
  1/2 -- so the gradient contribution is 2 * l * w. Only kernels (convolution and dense) are
  penalized, never biases or batch-norm offsets. None when weight_decay is 0, so that a model
  without weight decay carries no regularizer at all.
  """
  return keras.regularizers.L2(weight_decay) if weight_decay else None


def conv_module(x, filters: int, kernel_size: int, strides: int = 1, padding: str = "same",
                batch_norm: bool = True, weight_decay: float = 0.0, name: str = ""):
  """Conv -> batch norm -> ReLU (Figure 3).

  The paper's batch norm has a learned offset (beta) but no learned scale (gamma): center=True,
  scale=False, the defaults of TensorFlow's contrib batch_norm, and what makes Table 1's count
  exact. With batch norm the convolution has no bias (the offset plays its part); without batch
  norm the convolution carries one -- either way one vector of `filters` parameters.
  """
  # Without batch norm nothing rescales the signal, and Glorot's variance halves it at every
  # ReLU: at initialization the pooled features of inception_small_nobn are ~0.02 (He: ~0.5) and
  # SGD on 256 random-label images did not leave chance in 13 epochs. He-normal (variance-
  # preserving for ReLU) is what such a network is normally trained with; even so it trains
  # slowly and only at small learning rates (see training/defaults.py, tests/test_models.py).
  x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                          use_bias=not batch_norm,
                          kernel_initializer=KERNEL_INITIALIZER if batch_norm else "he_normal",
                          kernel_regularizer=l2(weight_decay), name=f"{name}conv")(x)
  if batch_norm:
    x = FusedBatchNormalization(center=True, scale=False, momentum=BATCH_NORM_MOMENTUM,
                                epsilon=BATCH_NORM_EPSILON, name=f"{name}bn")(x)
  return keras.layers.ReLU(name=f"{name}relu")(x)


@keras.saving.register_keras_serializable(package="rethinking")
class FusedBatchNormalization(keras.layers.BatchNormalization):
  """keras.layers.BatchNormalization computed by TensorFlow's fused kernel (FusedBatchNormV3).

  Keras 3 normalizes with separate moments, subtract, rsqrt, multiply and add ops and, under
  mixed precision, upcasts the whole activation to float32 and back; tf.keras used the fused
  kernel, which does it in one pass forward and one backward, reads bfloat16/float16
  activations and accumulates in float32 internally, and which oneDNN (and XLA) fuse further.
  Same variables (beta, moving_mean, moving_variance; gamma only with scale=True), same names,
  same config, same arithmetic: a checkpoint or saved model of the stock layer loads into this
  one. The moving statistics are updated exactly as the stock layer updates them (momentum,
  biased batch variance, per replica: under MirroredStrategy each replica's copy follows its own
  share of the batch, as with the stock layer, and checkpoints hold replica 0's). Channels-last
  4-D inputs without mask, renorm or synchronized statistics take the fused path; anything else
  falls back to the stock computation.
  """

  def _fusable(self, inputs, mask) -> bool:
    return (mask is None and not self.renorm and not self.synchronized
            and len(inputs.shape) == 4 and self.axis in (-1, 3))

  def call(self, inputs, training=None, mask=None):
    if not self._fusable(inputs, mask):
      return super().call(inputs, training=training, mask=mask)
    channels = inputs.shape[-1]
    # FusedBatchNormV3 wants a scale and an offset; ones/zeros stand in for what is not learned.
    scale = self.gamma if self.scale else tf.ones([channels], tf.float32)
    offset = self.beta if self.center else tf.zeros([channels], tf.float32)
    scale, offset = tf.cast(scale, tf.float32), tf.cast(offset, tf.float32)
    x = tf.cast(inputs, self.compute_dtype)
    if training and self.trainable:
      empty = tf.constant([], tf.float32)
      y, mean, unbiased_variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
          x=x, scale=scale, offset=offset, mean=empty, variance=empty, epsilon=self.epsilon,
          exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
      # The kernel normalizes with the biased variance but returns the unbiased one (n / (n-1));
      # the stock layer's moving variance follows the biased one.
      n = tf.cast(tf.size(x) // channels, tf.float32)
      variance = unbiased_variance * ((n - 1.0) / tf.maximum(n, 1.0))
      momentum = self.momentum
      self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
      self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
    else:
      y, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
          x=x, scale=scale, offset=offset, mean=tf.cast(self.moving_mean, tf.float32),
          variance=tf.cast(self.moving_variance, tf.float32), epsilon=self.epsilon,
          exponential_avg_factor=1.0, data_format="NHWC", is_training=False)
    return y


def batch_norm_statistics(model: keras.Model) -> list:
  """The moving mean and variance of every batch-norm layer of `model`, in layer order (what
  an evaluation in inference mode reads besides the weights); empty without batch norm."""
  statistics = []
  # _flatten_layers walks nested models and layers too (Keras' own traversal; no public one).
  for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
    if isinstance(layer, keras.layers.BatchNormalization):
      statistics += [layer.moving_mean, layer.moving_variance]
  return statistics


@keras.saving.register_keras_serializable(package="rethinking")
class LocalResponseNormalization(keras.layers.Layer):
  """Wraps tf.nn.local_response_normalization (Keras 3 has no LRN layer). Channels-last.

  depth_radius is the half-width of the window (the window spans 2 * depth_radius + 1
  channels); alpha is not divided by the window size (TensorFlow's convention, unlike Caffe's):
  out = x / (bias + alpha * sum(x ** 2 over the window)) ** beta. Under mixed precision the op
  runs in float32 (the sum of squares overflows or loses precision in 16 bits) and the result
  is cast back to the input's dtype.
  """

  def __init__(self, depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, **kwargs):
    super().__init__(**kwargs)
    self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

  def call(self, inputs):
    x = local_response_normalization(tf.cast(inputs, tf.float32), self.depth_radius,
                                     self.bias, self.alpha, self.beta)
    return tf.cast(x, inputs.dtype)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
            "alpha": self.alpha, "beta": self.beta}


def local_response_normalization(x, depth_radius: int, bias: float, alpha: float, beta: float):
  """tf.nn.local_response_normalization (float32, channels-last), its gradient hand-written.

  Hand-written because TensorFlow's CPU LRNGrad walks each element's channel window and calls
  powf per element: 22% of an AlexNet training step on a 2-core AVX-512 EPYC (perf,
  docs/measurements/benchmark/README.md). The gradient of y = x N^-beta,
  N = bias + alpha W(x^2), where W sums over the channel window [c - r, c + r], is
      dx = g N^-beta - 2 alpha beta x W(g x N^-beta / N);
  W is one matmul with a banded 0/1 matrix (oneDNN's GEMM) and N^-0.75 is rsqrt(N) rsqrt(sqrt
  N). It equals LRNGrad to float32 rounding (tests/test_models.py); the forward pass is
  TensorFlow's op, unchanged.
  """
  @tf.custom_gradient
  def lrn(x):
    y = tf.nn.local_response_normalization(x, depth_radius, bias, alpha, beta)

    def grad(upstream):
      channels = x.shape[-1]
      index = tf.range(channels)
      window = tf.cast(tf.abs(index[:, None] - index[None, :]) <= depth_radius, x.dtype)
      window_sum = lambda v: tf.reshape(  # noqa: E731
          tf.matmul(tf.reshape(v, [-1, channels]), window), tf.shape(v))
      norm = bias + alpha * window_sum(tf.square(x))
      scale = (tf.math.rsqrt(norm) * tf.math.rsqrt(tf.sqrt(norm)) if beta == 0.75
               else tf.pow(norm, -beta))
      return upstream * scale - (2.0 * alpha * beta) * x * window_sum(upstream * x * scale / norm)

    return y, grad

  return lrn(x)
