"""Training data behind one face: device-resident CIFAR-10/MNIST or streamed ImageNet.

The compiled multi-step call (steps.py) asks a source four things, whatever the data:
  host_inputs(start, num_steps)   on the host, before a call: what the call takes as argument
  begin_call(inputs, start)       in the graph, once per call (an epoch's order, an iterator)
  step_inputs(context, step)      in the graph, per step: the arguments of `strategy.run`
  replica_batch(*args)            in each replica: (images, labels) of its share of the batch
and `evaluate(evaluator, splits)` for the whole-split passes. A call never crosses an epoch.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Protocol, Tuple

import tensorflow as tf

from rethinking import config as config_lib
from rethinking import rundir
from rethinking.data import datasets
from rethinking.data import imagenet
from rethinking.data import pipeline as pipeline_lib
from rethinking.data import preprocessing
from rethinking.training import steps


@dataclasses.dataclass(frozen=True)
class DataSummary:
  """What results.json records about the data a run trained and was evaluated on."""
  name: str
  train_size: int
  test_size: int
  fingerprint: str  # the clean data loaded
  corruption_fingerprint: str  # the corrupted arrays trained and tested on
  fraction_labels_changed: Optional[float]
  train_evaluated: int  # examples of the training set in the whole-train-set evaluation
  jpeg: Optional[dict] = None  # a JPEG probe's re-encoding distortion (data.jpeg.distortion)

  @property
  def fingerprints(self) -> dict:
    return {"data": self.fingerprint, "corruption": self.corruption_fingerprint}


class Source(Protocol):
  """The face every data source shows the trainer and the compiled call (see the module's
  docstring for when each is called)."""
  steps_per_epoch: int
  input_shape: Tuple[int, int, int]
  num_classes: int
  summary: DataSummary

  def host_inputs(self, start: int, num_steps: int) -> tuple: ...
  def begin_call(self, inputs, start): ...
  def step_inputs(self, context, step) -> tuple: ...
  def replica_batch(self, *args) -> Tuple[tf.Tensor, tf.Tensor]: ...
  def evaluate(self, evaluator, splits=("train", "test")) -> Dict[str, float]: ...


class ResidentSource:
  """CIFAR-10/MNIST on the device(s) (rethinking.data.pipeline): batches are gathered in-graph
  from the step number, so no host work happens between steps."""

  def __init__(self, data: pipeline_lib.PreparedData, *, batch_size: int, seed: int,
               augment: bool, strategy: tf.distribute.Strategy):
    self.pipeline = pipeline_lib.ResidentPipeline(
        data, batch_size=batch_size, seed=seed, augment=augment, strategy=strategy)
    self.batch_size = batch_size
    self.steps_per_epoch = self.pipeline.steps_per_epoch
    crop = preprocessing.crop_size_for(data.image_shape[0])
    self.input_shape = (crop, crop, data.image_shape[-1])
    self.num_classes = data.num_classes
    self.summary = DataSummary(
        name=data.name, train_size=data.train_size, test_size=int(data.test_labels.shape[0]),
        fingerprint=data.data_fingerprint, corruption_fingerprint=data.corruption_fingerprint,
        fraction_labels_changed=data.fraction_labels_changed, train_evaluated=data.train_size,
        jpeg=data.jpeg)

  def host_inputs(self, start: int, num_steps: int) -> tuple:
    del start, num_steps
    return ()

  def begin_call(self, inputs, start):
    del inputs
    epoch = start // self.steps_per_epoch
    return epoch, self.pipeline.epoch_order(epoch)

  def step_inputs(self, context, step):
    epoch, order = context
    return order, step, step - epoch * self.steps_per_epoch

  def replica_batch(self, order, step, step_in_epoch):
    ctx = tf.distribute.get_replica_context()
    return self.pipeline.train_batch(order, step, step_in_epoch,
                                     ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync)

  def evaluate(self, evaluator, splits=("train", "test")) -> dict:
    out = {}
    for split, (images, labels) in self.pipeline.eval_splits().items():
      if split in splits:
        loss, correct = evaluator.whole_split(images, labels)
        out.update(steps.split_metrics(split, float(loss), int(correct), int(labels.shape[0])))
    return out


class StreamedSource:
  """ImageNet from tfds as one tf.data stream per epoch (rethinking.data.imagenet), distributed
  over the replicas; a call continues the epoch's iterator where the previous call left it."""

  def __init__(self, data: config_lib.DataConfig, corruption: config_lib.CorruptionConfig, *,
               batch_size: int, seed: int, augment: bool, image_size: int,
               strategy: tf.distribute.Strategy):
    self.stream = imagenet.StreamedData(
        data_dir=data.data_dir, corruption=corruption.kind, prob=corruption.prob, seed=seed,
        corruption_seed=corruption.seed, image_size=image_size, train_size=data.train_size,
        download=data.download)
    self.stream.check_available()
    self.batch_size, self.augment, self.strategy = batch_size, augment, strategy
    size = data.train_size or imagenet.TRAIN_EXAMPLES
    self.steps_per_epoch = max(size // batch_size, 1)
    self.input_shape = (image_size, image_size, 3)
    self.num_classes = imagenet.NUM_CLASSES
    # The exact arrays of a streamed 1.28M-image set cannot be hashed up front: the fingerprint
    # covers what determines them (dataset version, subset, corruption and its seed).
    ident = rundir.json_fingerprint({"dataset": "imagenet2012", "version": self.stream.version(),
                                     "train_size": data.train_size})
    self.summary = DataSummary(
        name="imagenet2012", train_size=size, test_size=imagenet.VALIDATION_EXAMPLES,
        fingerprint=ident, corruption_fingerprint=rundir.json_fingerprint(
            # "labels": the draw is CIFAR's corrupt_labels, not the old imagenet.corrupt_label
            # copy, so a checkpoint trained on those labels refuses to resume.
            {"data": ident, "corruption": dataclasses.asdict(corruption),
             "labels": "corruption.corrupt_labels"}),
        fraction_labels_changed=None,
        train_evaluated=min(size, imagenet.TRAIN_EVAL_EXAMPLES))
    self._iterator, self._next_start = None, None

  def host_inputs(self, start: int, num_steps: int) -> tuple:
    if self._next_start != start or start % self.steps_per_epoch == 0:
      # A new epoch's stream, or a resume inside one: skip to the step.
      epoch, in_epoch = divmod(start, self.steps_per_epoch)
      ds = self.stream.train(self.batch_size, epoch, self.augment).skip(in_epoch)
      self._iterator = iter(self.strategy.experimental_distribute_dataset(ds))
    self._next_start = start + num_steps
    return (self._iterator,)

  def begin_call(self, inputs, start):
    del start
    return inputs[0]

  def step_inputs(self, iterator, step):
    del step
    return next(iterator)

  def replica_batch(self, images, labels):
    return images, labels

  def evaluate(self, evaluator, splits=("train", "test")) -> dict:
    """Top-1/top-5 accuracy and loss on the first TRAIN_EVAL_EXAMPLES training examples
    (corrupted labels) and on the whole validation split (clean labels)."""
    out = {}
    for split in splits:
      n = loss = correct = top5 = 0
      for images, labels in self.stream.evaluation(split, self.batch_size):
        if evaluator.stop_requested():
          break
        batch_loss, batch_correct, batch_top5 = evaluator.batch(images, labels)
        n += int(labels.shape[0])
        loss += float(batch_loss)
        correct += int(batch_correct)
        top5 += int(batch_top5)
      out.update(steps.split_metrics(split, loss, correct, n, top5_correct=top5))
    return out


def make_source(cfg: config_lib.RunConfig, strategy: tf.distribute.Strategy,
                data: Optional[pipeline_lib.PreparedData] = None,
                image_size: int = 0) -> Source:
  """The source for a run: streamed for ImageNet, resident otherwise (`data` given or loaded
  and corrupted here). image_size: the model's input side, for streamed data."""
  train = cfg.train
  if cfg.data.name in datasets.STREAMED:
    return StreamedSource(cfg.data, cfg.corruption, batch_size=train.batch_size,
                          seed=train.seed, augment=train.augment, image_size=image_size,
                          strategy=strategy)
  data = data or pipeline_lib.prepare(cfg.data, cfg.corruption)
  return ResidentSource(data, batch_size=train.batch_size, seed=train.seed,
                        augment=train.augment, strategy=strategy)
