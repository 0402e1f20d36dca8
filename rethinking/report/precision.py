"""The precision check (issue 23): does a run in mixed_bfloat16 train as the float32 run does?

Runs that differ in precision alone -- same model, data, corruption, regularization, schedule,
seed and kind of device -- are twins. Each twin in another precision is compared with the
float32 one on what the check names: the steps to fit (the trainer's first evaluation at 100%)
equal within one evaluation interval, and the whole-training-set and test accuracy within
ACCURACY_POINTS. While either twin is under way the accuracies are compared at their last common
evaluation and the verdict is "pending"; it is given when both have completed. A verdict holds
for its setting, n and seed alone: Inception's says nothing of AlexNet's. A passed check is
written into cells.SCHEDULE_PRECISIONS by hand, with its evidence; nothing here changes it.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional, Sequence

from rethinking.report import cells
from rethinking.report import markdown as md
from rethinking.report.runs import Run, ran_on, representative

ACCURACY_POINTS = 1.0  # the largest train or test accuracy difference (points) that agrees
AGREE, DIFFER, PENDING = "agree", "differ", "pending"


def twin_key(run: Run) -> tuple:
  """Equal for runs that differ in precision alone (and in execution details such as XLA)."""
  config = run.config
  neutral = dataclasses.replace(
      config, train=dataclasses.replace(config.train, precision=cells.PAPER_PRECISION))
  return (cells.setting_key(neutral), run.seed, run.device_kind)


def _measured(run: Run) -> Dict[int, object]:
  """step -> the run's (last) evaluation there that measured whole-train and test accuracy."""
  return {e.step: e for e in run.evaluations
          if e.train_accuracy is not None and e.test_accuracy is not None}


def _accuracies(run: Run, step: int) -> Dict[str, float]:
  """Whole-train and test accuracy (percent) of `run` at its evaluation at `step`."""
  evaluation = _measured(run)[step]
  return {"train": 100.0 * evaluation.train_accuracy, "test": 100.0 * evaluation.test_accuracy}


def _last_common_step(a: Run, b: Run) -> Optional[int]:
  """The last step at which both runs measured whole-train and test accuracy."""
  common = set(_measured(a)) & set(_measured(b))
  return max(common) if common else None


def _fit_agrees(reference: Run, other: Run, interval: int) -> Optional[bool]:
  """Steps to fit within one evaluation interval: True, False, or None (not decided yet)."""
  fits = [reference.results.steps_to_fit, other.results.steps_to_fit]
  if None not in fits:
    return abs(fits[0] - fits[1]) <= interval
  if fits == [None, None]:
    return True if reference.completed and other.completed else None
  # One twin fit at step s: the other differs once it has trained past s + interval unfit.
  fitted_at = next(s for s in fits if s is not None)
  unfit = other if other.results.steps_to_fit is None else reference
  return False if (unfit.results.step or 0) > fitted_at + interval else None


def compare(reference: Run, other: Run) -> dict:
  """One twin (`other`, not float32) against its float32 twin `reference`."""
  interval = (reference.results.steps_per_epoch or 0) * reference.config.train.eval_every
  step = _last_common_step(reference, other)
  accuracies = ({"float32": _accuracies(reference, step), "other": _accuracies(other, step)}
                if step is not None else None)
  fit_ok = _fit_agrees(reference, other, interval)
  checks = {"steps to fit": fit_ok}
  for split in ("train", "test"):
    checks[f"{split} accuracy"] = None if accuracies is None else (
        abs(accuracies["other"][split] - accuracies["float32"][split]) <= ACCURACY_POINTS)
  done = reference.completed and other.completed and step == reference.results.step == (
      other.results.step)
  failed = [name for name, ok in checks.items() if ok is False]
  # Mid-run accuracies may still converge; a fit missed by more than an interval will not.
  if checks["steps to fit"] is False or (done and failed):
    verdict = DIFFER
  elif done and None not in checks.values():
    verdict = AGREE
  else:
    verdict = PENDING
  label = reference.kind.cell.label if reference.kind.cell else (
      f"{reference.model}, {reference.kind.condition}")
  return {"label": label, "seed": reference.seed, "train_size": reference.train_size,
          "precision": other.results.precision, "float32_run": reference.path,
          "other_run": other.path, "evaluation_interval": interval,
          "steps_to_fit": {"float32": reference.results.steps_to_fit,
                           "other": other.results.steps_to_fit},
          "at_step": step, "accuracy": accuracies, "checks": checks, "failed": failed,
          "verdict": verdict, "ran_on": ran_on([reference, other], data=False)}


def check(runs: Mapping[str, Run]) -> List[dict]:
  """Every twin in another precision against its float32 twin (one run per precision: the
  one that went furthest), sorted by label and seed."""
  twins: Dict[tuple, Dict[str, List[Run]]] = {}
  for run in runs.values():
    twins.setdefault(twin_key(run), {}).setdefault(run.results.precision, []).append(run)
  out = []
  for by_precision in twins.values():
    if cells.PAPER_PRECISION not in by_precision or len(by_precision) < 2:
      continue
    reference = representative(by_precision[cells.PAPER_PRECISION])
    for precision, group in sorted(by_precision.items()):
      if precision != cells.PAPER_PRECISION:
        out.append(compare(reference, representative(group)))
  return sorted(out, key=lambda c: (c["label"], c["seed"], c["train_size"] or 0, c["precision"]))


def _fit_text(steps: Optional[int]) -> str:
  return "not fit" if steps is None else f"{steps:,}"


def markdown(comparisons: Sequence[dict]) -> List[str]:
  rows = []
  for c in comparisons:
    acc = c["accuracy"]
    pair = lambda split: ("-" if acc is None else  # noqa: E731
                          f"{md.percent(acc['float32'][split])} / "
                          f"{md.percent(acc['other'][split])}")
    fits = c["steps_to_fit"]
    verdict = c["verdict"] + (f" ({', '.join(c['failed'])})" if c["failed"] else "")
    rows.append((c["label"], f"{c['train_size'] or 0:,}", c["seed"], c["precision"],
                 f"{_fit_text(fits['float32'])} / {_fit_text(fits['other'])} "
                 f"(interval {c['evaluation_interval']:,})",
                 "-" if c["at_step"] is None else f"{c['at_step']:,}", pair("train"),
                 pair("test"), verdict, c["ran_on"]))
  return md.section(
      "Precision check: each other precision against float32",
      f"Twins differ in precision alone (same setting, n, seed and kind of device). They agree "
      f"when their steps to fit (100%) are within one evaluation interval and their whole-train "
      f"and test accuracies within {ACCURACY_POINTS:g} point; until both have completed the "
      f"accuracies are those at their last common evaluation and the verdict is "
      f"\"{PENDING}\". Precisions that count as the paper's schedule: "
      f"{', '.join(sorted(cells.SCHEDULE_PRECISIONS))} (rethinking/report/cells.py, changed by "
      f"hand on a passed check).",
      ("setting", "n", "seed", "precision", "steps to fit: float32 / it", "at step",
       "train acc (%): float32 / it", "test acc (%): float32 / it", "verdict", "ran on"), rows,
      "No twins: no setting has runs in float32 and in another precision.")
