"""Run state that survives the process: checkpoints, state.json, and the one way a run stops.

A run directory holds `ckpt-<step>` (tf.train.CheckpointManager: model, optimizer, step) and
state.json (what checkpoints do not hold: evaluation history, time to fit, timings, and the
fingerprints and config the directory belongs to), one snapshot per kept checkpoint. A resume
restores the newest checkpoint that is readable *and* has its snapshot, else an older one; when
none does, or state.json or results.json cannot be read, the run is refused (RunDirectoryError)
rather than restarted, and a full disk ends it with the checkpoint a rerun resumes from
(RunWriteError): hours of training are never thrown away silently.

Stopping: `StopSignal` turns SIGINT/SIGTERM (or `request()`) into an in-graph flag that the
compiled call checks before every step, so a stop lands within one step on any model.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import glob
import os
import re
import shutil
import signal
import sys
import threading
from typing import Callable, List, Optional

from absl import logging
import tensorflow as tf

from rethinking import config as config_lib
from rethinking import rundir


class FingerprintMismatchError(RuntimeError):
  """The run directory holds a run of another setting or on other data."""


class RunDirectoryError(RuntimeError):
  """The run directory cannot be resumed as it is (no checkpoint restores, or a file of it is
  unreadable); training is refused and the message says what to do."""


class RunWriteError(RuntimeError):
  """A file of the run directory could not be written (a full disk); the message names it and
  the checkpoint a rerun resumes from."""


def _first_line(error: BaseException, limit: int = 160) -> str:
  lines = str(error).strip().splitlines()
  return f"{type(error).__name__}: {lines[0][:limit] if lines else ''}"


@dataclasses.dataclass
class RunState:
  """What a resume needs beyond the weights: one snapshot per checkpoint in state.json."""
  history: List[dict] = dataclasses.field(default_factory=list)  # one record per evaluation
  steps_to_fit: Optional[int] = None
  epochs_to_fit: Optional[float] = None
  train_seconds: float = 0.0  # inside training calls
  wall_seconds: float = 0.0  # the whole run, over all sittings
  train_images: int = 0

  @classmethod
  def from_dict(cls, saved: dict) -> "RunState":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in saved.items() if k in names})

  @property
  def last_evaluation(self) -> Optional[dict]:
    return self.history[-1] if self.history else None


class Checkpoints:
  """Saves and restores (checkpoint, state.json snapshot) pairs in one directory."""

  def __init__(self, directory: str, checkpoint: tf.train.Checkpoint, *, fingerprints: dict,
               config: dict, max_to_keep: int = 3):
    self.directory = directory
    self.checkpoint = checkpoint
    self.fingerprints = fingerprints
    self.config = config
    self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep)
    self.state_path = os.path.join(directory, rundir.STATE)

  def check_same_setting(self, saved_config: dict) -> None:
    changed = config_lib.setting_differences(saved_config, self.config)
    if changed:
      raise FingerprintMismatchError(
          f"{self.directory} holds a run of another setting (differs in {', '.join(changed)}); "
          f"use another --run_name")

  def _saved(self) -> Optional[dict]:
    if not os.path.exists(self.state_path):
      return None
    try:
      return rundir.read_json(self.state_path)
    except ValueError as e:  # a bad copy: without it the checkpoints' history is lost
      raise RunDirectoryError(
          f"{self.state_path} is unreadable ({_first_line(e)}); nothing was changed: restore it "
          f"from a copy, or move {self.directory} away to start over") from e

  def restore(self) -> RunState:
    """Restores the newest usable checkpoint and returns its state; a fresh state when the
    directory holds no checkpoint. Raises RunDirectoryError when it holds checkpoints and none
    restores (restarting from step 0 would throw them away)."""
    saved = self._saved()
    if saved:
      self.check_same_setting(saved.get("config", {}))
      if saved.get("fingerprints") != self.fingerprints:
        raise FingerprintMismatchError(
            f"{self.directory} holds a run on other data or another corruption "
            f"({saved.get('fingerprints')} != {self.fingerprints}); use another --run_name")
    snapshots = (saved or {}).get("snapshots", {})
    failures = []
    for path in reversed(self.manager.checkpoints):
      number = path.rsplit("-", 1)[-1]
      if number not in snapshots:
        # Killed between the checkpoint and its state.json entry: the pair is incomplete.
        failures.append(f"{os.path.basename(path)} has no saved state")
        continue
      try:
        self.checkpoint.restore(path).assert_existing_objects_matched()
      except Exception as e:  # pylint: disable=broad-except  (any unreadable checkpoint)
        failures.append(f"{os.path.basename(path)} is unreadable ({_first_line(e, 100)})")
        continue
      for failure in failures:  # said only when an older one restores: a refusal is one line
        logging.warning("checkpoint %s; falling back to an older one", failure)
      return RunState.from_dict(snapshots[number])
    if not self.manager.checkpoints and glob.glob(os.path.join(self.directory, "ckpt-*.index")):
      failures.append("its ckpt-* files are not listed in a `checkpoint` file")
    if failures:
      raise RunDirectoryError(
          f"{self.directory}: no checkpoint restores ({'; '.join(failures)}); nothing was "
          f"changed: restore the directory from a copy, or move it away to start over")
    return RunState()

  def save(self, step: int, state: RunState) -> None:
    self.manager.save(checkpoint_number=step)
    saved = self._saved() or {"snapshots": {}}
    kept = {os.path.basename(p).rsplit("-", 1)[-1] for p in self.manager.checkpoints}
    snapshots = {k: v for k, v in saved.get("snapshots", {}).items() if k in kept}
    snapshots[str(step)] = dataclasses.asdict(state)
    rundir.atomic_write_json(self.state_path, {"fingerprints": self.fingerprints,
                                               "config": self.config, "snapshots": snapshots})


_FULL_DISK = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded"}
# TensorFlow's status message names the file it could not write just before the OS's words.
_TF_FILE = re.compile(r"(/[^;\s]+); (?:" + "|".join(_FULL_DISK.values()) + ")")


def _full_disk(error: BaseException) -> Optional[tuple]:
  """(file, the OS's words) when `error` is a full disk (file "" when it names none), else None."""
  if isinstance(error, OSError) and error.errno in _FULL_DISK:
    return error.filename or "", _FULL_DISK[error.errno]
  message = getattr(error, "message", "") or ""
  words = [w for w in _FULL_DISK.values() if w in message]
  if isinstance(error, tf.errors.OpError) and words:
    match = _TF_FILE.search(message)
    return (match.group(1) if match else ""), words[0]
  return None


def _last_complete_checkpoint(directory: str) -> Optional[str]:
  """The newest listed checkpoint that has its state.json snapshot (what a resume restores)."""
  try:
    snapshots = rundir.read_json(os.path.join(directory, rundir.STATE)).get("snapshots", {})
  except (OSError, ValueError):
    return None
  listed = tf.train.get_checkpoint_state(directory)
  for path in reversed(list(listed.all_model_checkpoint_paths) if listed else []):
    if path.rsplit("-", 1)[-1] in snapshots:
      return os.path.join(directory, os.path.basename(path))
  return None


@contextlib.contextmanager
def full_disk_explained(directory: str):
  """Turns a full disk while writing the run directory into one RunWriteError that names the
  file and the checkpoint a rerun resumes from, after removing a failed save's partial files."""
  try:
    yield
  except (OSError, tf.errors.OpError) as e:
    full = _full_disk(e)
    if full is None:
      raise
    file, words = full
    for partial in glob.glob(os.path.join(directory, "ckpt-*_temp")):
      shutil.rmtree(partial, ignore_errors=True)  # only a failed save leaves one (space back)
    shard = re.match(r"(.*/ckpt-\d+)_temp/", file)
    what = f"checkpoint {shard.group(1)}" if shard else (file or f"a file in {directory}")
    last = _last_complete_checkpoint(directory)
    resume = (f"it resumes from {os.path.basename(last)} (step {last.rsplit('-', 1)[-1]})"
              if last else "no checkpoint is complete yet, so it starts at step 0")
    raise RunWriteError(f"{words} writing {what}: free space in {directory} and run the same "
                        f"command again; {resume}") from e


def previous_results(run_dir: str, cfg, set_aside: bool = True) -> tuple:
  """(results, why) when the run directory already holds what `cfg` asks for: a completed run
  of exactly this config, or one trained further than its epochs ask (results.json is left as
  it is); (None, "") when training should go on. Raises FingerprintMismatchError when the
  directory holds another setting, RunDirectoryError when its results.json is unreadable (set
  aside first when `set_aside`: the next run resumes). cfg: config.RunConfig."""
  path = os.path.join(run_dir, rundir.RESULTS)
  if not os.path.exists(path):
    return None, ""
  try:
    previous = rundir.Results.read(run_dir)
  except (ValueError, TypeError) as e:  # truncated or foreign: the checkpoints still hold the run
    aside = rundir.set_aside(path) if set_aside else path
    then = ("resume from its checkpoints" if os.path.exists(os.path.join(run_dir, "checkpoint"))
            else "train it again (it has no checkpoints)")
    raise RunDirectoryError(
        f"{path} is unreadable ({_first_line(e)}); set aside as {os.path.basename(aside)}: run "
        f"the same command again to {then}") from e
  differences = config_lib.setting_differences(previous.config, cfg.to_dict())
  if differences:
    raise FingerprintMismatchError(
        f"{run_dir} holds a run of another setting (differs in {', '.join(differences)}); "
        f"use another --run_name")
  if previous.status == "completed" and config_lib.normalized_config(
      previous.config) == config_lib.normalized_config(cfg.to_dict()):
    return previous, f"{run_dir} already completed; not training again"
  train = cfg.train
  if previous.step and previous.steps_per_epoch:
    wanted = train.epochs * previous.steps_per_epoch
    wanted = min(wanted, train.max_steps) if train.max_steps else wanted
    if previous.step >= wanted:
      return previous, (f"{run_dir} already trained to step {previous.step:,} (>= the "
                        f"{wanted:,} steps asked); results.json left as it is")
  return None, ""


EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


class StopSignal:
  """The one stop mechanism: SIGINT/SIGTERM, a sweep's deadline, or `request()`.

  Python runs signal handlers only between bytecodes of the main thread, which may sit inside a
  compiled call for minutes (or forever, in a collective whose peer died). So the signal's C
  handler only writes to a wakeup pipe (`signal.set_wakeup_fd`), and a thread of our own reads
  it: the first signal sets the in-graph flag (`listeners`), so the call ends at the next step
  and the trainer checkpoints and writes status "stopped"; if the process is still alive after
  `grace_seconds`, or on a second signal, it exits at once (exit 130/143) and the newest
  complete checkpoint stays valid.
  """

  def __init__(self, grace_seconds: float = 60.0, say: Callable[[str], None] = None):
    self.grace_seconds = grace_seconds
    self.signal_name: Optional[str] = None  # SIGINT, SIGTERM, or "request"
    self.requested = threading.Event()
    self.listeners: List[Callable[[], None]] = []
    self._say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    self._previous = {}
    self._pipe = None
    self._old_wakeup = None
    self._timer: Optional[threading.Timer] = None

  @property
  def exit_code(self) -> int:
    return EXIT_CODES.get(self.signal_name, 0)

  def request(self, name: str = "request") -> None:
    if self.requested.is_set():
      return
    self.signal_name = name
    self.requested.set()
    for listener in self.listeners:
      listener()

  def __enter__(self) -> "StopSignal":
    if threading.current_thread() is not threading.main_thread():
      return self  # signals belong to the main thread's owner; request() still works
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    self._pipe = (read_end, write_end)
    self._old_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    for sig in (signal.SIGINT, signal.SIGTERM):
      self._previous[sig] = signal.signal(sig, lambda signum, frame: None)  # the thread acts
    threading.Thread(target=self._watch, args=(read_end,), daemon=True,
                     name="stop-signal").start()
    return self

  def _watch(self, read_end: int) -> None:
    while True:
      data = os.read(read_end, 64)
      for number in data:
        if number == 0:  # __exit__'s sentinel
          os.close(read_end)
          return
        self._on_signal(signal.Signals(number).name)

  def _on_signal(self, name: str) -> None:
    if self.requested.is_set():
      self._say(f"{name} again: exiting now (the newest complete checkpoint stays valid)")
      os._exit(EXIT_CODES.get(name, 1))  # pylint: disable=protected-access
    self._say(f"{name}: stopping at the next step to checkpoint (no evaluation); "
              f"{name} again exits at once")
    self.request(name)
    self._timer = threading.Timer(self.grace_seconds, self._grace_expired, args=(name,))
    self._timer.daemon = True
    self._timer.start()

  def _grace_expired(self, name: str) -> None:
    self._say(f"still running {self.grace_seconds:.0f} s after {name} (a stuck step or "
              f"collective?): exiting now; the newest complete checkpoint stays valid")
    os._exit(EXIT_CODES.get(name, 1))  # pylint: disable=protected-access

  def __exit__(self, *args) -> bool:
    if self._timer is not None:  # stopped in time: no hard exit
      self._timer.cancel()
    if self._pipe is not None:
      for sig, handler in self._previous.items():
        signal.signal(sig, handler)
      signal.set_wakeup_fd(self._old_wakeup)
      os.write(self._pipe[1], b"\0")
      os.close(self._pipe[1])
      self._pipe = None
    return False
