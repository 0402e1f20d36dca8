"""Input pipeline: corrupted CIFAR-10/MNIST resident on the training device, batched in-graph.

`prepare` loads both splits through tfds, applies the (fixed) corruption and fingerprints the
result. `ResidentPipeline` keeps the arrays on the device(s) as non-trainable variables (one copy
per replica under a tf.distribute strategy) and produces a training batch from a step number
inside the compiled training step: an epoch's order is a stateless permutation keyed by
(seed, epoch), augmentation a stateless random crop keyed by (seed, step, position in the
global batch), the same for any number of replicas. No host round trip per
step, and a resumed run sees exactly the batches the uninterrupted run would have seen.

Batches have a fixed size (the last partial batch of an epoch is dropped; every epoch draws a
fresh order, so no example is left out systematically): fixed shapes let XLA compile once.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from rethinking import config as config_lib
from rethinking.data import corruption as corruption_lib
from rethinking.data import datasets
from rethinking.data import jpeg
from rethinking.data import preprocessing

# Stream ids of the pipeline's stateless seeds (distinct from the corruption's).
_ORDER_STREAM, _AUGMENT_STREAM = 101, 102


@dataclasses.dataclass(frozen=True)
class PreparedData:
  """Both splits after corruption. Images float32 [N, H, W, C] in [0, 1] units."""
  name: str
  train_images: tf.Tensor
  train_labels: tf.Tensor  # possibly corrupted, int32 [N]
  clean_train_labels: np.ndarray
  test_images: tf.Tensor
  test_labels: tf.Tensor  # always clean
  num_classes: int
  fraction_labels_changed: float
  data_fingerprint: str  # the clean uint8 arrays loaded (train and test)
  corruption_fingerprint: str  # the exact float32 arrays and labels trained and tested on
  jpeg: Optional[dict] = None  # a JPEG probe's jpeg.distortion of the training images

  @property
  def train_size(self) -> int:
    return int(self.train_labels.shape[0])

  @property
  def image_shape(self):
    return tuple(self.train_images.shape[1:])


def prepare(data: config_lib.DataConfig, corruption: config_lib.CorruptionConfig,
            device: Optional[str] = None) -> PreparedData:
  """Loads, corrupts (in-graph, on `device` when given) and fingerprints both splits."""
  train = datasets.load_in_memory(data.name, "train", data.data_dir, data.download,
                                  size=data.train_size)
  test = datasets.load_in_memory(data.name, "test", data.data_dir, data.download)
  # The data fingerprint stays that of the stored arrays; the re-encoded ones are what the
  # corruption fingerprint (below) covers.
  stored = (train.images, test.images)
  jpeg_distortion = None
  if data.jpeg_quality:
    train = dataclasses.replace(train, images=jpeg.reencode(train.images, data.jpeg_quality))
    test = dataclasses.replace(test, images=jpeg.reencode(test.images, data.jpeg_quality))
    jpeg_distortion = jpeg.distortion(stored[0], train.images, data.jpeg_quality)
  mean = std = None
  if corruption.kind == "gaussian":
    mean, std = corruption_lib.channel_stats(train.images)
  kwargs = dict(seed=corruption.seed, prob=corruption.prob, num_classes=train.num_classes,
                pixel_unit=corruption.pixel_unit, mean=mean, std=std)
  with tf.device(device) if device else contextlib.nullcontext():
    train_c = corruption_lib.corrupt(corruption.kind, train.images, train.labels, train.keys,
                                     split="train", **kwargs)
    test_c = corruption_lib.corrupt(corruption.kind, test.images, test.labels, test.keys,
                                    split="test", **kwargs)
  return PreparedData(
      name=data.name,
      train_images=train_c.images, train_labels=train_c.labels,
      clean_train_labels=train.labels,
      test_images=test_c.images, test_labels=test_c.labels,
      num_classes=train.num_classes,
      fraction_labels_changed=train_c.fraction_labels_changed,
      data_fingerprint=corruption_lib.fingerprint(stored[0], train.labels, stored[1],
                                                  test.labels),
      corruption_fingerprint=corruption_lib.fingerprint(train_c.images, train_c.labels,
                                                        test_c.images, test_c.labels),
      jpeg=jpeg_distortion)


class ResidentPipeline:
  """Device-resident data and in-graph batching for training and whole-split evaluation."""

  def __init__(self, data: PreparedData, *, batch_size: int, seed: int, augment: bool,
               strategy: Optional[tf.distribute.Strategy] = None):
    self.batch_size = batch_size
    self.seed = seed
    self.augment = augment
    self.num_train = data.train_size
    if self.num_train < batch_size:
      raise ValueError(f"batch size {batch_size} exceeds the {self.num_train} training examples")
    self.steps_per_epoch = self.num_train // batch_size
    strategy = strategy or tf.distribute.get_strategy()
    self._strategy = strategy
    with strategy.scope():
      def resident(value, name):
        return tf.Variable(value, trainable=False, name=name,
                           aggregation=tf.VariableAggregation.NONE)
      self.train_eval_images = resident(preprocessing.preprocess_eval(data.train_images),
                                        "train_eval_images")
      # Unaugmented training reads the same preprocessed array as evaluation (stored once).
      self.train_raw_images = (resident(data.train_images, "train_raw_images") if augment
                               else None)
      self.train_labels = resident(data.train_labels, "train_labels")
      self.test_images = resident(preprocessing.preprocess_eval(data.test_images), "test_images")
      self.test_labels = resident(data.test_labels, "test_labels")

  def epoch_order(self, epoch: tf.Tensor) -> tf.Tensor:
    """A permutation of the training indices, a pure function of (seed, epoch)."""
    seed = tf.stack([tf.constant(self.seed, tf.int64),
                     _ORDER_STREAM * (1 << 32) + tf.cast(epoch, tf.int64)])
    return tf.argsort(tf.random.stateless_uniform([self.num_train], seed))

  def train_batch(self, order: tf.Tensor, step: tf.Tensor, step_in_epoch: tf.Tensor,
                  replica: int = 0, num_replicas: int = 1):
    """This replica's slice of the global batch of `step` as (images, labels).

    order: this epoch's `epoch_order`; step: the global step. Replica r of R takes examples
    [r * B/R, (r + 1) * B/R) of the global batch B; an example's random crop is keyed by
    (seed, step, its position in the global batch), so any R trains on the same crops.
    """
    size = self.batch_size // num_replicas
    first = tf.cast(replica, tf.int32) * size  # position in the global batch
    start = tf.cast(step_in_epoch, tf.int32) * self.batch_size + first
    index = order[start:start + size]
    labels = tf.gather(self.train_labels, index)
    if not self.augment:
      return tf.gather(self.train_eval_images, index), labels
    seed = tf.constant([self.seed, _AUGMENT_STREAM], tf.int64)
    seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(step, tf.int64))
    # Folding 0 (the replica id earlier versions folded in) keeps one device's crops unchanged.
    seed = tf.random.experimental.stateless_fold_in(seed, 0)
    images = tf.gather(self.train_raw_images, index)
    return preprocessing.preprocess_train(images, seed, first, self.batch_size), labels

  def eval_splits(self):
    """{"train": (images, labels), "test": (...)}: whole corrupted train set without
    augmentation, and the test set with clean labels."""
    # The first local copy of each (mirrored) variable: a tf.function captures a distributed
    # variable instead of taking it as an input, so with train and test of one shape the test
    # pass would reuse the train pass's trace, and its data.
    local = lambda variable: self._strategy.experimental_local_results(variable)[0]  # noqa: E731
    return {"train": (local(self.train_eval_images), local(self.train_labels)),
            "test": (local(self.test_images), local(self.test_labels))}
