"""A PNG grid of training images under each of the paper's corruptions, with their labels.

  python experiments/preview_corruptions.py --data_dir=../shared/tfds --out=preview.png

One row per corruption (true, labels p=0.5, random labels, shuffled pixels, random pixels,
Gaussian), the same training examples in every row; each tile shows the (possibly corrupted)
label, in red when it differs from the true one. The quickest way to see that a corruption is
what Section 2 of the paper means.
"""
from __future__ import annotations

import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import validation  # noqa: E402

_DATASET = flags.DEFINE_string("dataset", "cifar10", "cifar10 or mnist.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir (default: $TFDS_DATA_DIR).")
_SEED = flags.DEFINE_integer("seed", 0, "Corruption seed.")
_NUM = flags.DEFINE_integer("num_images", 8, "Images per row.")
_PROB = flags.DEFINE_float("corrupt_prob", 0.5, "Probability for the partial label corruption.")
_PIXEL_UNIT = flags.DEFINE_string("pixel_unit", "pixel", "pixel or value.")
_OUT = flags.DEFINE_string("out", "corruptions.png", "PNG file to write.")

ROWS = (("true", 0.0), ("labels", None), ("random_labels", 1.0), ("shuffled_pixels", 0.0),
        ("random_pixels", 0.0), ("gaussian", 0.0))


def main(argv):
  del argv
  if _DATASET.value not in ("cifar10", "mnist"):
    cli.die(f"error: --dataset={_DATASET.value}: must be cifar10 or mnist")
  if not 1 <= _NUM.value <= 32:
    cli.die(f"error: --num_images={_NUM.value}: must be in [1, 32]")
  if not 0.0 <= _PROB.value <= 1.0:
    cli.die(f"error: --corrupt_prob={_PROB.value}: must be in [0, 1]")
  if _PIXEL_UNIT.value not in ("pixel", "value"):
    cli.die(f"error: --pixel_unit={_PIXEL_UNIT.value}: must be pixel or value")
  if _DATA_DIR.value and not os.path.isdir(_DATA_DIR.value):
    cli.die(f"error: --data_dir={_DATA_DIR.value}: no such directory")
  if not _OUT.value.endswith(".png") or not validation.writable_location(
      os.path.dirname(os.path.abspath(_OUT.value))):
    cli.die(f"error: --out={_OUT.value}: must be a writable .png path")

  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from rethinking.data import corruption  # pylint: disable=import-outside-toplevel
  from rethinking.data import datasets  # pylint: disable=import-outside-toplevel
  from rethinking.training import runio  # pylint: disable=import-outside-toplevel

  try:
    train = datasets.load_in_memory(_DATASET.value, "train", _DATA_DIR.value)
  except datasets.DatasetUnavailableError as e:
    cli.die(f"error: {e}")
  mean, std = corruption.channel_stats(train.images)  # the whole training set's statistics
  n = _NUM.value
  names = (["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
            "truck"] if _DATASET.value == "cifar10" else [str(i) for i in range(10)])
  fig, axes = plt.subplots(len(ROWS), n, figsize=(1.3 * n, 1.55 * len(ROWS)), squeeze=False)
  for row, (kind, prob) in enumerate(ROWS):
    p = _PROB.value if prob is None else prob
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
  fig.tight_layout()
  tmp = _OUT.value + ".tmp.png"
  fig.savefig(tmp, dpi=110)
  os.replace(tmp, _OUT.value)  # no half-written PNG if interrupted
  print(f"wrote {_OUT.value}: {len(ROWS)} corruptions x {n} images of {_DATASET.value} "
        f"train ({runio.describe_device()})")


if __name__ == "__main__":
  cli.run(main)
