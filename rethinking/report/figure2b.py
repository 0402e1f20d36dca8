"""Figure 2b: train and test accuracy vs thousands of steps, Inception with and without batch
norm on CIFAR-10 (true labels, no explicit regularization), found by config. Both models are
drawn at one schedule (relative to each model's own defaults: without batch norm the default
learning rate is 0.01), preferring a schedule that has both, then full data."""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional

import numpy as np

from rethinking import paper
from rethinking.report import cells
from rethinking.report import markdown as md
from rethinking.report import plotting
from rethinking.report.runs import Run, ran_on, shared_precision

MODELS = ("inception_small", "inception_small_nobn")


def candidates(runs: Mapping[str, Run]) -> Dict[tuple, Dict[str, List[Run]]]:
  out: Dict[tuple, Dict[str, List[Run]]] = {}
  for run in runs.values():
    if (run.model in MODELS and run.config.data.name == "cifar10"
        and run.kind.condition == "true_labels" and not run.kind.regularized):
      key = (run.kind.schedule_key, run.device_kind)
      out.setdefault(key, {}).setdefault(run.model, []).append(run)
  return out


def figure2b(runs: Mapping[str, Run], path: str) -> dict:
  fig, ax = plotting.new_figure("Figure 2b: Inception on CIFAR-10, with and without batch norm")
  groups = candidates(runs)
  drawn, drawn_runs, chosen = [], [], {}
  if groups:
    chosen = max(groups.values(), key=lambda g: (
        len(g), next(iter(g.values()))[0].full_data,
        sum(r.results.step or 0 for rs in g.values() for r in rs)))
  # Twins in two precisions: the one in the precision both models have (runs.shared_precision).
  precision = shared_precision(chosen.values())
  for model in MODELS:
    pool = sorted(chosen.get(model, []), key=lambda r: (
        not r.completed, r.results.precision != precision, r.seed or 0, r.path))
    run = pool[0] if pool else None
    history = [e for e in (run.evaluations if run else []) if e.train_accuracy is not None]
    if not history:
      continue
    drawn_runs.append(run)
    # Each model at its own default learning rate (without batch norm 0.01): the legend says so.
    lr = run.config.train.learning_rate
    label = f"{plotting.model_label(model)} (lr {lr:g})"
    x = np.array([e.step for e in history]) / 1000.0
    line = ax.plot(x, [e.train_accuracy for e in history], "-", label=f"{label}, train")[0]
    tested = [e for e in history if e.test_accuracy is not None]  # --test_every
    ax.plot(np.array([e.step for e in tested]) / 1000.0,
            [e.test_accuracy for e in tested], "--", color=line.get_color(),
            label=f"{label}, test")
    drawn.append({"model": model, "run": run.path, "status": run.status, "learning_rate": lr,
                  "full_data": run.full_data,
                  "final_train_accuracy": run.accuracy("train"),
                  "final_test_accuracy": run.accuracy("test"),
                  "best_test_accuracy": run.best_test_accuracy(),
                  "steps": run.results.step, "ran_on": ran_on([run]),
                  "measured_on": ran_on([run], data=False)})
  stable = stability(drawn_runs) if len(drawn_runs) == 2 else None
  at_one_rate = same_rate(runs, drawn_runs)
  ax.set_xlabel("thousand steps")
  ax.set_ylabel("accuracy")
  ax.set_ylim(0, 1.02)
  # The legend's title names the drawn runs, both models (the first model's pool alone named
  # neither the other's host nor its precision), and which ran where when they differ.
  title = plotting.group_label(drawn_runs, with_model=False,
                               tag=lambda r: plotting.model_label(r.model)) if drawn else ""
  plotting.finish(fig, ax, path, drawn, ["No runs: Inception (small) with or without batch "
                                         "norm on CIFAR-10, true labels, no regularization."],
                  fontsize=8, title=title, title_fontsize=7)
  return {"path": path, "curves": drawn, "legend_title": title, "stability": stable,
          "same_rate": at_one_rate, "note": None if drawn else "no runs"}


def _schedule(run: Run) -> tuple:
  """The absolute schedule: cells.schedule_key is relative to each model's defaults, under which
  lr 0.01 is the default without batch norm and a deviation with it. Not the epoch budget nor
  stopping at the fit: the rate decays per epoch whatever the budget (lr * decay^epoch), so a
  shorter run is the longer one's first epochs, and the falls are read at the evaluations both
  runs made."""
  t = run.config.train
  return (run.config.data.name, run.train_size, round(t.learning_rate, 12), t.lr_decay,
          t.batch_size, t.momentum)


def same_rate(runs: Mapping[str, Run], drawn_runs: List[Run]) -> Optional[dict]:
  """Stability with the rate held fixed: the drawn run without batch norm beside a completed
  batch-norm run at its learning rate and the rest of its schedule (data, n, decay, batch,
  momentum; any epoch budget, _schedule), the same seed and precision preferred. The drawn pair
  trains each model at its own rate (0.1 / 0.01), so that a smoother curve may be the lower rate's;
  this pair separates the two. None when the drawn pair shares a rate or lacks the run without
  batch norm; {"run": None} when no such batch-norm run exists."""
  by_model = {run.model: run for run in drawn_runs}
  nobn, bn = by_model.get("inception_small_nobn"), by_model.get("inception_small")
  if nobn is None or (bn is not None and math.isclose(bn.config.train.learning_rate,
                                                      nobn.config.train.learning_rate)):
    return None
  pool = [r for r in runs.values()
          if r.model == "inception_small" and r.completed
          and r.kind.condition == "true_labels" and not r.kind.regularized
          and not cells.probes(r.config) and _schedule(r) == _schedule(nobn)]
  out = {"learning_rate": nobn.config.train.learning_rate, "run": None}
  if not pool:
    return out
  pick = sorted(pool, key=lambda r: (r.seed != nobn.seed,
                                     r.results.precision != nobn.results.precision, r.path))[0]
  out.update({"run": pick.path, "ran_on": ran_on([pick, nobn]),
              "final_train_accuracy": pick.accuracy("train"),
              "final_test_accuracy": pick.accuracy("test"),
              "stability": stability([pick, nobn])})
  return out


def _falls(values: List[float]) -> Dict[str, float]:
  """How far a curve falls between consecutive evaluations, in points: summed and the largest."""
  drops = [max(0.0, a - b) * 100.0 for a, b in zip(values, values[1:])]
  return {"summed": sum(drops), "largest": max(drops, default=0.0),
          "falls": sum(1 for d in drops if d > 0)}


def stability(drawn_runs: List[Run]) -> Dict[str, object]:
  """The paper's "stabilizes the learning dynamics", measured: how much each model's train and
  test accuracy fall between consecutive evaluations, read at the evaluations both runs made (the
  same steps, up to the shorter run's end, so that a longer run or a finer evaluation grid adds
  no falls of its own). A curve that only rises falls by 0; SGD noise shows as falls.

  Each model trains at its own default learning rate (0.1 with batch norm, 0.01 without: the
  largest that trains, docs/measurements/nobn_learning_rate/), which is part of what is compared."""
  out: Dict[str, object] = {"by_model": {}}
  for split in ("train", "test"):
    field = f"{split}_accuracy"
    per_run = [{e.step: getattr(e, field) for e in run.evaluations
                if getattr(e, field) is not None} for run in drawn_runs]
    steps = sorted(set(per_run[0]).intersection(*per_run[1:]))
    out[f"{split}_evaluations"] = len(steps)
    out[f"{split}_last_step"] = steps[-1] if steps else None
    for run, values in zip(drawn_runs, per_run):
      out["by_model"].setdefault(run.model, {})[split] = _falls([values[s] for s in steps])
  return out


def markdown(figure: dict) -> List[str]:
  out = ["## Figure 2b", "", f"Paper: {paper.FIGURE_CLAIMS['fig2b']}.", ""]
  if not figure["curves"]:
    return out + ["No runs: the figure carries a note instead of curves.", ""]
  out += md.table(("model", "final train acc (%)", "final test acc (%)", "best test acc (%)",
                   "steps", "run", "ran on"),
                  [(plotting.model_label(c["model"]), md.number(c["final_train_accuracy"]),
                    md.number(c["final_test_accuracy"]), md.number(c["best_test_accuracy"]),
                    c["steps"], c["run"], c["ran_on"]) for c in figure["curves"]])
  stable = figure.get("stability")
  if stable and stable["test_evaluations"] > 1:
    out += ["", f"Stability (the paper: batch norm \"helps stabilize the learning dynamics\"): "
            f"how far each curve falls between consecutive evaluations, read at the "
            f"{stable['train_evaluations']} evaluations with train accuracy and the "
            f"{stable['test_evaluations']} with test accuracy both runs made (up to step "
            f"{stable['test_last_step']:,}); each model at its own learning rate.", ""]
    out += _falls_table(stable)
  out += _same_rate_markdown(figure.get("same_rate"))
  return out + [""]


def _falls_table(stable: dict) -> List[str]:
  return md.table(("model", "train: summed falls (points)", "largest", "falls",
                   "test: summed falls (points)", "largest", "falls"),
                  [(plotting.model_label(model), *(
                      text for split in ("train", "test") for text in (
                          f"{v[split]['summed']:.2f}", f"{v[split]['largest']:.2f}",
                          v[split]["falls"])))
                   for model, v in stable["by_model"].items()])


def _same_rate_markdown(pair: Optional[dict]) -> List[str]:
  if not pair:
    return []
  lr = pair["learning_rate"]
  if pair["run"] is None:
    return ["", f"At one learning rate: no completed batch-norm run at lr {lr:g} with the "
            f"schedule of the run without batch norm, so the falls above compare each model at "
            f"its own rate, and a smoother curve may be the lower rate's.", ""]
  stable = pair["stability"]
  out = ["", f"At one learning rate (lr {lr:g}, the rate of the run without batch norm; "
         f"batch norm's run `{pair['run']}`, final train / test "
         f"{md.number(pair['final_train_accuracy'])} / {md.number(pair['final_test_accuracy'])}"
         f"%): the same falls, read at the {stable['train_evaluations']} evaluations with train "
         f"accuracy and the {stable['test_evaluations']} with test accuracy both runs made "
         f"({pair['ran_on']}).", ""]
  return out + _falls_table(stable)
