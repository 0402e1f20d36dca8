"""The learning rate a fit needs, against what a Table 1 schedule can give (issue 23).

With the learning rate decayed by a factor per epoch, the rate summed over a run's steps
("lr-steps": the sum of lr(step) over the steps run) is bounded: lr * steps_per_epoch /
(1 - decay) however long the run, and 77.5 lr-steps for Inception without batch norm at its
Table 1 schedule (lr 0.01, 0.95 per epoch, 390 steps an epoch, 100 epochs). A fit needs more
of it the more examples there are (random labels far more than true ones). For every completed
run that fit its training set (100% whole-train accuracy: the trainer's steps_to_fit) with true
or random labels, without regularization or augmentation, at its model's batch size, this gives
the lr-steps up to the fit; per model and labels, a power law lr-steps = a * n^b fitted by
least squares in log-log over the training-set sizes measured below the full set (one point per
size: the mean of its runs), its value at the full set (an extrapolation, labelled as one), a
full-data fit where one is measured, and what the model's Table 1 schedule sums to over its
epoch budget. The law is empirical: for true labels, whose fits scale less simply, the check
against a measured full-data fit (where one exists) says how far to trust it. CIFAR-10 only.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from rethinking import defaults
from rethinking.report import cells
from rethinking.report import markdown as md
from rethinking.report.probes import least_squares
from rethinking.report.runs import Run, ran_on

FULL_N = 50_000  # CIFAR-10's training set
CONDITIONS = {"true_labels": "true labels", "random_labels": "random labels"}


def summed_learning_rate(learning_rate: float, decay: float, steps_per_epoch: int,
                         steps: int) -> float:
  """The sum of lr(s) over steps s = 0 .. steps - 1 of optimizer.learning_rate_schedule
  (learning_rate * decay ** (s // steps_per_epoch)), in closed form: summing the Keras schedule
  step by step would be 39,000 calls for a 100-epoch AlexNet run."""
  epochs, rest = divmod(int(steps), int(steps_per_epoch))
  if math.isclose(decay, 1.0):
    whole = steps_per_epoch * epochs
  else:
    whole = steps_per_epoch * (1.0 - decay ** epochs) / (1.0 - decay)
  return learning_rate * (whole + rest * decay ** epochs)


def _plain(run: Run) -> bool:
  """A plain true- or random-label CIFAR-10 run at the model's batch size (what a step does
  depends on the batch), no probe, no regularization."""
  config = run.config
  return (config.data.name == "cifar10" and run.kind.condition in CONDITIONS
          and not run.kind.regularized and not cells.probes(config)
          and config.train.batch_size == defaults.defaults_for(run.model)["batch_size"])


def _counts(run: Run) -> bool:
  """A completed plain run that fit."""
  return (_plain(run) and run.completed and run.results.steps_to_fit is not None
          and bool(run.results.steps_per_epoch))


def fit_line(run: Run) -> dict:
  train = run.config.train
  steps, per_epoch = run.results.steps_to_fit, run.results.steps_per_epoch
  return {"run": run.path, "model": run.model, "labels": CONDITIONS[run.kind.condition],
          "n": run.train_size or FULL_N,
          "learning_rate": train.learning_rate, "lr_decay": train.lr_decay,
          "precision": run.results.precision, "steps_to_fit": steps,
          "epoch_of_fit": steps / per_epoch,
          "lr_steps": summed_learning_rate(train.learning_rate, train.lr_decay, per_epoch, steps),
          # Only fits at the model's own learning rate make the law: that the lr-steps to fit do
          # not depend on the rate is what runs at other rates test, not what the law assumes.
          "in_law": math.isclose(train.learning_rate,
                                 defaults.defaults_for(run.model)["learning_rate"]),
          "ran_on": ran_on([run])}


def power_law(points: Mapping[int, float]) -> Optional[dict]:
  """The least-squares line of log(lr-steps) on log(n) over {n: lr-steps} (the JPEG trend's,
  probes.least_squares); None below two sizes."""
  line = least_squares([(math.log(n), math.log(v)) for n, v in points.items()])
  if line is None:
    return None
  slope, intercept = line
  return {"exponent": slope, "coefficient": math.exp(intercept), "sizes": sorted(points)}


def rate_sweeps(runs: Mapping[str, Run]) -> List[dict]:
  """Does the rate change what a fit needs? Per model, labels, n and lr decay with plain runs
  at two or more learning rates (completed, fit or not, or diverged): each run's outcome and
  steps, and over the fits the least-squares exponent k of steps to fit ~ lr^k. k = -1 means
  the lr-steps to fit do not depend on the rate (what the lr-steps budget above assumes); k = 0
  means the steps do, and then a summed-rate ceiling does not bound the fit: steps at a rate
  that trains do."""
  groups: Dict[tuple, List[Run]] = {}
  for run in runs.values():
    if _plain(run) and run.status in ("completed", "diverged"):
      key = (run.model, CONDITIONS[run.kind.condition], run.train_size or FULL_N,
             run.config.train.lr_decay)
      groups.setdefault(key, []).append(run)
  order = list(CONDITIONS.values())
  out = []
  for (model, labels, n, decay), group in sorted(
      groups.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]), kv[0][2], kv[0][3])):
    if len({r.config.train.learning_rate for r in group}) < 2:
      continue
    lines, fits = [], {}
    for run in sorted(group, key=lambda r: (r.config.train.learning_rate,
                                            r.results.precision, r.path)):
      lr = run.config.train.learning_rate
      fit = run.completed and run.results.steps_to_fit is not None
      outcome = "fit" if fit else "diverged" if run.status == "diverged" else "not fit"
      steps = (run.results.steps_to_fit if fit else run.results.diverged_at_step
               if outcome == "diverged" else run.results.step)
      # The rate of the last step trained (decayed per epoch): the lowest it trained at.
      per_epoch = run.results.steps_per_epoch
      last_rate = (lr * decay ** ((steps - 1) // per_epoch) if steps and per_epoch else None)
      if fit:
        fits.setdefault(lr, []).append(steps)
      lines.append({"run": run.path, "learning_rate": lr, "precision": run.results.precision,
                    "outcome": outcome, "steps": steps, "last_rate": last_rate,
                    "ran_on": ran_on([run])})
    mean = {lr: sum(v) / len(v) for lr, v in fits.items()}
    line = least_squares([(math.log(lr), math.log(v)) for lr, v in mean.items()])
    exponent = None if line is None else line[0]
    lowest = min((l["last_rate"] for l in lines if l["outcome"] == "fit"
                  and l["last_rate"] is not None), default=None)
    out.append({"model": model, "labels": labels, "n": n, "lr_decay": decay, "runs": lines,
                "fit_rates": sorted(mean), "lowest_fit_rate": lowest, "exponent": exponent,
                "need": None if exponent is None else
                        "steps" if exponent > -0.5 else "lr-steps"})
  return out


def steps_at_or_above(model: str, rate: float, n: int = FULL_N) -> int:
  """How many of the model's Table 1 schedule's steps at n examples run at a learning rate of
  at least `rate` (the rate is constant within an epoch)."""
  d = defaults.defaults_for(model)
  per_epoch = n // d["batch_size"]
  epochs = sum(1 for e in range(d["epochs"])
               if d["learning_rate"] * d["lr_decay"] ** e >= rate * (1 - 1e-9))
  return per_epoch * epochs


def schedule_supply(model: str, n: int = FULL_N) -> dict:
  """What the model's Table 1 schedule (rethinking.defaults) sums to at n examples: over its
  epoch budget, and at most over any number of epochs."""
  d = defaults.defaults_for(model)
  per_epoch = n // d["batch_size"]
  budget = summed_learning_rate(d["learning_rate"], d["lr_decay"], per_epoch,
                                per_epoch * d["epochs"])
  limit = (math.inf if d["lr_decay"] >= 1.0
           else d["learning_rate"] * per_epoch / (1.0 - d["lr_decay"]))
  return {"learning_rate": d["learning_rate"], "lr_decay": d["lr_decay"],
          "epochs": d["epochs"], "batch_size": d["batch_size"], "lr_steps": budget,
          "limit": limit}


def fit_budget(runs: Mapping[str, Run],
               sweeps: Optional[List[dict]] = None) -> List[dict]:
  """One entry per model and labels with a fit: its fits, the power law, the extrapolated
  need at the full set, the measured full-set need (if any) and the Table 1 schedule's supply;
  where the rate sweeps (rate_sweeps(runs) unless given) say the need is steps, the same in
  steps ("steps_view")."""
  sweeps = rate_sweeps(runs) if sweeps is None else sweeps
  by_key: Dict[tuple, List[dict]] = {}
  for run in runs.values():
    if _counts(run):
      line = fit_line(run)
      by_key.setdefault((line["model"], line["labels"]), []).append(line)
  out = []
  order = list(CONDITIONS.values())  # true labels first, as Table 1 lists them
  for (model, labels), lines in sorted(by_key.items(),
                                       key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
    lines.sort(key=lambda l: (l["n"], not l["in_law"], l["learning_rate"], l["precision"],
                              l["run"]))
    sizes: Dict[int, List[float]] = {}
    for line in lines:
      if line["in_law"]:
        sizes.setdefault(line["n"], []).append(line["lr_steps"])
    mean = {n: sum(v) / len(v) for n, v in sizes.items()}
    law = power_law({n: v for n, v in mean.items() if n < FULL_N})
    extrapolated = None if law is None else law["coefficient"] * FULL_N ** law["exponent"]
    supply = schedule_supply(model)
    need = mean.get(FULL_N, extrapolated)
    # Where the rate sweeps say the need is steps, the same law in steps, against the steps the
    # schedule runs at or above the lowest rate measured to fit (at any n).
    in_steps = [w for w in sweeps if (w["model"], w["labels"]) == (model, labels)
                and w["need"] == "steps"]
    steps_view = None
    if in_steps:
      step_sizes: Dict[int, List[float]] = {}
      for line in lines:
        if line["in_law"] and line["n"] < FULL_N:
          step_sizes.setdefault(line["n"], []).append(line["steps_to_fit"])
      steps_law = power_law({n: sum(v) / len(v) for n, v in step_sizes.items()})
      full = [line["steps_to_fit"] for line in lines if line["in_law"] and line["n"] == FULL_N]
      lowest = min(w["lowest_fit_rate"] for w in in_steps)
      steps_view = {"sweeps": [(w["n"], w["exponent"]) for w in in_steps],
                    "lowest_fit_rate": lowest,
                    "schedule_steps_at_or_above": steps_at_or_above(model, lowest),
                    "power_law": steps_law,
                    "extrapolated_full": None if steps_law is None else
                    steps_law["coefficient"] * FULL_N ** steps_law["exponent"],
                    "measured_full": sum(full) / len(full) if full else None}
    out.append({"model": model, "labels": labels, "fits": lines, "power_law": law,
                "extrapolated_full": extrapolated, "measured_full": mean.get(FULL_N),
                "supply": supply, "steps_view": steps_view,
                "verdict": None if need is None else (
                    "fits within the budget" if need <= supply["lr_steps"] else
                    "needs more than the budget" if need <= supply["limit"] else
                    "needs more than any number of epochs gives")})
  return out


def _summary(entry: dict) -> str:
  s, law = entry["supply"], entry["power_law"]
  text = (f"{entry['model']}, {entry['labels']}: Table 1's schedule "
          f"(lr {s['learning_rate']:g}, decay "
          f"{s['lr_decay']:g} per epoch, batch {s['batch_size']}, {s['epochs']} epochs) sums to "
          f"{s['lr_steps']:.1f} lr-steps at n = {FULL_N:,}"
          + ("" if math.isinf(s["limit"]) else f" (at most {s['limit']:.1f} for any length)"))
  if law is not None:
    sizes = ", ".join(f"{n:,}" for n in law["sizes"])
    text += (f"; fits at n = {sizes} give lr-steps ~ n^{law['exponent']:.2f}, "
             f"**{entry['extrapolated_full']:,.0f} at n = {FULL_N:,} (an extrapolation)**")
  if entry["measured_full"] is not None:
    text += f"; measured at n = {FULL_N:,}: {entry['measured_full']:.1f}"
    if law is not None:  # how far the extrapolation was off where it can be checked
      text += f" ({entry['measured_full'] / entry['extrapolated_full']:.2f}x the extrapolation)"
  if entry["verdict"]:
    text += (f": {entry['verdict']}"
             + (" (measured)" if entry["measured_full"] is not None else " (estimate)"))
  text += "."
  view = entry.get("steps_view")
  if view:
    sweeps = "; ".join(f"at n = {n:,} steps to fit ~ lr^{k:.2f}" for n, k in view["sweeps"])
    supply = view["schedule_steps_at_or_above"]
    text += (f" The rate sweeps below ({sweeps}) say steps at a rate that trains, more than "
             f"summed rate, are what its fits need. In steps: the schedule runs {supply:,} steps "
             f"at lr >= {view['lowest_fit_rate']:.2g} (the lowest rate a fit in the sweeps "
             f"trained at, its last step's) at n = {FULL_N:,}")
    law = view["power_law"]
    if law is not None:
      sizes = ", ".join(f"{n:,}" for n in law["sizes"])
      text += (f"; fits at n = {sizes} give steps ~ n^{law['exponent']:.2f}, "
               f"**{view['extrapolated_full']:,.0f} steps at n = {FULL_N:,} (an "
               f"extrapolation)**")
    measured = view.get("measured_full")
    if measured is not None:
      text += f"; measured at n = {FULL_N:,}: {measured:,.0f} steps"
    need = measured if measured is not None else view["extrapolated_full"]
    if need is not None:
      text += (": " + ("fits within those steps" if need <= supply
                       else "needs more steps than the schedule runs at those rates")
               + (" (measured)" if measured is not None else " (estimate)"))
    text += "."
  return text


def sweeps_markdown(sweeps: List[dict]) -> List[str]:
  rows = []
  for w in sweeps:
    k = "-" if w["exponent"] is None else f"{w['exponent']:.2f}"
    for line in w["runs"]:
      steps = f"{line['steps']:,}" if line["steps"] is not None else "-"
      outcome = {"fit": f"fit at step {steps}", "diverged": f"diverged at step {steps}",
                 "not fit": f"not fit by step {steps} (its end)"}[line["outcome"]]
      last = "-" if line["last_rate"] is None else f"{line['last_rate']:.2g}"
      rows.append((w["model"], w["labels"], f"{w['n']:,}", f"{w['lr_decay']:g}",
                   f"{line['learning_rate']:g}", last, line["precision"], outcome, k,
                   w["need"] or "-", line["ran_on"]))
  return md.section(
      "Does the rate change what a fit needs? Learning-rate sweeps",
      "Plain true- or random-label runs of one model, n and lr decay at two or more learning "
      "rates: how each ended, and over the fits the exponent k of a least-squares line of "
      "log(steps to fit) on log(lr). k = -1: the summed learning rate (lr-steps) to fit is the "
      "same at every rate, as the budget above assumes; k = 0: the steps are, and then what "
      "bounds a fit is the steps a schedule runs at a rate that trains, not its lr-steps "
      "(\"needs\": whichever k is nearer). A run that did not fit by its end is a lower bound.",
      ("model", "labels", "n", "lr decay / epoch", "lr", "lr at its last step", "precision",
       "outcome",
       "k (steps ~ lr^k)", "needs", "ran on"), rows,
      "No model, n and decay has runs at two learning rates.")


def markdown(entries: List[dict], sweeps: Sequence[dict] = ()) -> List[str]:
  rows = [(line["model"], line["labels"], f"{line['n']:,}", f"{line['learning_rate']:g}",
           f"{line['lr_decay']:g}", line["precision"], f"{line['steps_to_fit']:,}",
           f"{line['epoch_of_fit']:g}", f"{line['lr_steps']:.1f}", md.yes(line["in_law"]),
           line["ran_on"])
          for e in entries for line in e["fits"]]
  out = md.section(
      "Fitting the training set: the summed learning rate a fit needs (lr-steps)",
      "Completed runs that fit true or random labels (100% whole-train accuracy) without "
      "regularization, at their model's batch size: the learning rate summed over the steps up "
      "to the fit. A per-epoch decay bounds what a schedule can sum; below, per model and "
      "labels, what its "
      "Table 1 schedule sums to at the full training set, a power law over the sizes measured "
      "below it at the model's own learning rate (its value at the full set is an "
      "extrapolation), and the full-set fit where one was measured. Fits at other rates are "
      "listed to test whether the lr-steps to fit depend on the rate.",
      ("model", "labels", "n", "lr", "lr decay / epoch", "precision", "steps to fit",
       "epoch of fit", "lr-steps to fit", "in the law (model's lr)", "ran on"), rows,
      "No completed run fit its training set.")
  if entries:
    out += ([f"- {_summary(e)}" for e in entries]
            + ["", "![lr-steps to fit against n, with each law and each schedule's sum]"
                   "(fit_budget.png)", ""])
    if any(e.get("steps_view") for e in entries):
      out += ["![steps to fit against n where steps bound a fit, with each steps law and the "
              "steps each schedule runs at a rate that trained a fit](fit_steps.png)", ""]
  return out + sweeps_markdown(list(sweeps))


def _draw_fits(ax, entry: dict, key: str, law: Optional[dict], color: str, name: str) -> None:
  """One model and labels' fits at its own rate (circles true, squares random labels) and its
  law drawn out to the full set (dash-dot true, dashed random), `key` on the y axis."""
  random = entry["labels"] == "random labels"
  own = [line for line in entry["fits"] if line["in_law"]]
  ax.plot([line["n"] for line in own], [line[key] for line in own], "s" if random else "o",
          color=color, fillstyle="full" if random else "none", label=name)
  if law is not None:
    grid = np.geomspace(min(law["sizes"]), FULL_N, 50)
    ax.plot(grid, law["coefficient"] * grid ** law["exponent"], "--" if random else "-.",
            color=color, linewidth=1)


def steps_figure(entries: List[dict], path: str) -> dict:
  """fit_steps.png, for each model and labels whose rate sweeps say its fits need steps
  (steps_view): steps to fit against n at the model's rate (log-log), the steps law drawn out to
  the full set, and the steps its Table 1 schedule runs at n = 50,000 at or above the lowest rate
  a fit trained at (a horizontal mark at the full set): a law above its mark needs more."""
  # pylint: disable=import-outside-toplevel
  from rethinking.report import plotting  # matplotlib: only where a figure is drawn
  fig, ax = plotting.new_figure("Steps to fit the training set (CIFAR-10), where steps bound it")
  with_view = [e for e in entries if e.get("steps_view")]
  models = sorted({e["model"] for e in entries})
  colors = {m: f"C{i}" for i, m in enumerate(models)}
  drawn = []
  for e in with_view:
    color, random = colors[e["model"]], e["labels"] == "random labels"
    name = f"{plotting.model_label(e['model'])}, {e['labels']}"
    view = e["steps_view"]
    _draw_fits(ax, e, "steps_to_fit", view["power_law"], color, name)
    ax.plot([FULL_N], [view["schedule_steps_at_or_above"]], "v" if random else "_",
            color=color, markersize=10 if random else 18, markeredgewidth=2,
            label=f"{name}: steps at lr >= {view['lowest_fit_rate']:.2g}")
    drawn.append(name)
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("training examples n")
  ax.set_ylabel("steps to 100% train accuracy")
  plotting.finish(fig, ax, path, drawn, ["No model's rate sweeps say its fits need steps."],
                  fontsize=7)
  return {"path": path, "drawn": drawn}


def figure(entries: List[dict], path: str) -> dict:
  """fit_budget.png: lr-steps to fit against n (log-log), per model and labels (circles true,
  squares random labels), each law drawn out to the full set (dash-dot true, dashed random), and
  what each model's Table 1 schedule sums to at each n (dotted, its colour; AlexNet's and
  Inception without batch norm's are one line): a law above its model's dotted line at n =
  50,000 needs more than that schedule gives."""
  # pylint: disable=import-outside-toplevel
  from rethinking.report import plotting  # matplotlib: only where a figure is drawn
  fig, ax = plotting.new_figure("Summed learning rate to fit the training set (CIFAR-10)")
  models = sorted({e["model"] for e in entries})
  colors = {m: f"C{i}" for i, m in enumerate(models)}
  drawn, others_drawn = [], False
  for e in entries:
    color = colors[e["model"]]
    name = f"{plotting.model_label(e['model'])}, {e['labels']}"
    _draw_fits(ax, e, "lr_steps", e["power_law"], color, name)
    # Fits at another rate than the model's: what the rate sweeps test, not points of the law.
    other = [line for line in e["fits"] if not line["in_law"]]
    if other:  # one legend entry for all of them: the colour says the model
      ax.plot([line["n"] for line in other], [line["lr_steps"] for line in other], "x",
              color=color, label=None if others_drawn else "x: at another lr (not in a law)")
      others_drawn = True
    drawn.append(name)
  # What the Table 1 schedule (its epochs at its batch) sums to at each n: proportional to n.
  low = min(line["n"] for e in entries for line in e["fits"]) if entries else FULL_N
  sizes = np.geomspace(low, FULL_N, 20)
  for model in models:
    ax.plot(sizes, [schedule_supply(model, int(n))["lr_steps"] for n in sizes], ":",
            color=colors[model], linewidth=1.2,
            label=f"{plotting.model_label(model)}: what its Table 1 schedule sums to")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("training examples n")
  ax.set_ylabel("lr-steps to 100% train accuracy")
  plotting.finish(fig, ax, path, drawn, ["No completed run fit its training set."], fontsize=7)
  return {"path": path, "drawn": drawn}
