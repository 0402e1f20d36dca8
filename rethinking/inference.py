"""Using a trained model again: load a run's `model.keras` and feed it images.

  import numpy as np, tensorflow_datasets as tfds
  from rethinking import inference
  model = inference.load_model("runs/mlp_1x512_cifar10_true_s0")
  images, labels = inference.test_split("cifar10")            # uint8 [N, 32, 32, 3], int [N]
  print(np.mean(inference.predict(model, images) == labels))   # test accuracy

Importing this module registers the project's custom layers (rethinking.models.layers: local
response normalization, the fused batch norm), which `keras.models.load_model` needs.
"""
from __future__ import annotations

import os
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from rethinking import rundir
from rethinking.data import datasets
from rethinking.data import preprocessing
from rethinking.models import layers  # noqa: F401  registers the custom layers for loading


def load_model(path: str):
  """A run directory (its model.keras) or a .keras file -> the Keras model, uncompiled."""
  if os.path.isdir(path):
    path = os.path.join(path, rundir.MODEL)
  return keras.models.load_model(path, compile=False)


def prepare_images(images):
  """uint8 [N, H, W, C] (or float in [0, 1]) -> what the CIFAR-10/MNIST networks take: the
  centre 28x28 crop, standardized per image (the evaluation path of training)."""
  images = tf.convert_to_tensor(images)
  if images.dtype == tf.uint8:
    images = tf.cast(images, tf.float32) / 255.0
  return preprocessing.preprocess_eval(tf.cast(images, tf.float32))


def predict(model, images, batch_size: int = 1000) -> np.ndarray:
  """Predicted classes, int [N], for raw images (prepared here, in batches)."""
  out = []
  for start in range(0, len(images), batch_size):
    logits = model(prepare_images(images[start:start + batch_size]), training=False)
    out.append(np.argmax(np.asarray(logits), axis=-1))
  return np.concatenate(out) if out else np.zeros([0], np.int64)


def test_split(name: str = "cifar10", data_dir: Optional[str] = None):
  """(images uint8 [N, H, W, C], labels int [N]) of a dataset's clean test split via tfds."""
  split = datasets.load_in_memory(name, "test", data_dir, download=True)
  return split.images, split.labels
