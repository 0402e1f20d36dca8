"""Finding runs: every run directory under any number of logdirs, keyed by its path.

A run directory is any directory holding results.json (a finished run) or state.json (one in
progress, or broken), at any depth and under any name: a sweep's `table1-mlp_1x512` and a hand
run's `mlp_1x512_cifar10_random_labels_s0` are read alike, and two same-named directories in
different logdirs are two runs. What a run is comes from its recorded config (report.cells).
Nothing here computes a result: it reads what the trainer measured.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from rethinking import rundir
from rethinking.config import RunConfig
from rethinking.report import cells


@dataclasses.dataclass(frozen=True)
class Run:
  """One run directory with a readable results.json, read into typed objects once: its config
  (RunConfig), its evaluations and its classification (paper cell and schedule)."""
  path: str  # the key: the logdir as given, joined with the directory's path below it
  results: rundir.Results
  config: RunConfig
  kind: cells.Classification
  evaluations: Tuple[rundir.Evaluation, ...]

  @classmethod
  def load(cls, path: str, results: rundir.Results) -> "Run":
    config = results.run_config
    return cls(path, results, config, cells.classify(config), tuple(results.evaluations))

  @property
  def name(self) -> str:
    return os.path.basename(self.path)

  @property
  def status(self) -> str:
    return self.results.status

  @property
  def completed(self) -> bool:
    return self.status == "completed"

  @property
  def model(self) -> str:
    return self.config.model.name

  @property
  def full_data(self) -> bool:
    return not self.config.data.train_size

  @property
  def train_size(self) -> Optional[int]:
    """Training examples used (the data section's count; the config's --train_size before)."""
    return self.results.train_size or self.config.data.train_size or None

  @property
  def seed(self) -> int:
    return self.config.train.seed

  @property
  def short_device(self) -> str:
    """e.g. 'CPU AMD EPYC 2-core AVX-512/BF16' or 'GPU: NVIDIA H200 x1': which machine, since
    hosts differ several-fold in speed (the full description is in results.json). Runs recorded
    before results.json named the vector extensions say 'ISA not recorded'."""
    device = self.results.device or "unknown device"
    if not device.startswith("CPU"):
      return device
    name = device[len("CPU:"):].strip().replace("(R)", "").replace(" Processor", "")
    match = re.search(r"\((\d+) cores?(?:; ([^)]+))?\)", name)
    if match:
      isa = match.group(2) or "ISA not recorded"
      name = f"{name[:match.start()]}{match.group(1)}-core {isa}{name[match.end():]}"
    return "CPU " + " ".join(name.split())

  def accuracy(self, split: str, top: int = 1) -> Optional[float]:
    """Final whole-split accuracy in percent (top-5 on ImageNet with top=5), or None."""
    key = f"{split}_accuracy" if top == 1 else f"{split}_top{top}_accuracy"
    value = self.results.final.get(key)
    return None if value is None else 100.0 * value

  def best_test_accuracy(self) -> Optional[float]:
    """The best test accuracy along training (percent): Table 2's parenthesised number."""
    values = [e.test_accuracy for e in self.evaluations if e.test_accuracy is not None]
    return 100.0 * max(values) if values else None

  def running_train_accuracy(self) -> Optional[float]:
    """The last evaluation's running accuracy over the epoch's training mini-batches (augmented
    when the run crops; percent): what the paper's appendix gives for its augmentation rows."""
    values = [e.running_train_accuracy for e in self.evaluations
              if e.running_train_accuracy is not None]
    return 100.0 * values[-1] if values else None

  def best_train_accuracy(self) -> Optional[float]:
    """The best whole-training-set accuracy (percent) over the evaluations and the end."""
    values = [e.train_accuracy for e in self.evaluations if e.train_accuracy is not None]
    values += [self.results.final["train_accuracy"]] if self.results.final.get(
        "train_accuracy") is not None else []
    return 100.0 * max(values) if values else None

  @property
  def device_kind(self) -> str:
    """'CPU' or the GPU/TPU description: what can change the numbers (which CPU ran a float32
    run changes its speed and its rounding -- AVX2 and AVX-512 hosts part at one seed from the
    first epoch -- not what it measures, so CPU runs pool)."""
    device = self.results.device or "unknown device"
    return "CPU" if device.startswith("CPU") else device

  @property
  def pool_key(self) -> tuple:
    """Runs with equal keys differ in seed alone (or in which CPU ran them) and are pooled."""
    return (*self.kind.setting_key, self.device_kind)


def devices_text(runs: Sequence[Run]) -> str:
  """Every machine the runs ran on, e.g. 'CPU AMD EPYC 2-core / CPU Intel Xeon 2-core'."""
  return " / ".join(sorted({run.short_device for run in runs}))


def precision_text(runs: Sequence[Run]) -> str:
  """Every precision the runs trained in, e.g. 'float32' or 'float32 / mixed_bfloat16'."""
  return " / ".join(sorted({run.results.precision for run in runs}))


def jit_text(runs: Sequence[Run]) -> Optional[str]:
  """'XLA' when every run used it, 'XLA: k of n' when some did, None when none did."""
  with_jit = sum(1 for r in runs if r.results.jit)
  if not with_jit:
    return None
  return "XLA" if with_jit == len(runs) else f"XLA: {with_jit} of {len(runs)}"


def _span(values, fmt="{:g}") -> Optional[str]:
  values = sorted(set(values))
  if not values:
    return None
  return fmt.format(values[0]) if len(values) == 1 else (
      f"{fmt.format(values[0])}-{fmt.format(values[-1])}")


def _epochs_words(runs: Sequence[Run]) -> List[str]:
  """The epochs the runs trained: '100 epochs' for finished ones; an unfinished run's epochs so
  far next to its plan ('22 of 100 epochs so far'), so that it does not read as a schedule."""
  words = []
  done = _span(round(r.results.epochs_run, 2) for r in runs
               if r.completed and r.results.epochs_run is not None)
  if done:
    words.append(f"{done} epochs")
  unfinished = [r for r in runs if not r.completed and r.results.epochs_run is not None]
  if unfinished:
    so_far = _span(round(r.results.epochs_run, 2) for r in unfinished)
    words.append(f"{so_far} of {_span(r.config.train.epochs for r in unfinished)} epochs so far")
  return words


def ran_on(runs: Sequence[Run], data: bool = True) -> str:
  """What runs measured on, in one line: train size, epochs, batch size, seeds, every device
  and precision they pool (and XLA, the data's fingerprint unless data=False, a status other
  than completed)."""
  first = runs[0]
  parts = [f"n={_span(r.train_size or 0 for r in runs) or '?'}"]
  parts += _epochs_words(runs)
  batch = _span(r.config.train.batch_size for r in runs)
  if batch:
    parts.append(f"batch {batch}")
  seeds = sorted({r.seed for r in runs})
  parts.append(("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds)))
  if len(runs) > len(seeds):
    parts.append(f"{len(runs)} runs")
  parts.append(f"{devices_text(runs)}, {precision_text(runs)}")
  if jit_text(runs):
    parts.append(jit_text(runs))
  evaluated = first.results.data.get("train_evaluated")
  if evaluated and first.train_size and evaluated < first.train_size:
    parts.append(f"train accuracy on the first {evaluated}")
  if data:
    fingerprint = str(first.results.data.get("fingerprint") or "?")
    parts.append(f"data {first.results.data.get('name', '?')}:{fingerprint[:8]}")
  for status in sorted({r.status for r in runs} - {"completed"}):
    steps = sorted({r.results.step for r in runs if r.status == status and r.results.step})
    parts.append(f"status {status}" + (f" at step {_span(steps)}" if steps else ""))
  return ", ".join(parts)


def by_seed(runs: Iterable[Run]) -> Dict[int, List[Run]]:
  """Runs keyed by seed: two runs of one seed are one seed's evidence, never two seeds."""
  out: Dict[int, List[Run]] = {}
  for run in runs:
    out.setdefault(run.seed, []).append(run)
  return out


def per_seed(runs: Iterable[Run], value) -> List[Optional[float]]:
  """value(run) averaged over the runs of each seed: one number per seed (None for a seed whose
  runs have none), in seed order."""
  out = []
  for _, group in sorted(by_seed(runs).items()):
    values = [v for v in (value(r) for r in group) if v is not None]
    out.append(sum(values) / len(values) if values else None)
  return out


def representative(runs: Sequence[Run], precision: Optional[str] = None) -> Run:
  """Of several runs of one seed, the one that went furthest: completed first, then the most
  steps (a 100-epoch run over the same seed stopped at its fit), then the one in `precision`
  when given (shared_precision: the precision the rest of a figure uses), then the path."""
  return min(runs, key=lambda r: (not r.completed, -(r.results.step or 0),
                                  precision is not None and r.results.precision != precision,
                                  r.path))


def shared_precision(pools: Iterable[Sequence[Run]]) -> Optional[str]:
  """The precision that the most pools (a figure's conditions, corruption levels or models)
  have a run in, float32 (the paper's) on a tie; None without runs.

  A figure draws one run per pool. Where a pool holds same-seed twins that differ only in
  precision (issue 23's Inception true labels ran in float32 on one host and mixed_bfloat16 on
  another, and only the twin's later rows ran in bf16), its pick follows the rest of the figure,
  so a line or a set of curves mixes precisions only where no pool offers the shared one (the
  path alone used to pick float32 beside bf16 everywhere else)."""
  counts = collections.Counter(
      precision for pool in pools for precision in {r.results.precision for r in pool})
  if not counts:
    return None
  return max(sorted(counts), key=lambda p: (counts[p], p == cells.PAPER_PRECISION))


@dataclasses.dataclass(frozen=True)
class Unfinished:
  """A run directory without a readable results.json: in progress, killed, or broken."""
  path: str
  reason: str
  config: Optional[RunConfig]  # from state.json, when it has one
  kind: Optional[cells.Classification] = None
  step: Optional[int] = None  # its newest checkpoint's step, from state.json


def _run_directories(logdir: str) -> Iterable[str]:
  for top, dirs, files in os.walk(logdir, followlinks=True):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    if rundir.RESULTS in files or rundir.STATE in files:
      dirs[:] = []  # a run directory holds no other runs
      yield top


def load_runs(logdirs: Sequence[str]) -> Tuple[Dict[str, Run], Dict[str, Unfinished]]:
  """(runs by path, unfinished run directories by path) under every logdir, recursively.

  A directory reached through two logdirs (one inside the other) is read once.
  """
  runs, unfinished, seen = {}, {}, set()
  for logdir in logdirs:
    for path in _run_directories(logdir):
      real = os.path.realpath(path)
      if real in seen:
        continue
      seen.add(real)
      key = os.path.normpath(path)
      try:
        runs[key] = Run.load(key, rundir.Results.read(path))
        continue
      except FileNotFoundError:
        reason = "not finished (no results.json)"
      except (OSError, ValueError, TypeError) as e:
        reason = f"unreadable results.json ({e})"
      config, step = _state(path)
      unfinished[key] = Unfinished(key, reason, config, cells.classify(config) if config else None,
                                   step)
  return runs, unfinished


def _state(path: str) -> Tuple[Optional[RunConfig], Optional[int]]:
  """(config, step of the newest checkpoint) from a run directory's state.json, or Nones."""
  try:
    state = rundir.read_json(os.path.join(path, rundir.STATE))
  except (OSError, ValueError):
    return None, None
  if not isinstance(state, dict):
    return None, None
  snapshots = state.get("snapshots") if isinstance(state.get("snapshots"), dict) else {}
  steps = [int(k) for k in snapshots if str(k).isdigit()]
  config = state.get("config")
  try:
    config = RunConfig.from_dict(config) if isinstance(config, dict) else None
  except (TypeError, ValueError):
    config = None
  return config, (max(steps) if steps else None)


def pooled(runs: Iterable[Run]) -> List[List[Run]]:
  """Runs grouped by pool_key (seed alone differs), each group sorted by seed then path; the
  groups in order of first appearance."""
  groups: Dict[tuple, List[Run]] = {}
  for run in runs:
    groups.setdefault(run.pool_key, []).append(run)
  return [sorted(g, key=lambda r: (r.seed, r.path)) for g in groups.values()]
