"""Datasets through `tfds.load` only: CIFAR-10 and MNIST in memory, ImageNet streamed.

Every example carries a stable key: its index in the split's stored order (in-memory datasets),
or a 63-bit hash of its tfds id (streamed ImageNet). Corruptions are keyed by it, so they do not
depend on shuffling, batching or the process that computes them.
"""
from __future__ import annotations

import dataclasses
import os
import socket
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

IN_MEMORY = ("cifar10", "mnist")
STREAMED = ("imagenet2012",)
# Where tfds downloads CIFAR-10 and MNIST from; used only to fail fast when offline.
_DOWNLOAD_HOSTS = {"cifar10": "www.cs.toronto.edu", "mnist": "storage.googleapis.com"}


class DatasetUnavailableError(RuntimeError):
  """The dataset is neither prepared in the data dir nor obtainable; the message is one line."""


@dataclasses.dataclass(frozen=True)
class InMemoryDataset:
  """One split held in memory.

  images: uint8 [N, H, W, C]; labels: int32 [N]; keys: int64 [N] (index in stored order);
  split_size: number of examples in the whole split (keys are < split_size).
  """
  name: str
  split: str
  images: np.ndarray
  labels: np.ndarray
  keys: np.ndarray
  num_classes: int
  split_size: int

  def __len__(self) -> int:
    return int(self.labels.shape[0])


def resolve_data_dir(data_dir: Optional[str]) -> str:
  """The data dir tfds will use: the argument, else $TFDS_DATA_DIR, else tfds's default."""
  if data_dir:
    return os.path.expanduser(data_dir)
  return os.path.expanduser(os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR)


def _host_reachable(host: str, timeout: float = 3.0) -> bool:
  try:
    with socket.create_connection((host, 443), timeout=timeout):
      return True
  except OSError:
    return False


def _unavailable(name: str, root: str, why: str) -> DatasetUnavailableError:
  return DatasetUnavailableError(
      f"{name} is not prepared in {root} and {why}: prepare it there, or point --data_dir "
      f"(or TFDS_DATA_DIR) at a tfds data dir that holds {name}")


def check_can_download(name: str, data_dir: Optional[str] = None, download: bool = True,
                       manual_dir: Optional[str] = None) -> None:
  """Raises DatasetUnavailableError (one line) when a dataset missing locally cannot be fetched.

  Called only after tfds failed to find prepared data, so an offline machine fails in seconds
  instead of after a download timeout.
  """
  root = resolve_data_dir(data_dir)
  if name in STREAMED:
    manual = manual_dir or os.path.join(root, "downloads", "manual")
    if not os.path.isdir(manual) or not any(f.startswith("ILSVRC2012_img_train")
                                            for f in os.listdir(manual)):
      raise _unavailable(name, root, f"no ILSVRC2012 tar files are in the manual download "
                         f"dir {manual} (download them from image-net.org)")
    return
  if not download:
    raise _unavailable(name, root, "downloads are disabled")
  host = _DOWNLOAD_HOSTS[name]
  if not _host_reachable(host):
    raise _unavailable(name, root, f"{host} is unreachable")


def _tfds_load(name: str, split: str, data_dir: Optional[str], download: bool,
               manual_dir: Optional[str] = None, **kwargs):
  """tfds.load, first without downloading; on a miss, fails fast unless a download can work."""
  if name not in IN_MEMORY + STREAMED:
    raise DatasetUnavailableError(
        f"unknown dataset {name!r}; known: {', '.join(IN_MEMORY + STREAMED)}")
  root = resolve_data_dir(data_dir)
  try:
    return tfds.load(name, split=split, data_dir=root, download=False, with_info=True, **kwargs)
  except AssertionError:  # tfds's "could not find data in <dir>"
    check_can_download(name, data_dir, download, manual_dir)
  config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
  return tfds.load(name, split=split, data_dir=root, download=True, with_info=True,
                   download_and_prepare_kwargs={"download_config": config}, **kwargs)


def load_in_memory(name: str, split: str, data_dir: Optional[str] = None, download: bool = True,
                   size: int = 0) -> InMemoryDataset:
  """Loads a split of CIFAR-10 or MNIST into memory in its stored order.

  size: keep the first `size` examples (0 = all).
  """
  if name in STREAMED:
    raise DatasetUnavailableError(
        f"dataset {name!r} is streamed, not held in memory; in-memory: {', '.join(IN_MEMORY)}")
  # shuffle_files=False keeps the stored order, which defines the keys.
  ds, info = _tfds_load(name, split, data_dir, download, shuffle_files=False,
                        read_config=tfds.ReadConfig(try_autocache=False))
  num_classes = info.features["label"].num_classes
  split_size = info.splits[split].num_examples if split in info.splits else None
  if size and split_size is not None and size > split_size:
    raise ValueError(f"size={size} is larger than the {name} {split} split ({split_size})")
  if size:
    ds = ds.take(size)
  # Streamed and batched by hand: tfds.load(batch_size=-1) aborts the process under
  # tfds.testing.mock_data (TF 2.21 / tfds 4.9.10).
  ds = ds.map(lambda e: (e["image"], e["label"]), num_parallel_calls=tf.data.AUTOTUNE,
              deterministic=True).batch(10000)
  images, labels = [], []
  for x, y in ds.as_numpy_iterator():
    images.append(x)
    labels.append(y)
  images = np.concatenate(images).astype(np.uint8, copy=False)
  labels = np.concatenate(labels).astype(np.int32)
  if size and len(labels) < size:
    raise ValueError(f"size={size} is larger than the {name} {split} split ({len(labels)})")
  keys = np.arange(len(labels), dtype=np.int64)
  return InMemoryDataset(name=name, split=split, images=images, labels=labels, keys=keys,
                         num_classes=num_classes, split_size=split_size or len(labels))


def tfds_id_key(tfds_id: tf.Tensor) -> tf.Tensor:
  """A stable non-negative int64 key from a tfds id string (streamed datasets)."""
  return tf.strings.to_hash_bucket_fast(tfds_id, 2**63 - 1)


def load_streamed(name: str, split: str, data_dir: Optional[str] = None,
                  manual_dir: Optional[str] = None, shuffle_files: bool = False,
                  download: bool = True) -> tf.data.Dataset:
  """Streams a split as {"image", "label", "key"} with the key a hash of the tfds id."""
  ds, _ = _tfds_load(name, split, data_dir, download, manual_dir, shuffle_files=shuffle_files,
                     read_config=tfds.ReadConfig(add_tfds_id=True))
  return ds.map(lambda e: {"image": e["image"], "label": tf.cast(e["label"], tf.int32),
                           "key": tfds_id_key(e["tfds_id"])},
                num_parallel_calls=tf.data.AUTOTUNE)
