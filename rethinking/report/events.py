"""The per-step training loss from a run's TensorBoard event files, for Figure 1a.

Event files are read directly (TFRecord framing + the event proto), so that a report does not
import TensorFlow. Run directories committed to docs/measurements/ keep results.json only; the
figure then falls back to its per-evaluation `running_train_loss` (figure1a.loss_curve).
"""
from __future__ import annotations

import glob
import os
import struct
from typing import Dict, Iterator, Optional, Tuple

import numpy as np


def _records(path: str) -> Iterator[bytes]:
  """The records of a TFRecord file (TensorBoard's event files), stopping quietly at a record
  cut short by a kill. Read directly so that a report does not import TensorFlow (seconds)."""
  with open(path, "rb") as f:
    while True:
      header = f.read(12)  # uint64 length, uint32 masked CRC of the length
      if len(header) < 12:
        return
      (length,) = struct.unpack("<Q", header[:8])
      data = f.read(length)
      if len(data) < length or len(f.read(4)) < 4:  # the data, then its masked CRC
        return
      yield data


def _scalar(value) -> Optional[float]:
  """A summary value's number: simple_value (TF1 style) or a scalar tensor (tf.summary)."""
  if value.HasField("simple_value"):
    return float(value.simple_value)
  tensor = value.tensor
  for field in ("float_val", "double_val", "int_val", "int64_val"):
    values = getattr(tensor, field)
    if len(values):
      return float(values[0])
  if tensor.tensor_content:
    dtype = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}.get(tensor.dtype)
    if dtype is not None:
      return float(np.frombuffer(tensor.tensor_content, dtype=dtype)[0])
  return None


def step_losses(run_dir: str, tag: str = "train/loss") -> Tuple[np.ndarray, np.ndarray]:
  """Per-step values of a scalar tag from the run's TensorBoard event files, by step.

  After a resume the trainer repeats the steps since its last checkpoint; the later value of a
  step (by wall time) wins. Returns (steps int64 [K], values float64 [K]), sorted by step.
  """
  # TensorBoard's protos load only for a run with event files (committed runs have none).
  from tensorboard.compat.proto import event_pb2  # pylint: disable=import-outside-toplevel
  latest: Dict[int, Tuple[float, float]] = {}
  for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
    for record in _records(path):
      event = event_pb2.Event()
      try:
        event.ParseFromString(record)
      except Exception:  # pylint: disable=broad-except  (a corrupt record: skip it)
        continue
      for value in event.summary.value:
        if value.tag != tag:
          continue
        x = _scalar(value)
        if x is not None and (event.step not in latest
                              or event.wall_time >= latest[event.step][0]):
          latest[event.step] = (event.wall_time, x)
  steps = np.array(sorted(latest), dtype=np.int64)
  values = np.array([latest[s][1] for s in steps], dtype=np.float64)
  return steps, values


def smooth(values: np.ndarray, window: int) -> np.ndarray:
  """Trailing moving average over `window` steps (shorter at the start): the 'average
  training loss' of Figure 1a."""
  if window <= 1 or len(values) == 0:
    return values
  cumulative = np.cumsum(np.insert(np.asarray(values, np.float64), 0, 0.0))
  end = np.arange(1, len(values) + 1)
  start = np.maximum(0, end - window)
  return (cumulative[end] - cumulative[start]) / (end - start)
