"""Test setup: quiet TensorFlow, the repository on sys.path, and small shared fixtures."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests are CPU-only and offline
# A test must never reach real data: point tfds at an empty place unless a test mocks it.
os.environ["TFDS_DATA_DIR"] = os.path.join(os.path.dirname(__file__), "_no_tfds_data_here")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def small_images():
  """uint8 [64, 32, 32, 3] with distinct values per pixel position, and labels and keys."""
  rng = np.random.default_rng(1234)
  images = rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
  labels = rng.integers(0, 10, size=64).astype(np.int32)
  keys = np.arange(64, dtype=np.int64)
  return images, labels, keys
