"""Sweeps: many flagfiles -> many runs of experiments/train.py, one subprocess each.

A *setting* is one flagfile `flags/<group>/<name>.flags`; its run directory is
`<logdir>/<group>-<name>/`, so that the report can join it with `rethinking.paper` by name.
A sweep expands setting specs (group names or globs) into a sorted list, keeps one shard of it
(setting i goes to shard i % num_shards), skips settings whose results.json says "completed",
and runs the rest as subprocesses, `parallel` at a time. A broken run is simply started again:
train.py resumes from its newest checkpoint. One failing run never stops the others.

No TensorFlow here: a sweep starts in a fraction of a second and its children own the devices.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import signal
import subprocess
import sys
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS_DIR = os.path.join(REPO_ROOT, "flags")
GROUPS = ("table1", "table2", "fig1a", "fig1bc", "fig2b")
RESULTS = "results.json"
LOG_NAME = "train.log"  # a run's stdout and stderr, appended, inside its run directory
DEFAULT_TRAIN_COMMAND = (sys.executable, os.path.join(REPO_ROOT, "experiments", "train.py"))


@dataclasses.dataclass(frozen=True, order=True)
class Setting:
  """One flagfile. Ordered by run name, the order in which sweeps shard."""
  run_name: str  # "<group>-<name>", the run directory's name
  group: str  # the flagfile's directory name: table1, fig1bc, ...
  name: str  # the flagfile's name without .flags: the key in rethinking.paper
  flagfile: str


def setting_for(flagfile: str) -> Setting:
  path = os.path.abspath(flagfile)
  group = os.path.basename(os.path.dirname(path))
  name = os.path.basename(path)
  if name.endswith(".flags"):
    name = name[:-len(".flags")]
  return Setting(run_name=f"{group}-{name}", group=group, name=name, flagfile=path)


class SettingsError(ValueError):
  """A setting spec that names no flagfile."""


def expand_settings(specs: Sequence[str], flags_dir: str = FLAGS_DIR) -> List[Setting]:
  """Group names (e.g. "fig1bc") and globs of flagfiles -> sorted, de-duplicated settings.

  A glob is tried as given (relative to the working directory), then relative to the
  repository root. Raises SettingsError for an empty spec list or a spec that matches no file.
  """
  specs = [s.strip() for s in specs if s.strip()]
  if not specs:
    raise SettingsError("no settings given")
  found: Dict[str, Setting] = {}
  for spec in specs:
    if os.sep not in spec and not any(c in spec for c in "*?[") and not spec.endswith(".flags"):
      pattern = os.path.join(flags_dir, spec, "*.flags")  # a group name
    elif os.path.isdir(os.path.expanduser(spec)):
      pattern = os.path.join(spec, "*.flags")  # a directory of flagfiles
    else:
      pattern = spec
    paths = sorted(p for p in glob.glob(os.path.expanduser(pattern)) if os.path.isfile(p))
    if not paths and not os.path.isabs(pattern):
      paths = sorted(p for p in glob.glob(os.path.join(os.path.dirname(flags_dir), pattern))
                     if os.path.isfile(p))
    if not paths:
      known = ", ".join(g for g in GROUPS if os.path.isdir(os.path.join(flags_dir, g)))
      raise SettingsError(f"{spec!r} matches no flagfile (groups: {known}; or a glob such as "
                          f"flags/fig1bc/mlp_*.flags)")
    for p in paths:
      s = setting_for(p)
      if s.run_name in found and found[s.run_name].flagfile != s.flagfile:
        raise SettingsError(f"{p} and {found[s.run_name].flagfile} share the run name "
                            f"{s.run_name}")
      found[s.run_name] = s
  return sorted(found.values())


def shard(settings: Sequence[Setting], shard_index: int, num_shards: int) -> List[Setting]:
  """Setting i of the sorted list goes to shard i % num_shards: the shards are disjoint and
  together hold every setting, whatever machine computes them."""
  if num_shards < 1 or not 0 <= shard_index < num_shards:
    raise ValueError(f"shard {shard_index} of {num_shards}")
  return [s for i, s in enumerate(sorted(settings)) if i % num_shards == shard_index]


def run_dir(logdir: str, setting: Setting) -> str:
  return os.path.join(logdir, setting.run_name)


def read_status(logdir: str, setting: Setting) -> Optional[str]:
  """The status in the run's results.json ("completed", "stopped", "diverged"), else None."""
  path = os.path.join(run_dir(logdir, setting), RESULTS)
  try:
    with open(path) as f:
      return json.load(f).get("status")
  except (OSError, ValueError, AttributeError):
    return None


def is_completed(logdir: str, setting: Setting) -> bool:
  return read_status(logdir, setting) == "completed"


def override_args(overrides: Mapping[str, object]) -> List[str]:
  """{"train_size": 1000, "jit": True, "epochs": None} -> ["--train_size=1000", "--jit"].
  None means "not given": the flagfile's (or train.py's) value stands."""
  args = []
  for key, value in overrides.items():
    if value is None:
      continue
    if isinstance(value, bool):
      args.append(f"--{key}" if value else f"--no{key}")
    else:
      args.append(f"--{key}={value}")
  return args


def command_for(setting: Setting, logdir: str, overrides: Mapping[str, object] = None,
                extra: Sequence[str] = (),
                train_command: Sequence[str] = DEFAULT_TRAIN_COMMAND) -> List[str]:
  """The subprocess command of one run. Overrides come after the flagfile, so they win."""
  return [*train_command, f"--flagfile={setting.flagfile}", f"--run_name={setting.run_name}",
          f"--logdir={os.path.abspath(logdir)}", *override_args(overrides or {}), *extra]


@dataclasses.dataclass
class Outcome:
  setting: Setting
  status: str  # completed | skipped (completed) | failed (exit N) | stopped | diverged | ...
  seconds: float = 0.0
  returncode: Optional[int] = None
  log: Optional[str] = None

  @property
  def ok(self) -> bool:
    return self.status in ("completed", "skipped (completed)")


def _tail(path: str, lines: int = 3) -> str:
  try:
    with open(path, errors="replace") as f:
      text = [line.rstrip() for line in f.readlines()[-lines:]]
  except OSError:
    return ""
  return " | ".join(t for t in text if t)


def run_sweep(settings: Sequence[Setting], logdir: str,
              overrides: Mapping[str, object] = None, extra: Sequence[str] = (),
              parallel: int = 1, train_command: Sequence[str] = DEFAULT_TRAIN_COMMAND,
              skip_completed: bool = True,
              echo: Callable[[str], None] = print, poll_seconds: float = 0.2) -> List[Outcome]:
  """Runs each setting's train.py as a subprocess, `parallel` at a time, in sorted order.

  Each run's output is appended to <run dir>/train.log. A run that exits non-zero is reported
  (with the tail of its log) and the sweep goes on. On Ctrl-C or SIGTERM the children get
  SIGTERM (train.py checkpoints and stops; the next sweep resumes them) and the sweep returns
  what it has. Returns one Outcome per setting, in the order of `settings`.
  """
  if parallel < 1:
    raise ValueError(f"parallel must be >= 1, not {parallel}")
  outcomes: Dict[str, Outcome] = {}
  pending = []
  for s in settings:
    if skip_completed and is_completed(logdir, s):
      outcomes[s.run_name] = Outcome(s, "skipped (completed)")
      echo(f"[sweep] {s.run_name}: already completed, skipped")
    else:
      pending.append(s)
  running: Dict[str, tuple] = {}  # run_name -> (Popen, start time, log file)
  total, started_count = len(pending), 0

  def finish(name, proc, start, log_file):
    log_file.close()
    s = next(x for x in settings if x.run_name == name)
    seconds = time.time() - start
    log = os.path.join(run_dir(logdir, s), LOG_NAME)
    code = proc.returncode
    if code == 0:
      status = read_status(logdir, s) or "no results.json"
    elif code < 0:
      status = f"killed (signal {-code})"
    else:
      status = f"failed (exit {code})"
    outcomes[name] = Outcome(s, status, seconds, code, log)
    line = f"[sweep] {name}: {status} in {seconds:.0f}s"
    if status != "completed":
      line += f"; log {log}: {_tail(log)}"
    echo(line)

  def stop_children(signum=None, frame=None):
    del frame
    for proc, _, _ in running.values():
      if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    if signum is not None:
      raise KeyboardInterrupt

  previous = None
  try:
    previous = signal.signal(signal.SIGTERM, stop_children)
  except ValueError:  # not the main thread
    pass
  try:
    while pending or running:
      while pending and len(running) < parallel:
        s = pending.pop(0)
        os.makedirs(run_dir(logdir, s), exist_ok=True)
        log_file = open(os.path.join(run_dir(logdir, s), LOG_NAME), "a")
        cmd = command_for(s, logdir, overrides, extra, train_command)
        log_file.write(f"\n$ {' '.join(cmd)}\n")
        log_file.flush()
        started_count += 1
        echo(f"[sweep] {s.run_name}: started ({started_count}/{total})")
        try:
          proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
        except OSError as e:  # the command itself is missing or not executable
          log_file.close()
          outcomes[s.run_name] = Outcome(s, f"failed (cannot start: {e.strerror})", 0.0, -1)
          echo(f"[sweep] {s.run_name}: cannot start {cmd[0]}: {e}")
          continue
        running[s.run_name] = (proc, time.time(), log_file)
      for name in [n for n, (p, _, _) in running.items() if p.poll() is not None]:
        finish(name, *running.pop(name))
      if running:
        time.sleep(poll_seconds)
  except KeyboardInterrupt:
    echo("[sweep] interrupted: stopping the running trainings (they checkpoint; run the same "
         "sweep again to resume)")
    stop_children()
    for name in list(running):
      proc, start, log_file = running.pop(name)
      proc.wait()
      finish(name, proc, start, log_file)
    for s in pending:
      outcomes[s.run_name] = Outcome(s, "not started")
  finally:
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)
  return [outcomes[s.run_name] for s in settings]


def summary_table(outcomes: Sequence[Outcome]) -> str:
  """A plain-text table: setting, status, seconds."""
  rows = [("setting", "status", "seconds")]
  rows += [(o.setting.run_name, o.status, f"{o.seconds:.0f}" if o.returncode is not None
            else "-") for o in outcomes]
  widths = [max(len(r[i]) for r in rows) for i in range(3)]
  lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  failed = sum(not o.ok for o in outcomes)
  lines.append(f"{len(outcomes)} settings, {failed} not completed")
  return "\n".join(lines)
