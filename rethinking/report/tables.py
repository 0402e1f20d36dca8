"""The paper's tables with ours beside them: Table 1, the appendix table, and subset runs.

A run fills a paper row by its recorded config (report.cells), whatever its directory is called.
What fills "ours":
- completed runs on the whole training set; runs that differ in seed alone pool (mean, and
  min-max over seeds when there are two or more);
- a run that differs in anything else (batch size, epochs, --stop_when_fit, learning rate,
  precision, ...) is its own line under the paper's row, labelled with what differs (a
  stop-when-fit line says the epoch it stopped at);
- one line per setting and schedule, whatever its runs' status: numbers come from the completed
  runs, and a line without one says where it stopped;
- every line shows "ours - paper", beside its schedule;
- runs with --train_size never fill a paper row: they go to the "reduced" table with their n.
A row without a run says "not run" ("not finished" while one is under way), never the paper's
number. Numbers are accuracies in percent.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from rethinking import defaults
from rethinking import paper
from rethinking.report import fit
from rethinking.report import markdown as md
from rethinking.report.runs import Run, Unfinished, per_seed, pooled, ran_on

SUBSET_NOTE = ("Runs on a subset of the training set (--train_size) are not here: see "
               "reduced.md.")


def cell_json(cell: paper.Cell) -> dict:
  return {"value": cell.value, "confirmed": cell.confirmed, "text": str(cell)}


def difference(ours: Optional[dict], theirs: paper.Cell) -> Optional[float]:
  """ours (pooled mean) - paper in percentage points; None when either is missing."""
  if ours is None or theirs.value is None:
    return None
  return round(ours["mean"] - theirs.value, 4)


def basic_metrics(group: Sequence[Run]) -> dict:
  """Pooled over seeds (runs of one seed are averaged first: one seed, one value)."""
  return {"train": md.pooled(per_seed(group, lambda r: r.accuracy("train"))),
          "test": md.pooled(per_seed(group, lambda r: r.accuracy("test"))),
          "test_best": md.pooled(per_seed(group, lambda r: r.best_test_accuracy()))}


def _status_text(group: Sequence[Run]) -> str:
  """For a line none of whose runs completed: where the furthest run is."""
  run = max(group, key=lambda r: r.results.step or 0)
  if run.status == "diverged":
    return f"diverged at step {run.results.diverged_at_step}"
  return f"{md.NOT_FINISHED} ({run.status} at step {run.results.step})"


def line_label(group: Sequence[Run]) -> str:
  """The line's schedule; a stop-when-fit line says the epoch its runs stopped at."""
  label = group[0].kind.variant_label
  if not group[0].kind.stops_when_fit:
    return label
  done = [r for r in group if r.completed]
  fit_epochs = [r.results.epochs_to_fit for r in done if r.results.epochs_to_fit is not None]
  fit_epochs += [r.results.steps_to_fit / r.results.steps_per_epoch for r in done
                 if r.results.epochs_to_fit is None and r.results.steps_to_fit
                 and r.results.steps_per_epoch]
  if fit_epochs:
    lo, hi = min(fit_epochs), max(fit_epochs)
    when = (f"stopped when fit at epoch {lo:.3g}" if lo == hi else
            f"stopped when fit at epochs {lo:.3g}-{hi:.3g}")
  elif done:
    when = "stop when fit: not fit by the end"
  else:
    when = "stop when fit"
  return label.replace("stop when fit", when)


def entries(group_runs: Sequence[Run], metrics: Callable[[Sequence[Run]], dict]) -> List[dict]:
  """One line per setting and schedule (runs differing in seed alone pool), whatever their
  status: numbers from its completed runs; a line without one says where it stopped. Paper
  schedule first."""
  out = []
  for group in pooled(group_runs):
    done = [r for r in group if r.completed]
    out.append({
        "variant": line_label(group),
        "paper_schedule": group[0].kind.at_paper_schedule,
        "status": "completed" if done else group[0].status,
        "status_text": None if done else _status_text(group),
        "runs": [r.path for r in group],
        "unfinished_runs": [r.path for r in group if not r.completed],
        "train_size": group[0].train_size,
        "metrics": metrics(done) if done else None,
        "steps_to_fit": md.pooled(per_seed(done, lambda r: r.results.steps_to_fit)),
        "ran_on": ran_on(group), "measured_on": ran_on(group, data=False)})
  return sorted(out, key=lambda e: (not e["paper_schedule"], e["status"] != "completed",
                                    e["variant"]))


def _unfinished_for(table: str, setting: str, unfinished: Mapping[str, Unfinished]) -> List[str]:
  out = []
  for path, u in sorted(unfinished.items()):
    if u.kind and u.kind.paper_setting == (table, setting) and not u.config.data.train_size:
      out.append(path)
  return out


def _pending_text(paths: Sequence[str], unfinished: Mapping[str, Unfinished]) -> str:
  """'not finished (checkpoint at step 5,460)': where the furthest run under way stands."""
  steps = [unfinished[p].step for p in paths if unfinished[p].step]
  return f"{md.NOT_FINISHED} (checkpoint at step {max(steps):,})" if steps else md.NOT_FINISHED


def rows_for(table: str, settings: Sequence[str], runs: Mapping[str, Run],
             unfinished: Mapping[str, Unfinished],
             metrics: Callable[[Sequence[Run]], dict] = basic_metrics) -> Dict[str, dict]:
  """setting -> {"entries": pooled lines of full-data runs, "missing": text or None,
  "unfinished": paths} for one table."""
  matched: Dict[str, List[Run]] = {s: [] for s in settings}
  for run in runs.values():
    cell = run.kind.cell
    if cell and cell.table == table and run.full_data and cell.setting in matched:
      matched[cell.setting].append(run)
  out = {}
  for setting in settings:
    lines = entries(matched[setting], metrics)
    pending = _unfinished_for(table, setting, unfinished)
    has_paper = any(e["paper_schedule"] for e in lines)  # completed or not: one line
    out[setting] = {"entries": lines, "unfinished": pending,
                    "missing": None if has_paper else (_pending_text(pending, unfinished)
                                                       if pending
                                                       else md.NOT_RUN)}
  return out


# ---- Table 1 ---------------------------------------------------------------------------------
def table1(runs: Mapping[str, Run], unfinished: Mapping[str, Unfinished]) -> List[dict]:
  found = rows_for("table1", [r.setting for r in paper.TABLE1], runs, unfinished)
  rows = []
  for row in paper.TABLE1:
    f = found[row.setting]
    for e in f["entries"]:
      m = e["metrics"] or {}
      e["difference"] = {"train": difference(m.get("train"), row.train),
                         "test": difference(m.get("test"), row.test)}
    rows.append({"setting": row.setting, "model": row.model, "params": row.params,
                 "random_crop": row.random_crop, "weight_decay": row.weight_decay,
                 "random_labels": row.random_labels,
                 "paper": {"train": cell_json(row.train), "test": cell_json(row.test)},
                 "ours": f["entries"], "ours_missing": f["missing"],
                 "unfinished": f["unfinished"]})
  return rows


TABLE1_HEADER = ("setting", "model", "params", "random crop", "weight decay", "paper train",
                 "paper test", "ours: schedule", "ours train", "ours test",
                 "ours − paper train", "ours − paper test", "ours ran on")


def accuracy_cells(differences) -> Callable[[dict], List[str]]:
  """Our cells of a table line: pooled train and test accuracy, ours − paper for the named
  splits, what the run ran on."""
  def cells(e: dict) -> List[str]:
    m = e["metrics"]
    return ([md.pooled_text(m["train"]), md.pooled_text(m["test"])]
            + [md.signed(e["difference"][split]) for split in differences] + [e["ran_on"]])
  return cells


def paper_row_lines(row: dict, fixed: List[str], paper_cells: List[str],
           ours_cells: Callable[[dict], List[str]], width: int,
           measured: int = 2) -> List[List[str]]:
  """A paper row's Markdown lines: the paper's schedule first ("not run" when it has no
  completed run), then one line per other variant. `width` of our cells, the first `measured`
  of them numbers (a line without any says why in each)."""
  lines = []
  if row["ours_missing"]:
    schedule = ("paper schedule" if row["ours_missing"].startswith((md.NOT_RUN, md.NOT_FINISHED))
                else "-")
    lines.append(fixed + paper_cells + [schedule]
                 + [row["ours_missing"]] * measured + ["-"] * (width - measured))
  for e in row["ours"]:
    if e["status_text"]:
      ours = [e["status_text"]] * measured + ["-"] * (width - measured - 1) + [e["ran_on"]]
    else:
      ours = ours_cells(e)
    lines.append(fixed + paper_cells + [e["variant"]] + ours)
  return lines


def schedules() -> List[dict]:
  """Each Table 1 model's schedule value that is ours (rethinking.defaults.WHY): the paper does
  not state it, or ours differs from what it states (rethinking.paper.STATED_SCHEDULES)."""
  out = []
  for model, stated in paper.STATED_SCHEDULES.items():
    ours = defaults.defaults_for(model)
    for field in defaults.SCHEDULE_FIELDS:
      given = stated.get(field)
      if given is not None and math.isclose(given.value, ours[field]):
        continue
      out.append({"model": model, "field": field, "ours": ours[field],
                  "paper": None if given is None else given.value,
                  "source": None if given is None else given.source,
                  "why": defaults.WHY.get(model, {}).get(field)})
  return out


def schedules_markdown(lines: List[dict]) -> List[str]:
  rows = [(paper.PAPER_NAMES.get(l["model"], l["model"]), FIELD_WORDS.get(l["field"], l["field"]),
           "not stated" if l["paper"] is None else f"{l['paper']:g} ({l['source']})",
           f"{l['ours']:g}", l["why"] or "-") for l in lines]
  return md.section(
      "Schedules: where the defaults (\"paper schedule\") are ours",
      "The paper's Appendix A gives SGD with momentum 0.9, the learning rate decayed by 0.95 per "
      "epoch, and initial rates for some models; every other schedule value, and any that "
      "differs from what the paper gives, is ours (rethinking/defaults.py), with why:",
      ("model", "field", "paper", "ours", "why ours"), rows,
      "Every model's defaults are the paper's stated schedule.")


FIELD_WORDS = {"learning_rate": "initial lr", "lr_decay": "lr decay / epoch",
               "batch_size": "batch size"}


def table1_markdown(rows: List[dict], sources: str) -> str:
  lines = md.heading(
      "# Table 1: CIFAR-10, train / test accuracy (%)", paper.CITATION,
      f"Ours: every full-data run under {sources} whose recorded configuration matches the "
      f"row (whatever its directory is called). \"paper schedule\": the model's defaults for "
      f"the whole schedule (the paper's where it states one; where ours, listed under the "
      f"table); other lines say what differs (a stop-when-fit line, the epoch it "
      f"stopped at: its numbers are those at the fit), and every line shows its \"ours − "
      f"paper\". Runs differing in seed alone are pooled: mean (min-max, seeds); two runs of "
      f"one seed count as one. A row without a run says \"{md.NOT_RUN}\". Train accuracy is "
      f"over the whole (corrupted) training set without augmentation, in inference mode. "
      f"{SUBSET_NOTE}")

  body = []
  for r in rows:
    model = r["model"] + (" (fitting random labels)" if r["random_labels"] else "")
    fixed = [r["setting"], model, f"{r['params']:,}", md.yes(r["random_crop"]),
             md.yes(r["weight_decay"])]
    paper_cells = [r["paper"]["train"]["text"], r["paper"]["test"]["text"]]
    body += paper_row_lines(r, fixed, paper_cells, accuracy_cells(("train", "test")), 5)
  return "\n".join(lines + md.table(TABLE1_HEADER, body) + schedules_markdown(schedules())) + "\n"


# ---- the appendix table ------------------------------------------------------------------------
def _appendix_metrics(group: Sequence[Run]) -> dict:
  return {**basic_metrics(group),
          "running_train": md.pooled(per_seed(group, lambda r: r.running_train_accuracy()))}


def appendix(runs: Mapping[str, Run], unfinished: Mapping[str, Unfinished]) -> List[dict]:
  found = rows_for("appendix", [r.setting for r in paper.APPENDIX if r.setting], runs,
                   unfinished, metrics=_appendix_metrics)
  rows = []
  for row in paper.APPENDIX:
    f = found.get(row.setting) or {"entries": [], "unfinished": [],
                                   "missing": "no such augmentation in our trainer"}
    for e in f["entries"]:
      m = e["metrics"] or {}
      # Like with like: where the paper's number is the running average over augmented
      # mini-batches, ours is too.
      ours = m.get("running_train" if row.running_average else "train")
      e["difference"] = {"train": difference(ours, row.train)}
      e["versus_paper"] = _versus_no_number(ours, row.train)
    regularizer = row.regularizer + (f" (paper: {row.schedule_text})" if row.schedule else "")
    rows.append({"setting": row.setting or "-", "model": row.model,
                 "regularizer": regularizer, "running_average": row.running_average,
                 "paper": {"train": cell_json(row.train)},
                 "ours": f["entries"], "ours_missing": f["missing"],
                 "unfinished": f["unfinished"]})
  return rows


def _versus_no_number(ours: Optional[dict], theirs: paper.Cell) -> Optional[str]:
  """Against a paper cell without a number ("fails to converge"), the only comparison there is:
  whether ours fit random labels at the report's level (fit.RANDOM_LABELS). None otherwise."""
  if ours is None or theirs.value is not None:
    return None
  if fit.fits(ours["mean"]):
    return f"differs: fits ({fit.words(fit.RANDOM_LABELS)})"
  return f"agrees: not fit (< {100 * fit.RANDOM_LABELS:g}%)"


APPENDIX_HEADER = ("setting", "model", "regularizer", "paper train", "ours: schedule",
                   "ours train", "ours train, running (mini-batches)", "ours test",
                   "ours − paper train", "ours ran on")


def _appendix_cells(e: dict) -> List[str]:
  m = e["metrics"]
  return [md.pooled_text(m["train"]), md.pooled_text(m["running_train"]),
          md.pooled_text(m["test"]),
          e.get("versus_paper") or md.signed(e["difference"]["train"]), e["ran_on"]]


def appendix_markdown(rows: List[dict], sources: str) -> str:
  lines = ["# Appendix: fitting random labels with explicit regularization (train accuracy, %)",
           "", f"Paper: {paper.CITATION} These cells come from secondary sources and are "
           f"marked (unconfirmed); \"fails to converge\" is also in the paper's text.  ",
           f"Ours: completed full-data random-label runs under {sources} with weight decay or "
           f"random crops (flagfiles in flags/appendix/), matched by configuration as in "
           f"Table 1. \"ours train\" is a clean pass over the (un-augmented) training set at "
           f"the end; \"running\" averages the last epoch's training mini-batches (augmented "
           f"where the run crops), the paper's measure for its augmentation rows, whose \"ours "
           f"− paper\" uses it; the others' use the clean pass. Against \"fails to converge\" it "
           f"says whether ours fit ({fit.words(fit.RANDOM_LABELS)} of the training set). "
           f"\"paper schedule\" is the "
           f"row's: the augmentation rows' own where the regularizer cell gives one. "
           f"{SUBSET_NOTE}", ""]

  body = []
  for r in rows:
    body += paper_row_lines(r, [r["setting"], r["model"], r["regularizer"]],
                            [r["paper"]["train"]["text"]], _appendix_cells, 5, measured=3)
  return "\n".join(lines + md.table(APPENDIX_HEADER, body)) + "\n"


# ---- runs on a subset of the training set -----------------------------------------------------
def reduced(runs: Mapping[str, Run]) -> List[dict]:
  """Completed --train_size runs that match a paper cell, pooled like the paper rows."""
  matched: Dict[tuple, List[Run]] = {}
  for run in runs.values():
    cell = run.kind.cell
    if cell and not run.full_data:
      matched.setdefault((cell.table, cell.setting, cell.label), []).append(run)
  order = {t: i for i, t in enumerate(("table1", "appendix", "table2"))}
  out = []
  for (table, setting, label), group_runs in sorted(matched.items(),
                                                    key=lambda kv: (order[kv[0][0]], kv[0])):
    for e in entries(group_runs, basic_metrics):
      out.append({"table": table, "setting": setting, "label": label, **e})
  return out


REDUCED_HEADER = ("table", "setting", "paper cell", "n", "ours: schedule", "train", "test",
                  "steps to fit", "ran on")


def reduced_markdown(rows: List[dict], sources: str) -> str:
  lines = ["# Runs on a subset of the training set (%)", "",
           f"Completed runs under {sources} trained with --train_size=n, matched to the paper's "
           f"cell by configuration. They never fill a paper row (the paper trains on all "
           f"50,000 images); the paper's numbers are in table1.md and appendix.md.", ""]
  body = []
  for r in rows:
    m = r["metrics"] or {}
    status = r["status_text"]
    body.append([r["table"], r["setting"], r["label"], r["train_size"], r["variant"],
                 status or md.pooled_text(m.get("train")),
                 status or md.pooled_text(m.get("test")),
                 md.pooled_text(r["steps_to_fit"], missing="not fit", fmt="{:.0f}"), r["ran_on"]])
  if not body:
    body.append(["-", "-", "no subset runs", "-", "-", "-", "-", "-", "-"])
  return "\n".join(lines + md.table(REDUCED_HEADER, body)) + "\n"
