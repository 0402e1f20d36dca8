"""The streamed ImageNet path of Table 2, on tfds mock data and a small Inception V3 input."""
import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from rethinking import config as config_lib
from rethinking.data import corruption
from rethinking.data import datasets
from rethinking.data import imagenet
from rethinking.training import trainer


def _labels(ds):
  return np.concatenate([labels.numpy() for _, labels in ds])


def _stored(split):
  """(labels, keys) of a mock split in stored order (its images vary in size: not batched)."""
  ds = datasets.load_streamed("imagenet2012", split).map(lambda e: (e["label"], e["key"]))
  labels, keys = zip(*[(l.numpy(), k.numpy()) for l, k in ds])
  return np.array(labels), np.array(keys)


def test_streamed_labels_are_cifar_label_corruption_keyed_by_the_corruption_seed():
  with tfds.testing.mock_data(num_examples=64):
    clean, keys = _stored("train")
    want = corruption.corrupt_labels(clean, keys, seed=5, prob=0.5,
                                     num_classes=imagenet.NUM_CLASSES).numpy()
    stream = imagenet.StreamedData(data_dir=None, corruption="labels", prob=0.5, seed=1,
                                   corruption_seed=5, image_size=8)
    other_order_seed = dataclasses.replace(stream, seed=2)
    np.testing.assert_array_equal(_labels(stream.evaluation("train", 16)), want)
    np.testing.assert_array_equal(_labels(other_order_seed.evaluation("train", 16)), want)
    trained = _labels(stream.train(16, epoch=0, augment=False))  # shuffled: compare as multisets
    np.testing.assert_array_equal(np.sort(trained), np.sort(want))
    np.testing.assert_array_equal(_labels(stream.evaluation("test", 16)), _stored("validation")[0])
  assert 0 < np.mean(want != clean) < 1  # some labels changed, not all


def test_augmentation_is_a_fixed_function_of_its_seed():
  image = tf.cast(tf.random.stateless_uniform([60, 80, 3], [1, 2], maxval=255), tf.uint8)
  a = imagenet.preprocess_train(image, tf.constant([1, 2], tf.int64), size=32)
  b = imagenet.preprocess_train(image, tf.constant([1, 2], tf.int64), size=32)
  c = imagenet.preprocess_train(image, tf.constant([1, 3], tf.int64), size=32)
  assert a.shape == (32, 32, 3)
  np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert not np.array_equal(a.numpy(), c.numpy())
  e = imagenet.preprocess_eval(image, size=32).numpy()
  assert -1.0 <= e.min() and e.max() <= 1.0


def test_a_tiny_imagenet_run_trains_and_reports_top5(tmp_path, monkeypatch):
  from rethinking.models import registry
  monkeypatch.setitem(registry.MODELS, "inception_v3", registry.Entry(
      "inception_v3", input_shape=(75, 75, 3), num_classes=1000))
  monkeypatch.setattr(imagenet, "TRAIN_EVAL_EXAMPLES", 8)
  cfg = config_lib.RunConfig(
      data=config_lib.DataConfig(name="imagenet2012", train_size=8),
      corruption=config_lib.CorruptionConfig(kind="random_labels"),
      model=config_lib.ModelConfig(name="inception_v3"),
      train=config_lib.TrainConfig(epochs=2, batch_size=4, learning_rate=0.001, augment=True),
      logdir=str(tmp_path), run_name="r")
  with tfds.testing.mock_data(num_examples=8):
    results = trainer.train(cfg)
  results = results.to_json()
  assert results["status"] == "completed" and results["final"]["step"] == 4
  assert results["data"]["name"] == "imagenet2012" and results["data"]["train_evaluated"] == 8
  for key in ("train_accuracy", "test_accuracy", "train_top5_accuracy", "test_top5_accuracy"):
    assert 0.0 <= results["final"][key] <= 1.0
  assert results["final"]["train_top5_accuracy"] >= results["final"]["train_accuracy"]
