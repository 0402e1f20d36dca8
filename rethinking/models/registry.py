"""Names -> builders for every architecture the paper trains (Appendix A, Tables 1 and 2), their
parameter counts as Table 1 counts them, and analytic FLOP counts for the benchmark."""
from __future__ import annotations

import functools
import math
from typing import Tuple

import keras

from rethinking.models import alexnet_small, inception_small, inception_v3, mlp

_BUILDERS = {
    "inception_small": functools.partial(inception_small.build, batch_norm=True),
    "inception_small_nobn": functools.partial(inception_small.build, batch_norm=False,
                                              name="inception_small_nobn"),
    "alexnet_small": alexnet_small.build,
    "mlp_1x512": functools.partial(mlp.build, hidden_layers=1),
    "mlp_3x512": functools.partial(mlp.build, hidden_layers=3),
    "inception_v3": inception_v3.build,
}
MODEL_NAMES = tuple(_BUILDERS)
# The input each model is built for when the caller gives none: 28x28 crops of CIFAR-10, or
# ImageNet at 299x299 with 1000 classes.
_DEFAULT_INPUT = {name: ((28, 28, 3), 10) for name in MODEL_NAMES}
_DEFAULT_INPUT["inception_v3"] = ((299, 299, 3), 1000)


def default_input_shape(name: str) -> Tuple[int, int, int]:
  _check(name)
  return _DEFAULT_INPUT[name][0]


def _check(name: str) -> None:
  if name not in _BUILDERS:
    raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")


def build(name: str, *, num_classes=None, input_shape=None, weight_decay: float = 0.0,
          dropout: float = 0.0) -> keras.Model:
  """An uncompiled, channels-last keras.Model mapping images [batch, H, W, C] to float32 logits
  [batch, num_classes], also under a mixed-precision policy.

  num_classes / input_shape default to the model's own (10 classes on 28x28x3; Inception V3:
  1000 on 299x299x3). weight_decay: an L2 penalty weight_decay * sum(w ** 2) per conv/dense
  kernel, in model.losses, for the training loss to add (biases and batch-norm offsets are not
  penalized). dropout: rate of a dropout layer before the classifier (none when 0).
  Raises ValueError for an unknown name.
  """
  _check(name)
  shape, classes = _DEFAULT_INPUT[name]
  return _BUILDERS[name](num_classes=num_classes or classes,
                         input_shape=tuple(input_shape or shape), weight_decay=weight_decay,
                         dropout=dropout)


def count_params(model: keras.Model) -> int:
  """Parameters as Table 1 counts them: learned weights only (batch norm's moving statistics
  are state, not parameters)."""
  return int(sum(math.prod(v.shape) for v in model.trainable_weights))


def flops_per_image(model: keras.Model) -> Tuple[float, float]:
  """(forward, forward + backward) FLOPs per image, counted from the layers: 2 per
  multiply-add of convolutions and dense layers (other layers are negligible and not counted).
  The backward pass costs twice the forward (input and weight gradients), except for the first
  such layer: it reads the images, whose gradient is never computed, so it pays only its weight
  gradient (for the MLPs that is half of all the work, so 3x would overstate it by 50%)."""
  forward = first = 0.0
  for layer in _all_layers(model):
    if isinstance(layer, keras.layers.Conv2D):
      kh, kw = layer.kernel_size
      cin = layer.kernel.shape[2]
      _, h, w, cout = layer.output.shape
      flops = 2.0 * kh * kw * cin * cout * h * w
    elif isinstance(layer, keras.layers.Dense):
      flops = 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
    else:
      continue
    first = first or flops  # layers come in topological order: the first reads the input
    forward += flops
  return forward, 3.0 * forward - first


def _all_layers(model):
  for layer in model.layers:
    if isinstance(layer, keras.Model):
      yield from _all_layers(layer)
    else:
      yield layer
