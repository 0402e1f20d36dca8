"""Figures 1a, 1b, 1c and 2b of the paper, drawn from run directories in the paper's axes.

  figure1a.png: average training loss vs thousands of steps, Inception on CIFAR-10, five
                conditions (runs fig1a-true_labels, -random_labels, -shuffled_pixels,
                -random_pixels, -gaussian).
  figure1b.png: time to overfit (steps until the whole training set is fit), relative to the
                p = 0 run of the same model and train size, vs label corruption (fig1bc-*).
  figure1c.png: test error (1 - test accuracy at the end of the run, i.e. at fit with
                --stop_when_fit) vs label corruption (fig1bc-*).
  figure2b.png: train and test accuracy vs thousands of steps, Inception with and without batch
                norm (fig2b-inception_bn, fig2b-inception_nobn).

Every legend entry says what the curve ran on (model, train size, device). A figure without
runs is still written, with a "no runs" note on its axes. Each function returns the numbers it
drew, for report.json.
"""
from __future__ import annotations

import collections
import os
from typing import Dict, List, Mapping, Optional

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rethinking import paper
from rethinking.report import runs as runs_lib
from rethinking.report.runs import Run

FIG1A_CONDITIONS = (("true_labels", "true labels"), ("random_labels", "random labels"),
                    ("shuffled_pixels", "shuffled pixels"), ("random_pixels", "random pixels"),
                    ("gaussian", "gaussian"))
FIG1BC_MODELS = (("inception_small", "Inception"), ("alexnet_small", "AlexNet"),
                 ("mlp_1x512", "MLP 1x512"))
FIG2B_RUNS = (("inception_bn", "Inception"), ("inception_nobn", "Inception w/o BatchNorm"))
# Figure 1a's "average loss": a trailing moving average of the per-step loss over one epoch,
# capped so that short runs keep their shape.
MAX_SMOOTHING_STEPS = 200


def _new_figure(title: str):
  fig = Figure(figsize=(6.4, 4.8), dpi=100)
  FigureCanvasAgg(fig)
  ax = fig.add_subplot(1, 1, 1)
  ax.set_title(title, fontsize=11)
  ax.grid(True, alpha=0.3)
  return fig, ax


def _no_runs(ax, what: str) -> None:
  ax.text(0.5, 0.5, f"no runs\n({what})", ha="center", va="center", transform=ax.transAxes,
          fontsize=12, color="gray")


def _save(fig, path: str) -> None:
  fig.tight_layout()
  fig.savefig(path)


def _ran_on(run: Run) -> str:
  batch = ((run.results.get("config") or {}).get("train") or {}).get("batch_size")
  return f"{run.model}, n={run.train_size}, " + (f"batch {batch}, " if batch else "") + \
      run.short_device


# ---- Figure 1a -------------------------------------------------------------------------------
def loss_curve(run: Run) -> dict:
  """(thousands of steps, average loss) of one run, and where it came from."""
  steps, losses = runs_lib.step_losses(run.run_dir)
  if len(steps):
    spe = run.results.get("steps_per_epoch") or 1
    window = max(1, min(int(spe), MAX_SMOOTHING_STEPS))
    return {"kilosteps": steps / 1000.0, "loss": runs_lib.smooth(losses, window),
            "source": f"per-step train/loss, moving average over {window} steps"}
  history = [h for h in run.history if h.get("running_train_loss") is not None]
  return {"kilosteps": np.array([h["step"] for h in history]) / 1000.0,
          "loss": np.array([h["running_train_loss"] for h in history]),
          "source": "history running_train_loss (epoch averages)"}


def figure1a(runs: Mapping[str, Run], path: str) -> dict:
  fig, ax = _new_figure("Figure 1a: fitting random labels and random pixels on CIFAR-10")
  drawn = []
  for condition, label in FIG1A_CONDITIONS:
    run = runs.get(f"fig1a-{condition}")
    if run is None:
      continue
    curve = loss_curve(run)
    if not len(curve["loss"]):
      continue
    ax.plot(curve["kilosteps"], curve["loss"], label=f"{label} ({_ran_on(run)})")
    drawn.append({"condition": condition, "run": run.name, "source": curve["source"],
                  "final_loss": float(curve["loss"][-1]), "steps": run.final.get("step"),
                  "steps_to_fit": run.results.get("steps_to_fit"), "status": run.status,
                  "ran_on": run.ran_on()})
  ax.set_xlabel("thousand steps")
  ax.set_ylabel("average loss")
  if drawn:
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
  else:
    _no_runs(ax, "expected fig1a-<condition> run directories")
  _save(fig, path)
  return {"path": path, "curves": drawn, "note": None if drawn else "no runs"}


# ---- Figure 1b / 1c --------------------------------------------------------------------------
def steps_to_reach(run: Run, threshold: float) -> Optional[int]:
  """The first evaluated step at which whole-training-set accuracy reached `threshold` (a
  fraction); for 1.0 the trainer's own steps_to_fit (every example fit)."""
  if threshold >= 1.0:
    return run.results.get("steps_to_fit")
  return next((h["step"] for h in run.history
               if (h.get("train_accuracy") or 0.0) >= threshold), None)


def corruption_points(runs: Mapping[str, Run],
                      fit_threshold: float = 1.0) -> Dict[tuple, List[dict]]:
  """fig1bc runs grouped by (model, train size, device), each a list of points sorted by p.

  p is the corruption probability recorded in results.json. "Fit" means whole-training-set
  accuracy >= fit_threshold (1.0: the paper's 100%, the trainer's steps_to_fit); the relative
  time to fit divides by the p = 0 run of the same group (None where that run, or this one,
  did not fit; a run that never fit gets its length as a lower bound).
  """
  groups = collections.defaultdict(list)
  for run in runs.values():
    if run.group != "fig1bc":
      continue
    corruption = run.results.get("corruption") or {}
    p = corruption.get("prob")
    if p is None:
      continue
    test = run.accuracy("test")
    spe = run.results.get("steps_per_epoch")
    reached = steps_to_reach(run, fit_threshold)
    groups[(run.model, run.train_size, run.short_device)].append({
        "run": run.name, "p": float(p), "status": run.status,
        "steps_to_fit": run.results.get("steps_to_fit"),
        "epochs_to_fit": run.results.get("epochs_to_fit"),
        "fit_threshold": fit_threshold,
        "steps_to_threshold": reached,
        "epochs_to_threshold": reached / spe if reached and spe else None,
        "steps": run.final.get("step"),
        "train_accuracy": run.accuracy("train"),
        "best_train_accuracy": max([100.0 * h["train_accuracy"] for h in run.history
                                    if h.get("train_accuracy") is not None], default=None),
        "test_error": None if test is None else 1.0 - test / 100.0,
        "fraction_labels_changed": corruption.get("fraction_labels_changed"),
        "wall_seconds": run.results.get("wall_seconds"), "ran_on": run.ran_on()})
  for points in groups.values():
    points.sort(key=lambda q: q["p"])
    base = next((q for q in points if q["p"] == 0.0 and q["steps_to_threshold"]), None)
    for q in points:
      q["relative_time_to_fit"] = (q["steps_to_threshold"] / base["steps_to_threshold"]
                                   if base and q["steps_to_threshold"] else None)
      q["relative_lower_bound"] = (q["steps"] / base["steps_to_threshold"]
                                   if base and not q["steps_to_threshold"] and q["steps"]
                                   else None)
  return dict(groups)


def _fit_words(threshold: float) -> str:
  return "100%" if threshold >= 1.0 else f">= {100 * threshold:g}%"


def _model_order(key):
  names = [m for m, _ in FIG1BC_MODELS]
  return (names.index(key[0]) if key[0] in names else len(names), key)


def _model_label(model: str) -> str:
  return dict(FIG1BC_MODELS).get(model, model)


def figure1b(runs: Mapping[str, Run], path: str, fit_threshold: float = 1.0) -> dict:
  fig, ax = _new_figure("Figure 1b: time to overfit vs label corruption")
  groups = corruption_points(runs, fit_threshold)
  notes = []
  drawn = 0
  for key in sorted(groups, key=_model_order):
    model, n, device = key
    points = groups[key]
    fit = [q for q in points if q["relative_time_to_fit"] is not None]
    bounds = [q for q in points if q["relative_lower_bound"] is not None]
    if not fit and not bounds:
      notes.append(f"{_model_label(model)} (n={n}): no p=0 run reached "
                   f"{_fit_words(fit_threshold)} train accuracy, nothing to divide by")
      continue
    line = ax.plot([q["p"] for q in fit], [q["relative_time_to_fit"] for q in fit], "o-",
                   label=f"{_model_label(model)} ({model}, n={n}, {device})")[0]
    drawn += 1
    if bounds:
      ax.plot([q["p"] for q in bounds], [q["relative_lower_bound"] for q in bounds], "^",
              color=line.get_color(), markerfacecolor="none",
              label=f"{_model_label(model)}: not fit within the run (lower bound)")
  ax.set_xlabel("label corruption")
  ax.set_ylabel(f"time to overfit (steps to {_fit_words(fit_threshold)} train accuracy,\n"
                f"relative to true labels)")
  ax.set_xlim(-0.05, 1.05)
  if drawn:
    ax.legend(fontsize=7)
  else:
    _no_runs(ax, "; ".join(notes) or "expected fig1bc-<model>_p<p> run directories")
  _save(fig, path)
  return {"path": path, "models": _groups_json(groups), "notes": notes,
          "note": None if drawn else "no runs"}


def figure1c(runs: Mapping[str, Run], path: str, fit_threshold: float = 1.0) -> dict:
  fig, ax = _new_figure("Figure 1c: test error vs label corruption")
  groups = corruption_points(runs, fit_threshold)
  drawn = 0
  for key in sorted(groups, key=_model_order):
    model, n, device = key
    points = [q for q in groups[key] if q["test_error"] is not None]
    if not points:
      continue
    line = ax.plot([q["p"] for q in points], [q["test_error"] for q in points], "o-",
                   label=f"{_model_label(model)} ({model}, n={n}, {device})")[0]
    unfit = [q for q in points if not q["steps_to_threshold"]]
    if unfit:
      ax.plot([q["p"] for q in unfit], [q["test_error"] for q in unfit], "o",
              color=line.get_color(), markerfacecolor="white",
              label=f"{_model_label(model)}: train accuracy never reached "
                    f"{_fit_words(fit_threshold)} (open marker)")
    drawn += 1
  ax.axhline(0.9, color="gray", linestyle=":", linewidth=1, label="chance (0.9)")
  ax.set_xlabel("label corruption")
  ax.set_ylabel("test error")
  ax.set_xlim(-0.05, 1.05)
  ax.set_ylim(0, 1)
  if drawn:
    ax.legend(fontsize=7)
  else:
    _no_runs(ax, "expected fig1bc-<model>_p<p> run directories")
  _save(fig, path)
  return {"path": path, "models": _groups_json(groups), "note": None if drawn else "no runs"}


def _groups_json(groups) -> List[dict]:
  return [{"model": k[0], "train_size": k[1], "device": k[2], "points": groups[k]}
          for k in sorted(groups, key=_model_order)]


# ---- Figure 2b -------------------------------------------------------------------------------
def figure2b(runs: Mapping[str, Run], path: str) -> dict:
  fig, ax = _new_figure("Figure 2b: Inception on CIFAR-10, with and without batch norm")
  drawn = []
  for setting, label in FIG2B_RUNS:
    run = runs.get(f"fig2b-{setting}")
    history = [h for h in (run.history if run else []) if h.get("train_accuracy") is not None]
    if not history:
      continue
    x = np.array([h["step"] for h in history]) / 1000.0
    line = ax.plot(x, [h["train_accuracy"] for h in history], "-",
                   label=f"{label}, train ({_ran_on(run)})")[0]
    tested = [h for h in history if h.get("test_accuracy") is not None]  # --test_every
    ax.plot(np.array([h["step"] for h in tested]) / 1000.0,
            [h["test_accuracy"] for h in tested], "--", color=line.get_color(),
            label=f"{label}, test")
    drawn.append({"setting": setting, "run": run.name, "status": run.status,
                  "final_train_accuracy": run.accuracy("train"),
                  "final_test_accuracy": run.accuracy("test"),
                  "best_test_accuracy": run.best_test_accuracy(),
                  "steps": run.final.get("step"), "ran_on": run.ran_on()})
  ax.set_xlabel("thousand steps")
  ax.set_ylabel("accuracy")
  ax.set_ylim(0, 1.02)
  if drawn:
    ax.legend(fontsize=7)
  else:
    _no_runs(ax, "expected fig2b-inception_bn / fig2b-inception_nobn run directories")
  _save(fig, path)
  return {"path": path, "curves": drawn, "note": None if drawn else "no runs"}


FIGURES = (("figure1a", figure1a), ("figure1b", figure1b), ("figure1c", figure1c),
           ("figure2b", figure2b))


def draw_all(runs: Mapping[str, Run], out_dir: str,
             fit_threshold: float = 1.0) -> Dict[str, dict]:
  """Draws every figure into out_dir; fit_threshold applies to Figures 1b and 1c."""
  out = {}
  for name, draw in FIGURES:
    path = os.path.join(out_dir, f"{name}.png")
    out[name] = (draw(runs, path, fit_threshold) if name in ("figure1b", "figure1c")
                 else draw(runs, path))
  return out


def figures_markdown(figures: Mapping[str, dict], logdir: str = "") -> str:
  """The numbers behind the figures, as text."""
  lines = ["# Figures: the numbers behind them", "", f"Runs from `{logdir}`.", ""]
  for name, claim_key in (("figure1a", "fig1a"), ("figure1b", "fig1b"), ("figure1c", "fig1c"),
                          ("figure2b", "fig2b")):
    f = figures.get(name) or {}
    lines += [f"## {name}", "", f"Paper: {paper.FIGURE_CLAIMS[claim_key]}.", ""]
    if f.get("note") == "no runs":
      lines += ["No runs: the figure is drawn empty with a \"no runs\" note.", ""]
    if name == "figure1a" and f.get("curves"):
      lines += _table(("condition", "final average loss", "steps", "steps to fit", "status",
                       "ran on"),
                      [(c["condition"], f"{c['final_loss']:.4f}", c["steps"],
                        c["steps_to_fit"] or "not fit", c["status"], c["ran_on"])
                       for c in f["curves"]])
    if name == "figure1b" and f.get("models"):
      for note in f.get("notes", []):
        lines += [f"- {note}"]
      rows = []
      threshold = 1.0
      for g in f["models"]:
        for q in g["points"]:
          threshold = q["fit_threshold"]
          rel = q["relative_time_to_fit"]
          rel_text = (f"{rel:.2f}" if rel is not None else
                      f">= {q['relative_lower_bound']:.2f} (not reached)"
                      if q["relative_lower_bound"] is not None else "-")
          row = [g["model"], g["train_size"], f"{q['p']:.1f}",
                 q["steps_to_fit"] or f"not fit in {q['steps']}"]
          if threshold < 1.0:
            row.append(q["steps_to_threshold"] or f"not reached in {q['steps']}")
          row += [_opt(q["epochs_to_threshold"], "{:g}"), rel_text,
                  _opt(q["best_train_accuracy"], "{:.2f}"),
                  _opt(q["fraction_labels_changed"], "{:.3f}"),
                  _opt(q["wall_seconds"], "{:.0f}"), q["ran_on"]]
          rows.append(row)
      words = _fit_words(threshold)
      header = ["model", "n", "p", "steps to fit (100%)"]
      if threshold < 1.0:
        header.append(f"steps to {words}")
      header += [f"epochs to {words}", "relative", "best train acc (%)", "labels changed",
                 "wall s", "ran on"]
      lines += _table(header, rows)
    if name == "figure1c" and f.get("models"):
      rows = [(g["model"], g["train_size"], f"{q['p']:.1f}", _opt(q["test_error"], "{:.4f}"),
               _opt(q["train_accuracy"], "{:.2f}"), q["status"])
              for g in f["models"] for q in g["points"]]
      lines += _table(("model", "n", "p", "test error", "train accuracy (%)", "status"), rows)
    if name == "figure2b" and f.get("curves"):
      lines += _table(("setting", "final train acc (%)", "final test acc (%)",
                       "best test acc (%)", "steps", "ran on"),
                      [(c["setting"], _opt(c["final_train_accuracy"], "{:.2f}"),
                        _opt(c["final_test_accuracy"], "{:.2f}"),
                        _opt(c["best_test_accuracy"], "{:.2f}"), c["steps"], c["ran_on"])
                       for c in f["curves"]])
    lines.append("")
  return "\n".join(lines)


def _opt(x: Optional[float], fmt: str) -> str:
  return "-" if x is None else fmt.format(x)


def _table(header, rows) -> List[str]:
  def line(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"
  return [line(header), line(["---"] * len(header)), *[line(r) for r in rows], ""]
