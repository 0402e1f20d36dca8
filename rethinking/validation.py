"""Checks of a run's settings that cost seconds, run before any data is loaded.

Each check returns an `Invalid(flag, value, allowed)`; experiments print it as one line on
stderr and exit with status 2 without creating anything.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import tempfile
from typing import Iterable, List, Optional

from rethinking import config as config_lib

# Stored image shapes (before the 28x28 crop of CIFAR-10) of the datasets the trainer knows.
IMAGE_SHAPES = {"cifar10": (32, 32, 3), "mnist": (28, 28, 1), "imagenet2012": (299, 299, 3)}
IMAGENET_MODELS = ("inception_v3",)


@dataclasses.dataclass(frozen=True)
class Invalid:
  flag: str
  value: object
  allowed: str

  def __str__(self) -> str:
    return f"error: --{self.flag}={self.value}: {self.allowed}"


def writable_location(path: str) -> bool:
  """True when `path` (or its nearest existing ancestor) is a directory we can create files in.

  Probed by creating and deleting a temp file: permission bits mislead (root, read-only mounts,
  /proc).
  """
  path = os.path.abspath(path)
  while not os.path.exists(path):
    parent = os.path.dirname(path)
    if parent == path:
      return False
    path = parent
  if not os.path.isdir(path):
    return False
  try:
    fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
  except OSError:
    return False
  os.close(fd)
  os.unlink(probe)
  return True


def check_strategy(name: str) -> Optional[str]:
  """Why this machine cannot provide the strategy, or None."""
  if name not in config_lib.STRATEGIES:
    return f"must be one of {', '.join(config_lib.STRATEGIES)}"
  if name == "tpu" and not (os.environ.get("TPU_NAME") or os.path.exists("/dev/accel0")
                            or os.path.exists("/dev/vfio")):
    return "no TPU on this machine (no TPU_NAME and no /dev/accel0)"
  if name == "multi_worker" and not os.environ.get("TF_CONFIG"):
    return "multi_worker needs TF_CONFIG describing the cluster; none is set"
  if name == "multi_worker":
    try:
      tf_config = json.loads(os.environ["TF_CONFIG"])
      task = tf_config["task"]
      if task["type"] not in ("chief", "worker"):
        return f"TF_CONFIG's task type {task['type']!r} is not trained by this program"
      int(task.get("index", 0))
    except (ValueError, KeyError, TypeError) as e:
      return f"TF_CONFIG is not a JSON cluster and task description ({e})"
  return None


def tf_config_workers() -> int:
  """Workers (chief included) named by TF_CONFIG; 1 when it is unset or unreadable."""
  try:
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))
  except (ValueError, AttributeError):
    return 1


def check_replicas(batch_size: int, strategy: str, cpu_devices: int) -> Optional[Invalid]:
  """--cpu_devices is a positive count; the global batch divides over the replicas that are
  known before TensorFlow starts (logical CPU devices, TF_CONFIG's workers; GPUs are counted
  by the trainer, which refuses an uneven split with the same message)."""
  if cpu_devices < 1:
    return Invalid("cpu_devices", cpu_devices, "must be a positive integer")
  if cpu_devices > 1 and strategy != "mirrored":
    return Invalid("cpu_devices", cpu_devices, "splits the CPU into replicas for "
                   "--strategy=mirrored only (a testing aid)")
  replicas = {"mirrored": cpu_devices, "multi_worker": tf_config_workers()}.get(strategy, 1)
  if replicas > 1 and batch_size > 0 and batch_size % replicas:
    return Invalid("batch_size", batch_size, f"is global and must be divisible by the "
                   f"{replicas} replicas (each takes batch_size / replicas examples)")
  return None


def prepared_split_size(name: str, split: str, data_dir: Optional[str]) -> Optional[int]:
  """The size of a prepared tfds split, read from its dataset_info.json (no TensorFlow import).

  None when the dataset is not prepared there (tfds may still download it later).
  """
  root = data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.join("~", "tensorflow_datasets")
  infos = sorted(glob.glob(os.path.join(os.path.expanduser(root), name, "*",
                                        "dataset_info.json")))
  if not infos:
    return None
  try:
    with open(infos[-1]) as f:
      splits = json.load(f).get("splits", [])
    for s in splits:
      if s.get("name") == split:
        return sum(int(n) for n in s.get("shardLengths", []))
  except (OSError, ValueError):
    return None
  return None


def _first(checks: Iterable[Optional[Invalid]]) -> Optional[Invalid]:
  for c in checks:
    if c is not None:
      return c
  return None


def check_run_config(cfg: config_lib.RunConfig, corrupt_prob_given: bool,
                     split_size: Optional[int] = None,
                     model_names: Optional[List[str]] = None,
                     cpu_devices: int = 1) -> Optional[Invalid]:
  """The first problem with a training configuration, or None.

  split_size: the training split's size when known (checked against train_size);
  cpu_devices: logical CPU devices the app will split the host into (--cpu_devices).
  """
  d, c, m, t = cfg.data, cfg.corruption, cfg.model, cfg.train
  if model_names is None:
    model_names = list(config_lib.MODEL_NAMES)

  def bad(cond, flag, value, allowed):
    return Invalid(flag, value, allowed) if cond else None

  def checks():
    yield bad(d.name not in config_lib.DATASETS, "dataset", d.name,
              f"must be one of {', '.join(config_lib.DATASETS)}")
    yield bad(m.name not in model_names, "model", m.name,
              f"must be one of {', '.join(model_names)}")
    yield bad(c.kind not in config_lib.CORRUPTIONS, "corruption", c.kind,
              f"must be one of {', '.join(config_lib.CORRUPTIONS)}")
    yield bad(not 0.0 <= c.prob <= 1.0, "corrupt_prob", c.prob, "must be in [0, 1]")
    yield bad(corrupt_prob_given and c.kind not in config_lib.CORRUPTIONS_WITH_PROB,
              "corrupt_prob", c.prob,
              f"only --corruption=labels takes a probability, not --corruption={c.kind}")
    yield bad(c.kind == "labels" and not corrupt_prob_given, "corrupt_prob", "(unset)",
              "--corruption=labels needs --corrupt_prob in [0, 1]")
    yield bad(d.name == "imagenet2012" and c.kind in config_lib.PIXEL_CORRUPTIONS,
              "corruption", c.kind, "ImageNet (Table 2) takes label corruptions only: "
              f"{', '.join(config_lib.LABEL_CORRUPTIONS)}")
    yield bad(c.pixel_unit not in config_lib.PIXEL_UNITS, "pixel_unit", c.pixel_unit,
              f"must be one of {', '.join(config_lib.PIXEL_UNITS)}")
    yield bad(t.batch_size <= 0, "batch_size", t.batch_size, "must be a positive integer")
    yield bad(t.epochs <= 0, "epochs", t.epochs, "must be a positive integer")
    yield bad(t.max_steps < 0, "max_steps", t.max_steps, "must be >= 0 (0 = no limit)")
    yield bad(not (t.learning_rate > 0 and t.learning_rate < float("inf")), "learning_rate",
              t.learning_rate, "must be a positive number")
    yield bad(not 0.0 < t.lr_decay <= 1.0, "lr_decay", t.lr_decay, "must be in (0, 1]")
    yield bad(not 0.0 <= t.momentum < 1.0, "momentum", t.momentum, "must be in [0, 1)")
    yield bad(m.weight_decay < 0, "weight_decay", m.weight_decay, "must be >= 0")
    yield bad(not 0.0 <= m.dropout < 1.0, "dropout", m.dropout, "must be in [0, 1)")
    yield bad(t.eval_every <= 0, "eval_every", t.eval_every, "must be a positive integer")
    yield bad(t.test_every < 0, "test_every", t.test_every, "must be >= 0 (0 = at the end only)")
    yield bad(t.steps_per_call < 0, "steps_per_call", t.steps_per_call, "must be >= 0")
    yield bad(not 0.0 <= t.skip_train_eval_below <= 1.0, "skip_train_eval_below",
              t.skip_train_eval_below, "must be in [0, 1] (0 = never skip)")
    yield bad(t.eval_batch_size < 0, "eval_batch_size", t.eval_batch_size,
              "must be >= 0 (0: the device rule)")
    yield bad(d.train_size < 0, "train_size", d.train_size, "must be >= 0 (0 = all)")
    yield bad(split_size is not None and d.train_size > split_size, "train_size",
              d.train_size, f"the {d.name} training split has only {split_size} examples")
    yield bad(0 < d.train_size < t.batch_size, "train_size", d.train_size,
              f"must be at least --batch_size={t.batch_size}")
    yield bad(t.precision not in config_lib.PRECISIONS, "precision", t.precision,
              f"must be one of {', '.join(config_lib.PRECISIONS)}")
    if d.name in IMAGE_SHAPES and m.name in model_names:
      shape = IMAGE_SHAPES[d.name]
      yield bad((m.name in IMAGENET_MODELS) != (d.name == "imagenet2012"), "model", m.name,
                f"cannot take {d.name} images {shape}: ImageNet needs "
                f"{'/'.join(IMAGENET_MODELS)}, the CIFAR-10/MNIST models take 28x28 inputs")
    yield bad(d.data_dir is not None and d.data_dir != "" and not os.path.isdir(
        os.path.expanduser(d.data_dir)), "data_dir", d.data_dir, "no such directory")
    yield bad(not writable_location(cfg.logdir), "logdir", cfg.logdir,
              "is not writable (or cannot be created) by this user")
    why = check_strategy(t.strategy)
    yield bad(why is not None, "strategy", t.strategy, why or "")
    yield check_replicas(t.batch_size, t.strategy, cpu_devices)

  return _first(checks())
