"""Shared plumbing of the experiments/ absl apps: one way to check flags, one-line errors.

Single-flag rules live at the flag's definition (`DEFINE_enum`, `lower_bound`/`upper_bound`,
`mark_flag_as_required`, `validate` / `require_directory` / `require_writable_*` below, all
absl validators); rules that join several flags are an app's `check_flags`, run by `start`.
Either way a bad flag prints one `error: --flag=value: what is allowed` line on stderr and exits
with status 2 before any work starts.
"""
from __future__ import annotations

import ast
import os
import re
import sys
from typing import Callable, Optional

from absl import app
from absl import flags

from rethinking import rundir
from rethinking import validation

USAGE_ERROR = 2

# absl's messages: "flag --n=-1: -1 is not ...", "ERROR:: Unable to open flagfile: ...".
_FLAG_MESSAGE = re.compile(r"^flag --(\w+)=(.*?): (.*)$", re.DOTALL)
_REQUIRED = re.compile(r"^Flag --(\w+) must have a value other than None\.?$")


def die(message: str) -> None:
  """Prints one line on stderr and exits with status 2 (bad input)."""
  print(message.splitlines()[0] if message else "error", file=sys.stderr)
  sys.exit(USAGE_ERROR)


def _value_text(text: str) -> str:
  """absl prints a list flag's value as a Python list: show it as it was typed (a,b)."""
  if text.startswith("[") and text.endswith("]"):
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      return text
    if isinstance(value, list):
      return ",".join(str(v) for v in value)
  return text


def error_line(e: flags.Error) -> str:
  """An absl parsing error as our one line: `error: --flag=value: what is allowed`."""
  text = " ".join(str(e).split())  # one line, whatever absl wrapped
  if text.startswith("ERROR:: "):  # absl's flagfile errors carry their own prefix
    text = text[len("ERROR:: "):]
  match = _FLAG_MESSAGE.match(text)
  if match:
    name, value, message = match.groups()
    required = _REQUIRED.match(message)
    if required:
      return f"error: --{required.group(1)} is required"
    return f"error: --{name}={_value_text(value)}: {message}"
  return f"error: {text}"


def _parse(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    die(error_line(e))


def run(main) -> None:
  """absl.app.run with flag parsing errors reported as one line and exit status 2."""
  app.run(main, flags_parser=_parse)


def start(argv, check_flags: Optional[Callable[[], Optional[validation.Invalid]]] = None
          ) -> None:
  """The first lines of every app's main: no positional arguments, then its cross-flag checks;
  either failing exits with one line and status 2 before any work starts."""
  if len(argv) > 1:
    die(f"error: unexpected arguments {argv[1:]}: all settings are --flags")
  invalid = check_flags() if check_flags else None
  if invalid:
    die(str(invalid))


def validate(flag: flags.FlagHolder, check: Callable[[object], object],
             message: str = "is not allowed") -> None:
  """An absl validator for one flag: `check(value)` returns false (-> `message`) or raises
  ValueError (-> its text) when the value is bad."""
  def checker(value):
    try:
      ok = check(value)
    except ValueError as e:
      raise flags.ValidationError(str(e)) from e
    return ok is not False and ok is not None
  flags.register_validator(flag.name, checker, message=message)


def require_directory(flag: flags.FlagHolder) -> None:
  """When given, the flag must name an existing directory (e.g. --data_dir)."""
  validate(flag, lambda v: not v or os.path.isdir(os.path.expanduser(v)), "no such directory")


def write_result(path: str, result) -> None:
  """When --out was given: the result as JSON there, atomically (its directory created)."""
  if path:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    rundir.atomic_write_json(path, result)


def define_data_flags(datasets=("cifar10", "mnist")):
  """--dataset, --data_dir (must exist when given) and --download, as the theory apps take
  them; returns their holders."""
  dataset = flags.DEFINE_enum("dataset", datasets[0], datasets, "The tfds dataset.")
  data_dir = flags.DEFINE_string("data_dir", None, "tfds data dir (default: $TFDS_DATA_DIR, "
                                 "else tfds's default ~/tensorflow_datasets).")
  download = flags.DEFINE_bool("download", False, "Let tfds download a missing dataset.")
  require_directory(data_dir)
  return dataset, data_dir, download


def require_writable_directory(flag: flags.FlagHolder) -> None:
  """The flag must name a directory this user can create files in (or create)."""
  validate(flag, lambda v: bool(v) and validation.writable_location(os.path.expanduser(v)),
           "is not writable (or cannot be created) by this user")


def require_writable_file(flag: flags.FlagHolder, suffix: str = "") -> None:
  """When given, the flag must name a file (ending in `suffix`) in a writable directory."""
  def check(value):
    if not value:
      return True
    if suffix and not value.endswith(suffix):
      raise ValueError(f"must end in {suffix}")
    if not validation.writable_location(os.path.dirname(os.path.abspath(
        os.path.expanduser(value)))):
      raise ValueError("its directory is not writable")
    return True
  validate(flag, check)
