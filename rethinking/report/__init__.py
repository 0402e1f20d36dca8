"""Run directories -> the paper's tables, figures and claims, ours beside the paper's.

`write_report(logdirs, out_dir)` reads every run under the logdirs (recursively, any names) and
the theory results there, and writes table1.md, table2.md, appendix.md, reduced.md, figures.md,
claims.md, figure1a.png, figure1a_mlp.png, figure1b.png, figure1c.png, figure2b.png,
fit_budget.png (table1.md's lr-steps to fit), fit_steps.png (the same in steps, where
its learning-rate sweeps say steps bound a fit) and report.json (the same numbers for scripts:
paper and ours side by side, ours empty where a setting was not run). Submodules import
lazily: `rethinking.report.cells` (which the trainer's summary uses) costs no matplotlib.
"""
from __future__ import annotations

import os
from typing import Sequence

FIGURE_NAMES = ("figure1a", "figure1a_mlp", "figure1b", "figure1c", "figure2b")


def build_report(logdirs: Sequence[str], out_dir: str) -> dict:
  """Reads the runs, draws the figures into out_dir; returns everything report.json holds,
  plus the Markdown texts under "markdown". What counts as fit: report.fit."""
  # Submodules load lazily: cells (the trainer's summary) must not load matplotlib.
  # pylint: disable=import-outside-toplevel
  from rethinking import paper
  from rethinking.report import after_fit as after_fit_lib
  from rethinking.report import claims as claims_lib
  from rethinking.report import fidelity as fidelity_lib
  from rethinking.report import figure1a, figure1bc, figure2b
  from rethinking.report import fit_budget as fit_budget_lib
  from rethinking.report import precision as precision_lib
  from rethinking.report import probes as probes_lib
  from rethinking.report import runs as runs_lib
  from rethinking.report import table2 as table2_lib
  from rethinking.report import tables
  from rethinking.report import theory as theory_lib

  if isinstance(logdirs, str):
    logdirs = [logdirs]
  os.makedirs(out_dir, exist_ok=True)
  runs, unfinished = runs_lib.load_runs(logdirs)
  path = lambda name: os.path.join(out_dir, f"{name}.png")  # noqa: E731
  figures = {
      "figure1a": figure1a.figure1a(runs, path("figure1a"), "inception_small"),
      "figure1a_mlp": figure1a.figure1a(runs, path("figure1a_mlp"), "mlp_1x512"),
      "figure1b": figure1bc.figure1b(runs, path("figure1b")),
      "figure1c": figure1bc.figure1c(runs, path("figure1c")),
      "figure2b": figure2b.figure2b(runs, path("figure2b")),
  }
  report = {
      "citation": paper.CITATION,
      "logdirs": list(logdirs),
      "units": "accuracy in percent; test error as a fraction; steps are optimizer steps",
      "table1": tables.table1(runs, unfinished),
      "table2": table2_lib.table2(runs, unfinished),
      "appendix": tables.appendix(runs, unfinished),
      "reduced": tables.reduced(runs),
      "precision_check": precision_lib.check(runs),
      "after_fit": after_fit_lib.after_fit(runs),
      "probes": probes_lib.probes(runs, unfinished),
      "rate_sweeps": fit_budget_lib.rate_sweeps(runs),
      "figures": figures,
      "theory": theory_lib.load_theory(logdirs),
      "runs": sorted(runs),
      "unfinished_runs": {k: u.reason for k, u in sorted(unfinished.items())},
  }
  report["fit_budget"] = fit_budget_lib.fit_budget(runs, report["rate_sweeps"])
  report["fit_budget_figure"] = fit_budget_lib.figure(report["fit_budget"], path("fit_budget"))
  report["fit_steps_figure"] = fit_budget_lib.steps_figure(report["fit_budget"],
                                                           path("fit_steps"))
  report["fidelity"] = fidelity_lib.targets(report["table1"], report["probes"]["jpeg_trends"],
                                            report["fit_budget"])
  report["runs_not_in_any_table_or_figure"] = sorted(set(runs) - _used(report))
  report["claims"] = claims_lib.ledger(report)
  sources = ", ".join(f"`{d}`" for d in logdirs)
  report["markdown"] = {
      "table1.md": tables.table1_markdown(report["table1"], sources)
                   + "\n".join(fidelity_lib.markdown(report["fidelity"]))
                   + "\n".join(precision_lib.markdown(report["precision_check"]))
                   + "\n".join(after_fit_lib.markdown(report["after_fit"]))
                   + "\n".join(probes_lib.markdown(report["probes"]))
                   + "\n".join(fit_budget_lib.markdown(report["fit_budget"], report["rate_sweeps"])),
      "table2.md": table2_lib.table2_markdown(report["table2"], sources),
      "appendix.md": tables.appendix_markdown(report["appendix"], sources),
      "reduced.md": tables.reduced_markdown(report["reduced"], sources),
      "figures.md": _figures_markdown(figures, sources),
      "claims.md": claims_lib.markdown(report["claims"], sources),
  }
  return report


def _used(report: dict) -> set:
  used = set()
  for table in ("table1", "table2", "appendix"):
    for row in report[table]:
      for e in row["ours"]:
        used.update(e["runs"])
  for r in report["reduced"]:
    used.update(r["runs"])
  for name in ("figure1a", "figure1a_mlp", "figure2b"):
    for c in report["figures"][name]["curves"]:
      used.add(c["run"])
  for line in report["figures"]["figure1b"]["lines"]:
    used.update(q["run"] for q in line["points"])
  return used


def _figures_markdown(figures: dict, sources: str) -> str:
  # Submodules load lazily: cells (the trainer's summary) must not load matplotlib.
  # pylint: disable=import-outside-toplevel
  from rethinking.report import figure1a, figure1bc, figure2b
  lines = ["# Figures: the numbers behind them", "",
           f"Runs under {sources}, found by their recorded configuration.", ""]
  lines += figure1a.markdown(figures["figure1a"], "Figure 1a")
  lines += figure1a.markdown(figures["figure1a_mlp"], "Figure 1a (ours, not in the paper)")
  lines += figure1bc.markdown_1b(figures["figure1b"])
  lines += figure1bc.markdown_1c(figures["figure1c"])
  lines += figure2b.markdown(figures["figure2b"])
  return "\n".join(lines)


def write_report(logdirs: Sequence[str], out_dir: str) -> dict:
  """build_report, then the Markdown files and report.json into out_dir."""
  # Submodules load lazily: cells (the trainer's summary) must not load matplotlib.
  from rethinking import rundir  # Submodules load lazily: cells (the trainer's summary) must not load matplotlib.
  # pylint: disable=import-outside-toplevel
  os.makedirs(out_dir, exist_ok=True)
  report = build_report(logdirs, out_dir)
  for name, text in report["markdown"].items():
    with open(os.path.join(out_dir, name), "w") as f:
      f.write(text)
  rundir.atomic_write_json(os.path.join(out_dir, "report.json"),
                           {k: v for k, v in report.items() if k != "markdown"})
  return report
