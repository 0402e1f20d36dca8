"""The streamed ImageNet path of Table 2, on tfds mock data and a small Inception V3 input."""
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from rethinking import config as config_lib
from rethinking.data import imagenet
from rethinking.training import trainer


def test_streamed_label_corruption_is_fixed_per_key_and_binomial():
  n = 4000
  keys = tf.constant(np.arange(n) * 7919 + 3, tf.int64)

  def corrupted(order):
    ds = tf.data.Dataset.from_tensor_slices(tf.gather(keys, order))
    ds = ds.map(lambda k: imagenet.corrupt_label(0, k, 5, 0.5), num_parallel_calls=4)
    out = np.concatenate([b.numpy() for b in ds.batch(1000)])
    return out[np.argsort(order)]

  first = corrupted(np.arange(n))
  again = corrupted(np.random.default_rng(0).permutation(n))  # another order, same labels
  np.testing.assert_array_equal(first, again)
  changed = np.mean(first != 0)
  assert abs(changed - 0.5 * 0.999) < 4 * np.sqrt(0.25 / n)
  assert first.max() < 1000


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
  monkeypatch.setitem(registry._DEFAULT_INPUT, "inception_v3", ((75, 75, 3), 1000))
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
