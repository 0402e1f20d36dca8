"""Tables 1 and 2: the paper's numbers beside ours, never in place of ours.

Each row joins a `rethinking.paper` row with the run `<group>-<setting>` (table1-..., table2-...).
Ours comes only from that run's results.json; a setting without one shows "not run" (or
"not finished"), and its difference column stays empty. Numbers are accuracies in percent.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional

from rethinking import paper
from rethinking.report.runs import Run

NOT_RUN = "not run"
NOT_FINISHED = "not finished"
NOT_MEASURED = "not measured"


def cell_json(cell: paper.Cell) -> dict:
  return {"value": cell.value, "confirmed": cell.confirmed, "text": str(cell)}


def difference(ours: Optional[float], theirs: paper.Cell) -> Optional[float]:
  """ours - paper in percentage points; None when either is missing."""
  if ours is None or theirs.value is None:
    return None
  return round(ours - theirs.value, 4)


def _fmt(x: Optional[float], missing: str = "-") -> str:
  return missing if x is None else f"{x:.2f}"


def _signed(x: Optional[float]) -> str:
  return "-" if x is None else f"{x:+.2f}"


def _yes(flag: bool) -> str:
  return "yes" if flag else "no"


def ours_json(run: Optional[Run]) -> Optional[dict]:
  """What a run measured and on what; None when there is no run."""
  if run is None:
    return None
  r = run.results
  data = r.get("data") or {}
  return {
      "run": run.name,
      "status": run.status,
      "train": run.accuracy("train"),
      "test": run.accuracy("test"),
      "test_best": run.best_test_accuracy(),
      "train_size": data.get("train_size"),
      "epochs_run": run.epochs_run,
      "steps": run.final.get("step"),
      "steps_to_fit": r.get("steps_to_fit"),
      "epochs_to_fit": r.get("epochs_to_fit"),
      "device": r.get("device"),
      "precision": r.get("precision"),
      "data_fingerprint": data.get("fingerprint"),
      "corruption_fingerprint": (r.get("corruption") or {}).get("fingerprint"),
      "fraction_labels_changed": (r.get("corruption") or {}).get("fraction_labels_changed"),
      "wall_seconds": r.get("wall_seconds"),
      "ran_on": run.ran_on(),
  }


def _missing(name: str, unfinished: Mapping[str, str]) -> str:
  return NOT_FINISHED if name in unfinished else NOT_RUN


# ---- Table 1 ---------------------------------------------------------------------------------
def table1(runs: Mapping[str, Run], unfinished: Mapping[str, str] = None) -> List[dict]:
  """One dict per paper row: paper, ours (None when not run) and ours - paper."""
  unfinished = unfinished or {}
  rows = []
  for row in paper.TABLE1:
    name = f"table1-{row.setting}"
    run = runs.get(name)
    ours = ours_json(run)
    rows.append({
        "setting": row.setting, "run_name": name, "model": row.model, "params": row.params,
        "random_crop": row.random_crop, "weight_decay": row.weight_decay,
        "random_labels": row.random_labels,
        "paper": {"train": cell_json(row.train), "test": cell_json(row.test)},
        "ours": ours,
        "ours_missing": None if run else _missing(name, unfinished),
        "difference": {"train": difference(ours and ours["train"], row.train),
                       "test": difference(ours and ours["test"], row.test)},
    })
  return rows


TABLE1_HEADER = ("setting", "model", "params", "random crop", "weight decay", "paper train",
                 "paper test", "ours train", "ours test", "ours − paper train",
                 "ours − paper test", "ours ran on")


def table1_markdown(rows: List[dict], logdir: str = "") -> str:
  lines = ["# Table 1: CIFAR-10, train / test accuracy (%)", "",
           f"Paper: {paper.CITATION}  ",
           f"Ours: the run directories `table1-<setting>` in `{logdir}`; a setting without a "
           f"run shows \"{NOT_RUN}\". Train accuracy is over the whole (corrupted) training set "
           f"without augmentation, in inference mode.", ""]
  lines += _markdown_table(TABLE1_HEADER, [_table1_cells(r) for r in rows])
  return "\n".join(lines) + "\n"


def _table1_cells(r: dict) -> List[str]:
  model = r["model"] + (" (fitting random labels)" if r["random_labels"] else "")
  paper_cells = [r["paper"]["train"]["text"], r["paper"]["test"]["text"]]
  if r["ours"] is None:
    ours = [r["ours_missing"], r["ours_missing"], "-", "-", "-"]
  else:
    o = r["ours"]
    ours = [_fmt(o["train"]), _fmt(o["test"]), _signed(r["difference"]["train"]),
            _signed(r["difference"]["test"]), o["ran_on"]]
  return [r["run_name"], model, f"{r['params']:,}", _yes(r["random_crop"]),
          _yes(r["weight_decay"]), *paper_cells, *ours]


# ---- Table 2 ---------------------------------------------------------------------------------
def table2(runs: Mapping[str, Run], unfinished: Mapping[str, str] = None) -> List[dict]:
  """One dict per paper row of Table 2 (ImageNet, Inception V3). Ours: top-1 only (the trainer
  records no top-5 accuracy)."""
  unfinished = unfinished or {}
  rows = []
  for row in paper.TABLE2:
    name = f"table2-{row.setting}"
    run = runs.get(name)
    ours = ours_json(run)
    if ours is not None:
      ours["top5_train"] = ours["top5_test"] = None  # not measured
    rows.append({
        "setting": row.setting, "run_name": name, "augmentation": row.augmentation,
        "dropout": row.dropout, "weight_decay": row.weight_decay,
        "random_labels": row.random_labels,
        "paper": {"top1_train": cell_json(row.top1_train),
                  "top5_train": cell_json(row.top5_train),
                  "top1_test": cell_json(row.top1_test),
                  "top1_test_best": cell_json(row.top1_test_best),
                  "top5_test": cell_json(row.top5_test)},
        "ours": ours,
        "ours_missing": None if run else _missing(name, unfinished),
        "difference": {"top1_train": difference(ours and ours["train"], row.top1_train),
                       "top1_test": difference(ours and ours["test"], row.top1_test)},
    })
  return rows


TABLE2_HEADER = ("setting", "labels", "data aug", "dropout", "weight decay",
                 "paper top-1 train", "paper top-5 train", "paper top-1 test [best]",
                 "paper top-5 test", "ours top-1 train", "ours top-1 test [best]",
                 "ours top-5 train / test", "ours − paper top-1 train",
                 "ours − paper top-1 test", "ours ran on")


def table2_markdown(rows: List[dict], logdir: str = "") -> str:
  lines = ["# Table 2: ImageNet, Inception V3, accuracy (%)", "",
           f"Paper: {paper.CITATION} [best ...]: the best test accuracy along training (the "
           f"paper's parenthesised numbers; ours: over our evaluations).  ",
           f"Ours: the run directories `table2-<setting>` in `{logdir}`; a setting without a "
           f"run shows \"{NOT_RUN}\". Our trainer records top-1 accuracy only.", ""]
  body = [_table2_cells(r) for r in rows]
  reference = ["(reference)", "AlexNet, ILSVRC 2012 winner", "", "", "", "", "", "",
               str(paper.ALEXNET_ILSVRC2012_TOP5), "-", "-", "-", "-", "-", "reference row"]
  body.insert(4, reference)
  lines += _markdown_table(TABLE2_HEADER, body)
  return "\n".join(lines) + "\n"


def _table2_cells(r: dict) -> List[str]:
  p = r["paper"]
  test = p["top1_test"]["text"]
  if p["top1_test_best"]["value"] is not None:
    test += f" [best {p['top1_test_best']['text']}]"
  paper_cells = [p["top1_train"]["text"], p["top5_train"]["text"], test, p["top5_test"]["text"]]
  if r["ours"] is None:
    ours = [r["ours_missing"]] * 3 + ["-", "-", "-"]
  else:
    o = r["ours"]
    best = f" [best {_fmt(o['test_best'])}]" if o["test_best"] is not None else ""
    ours = [_fmt(o["train"]), _fmt(o["test"]) + best, NOT_MEASURED,
            _signed(r["difference"]["top1_train"]), _signed(r["difference"]["top1_test"]),
            o["ran_on"]]
  labels = "random" if r["random_labels"] else "true"
  return [r["run_name"], labels, _yes(r["augmentation"]), _yes(r["dropout"]),
          _yes(r["weight_decay"]), *paper_cells, *ours]


# ---- helpers ---------------------------------------------------------------------------------
def _markdown_table(header, rows) -> List[str]:
  def line(cells):
    return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |"
  return [line(header), line(["---"] * len(header)), *[line(r) for r in rows]]


def parse_markdown_table(text: str) -> List[Dict[str, str]]:
  """The rows of the first Markdown table in `text` as dicts keyed by the header (for tests and
  scripts that read the report back)."""
  lines = [l for l in text.splitlines() if l.startswith("|")]
  if len(lines) < 2:
    return []
  split = lambda l: [c.strip() for c in l.strip().strip("|").split("|")]  # noqa: E731
  header = split(lines[0])
  return [dict(zip(header, split(l))) for l in lines[2:]]
