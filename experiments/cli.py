"""Shared plumbing of the experiments/ absl apps: one-line flag errors with exit status 2."""
from __future__ import annotations

import sys

from absl import app
from absl import flags

USAGE_ERROR = 2


def die(message: str) -> None:
  """Prints one line on stderr and exits with status 2 (bad input)."""
  print(message.splitlines()[0] if message else "error", file=sys.stderr)
  sys.exit(USAGE_ERROR)


def _parse(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    die(f"error: {e}")


def run(main) -> None:
  """absl.app.run with flag parsing errors reported as one line and exit status 2."""
  app.run(main, flags_parser=_parse)
