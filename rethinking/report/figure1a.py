"""Figure 1a: average training loss vs thousands of steps for the five data conditions.

The paper draws Inception (flags/fig1a/); flags/fig1a_mlp/ draws the same for MLP 1x512 into its
own figure. Runs are found by config: the model, CIFAR-10, no explicit regularization, one of
the five conditions. The paper's point is "no change of hyper-parameters", so one schedule is
drawn: the one with runs for the most conditions (then full data, then the paper's schedule);
runs at other schedules are listed in figures.md, not drawn.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping

import numpy as np

from rethinking import paper
from rethinking.report import cells
from rethinking.report import events
from rethinking.report import markdown as md
from rethinking.report import plotting
from rethinking.report.runs import Run, ran_on, shared_precision

LABELS = {"true_labels": "true labels", "random_labels": "random labels",
          "shuffled_pixels": "shuffled pixels", "random_pixels": "random pixels",
          "gaussian": "gaussian"}
# The "average loss": a trailing moving average of the per-step loss over one epoch, capped so
# that short runs keep their shape.
MAX_SMOOTHING_STEPS = 200
# "Starts decreasing": the average loss first falls below 90% of chance, ln(10) for 10 classes.
START_LOSS = 0.9 * math.log(10)


def loss_curve(run: Run) -> dict:
  """(thousands of steps, average loss) of one run, and where it came from: the per-step loss
  of the TensorBoard events when the directory has them, else results.json's per-evaluation
  running average (committed runs keep results.json only)."""
  steps, losses = events.step_losses(run.path)
  if len(steps):
    window = max(1, min(int(run.results.steps_per_epoch or 1), MAX_SMOOTHING_STEPS))
    return {"kilosteps": steps / 1000.0, "loss": events.smooth(losses, window),
            "source": f"per-step train/loss, moving average over {window} steps"}
  history = [e for e in run.evaluations if e.running_train_loss is not None]
  return {"kilosteps": np.array([e.step for e in history], dtype=float) / 1000.0,
          "loss": np.array([e.running_train_loss for e in history], dtype=float),
          "source": "results.json history: running_train_loss (average over each evaluation "
                    "interval)"}


def candidates(runs: Mapping[str, Run], model: str) -> Dict[tuple, Dict[str, List[Run]]]:
  """(schedule, device) -> condition -> runs."""
  out: Dict[tuple, Dict[str, List[Run]]] = {}
  for run in runs.values():
    if (run.model == model and run.config.data.name == "cifar10"
        and not run.kind.regularized and run.kind.condition in cells.FIG1A_CONDITIONS):
      key = (run.kind.schedule_key, run.device_kind)
      out.setdefault(key, {}).setdefault(run.kind.condition, []).append(run)
  return out


def _choice(item) -> tuple:
  (schedule, _), by_condition = item
  any_run = next(iter(by_condition.values()))[0]
  return (len(by_condition), any_run.full_data, any_run.kind.at_paper_schedule,
          sum(r.results.step or 0 for rs in by_condition.values() for r in rs))


def figure1a(runs: Mapping[str, Run], path: str, model: str = "inception_small") -> dict:
  name = plotting.model_label(model)
  fig, ax = plotting.new_figure(f"Figure 1a: average training loss ({name}, CIFAR-10)")
  groups = candidates(runs, model)
  drawn, drawn_runs, chosen, others = [], [], None, []
  if groups:
    chosen_key, chosen = max(groups.items(), key=_choice)
    others = [r.path for k, g in groups.items() if k != chosen_key
              for rs in g.values() for r in rs]
  # Twins in two precisions: the one in the precision most conditions have (runs.shared_precision).
  precision = shared_precision((chosen or {}).values())
  for condition in cells.FIG1A_CONDITIONS:
    pool = sorted((chosen or {}).get(condition, []),
                  key=lambda r: (not r.completed, r.results.precision != precision,
                                 r.seed or 0, r.path))
    if not pool:
      continue
    run = pool[0]
    curve = loss_curve(run)
    if not len(curve["loss"]):
      continue
    drawn_runs.append(run)
    ax.plot(curve["kilosteps"], curve["loss"], label=LABELS[condition])
    below = np.nonzero(curve["loss"] < START_LOSS)[0]
    drawn.append({"condition": condition, "run": run.path, "source": curve["source"],
                  "final_loss": float(curve["loss"][-1]),
                  "steps_to_start": int(round(curve["kilosteps"][below[0]] * 1000))
                                    if len(below) else None,
                  "steps": run.results.step, "steps_to_fit": run.results.steps_to_fit,
                  "final_train_accuracy": run.accuracy("train"), "status": run.status,
                  "ran_on": ran_on([run]), "measured_on": ran_on([run], data=False),
                  "train_size": run.train_size, "other_runs": [r.path for r in pool[1:]]})
  ax.set_xlabel("thousand steps")
  ax.set_ylabel("average loss")
  title = ""
  if drawn:  # the title names only what is drawn
    count = "" if len(drawn) == len(LABELS) else f"; {len(drawn)} of {len(LABELS)} conditions"
    ax.set_title(f"Figure 1a: {', '.join(LABELS[c['condition']] for c in drawn)} "
                 f"({name}, CIFAR-10{count})", fontsize=9 if len(drawn) > 2 else 11)
    ax.set_ylim(bottom=0)
    # The legend's title names the drawn runs (not their same-seed twins), and which condition
    # ran on which host and precision when they differ.
    title = plotting.group_label(drawn_runs, with_model=False,
                                 tag=lambda r: LABELS[r.kind.condition])
  plotting.finish(fig, ax, path, drawn, [
      f"No runs of {name} on CIFAR-10 without regularization with true labels, random labels, "
      f"shuffled pixels, random pixels or gaussian inputs."], fontsize=8, title=title,
                  title_fontsize=7)
  return {"path": path, "model": model, "curves": drawn, "not_drawn": others,
          "legend_title": title,
          "note": None if drawn else "no runs"}


def markdown(figure: dict, title: str) -> List[str]:
  lines = [f"## {title}: {plotting.model_label(figure['model'])}", "",
           f"Paper: {paper.FIGURE_CLAIMS['fig1a']}.", ""]
  if not figure["curves"]:
    return lines + ["No runs: the figure carries a note instead of curves.", ""]
  rows = [(c["condition"], f"{c['final_loss']:.4f}", c["steps_to_start"] or "never",
           c["steps"], c["steps_to_fit"] or "not fit",
           md.number(c["final_train_accuracy"]), c["status"], c["run"], c["ran_on"])
          for c in figure["curves"]]
  lines += md.table(("condition", "final average loss",
                     f"steps until average loss < {START_LOSS:.2f}", "steps",
                     "steps to fit (100%)", "final train acc (%)", "status", "run", "ran on"),
                    rows)
  lines += ["", f"Curve source: {figure['curves'][0]['source']}."]
  if figure["not_drawn"]:
    lines += ["", "Not drawn (another schedule or device): "
              + ", ".join(f"`{p}`" for p in figure["not_drawn"]) + "."]
  return lines + [""]
