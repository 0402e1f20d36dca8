"""The paper's optimisation defaults per model; the table lives in rethinking/defaults.py
(TensorFlow-free, shared with the report). Re-exported here for the trainer's callers.

- Inception without batch norm starts at 0.01, not 0.1: at 0.1 it diverges on CIFAR-10
  (docs/measurements/nobn_learning_rate/README.md).
- The MLPs train at batch 64: at 128 the per-epoch decay stalls MLP 1x512 at 98.5% on random
  labels, at 64 it reaches 99.4% (docs/measurements/mlp_batch_size/README.md).
"""
from __future__ import annotations

from rethinking.defaults import COMMON, PAPER_DEFAULTS, defaults_for  # noqa: F401
