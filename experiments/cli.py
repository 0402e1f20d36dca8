"""Shared plumbing of the experiments/ absl apps: one-line flag errors with exit status 2."""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional

from absl import app
from absl import flags

from rethinking import validation

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


def start(argv, check_flags: Callable[[], Optional[validation.Invalid]]) -> None:
  """The first lines of an app's main: no positional arguments, then its flag checks; either
  failing exits with one line and status 2 before any work starts."""
  if len(argv) > 1:
    die(f"error: unexpected arguments {argv[1:]}: all settings are --flags")
  invalid = check_flags()
  if invalid:
    die(str(invalid))


def path_problem(data_dir: Optional[str], out: Optional[str]) -> Optional[validation.Invalid]:
  """--data_dir must exist when given; --out's directory must be writable when given."""
  if data_dir and not os.path.isdir(os.path.expanduser(data_dir)):
    return validation.Invalid("data_dir", data_dir, "no such directory")
  if out and not validation.writable_location(os.path.dirname(out) or "."):
    return validation.Invalid("out", out, "its directory is not writable")
  return None
