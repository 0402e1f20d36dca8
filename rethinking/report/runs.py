"""Reading run directories: results.json, and the per-step training loss from TensorBoard events.

A run directory `<logdir>/<group>-<setting>/` (as experiments/sweep.py names them) joins with
`rethinking.paper` by its setting name. Nothing here computes a result: it reads what the
trainer measured.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import struct
from typing import Dict, Iterator, Optional, Tuple

import numpy as np

RESULTS = "results.json"
STATE = "state.json"


@dataclasses.dataclass(frozen=True)
class Run:
  """One run directory that has a results.json."""
  name: str  # the directory's name, "<group>-<setting>"
  run_dir: str
  results: dict

  @property
  def group(self) -> str:
    return self.name.split("-", 1)[0] if "-" in self.name else ""

  @property
  def setting(self) -> str:
    return self.name.split("-", 1)[1] if "-" in self.name else self.name

  @property
  def status(self) -> str:
    return self.results.get("status", "unknown")

  @property
  def final(self) -> dict:
    return self.results.get("final") or {}

  @property
  def history(self) -> list:
    return self.results.get("history") or []

  @property
  def train_size(self) -> Optional[int]:
    return (self.results.get("data") or {}).get("train_size")

  @property
  def model(self) -> str:
    return ((self.results.get("config") or {}).get("model") or {}).get("name", "?")

  @property
  def epochs_run(self) -> Optional[float]:
    step, spe = self.final.get("step"), self.results.get("steps_per_epoch")
    return step / spe if step is not None and spe else None

  @property
  def short_device(self) -> str:
    """'CPU' or 'GPU: NVIDIA H200 x1' (the full CPU model name is in results.json)."""
    device = self.results.get("device") or "unknown device"
    return "CPU" if device.startswith("CPU") else device

  def accuracy(self, split: str) -> Optional[float]:
    """Final whole-split accuracy in percent, or None."""
    value = self.final.get(f"{split}_accuracy")
    return None if value is None else 100.0 * value

  def best_test_accuracy(self) -> Optional[float]:
    """The best test accuracy along training (percent): Table 2's parenthesised number."""
    values = [h["test_accuracy"] for h in self.history if h.get("test_accuracy") is not None]
    return 100.0 * max(values) if values else None

  def ran_on(self) -> str:
    """What this run measured on, in one line: train size, epochs, device, precision, data."""
    r = self.results
    data = r.get("data") or {}
    parts = [f"n={data.get('train_size', '?')}"]
    epochs = self.epochs_run
    if epochs is not None:
      parts.append(f"{epochs:g} epochs" if epochs == int(epochs) else f"{epochs:.2f} epochs")
    if r.get("epochs_to_fit") is not None:
      parts.append(f"fit at epoch {r['epochs_to_fit']:g}")
    train_cfg = (r.get("config") or {}).get("train") or {}
    if train_cfg.get("batch_size"):
      parts.append(f"batch {train_cfg['batch_size']}")
    parts.append(f"{self.short_device}, {r.get('precision', '?')}")
    if r.get("jit"):
      parts.append("XLA")
    fingerprint = str(data.get("fingerprint") or "?")
    parts.append(f"data {data.get('name', '?')}:{fingerprint[:8]}")
    if self.status != "completed":
      parts.append(f"status {self.status}")
    return ", ".join(parts)


def load_runs(logdir: str) -> Tuple[Dict[str, Run], Dict[str, str]]:
  """(runs by directory name, and run directories without a readable results.json -> why).

  A directory with state.json but no results.json is a run in progress or a broken one.
  """
  runs, unfinished = {}, {}
  for path in sorted(glob.glob(os.path.join(logdir, "*"))):
    if not os.path.isdir(path):
      continue
    name = os.path.basename(path)
    results_path = os.path.join(path, RESULTS)
    if os.path.exists(results_path):
      try:
        with open(results_path) as f:
          results = json.load(f)
        if not isinstance(results, dict):
          raise ValueError("not a JSON object")
      except (OSError, ValueError) as e:
        unfinished[name] = f"unreadable results.json ({e})"
        continue
      runs[name] = Run(name, path, results)
    elif os.path.exists(os.path.join(path, STATE)) or glob.glob(
        os.path.join(path, "events.out.tfevents.*")):
      unfinished[name] = "not finished (no results.json)"
  return runs, unfinished


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
