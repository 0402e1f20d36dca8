"""What training after the fit changes: the evidence for an epoch budget (issue 23).

The paper gives AlexNet and the MLPs 100 epochs and Inception none; ours is chosen by running one
row past its fit and asking whether test accuracy still moves. For every full-data run that
reached 100% whole-train accuracy and was evaluated after it, this lists the test accuracy at
the fit, ten epochs later, its best after the fit, its last, and the epoch from which every
later test accuracy stays within SETTLE_POINTS of the last one ("settled"). For a run still
under way the last evaluation is not the end: its "settled" is provisional and says so.
"""
from __future__ import annotations

from typing import List, Mapping, Optional

from rethinking.report import markdown as md
from rethinking.report.runs import Run, ran_on

SETTLE_POINTS = 0.5  # test accuracy (points) within which a run has settled
LATER_EPOCHS = 10  # the "ten epochs after the fit" column


def _tests_from(run: Run, first_step: int) -> List[tuple]:
  """(step, test accuracy in percent) of every evaluation at or after `first_step` that had a
  test pass, in step order (a step evaluated twice: its last record)."""
  out = {e.step: 100.0 * e.test_accuracy for e in run.evaluations
         if e.test_accuracy is not None and e.step >= first_step}
  return sorted(out.items())


def settled_epoch(tests: List[tuple], points: float = SETTLE_POINTS) -> Optional[float]:
  """The first epoch from which every test accuracy is within `points` of the last one;
  `tests` are (epoch, accuracy) in order."""
  if not tests:
    return None
  last = tests[-1][1]
  epoch = tests[-1][0]
  for e, acc in reversed(tests):
    if abs(acc - last) > points:
      break
    epoch = e
  return epoch


def summarize(run: Run) -> Optional[dict]:
  """The after-the-fit line of one run, or None when it has nothing after a fit to show."""
  per_epoch = run.results.steps_per_epoch
  fit_step = run.results.steps_to_fit
  if not run.full_data or fit_step is None or not per_epoch:
    return None
  tests = [(step / per_epoch, acc) for step, acc in _tests_from(run, fit_step)]
  if len(tests) < 2:
    return None
  best_epoch, best = max(tests, key=lambda t: (t[1], -t[0]))
  later = next(((e, a) for e, a in tests if e >= fit_step / per_epoch + LATER_EPOCHS), None)
  label = run.kind.cell.label if run.kind.cell else f"{run.model}, {run.kind.condition}"
  return {"run": run.path, "label": label,
          "seed": run.seed, "precision": run.results.precision, "status": run.status,
          "final": run.completed, "fit_epoch": fit_step / per_epoch, "last_epoch": tests[-1][0],
          "test_at_fit": tests[0][1],
          "test_later": None if later is None else {"epoch": later[0], "test": later[1]},
          "best_after_fit": {"epoch": best_epoch, "test": best}, "last_test": tests[-1][1],
          "settled_epoch": settled_epoch(tests), "ran_on": ran_on([run])}


def after_fit(runs: Mapping[str, Run]) -> List[dict]:
  lines = [s for s in (summarize(r) for r in runs.values()) if s is not None]
  return sorted(lines, key=lambda s: (s["label"], s["seed"], s["precision"], s["run"]))


def markdown(lines: List[dict]) -> List[str]:
  rows = []
  for s in lines:
    later, best = s["test_later"], s["best_after_fit"]
    rows.append((s["label"], s["seed"], s["precision"],
                 f"{s['last_epoch']:g} ({s['status']})", f"{s['fit_epoch']:g}",
                 md.number(s["test_at_fit"]),
                 "-" if later is None else f"{md.number(later['test'])} (epoch {later['epoch']:g})",
                 f"{md.number(best['test'])} (epoch {best['epoch']:g})",
                 md.number(s["last_test"]),
                 f"{s['settled_epoch']:g}" + ("" if s["final"] else " (so far)"), s["ran_on"]))
  return md.section(
      "After the fit: does test accuracy still move? (the epoch budget)",
      f"Full-data runs that reached 100% whole-train accuracy, from the fit on: test accuracy at "
      f"the fit, {LATER_EPOCHS} epochs later, its best after the fit, its last, and the epoch "
      f"from which every later test accuracy is within {SETTLE_POINTS:g} point of the last "
      f"(\"settled\"; provisional while the run is under way). Inception's epoch budget "
      f"(rethinking/defaults.py) is chosen from these lines.",
      ("setting", "seed", "precision", "epochs evaluated", "fit at epoch", "test at fit (%)",
       f"test {LATER_EPOCHS} epochs later (%)", "best test after fit (%)", "last test (%)",
       "settled from epoch", "ran on"), rows,
      "No full-data run has evaluations after a fit.")
