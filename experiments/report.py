"""Run directories -> the paper's tables and figures, ours beside the paper's.

  python experiments/report.py --logdir=runs/fig1bc --out=report/

Reads every <logdir>/<group>-<setting>/results.json (as experiments/sweep.py names them) and
writes into --out: table1.md and table2.md (paper | ours | ours - paper | what ours ran on),
figure1a.png, figure1b.png, figure1c.png, figure2b.png, figures.md (the numbers behind the
figures) and report.json (everything, for scripts). The tables are printed too. A setting
without a run shows "not run", never the paper's number.
"""
from __future__ import annotations

import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import validation  # noqa: E402

_LOGDIR = flags.DEFINE_string("logdir", "runs", "Parent of the run directories to report on.")
_OUT = flags.DEFINE_string("out", "report", "Where to write tables, figures and report.json.")
_FIT_THRESHOLD = flags.DEFINE_float(
    "fit_threshold", 1.0, "Whole-training-set accuracy (a fraction in (0, 1]) that counts as "
    "fit in Figures 1b/1c. 1.0 is the paper's 100% (the trainer's steps_to_fit); lower values "
    "read the evaluation history, for runs that end a few examples short.")


def main(argv):
  if len(argv) > 1:
    cli.die(f"error: unexpected arguments {argv[1:]}: all settings are --flags")
  logdir = os.path.expanduser(_LOGDIR.value or "")
  out = os.path.expanduser(_OUT.value or "")
  if not logdir or not os.path.isdir(logdir):
    cli.die(f"error: --logdir={_LOGDIR.value}: no such directory")
  if not out or (os.path.exists(out) and not os.path.isdir(out)):
    cli.die(f"error: --out={_OUT.value}: not a directory")
  if not 0.0 < _FIT_THRESHOLD.value <= 1.0:
    cli.die(f"error: --fit_threshold={_FIT_THRESHOLD.value}: must be in (0, 1]")
  if not validation.writable_location(out):
    cli.die(f"error: --out={_OUT.value}: is not writable (or cannot be created) by this user")
  # Imported after validation: matplotlib and TensorFlow (event files) take seconds.
  from rethinking import report  # pylint: disable=import-outside-toplevel
  result = report.write_report(logdir, out, _FIT_THRESHOLD.value)
  for name in ("table1.md", "table2.md", "figures.md"):
    print(result["markdown"][name])
  for name, figure in result["figures"].items():
    note = f" ({figure['note']})" if figure.get("note") else ""
    print(f"{name}: {figure['path']}{note}")
  if result["unfinished_runs"]:
    print("unfinished runs: " + ", ".join(f"{k} ({v})"
                                          for k, v in result["unfinished_runs"].items()))
  print(f"report: {os.path.join(out, 'report.json')}")


if __name__ == "__main__":
  cli.run(main)
