"""Running a sweep: one experiments/train.py subprocess per setting, `parallel` at a time, each
ending "completed", "stopped", "diverged" or failed as its results.json says; a deadline or a
signal stops the children (SIGTERM, then SIGKILL after a grace). Settings and commands come from
rethinking.sweep.settings.
"""
from __future__ import annotations

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
  if gpus:
    if children_per_gpu < 1:
      raise ValueError(f"children_per_gpu must be >= 1, not {children_per_gpu}")
    parallel = len(gpus) * children_per_gpu
  if parallel < 1:
    raise ValueError(f"parallel must be >= 1, not {parallel}")
  started_at = time.monotonic()
  outcomes: Dict[str, Outcome] = {}
  pending = []
  for s in settings:
    if skip_completed and is_completed(logdir, s):
      outcomes[s.run_name] = Outcome(s, "skipped (completed)")
      echo(f"[sweep] {s.run_name}: already completed, skipped")
    else:
      pending.append(s)
  running: Dict[str, _Child] = {}
  total, started_count = len(pending), 0
  stop = {"by": None, "signals": 0}

  def finish(child: _Child):
    child.log_file.close()
    directory = run_dir(logdir, child.setting)
    code = child.proc.returncode
    seconds = time.monotonic() - child.start
    status = outcome_status(directory, code, child.stamp)
    log = os.path.join(directory, rundir.LOG)
    outcomes[child.setting.run_name] = Outcome(child.setting, status, seconds, code, log,
                                               child.gpu)
    line = f"[sweep] {child.setting.run_name}: {status} (exit {code}) in {seconds:.0f}s"
    if status != "completed":
      line += f"; log {log}: {_tail(log)}"
    echo(line)

  def on_signal(signum, frame):
    del frame
    stop["signals"] += 1
    if stop["by"] is None:
      stop["by"] = signal.Signals(signum).name

  def free_gpu() -> Optional[str]:
    if not gpus:
      return None
    load = {g: 0 for g in gpus}
    for child in running.values():
      load[child.gpu] += 1
    return min(gpus, key=lambda g: load[g])  # the least shared; the first listed on a tie

  def start(s: Setting) -> None:
    nonlocal started_count
    directory = run_dir(logdir, s)
    os.makedirs(directory, exist_ok=True)
    log_file = open(os.path.join(directory, rundir.LOG), "a")
    cmd = command_for(s, logdir, overrides, extra, train_command)
    gpu = free_gpu()
    env_update = gpu_environment(gpu, children_per_gpu)
    prefix = " ".join(f"{k}={v}" for k, v in env_update.items())
    log_file.write(f"\n$ {prefix + ' ' if prefix else ''}{' '.join(cmd)}\n")
    log_file.flush()
    stamp = _results_stamp(directory)  # before the child starts: it may write at once
    started_count += 1
    echo(f"[sweep] {s.run_name}: started ({started_count}/{total})"
         + (f" on GPU {gpu}" if gpu is not None else ""))
    try:
      proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, cwd=REPO_ROOT,
                              env={**os.environ, **env_update} if env_update else None,
                              start_new_session=True)  # its own group: we signal it as one
    except OSError as e:  # the command itself is missing or not executable
      log_file.close()
      outcomes[s.run_name] = Outcome(s, f"failed (cannot start: {e.strerror})", 0.0, -1)
      echo(f"[sweep] {s.run_name}: cannot start {cmd[0]}: {e}")
      return
    running[s.run_name] = _Child(s, proc, time.monotonic(), log_file, stamp, gpu)

  def reap() -> None:
    for name in [n for n, c in running.items() if c.proc.poll() is not None]:
      finish(running.pop(name))

  previous = {}
  for sig in (signal.SIGTERM, signal.SIGINT):
    try:
      previous[sig] = signal.signal(sig, on_signal)
    except ValueError:  # not the main thread: the caller owns signals
      pass
  killed = []
  try:
    while (pending or running) and stop["by"] is None:
      if deadline_seconds is not None and time.monotonic() - started_at >= deadline_seconds:
        stop["by"] = "deadline"
        break
      while pending and len(running) < parallel and stop["by"] is None:
        start(pending.pop(0))
      reap()
      if running:
        time.sleep(poll_seconds)
    if stop["by"] is not None:
      why = "deadline reached" if stop["by"] == "deadline" else f"{stop['by']} received"
      echo(f"[sweep] {why}: SIGTERM to {len(running)} running training(s) (they checkpoint and "
           f"stop; SIGKILL after {grace_seconds:.0f}s)")
      signals_seen = stop["signals"]
      for child in running.values():
        _signal_group(child.proc, signal.SIGTERM)
      # Wait for whole process groups, not just the launched command: a launcher script may
      # exit at once while its python still writes its checkpoint and results.json.
      grace_ends = time.monotonic() + grace_seconds
      while (any(_group_alive(c.proc) for c in running.values())
             and time.monotonic() < grace_ends and stop["signals"] == signals_seen):
        time.sleep(poll_seconds)
      for name, child in running.items():
        if _group_alive(child.proc):
          echo(f"[sweep] {name}: still running after the grace period: SIGKILL")
          _signal_group(child.proc, signal.SIGKILL)
          killed.append(name)
      for child in running.values():
        child.proc.wait()
      for name in list(running):
        finish(running.pop(name))
      for s in pending:
        outcomes[s.run_name] = Outcome(s, "not started")
      pending.clear()
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
  return SweepResult([outcomes[s.run_name] for s in settings], stop["by"], killed)


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
