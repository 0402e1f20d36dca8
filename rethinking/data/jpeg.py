"""A fidelity probe of issue 23: the images re-encoded as JPEG at a lower quality.

The offline CIFAR-10 copy was decoded from a JPEG (q75) copy, so every accuracy measured on it
may differ from the pristine data's. Training on copies degraded further (q50, q30) and reading
the trend back toward q75 estimates that difference. A second JPEG pass on the grid of the first
mostly re-quantizes what that pass already kept; with the 8x8 block grid moved by half a block
(the image padded by GRID_SHIFT rows and columns before encoding, cropped after) the second pass
cuts across the first's blocks and loses detail again, as a first pass does.

A pure function of the image: the same bytes in every epoch, process and resume (libjpeg's
encoder and decoder are deterministic).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

GRID_SHIFT = 4  # pixels: half an 8x8 block (and a quarter of 4:2:0's 16x16 chroma block)
# The quality of the pass the stored copy went through: the anchor of the trend's estimate.
STORED_QUALITY = 75


def reencode(images: np.ndarray, quality: int, shift: int = GRID_SHIFT) -> np.ndarray:
  """uint8 [N, H, W, C] (C = 1 or 3) -> the same images after one JPEG pass at `quality`
  (1-100) with the block grid moved by `shift` pixels down and right."""
  if not 1 <= quality <= 100:
    raise ValueError(f"JPEG quality must be 1-100, got {quality}")
  channels = int(images.shape[-1])

  def one(image):
    # SYMMETRIC padding mirrors the edge rows, so the padding adds no edge of its own.
    padded = tf.pad(image, [[shift, 0], [shift, 0], [0, 0]], mode="SYMMETRIC")
    decoded = tf.io.decode_jpeg(tf.io.encode_jpeg(padded, quality=quality), channels=channels)
    return decoded[shift:, shift:, :]

  # tf.io has JPEG coding without another dependency; a tf.data map spreads it over the cores.
  ds = tf.data.Dataset.from_tensor_slices(images).map(
      one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(10000)
  out = [batch for batch in ds.as_numpy_iterator()]
  return np.concatenate(out).astype(np.uint8, copy=False) if out else images.copy()


def rmse(a: np.ndarray, b: np.ndarray) -> float:
  """Root mean squared difference of two uint8 image arrays, in pixel levels (0-255)."""
  return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def distortion(stored: np.ndarray, reencoded: np.ndarray, quality: int) -> dict:
  """What a probe's pass did to the stored images, for the trend back toward the pristine data:
  its RMSE, and the RMSE that a pass at STORED_QUALITY adds on the same shifted grid ("anchor"),
  which stands in for what the copy's own q75 pass took from the pristine images -- an
  underestimate, since a second pass finds less detail to remove than the first did
  (tests/test_data.py measures 11.6 against 15.2 RMS on synthetic images)."""
  anchor = reencoded if quality == STORED_QUALITY else reencode(stored, STORED_QUALITY)
  return {"quality": int(quality), "rmse": rmse(stored, reencoded),
          "anchor_quality": STORED_QUALITY, "anchor_rmse": rmse(stored, anchor),
          "measured_on": f"train split, {len(stored)} images"}
