"""ImageNet (Table 2): a streamed tf.data pipeline with per-example fixed label corruption.

ImageNet does not fit in memory, so it streams from tfds (`imagenet2012`, manual download dir).
Each example's key is a 63-bit hash of its tfds id; its label is corrupted by CIFAR's function
(rethinking.data.corruption.corrupt_labels, keyed by the corruption seed and the key), so it is
the same in every epoch, process and shuffle order. Pixel corruptions are not part of Table 2 and
are not offered here.

Preprocessing follows the TensorFlow Inception V3 setup: pixels to [-1, 1]; evaluation resizes the
central 87.5% to 299x299; augmentation takes a random crop covering 8-100% of the image (aspect
3/4-4/3), resizes it to 299x299 and flips left-right at random, keyed by (seed, epoch, key).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import tensorflow as tf
import tensorflow_datasets as tfds

from rethinking import config as config_lib
from rethinking.data import corruption as corruption_lib
from rethinking.data import datasets

NUM_CLASSES = 1000
IMAGE_SIZE = 299
TRAIN_EXAMPLES = 1_281_167
VALIDATION_EXAMPLES = 50_000
# Evaluation of "training accuracy" uses this many training examples (in stored order): the
# whole 1.28M-image set would cost more than an epoch of training.
TRAIN_EVAL_EXAMPLES = 50_000
_AUGMENT_STREAM = 12


def _to_unit(image):
  return tf.image.convert_image_dtype(image, tf.float32)  # [0, 1]


def preprocess_eval(image: tf.Tensor, size: int = IMAGE_SIZE) -> tf.Tensor:
  image = tf.image.central_crop(_to_unit(image), 0.875)
  image = tf.image.resize(image, [size, size])
  return image * 2.0 - 1.0


def preprocess_train(image: tf.Tensor, seed: tf.Tensor, size: int = IMAGE_SIZE) -> tf.Tensor:
  """Inception-style random-area crop + flip; seed: int64 [2] (stateless)."""
  image = _to_unit(image)
  seeds = tf.random.experimental.stateless_split(seed, 2)
  begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seeds[0],
      min_object_covered=0.1, aspect_ratio_range=(0.75, 1.33), area_range=(0.08, 1.0),
      max_attempts=10, use_image_if_no_bounding_boxes=True)
  image = tf.slice(image, begin, crop_size)
  image = tf.image.resize(image, [size, size])
  image = tf.image.stateless_random_flip_left_right(image, seeds[1])
  return image * 2.0 - 1.0


@dataclasses.dataclass(frozen=True)
class StreamedData:
  """Builds the tf.data pipelines; nothing is read until a dataset is iterated."""
  data_dir: Optional[str]
  corruption: str
  prob: float
  seed: int  # order and augmentation (TrainConfig.seed)
  corruption_seed: int  # label corruption (CorruptionConfig.seed), as for CIFAR-10
  image_size: int = IMAGE_SIZE
  train_size: int = 0  # 0 = the whole training split
  manual_dir: Optional[str] = None
  download: bool = True

  def check_available(self) -> None:
    """Raises datasets.DatasetUnavailableError (one line) unless ImageNet can be read."""
    self._split("validation", shuffle_files=False)

  def version(self) -> str:
    try:
      return str(tfds.builder("imagenet2012", data_dir=self.data_dir).version)
    except Exception:  # pylint: disable=broad-except  (metadata only)
      return "unknown"

  def _split(self, split: str, shuffle_files: bool) -> tf.data.Dataset:
    return datasets.load_streamed("imagenet2012", split, self.data_dir, self.manual_dir,
                                  shuffle_files=shuffle_files, download=self.download)

  def _labelled(self, split: str):
    """A map over batches (images, labels, keys) -> (images, labels): training labels
    corrupted by CIFAR's function, whole batches at once (it draws per chunk of keys)."""
    prob = config_lib.label_probability(self.corruption, self.prob) if split == "train" else 0.0
    seed = self.corruption_seed

    def labelled(images, labels, keys):
      if prob > 0:
        labels = corruption_lib.corrupt_labels(labels, keys, seed, prob, NUM_CLASSES, "train")
      return images, tf.cast(labels, tf.int32)
    return labelled

  def train(self, batch_size: int, epoch: int, augment: bool) -> tf.data.Dataset:
    """One epoch of (images, corrupted labels), shuffled with a seed per epoch."""
    ds = self._split("train", shuffle_files=False)
    if self.train_size:
      ds = ds.take(self.train_size)
    ds = ds.shuffle(10_000, seed=self.seed * 100_003 + epoch, reshuffle_each_iteration=False)
    seed, size = self.seed, self.image_size

    def prepare(example):
      if augment:
        s = tf.random.experimental.stateless_fold_in(
            tf.constant([seed, _AUGMENT_STREAM], tf.int64), example["key"])
        image = preprocess_train(example["image"],
                                 tf.random.experimental.stateless_fold_in(s, epoch), size)
      else:
        image = preprocess_eval(example["image"], size)
      return image, example["label"], example["key"]

    return (ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=True).map(self._labelled("train"))
            .prefetch(tf.data.AUTOTUNE))

  def evaluation(self, split: str, batch_size: int) -> tf.data.Dataset:
    """(images, labels) without augmentation: the first TRAIN_EVAL_EXAMPLES training examples
    with their corrupted labels, or the whole validation split with its clean labels."""
    ds = self._split("train" if split == "train" else "validation", shuffle_files=False)
    if split == "train":
      ds = ds.take(min(self.train_size or TRAIN_EVAL_EXAMPLES, TRAIN_EVAL_EXAMPLES))
    size = self.image_size
    return (ds.map(lambda e: (preprocess_eval(e["image"], size), e["label"], e["key"]),
                   num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size).map(self._labelled(split)).prefetch(tf.data.AUTOTUNE))
