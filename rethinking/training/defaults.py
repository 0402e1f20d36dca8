"""The paper's optimisation defaults per model (Appendix A; see ../shared/PAPER.md).

SGD with momentum 0.9, learning rate decayed by 0.95 per epoch; initial rate 0.1 for the small
Inception (secondary source) and 0.01 for AlexNet and the MLPs (quoted). Batch size is not stated:
128. Epoch budgets are ours: long enough to fit random labels on the full training set.
"""
from __future__ import annotations

PAPER_DEFAULTS = {
    "inception_small": dict(learning_rate=0.1, epochs=100),
    "inception_small_nobn": dict(learning_rate=0.1, epochs=100),
    "alexnet_small": dict(learning_rate=0.01, epochs=100),
    "mlp_1x512": dict(learning_rate=0.01, epochs=100),
    "mlp_3x512": dict(learning_rate=0.01, epochs=100),
    # ImageNet: the TensorFlow Inception V3 setup (initial rate 0.045 in its README, decayed
    # every two epochs by 0.94; we express it per epoch: 0.94 ** 0.5).
    "inception_v3": dict(learning_rate=0.045, epochs=100, lr_decay=0.94 ** 0.5),
}
COMMON = dict(batch_size=128, momentum=0.9, lr_decay=0.95, learning_rate=0.01, epochs=100)


def defaults_for(model: str) -> dict:
  """Training defaults for a model name: COMMON overridden by the model's own entry."""
  out = dict(COMMON)
  out.update(PAPER_DEFAULTS.get(model, {}))
  return out
