"""Figures 1b and 1c: time to overfit and test error vs label corruption.

Runs are found by config: Inception, AlexNet or MLP 1x512 on CIFAR-10, no explicit
regularization, label corruption p in [0, 1] (true labels are p = 0, random labels p = 1). A
line is one model at one schedule on one device and train size; time to fit is relative to the
p = 0 runs of the same line. "Fit" is whole-training-set accuracy >= fit_threshold (1.0: the
paper's 100%, the trainer's steps_to_fit). Several seeds at one p are averaged on the line.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional

from rethinking import paper
from rethinking.report import cells
from rethinking.report import markdown as md
from rethinking.report import plotting
from rethinking.report.runs import Run, ran_on

MODELS = ("inception_small", "alexnet_small", "mlp_1x512")
CHANCE_ERROR = 0.9


def steps_to_reach(run: Run, threshold: float) -> Optional[int]:
  """The first evaluated step at which whole-training-set accuracy reached `threshold` (a
  fraction); for 1.0 the trainer's own steps_to_fit (every example fit)."""
  if threshold >= 1.0:
    return run.results.steps_to_fit
  return next((h["step"] for h in run.history
               if (h.get("train_accuracy") or 0.0) >= threshold), None)


def fit_words(threshold: float) -> str:
  return "100%" if threshold >= 1.0 else f">= {100 * threshold:g}%"


def _point(run: Run, fit_threshold: float) -> dict:
  reached = steps_to_reach(run, fit_threshold)
  epoch_steps = run.results.steps_per_epoch
  test = run.accuracy("test")
  return {"run": run.path, "p": cells.label_prob(run.config), "seed": run.seed,
          "status": run.status, "steps_to_fit": run.results.steps_to_fit,
          "fit_threshold": fit_threshold, "steps_to_threshold": reached,
          "epochs_to_threshold": reached / epoch_steps if reached and epoch_steps else None,
          "steps": run.results.step, "train_accuracy": run.accuracy("train"),
          "best_train_accuracy": run.best_train_accuracy(),
          "test_error": None if test is None else 1.0 - test / 100.0,
          "fraction_labels_changed": run.results.corruption.get("fraction_labels_changed"),
          "wall_seconds": run.results.wall_seconds, "ran_on": ran_on([run])}


def _mean(values) -> Optional[float]:
  values = [v for v in values if v is not None]
  return sum(values) / len(values) if values else None


def lines(runs: Mapping[str, Run], fit_threshold: float = 1.0) -> List[dict]:
  """One dict per (model, schedule, device) with its points sorted by p and seed."""
  groups: Dict[tuple, List[Run]] = {}
  for run in runs.values():
    c = run.config
    if (cells.model_name(c) in MODELS and cells.dataset(c) == "cifar10"
        and not cells.regularized(c) and cells.label_prob(c) is not None):
      groups.setdefault((cells.model_name(c), cells.schedule_key(c), run.device_kind),
                        []).append(run)
  out = []
  for key in sorted(groups, key=lambda k: (MODELS.index(k[0]), str(k[1:]))):
    members = groups[key]
    points = sorted((_point(r, fit_threshold) for r in members),
                    key=lambda q: (q["p"], q["seed"] or 0, q["run"]))
    base = _mean(q["steps_to_threshold"] for q in points if q["p"] == 0.0)
    for q in points:
      q["relative_time_to_fit"] = (q["steps_to_threshold"] / base
                                   if base and q["steps_to_threshold"] else None)
      q["relative_lower_bound"] = (q["steps"] / base if base and not q["steps_to_threshold"]
                                   and q["steps"] else None)
    zero = [q for q in points if q["p"] == 0.0]
    note = None
    if not base:
      note = f"{plotting.group_label(members)}: "
      if not zero:
        note += "no p = 0 run, nothing to divide by."
      else:
        best = max((q["best_train_accuracy"] or 0.0) for q in zero)
        note += (f"no p = 0 run reached {fit_words(fit_threshold)} train accuracy (best "
                 f"{best:.2f}%), nothing to divide by")
        suggestion = math.floor(best) / 100.0
        if 0 < suggestion < fit_threshold:
          note += f"; try --fit_threshold={suggestion:g}"
        note += "."
    out.append({"model": key[0], "label": plotting.group_label(members),
                "train_size": members[0].train_size, "schedule": cells.variant_label(
                    members[0].config), "device": key[2], "points": points, "note": note})
  return out


NO_RUNS = ("No runs: Inception, AlexNet or MLP 1x512 on CIFAR-10 without regularization, at "
           "label corruption p.")


def _by_p(points: List[dict], field: str) -> tuple:
  ps = sorted({q["p"] for q in points if q[field] is not None})
  return ps, [_mean(q[field] for q in points if q["p"] == p) for p in ps]


def _curves(ax, groups: List[dict], field: str, bound_field: str = ""):
  """Draws each group's mean `field` against p; yields (group, its matplotlib line). Groups
  with one corruption level say nothing about a trend (figures.md lists them) and are left
  out, as are groups with nothing to draw (no value and no lower bound)."""
  for g in groups:
    if len({q["p"] for q in g["points"]}) < 2:
      continue
    xs, ys = _by_p(g["points"], field)
    if not xs and not (bound_field and any(q[bound_field] is not None for q in g["points"])):
      continue
    yield g, ax.plot(xs, ys, "o-", label=g["label"])[0]


def figure1b(runs: Mapping[str, Run], path: str, fit_threshold: float = 1.0) -> dict:
  fig, ax = plotting.new_figure("Figure 1b: time to overfit vs label corruption")
  groups = lines(runs, fit_threshold)
  drawn = 0
  for g, line in _curves(ax, groups, "relative_time_to_fit", "relative_lower_bound"):
    drawn += 1
    bounds = [q for q in g["points"] if q["relative_lower_bound"] is not None]
    if bounds:
      ax.plot([q["p"] for q in bounds], [q["relative_lower_bound"] for q in bounds], "^",
              color=line.get_color(), markerfacecolor="none",
              label=f"{plotting.model_label(g['model'])}: not fit within the run (lower bound)")
  ax.set_xlabel("label corruption")
  ax.set_ylabel(f"time to overfit (steps to {fit_words(fit_threshold)} train accuracy,\n"
                f"relative to true labels)")
  ax.set_xlim(-0.05, 1.05)
  notes = [g["note"] for g in groups if g["note"]]
  plotting.finish(fig, ax, path, drawn, notes or [NO_RUNS], fontsize=6.5)
  return {"path": path, "fit_threshold": fit_threshold, "lines": groups, "notes": notes,
          "note": None if drawn else "no runs"}


def figure1c(runs: Mapping[str, Run], path: str, fit_threshold: float = 1.0) -> dict:
  fig, ax = plotting.new_figure("Figure 1c: test error vs label corruption")
  groups = lines(runs, fit_threshold)
  drawn = 0
  for g, line in _curves(ax, groups, "test_error"):
    unfit = [q for q in g["points"] if q["test_error"] is not None
             and not q["steps_to_threshold"]]
    if unfit:
      ax.plot([q["p"] for q in unfit], [q["test_error"] for q in unfit], "o",
              color=line.get_color(), markerfacecolor="white",
              label=f"{plotting.model_label(g['model'])}: train accuracy never reached "
                    f"{fit_words(fit_threshold)} (open marker)")
    drawn += 1
  ax.axhline(CHANCE_ERROR, color="gray", linestyle=":", linewidth=1, label="chance (0.9)")
  ax.set_xlabel("label corruption")
  ax.set_ylabel("test error")
  ax.set_xlim(-0.05, 1.05)
  ax.set_ylim(0, 1)
  plotting.finish(fig, ax, path, drawn, [NO_RUNS], fontsize=6.5, loc="lower right")
  return {"path": path, "lines": groups, "note": None if drawn else "no runs"}


def markdown_1b(figure: dict) -> List[str]:
  threshold = figure["fit_threshold"]
  words = fit_words(threshold)
  out = ["## Figure 1b", "", f"Paper: {paper.FIGURE_CLAIMS['fig1b']}. Drawn at fit = "
         f"{words} whole-training-set accuracy (--fit_threshold={threshold:g}).", ""]
  out += [f"- {note}" for note in figure["notes"]]
  single = [g["label"] for g in figure["lines"] if len({q["p"] for q in g["points"]}) < 2]
  if single:
    out.append("- Not drawn in Figures 1b/1c (one corruption level only): " + "; ".join(single))
  rows = []
  for g in figure["lines"]:
    for q in g["points"]:
      rel = q["relative_time_to_fit"]
      rel_text = (f"{rel:.2f}" if rel is not None else
                  f">= {q['relative_lower_bound']:.2f} (not reached)"
                  if q["relative_lower_bound"] is not None else "-")
      rows.append([plotting.model_label(g["model"]), g["train_size"], g["schedule"],
                   f"{q['p']:.1f}", q["steps_to_fit"] or f"not fit in {q['steps']}",
                   q["steps_to_threshold"] or f"not reached in {q['steps']}",
                   md.number(q["epochs_to_threshold"], "{:g}"), rel_text,
                   md.number(q["best_train_accuracy"]),
                   md.number(q["fraction_labels_changed"], "{:.3f}"),
                   md.number(q["wall_seconds"], "{:.0f}"), q["run"], q["ran_on"]])
  if rows:
    out += [""] + md.table(["model", "n", "schedule", "p", "steps to fit (100%)",
                            f"steps to {words}", f"epochs to {words}", "relative",
                            "best train acc (%)", "labels changed", "wall s", "run", "ran on"],
                           rows)
  else:
    out.append("No runs.")
  return out + [""]


def markdown_1c(figure: dict) -> List[str]:
  out = ["## Figure 1c", "", f"Paper: {paper.FIGURE_CLAIMS['fig1c']}.", ""]
  rows = [(plotting.model_label(g["model"]), g["train_size"], g["schedule"], f"{q['p']:.1f}",
           md.number(q["test_error"], "{:.4f}"), md.number(q["train_accuracy"]), q["status"],
           q["run"]) for g in figure["lines"] for q in g["points"]]
  out += md.table(("model", "n", "schedule", "p", "test error", "train accuracy (%)",
                   "status", "run"), rows) if rows else ["No runs."]
  return out + [""]
