"""Run many settings of the paper: one train.py subprocess per flagfile.

  python experiments/sweep.py --settings=fig1bc --logdir=runs/fig1bc
  python experiments/sweep.py --settings='flags/fig1bc/mlp_*.flags' --train_size=1000 --jit
  python experiments/sweep.py --settings=table1 --num_shards=4 --shard_index=2   # one machine

--settings takes group names (table1, table2, fig1a, fig1bc, fig2b) and globs of flagfiles,
comma-separated. Each setting flags/<group>/<name>.flags runs as
`python experiments/train.py --flagfile=... --run_name=<group>-<name> --logdir=... <overrides>`
and logs to <logdir>/<group>-<name>/train.log. Settings whose results.json says "completed" are
skipped; broken ones are started again and resume from their checkpoints. How a run ended is
read from its results.json, whatever its exit status.

  python experiments/sweep.py --settings=fig1bc --gpus=0,1,2,3 --children_per_gpu=2  # 8 at once
  python experiments/sweep.py --settings=table1 --deadline=23h30m --grace=5m  # within a 24 h job

At --deadline (a duration from the sweep's start), on SIGTERM or on Ctrl-C every training gets
SIGTERM, SIGKILL after --grace; the sweep says what stopped and prints the command that resumes.
Exit status: 0 when every setting is completed, 1 when the sweep ran to its end and some setting
did not complete, 2 for bad flags (nothing started), 3 when it was stopped (deadline, SIGTERM,
Ctrl-C) before every setting completed: run the same command again to resume.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import rundir  # noqa: E402
from rethinking.sweep import runner as sweep_runner  # noqa: E402
from rethinking.sweep import settings as sweep_lib  # noqa: E402
from rethinking import validation  # noqa: E402

EXIT_NOT_COMPLETED = 1  # the sweep ran to its end and some setting did not complete
EXIT_STOPPED = 3  # a deadline, SIGTERM or Ctrl-C stopped it: the same command resumes

_SETTINGS = flags.DEFINE_list(
    "settings", None, f"Comma list of group names ({', '.join(rundir.GROUPS)}) and/or globs of "
    "flagfiles, e.g. 'fig1bc' or 'flags/fig1bc/mlp_*.flags'. Required.")
_LOGDIR = flags.DEFINE_string("logdir", "runs", "Parent of the run directories.")
_SHARD_INDEX = flags.DEFINE_integer("shard_index", 0, "This machine's shard, in [0, num_shards).",
                                    lower_bound=0)
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 1, "Setting i runs on shard i % num_shards.",
                                   lower_bound=1)
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time on this machine (with --gpus: "
                                 "len(gpus) x children_per_gpu, not settable).", lower_bound=1)
_GPUS = flags.DEFINE_list(
    "gpus", None, "CUDA device ids (e.g. 0,1,2,3; in a scheduler's job, $CUDA_VISIBLE_DEVICES) or "
    "GPU-/MIG- UUIDs: each child sees one of them through CUDA_VISIBLE_DEVICES. See docs/gpu.md.")
_CHILDREN_PER_GPU = flags.DEFINE_integer(
    "children_per_gpu", 1, "With --gpus: trainings sharing each GPU (> 1 sets "
    "TF_FORCE_GPU_ALLOW_GROWTH=true so that they can).", lower_bound=1)
_DEADLINE = flags.DEFINE_string(
    "deadline", None, "A duration from the sweep's start, e.g. 90m, 2h, 1h30m, 3600s: then every "
    "training gets SIGTERM (it checkpoints), SIGKILL after --grace; exit status 3.")
_GRACE = flags.DEFINE_string("grace", "2m", "Time between SIGTERM and SIGKILL when the sweep "
                             "stops (deadline, SIGTERM, Ctrl-C), e.g. 30s, 5m.")
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
_TRAIN_SIZE = flags.DEFINE_integer("train_size", None, "Train on the first N examples.",
                                   lower_bound=0)
_EPOCHS = flags.DEFINE_integer("epochs", None, "Epochs per run.", lower_bound=1)
_MAX_STEPS = flags.DEFINE_integer("max_steps", None, "Stop each run after this many steps.",
                                  lower_bound=0)
_EVAL_EVERY = flags.DEFINE_integer("eval_every", None, "Evaluate every this many epochs.",
                                   lower_bound=1)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir.")
_JIT = flags.DEFINE_bool("jit", None, "Compile the training step with XLA.")


def _duration(value) -> bool:
  return value is None or sweep_lib.parse_duration(value) > 0


def _train_command(value) -> bool:
  if value is None:
    return True
  words = shlex.split(value)
  if not words:
    raise ValueError("is empty")
  if shutil.which(words[0]) is None:
    raise ValueError(f"{words[0]} is not an executable")
  return True


def _gpu_ids(ids) -> bool:
  if ids is None:
    return True
  if not ids:
    raise ValueError("must list at least one GPU id, e.g. 0,1")
  bad = [g for g in ids if not (g.isdigit() or g.startswith(("GPU-", "MIG-")))]
  if bad:
    raise ValueError(f"{bad[0]!r} is not a GPU id (a CUDA device number, or a GPU-/MIG- UUID)")
  if len(set(ids)) != len(ids):
    raise ValueError("lists a GPU twice (use --children_per_gpu to share one)")
  return True


flags.mark_flag_as_required("settings")
cli.require_directory(_DATA_DIR)
cli.require_writable_directory(_LOGDIR)
cli.validate(_DEADLINE, _duration)
cli.validate(_GRACE, _duration)
cli.validate(_EXTRA, lambda v: shlex.split(v or "") is not None)  # shlex raises ValueError
cli.validate(_TRAIN_COMMAND, _train_command)
cli.validate(_GPUS, _gpu_ids)


def check_flags():
  """Rules that join several flags, as a validation.Invalid, or None; creates nothing."""
  if not _SHARD_INDEX.value < _NUM_SHARDS.value:
    return validation.Invalid("shard_index", _SHARD_INDEX.value,
                              f"must be in [0, {_NUM_SHARDS.value}) for --num_shards="
                              f"{_NUM_SHARDS.value}")
  if not _GPUS.value and flags.FLAGS["children_per_gpu"].present:
    return validation.Invalid("children_per_gpu", _CHILDREN_PER_GPU.value,
                              "needs --gpus (which GPUs to share)")
  if _GPUS.value and flags.FLAGS["parallel"].present:
    implied = len(_GPUS.value) * _CHILDREN_PER_GPU.value
    if _PARALLEL.value != implied:
      return validation.Invalid("parallel", _PARALLEL.value,
                                f"is len(--gpus) x --children_per_gpu = {implied} with --gpus; "
                                "leave it out")
  return None


def main(argv):
  cli.start(argv, check_flags)
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
  gpus = list(_GPUS.value or [])
  at_once = (f"{len(gpus)} GPU(s) x {_CHILDREN_PER_GPU.value}" if gpus
             else f"{_PARALLEL.value}")
  print(f"[sweep] {len(mine)} of {len(settings)} settings (shard {_SHARD_INDEX.value} of "
        f"{_NUM_SHARDS.value}), {at_once} at a time -> {logdir}", flush=True)
  if _DRY_RUN.value:
    for s in mine:
      done = " (completed: would skip)" if sweep_lib.is_completed(logdir, s) else ""
      print(shlex.join(sweep_lib.command_for(s, logdir, overrides, extra, train_command)) + done)
    return
  deadline = sweep_lib.parse_duration(_DEADLINE.value) if _DEADLINE.value else None
  result = sweep_runner.run_sweep(
      mine, logdir, overrides, extra, parallel=_PARALLEL.value, train_command=train_command,
      skip_completed=_SKIP_COMPLETED.value, gpus=gpus, children_per_gpu=_CHILDREN_PER_GPU.value,
      deadline_seconds=deadline, grace_seconds=sweep_lib.parse_duration(_GRACE.value),
      echo=lambda line: print(line, flush=True))
  print(sweep_runner.summary_table(result.outcomes), flush=True)
  if result.all_completed:
    return
  if result.stopped_by is not None:
    why = {"deadline": f"at the deadline (--deadline={_DEADLINE.value} after the start)",
           "SIGTERM": "by SIGTERM", "SIGINT": "by Ctrl-C (SIGINT)"}[result.stopped_by]
    counts = {}
    for o in result.outcomes:
      counts[o.status] = counts.get(o.status, 0) + 1
    killed = (f"; SIGKILL after the {_GRACE.value} grace: {', '.join(result.killed)}"
              if result.killed else "")
    print(f"[sweep] stopped {why}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
          + f"{killed}. To resume (completed runs are skipped, stopped ones continue from their "
          f"checkpoints): {shlex.join([sys.executable, *sys.argv])}", flush=True)
    sys.exit(EXIT_STOPPED)
  sys.exit(EXIT_NOT_COMPLETED)


if __name__ == "__main__":
  cli.run(main)
