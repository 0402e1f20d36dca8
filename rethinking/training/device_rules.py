"""Per-device choices that change speed and nothing else: XLA for the training step (`--jit`)
and the evaluation batch. A static rule per device kind, so a run records what it used
(results.json) and a resume on another device may differ in them and nothing else.

The rule (measurements in docs/measurements/benchmark/README.md):
  CPU  jit off: XLA was slower than the graph path (oneDNN kernels) on both CPUs measured: the
       small Inception in float32 at 0.59x on a 2-core Xeon with AMX, and at 0.78-0.80x on the
       2-core AMD EPYC of issue 18.
  GPU  jit on: Keras' own `jit_compile="auto"` rule (XLA whenever an accelerator is present);
       XLA fuses the element-wise ops around each convolution. Under a multi-replica strategy
       the trainer compiles the per-replica gradient only (the all-reduce stays outside).
  TPU  jit on: a TPU runs only XLA-compiled programs.
  Evaluation batch: images per compiled evaluation call (the tail padded and masked).
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

DEVICE_KINDS = ("CPU", "GPU", "TPU")
_JIT = {"CPU": False, "GPU": True, "TPU": True}
_EVAL_BATCH = {"CPU": 1000, "GPU": 1000, "TPU": 1000}


@dataclasses.dataclass(frozen=True)
class DeviceChoices:
  """What a run on one kind of device uses: `jit` (XLA for the step) and `eval_batch`."""
  device_kind: str
  jit: bool
  eval_batch: int


def device_kind(device_types: Iterable[str]) -> str:
  """The kind that trains, from device types such as [d.device_type for d in
  tf.config.list_logical_devices()]: TPU over GPU over CPU."""
  types = {t.upper() for t in device_types}
  for kind in ("TPU", "GPU"):
    if kind in types:
      return kind
  return "CPU"


def resolve(kind: str, jit: Optional[bool] = None,
            eval_batch: Optional[int] = None) -> DeviceChoices:
  """The rule's choices for `kind`; an explicit `jit` or a positive `eval_batch` (a user's
  flag) overrides the rule. Raises ValueError for an unknown kind or a negative eval_batch."""
  if kind not in DEVICE_KINDS:
    raise ValueError(f"unknown device kind {kind!r}; known: {', '.join(DEVICE_KINDS)}")
  if eval_batch is not None and eval_batch < 0:
    raise ValueError(f"eval_batch={eval_batch}: must be positive (or 0/None for the rule)")
  return DeviceChoices(device_kind=kind, jit=_JIT[kind] if jit is None else bool(jit),
                       eval_batch=eval_batch or _EVAL_BATCH[kind])
