"""Run directories -> the paper's tables, figures and claims, ours beside the paper's.

  python experiments/report.py --logdir=docs/measurements --out=docs/report
  python experiments/report.py --logdir=runs --logdir=/scratch/more_runs --out=report

Walks every --logdir recursively (repeat the flag or comma-separate) and reads each run
directory it finds (results.json, or state.json for a run under way), whatever it is called; a
run joins the paper by its recorded configuration. Theory results (experiments/expressivity.py,
linear_models.py, rademacher.py --out files) under the logdirs feed the claims ledger. Writes
into --out: table1.md, table2.md, appendix.md, reduced.md (runs on a --train_size subset),
claims.md, figures.md (the numbers behind the figures), figure1a.png, figure1a_mlp.png,
figure1b.png, figure1c.png, figure2b.png and report.json. A setting without a run shows
"not run", never the paper's number. What counts as "fit" is defined once
(rethinking/report/fit.py): each Figure 1b/1c line uses the highest of 100%, 99%, 95% that all
its runs reached, and says which.
"""
from __future__ import annotations

import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import validation  # noqa: E402

_LOGDIR = flags.DEFINE_multi_string(
    "logdir", ["runs"], "Where to look for run directories, recursively; repeat the flag or "
    "comma-separate several.")
_OUT = flags.DEFINE_string("out", "report", "Where to write tables, figures and report.json.")


def logdirs() -> list:
  return [os.path.expanduser(d.strip()) for value in _LOGDIR.value for d in value.split(",")
          if d.strip()]


def check_flags():
  dirs = logdirs()
  if not dirs:
    return validation.Invalid("logdir", "", "give at least one directory")
  for d in dirs:
    if not os.path.isdir(d):
      return validation.Invalid("logdir", d, "no such directory")
  out = os.path.expanduser(_OUT.value or "")
  if not out or (os.path.exists(out) and not os.path.isdir(out)):
    return validation.Invalid("out", _OUT.value, "not a directory")
  if not validation.writable_location(out):
    return validation.Invalid("out", _OUT.value,
                              "is not writable (or cannot be created) by this user")
  return None


def main(argv):
  cli.start(argv, check_flags)
  out = os.path.expanduser(_OUT.value)
  # Imported after validation: matplotlib takes a second.
  from rethinking import report  # pylint: disable=import-outside-toplevel
  result = report.write_report(logdirs(), out)
  for name in ("table1.md", "appendix.md", "table2.md"):
    print(result["markdown"][name])
  print(f"runs found: {len(result['runs'])}; on a subset (reduced.md): "
        f"{len(result['reduced'])} lines")
  for claim in result["claims"]:
    print(f"claim: {claim['verdict']:>13}  {claim['claim']}")
  for name, figure in result["figures"].items():
    note = f" ({figure['note']})" if figure.get("note") else ""
    print(f"{name}: {figure['path']}{note}")
  if result["unfinished_runs"]:
    print("unfinished runs: " + ", ".join(f"{k} ({v})"
                                          for k, v in result["unfinished_runs"].items()))
  if result["runs_not_in_any_table_or_figure"]:
    print("runs in no table or figure: " + ", ".join(result["runs_not_in_any_table_or_figure"]))
  print(f"report: {os.path.join(out, 'report.json')}")


if __name__ == "__main__":
  cli.run(main)
