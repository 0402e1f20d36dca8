"""Names -> builders for every architecture the paper trains (Appendix A, Tables 1 and 2).

TensorFlow-free: the names are checked before TensorFlow loads (rethinking.config.MODEL_NAMES
is this table's), and a model's module is imported only when it is built. Adding a model is its
module `rethinking/models/<name>.py` with a `build(*, num_classes, input_shape, weight_decay,
dropout, ...)` function, and one line in MODELS below.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Dict, Tuple


@dataclasses.dataclass(frozen=True)
class Entry:
  module: str  # rethinking.models.<module>.build builds it
  options: Dict[str, Any] = dataclasses.field(default_factory=dict)  # fixed build arguments
  input_shape: Tuple[int, int, int] = (28, 28, 3)  # 28x28 crops of CIFAR-10 unless stated
  num_classes: int = 10


MODELS = {
    "inception_small": Entry("inception_small", {"batch_norm": True}),
    "inception_small_nobn": Entry("inception_small", {"batch_norm": False,
                                                      "name": "inception_small_nobn"}),
    "alexnet_small": Entry("alexnet_small"),
    "mlp_1x512": Entry("mlp", {"hidden_layers": 1}),
    "mlp_3x512": Entry("mlp", {"hidden_layers": 3}),
    "inception_v3": Entry("inception_v3", input_shape=(299, 299, 3), num_classes=1000),
}
MODEL_NAMES = tuple(MODELS)


def _entry(name: str) -> Entry:
  if name not in MODELS:
    raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")
  return MODELS[name]


def default_input_shape(name: str) -> Tuple[int, int, int]:
  return _entry(name).input_shape


def build(name: str, *, num_classes=None, input_shape=None, weight_decay: float = 0.0,
          dropout: float = 0.0, weight_decay_layers: str = "all"):
  """An uncompiled, channels-last keras.Model mapping images [batch, H, W, C] to float32 logits
  [batch, num_classes], also under a mixed-precision policy.

  num_classes / input_shape default to the model's own (10 classes on 28x28x3; Inception V3:
  1000 on 299x299x3). weight_decay: an L2 penalty weight_decay * sum(w ** 2) per conv/dense
  kernel, in model.losses, for the training loss to add (biases and batch-norm offsets are not
  penalized). weight_decay_layers "hidden_dense": the penalty on the hidden fully connected
  layers' kernels only (every Dense layer but the classifier, "logits"), as TensorFlow's
  CIFAR-10 tutorial put it on its network's. dropout: rate of a dropout layer before the
  classifier (none when 0). Raises ValueError for an unknown name, or for "hidden_dense" on a
  model without hidden dense layers.
  """
  entry = _entry(name)
  module = importlib.import_module(f"rethinking.models.{entry.module}")
  hidden_only = weight_decay_layers == "hidden_dense"
  model = module.build(**entry.options, num_classes=num_classes or entry.num_classes,
                       input_shape=tuple(input_shape or entry.input_shape),
                       weight_decay=0.0 if hidden_only else weight_decay, dropout=dropout)
  if hidden_only and weight_decay:
    _penalize_hidden_dense(model, weight_decay)
  return model


def _penalize_hidden_dense(model, weight_decay: float) -> None:
  """layers.penalize_kernel on every Dense layer but "logits"."""
  # pylint: disable=import-outside-toplevel
  import keras
  from rethinking.models.layers import penalize_kernel
  hidden = [layer for layer in model.layers
            if isinstance(layer, keras.layers.Dense) and layer.name != "logits"]
  if not hidden:
    raise ValueError(f"{model.name} has no hidden fully connected layers to penalize")
  for layer in hidden:
    penalize_kernel(layer, weight_decay)
