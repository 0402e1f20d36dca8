"""A PNG grid of training images under each of the paper's corruptions, with their labels.

  python experiments/preview_corruptions.py --out=preview.png   # data: $TFDS_DATA_DIR
  python experiments/preview_corruptions.py --data_dir=/path/to/tfds --pixel_unit=value

One row per corruption (true, labels p=0.5, random labels, shuffled pixels, random pixels,
Gaussian), the same training examples in every row; each tile shows the (possibly corrupted)
label, in red when it differs from the true one, and a line under each row says what the row
shows (shuffled pixels: one permutation for all images; random pixels: one per image). The
quickest way to see that a corruption is what Section 2 of the paper means.
"""
from __future__ import annotations

import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import config as config_lib  # noqa: E402

_DATASET = flags.DEFINE_enum("dataset", "cifar10", ("cifar10", "mnist"), "The tfds dataset.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir (default: $TFDS_DATA_DIR, else "
                                "tfds's default ~/tensorflow_datasets).")
_SEED = flags.DEFINE_integer("seed", 0, "Corruption seed.")
_NUM = flags.DEFINE_integer("num_images", 8, "Images per row, 1 to 32.", lower_bound=1,
                            upper_bound=32)
_PROB = flags.DEFINE_float("corrupt_prob", 0.5, "Probability for the partial label corruption, "
                           "0 to 1.", lower_bound=0.0, upper_bound=1.0)
_PIXEL_UNIT = flags.DEFINE_enum("pixel_unit", "pixel", config_lib.PIXEL_UNITS, "What the pixel "
                                "corruptions permute: pixel positions (all channels together) or "
                                "single values.")
_OUT = flags.DEFINE_string("out", "corruptions.png", "PNG file to write.")
cli.require_directory(_DATA_DIR)
cli.require_writable_file(_OUT, ".png")

ROWS = config_lib.CORRUPTIONS  # corrupt() gives each its label probability (--corrupt_prob: labels)


def caption(kind: str, prob: float, pixel_unit: str) -> str:
  """What a row shows, in the paper's terms (Section 2)."""
  unit = "pixel positions" if pixel_unit == "pixel" else "pixel values"
  return {
      "true": "the true labels and images",
      "labels": f"each label replaced with probability {prob:g} by a uniformly drawn class "
                "(which may be the true one)",
      "random_labels": "every label replaced by a uniformly drawn class",
      "shuffled_pixels": f"one permutation of {unit} for all images (train and test)",
      "random_pixels": f"an independent permutation of {unit} for each image",
      "gaussian": "Gaussian noise with the training set's per-channel mean and variance",
  }[kind]


def main(argv):
  cli.start(argv)
  # Imported after the flags are validated: these load TensorFlow (bad flags answer at once).
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from rethinking import host  # pylint: disable=import-outside-toplevel
  from rethinking.data import corruption  # pylint: disable=import-outside-toplevel
  from rethinking.data import datasets  # pylint: disable=import-outside-toplevel

  try:
    train = datasets.load_in_memory(_DATASET.value, "train", _DATA_DIR.value)
  except datasets.DatasetUnavailableError as e:
    cli.die(f"error: {e}")
  mean, std = corruption.channel_stats(train.images)  # the whole training set's statistics
  n = _NUM.value
  names = (["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
            "truck"] if _DATASET.value == "cifar10" else [str(i) for i in range(10)])
  fig, axes = plt.subplots(len(ROWS), n, figsize=(max(1.3 * n, 6.5), 1.8 * len(ROWS)),
                           squeeze=False)
  p = _PROB.value
  for row, kind in enumerate(ROWS):
    out = corruption.corrupt(kind, train.images[:n], train.labels[:n], train.keys[:n],
                             seed=_SEED.value, prob=p, num_classes=train.num_classes,
                             pixel_unit=_PIXEL_UNIT.value, mean=mean, std=std)
    images, labels = out.images.numpy(), out.labels.numpy()
    for col in range(n):
      ax = axes[row, col]
      img = np.clip(images[col], 0, 1)  # display only; Gaussian values are not clipped in use
      ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray")
      changed = labels[col] != train.labels[col]
      ax.set_title(names[labels[col]], fontsize=7, color="red" if changed else "black")
      ax.set_xticks([])
      ax.set_yticks([])
    title = f"labels p={p:g}" if kind == "labels" else kind
    axes[row, 0].set_ylabel(title, fontsize=8)
  fig.suptitle(f"{_DATASET.value} training examples 0-{n - 1}, seed {_SEED.value} "
               f"(red: label changed)", fontsize=9)
  fig.tight_layout(h_pad=1.6)
  for row, kind in enumerate(ROWS):  # under each row, after the layout has placed it
    bottom = axes[row, 0].get_position().y0
    fig.text(0.5, bottom - 0.012, caption(kind, p, _PIXEL_UNIT.value),
             ha="center", va="top", fontsize=7, style="italic")
  tmp = _OUT.value + ".tmp.png"
  fig.savefig(tmp, dpi=110)
  os.replace(tmp, _OUT.value)  # no half-written PNG if interrupted
  print(f"wrote {_OUT.value}: {len(ROWS)} corruptions x {n} images of {_DATASET.value} "
        f"train ({host.describe_device()})")


if __name__ == "__main__":
  cli.run(main)
