"""Data for the theory experiments: whole tfds splits as numpy arrays, in stored order.

Loading goes through `rethinking.data.datasets.load_in_memory` (tfds only, stored order, keys =
index) from `data_dir`: the argument, else $TFDS_DATA_DIR, else tfds's default
(~/tensorflow_datasets). Two views of the images:
  - `flat_pixels`: pixels scaled to [0, 1] and flattened (Section 5's kernels and Theorem 1);
  - `network_inputs`: centre 28x28 crop + per-image standardization (the networks' input,
    Appendix A), for the MLP in the Rademacher estimates.
Random labels are the project's keyed corruption (`corruption.corrupt_labels` with p = 1), so a
seed gives the same random labels here as in `experiments/train.py`.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def load_split(name: str, split: str, data_dir: Optional[str] = None, size: int = 0,
               download: bool = False):
  """uint8 images [N, H, W, C], int32 labels [N], num_classes; the first `size` (0 = all).

  data_dir: a tfds data dir; None means $TFDS_DATA_DIR, else tfds's default.
  """
  # The kernel and Theorem 1 paths are NumPy/SciPy: TensorFlow loads only when data is read.
  from rethinking.data import datasets  # pylint: disable=import-outside-toplevel
  data = datasets.load_in_memory(name, split, data_dir=data_dir, download=download, size=size)
  return data.images, data.labels, data.num_classes


def flat_pixels(images: np.ndarray, dtype=np.float64) -> np.ndarray:
  """uint8 [N, H, W, C] -> [N, H*W*C] in [0, 1] (HWC order), in `dtype`."""
  out = images.reshape(len(images), -1).astype(dtype)
  out /= 255.0
  return out


def network_inputs(images: np.ndarray, batch_size: int = 10000) -> np.ndarray:
  """uint8 [N, H, W, C] -> float32 [N, 28, 28, C]: centre crop, per-image standardization."""
  # The kernel and Theorem 1 paths are NumPy/SciPy: TensorFlow loads only when data is read.
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from rethinking.data import preprocessing  # pylint: disable=import-outside-toplevel
  out = []
  for start in range(0, len(images), batch_size):
    batch = tf.cast(images[start:start + batch_size], tf.float32) / 255.0
    out.append(preprocessing.preprocess_eval(batch).numpy())
  return np.concatenate(out)


def random_labels(labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
  """int32 [N]: every label redrawn uniformly (the paper's random labels), keyed by index."""
  # The kernel and Theorem 1 paths are NumPy/SciPy: TensorFlow loads only when data is read.
  from rethinking.data import corruption  # pylint: disable=import-outside-toplevel
  keys = np.arange(len(labels), dtype=np.int64)
  return corruption.corrupt_labels(labels, keys, seed=seed, prob=1.0,
                                   num_classes=num_classes).numpy().astype(np.int32)


def provenance(name: str, data_dir: Optional[str]) -> str:
  """What the data is, for printed lines and JSON: the dataset and the tfds dir it came from
  (so that a copy other than tfds's own download can be told apart later)."""
  # The kernel and Theorem 1 paths are NumPy/SciPy: TensorFlow loads only when data is read.
  from rethinking.data import datasets  # pylint: disable=import-outside-toplevel
  return f"{name} (tfds data dir {datasets.resolve_data_dir(data_dir)})"


def load_train_and_test(name: str, data_dir=None, train_size: int = 0, test_size: int = 0,
                        download: bool = False):
  """(train_images, train_labels, test_images, test_labels, num_classes): the first
  `train_size` / `test_size` examples of each split (0 = all), as `load_split` gives them."""
  train_images, train_labels, num_classes = load_split(name, "train", data_dir, size=train_size,
                                                       download=download)
  test_images, test_labels, _ = load_split(name, "test", data_dir, size=test_size,
                                           download=download)
  return train_images, train_labels, test_images, test_labels, num_classes
