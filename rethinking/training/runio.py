"""Run-directory I/O: atomic JSON writes, the run lock, device and version descriptions."""
from __future__ import annotations

import errno
import json
import os
import platform
import socket
import tempfile

import numpy as np


def atomic_write_json(path: str, obj) -> None:
  """Writes JSON to a temp file in the same directory, fsyncs, then renames over `path`."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(obj, f, indent=2, sort_keys=True, default=_jsonable)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def _jsonable(x):
  if isinstance(x, (np.integer,)):
    return int(x)
  if isinstance(x, (np.floating,)):
    return float(x)
  if isinstance(x, np.ndarray):
    return x.tolist()
  return str(x)


def json_fingerprint(obj) -> str:
  """A short sha256 of an object's canonical JSON."""
  import hashlib  # pylint: disable=import-outside-toplevel
  return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_jsonable).encode()).hexdigest()[:16]


def read_json(path: str):
  with open(path) as f:
    return json.load(f)


class RunLockedError(RuntimeError):
  pass


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except OSError as e:
    return e.errno == errno.EPERM
  return True


class RunLock:
  """An exclusive lock on a run directory: a `LOCK` file holding host:pid, created with O_EXCL.

  A lock left by a dead process on this host is taken over; a live one is refused.
  """

  def __init__(self, run_dir: str):
    self.path = os.path.join(run_dir, "LOCK")
    self.held = False

  def acquire(self) -> "RunLock":
    me = f"{socket.gethostname()}:{os.getpid()}"
    for _ in range(2):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        try:
          with open(self.path) as f:
            owner = f.read().strip()
        except FileNotFoundError:
          continue
        host, _, pid = owner.rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid)):
          os.unlink(self.path)  # stale: its process is gone
          continue
        raise RunLockedError(f"run directory {os.path.dirname(self.path)} is in use by {owner} "
                             f"(remove {self.path} if that process is gone)")
      with os.fdopen(fd, "w") as f:
        f.write(me)
      self.held = True
      return self
    raise RunLockedError(f"could not lock {self.path}")

  def release(self) -> None:
    if self.held and os.path.exists(self.path):
      os.unlink(self.path)
    self.held = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *args):
    self.release()
    return False


def describe_device() -> str:
  """E.g. 'GPU: NVIDIA H200 x1' or 'CPU: Intel Xeon ... (2 cores)'."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU: {details.get('device_name', 'unknown')} x{len(gpus)}"
  return cpu_description()


def cpu_description() -> str:
  """E.g. 'CPU: AMD EPYC (2 cores)', without importing TensorFlow."""
  name = platform.processor() or "unknown"
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          name = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  return f"CPU: {name} ({os.cpu_count()} cores)"


def versions() -> dict:
  import keras  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  import rethinking  # pylint: disable=import-outside-toplevel
  return {"python": platform.python_version(), "tensorflow": tf.__version__,
          "keras": keras.__version__, "tensorflow_datasets": tfds.__version__,
          "numpy": np.__version__, "rethinking": rethinking.__version__}


def peak_memory_bytes() -> int:
  """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
  import resource  # pylint: disable=import-outside-toplevel
  return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
