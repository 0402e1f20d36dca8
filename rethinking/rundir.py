"""The run-directory contract, TensorFlow-free: what a run leaves and how others read it.

`<logdir>/<run name>/` holds TensorBoard events, checkpoints (`ckpt-*`), `state.json` (what the
checkpoints do not hold), `model.keras` (the final model), `train.log` (a sweep child's output)
and `results.json`, written atomically and last. The trainer writes it (rethinking.training);
the report, the sweep and the apps read it through `Results`. Nothing here imports TensorFlow,
so reading a run costs milliseconds.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import socket
import tempfile
from typing import Any, Dict, List, Optional


from rethinking import config as config_lib

RESULTS = "results.json"
STATE = "state.json"
LOCK = "LOCK"
LOG = "train.log"
MODEL = "model.keras"
TMP_PREFIX = ".tmp-"

# Flagfile groups under flags/: a sweep names a run "<group>-<setting>" (setting_run_name).
GROUPS = ("table1", "table2", "fig1a", "fig1a_mlp", "fig1bc", "fig2b", "appendix", "probes")

STATUSES = ("completed", "stopped", "diverged")


# ---- names ------------------------------------------------------------------------------------
def default_run_name(config: dict) -> str:
  """A readable run name from a config dict: model_dataset_corruption[-p]_..._seed."""
  corruption, train = config["corruption"], config["train"]
  kind = corruption["kind"]
  if kind == "labels":
    kind = f"labels{corruption['prob']:g}"
  parts = [config["model"]["name"], config["data"]["name"], kind]
  if train.get("augment"):
    parts.append("crop")
  if config["model"].get("weight_decay"):
    parts.append(f"wd{config['model']['weight_decay']:g}"
                 + ("hidden" if config["model"].get("weight_decay_layers") == "hidden_dense"
                    else ""))
  if config["model"].get("dropout"):
    parts.append(f"drop{config['model']['dropout']:g}")
  if config["data"].get("train_size"):
    parts.append(f"n{config['data']['train_size']}")
  if config["data"].get("jpeg_quality"):
    parts.append(f"jpeg{config['data']['jpeg_quality']}")
  parts.append(f"s{train['seed']}")
  return "_".join(parts)


def run_dir_for(config: dict) -> str:
  """<logdir>/<run_name, or the default name>."""
  return os.path.join(config["logdir"], config.get("run_name") or default_run_name(config))


def setting_run_name(group: str, setting: str) -> str:
  """The run-directory name a sweep gives flags/<group>/<setting>.flags."""
  return f"{group}-{setting}"


def split_setting_run_name(name: str) -> tuple:
  """setting_run_name's inverse: ("table1", "mlp_1x512") or ("", name) for other names."""
  for group in sorted(GROUPS, key=len, reverse=True):
    if name.startswith(group + "-"):
      return group, name[len(group) + 1:]
  return "", name


# ---- files --------------------------------------------------------------------------------------
def _jsonable(x):
  """json.dump's fallback: NumPy integers, floats and arrays as Python values, else str. Told
  apart by their type's module, not isinstance: importing NumPy here put ~0.2 s (0.15 -> 0.4 s)
  on the start of every app, whose flag errors and --help come before anything heavy loads."""
  if type(x).__module__ == "numpy":
    if hasattr(x, "ndim") and x.ndim:
      return x.tolist()
    value = x.item()
    if isinstance(value, (bool, int, float)):
      return value
  return str(x)


def atomic_write_json(path: str, obj) -> None:
  """Writes JSON to a temp file in the same directory, fsyncs, then renames over `path`.
  The file is 0644 like everything else a run writes (mkstemp would leave it 0600)."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".json", dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(obj, f, indent=2, sort_keys=True, default=_jsonable)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
  except BaseException as e:
    if os.path.exists(tmp):
      os.unlink(tmp)
    if isinstance(e, OSError) and e.filename is None:  # a full disk: say which file
      raise OSError(e.errno, e.strerror, path) from e
    raise


def set_aside(path: str, suffix: str = ".unreadable") -> str:
  """Renames `path` to `path + suffix` (or `...suffix.2`, ...: never over an earlier one) and
  returns the new path."""
  aside, n = path + suffix, 1
  while os.path.exists(aside):
    n += 1
    aside = f"{path}{suffix}.{n}"
  os.rename(path, aside)
  return aside


def read_json(path: str):
  with open(path) as f:
    return json.load(f)


def json_fingerprint(obj) -> str:
  """A short sha256 of an object's canonical JSON."""
  text = json.dumps(obj, sort_keys=True, default=_jsonable)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- the lock -----------------------------------------------------------------------------------
class RunLockedError(RuntimeError):
  """Another live process holds the run directory."""


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
    self.path = os.path.join(run_dir, LOCK)
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


# ---- results.json -------------------------------------------------------------------------------
def _metric(description: str, scalar: bool = True):
  """A measured field of Evaluation: `description` labels its TensorBoard scalar (eval/<name>,
  when `scalar`), and the field is copied into results.json's "final"."""
  return dataclasses.field(default=None, metadata={"metric": description, "scalar": scalar})


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """One entry of results.json's history: an evaluation at `step`. Accuracies are fractions over
  the whole (corrupted, un-augmented) training set and the test set, in inference mode;
  running_* average the training steps since the previous evaluation. A field an evaluation did
  not measure is None (test_accuracy between --test_every evaluations). The one declaration of
  a metric: a new one is a field here and its computation (training/steps.py)."""
  step: int
  epoch: Optional[float] = None
  train_accuracy: Optional[float] = _metric(
      "accuracy on the whole (corrupted) training set, inference mode, no augmentation")
  train_loss: Optional[float] = _metric(
      "mean cross-entropy on the whole (corrupted) training set, inference mode")
  test_accuracy: Optional[float] = _metric("accuracy on the clean test set")
  test_loss: Optional[float] = _metric("mean cross-entropy on the clean test set")
  train_top5_accuracy: Optional[float] = _metric("top-5 accuracy on the evaluated training "
                                                 "examples (ImageNet)", scalar=False)
  test_top5_accuracy: Optional[float] = _metric("top-5 accuracy on the validation set "
                                                "(ImageNet)", scalar=False)
  running_train_accuracy: Optional[float] = None
  running_train_loss: Optional[float] = None
  learning_rate: Optional[float] = None
  extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

  @classmethod
  def metrics(cls) -> Dict[str, dataclasses.Field]:
    """name -> field of every measured metric, in declaration order."""
    return {f.name: f for f in dataclasses.fields(cls) if "metric" in f.metadata}

  @classmethod
  def from_dict(cls, record: Dict[str, Any]) -> "Evaluation":
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return cls(**{k: v for k, v in record.items() if k in names},
               extra={k: v for k, v in record.items() if k not in names})


@dataclasses.dataclass
class Results:
  """results.json. `from_json` reads every version the trainer has written: fields it does not
  know go to `extra` (and back out in `to_json`), missing ones take their defaults."""
  config: Dict[str, Any]
  status: str  # completed | stopped | diverged
  final: Dict[str, Any]  # the last evaluation: *_accuracy, *_loss (top-5 on ImageNet), step
  run_dir: str = ""
  step: Optional[int] = None  # the step the run reached (the resume point when stopped)
  diverged_at_step: Optional[int] = None
  stop_signal: Optional[str] = None  # "SIGINT"/"SIGTERM"/"request" when status is stopped
  steps_to_fit: Optional[int] = None
  epochs_to_fit: Optional[float] = None
  steps_per_epoch: Optional[int] = None
  corruption: Dict[str, Any] = dataclasses.field(default_factory=dict)
  data: Dict[str, Any] = dataclasses.field(default_factory=dict)
  device: str = "unknown device"
  strategy: str = "default"
  replicas: int = 1
  precision: str = "float32"
  jit: bool = False  # as resolved for the device (config.train.jit may be None: the rule)
  eval_batch_size: Optional[int] = None  # as resolved for the device
  wall_seconds: Optional[float] = None
  train_seconds: Optional[float] = None
  examples_per_second: Optional[float] = None
  peak_memory_bytes: Optional[int] = None
  history: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
  versions: Dict[str, Any] = dataclasses.field(default_factory=dict)
  extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

  @classmethod
  def from_json(cls, obj: dict) -> "Results":
    if not isinstance(obj, dict):
      raise ValueError("results.json does not hold a JSON object")
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    missing = [k for k in ("config", "status", "final") if k not in obj]
    if missing:
      raise ValueError(f"results.json lacks {', '.join(missing)}")
    known = {k: v for k, v in obj.items() if k in names}
    results = cls(**known, extra={k: v for k, v in obj.items() if k not in names})
    if results.step is None:  # written before `step` existed: final.step was the run's step
      results.step = results.final.get("step")
    results.final = results.final or {}
    return results

  @classmethod
  def read(cls, run_dir: str) -> "Results":
    return cls.from_json(read_json(os.path.join(run_dir, RESULTS)))

  def to_json(self) -> dict:
    out = dataclasses.asdict(self)
    out.update(out.pop("extra"))
    return out

  def write(self, run_dir: str) -> None:
    atomic_write_json(os.path.join(run_dir, RESULTS), self.to_json())

  # What the report and the summaries ask of a run.
  @property
  def train_size(self) -> Optional[int]:
    return self.data.get("train_size")

  @property
  def full_data(self) -> bool:
    """Trained on the whole training split (no --train_size)."""
    return not (self.config.get("data") or {}).get("train_size")

  @property
  def model(self) -> str:
    return (self.config.get("model") or {}).get("name", "?")

  @property
  def run_config(self) -> config_lib.RunConfig:
    """The config, typed (RunConfig.from_dict fills and upgrades what older runs recorded)."""
    return config_lib.RunConfig.from_dict(self.config)

  @property
  def evaluations(self) -> List[Evaluation]:
    return [Evaluation.from_dict(h) for h in self.history or []]

  @property
  def epochs_run(self) -> Optional[float]:
    return self.step / self.steps_per_epoch if self.step is not None and self.steps_per_epoch \
        else None


def read_status(run_dir: str) -> Optional[str]:
  """The status in a run directory's results.json, or None (none, or unreadable)."""
  try:
    return Results.read(run_dir).status
  except (OSError, ValueError, TypeError):
    return None


def first_missing_directory(path: str) -> Optional[str]:
  """The outermost directory of `path` that does not exist yet (what makedirs will create)."""
  path, missing = os.path.abspath(path), None
  while not os.path.isdir(path):
    missing, path = path, os.path.dirname(path)
  return missing


def temporary_run_dir(prefix: str = "rethinking-worker-") -> str:
  """A scratch directory for a process that must not write the real run directory (a
  non-chief multi-worker replica); the caller removes it."""
  return tempfile.mkdtemp(prefix=prefix)
