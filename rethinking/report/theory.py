"""The theory results under the logdirs (Theorem 1, Section 5, Rademacher estimates), read for
the claims ledger. They are the JSON files experiments/expressivity.py, linear_models.py and
rademacher.py write (--out); they are recognised by their fields, not their names."""
from __future__ import annotations

import json
import os
from typing import Dict, List, Sequence

from rethinking import rundir

KINDS = ("theorem1", "theorem1_numerics", "section5", "rademacher")


def _kind(obj: dict):
  if "num_weights" in obj and "max_abs_error" in obj and "train_accuracy" in obj:
    return "theorem1"
  if "rows" in obj and "Theorem 1" in str(obj.get("what", "")):
    return "theorem1_numerics"
  if "kernel" in obj and "test_error" in obj and "n_train" in obj:
    return "section5"
  if "estimates" in obj and "family" in obj:
    return "rademacher"
  return None


def load_theory(logdirs: Sequence[str]) -> Dict[str, List[dict]]:
  """kind -> results (each with "file": its path), from every *.json under the logdirs that is
  not part of a run directory."""
  out: Dict[str, List[dict]] = {k: [] for k in KINDS}
  seen = set()
  for logdir in logdirs:
    for top, dirs, files in os.walk(logdir, followlinks=True):
      dirs[:] = sorted(d for d in dirs if not d.startswith("."))
      if rundir.RESULTS in files or rundir.STATE in files:
        dirs[:] = []
        continue
      for name in sorted(files):
        path = os.path.normpath(os.path.join(top, name))
        if not name.endswith(".json") or os.path.realpath(path) in seen:
          continue
        seen.add(os.path.realpath(path))
        try:
          with open(path) as f:
            data = json.load(f)
        except (OSError, ValueError):
          continue
        for obj in data if isinstance(data, list) else [data]:
          kind = _kind(obj) if isinstance(obj, dict) else None
          if kind:
            out[kind].append({**obj, "file": path})
  return out
