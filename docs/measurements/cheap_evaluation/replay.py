"""Replays `--skip_train_eval_below=T` on every committed history: would any steps_to_fit (the
first evaluation with whole-train accuracy 1.0), or the first evaluation at >= 0.95 (the
report's --fit_threshold=0.95), have been skipped? And what fraction of whole-train passes
would the rule have saved?

  python docs/measurements/cheap_evaluation/replay.py [root ...]   (default docs/measurements)
"""
import glob
import json
import os
import sys

THRESHOLDS = (0.5, 0.8, 0.9, 0.95)


def replay(history, threshold):
  """(moved: the first fit at 1.0 or at 0.95 falls on a skipped pass, skipped, passes)."""
  skipped = moved = 0
  first = {1.0: None, 0.95: None}
  for i, record in enumerate(history):
    acc = record.get("train_accuracy")
    running = record.get("running_train_accuracy")
    last = i == len(history) - 1
    skip = (not last and running is not None and running < threshold)
    skipped += skip
    for level in first:
      if acc is not None and acc >= level and first[level] is None:
        first[level] = True
        moved += skip
  return moved, skipped, len(history)


def main(roots):
  runs = sorted(p for root in roots for p in glob.glob(os.path.join(root, "**", "results.json"),
                                                         recursive=True))
  print(f"{len(runs)} runs")
  for threshold in THRESHOLDS:
    moved = skipped = passes = 0
    moved_runs = []
    for path in runs:
      history = json.load(open(path)).get("history") or []
      m, s, n = replay(history, threshold)
      moved, skipped, passes = moved + m, skipped + s, passes + n
      if m:
        moved_runs.append(os.path.relpath(os.path.dirname(path)))
    print(f"T={threshold}: {skipped}/{passes} whole-train passes skipped "
          f"({100 * skipped / max(passes, 1):.1f}%), first fits moved: {moved} {moved_runs}")


if __name__ == "__main__":
  main(sys.argv[1:] or ["docs/measurements"])
