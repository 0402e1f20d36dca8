"""What "fit" means in the report: the one definition that the tables, figures and ledger use.

The trainer's `steps_to_fit` is the first evaluation at which every training example is fit
(whole-training-set accuracy exactly 100%, inference mode); it keeps that meaning. The report
also reads the evaluation history at 99% and 95%, for runs that end a few examples short of
100% (random labels often do). Each Figure 1b/1c line uses the highest level that every run of
the line reached, and says which; the ledger's random-label verdicts use `RANDOM_LABELS`.
"""
from __future__ import annotations

from typing import Iterable, Optional

LEVELS = (1.0, 0.99, 0.95)  # highest first
# A random-label row "fits" at 99% of the training set (issue 23's target; the paper's Table 1
# reports 99.34-100%).
RANDOM_LABELS = 0.99


def steps_to_reach(run, level: float) -> Optional[int]:
  """The first evaluated step at which the whole-training-set accuracy of `run` (a report Run)
  reached `level` (a fraction); at 1.0 the trainer's own steps_to_fit."""
  if level >= 1.0:
    return run.results.steps_to_fit
  for evaluation in run.evaluations:
    if (evaluation.train_accuracy or 0.0) >= level:
      return evaluation.step
  final = run.results.final.get("train_accuracy")
  return run.results.step if final is not None and final >= level else None


def reached(run, level: float) -> bool:
  return steps_to_reach(run, level) is not None


def common_level(runs: Iterable) -> Optional[float]:
  """The highest of LEVELS that every run reached, or None when some run reached none."""
  runs = list(runs)
  return next((level for level in LEVELS if runs and all(reached(r, level) for r in runs)),
              None)


def words(level: float) -> str:
  """'100%' or '>= 99%'."""
  return "100%" if level >= 1.0 else f">= {100 * level:g}%"


def fits(train_accuracy_percent: Optional[float], level: float = RANDOM_LABELS) -> bool:
  """A final whole-training-set accuracy (percent) that counts as fit at `level`."""
  return train_accuracy_percent is not None and train_accuracy_percent >= 100 * level - 1e-9
