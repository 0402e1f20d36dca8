"""Where a training call's time goes: a TensorBoard profiler trace and its op table.

`trace(call, logdir)` records one call with `tf.profiler.experimental` (the trace TensorBoard's
profile plugin opens); `op_table(logdir)` reads the trace's XSpace back and sums the time of
every TensorFlow op by op type (and by a coarse category: convolution forward / input gradient /
filter gradient, batch norm, concatenation, casts, ...). On CPU several ops may run at once
(inter-op parallelism), so shares are of the summed op time, not of the wall time.
"""
from __future__ import annotations

import collections
import dataclasses
import glob
import os
import re
from typing import Callable, Dict, List

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

# Op type (oneDNN's _Mkl/_MklNative/_MklFused prefixes removed) -> category.
_CATEGORIES = (
    (r"^Conv2DBackpropFilter", "convolution filter gradient"),
    (r"^Conv2DBackpropInput", "convolution input gradient"),
    (r"^(Fused)?Conv2D|^FusedConv2D", "convolution forward"),
    (r"^FusedBatchNorm", "batch norm (fused)"),
    # What Keras 3's unfused batch norm is made of (moments, normalization, their gradients).
    (r"^Mean$|^SquaredDifference|^Rsqrt|^Sum$|^Mul$|^Sub$|^AddV2$|^Add$|^Neg$|^BroadcastTo|"
     r"^RealDiv|^Square$|^Reciprocal",
     "element-wise (Keras batch norm ops, optimizer arithmetic)"),
    (r"^AddN", "gradient sums (AddN)"),
    (r"^Relu", "relu"),
    (r"^ConcatV2|^Concat|^Slice|^Split", "concatenation (and its gradient slices)"),
    (r"^MaxPool|^AvgPool", "pooling"),
    (r"^Cast", "casts"),
    (r"^ResourceApply|^AssignVariableOp|^AssignAddVariableOp|^AssignSubVariableOp|"
     r"^ReadVariableOp", "variable reads / optimizer updates"),
    (r"^MatMul|^BiasAdd", "dense"),
)


@dataclasses.dataclass(frozen=True)
class OpRow:
  op_type: str
  category: str
  milliseconds: float
  count: int
  share: float


def trace(call: Callable[[], None], logdir: str) -> str:
  """Runs call() under the TensorFlow profiler; the trace goes to logdir (TensorBoard's
  profile tab reads it). Returns logdir."""
  tf.profiler.experimental.start(logdir)
  try:
    call()
  finally:
    tf.profiler.experimental.stop()
  return logdir


def op_type(event_name: str) -> str:
  """'scope/name:_MklNativeConv2DBackpropFilter' -> 'Conv2DBackpropFilter'."""
  kind = event_name.rsplit(":", 1)[-1]
  return re.sub(r"^_(MklNative|MklFused|Mkl|MklLayoutDependent)", "", kind) or kind


def category(kind: str) -> str:
  for pattern, name in _CATEGORIES:
    if re.search(pattern, kind):
      return name
  return "other"


def op_table(logdir: str) -> List[OpRow]:
  """Rows by descending time: every op event of the newest trace under logdir, summed by op
  type. Op events are the host plane's events named "<op name>:<op type>"."""
  paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True),
                 key=os.path.getmtime)
  if not paths:
    raise FileNotFoundError(f"no *.xplane.pb under {logdir}")
  space = xplane_pb2.XSpace()
  with open(paths[-1], "rb") as f:
    space.ParseFromString(f.read())
  picoseconds: Dict[str, int] = collections.Counter()
  counts: Dict[str, int] = collections.Counter()
  for plane in space.planes:
    names = plane.event_metadata
    for line in plane.lines:
      for event in line.events:
        name = names[event.metadata_id].name
        if ":" not in name or " " in name.rsplit(":", 1)[-1] or "::" in name:
          continue  # runtime bookkeeping (ExecutorState::Process, ...), not an op
        kind = op_type(name)
        picoseconds[kind] += event.duration_ps
        counts[kind] += 1
  total = sum(picoseconds.values()) or 1
  return [OpRow(kind, category(kind), ps / 1e9, counts[kind], ps / total)
          for kind, ps in sorted(picoseconds.items(), key=lambda item: -item[1])]


def by_category(rows: List[OpRow]) -> List[OpRow]:
  """The same table summed by category."""
  ms: Dict[str, float] = collections.Counter()
  counts: Dict[str, int] = collections.Counter()
  for row in rows:
    ms[row.category] += row.milliseconds
    counts[row.category] += row.count
  total = sum(ms.values()) or 1.0
  return [OpRow(name, name, value, counts[name], value / total)
          for name, value in sorted(ms.items(), key=lambda item: -item[1])]


def markdown(rows: List[OpRow], top: int = 15) -> str:
  lines = ["| op | category | ms | calls | share |", "|---|---|---:|---:|---:|"]
  for row in rows[:top]:
    lines.append(f"| {row.op_type} | {row.category} | {row.milliseconds:.1f} | {row.count} | "
                 f"{row.share:.1%} |")
  return "\n".join(lines)
