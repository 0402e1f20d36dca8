"""tfds loading (mocked), preprocessing and the device-resident pipeline."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from rethinking import config as config_lib
from rethinking.data import datasets
from rethinking.data import pipeline
from rethinking.data import preprocessing


def test_cifar10_loads_in_stored_order_with_index_keys():
  with tfds.testing.mock_data(num_examples=40):
    full = datasets.load_in_memory("cifar10", "train")
    first = datasets.load_in_memory("cifar10", "train", size=15)
    again = datasets.load_in_memory("cifar10", "train")
  assert full.images.dtype == np.uint8 and full.images.shape == (40, 32, 32, 3)
  assert full.labels.dtype == np.int32 and full.num_classes == 10
  np.testing.assert_array_equal(full.keys, np.arange(40))
  np.testing.assert_array_equal(first.images, full.images[:15])
  np.testing.assert_array_equal(again.labels, full.labels)


def test_mnist_loads_in_memory():
  with tfds.testing.mock_data(num_examples=12):
    ds = datasets.load_in_memory("mnist", "test")
  assert ds.images.shape == (12, 28, 28, 1) and ds.labels.max() < 10


def test_size_larger_than_the_split_is_rejected():
  with tfds.testing.mock_data(num_examples=10):
    with pytest.raises(ValueError, match="larger than"):
      datasets.load_in_memory("cifar10", "train", size=11)


def test_missing_dataset_fails_at_once_with_one_line(tmp_path):
  with pytest.raises(datasets.DatasetUnavailableError) as err:
    datasets.load_in_memory("cifar10", "train", data_dir=str(tmp_path), download=False)
  message = str(err.value)
  assert "\n" not in message
  assert str(tmp_path) in message and "--data_dir" in message


def test_missing_imagenet_names_the_manual_dir(tmp_path):
  with pytest.raises(datasets.DatasetUnavailableError) as err:
    datasets.load_streamed("imagenet2012", "train", data_dir=str(tmp_path))
  assert "\n" not in str(err.value) and "manual" in str(err.value)


def test_streamed_keys_are_stable_hashes_of_tfds_ids():
  ids = tf.constant(["imagenet2012-train.tfrecord-00000-of-01024__0",
                     "imagenet2012-train.tfrecord-00000-of-01024__1"])
  a, b = datasets.tfds_id_key(ids).numpy(), datasets.tfds_id_key(ids).numpy()
  np.testing.assert_array_equal(a, b)
  assert a[0] != a[1] and (a >= 0).all()


def test_centre_crop_takes_the_middle_28x28():
  images = tf.reshape(tf.range(32 * 32, dtype=tf.float32), [1, 32, 32, 1])
  crop = preprocessing.centre_crop(images, 28).numpy()
  assert crop.shape == (1, 28, 28, 1)
  assert crop[0, 0, 0, 0] == 2 * 32 + 2 and crop[0, -1, -1, 0] == 29 * 32 + 29


def test_random_crop_is_a_window_and_varies_with_the_seed():
  images = tf.reshape(tf.range(32 * 32, dtype=tf.float32), [1, 32, 32, 1])
  images = tf.repeat(images, 16, axis=0)
  crops = preprocessing.random_crop(images, 28, tf.constant([1, 2], tf.int64)).numpy()
  again = preprocessing.random_crop(images, 28, tf.constant([1, 2], tf.int64)).numpy()
  other = preprocessing.random_crop(images, 28, tf.constant([1, 3], tf.int64)).numpy()
  np.testing.assert_array_equal(crops, again)
  assert not np.array_equal(crops, other)
  for crop in crops:
    top, left = divmod(int(crop[0, 0, 0]), 32)
    assert 0 <= top <= 4 and 0 <= left <= 4
    np.testing.assert_array_equal(crop[..., 0], np.arange(32 * 32).reshape(32, 32)[
        top:top + 28, left:left + 28])
  assert len({int(c[0, 0, 0]) for c in crops}) > 1  # per-image offsets


def test_per_image_standardization_whitens_each_image():
  x = tf.random.stateless_uniform([4, 28, 28, 3], [0, 1])
  y = preprocessing.per_image_standardization(x).numpy()
  np.testing.assert_allclose(y.reshape(4, -1).mean(1), 0, atol=1e-5)
  np.testing.assert_allclose(y.reshape(4, -1).std(1), 1, atol=1e-3)


def _prepared(n=300, kind="random_labels"):
  with tfds.testing.mock_data(num_examples=n):
    return pipeline.prepare(config_lib.DataConfig(name="cifar10"),
                            config_lib.CorruptionConfig(kind=kind, seed=3))


def test_prepare_corrupts_train_labels_only_and_fingerprints():
  data = _prepared()
  assert data.train_images.shape == (300, 32, 32, 3)
  assert data.train_images.dtype == tf.float32
  assert 0.7 < data.fraction_labels_changed < 1.0
  assert data.fraction_labels_changed == pytest.approx(
      np.mean(data.train_labels.numpy() != data.clean_train_labels))
  same = _prepared()
  assert same.corruption_fingerprint == data.corruption_fingerprint
  assert same.data_fingerprint == data.data_fingerprint
  clean = _prepared(kind="true")
  assert clean.data_fingerprint == data.data_fingerprint
  assert clean.corruption_fingerprint != data.corruption_fingerprint


def test_epoch_order_is_a_fixed_permutation_per_epoch():
  p = pipeline.ResidentPipeline(_prepared(), batch_size=32, seed=5, augment=False)
  o0, o0b, o1 = (p.epoch_order(e).numpy() for e in (0, 0, 1))
  assert sorted(o0) == list(range(300))
  np.testing.assert_array_equal(o0, o0b)
  assert not np.array_equal(o0, o1)
  assert p.steps_per_epoch == 300 // 32


def test_unaugmented_batches_are_the_centre_crops_in_epoch_order():
  data = _prepared()
  p = pipeline.ResidentPipeline(data, batch_size=32, seed=5, augment=False)
  order = p.epoch_order(0)
  x, y = p.train_batch(order, tf.constant(2), tf.constant(2))
  index = order.numpy()[64:96]
  expected = preprocessing.preprocess_eval(tf.gather(data.train_images, index)).numpy()
  np.testing.assert_allclose(x.numpy(), expected, atol=1e-6)
  np.testing.assert_array_equal(y.numpy(), data.train_labels.numpy()[index])
  # each replica takes its own slice of the global batch
  x1, y1 = p.train_batch(order, tf.constant(2), tf.constant(2), replica=1, num_replicas=2)
  np.testing.assert_array_equal(y1.numpy(), data.train_labels.numpy()[index[16:]])


def test_augmentation_changes_per_step_but_labels_stay_fixed():
  data = _prepared()
  p = pipeline.ResidentPipeline(data, batch_size=32, seed=5, augment=True)
  order = p.epoch_order(0)
  xa, ya = p.train_batch(order, tf.constant(0), tf.constant(0))
  xb, yb = p.train_batch(order, tf.constant(0), tf.constant(0))
  xc, yc = p.train_batch(order, tf.constant(9), tf.constant(0))  # same examples, later step
  assert xa.shape == (32, 28, 28, 3)
  np.testing.assert_array_equal(xa.numpy(), xb.numpy())
  assert not np.array_equal(xa.numpy(), xc.numpy())
  np.testing.assert_array_equal(ya.numpy(), yc.numpy())
  # evaluation never sees augmentation
  images, _ = p.eval_splits()["train"]
  np.testing.assert_allclose(images.numpy(), preprocessing.preprocess_eval(
      data.train_images).numpy(), atol=1e-6)


def test_batch_larger_than_the_training_set_is_rejected():
  with pytest.raises(ValueError, match="exceeds"):
    pipeline.ResidentPipeline(_prepared(n=20), batch_size=32, seed=0, augment=False)


# ---- the JPEG fidelity probe (issue 23) ---------------------------------------------------------
def _rms(a, b):
  return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def _smooth_images(n=16, seed=0):
  """Upsampled noise with fine grain: structure a JPEG pass visibly alters."""
  rng = np.random.default_rng(seed)
  small = rng.integers(0, 256, (n, 8, 8, 3)).astype(np.float32)
  images = tf.image.resize(small, (32, 32), method="bicubic").numpy()
  return np.clip(images + rng.normal(0, 8, images.shape), 0, 255).astype(np.uint8)


def test_jpeg_reencoding_off_the_stored_grid_loses_detail_again():
  """Our copy was decoded from JPEG q75: a second q75 pass on the same 8x8 grid changes little
  (measured 6.8 RMS here), on a grid shifted by half a block much more (11.6), as a first pass
  does (15.2). Without the shift the probe would barely degrade the copy."""
  from rethinking.data import jpeg  # pylint: disable=import-outside-toplevel
  stored = jpeg.reencode(_smooth_images(), 75, shift=0)  # stands for the q75 copy
  on_grid = _rms(stored, jpeg.reencode(stored, 75, shift=0))
  probe = jpeg.reencode(stored, 75)
  assert probe.dtype == np.uint8 and probe.shape == stored.shape
  assert _rms(stored, probe) > 1.5 * on_grid
  np.testing.assert_array_equal(probe, jpeg.reencode(stored, 75))  # a function of the image
  assert _rms(stored, jpeg.reencode(stored, 30)) > _rms(stored, jpeg.reencode(stored, 50))
  gray = _smooth_images(4)[..., :1]  # MNIST's one channel
  assert jpeg.reencode(gray, 50).shape == gray.shape
  with pytest.raises(ValueError, match="1-100"):
    jpeg.reencode(gray, 0)


def test_prepare_trains_and_tests_on_the_reencoded_images_and_keeps_the_data_fingerprint():
  from rethinking.data import jpeg  # pylint: disable=import-outside-toplevel
  corruption = config_lib.CorruptionConfig(kind="true")
  with tfds.testing.mock_data(num_examples=24):
    stored = datasets.load_in_memory("cifar10", "test")
    plain = pipeline.prepare(config_lib.DataConfig(), corruption)
    probe = pipeline.prepare(config_lib.DataConfig(jpeg_quality=50), corruption)
  want = jpeg.reencode(stored.images, 50).astype(np.float32) / 255.0
  np.testing.assert_allclose(probe.test_images.numpy(), want, atol=1e-6)
  assert not np.allclose(probe.train_images.numpy(), plain.train_images.numpy())
  assert probe.data_fingerprint == plain.data_fingerprint  # the same stored data
  assert probe.corruption_fingerprint != plain.corruption_fingerprint  # other arrays trained
  # What the pass did to the training images, for the report's trend: its own RMSE and that of
  # a pass at the stored copy's quality (the anchor), both against the stored images.
  with tfds.testing.mock_data(num_examples=24):
    stored_train = datasets.load_in_memory("cifar10", "train").images
  assert plain.jpeg is None
  assert probe.jpeg["quality"] == 50 and probe.jpeg["anchor_quality"] == 75
  assert probe.jpeg["rmse"] == pytest.approx(_rms(stored_train, jpeg.reencode(stored_train, 50)))
  assert probe.jpeg["anchor_rmse"] == pytest.approx(
      _rms(stored_train, jpeg.reencode(stored_train, 75)))
  assert probe.jpeg["rmse"] > probe.jpeg["anchor_rmse"] > 0
