"""Counting a built model: parameters as Table 1 counts them, and analytic FLOPs for the
benchmark (Keras; the registry itself stays TensorFlow-free)."""
from __future__ import annotations

import math
from typing import Tuple

import keras


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
