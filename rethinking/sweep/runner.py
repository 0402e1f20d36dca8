"""Running a sweep: one experiments/train.py subprocess per setting, `parallel` at a time, each
ending "completed", "stopped", "diverged" or failed as its results.json says; a deadline or a
signal stops the children (SIGTERM, then SIGKILL after a grace). Settings and commands come from
rethinking.sweep.settings.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from rethinking import rundir
from rethinking.sweep.settings import (DEFAULT_GRACE_SECONDS, DEFAULT_TRAIN_COMMAND, REPO_ROOT,
                                       Setting, command_for, gpu_environment, is_completed,
                                       run_dir)


@dataclasses.dataclass
class Outcome:
  setting: Setting
  status: str  # completed | stopped | diverged (from results.json) | skipped (completed) |
  #              failed (...) | killed (signal N) | not started
  seconds: float = 0.0
  returncode: Optional[int] = None
  log: Optional[str] = None
  gpu: Optional[str] = None

  @property
  def ok(self) -> bool:
    return self.status in ("completed", "skipped (completed)")


@dataclasses.dataclass
class SweepResult:
  """The outcomes, in the order of the settings, and why the sweep stopped early, if it did."""
  outcomes: List[Outcome]
  stopped_by: Optional[str] = None  # "deadline", "SIGTERM" or "SIGINT"
  killed: List[str] = dataclasses.field(default_factory=list)  # run names SIGKILLed after grace

  @property
  def all_completed(self) -> bool:
    return all(o.ok for o in self.outcomes)


def _tail(path: str, lines: int = 3) -> str:
  try:
    with open(path, errors="replace") as f:
      text = [line.rstrip() for line in f.readlines()[-lines:]]
  except OSError:
    return ""
  return " | ".join(t for t in text if t)


def _results_stamp(directory: str):
  """Identifies the results.json present now (None if there is none): a file with another stamp
  after the child exits was written by that child; the same stamp is a previous attempt's."""
  try:
    st = os.stat(os.path.join(directory, rundir.RESULTS))
  except OSError:
    return None
  return (st.st_ino, st.st_mtime_ns, st.st_size)


def outcome_status(directory: str, returncode: int, stamp_before) -> str:
  """What a finished child ended as: the status in the results.json it wrote, whatever its exit
  status. A results.json from an earlier attempt counts only when the child exited 0 (train.py
  leaves a completed run's file as it is); otherwise the child failed, or was killed."""
  fresh = _results_stamp(directory) not in (None, stamp_before)
  status = rundir.read_status(directory) if fresh or returncode == 0 else None
  if status is not None:
    return status
  if returncode < 0:
    return f"killed (signal {-returncode})"
  if fresh:
    return f"failed (exit {returncode}, unreadable results.json)"
  return f"failed (exit {returncode}, no results.json)" if returncode == 0 \
      else f"failed (exit {returncode})"


@dataclasses.dataclass
class _Child:
  setting: Setting
  proc: subprocess.Popen
  start: float
  log_file: object
  stamp: object
  gpu: Optional[str]


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
  """Signals the child's whole process group (a launcher script and its python alike), also
  after the launcher itself has exited."""
  try:
    os.killpg(proc.pid, sig)
  except (ProcessLookupError, PermissionError):
    pass


def _group_alive(proc: subprocess.Popen) -> bool:
  """Whether the child or anything it started in its process group still runs."""
  if proc.poll() is None:
    return True
  try:
    os.killpg(proc.pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # a member we may not signal is still a member
    pass
  return True


def _slots(parallel: int, gpus: Sequence[str], children_per_gpu: int) -> int:
  """Children at a time: with GPUs, children_per_gpu on each; otherwise `parallel`."""
  if gpus:
    if children_per_gpu < 1:
      raise ValueError(f"children_per_gpu must be >= 1, not {children_per_gpu}")
    parallel = len(gpus) * children_per_gpu
  if parallel < 1:
    raise ValueError(f"parallel must be >= 1, not {parallel}")
  return parallel


@dataclasses.dataclass
class _StopRequest:
  """Why the sweep stops ("deadline", "SIGTERM", "SIGINT"; the first wins) and how many signals
  arrived: a further signal cuts the grace period short."""
  by: Optional[str] = None
  signals: int = 0

  def on_signal(self, signum, frame) -> None:
    del frame
    self.signals += 1
    if self.by is None:
      self.by = signal.Signals(signum).name


@contextlib.contextmanager
def _stop_signals(stop: _StopRequest):
  """SIGTERM and SIGINT request a stop while the sweep runs; the caller's handlers come back."""
  previous = {}
  for sig in (signal.SIGTERM, signal.SIGINT):
    try:
      previous[sig] = signal.signal(sig, stop.on_signal)
    except ValueError:  # not the main thread: the caller owns signals
      pass
  try:
    yield
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)


class _Sweep:
  """One sweep's state: the settings still to start, the running children, the outcomes."""

  def __init__(self, logdir: str, overrides: Optional[Mapping[str, object]],
               extra: Sequence[str], train_command: Sequence[str], gpus: Sequence[str],
               children_per_gpu: int, echo: Callable[[str], None]):
    self.logdir, self.overrides, self.extra = logdir, overrides, extra
    self.train_command, self.gpus, self.children_per_gpu = train_command, gpus, children_per_gpu
    self.echo = echo
    self.outcomes: Dict[str, Outcome] = {}
    self.pending: List[Setting] = []
    self.running: Dict[str, _Child] = {}
    self.total = self.started_count = 0
    self.stop = _StopRequest()
    self.killed: List[str] = []

  def plan(self, settings: Sequence[Setting], skip_completed: bool) -> None:
    """Completed settings are skipped (when asked); the others wait, in order."""
    for s in settings:
      if skip_completed and is_completed(self.logdir, s):
        self.outcomes[s.run_name] = Outcome(s, "skipped (completed)")
        self.echo(f"[sweep] {s.run_name}: already completed, skipped")
      else:
        self.pending.append(s)
    self.total = len(self.pending)

  def free_gpu(self) -> Optional[str]:
    if not self.gpus:
      return None
    load = {g: 0 for g in self.gpus}
    for child in self.running.values():
      load[child.gpu] += 1
    return min(self.gpus, key=lambda g: load[g])  # the least shared; the first listed on a tie

  def start(self, s: Setting) -> None:
    """Starts one child, its output appended to its run directory's train.log."""
    directory = run_dir(self.logdir, s)
    os.makedirs(directory, exist_ok=True)
    log_file = open(os.path.join(directory, rundir.LOG), "a")
    cmd = command_for(s, self.logdir, self.overrides, self.extra, self.train_command)
    gpu = self.free_gpu()
    env_update = gpu_environment(gpu, self.children_per_gpu)
    prefix = " ".join(f"{k}={v}" for k, v in env_update.items())
    log_file.write(f"\n$ {prefix + ' ' if prefix else ''}{' '.join(cmd)}\n")
    log_file.flush()
    stamp = _results_stamp(directory)  # before the child starts: it may write at once
    self.started_count += 1
    self.echo(f"[sweep] {s.run_name}: started ({self.started_count}/{self.total})"
              + (f" on GPU {gpu}" if gpu is not None else ""))
    try:
      proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, cwd=REPO_ROOT,
                              env={**os.environ, **env_update} if env_update else None,
                              start_new_session=True)  # its own group: we signal it as one
    except OSError as e:  # the command itself is missing or not executable
      log_file.close()
      self.outcomes[s.run_name] = Outcome(s, f"failed (cannot start: {e.strerror})", 0.0, -1)
      self.echo(f"[sweep] {s.run_name}: cannot start {cmd[0]}: {e}")
      return
    self.running[s.run_name] = _Child(s, proc, time.monotonic(), log_file, stamp, gpu)

  def finish(self, child: _Child) -> None:
    """Records how an exited child ended; the tail of its log when it did not complete."""
    child.log_file.close()
    directory = run_dir(self.logdir, child.setting)
    code = child.proc.returncode
    seconds = time.monotonic() - child.start
    status = outcome_status(directory, code, child.stamp)
    log = os.path.join(directory, rundir.LOG)
    self.outcomes[child.setting.run_name] = Outcome(child.setting, status, seconds, code, log,
                                                    child.gpu)
    line = f"[sweep] {child.setting.run_name}: {status} (exit {code}) in {seconds:.0f}s"
    if status != "completed":
      line += f"; log {log}: {_tail(log)}"
    self.echo(line)

  def reap(self) -> None:
    for name in [n for n, c in self.running.items() if c.proc.poll() is not None]:
      self.finish(self.running.pop(name))

  def run(self, parallel: int, started_at: float, deadline_seconds: Optional[float],
          poll_seconds: float) -> None:
    """Keeps `parallel` children running until every setting ran, the deadline passed or a
    signal asked to stop."""
    while (self.pending or self.running) and self.stop.by is None:
      if deadline_seconds is not None and time.monotonic() - started_at >= deadline_seconds:
        self.stop.by = "deadline"
        break
      while self.pending and len(self.running) < parallel and self.stop.by is None:
        self.start(self.pending.pop(0))
      self.reap()
      if self.running:
        time.sleep(poll_seconds)

  def stop_children(self, grace_seconds: float, poll_seconds: float) -> None:
    """SIGTERM to every child, SIGKILL to those still running after the grace (or a further
    signal); then every child's outcome, and "not started" for the settings left."""
    why = "deadline reached" if self.stop.by == "deadline" else f"{self.stop.by} received"
    self.echo(f"[sweep] {why}: SIGTERM to {len(self.running)} running training(s) (they "
              f"checkpoint and stop; SIGKILL after {grace_seconds:.0f}s)")
    signals_seen = self.stop.signals
    for child in self.running.values():
      _signal_group(child.proc, signal.SIGTERM)
    # Wait for whole process groups, not just the launched command: a launcher script may
    # exit at once while its python still writes its checkpoint and results.json.
    grace_ends = time.monotonic() + grace_seconds
    while (any(_group_alive(c.proc) for c in self.running.values())
           and time.monotonic() < grace_ends and self.stop.signals == signals_seen):
      time.sleep(poll_seconds)
    for name, child in self.running.items():
      if _group_alive(child.proc):
        self.echo(f"[sweep] {name}: still running after the grace period: SIGKILL")
        _signal_group(child.proc, signal.SIGKILL)
        self.killed.append(name)
    for child in self.running.values():
      child.proc.wait()
    for name in list(self.running):
      self.finish(self.running.pop(name))
    for s in self.pending:
      self.outcomes[s.run_name] = Outcome(s, "not started")
    self.pending.clear()


def run_sweep(settings: Sequence[Setting], logdir: str,
              overrides: Mapping[str, object] = None, extra: Sequence[str] = (),
              parallel: int = 1, train_command: Sequence[str] = DEFAULT_TRAIN_COMMAND,
              skip_completed: bool = True, gpus: Sequence[str] = (), children_per_gpu: int = 1,
              deadline_seconds: Optional[float] = None,
              grace_seconds: float = DEFAULT_GRACE_SECONDS,
              echo: Callable[[str], None] = print, poll_seconds: float = 0.2) -> SweepResult:
  """Runs each setting's train.py as a subprocess, in sorted order, and returns how each ended.

  `parallel` at a time; with `gpus`, children_per_gpu on each listed GPU (one GPU id per child
  through CUDA_VISIBLE_DEVICES). Each run's output is appended to <run dir>/train.log. A run
  that does not complete is reported (with the tail of its log) and the sweep goes on. At
  `deadline_seconds` after the start, or on SIGTERM or Ctrl-C, every child gets SIGTERM (its
  whole process group), then SIGKILL after `grace_seconds` (at once on a second signal), and
  settings not yet started are "not started"; the same sweep run again resumes them.
  """
  parallel = _slots(parallel, gpus, children_per_gpu)
  started_at = time.monotonic()
  sweep = _Sweep(logdir, overrides, extra, train_command, gpus, children_per_gpu, echo)
  sweep.plan(settings, skip_completed)
  with _stop_signals(sweep.stop):
    sweep.run(parallel, started_at, deadline_seconds, poll_seconds)
    if sweep.stop.by is not None:
      sweep.stop_children(grace_seconds, poll_seconds)
  return SweepResult([sweep.outcomes[s.run_name] for s in settings], sweep.stop.by,
                     sweep.killed)


def summary_table(outcomes: Sequence[Outcome]) -> str:
  """A plain-text table: setting, status, seconds (and the GPU when the sweep assigned them)."""
  with_gpu = any(o.gpu is not None for o in outcomes)
  rows = [("setting", "status", "seconds") + (("gpu",) if with_gpu else ())]
  for o in outcomes:
    row = (o.setting.run_name, o.status, f"{o.seconds:.0f}" if o.returncode is not None else "-")
    rows.append(row + ((o.gpu or "-",) if with_gpu else ()))
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  failed = sum(not o.ok for o in outcomes)
  lines.append(f"{len(outcomes)} settings, {failed} not completed")
  return "\n".join(lines)
