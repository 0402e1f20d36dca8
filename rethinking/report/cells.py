"""Which cell of the paper a run's configuration belongs to, and how its schedule differs.

TensorFlow-free. Every function takes the typed config (rethinking.config.RunConfig, as
RunConfig.from_dict reads it from results.json). A run belongs to a paper setting by what it
trained -- dataset, model, corruption and its probability, random crop, weight decay, dropout --
never by its directory name. `labels` with p = 1 is random labels and p = 0 true labels (their
corruption fingerprints are identical). `classify` does all of it once, when a run is loaded.
"""
from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Tuple, Union

from rethinking import config as config_lib
from rethinking import defaults
from rethinking import paper
from rethinking.config import RunConfig

PIXEL_CONDITIONS = config_lib.PIXEL_CORRUPTIONS
# Figure 1a's five data conditions, in the paper's legend order.
FIG1A_CONDITIONS = ("true_labels", "random_labels", "shuffled_pixels", "random_pixels",
                    "gaussian")
PAPER_PRECISION = "float32"


# ---- what a config trained ---------------------------------------------------------------------
def dataset(config: RunConfig) -> str:
  return config.data.name


def model_name(config: RunConfig) -> str:
  return config.model.name


def train_size(config: RunConfig) -> int:
  """The --train_size of the run: 0 means the whole training split."""
  return int(config.data.train_size or 0)


def weight_decay(config: RunConfig) -> float:
  return float(config.model.weight_decay or 0.0)


def dropout(config: RunConfig) -> float:
  return float(config.model.dropout or 0.0)


def random_crop(config: RunConfig) -> bool:
  return bool(config.train.augment)


def regularized(config: RunConfig) -> bool:
  """Any explicit regularization: weight decay, random crops or dropout."""
  return weight_decay(config) > 0 or random_crop(config) or dropout(config) > 0


def label_prob(config: RunConfig) -> Optional[float]:
  """The probability that a training label was redrawn (0 true labels, 1 random labels), or
  None for the pixel corruptions."""
  if config.corruption.kind in PIXEL_CONDITIONS:
    return None
  return config.corruption.label_prob


def condition(config: RunConfig) -> str:
  """true_labels, random_labels, labels (0 < p < 1), or the pixel corruption's name."""
  p = label_prob(config)
  if p is None:
    return config.corruption.kind
  return "true_labels" if p == 0.0 else "random_labels" if p == 1.0 else "labels"


# ---- the paper's schedule ----------------------------------------------------------------------
# Precisions that count as the paper's schedule (a precision here is named in "ran on" only, and
# its runs pool with float32's). float32 is the paper's. mixed_bfloat16 passed issue 23's check
# (docs/report/table1.md, "Precision check"): Table 1's Inception with true labels, n = 50,000,
# seed 0, 60 epochs, on a 2-core AVX-512/BF16 AMD EPYC, fit 100% whole-train at step 5,850 in
# both precisions and ended 100.00 / 82.21 (bf16) against 100.00 / 82.38 (float32); test accuracy
# 81.98-82.47 against 82.12-82.58 over the epochs from the fit on
# (docs/measurements/table1/table1-inception{,_bf16}/). Its scope is that: other models or
# settings in bf16 are trusted from it, not measured; mixed_float16 has no check.
SCHEDULE_PRECISIONS = frozenset({PAPER_PRECISION, "mixed_bfloat16"})


def _close(a, b) -> bool:
  return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-6)


def schedule_deviations(config: RunConfig) -> List[str]:
  """How the run's schedule differs from the paper's for its model (rethinking.defaults): batch
  size, epochs, step limit, learning rate, its decay, momentum, and a precision not (yet) shown
  to train alike. Empty at the paper's schedule. --stop_when_fit is not a deviation: a run
  stopped at its fit is the full run up to that step (`stops_when_fit`).

  An appendix row with a schedule of its own (paper.AppendixRow.schedule: the augmentation rows
  decayed the learning rate by 0.999 and "ran longer") is compared with that: its lr decay, and
  any number of epochs where the paper states none."""
  train, want = config.train, dict(defaults.defaults_for(model_name(config)))
  cell = paper_cell(config)
  epochs_stated = True
  if cell and cell.table == "appendix":
    want.update(dict(cell.row.schedule))
    epochs_stated = cell.row.epochs_stated
  out = []
  if train.batch_size != want["batch_size"]:
    out.append(f"batch {train.batch_size}")
  if epochs_stated and train.epochs != want["epochs"]:
    out.append(f"{train.epochs} epochs")
  if train.max_steps:
    out.append(f"at most {train.max_steps} steps")
  for key, words in (("learning_rate", "lr"), ("lr_decay", "lr decay"),
                     ("momentum", "momentum")):
    if not _close(getattr(train, key), want[key]):
      out.append(f"{words} {getattr(train, key):g}")
  if train.precision not in SCHEDULE_PRECISIONS:
    out.append(train.precision)
  return out


def probes(config: RunConfig) -> List[str]:
  """A fidelity probe's change (issue 23): the data re-encoded ("JPEG q50") or the weights
  evaluated ("EMA 0.9999 eval"). Such a run is never at the paper's setup, and draws its own
  lines."""
  out = [f"JPEG q{config.data.jpeg_quality}"] if config.data.jpeg_quality else []
  if config.train.eval_ema:
    out.append(f"EMA {config.train.eval_ema:g} eval")
  return out


def stops_when_fit(config: RunConfig) -> bool:
  return bool(config.train.stop_when_fit)


def length_is_ours(config: RunConfig) -> bool:
  """The run's paper row states no length (an appendix augmentation row: "training ran
  longer"): how long is ours, and a run stopped at the fit it trains toward is at the row's
  schedule."""
  cell = paper_cell(config)
  return bool(cell and cell.table == "appendix" and not cell.row.epochs_stated)


def at_paper_schedule(config: RunConfig) -> bool:
  """The paper's whole schedule on its data: no deviation, no probe, not stopped at the fit
  (but where the row's length is ours, length_is_ours)."""
  return (not schedule_deviations(config) and not probes(config)
          and (not stops_when_fit(config) or length_is_ours(config)))


def _setting_words(config: RunConfig) -> List[str]:
  """A probe, the coefficients the paper does not state and a non-default pixel unit."""
  words = probes(config)
  if weight_decay(config):
    layers = config.model.weight_decay_layers
    words.append(f"wd {weight_decay(config):g}"
                 + ("" if layers == "all" else " on hidden dense layers only"))
  if dropout(config):
    words.append(f"dropout {dropout(config):g}")
  unit = config.corruption.pixel_unit
  if condition(config) in ("shuffled_pixels", "random_pixels") and unit != "pixel":
    words.append(f"{unit}-wise permutation")
  return words


def variant_words(config: RunConfig) -> List[str]:
  """What, beyond the paper cell, tells a table line apart: the schedule's deviations, stop when
  fit (its final numbers are those at the fit), the setting's unstated coefficients."""
  return (schedule_deviations(config) + ["stop when fit"] * stops_when_fit(config)
          + _setting_words(config))


def variant_label(config: RunConfig) -> str:
  """A table line's schedule: 'paper schedule' or what differs, e.g. 'batch 128, 60 epochs,
  stop when fit'; a paper-schedule run stopped at its fit is 'paper schedule, stop when fit'."""
  words = schedule_deviations(config) or ["paper schedule"]
  return ", ".join(words + [w for w in variant_words(config) if w not in words])


def schedule_label(config: RunConfig) -> str:
  """A figure line's schedule: as variant_label without stop when fit (the line joins them)."""
  return ", ".join((schedule_deviations(config) or ["paper schedule"]) + _setting_words(config))


def schedule_key(config: RunConfig) -> tuple:
  """Runs with equal keys trained the same way on the same data (corruption, model, seed and
  where they stopped aside): one line of Figures 1a-1c and 2b."""
  return (dataset(config), train_size(config), tuple(schedule_deviations(config)),
          tuple(_setting_words(config)))


def setting_key(config: RunConfig) -> tuple:
  """Runs with equal keys differ in seed (or execution details such as XLA) alone: they pool
  into one table line."""
  return (model_name(config), condition(config), label_prob(config), random_crop(config),
          stops_when_fit(config), *schedule_key(config))


# ---- the paper's cells -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PaperCell:
  """A row of Table 1, Table 2 or the appendix table that a config belongs to."""
  table: str  # "table1" | "table2" | "appendix"
  setting: str  # the row's key in rethinking.paper (its flagfile's name)
  label: str  # e.g. "MLP 1x512, random labels"
  row: Union[paper.Table1Row, paper.Table2Row, paper.AppendixRow]


def _table1_label(row: paper.Table1Row) -> str:
  words = ["random labels" if row.random_labels else "true labels"]
  words += ["random crop"] * row.random_crop + ["weight decay"] * row.weight_decay
  return ", ".join([row.model, *words])


def _table2_label(row: paper.Table2Row) -> str:
  words = ["random labels" if row.random_labels else "true labels"]
  words += (["data aug"] * row.augmentation + ["dropout"] * row.dropout
            + ["weight decay"] * row.weight_decay)
  return ", ".join(["Inception V3", *words])


def paper_cell(config: RunConfig) -> Optional[PaperCell]:
  """The paper's row for this configuration, or None (e.g. 0 < p < 1, a pixel corruption,
  dropout on CIFAR-10, MNIST)."""
  cond, model = condition(config), model_name(config)
  if cond not in ("true_labels", "random_labels"):
    return None
  random_labels, crop, wd = cond == "random_labels", random_crop(config), weight_decay(config) > 0
  if dataset(config) == "imagenet2012" and model == "inception_v3":
    for row in paper.TABLE2:
      if (row.random_labels, row.augmentation, row.dropout, row.weight_decay) == (
          random_labels, crop, dropout(config) > 0, wd):
        return PaperCell("table2", row.setting, _table2_label(row), row)
    return None
  if dataset(config) != "cifar10" or dropout(config) > 0:
    return None
  for row in paper.TABLE1:
    if (paper.REGISTRY_NAMES[row.model] == model and row.random_labels == random_labels
        and (random_labels or (row.random_crop, row.weight_decay) == (crop, wd))
        and not (random_labels and (crop or wd))):
      return PaperCell("table1", row.setting, _table1_label(row), row)
  for row in paper.APPENDIX:
    if (random_labels and row.setting and paper.REGISTRY_NAMES[row.model] == model
        and (row.random_crop, row.weight_decay) == (crop, wd)):
      return PaperCell("appendix", row.setting,
                       f"{row.model}, random labels, {row.regularizer}", row)
  return None


def paper_numbers_line(config: RunConfig) -> Optional[str]:
  """One line with the paper's numbers for this configuration, e.g.
  'paper (Table 1, MLP 1x512, random labels): train 99.34 / test 10.61'; None when no cell of
  the paper matches. A --train_size run is told that the paper trained on the whole split."""
  cell = paper_cell(config)
  if cell is None:
    return None
  row = cell.row
  if cell.table == "table1":
    where, numbers = "Table 1", f"train {row.train} / test {row.test}"
  elif cell.table == "table2":
    where = "Table 2"
    numbers = (f"top-1 train {row.top1_train} / top-1 test {row.top1_test} / "
               f"top-5 test {row.top5_test}")
  else:
    where, numbers = "appendix", f"train {row.train}"
  line = f"paper ({where}, {cell.label}): {numbers}"
  if train_size(config):
    line += f" (on the whole training set; this run trained on {train_size(config)})"
  return line


# ---- each run, classified once ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Classification:
  """What the report needs to know of a config, computed once when a run is loaded."""
  cell: Optional[PaperCell]
  condition: str
  label_prob: Optional[float]
  regularized: bool
  at_paper_schedule: bool
  stops_when_fit: bool
  variant_label: str  # a table line's schedule
  schedule_label: str  # a figure line's schedule
  schedule_key: tuple  # one line of Figures 1a-1c and 2b
  setting_key: tuple  # one pooled table line

  @property
  def paper_setting(self) -> Optional[Tuple[str, str]]:
    return (self.cell.table, self.cell.setting) if self.cell else None


def classify(config: RunConfig) -> Classification:
  return Classification(
      cell=paper_cell(config), condition=condition(config), label_prob=label_prob(config),
      regularized=regularized(config), at_paper_schedule=at_paper_schedule(config),
      stops_when_fit=stops_when_fit(config), variant_label=variant_label(config),
      schedule_label=schedule_label(config), schedule_key=schedule_key(config),
      setting_key=setting_key(config))
