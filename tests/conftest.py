"""Test setup: quiet TensorFlow, the repository on sys.path, and small shared fixtures."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests are CPU-only and offline
# TensorFlow's own pooling allocator for CPU tensors, in the test processes and the apps they
# start. With the default (malloc), once a process has read data through tf.data from Python
# (tfds mock data, from_generator, py_function), glibc returns freed tensor memory to the kernel
# and faults it in again at the next step. Measured on 2 cores: in a pytest worker that had run
# ~220 tests, the Inception 256-image fit took 15.8M page faults and 64 s of system time, against
# 0.7M and 5 s where it ran earlier, and the suite spent 194 s in the kernel (88 s with this).
# The suite passes with either allocator; the apps keep TensorFlow's default.
# docs/measurements/suite_time/README.md
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
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
