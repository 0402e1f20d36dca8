"""Figures 1b and 1c: time to overfit and test error vs label corruption.

Runs are found by config: Inception, AlexNet or MLP 1x512 on CIFAR-10, no explicit
regularization, label corruption p in [0, 1] (true labels are p = 0, random labels p = 1), no
fidelity probe (issue 23's JPEG, EMA and batch-64 runs are read in table1.md beside their
references; the figures name them once, as not figure runs). A
line is one model at one schedule (report.cells.schedule_key: a run stopped at its fit joins
its schedule's line) on one kind of device and train size. Of two runs of one seed at one p the
one that went furthest counts (runs.representative), then the one in the precision most of the
line's levels have (runs.shared_precision). "Fit" (report.fit): each line uses the
highest of 100%, 99% and 95% whole-training-set accuracy that every run of the line reached,
and says which; time to fit is relative to the mean of the line's p = 0 runs, and each level's
value is the mean over its seeds (what the figure draws and the ledger quotes). Levels with a
gap between them (p = 0 and 1 only) are drawn as points, not joined by a segment.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional

from rethinking import paper
from rethinking.report import fit
from rethinking.report import markdown as md
from rethinking.report import plotting
from rethinking.report import probes as probes_lib
from rethinking.report.runs import (Run, by_seed, ran_on, representative,
                                    shared_precision)

MODELS = ("inception_small", "alexnet_small", "mlp_1x512")
CHANCE_ERROR = 0.9
# The paper's corruption levels: a line joins its points only where it has every level between.
P_GRID = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _point(run: Run, level: float) -> dict:
  reached = fit.steps_to_reach(run, level)
  epoch_steps = run.results.steps_per_epoch
  test = run.accuracy("test")
  # The test error at the evaluation that first reached the line's fit level: a run stopped at
  # its fit is read there, a full-budget run of the same line at its end (up to 85 epochs later
  # for AlexNet at p = 0), so the Figure 1c table gives both to compare like with like.
  at_fit = next((e.test_accuracy for e in reversed(run.evaluations)
                 if reached and e.step == reached and e.test_accuracy is not None), None)
  return {"run": run.path, "p": run.kind.label_prob, "seed": run.seed,
          "status": run.status, "steps_to_fit": run.results.steps_to_fit,
          "fit_threshold": level, "steps_to_threshold": reached,
          "epochs_to_threshold": reached / epoch_steps if reached and epoch_steps else None,
          "steps": run.results.step, "train_accuracy": run.accuracy("train"),
          "best_train_accuracy": run.best_train_accuracy(),
          "test_error": None if test is None else 1.0 - test / 100.0,
          "read_at_epoch": run.results.step / epoch_steps if epoch_steps else None,
          "test_error_at_threshold": None if at_fit is None else 1.0 - at_fit,
          "fraction_labels_changed": run.results.corruption.get("fraction_labels_changed"),
          "wall_seconds": run.results.wall_seconds, "ran_on": ran_on([run])}


def _mean(values) -> Optional[float]:
  values = [v for v in values if v is not None]
  return sum(values) / len(values) if values else None


def _candidate(run: Run) -> bool:
  return (run.model in MODELS and run.config.data.name == "cifar10"
          and not run.kind.regularized and run.kind.label_prob is not None)


def _eligible(run: Run) -> bool:
  return _candidate(run) and not probes_lib.probe_words(run.config)


def probe_runs(runs: Mapping[str, Run]) -> List[str]:
  """Paths of the runs that would be figure runs but for a fidelity probe."""
  return sorted(run.path for run in runs.values()
                if _candidate(run) and probes_lib.probe_words(run.config))


def _one_per_seed(members: List[Run]) -> tuple:
  """(the counted runs, the paths of same-seed runs left out), per corruption level."""
  by_p: Dict[float, List[Run]] = {}
  for run in members:
    by_p.setdefault(run.kind.label_prob, []).append(run)
  chosen, left_out = [], []
  precision = shared_precision(by_p.values())
  for group in by_p.values():
    for seed_runs in by_seed(group).values():
      best = representative(seed_runs, precision)
      chosen.append(best)
      left_out += [r.path for r in seed_runs if r is not best]
  return chosen, sorted(left_out)


def contiguous(ps) -> bool:
  """True when the levels leave no level of P_GRID out between the lowest and the highest."""
  ps = sorted(ps)
  if len(ps) < 2:
    return True
  inner = [g for g in P_GRID if ps[0] - 1e-9 <= g <= ps[-1] + 1e-9]
  return all(any(math.isclose(g, p, abs_tol=1e-9) for p in ps) for g in inner)


def _levels(points: List[dict]) -> List[dict]:
  """One entry per corruption level: the seed means the figure draws and the ledger quotes."""
  out = []
  for p in sorted({q["p"] for q in points}):
    at = [q for q in points if q["p"] == p]
    all_reached = all(q["steps_to_threshold"] for q in at)
    out.append({"p": p, "seeds": sorted(q["seed"] for q in at if q["seed"] is not None),
                "runs": [q["run"] for q in at],
                "relative_time_to_fit": _mean(q["relative_time_to_fit"] for q in at)
                                        if all_reached else None,
                "relative_lower_bound": None if all_reached else _mean(
                    q["relative_time_to_fit"] or q["relative_lower_bound"] for q in at),
                "test_error": _mean(q["test_error"] for q in at), "reached": all_reached})
  return out


def _line(model: str, members: List[Run]) -> dict:
  chosen, left_out = _one_per_seed(members)
  # The line's fit level comes from its completed runs: a run still training is drawn at that
  # level as a lower bound until it gets there (it used to pull the whole line down to >= 95%,
  # or to nothing, while it trained).
  level = fit.common_level([r for r in chosen if r.completed] or chosen)
  every_run_reached = level is not None and all(fit.reached(r, level) for r in chosen)
  points = sorted((_point(r, level or fit.LEVELS[-1]) for r in chosen),
                  key=lambda q: (q["p"], q["seed"] or 0, q["run"]))
  base = _mean(q["steps_to_threshold"] for q in points if q["p"] == 0.0)
  for q in points:
    q["relative_time_to_fit"] = (q["steps_to_threshold"] / base
                                 if base and q["steps_to_threshold"] else None)
    q["relative_lower_bound"] = (q["steps"] / base if base and not q["steps_to_threshold"]
                                 and q["steps"] else None)
  # Which p ran on which host and precision, when the line pools several (a campaign's points
  # come from whichever machine a sitting had).
  label = plotting.group_label(sorted(chosen, key=lambda r: (r.kind.label_prob, r.seed)),
                               tag=lambda r: f"p={r.kind.label_prob:g}")
  levels = _levels(points)
  note = None
  if len(levels) < 2:
    pass  # one level draws nothing whatever the base: markdown_1b lists it once, as not drawn
  elif not any(q["p"] == 0.0 for q in points):
    note = f"{label}: no p = 0 run, nothing to divide by."
  elif not base:
    best = max((q["best_train_accuracy"] or 0.0) for q in points if q["p"] == 0.0)
    note = (f"{label}: no p = 0 run reached {fit.words(fit.LEVELS[-1])} train accuracy (best "
            f"{best:.2f}%), nothing to divide by.")
  return {"model": model, "label": label, "train_size": chosen[0].train_size,
          "full_data": chosen[0].full_data,
          "schedule": chosen[0].kind.schedule_label, "points": points,
          "levels": levels, "contiguous": contiguous(lv["p"] for lv in levels),
          "fit_threshold": level or fit.LEVELS[-1], "every_run_reached": every_run_reached,
          "same_seed_runs_left_out": left_out, "note": note}


def lines(runs: Mapping[str, Run]) -> List[dict]:
  """One dict per (model, schedule, device kind) with its points sorted by p and seed."""
  groups: Dict[tuple, List[Run]] = {}
  for run in runs.values():
    if _eligible(run):
      groups.setdefault((run.model, run.kind.schedule_key, run.device_kind), []).append(run)
  return [_line(key[0], groups[key])
          for key in sorted(groups, key=lambda k: (MODELS.index(k[0]), str(k[1:])))]


NO_RUNS = ("No runs: Inception, AlexNet or MLP 1x512 on CIFAR-10 without regularization, at "
           "label corruption p.")


def _style(line: dict) -> str:
  return "o-" if line["contiguous"] else "o"


def _drawable(groups: List[dict], field: str, bound_field: str = "") -> List[dict]:
  """Lines with two or more corruption levels and something to draw (a value or a bound); a
  single level says nothing about a trend (figures.md lists it)."""
  return [g for g in groups if len(g["levels"]) >= 2 and any(
      lv[field] is not None or (bound_field and lv[bound_field] is not None)
      for lv in g["levels"])]


def figure1b(runs: Mapping[str, Run], path: str) -> dict:
  fig, ax = plotting.new_figure("Figure 1b: time to overfit vs label corruption")
  groups = lines(runs)
  drawable = _drawable(groups, "relative_time_to_fit", "relative_lower_bound")
  for g in drawable:
    shown = [lv for lv in g["levels"] if lv["relative_time_to_fit"] is not None]
    line = ax.plot([lv["p"] for lv in shown], [lv["relative_time_to_fit"] for lv in shown],
                   _style(g), label=f"{g['label']}, fit {fit.words(g['fit_threshold'])}")[0]
    bounds = [lv for lv in g["levels"] if lv["relative_lower_bound"] is not None]
    if bounds:
      ax.plot([lv["p"] for lv in bounds], [lv["relative_lower_bound"] for lv in bounds], "^",
              color=line.get_color(), markerfacecolor="none",
              label=f"{plotting.model_label(g['model'])}: not fit within the run (lower bound)")
  ax.set_xlabel("label corruption")
  ax.set_ylabel("time to overfit (steps to fit,\nrelative to true labels)")
  ax.set_xlim(-0.05, 1.05)
  notes = [g["note"] for g in groups if g["note"]]
  plotting.finish(fig, ax, path, len(drawable), notes or [NO_RUNS], fontsize=6.5)
  return {"path": path, "fit_levels": list(fit.LEVELS), "lines": groups, "notes": notes,
          "probe_runs": probe_runs(runs), "note": None if drawable else "no runs"}


def figure1c(runs: Mapping[str, Run], path: str) -> dict:
  fig, ax = plotting.new_figure("Figure 1c: test error vs label corruption")
  groups = lines(runs)
  drawable = _drawable(groups, "test_error")
  for g in drawable:
    shown = [lv for lv in g["levels"] if lv["test_error"] is not None]
    line = ax.plot([lv["p"] for lv in shown], [lv["test_error"] for lv in shown], _style(g),
                   label=g["label"])[0]
    unfit = [lv for lv in shown if not lv["reached"]]
    if unfit:
      ax.plot([lv["p"] for lv in unfit], [lv["test_error"] for lv in unfit], "o",
              color=line.get_color(), markerfacecolor="white",
              label=f"{plotting.model_label(g['model'])}: train accuracy never reached "
                    f"{fit.words(g['fit_threshold'])} (open marker)")
  ax.axhline(CHANCE_ERROR, color="gray", linestyle=":", linewidth=1, label="chance (0.9)")
  ax.set_xlabel("label corruption")
  ax.set_ylabel("test error")
  ax.set_xlim(-0.05, 1.05)
  ax.set_ylim(0, 1)
  plotting.finish(fig, ax, path, len(drawable), [NO_RUNS], fontsize=6.5, loc="lower right")
  return {"path": path, "lines": groups, "note": None if drawable else "no runs"}


def markdown_1b(figure: dict) -> List[str]:
  out = ["## Figure 1b", "", f"Paper: {paper.FIGURE_CLAIMS['fig1b']}. Each line is drawn at "
         f"the highest fit level of {', '.join(fit.words(v) for v in fit.LEVELS)} that every "
         f"run of the line reached (whole-training-set accuracy; 100% is the trainer's "
         f"steps_to_fit); its value at each p is the mean over seeds.", ""]
  out += [f"- {note}" for note in figure["notes"]]
  for g in figure["lines"]:
    drawn = len(g["levels"]) >= 2  # a single level is listed once below, as not drawn
    if drawn:
      reach = "" if g["every_run_reached"] else " (not every run reached it: lower bounds)"
      out.append(f"- {g['label']}: fit = {fit.words(g['fit_threshold'])}{reach}"
                 + ("" if g["contiguous"] else
                    "; levels with a gap between them, drawn as points"))
    if g["same_seed_runs_left_out"]:
      out.append(("  - " if drawn else f"- {g['label']}, ")
                 + "same seed as a counted run, left out: "
                 + ", ".join(f"`{p}`" for p in g["same_seed_runs_left_out"]))
  single = [f"{g['label']} (p = {g['levels'][0]['p']:g} only)" for g in figure["lines"]
            if len(g["levels"]) < 2]
  if single:
    out.append("- Not drawn in Figures 1b/1c (one corruption level only): " + "; ".join(single))
  if figure.get("probe_runs"):
    out.append("- Fidelity probes (issue 23), read beside their references in table1.md, not "
               "Figure 1b/1c runs: " + ", ".join(f"`{p}`" for p in figure["probe_runs"]))
  rows = []
  for g in figure["lines"]:
    words = fit.words(g["fit_threshold"])
    for q in g["points"]:
      rel = q["relative_time_to_fit"]
      rel_text = (f"{rel:.2f}" if rel is not None else
                  f">= {q['relative_lower_bound']:.2f} (not reached)"
                  if q["relative_lower_bound"] is not None else "-")
      rows.append([plotting.model_label(g["model"]), g["train_size"], g["schedule"],
                   f"{q['p']:.1f}", words, q["steps_to_fit"] or f"not fit in {q['steps']}",
                   q["steps_to_threshold"] or f"not reached in {q['steps']}",
                   md.number(q["epochs_to_threshold"], "{:g}"), rel_text,
                   md.number(q["best_train_accuracy"]),
                   md.number(q["fraction_labels_changed"], "{:.3f}"),
                   md.number(q["wall_seconds"], "{:.0f}"), q["run"], q["ran_on"]])
  if rows:
    out += [""] + md.table(["model", "n", "schedule", "p", "fit", "steps to fit (100%)",
                            "steps to fit", "epochs to fit", "relative",
                            "best train acc (%)", "labels changed", "wall s", "run", "ran on"],
                           rows)
  else:
    out.append("No runs.")
  return out + [""]


def markdown_1c(figure: dict) -> List[str]:
  out = ["## Figure 1c", "", f"Paper: {paper.FIGURE_CLAIMS['fig1c']}.", ""]
  out += ["The figure draws each run's last test error: at the end of its budget, or where "
          "`--stop_when_fit` stopped it. \"At the fit\" reads every run at the evaluation "
          "that first reached its line's fit level (Figure 1b's), the same point for both kinds.",
          ""]
  rows = [(plotting.model_label(g["model"]), g["train_size"], g["schedule"], f"{q['p']:.1f}",
           md.number(q["test_error"], "{:.4f}"), md.number(q["read_at_epoch"], "{:g}"),
           md.number(q["test_error_at_threshold"], "{:.4f}")
           + (f" ({fit.words(g['fit_threshold'])})" if q["test_error_at_threshold"] is not None
              else ""),
           md.number(q["train_accuracy"]), q["status"], q["run"])
          for g in figure["lines"] for q in g["points"]]
  out += md.table(("model", "n", "schedule", "p", "test error", "read at epoch",
                   "test error at the fit", "train accuracy (%)", "status", "run"),
                  rows) if rows else ["No runs."]
  return out + [""]
