"""Issue 23's fidelity probes, each beside the run it probes.

A probe trains a Table 1 conv-net setting on the whole training set with one thing changed: the
data re-encoded as JPEG at a lower quality, evaluations of an exponential moving average of the
weights, or batch 64. Its reference is the run of the same setting, seed, precision and kind of
device without the change, whatever its epoch budget and whether it stopped at its fit (up to
the fit both are the same training). Two readings:
- at each one's fit: the epoch it first reached 100% whole-train accuracy and its test accuracy
  there (a probe run with --stop_when_fit ends there);
- at the same epoch: the reference's test accuracy at the probe's last evaluated epoch. For the
  EMA probe, whose training is the reference's step for step, this is the clean comparison.
JPEG probes also give a trend: test accuracy at the fit against the RMSE their pass added to the
stored images (the reference at 0), a least-squares line, and its value at minus the anchor RMSE
(what one q75 pass on the same shifted grid adds to the copy: a stand-in for what the copy's own
q75 pass took from the pristine images, likely an underestimate). That value is an estimate of
the accuracy on pristine CIFAR-10 and is labelled as one. Nothing here changes a default: a
probe that justifies one is written into rethinking/defaults.py by hand, with its evidence in
docs/measurements.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional, Sequence

from rethinking import defaults
from rethinking.config import RunConfig
from rethinking.report import cells
from rethinking.report import markdown as md
from rethinking.report.runs import Run, Unfinished, ran_on, representative

PROBED_MODELS = ("alexnet_small", "inception_small")
PROBE_BATCH_SIZE = 64


def probe_words(config: RunConfig) -> List[str]:
  """What a probe changed ("JPEG q50", "EMA 0.9999 eval", "batch 64"); empty for a run that is
  no probe (another model, a batch size other than the probe's)."""
  if cells.model_name(config) not in PROBED_MODELS:
    return []
  words = cells.probes(config)
  default_batch = defaults.defaults_for(cells.model_name(config))["batch_size"]
  if config.train.batch_size == PROBE_BATCH_SIZE != default_batch:
    words.append(f"batch {PROBE_BATCH_SIZE}")
  return words


def _without_probe(config: RunConfig) -> RunConfig:
  """The config with every probe change undone, and the epoch budget and stopping at the fit
  set aside (runs that differ there are the same training up to the fit)."""
  want = defaults.defaults_for(cells.model_name(config))
  batch = want["batch_size"] if config.train.batch_size == PROBE_BATCH_SIZE else (
      config.train.batch_size)
  train = dataclasses.replace(config.train, eval_ema=0.0, batch_size=batch, stop_when_fit=False,
                              epochs=want["epochs"], max_steps=0)
  return dataclasses.replace(config, train=train,
                             data=dataclasses.replace(config.data, jpeg_quality=0))


def _key(run: Run) -> tuple:
  return (cells.setting_key(_without_probe(run.config)), run.seed, run.results.precision,
          run.device_kind)


def _tests_by_epoch(run: Run) -> Dict[float, float]:
  """epoch -> test accuracy (percent) of every evaluation with a test pass (a step evaluated
  twice: its last record)."""
  per_epoch = run.results.steps_per_epoch
  return {round(e.step / per_epoch, 6): 100.0 * e.test_accuracy for e in run.evaluations
          if e.test_accuracy is not None and per_epoch}


def _at_fit(run: Run) -> Optional[dict]:
  """{"epoch", "test"} at the run's fit, or None when it has not fit (or has no test there)."""
  fit, per_epoch = run.results.steps_to_fit, run.results.steps_per_epoch
  if fit is None or not per_epoch:
    return None
  epoch = round(fit / per_epoch, 6)
  test = _tests_by_epoch(run).get(epoch)
  return None if test is None else {"epoch": epoch, "test": test}


def _same_epoch(probe: Run, reference: Run) -> Optional[dict]:
  """The probe's last test-evaluated epoch and both runs' test accuracy there, or None when
  the reference has no evaluation at that epoch."""
  probe_tests, reference_tests = _tests_by_epoch(probe), _tests_by_epoch(reference)
  if not probe_tests:
    return None
  epoch = max(probe_tests)
  if epoch not in reference_tests:
    return None
  return {"epoch": epoch, "probe": probe_tests[epoch], "reference": reference_tests[epoch],
          "difference": probe_tests[epoch] - reference_tests[epoch]}


def _label(run: Run) -> str:
  return run.kind.cell.label if run.kind.cell else f"{run.model}, {run.kind.condition}"


def compare(probe: Run, reference: Optional[Run]) -> dict:
  fit = _at_fit(probe)
  reference_fit = _at_fit(reference) if reference else None
  return {
      "label": _label(probe), "model": probe.model,
      "probe": ", ".join(probe_words(probe.config)), "seed": probe.seed,
      "precision": probe.results.precision, "run": probe.path, "status": probe.status,
      "reference_run": reference.path if reference else None,
      "fit": {"probe": fit, "reference": reference_fit,
              "test_difference": fit["test"] - reference_fit["test"]
              if fit and reference_fit else None},
      "same_epoch": _same_epoch(probe, reference) if reference else None,
      "jpeg": probe.results.data.get("jpeg"),
      # reference data, printed beside the estimate (rethinking.paper), never used in it
      "paper_test": probe.kind.cell.row.test.value,
      "ran_on": ran_on([probe, reference] if reference else [probe])}


def least_squares(points: Sequence[tuple]) -> Optional[tuple]:
  """(slope, intercept) of the least-squares line through (x, y) points; None for fewer than
  two distinct x."""
  if len({x for x, _ in points}) < 2:
    return None
  n = len(points)
  mean_x = sum(x for x, _ in points) / n
  mean_y = sum(y for _, y in points) / n
  slope = (sum((x - mean_x) * (y - mean_y) for x, y in points)
           / sum((x - mean_x) ** 2 for x, _ in points))
  return slope, mean_y - slope * mean_x


def jpeg_trend(comparisons: Sequence[dict]) -> List[dict]:
  """Per reference, the JPEG probes' test accuracy at the fit against the RMSE their pass added
  (the reference at 0), the least-squares line and its value at minus the anchor RMSE."""
  by_reference: Dict[str, List[dict]] = {}
  for c in comparisons:
    if c["jpeg"] and c["fit"]["probe"] and c["fit"]["reference"]:
      by_reference.setdefault(c["reference_run"], []).append(c)
  out = []
  for reference_run, group in sorted(by_reference.items()):
    group = sorted(group, key=lambda c: c["jpeg"]["rmse"])
    points = [(0.0, group[0]["fit"]["reference"]["test"])]
    points += [(c["jpeg"]["rmse"], c["fit"]["probe"]["test"]) for c in group]
    line = least_squares(points)
    anchor = sum(c["jpeg"]["anchor_rmse"] for c in group) / len(group)
    estimate = line[0] * -anchor + line[1] if line else None
    paper_test = group[0]["paper_test"]
    out.append({
        "label": group[0]["label"], "model": group[0]["model"], "seed": group[0]["seed"],
        "precision": group[0]["precision"], "reference_run": reference_run,
        "points": [{"quality": c["jpeg"]["quality"], "rmse": c["jpeg"]["rmse"],
                    "test_at_fit": c["fit"]["probe"]["test"]} for c in group],
        "reference_test_at_fit": points[0][1], "anchor_rmse": anchor,
        "slope_per_rmse": line[0] if line else None,
        "pristine_estimate": estimate, "paper_test": paper_test,
        "estimate_minus_paper": estimate - paper_test
        if estimate is not None and paper_test is not None else None})
  return out


def _under_way(unfinished: Mapping[str, Unfinished]) -> List[dict]:
  """Full-data probe runs without a results.json yet (a run writes it when it stops): where
  each stands, so the section does not read "no probe runs" while one trains."""
  out = []
  for path, u in sorted(unfinished.items()):
    if (u.config is not None and not u.config.data.train_size and u.kind and u.kind.cell
        and u.kind.cell.table == "table1" and probe_words(u.config)):
      out.append({"run": path, "probe": ", ".join(probe_words(u.config)),
                  "precision": u.config.train.precision, "step": u.step})
  return out


def probes(runs: Mapping[str, Run], unfinished: Mapping[str, Unfinished]) -> dict:
  """Every full-data probe run beside its reference, the JPEG trends, and the probes still
  under way without results."""
  references: Dict[tuple, List[Run]] = {}
  found = []
  for run in runs.values():
    if not run.full_data or not run.kind.cell or run.kind.cell.table != "table1":
      continue
    if probe_words(run.config):
      found.append(run)
    elif run.model in PROBED_MODELS:
      references.setdefault(_key(run), []).append(run)
  comparisons = []
  for probe in found:
    candidates = references.get(_key(probe))
    comparisons.append(compare(probe, representative(candidates) if candidates else None))
  comparisons.sort(key=lambda c: (c["label"], c["seed"], c["precision"], c["probe"], c["run"]))
  return {"comparisons": comparisons, "jpeg_trends": jpeg_trend(comparisons),
          "under_way": _under_way(unfinished)}


def _pair(probe: Optional[float], reference: Optional[float], difference: Optional[float]) -> str:
  if probe is None:
    return "-"
  text = f"{md.number(probe)} / {md.number(reference)}"
  return text + (f" ({md.signed(difference)})" if difference is not None else "")


def markdown(result: dict) -> List[str]:
  rows = []
  for c in result["comparisons"]:
    fit, same = c["fit"], c["same_epoch"]
    probe_fit, reference_fit = fit["probe"], fit["reference"]
    fits = (f"{md.number(probe_fit and probe_fit['epoch'], '{:g}', 'not fit')} / "
            f"{md.number(reference_fit and reference_fit['epoch'], '{:g}', 'not fit')}")
    rows.append((
        c["label"], c["probe"], c["seed"], c["precision"],
        fits if c["reference_run"] else "no reference run",
        _pair(probe_fit and probe_fit["test"], reference_fit and reference_fit["test"],
              fit["test_difference"]),
        "-" if same is None else f"epoch {same['epoch']:g}: " + _pair(
            same["probe"], same["reference"], same["difference"]),
        "-" if not c["jpeg"] else f"{c['jpeg']['rmse']:.2f} (q75 pass: "
        f"{c['jpeg']['anchor_rmse']:.2f})", c["status"], c["ran_on"]))
  lines = md.section(
      "Fidelity probes (issue 23): each beside the run it probes",
      "A probe trains a Table 1 conv-net setting at full data with one change (JPEG "
      "re-encoding at a lower quality, EMA-weight evaluation, batch 64); its reference is the "
      "run of the same setting, seed, precision and kind of device without it. Test accuracy "
      "(%) at each one's fit, and at the probe's last evaluated epoch (the reference at the same "
      "epoch), probe / reference (difference). Accuracies are on the offline CIFAR-10 copy "
      "decoded from JPEG q75.",
      ("setting", "probe", "seed", "precision", "fit at epoch: probe / reference",
       "test at fit (%)", "test at the same epoch (%)", "JPEG pass RMSE (pixel levels)",
       "probe status", "ran on"), rows,
      "No probe runs (flags/probes/) at full data with results yet.")
  if result.get("under_way"):
    lines += ["Under way, no results yet: " + "; ".join(
        f"`{u['run']}` ({u['probe']}, {u['precision']}, "
        + (f"checkpoint at step {u['step']:,})" if u["step"] else "no checkpoint yet)")
        for u in result["under_way"]) + ".", ""]
  trend_rows = []
  for t in result["jpeg_trends"]:
    points = "; ".join(f"q{p['quality']}: RMSE {p['rmse']:.2f}, {p['test_at_fit']:.2f}"
                       for p in t["points"])
    trend_rows.append((
        t["label"], t["seed"], t["precision"],
        f"q75 copy: {t['reference_test_at_fit']:.2f}; {points}",
        md.number(t["slope_per_rmse"], "{:+.3f}"), f"{t['anchor_rmse']:.2f}",
        md.number(t["pristine_estimate"], missing="- (one point)"),
        md.number(t["paper_test"]), md.signed(t["estimate_minus_paper"])))
  lines += md.section(
      "JPEG trend: an estimate for the pristine data",
      "Test accuracy at the fit against the RMSE each probe's JPEG pass added to the stored "
      "images (the q75 copy itself at 0), a least-squares line, and its value at minus the RMSE "
      "of one q75 pass on the same shifted grid: a stand-in for what the copy's own q75 pass "
      "took from the pristine images, likely an underestimate (a second pass finds less detail "
      "to remove). An estimate of the accuracy on pristine CIFAR-10, not a measurement; beside it "
      "the paper's test accuracy (Table 1, at the end of its training: the estimate is at the "
      "fit, where our reference may still be a fraction of a point below its own end).",
      ("setting", "seed", "precision", "test at fit (%) by pass",
       "slope (points per RMSE level)", "q75 pass RMSE", "estimate for pristine data (%)",
       "paper (%)", "estimate - paper (points)"),
      trend_rows, "No JPEG probe with a fit beside a reference with one.")
  return lines
