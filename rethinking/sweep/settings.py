"""The settings of a sweep and the command of each run.

A *setting* is one flagfile `flags/<group>/<name>.flags`; its run directory is
`<logdir>/<group>-<name>/` (`rundir.setting_run_name`), so that the report can join it with
`rethinking.paper` by name. This module turns specs into settings and commands;
rethinking.sweep.runner runs them. A sweep expands setting specs (group names or globs) into a
sorted list, keeps one shard of it (setting i goes to shard i % num_shards), skips settings whose
results.json says "completed", and runs the rest as subprocesses, `parallel` at a time (or
`children_per_gpu` on each of `gpus`). A broken run is simply started again: train.py resumes
from its newest checkpoint. One failing run never stops the others.

What a run ended as is read from the results.json it wrote, whatever its exit status (the
trainer exits 143 after a SIGTERM with status "stopped"); a run that wrote none failed.
A deadline, SIGTERM or Ctrl-C stops the sweep the same way: every child gets SIGTERM (it
checkpoints and writes status "stopped"), then SIGKILL after a grace period.

No TensorFlow here: a sweep starts in a fraction of a second and its children own the devices.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import re
import sys
from typing import Dict, List, Mapping, Optional, Sequence

from rethinking import rundir

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS_DIR = os.path.join(REPO_ROOT, "flags")
GROUPS = rundir.GROUPS
DEFAULT_TRAIN_COMMAND = (sys.executable, os.path.join(REPO_ROOT, "experiments", "train.py"))
DEFAULT_GRACE_SECONDS = 120.0  # a trainer stops after its current compiled call, then checkpoints


@dataclasses.dataclass(frozen=True, order=True)
class Setting:
  """One flagfile. Ordered by run name, the order in which sweeps shard."""
  run_name: str  # "<group>-<name>", the run directory's name
  group: str  # the flagfile's directory name: table1, fig1bc, ...
  name: str  # the flagfile's name without .flags: the key in rethinking.paper
  flagfile: str


def setting_for(flagfile: str) -> Setting:
  path = os.path.abspath(flagfile)
  group = os.path.basename(os.path.dirname(path))
  name = os.path.basename(path)
  if name.endswith(".flags"):
    name = name[:-len(".flags")]
  return Setting(run_name=rundir.setting_run_name(group, name), group=group, name=name,
                 flagfile=path)


class SettingsError(ValueError):
  """A setting spec that names no flagfile."""


def expand_settings(specs: Sequence[str], flags_dir: str = FLAGS_DIR) -> List[Setting]:
  """Group names (e.g. "fig1bc") and globs of flagfiles -> sorted, de-duplicated settings.

  A glob is tried as given (relative to the working directory), then relative to the
  repository root. Raises SettingsError for an empty spec list or a spec that matches no file.
  """
  specs = [s.strip() for s in specs if s.strip()]
  if not specs:
    raise SettingsError("no settings given")
  found: Dict[str, Setting] = {}
  for spec in specs:
    if os.sep not in spec and not any(c in spec for c in "*?[") and not spec.endswith(".flags"):
      pattern = os.path.join(flags_dir, spec, "*.flags")  # a group name
    elif os.path.isdir(os.path.expanduser(spec)):
      pattern = os.path.join(spec, "*.flags")  # a directory of flagfiles
    else:
      pattern = spec
    paths = sorted(p for p in glob.glob(os.path.expanduser(pattern)) if os.path.isfile(p))
    if not paths and not os.path.isabs(pattern):
      paths = sorted(p for p in glob.glob(os.path.join(os.path.dirname(flags_dir), pattern))
                     if os.path.isfile(p))
    if not paths:
      known = ", ".join(g for g in GROUPS if os.path.isdir(os.path.join(flags_dir, g)))
      raise SettingsError(f"{spec!r} matches no flagfile (groups: {known}; or a glob such as "
                          f"flags/fig1bc/mlp_*.flags)")
    for p in paths:
      s = setting_for(p)
      if s.run_name in found and found[s.run_name].flagfile != s.flagfile:
        raise SettingsError(f"{p} and {found[s.run_name].flagfile} share the run name "
                            f"{s.run_name}")
      found[s.run_name] = s
  return sorted(found.values())


def shard(settings: Sequence[Setting], shard_index: int, num_shards: int) -> List[Setting]:
  """Setting i of the sorted list goes to shard i % num_shards: the shards are disjoint and
  together hold every setting, whatever machine computes them."""
  if num_shards < 1 or not 0 <= shard_index < num_shards:
    raise ValueError(f"shard {shard_index} of {num_shards}")
  return [s for i, s in enumerate(sorted(settings)) if i % num_shards == shard_index]


def run_dir(logdir: str, setting: Setting) -> str:
  return os.path.join(logdir, setting.run_name)


def is_completed(logdir: str, setting: Setting) -> bool:
  return rundir.read_status(run_dir(logdir, setting)) == "completed"


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> float:
  """"90m", "2h", "3600s", "1h30m" -> seconds (> 0). Raises ValueError otherwise."""
  text = (text or "").strip().lower()
  parts = _DURATION.findall(text)
  if not text or "".join(n + u for n, u in parts) != text:
    raise ValueError("must be a duration such as 90m, 2h, 1h30m or 3600s")
  seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
  if seconds <= 0:
    raise ValueError("must be a positive duration")
  return seconds


def override_args(overrides: Mapping[str, object]) -> List[str]:
  """{"train_size": 1000, "jit": True, "epochs": None} -> ["--train_size=1000", "--jit"].
  None means "not given": the flagfile's (or train.py's) value stands."""
  args = []
  for key, value in overrides.items():
    if value is None:
      continue
    if isinstance(value, bool):
      args.append(f"--{key}" if value else f"--no{key}")
    else:
      args.append(f"--{key}={value}")
  return args


def command_for(setting: Setting, logdir: str, overrides: Mapping[str, object] = None,
                extra: Sequence[str] = (),
                train_command: Sequence[str] = DEFAULT_TRAIN_COMMAND) -> List[str]:
  """The subprocess command of one run. Overrides come after the flagfile, so they win."""
  return [*train_command, f"--flagfile={setting.flagfile}", f"--run_name={setting.run_name}",
          f"--logdir={os.path.abspath(logdir)}", *override_args(overrides or {}), *extra]


def gpu_environment(gpu: Optional[str], children_per_gpu: int = 1) -> Dict[str, str]:
  """What a child's environment gains when it is given one GPU: only that GPU is visible, and
  TensorFlow grows its memory on demand when other children share the GPU (by default it takes
  nearly all of it, and the second child would fail to allocate)."""
  if gpu is None:
    return {}
  env = {"CUDA_VISIBLE_DEVICES": gpu}
  if children_per_gpu > 1:
    env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
  return env
