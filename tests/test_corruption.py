"""The corruptions of Section 2 are what the paper defines, and fixed per example."""
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from rethinking import config as config_lib
from rethinking.data import corruption

KINDS = corruption.KINDS


def _corrupt(kind, images, labels, keys, seed=7, prob=0.5, split="train", **kw):
  mean, std = corruption.channel_stats(images)
  out = corruption.corrupt(kind, images, labels, keys, seed=seed, prob=prob, num_classes=10,
                           split=split, mean=mean, std=std, **kw)
  return out.images.numpy(), out.labels.numpy(), out.fraction_labels_changed


@pytest.mark.parametrize("kind", KINDS)
def test_corruption_is_identical_across_two_calls(kind, small_images):
  a = _corrupt(kind, *small_images)
  b = _corrupt(kind, *small_images)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("kind", KINDS)
def test_another_seed_changes_the_corruption(kind, small_images):
  if kind == "true":
    pytest.skip("the true data has nothing random")
  a = _corrupt(kind, *small_images, seed=1)
  b = _corrupt(kind, *small_images, seed=2)
  assert not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]))


_CHILD = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from rethinking.data import corruption
rng = np.random.default_rng(1234)
images = rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
labels = rng.integers(0, 10, size=64).astype(np.int32)
keys = np.arange(64, dtype=np.int64)
mean, std = corruption.channel_stats(images)
for kind in corruption.KINDS:
  out = corruption.corrupt(kind, images, labels, keys, seed=7, prob=0.5, num_classes=10,
                           mean=mean, std=std)
  print(kind, corruption.fingerprint(out.images, out.labels))
"""


def test_corruption_is_identical_in_another_process(small_images):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  child = subprocess.run([sys.executable, "-c", _CHILD.format(root=root)], capture_output=True,
                         text=True, check=True, timeout=120)
  theirs = dict(line.split() for line in child.stdout.strip().splitlines())
  assert set(theirs) == set(KINDS)
  for kind in KINDS:
    images, labels, _ = _corrupt(kind, *small_images)
    assert corruption.fingerprint(images, labels) == theirs[kind], kind


@pytest.mark.parametrize("kind", KINDS)
def test_corruption_ignores_shuffle_order_and_batch_size(kind, small_images):
  images, labels, keys = small_images
  full_images, full_labels, _ = _corrupt(kind, images, labels, keys)
  order = np.random.default_rng(0).permutation(len(keys))
  mean, std = corruption.channel_stats(images)  # the dataset's statistics, not the batch's
  for batch in (1, 5, 64):
    parts_images, parts_labels = [], []
    for start in range(0, len(order), batch):
      idx = order[start:start + batch]
      out = corruption.corrupt(kind, images[idx], labels[idx], keys[idx], seed=7, prob=0.5,
                               num_classes=10, mean=mean, std=std)
      parts_images.append(out.images.numpy())
      parts_labels.append(out.labels.numpy())
    np.testing.assert_array_equal(np.concatenate(parts_images), full_images[order])
    np.testing.assert_array_equal(np.concatenate(parts_labels), full_labels[order])


def test_label_corruption_with_p0_is_the_identity(small_images):
  images, labels, keys = small_images
  out_images, out_labels, changed = _corrupt("labels", images, labels, keys, prob=0.0)
  np.testing.assert_array_equal(out_labels, labels)
  np.testing.assert_allclose(out_images, images / 255.0, atol=1e-7)
  assert changed == 0.0


@pytest.mark.parametrize("prob", [0.2, 0.5, 1.0])
def test_changed_fraction_is_binomial_around_0_9p(prob):
  n = 20000
  labels = np.random.default_rng(5).integers(0, 10, n).astype(np.int32)
  new = corruption.corrupt_labels(labels, np.arange(n), seed=3, prob=prob, num_classes=10)
  changed = float(np.mean(new.numpy() != labels))
  expected = 0.9 * prob
  half_width = 4 * np.sqrt(expected * (1 - expected) / n)  # ~4 sigma
  assert abs(changed - expected) < half_width, (changed, expected)


def test_reported_fraction_is_the_real_one(small_images):
  images, labels, keys = small_images
  _, new_labels, changed = _corrupt("labels", images, labels, keys, prob=0.5)
  assert changed == pytest.approx(np.mean(new_labels != labels))


def test_random_labels_are_uniform():
  n = 50000
  labels = np.zeros(n, np.int32)
  new = corruption.corrupt(
      "random_labels", np.zeros((n, 1, 1, 1), np.uint8), labels, np.arange(n), seed=11,
      num_classes=10).labels.numpy()
  counts = np.bincount(new, minlength=10)
  assert stats.chisquare(counts).pvalue > 1e-3, counts
  assert new.min() >= 0 and new.max() <= 9


def test_random_labels_do_not_depend_on_the_clean_label():
  n = 5000
  keys = np.arange(n)
  a = corruption.corrupt_labels(np.zeros(n, np.int32), keys, seed=4, prob=1.0, num_classes=10)
  b = corruption.corrupt_labels(np.full(n, 3, np.int32), keys, seed=4, prob=1.0, num_classes=10)
  np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("kind", ["labels", "random_labels"])
def test_test_labels_never_change(kind, small_images):
  images, labels, keys = small_images
  _, out_labels, changed = _corrupt(kind, images, labels, keys, prob=1.0, split="test")
  np.testing.assert_array_equal(out_labels, labels)
  assert changed == 0.0


@pytest.mark.parametrize("kind", config_lib.PIXEL_CORRUPTIONS)
def test_pixel_corruptions_keep_the_labels_and_change_the_images(kind, small_images):
  images, labels, keys = small_images
  out_images, out_labels, changed = _corrupt(kind, images, labels, keys)
  np.testing.assert_array_equal(out_labels, labels)
  assert changed == 0.0
  assert not np.allclose(out_images, images / 255.0)


@pytest.mark.parametrize("kind", config_lib.LABEL_CORRUPTIONS)
def test_label_corruptions_keep_the_images(kind, small_images):
  images, labels, keys = small_images
  out_images, _, _ = _corrupt(kind, images, labels, keys)
  np.testing.assert_allclose(out_images, images / 255.0, atol=1e-7)


@pytest.mark.parametrize("kind,prob,expected", [
    ("true", 0.5, 0.0), ("labels", 0.3, 0.3), ("random_labels", 0.0, 1.0),
    *[(kind, 0.5, 0.0) for kind in config_lib.PIXEL_CORRUPTIONS]])
def test_the_one_label_probability_rule_is_what_configs_and_run_directories_record(
    kind, prob, expected):
  assert config_lib.label_probability(kind, prob) == expected
  assert config_lib.CorruptionConfig(kind=kind, prob=prob).label_prob == expected
  recorded = {"corruption": {"kind": kind, "prob": prob}}
  assert config_lib.normalized_config(recorded)["corruption"]["prob"] == expected


def _position_images(n, h=8, w=8):
  """Images whose pixel at position q holds the value q in every channel (q < 64)."""
  base = np.arange(h * w, dtype=np.uint8).reshape(h, w, 1)
  return np.broadcast_to(base, (n, h, w, 3)).copy()


def _recovered_permutation(images):
  """The source position of each output pixel, from _position_images inputs."""
  return np.rint(images[..., 0] * 255).astype(int).reshape(len(images), -1)


def test_shuffled_pixels_use_one_permutation_for_all_images_and_splits():
  images = _position_images(6)
  keys = np.arange(6)
  train = corruption.corrupt("shuffled_pixels", images, np.zeros(6), keys, seed=9,
                             split="train").images.numpy()
  test = corruption.corrupt("shuffled_pixels", images, np.zeros(6), keys + 100, seed=9,
                            split="test").images.numpy()
  perms = np.concatenate([_recovered_permutation(train), _recovered_permutation(test)])
  assert (perms == perms[0]).all()
  assert sorted(perms[0]) == list(range(64)) and not (perms[0] == np.arange(64)).all()
  # whole pixels move: all channels of an output pixel come from one source pixel
  assert (train[..., 0] == train[..., 1]).all() and (train[..., 1] == train[..., 2]).all()


def test_shuffled_pixels_preserve_each_image_pixel_multiset(small_images):
  images, labels, keys = small_images
  out, _, _ = _corrupt("shuffled_pixels", images, labels, keys)
  ref = images.reshape(len(images), -1, 3) / 255.0
  got = out.reshape(len(images), -1, 3)
  for i in range(len(images)):
    np.testing.assert_allclose(np.sort(got[i], axis=0), np.sort(ref[i], axis=0), atol=1e-7)


def test_random_pixels_differ_per_image_and_preserve_the_multiset(small_images):
  images = _position_images(20)
  out = corruption.corrupt("random_pixels", images, np.zeros(20), np.arange(20),
                           seed=9).images.numpy()
  perms = _recovered_permutation(out)
  assert len({tuple(p) for p in perms}) == 20
  for p in perms:
    assert sorted(p) == list(range(64))
  real, labels, keys = small_images
  got, _, _ = _corrupt("random_pixels", real, labels, keys)
  ref = real.reshape(len(real), -1, 3) / 255.0
  for i in range(len(real)):
    np.testing.assert_allclose(np.sort(got[i].reshape(-1, 3), axis=0), np.sort(ref[i], axis=0),
                               atol=1e-7)


def test_value_permutation_mixes_channels():
  images = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(1, 8, 8, 3)
  out = corruption.corrupt("random_pixels", images, np.zeros(1), np.arange(1), seed=1,
                           pixel_unit="value").images.numpy()
  values = np.rint(out * 255).astype(int)
  assert sorted(values.ravel()) == list(range(192))
  assert (values % 3 != np.arange(3)).any()  # a value left its channel


def test_gaussian_matches_the_dataset_mean_and_variance():
  rng = np.random.default_rng(3)
  images = np.clip(rng.normal([60, 120, 200], [20, 40, 30], size=(3000, 8, 8, 3)), 0,
                   255).astype(np.uint8)
  mean, std = corruption.channel_stats(images)
  out = corruption.corrupt("gaussian", images, np.zeros(3000), np.arange(3000), seed=2,
                           mean=mean, std=std).images.numpy()
  np.testing.assert_allclose(out.reshape(-1, 3).mean(0), mean, atol=2e-3)
  np.testing.assert_allclose(out.reshape(-1, 3).std(0), std, rtol=1e-2)
  # independent of the image it replaces, different per image, not quantised
  assert not np.allclose(out[0], out[1])
  assert len(np.unique(out[:10])) > 1000


def test_channel_stats_match_numpy(small_images):
  images = small_images[0]
  mean, std = corruption.channel_stats(images)
  ref = images.reshape(-1, 3) / 255.0
  np.testing.assert_allclose(mean, ref.mean(0), rtol=1e-5)
  np.testing.assert_allclose(std, ref.std(0), rtol=1e-4)


def test_unknown_corruption_and_bad_probability_are_rejected(small_images):
  with pytest.raises(ValueError, match="unknown corruption"):
    _corrupt("blur", *small_images)
  with pytest.raises(ValueError, match="outside"):
    _corrupt("labels", *small_images, prob=1.5)


def test_fingerprint_changes_with_one_label():
  a = np.zeros(10, np.int32)
  b = a.copy()
  b[3] = 1
  assert corruption.fingerprint(a) != corruption.fingerprint(b)
  assert corruption.fingerprint(a) == corruption.fingerprint(a.copy())
