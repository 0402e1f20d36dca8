"""Run many settings of the paper: one train.py subprocess per flagfile.

  python experiments/sweep.py --settings=fig1bc --logdir=runs/fig1bc
  python experiments/sweep.py --settings='flags/fig1bc/mlp_*.flags' --train_size=1000 --jit
  python experiments/sweep.py --settings=table1 --num_shards=4 --shard_index=2   # one machine

--settings takes group names (table1, table2, fig1a, fig1bc, fig2b) and globs of flagfiles,
comma-separated. Each setting flags/<group>/<name>.flags runs as
`python experiments/train.py --flagfile=... --run_name=<group>-<name> --logdir=... <overrides>`
and logs to <logdir>/<group>-<name>/train.log. Settings whose results.json says "completed" are
skipped; broken ones are started again and resume from their checkpoints. Exit status: 0 when
every setting is completed, 1 when any is not, 2 for bad flags (nothing started).
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import sweep as sweep_lib  # noqa: E402
from rethinking import validation  # noqa: E402

_SETTINGS = flags.DEFINE_list(
    "settings", None, "Comma list of group names (table1, table2, fig1a, fig1bc, fig2b) and/or "
    "globs of flagfiles, e.g. 'fig1bc' or 'flags/fig1bc/mlp_*.flags'.")
_LOGDIR = flags.DEFINE_string("logdir", "runs", "Parent of the run directories.")
_SHARD_INDEX = flags.DEFINE_integer("shard_index", 0, "This machine's shard, in [0, num_shards).")
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 1, "Setting i runs on shard i % num_shards.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time on this machine.")
_SKIP_COMPLETED = flags.DEFINE_bool(
    "skip_completed", True, "Skip settings whose results.json says completed. With "
    "--noskip_completed train.py decides (it extends a completed run when only --epochs or "
    "--max_steps grew).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the commands; run nothing.")
_TRAIN_COMMAND = flags.DEFINE_string(
    "train_command", None, "The training command that the sweep's flags are appended to "
    "(default: this Python running experiments/train.py); e.g. a cluster launcher's prefix.")
_EXTRA = flags.DEFINE_string("extra", "", "More train.py flags for every run, e.g. "
                             "'--steps_per_call=50 --seed=1'.")
# Overrides passed to every run (unset: the flagfile's or train.py's default stands).
_TRAIN_SIZE = flags.DEFINE_integer("train_size", None, "Train on the first N examples.")
_EPOCHS = flags.DEFINE_integer("epochs", None, "Epochs per run.")
_MAX_STEPS = flags.DEFINE_integer("max_steps", None, "Stop each run after this many steps.")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", None, "Evaluate every this many epochs.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir.")
_JIT = flags.DEFINE_bool("jit", None, "Compile the training step with XLA.")


def validate():
  """The first problem with the flags as one line, or None; creates nothing."""
  for flag, value, ok in ((_PARALLEL, _PARALLEL.value, _PARALLEL.value >= 1),
                          (_NUM_SHARDS, _NUM_SHARDS.value, _NUM_SHARDS.value >= 1)):
    if not ok:
      return f"error: --{flag.name}={value}: must be a positive integer"
  if not 0 <= _SHARD_INDEX.value < _NUM_SHARDS.value:
    return (f"error: --shard_index={_SHARD_INDEX.value}: must be in [0, {_NUM_SHARDS.value}) "
            f"for --num_shards={_NUM_SHARDS.value}")
  for flag, low in ((_TRAIN_SIZE, 0), (_EPOCHS, 1), (_MAX_STEPS, 0), (_EVAL_EVERY, 1)):
    if flag.value is not None and flag.value < low:
      return f"error: --{flag.name}={flag.value}: must be >= {low}"
  if _DATA_DIR.value and not os.path.isdir(os.path.expanduser(_DATA_DIR.value)):
    return f"error: --data_dir={_DATA_DIR.value}: no such directory"
  if not _LOGDIR.value or not validation.writable_location(_LOGDIR.value):
    return (f"error: --logdir={_LOGDIR.value}: is not writable (or cannot be created) by this "
            f"user")
  for flag in (_EXTRA, _TRAIN_COMMAND):
    try:
      shlex.split(flag.value or "")
    except ValueError as e:
      return f"error: --{flag.name}={flag.value!r}: {e}"
  if _TRAIN_COMMAND.value is not None:
    words = shlex.split(_TRAIN_COMMAND.value)
    if not words:
      return "error: --train_command is empty"
    if shutil.which(words[0]) is None:
      return f"error: --train_command={_TRAIN_COMMAND.value!r}: {words[0]} is not an executable"
  return None


def main(argv):
  if len(argv) > 1:
    cli.die(f"error: unexpected arguments {argv[1:]}: all settings are --flags")
  if not _SETTINGS.value:
    cli.die("error: --settings is required, e.g. --settings=fig1bc or "
            "--settings='flags/table1/mlp_*.flags'")
  problem = validate()
  if problem:
    cli.die(problem)
  try:
    settings = sweep_lib.expand_settings(_SETTINGS.value)
  except sweep_lib.SettingsError as e:
    cli.die(f"error: --settings: {e}")
  mine = sweep_lib.shard(settings, _SHARD_INDEX.value, _NUM_SHARDS.value)
  overrides = {"train_size": _TRAIN_SIZE.value, "epochs": _EPOCHS.value,
               "max_steps": _MAX_STEPS.value, "eval_every": _EVAL_EVERY.value,
               "data_dir": _DATA_DIR.value and os.path.abspath(os.path.expanduser(_DATA_DIR.value)),
               "jit": _JIT.value}
  extra = shlex.split(_EXTRA.value or "")
  train_command = (shlex.split(_TRAIN_COMMAND.value) if _TRAIN_COMMAND.value
                   else list(sweep_lib.DEFAULT_TRAIN_COMMAND))
  logdir = os.path.abspath(os.path.expanduser(_LOGDIR.value))
  print(f"[sweep] {len(mine)} of {len(settings)} settings (shard {_SHARD_INDEX.value} of "
        f"{_NUM_SHARDS.value}) -> {logdir}", flush=True)
  if _DRY_RUN.value:
    for s in mine:
      done = " (completed: would skip)" if sweep_lib.is_completed(logdir, s) else ""
      print(shlex.join(sweep_lib.command_for(s, logdir, overrides, extra, train_command)) + done)
    return
  outcomes = sweep_lib.run_sweep(
      mine, logdir, overrides, extra, parallel=_PARALLEL.value, train_command=train_command,
      skip_completed=_SKIP_COMPLETED.value, echo=lambda line: print(line, flush=True))
  print(sweep_lib.summary_table(outcomes), flush=True)
  if not all(o.ok for o in outcomes):
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
