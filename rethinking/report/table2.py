"""Table 2 of the paper (ImageNet, Inception V3) with ours beside it: top-1 and top-5.

Rows are filled as in Table 1 (report.tables): by recorded configuration, full-data completed
runs, seeds pooled, other schedules on their own lines, "ours - paper" at the paper's schedule
only. The trainer records top-5 accuracy on ImageNet; its train accuracy may be measured on the
first part of the training split ("ran on" says so).
"""
from __future__ import annotations

from typing import List, Mapping, Sequence

from rethinking import paper
from rethinking.report import markdown as md
from rethinking.report import tables
from rethinking.report.runs import Run, Unfinished, per_seed


def metrics(group: Sequence[Run]) -> dict:
  return {"top1_train": md.pooled(per_seed(group, lambda r: r.accuracy("train"))),
          "top5_train": md.pooled(per_seed(group, lambda r: r.accuracy("train", top=5))),
          "top1_test": md.pooled(per_seed(group, lambda r: r.accuracy("test"))),
          "top1_test_best": md.pooled(per_seed(group, lambda r: r.best_test_accuracy())),
          "top5_test": md.pooled(per_seed(group, lambda r: r.accuracy("test", top=5)))}


def table2(runs: Mapping[str, Run], unfinished: Mapping[str, Unfinished]) -> List[dict]:
  found = tables.rows_for("table2", [r.setting for r in paper.TABLE2], runs, unfinished,
                          metrics)
  rows = []
  for row in paper.TABLE2:
    f = found[row.setting]
    for e in f["entries"]:
      m = e["metrics"] or {}
      e["difference"] = {key: tables.difference(m.get(key), getattr(row, key))
                         for key in ("top1_train", "top1_test", "top5_test")}
    rows.append({
        "setting": row.setting, "augmentation": row.augmentation, "dropout": row.dropout,
        "weight_decay": row.weight_decay, "random_labels": row.random_labels,
        "paper": {"top1_train": tables.cell_json(row.top1_train),
                  "top5_train": tables.cell_json(row.top5_train),
                  "top1_test": tables.cell_json(row.top1_test),
                  "top1_test_best": tables.cell_json(row.top1_test_best),
                  "top5_test": tables.cell_json(row.top5_test)},
        "ours": f["entries"], "ours_missing": f["missing"], "unfinished": f["unfinished"]})
  return rows


HEADER = ("setting", "labels", "data aug", "dropout", "weight decay", "paper top-1 train",
          "paper top-5 train", "paper top-1 test [best]", "paper top-5 test", "ours: schedule",
          "ours top-1 train", "ours top-1 test [best]", "ours top-5 train", "ours top-5 test",
          "ours − paper top-1 train", "ours − paper top-1 test", "ours − paper top-5 test",
          "ours ran on")


def _ours(e: dict) -> List[str]:
  m, d = e["metrics"], e["difference"]
  test = md.pooled_text(m["top1_test"])
  if m["top1_test_best"] is not None:
    test += f" [best {md.pooled_text(m['top1_test_best'])}]"
  return [md.pooled_text(m["top1_train"]), test,
          md.pooled_text(m["top5_train"], missing=md.NOT_MEASURED),
          md.pooled_text(m["top5_test"], missing=md.NOT_MEASURED),
          md.signed(d["top1_train"]), md.signed(d["top1_test"]), md.signed(d["top5_test"]),
          e["ran_on"]]


def table2_markdown(rows: List[dict], sources: str) -> str:
  lines = ["# Table 2: ImageNet, Inception V3, accuracy (%)", "",
           f"Paper: {paper.CITATION} [best ...]: the best test accuracy along training (the "
           f"paper's parenthesised numbers; ours: over our evaluations).  ",
           f"Ours: completed full-data ImageNet runs under {sources}, matched by configuration "
           f"as in Table 1; a row without a run says \"{md.NOT_RUN}\". {tables.SUBSET_NOTE}", ""]
  body = []
  for r in rows:
    p = r["paper"]
    test = p["top1_test"]["text"]
    if p["top1_test_best"]["value"] is not None:
      test += f" [best {p['top1_test_best']['text']}]"
    fixed = [r["setting"], "random" if r["random_labels"] else "true",
             md.yes(r["augmentation"]), md.yes(r["dropout"]), md.yes(r["weight_decay"])]
    paper_cells = [p["top1_train"]["text"], p["top5_train"]["text"], test,
                   p["top5_test"]["text"]]
    body += tables.paper_row_lines(r, fixed, paper_cells, _ours, 8)
  reference = ["(reference)", "AlexNet, ILSVRC 2012 winner", "", "", "", "", "", "",
               str(paper.ALEXNET_ILSVRC2012_TOP5)] + ["-"] * 9
  body.insert(next((i for i, line in enumerate(body) if line[0] == "random_labels"),
                   len(body)), reference)
  return "\n".join(lines + md.table(HEADER, body)) + "\n"
