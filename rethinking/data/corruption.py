"""Corruptions of Section 2: true, labels(p), random labels, shuffled/random pixels, Gaussian.

A corruption is a pure function of (seed, example key, clean example), computed in-graph with
stateless RNG. Random numbers for an example are drawn from a Philox stream seeded by
(seed, purpose, split, key // CHUNK) and indexed by key % CHUNK: the same example gets the same
corrupted label or pixels in every epoch, process, batch size and shuffle order, whichever other
examples are loaded with it. (TensorFlow has no vectorised per-element-seeded random op; one
stateless draw per chunk of 1024 keys is the cheapest exact equivalent.)

Images enter as uint8 [N, H, W, C] and leave as float32 [N, H, W, C] in [0, 1] units (Gaussian
noise is generated in float and is not clipped, so its mean and variance match the data's).
Training labels only are corrupted; test labels stay clean. Pixel corruptions apply to train and
test alike; shuffled pixels use one permutation for both.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from rethinking import config as config_lib

KINDS = config_lib.CORRUPTIONS
CHUNK = 1024
# Purpose ids: independent Philox streams for independent decisions.
_LABEL_MASK, _LABEL_CLASS, _SHUFFLED, _RANDOM_PIXELS, _GAUSSIAN = 1, 2, 3, 4, 5
_SPLITS = {"train": 0, "test": 1}


def _split_id(split: str) -> int:
  return _SPLITS.get(split, 2 + int(hashlib.sha256(split.encode()).hexdigest()[:6], 16))


def _keyed_random(seed: int, purpose: int, split_id: int, keys: tf.Tensor, shape, dist: str):
  """Random values [len(keys), *shape], each row a pure function of (seed, purpose, split, key)."""
  keys = tf.convert_to_tensor(keys, tf.int64)
  chunks, index = tf.unique(keys // CHUNK)
  base = tf.constant([seed, purpose * 1_000_003 + split_id], tf.int64)
  shape = [CHUNK] + list(shape)

  def draw(chunk):
    chunk_seed = tf.random.experimental.stateless_fold_in(base, chunk)
    if dist == "uniform":
      return tf.random.stateless_uniform(shape, chunk_seed)
    return tf.random.stateless_normal(shape, chunk_seed)

  table = tf.map_fn(draw, chunks, fn_output_signature=tf.float32)  # [U, CHUNK, *shape]
  return tf.gather_nd(table, tf.stack([tf.cast(index, tf.int64), keys % CHUNK], axis=1))


def corrupt_labels(labels, keys, seed: int, prob: float, num_classes: int,
                   split: str = "train") -> tf.Tensor:
  """Each label replaced with probability `prob` by a uniformly drawn class (may equal it)."""
  labels = tf.convert_to_tensor(labels, tf.int32)
  sid = _split_id(split)
  replace = _keyed_random(seed, _LABEL_MASK, sid, keys, [], "uniform") < prob
  uniform = _keyed_random(seed, _LABEL_CLASS, sid, keys, [], "uniform")
  drawn = tf.minimum(tf.cast(uniform * num_classes, tf.int32), num_classes - 1)
  return tf.where(replace, drawn, labels)


def _unit_images(images) -> tf.Tensor:
  images = tf.convert_to_tensor(images)
  if images.dtype == tf.uint8:
    return tf.cast(images, tf.float32) / 255.0
  return tf.cast(images, tf.float32)


def _permute(images: tf.Tensor, perm: tf.Tensor, pixel_unit: str) -> tf.Tensor:
  """Applies perm ([P] shared or [N, P] per image) to pixels (all channels together) or values."""
  n, h, w, c = (tf.shape(images)[i] for i in range(4))
  flat = (tf.reshape(images, [n, h * w, c]) if pixel_unit == "pixel"
          else tf.reshape(images, [n, h * w * c]))
  if perm.shape.rank == 1:
    out = tf.gather(flat, perm, axis=1)
  else:
    out = tf.gather(flat, perm, axis=1, batch_dims=1)
  return tf.reshape(out, [n, h, w, c])


def _permutation_size(images, pixel_unit: str) -> int:
  _, h, w, c = images.shape
  return h * w if pixel_unit == "pixel" else h * w * c


def shuffled_pixels(images, seed: int, pixel_unit: str = "pixel") -> tf.Tensor:
  """One permutation of pixel positions, the same for every image of every split."""
  images = _unit_images(images)
  size = _permutation_size(images, pixel_unit)
  perm = tf.argsort(tf.random.stateless_uniform([size], tf.constant([seed, _SHUFFLED], tf.int64)))
  return _permute(images, perm, pixel_unit)


def random_pixels(images, keys, seed: int, split: str = "train",
                  pixel_unit: str = "pixel") -> tf.Tensor:
  """An independent permutation of pixel positions for each image."""
  images = _unit_images(images)
  size = _permutation_size(images, pixel_unit)
  perms = tf.argsort(_keyed_random(seed, _RANDOM_PIXELS, _split_id(split), keys, [size],
                                   "uniform"), axis=1)
  return _permute(images, perms, pixel_unit)


def gaussian(images, keys, seed: int, mean, std, split: str = "train") -> tf.Tensor:
  """Per-image Gaussian noise with the dataset's per-channel mean and std ([0, 1] units).

  Only the shape of `images` is used: the noise replaces the image.
  """
  images = _unit_images(images)
  noise = _keyed_random(seed, _GAUSSIAN, _split_id(split), keys, images.shape[1:], "normal")
  return tf.constant(mean, tf.float32) + tf.constant(std, tf.float32) * noise


def channel_stats(images) -> Tuple[np.ndarray, np.ndarray]:
  """Per-channel mean and std of uint8 images in [0, 1] units (float64 accumulation)."""
  x = np.asarray(images).reshape(-1, np.asarray(images).shape[-1])
  mean = np.zeros(x.shape[1])
  sq = np.zeros(x.shape[1])
  for start in range(0, len(x), 1 << 22):  # chunks keep float64 temporaries small
    part = x[start:start + (1 << 22)].astype(np.float64) / 255.0
    mean += part.sum(0)
    sq += (part * part).sum(0)
  mean /= len(x)
  return mean.astype(np.float32), np.sqrt(sq / len(x) - mean * mean).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class CorruptedSplit:
  """images: float32 [N, H, W, C] in [0, 1] units; labels: int32 [N]."""
  images: tf.Tensor
  labels: tf.Tensor
  fraction_labels_changed: float


def corrupt(kind: str, images, labels, keys, *, seed: int, prob: float = 0.0,
            num_classes: int = 10, split: str = "train", pixel_unit: str = "pixel",
            mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None) -> CorruptedSplit:
  """Applies corruption `kind` to one split. Labels change only on the training split.

  prob is used by "labels" only ("random_labels" is prob 1). mean/std (per channel, [0, 1]
  units, of the training set) are required for "gaussian".
  """
  if kind not in KINDS:
    raise ValueError(f"unknown corruption {kind!r}; known: {', '.join(KINDS)}")
  if not 0.0 <= prob <= 1.0:
    raise ValueError(f"corruption probability {prob} is outside [0, 1]")
  clean = tf.convert_to_tensor(labels, tf.int32)
  new_labels = clean
  label_prob = config_lib.label_probability(kind, prob)
  if split == "train" and label_prob > 0:
    new_labels = corrupt_labels(clean, keys, seed, label_prob, num_classes, split)
  if kind == "shuffled_pixels":
    out = shuffled_pixels(images, seed, pixel_unit)
  elif kind == "random_pixels":
    out = random_pixels(images, keys, seed, split, pixel_unit)
  elif kind == "gaussian":
    if mean is None or std is None:
      raise ValueError("the gaussian corruption needs the training set's mean and std")
    out = gaussian(images, keys, seed, mean, std, split)
  else:
    out = _unit_images(images)
  changed = float(tf.reduce_mean(tf.cast(tf.not_equal(new_labels, clean), tf.float32)))
  return CorruptedSplit(images=out, labels=new_labels, fraction_labels_changed=changed)


def fingerprint(*arrays) -> str:
  """sha256 over the exact bytes (and shapes and dtypes) of the arrays trained on."""
  h = hashlib.sha256()
  for a in arrays:
    a = np.ascontiguousarray(a.numpy() if hasattr(a, "numpy") else a)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B"))
  return h.hexdigest()[:16]
