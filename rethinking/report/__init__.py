"""Run directories -> the paper's tables and figures, ours beside the paper's.

`write_report(logdir, out_dir)` writes table1.md, table2.md, figures.md (the numbers behind
the figures), figure1a.png, figure1b.png, figure1c.png, figure2b.png and report.json (the same
numbers for scripts: paper and ours side by side, ours null where a setting was not run).
"""
from __future__ import annotations

import os

from rethinking import paper
from rethinking.report import figures
from rethinking.report import runs as runs_lib
from rethinking.report import tables
from rethinking.training import runio


def build_report(logdir: str, out_dir: str, fit_threshold: float = 1.0) -> dict:
  """Reads the runs, draws the figures into out_dir; returns everything report.json holds,
  plus the Markdown texts under "markdown". fit_threshold: the whole-training-set accuracy
  (a fraction) that counts as "fit" in Figures 1b/1c; 1.0 is the paper's 100%."""
  runs, unfinished = runs_lib.load_runs(logdir)
  table1 = tables.table1(runs, unfinished)
  table2 = tables.table2(runs, unfinished)
  drawn = figures.draw_all(runs, out_dir, fit_threshold)
  settings = {r["run_name"] for r in table1 + table2}
  unmatched = sorted(n for n in runs if n not in settings and not n.startswith(
      ("fig1a-", "fig1bc-", "fig2b-")))
  report = {
      "citation": paper.CITATION,
      "logdir": os.path.abspath(logdir),
      "units": "accuracy in percent; test error as a fraction; steps are optimizer steps",
      "fit_threshold": fit_threshold,
      "table1": table1,
      "table2": table2,
      "figures": drawn,
      "runs": sorted(runs),
      "unfinished_runs": unfinished,
      "runs_not_in_any_table_or_figure": unmatched,
  }
  report["markdown"] = {
      "table1.md": tables.table1_markdown(table1, logdir),
      "table2.md": tables.table2_markdown(table2, logdir),
      "figures.md": figures.figures_markdown(drawn, logdir),
  }
  return report


def write_report(logdir: str, out_dir: str, fit_threshold: float = 1.0) -> dict:
  """build_report, then table1.md, table2.md, figures.md and report.json into out_dir."""
  os.makedirs(out_dir, exist_ok=True)
  report = build_report(logdir, out_dir, fit_threshold)
  for name, text in report["markdown"].items():
    with open(os.path.join(out_dir, name), "w") as f:
      f.write(text)
  path = os.path.join(out_dir, "report.json")
  runio.atomic_write_json(path, {k: v for k, v in report.items() if k != "markdown"})
  os.chmod(path, 0o644)  # a report to share (the atomic write's temp file is private)
  return report
