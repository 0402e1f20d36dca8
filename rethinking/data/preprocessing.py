"""Preprocessing of Appendix A: 28x28 crop (centre; random when augmenting), per-image whitening.

Images are float32 [N, H, W, C] in [0, 1] units (the output of `corruption.corrupt`).
Augmentation is random per training step (seeded by the step); corruption is fixed per example.
Explicit ops on both paths: Keras' RandomCrop behaves differently at inference than the paper's
centre crop (PITFALLS.md).
"""
from __future__ import annotations

import tensorflow as tf

CROP_SIZE = 28


def crop_size_for(image_size: int) -> int:
  """The paper crops 32x32 CIFAR-10 images to 28x28; smaller images (MNIST) are left whole."""
  return min(CROP_SIZE, image_size)


def centre_crop(images: tf.Tensor, size: int) -> tf.Tensor:
  h, w = images.shape[1], images.shape[2]
  top, left = (h - size) // 2, (w - size) // 2
  return images[:, top:top + size, left:left + size, :]


def random_crop(images: tf.Tensor, size: int, seed: tf.Tensor, first: tf.Tensor = 0,
                global_batch: int = None) -> tf.Tensor:
  """An independent random size x size crop of each image; seed: int64 [2] (stateless).

  images may be a replica's share of a global batch: images[i] is example `first + i` of
  `global_batch`, and its crop is row first + i of one [global_batch, 2] draw, so a batch split
  over any number of replicas is cropped exactly as it would be whole.
  """
  batch = images.shape[0] if images.shape[0] is not None else tf.shape(images)[0]
  h, w = images.shape[1], images.shape[2]
  span = tf.constant([h - size + 1, w - size + 1], tf.float32)
  draws = tf.random.stateless_uniform([global_batch or batch, 2], seed)
  offsets = tf.cast(draws[first:first + batch] * span, tf.int32)
  grid = tf.range(size)
  rows = offsets[:, :1] + grid  # [B, size]
  cols = offsets[:, 1:] + grid
  # Two batched gathers: exact pixels, no interpolation, vectorised over the batch.
  images = tf.gather(images, rows, axis=1, batch_dims=1)
  return tf.gather(images, cols, axis=2, batch_dims=1)


def per_image_standardization(images: tf.Tensor) -> tf.Tensor:
  """(x - mean) / max(std, 1/sqrt(#values)) per image, as the paper (TensorFlow's op)."""
  return tf.image.per_image_standardization(images)


def preprocess_eval(images: tf.Tensor) -> tf.Tensor:
  """Centre crop + whitening: the input the networks are evaluated (and, unaugmented, trained) on."""
  return per_image_standardization(centre_crop(images, crop_size_for(images.shape[1])))


def preprocess_train(images: tf.Tensor, seed: tf.Tensor, first: tf.Tensor = 0,
                     global_batch: int = None) -> tf.Tensor:
  """Random crop + whitening for augmented training; seed: int64 [2], one per step; first and
  global_batch place a replica's share in the global batch (see random_crop)."""
  return per_image_standardization(random_crop(images, crop_size_for(images.shape[1]), seed,
                                               first, global_batch))
