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
from typing import Iterable, Iterator, List, Optional

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
    for entry in splits:
      if entry.get("name") == split:
        return sum(int(n) for n in entry.get("shardLengths", []))
  except (OSError, ValueError):
    return None
  return None


def _first(checks: Iterable[Optional[Invalid]]) -> Optional[Invalid]:
  for check in checks:
    if check is not None:
      return check
  return None


def _bad(cond, flag, value, allowed) -> Optional[Invalid]:
  return Invalid(flag, value, allowed) if cond else None


def _corruption_checks(corruption: config_lib.CorruptionConfig, prob_given: bool,
                       dataset: str) -> Iterator[Optional[Invalid]]:
  kind = corruption.kind
  yield _bad(kind not in config_lib.CORRUPTIONS, "corruption", kind,
             f"must be one of {', '.join(config_lib.CORRUPTIONS)}")
  yield _bad(not 0.0 <= corruption.prob <= 1.0, "corrupt_prob", corruption.prob,
             "must be in [0, 1]")
  yield _bad(prob_given and kind not in config_lib.CORRUPTIONS_WITH_PROB, "corrupt_prob",
             corruption.prob,
             f"only --corruption=labels takes a probability, not --corruption={kind}")
  yield _bad(kind == "labels" and not prob_given, "corrupt_prob", "(unset)",
             "--corruption=labels needs --corrupt_prob in [0, 1]")
  yield _bad(dataset == "imagenet2012" and kind in config_lib.PIXEL_CORRUPTIONS,
             "corruption", kind, "ImageNet (Table 2) takes label corruptions only: "
             f"{', '.join(config_lib.LABEL_CORRUPTIONS)}")
  yield _bad(corruption.pixel_unit not in config_lib.PIXEL_UNITS, "pixel_unit",
             corruption.pixel_unit, f"must be one of {', '.join(config_lib.PIXEL_UNITS)}")


def _schedule_checks(train: config_lib.TrainConfig,
                     model: config_lib.ModelConfig) -> Iterator[Optional[Invalid]]:
  """The optimiser, its regularizers and the evaluation schedule."""
  yield _bad(train.batch_size <= 0, "batch_size", train.batch_size,
             "must be a positive integer")
  yield _bad(train.epochs <= 0, "epochs", train.epochs, "must be a positive integer")
  yield _bad(train.max_steps < 0, "max_steps", train.max_steps, "must be >= 0 (0 = no limit)")
  yield _bad(not (train.learning_rate > 0 and train.learning_rate < float("inf")),
             "learning_rate", train.learning_rate, "must be a positive number")
  yield _bad(not 0.0 < train.lr_decay <= 1.0, "lr_decay", train.lr_decay, "must be in (0, 1]")
  yield _bad(not 0.0 <= train.momentum < 1.0, "momentum", train.momentum, "must be in [0, 1)")
  yield _bad(model.weight_decay < 0, "weight_decay", model.weight_decay, "must be >= 0")
  yield _bad(model.weight_decay_layers not in config_lib.WEIGHT_DECAY_LAYERS,
             "weight_decay_layers", model.weight_decay_layers,
             f"must be one of {', '.join(config_lib.WEIGHT_DECAY_LAYERS)}")
  yield _bad(model.weight_decay_layers == "hidden_dense"
             and model.name not in config_lib.HIDDEN_DENSE_MODELS, "weight_decay_layers",
             model.weight_decay_layers,
             f"needs hidden fully connected layers: {', '.join(config_lib.HIDDEN_DENSE_MODELS)}")
  yield _bad(model.weight_decay_layers != "all" and not model.weight_decay,
             "weight_decay_layers", model.weight_decay_layers,
             "applies to a weight decay: set --weight_decay > 0 (or leave it 'all')")
  yield _bad(not 0.0 <= model.dropout < 1.0, "dropout", model.dropout, "must be in [0, 1)")
  yield _bad(train.eval_every <= 0, "eval_every", train.eval_every,
             "must be a positive integer")
  yield _bad(train.test_every < 0, "test_every", train.test_every,
             "must be >= 0 (0 = at the end only)")
  yield _bad(train.steps_per_call < 0, "steps_per_call", train.steps_per_call, "must be >= 0")
  yield _bad(not 0.0 <= train.skip_train_eval_below <= 1.0, "skip_train_eval_below",
             train.skip_train_eval_below, "must be in [0, 1] (0 = never skip)")
  yield _bad(train.eval_batch_size < 0, "eval_batch_size", train.eval_batch_size,
             "must be >= 0 (0: the device rule)")
  yield _bad(not 0.0 <= train.eval_ema < 1.0, "eval_ema", train.eval_ema,
             "must be in [0, 1) (0 = evaluate the trained weights)")


def _train_size_checks(data: config_lib.DataConfig, batch_size: int,
                       split_size: Optional[int]) -> Iterator[Optional[Invalid]]:
  yield _bad(data.train_size < 0, "train_size", data.train_size, "must be >= 0 (0 = all)")
  yield _bad(split_size is not None and data.train_size > split_size, "train_size",
             data.train_size, f"the {data.name} training split has only {split_size} examples")
  yield _bad(0 < data.train_size < batch_size, "train_size", data.train_size,
             f"must be at least --batch_size={batch_size}")
  yield _bad(not 0 <= data.jpeg_quality <= 100, "jpeg_quality", data.jpeg_quality,
             "must be 1-100 (0 = off)")
  yield _bad(data.jpeg_quality and data.name == "imagenet2012", "jpeg_quality",
             data.jpeg_quality, "re-encodes CIFAR-10 and MNIST only (held in memory)")


def check_run_config(cfg: config_lib.RunConfig, corrupt_prob_given: bool,
                     split_size: Optional[int] = None,
                     model_names: Optional[List[str]] = None,
                     cpu_devices: int = 1) -> Optional[Invalid]:
  """The first problem with a training configuration, or None.

  split_size: the training split's size when known (checked against train_size);
  cpu_devices: logical CPU devices the app will split the host into (--cpu_devices).
  """
  data, model, train = cfg.data, cfg.model, cfg.train
  if model_names is None:
    model_names = list(config_lib.MODEL_NAMES)

  def checks():
    yield _bad(data.name not in config_lib.DATASETS, "dataset", data.name,
               f"must be one of {', '.join(config_lib.DATASETS)}")
    yield _bad(model.name not in model_names, "model", model.name,
               f"must be one of {', '.join(model_names)}")
    yield from _corruption_checks(cfg.corruption, corrupt_prob_given, data.name)
    yield from _schedule_checks(train, model)
    yield from _train_size_checks(data, train.batch_size, split_size)
    yield _bad(train.precision not in config_lib.PRECISIONS, "precision", train.precision,
               f"must be one of {', '.join(config_lib.PRECISIONS)}")
    if data.name in IMAGE_SHAPES and model.name in model_names:
      yield _bad((model.name in IMAGENET_MODELS) != (data.name == "imagenet2012"), "model",
                 model.name, f"cannot take {data.name} images {IMAGE_SHAPES[data.name]}: "
                 f"ImageNet needs {'/'.join(IMAGENET_MODELS)}, the CIFAR-10/MNIST models take "
                 "28x28 inputs")
    yield _bad(data.data_dir is not None and data.data_dir != "" and not os.path.isdir(
        os.path.expanduser(data.data_dir)), "data_dir", data.data_dir, "no such directory")
    yield _bad(not writable_location(cfg.logdir), "logdir", cfg.logdir,
               "is not writable (or cannot be created) by this user")
    why = check_strategy(train.strategy)
    yield _bad(why is not None, "strategy", train.strategy, why or "")
    yield check_replicas(train.batch_size, train.strategy, cpu_devices)

  return _first(checks())
