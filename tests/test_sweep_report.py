"""Sweeps: many flagfiles -> many runs (skips finished runs, resumes broken ones, shards).

The sweep tests substitute a small fake training command. The report's tests are in
tests/test_report.py.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from rethinking import paper
from rethinking import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- sweep -----------------------------------------------------------------------------------
FAKE_TRAIN = textwrap.dedent("""\
    import json, os, sys
    args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    run_dir = os.path.join(args["logdir"], args["run_name"])
    with open(os.path.join(args["logdir"], "calls.txt"), "a") as f:
      f.write(" ".join([args["run_name"]] + sys.argv[1:]) + "\\n")
    if "fail" in open(args["flagfile"]).read():
      print("this setting fails")
      sys.exit(1)
    with open(os.path.join(run_dir, "results.json"), "w") as f:
      json.dump({"status": "completed"}, f)
    """)


@pytest.fixture
def toy(tmp_path):
  """Three flagfiles in a group "toy" (the second fails) and a fake training command."""
  group = tmp_path / "flags" / "toy"
  group.mkdir(parents=True)
  for name in ("a", "b", "c"):
    (group / f"{name}.flags").write_text("# fail\n" if name == "b" else "--model=mlp_1x512\n")
  (tmp_path / "fake_train.py").write_text(FAKE_TRAIN)
  return tmp_path


def _calls(logdir):
  path = logdir / "calls.txt"
  return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def _sweep(toy, *args):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "experiments", "sweep.py"),
       f"--settings={toy / 'flags' / 'toy' / '*.flags'}", f"--logdir={toy / 'logs'}",
       f"--train_command={sys.executable} {toy / 'fake_train.py'}", *args],
      capture_output=True, text=True, timeout=60)


def test_sweep_goes_on_past_a_failing_run_and_exits_nonzero(toy):
  done = _sweep(toy, "--parallel=2", "--epochs=3", "--jit", "--extra=--seed=5")
  assert done.returncode == 1, done.stdout + done.stderr
  assert sorted(_calls(toy / "logs")) == ["toy-a", "toy-b", "toy-c"]
  assert "--epochs=3" in (toy / "logs" / "calls.txt").read_text()
  assert "--jit --seed=5" in (toy / "logs" / "calls.txt").read_text()
  table = done.stdout[done.stdout.index("setting  "):]
  assert re.search(r"toy-b +failed \(exit 1\)", table) and re.search(r"toy-a +completed", table)
  assert "this setting fails" in (toy / "logs" / "toy-b" / "train.log").read_text()


def test_sweep_skips_completed_runs_and_runs_broken_ones_again(toy):
  logs = toy / "logs"
  (logs / "toy-a").mkdir(parents=True)
  (logs / "toy-a" / "results.json").write_text(json.dumps({"status": "completed"}))
  (logs / "toy-c").mkdir()
  (logs / "toy-c" / "results.json").write_text(json.dumps({"status": "stopped"}))
  done = _sweep(toy)
  assert done.returncode == 1
  assert sorted(_calls(logs)) == ["toy-b", "toy-c"]
  assert re.search(r"toy-a +skipped \(completed\)", done.stdout)
  (logs / "calls.txt").unlink()
  outcomes = sweep.run_sweep(sweep.expand_settings([str(toy / "flags" / "toy" / "[ac].flags")]),
                             str(logs), train_command=[sys.executable, str(toy / "fake_train.py")],
                             echo=lambda line: None)
  assert [o.status for o in outcomes] == ["skipped (completed)"] * 2 and not _calls(logs)


@pytest.mark.parametrize("num_shards", [1, 2, 3, 7, 60])
def test_shards_are_disjoint_and_together_hold_every_setting(num_shards):
  settings = sweep.expand_settings(list(sweep.GROUPS))
  assert len(settings) == 19 + 7 + 5 + 18 + 2
  shards = [sweep.shard(settings, i, num_shards) for i in range(num_shards)]
  names = [s.run_name for part in shards for s in part]
  assert sorted(names) == sorted(s.run_name for s in settings)  # complete, nothing twice


def test_settings_are_named_group_dash_name_as_the_paper_module_keys_them():
  settings = sweep.expand_settings(["table1", "flags/fig1bc/mlp_*.flags"])
  names = {s.run_name for s in settings}
  assert {f"table1-{r.setting}" for r in paper.TABLE1} <= names
  assert "fig1bc-mlp_1x512_p0.4" in names and len(names) == 19 + 6
  cmd = sweep.command_for(settings[0], "/tmp/x", {"train_size": 1000, "jit": True,
                                                  "epochs": None}, ["--seed=2"])
  assert cmd[-3:] == ["--train_size=1000", "--jit", "--seed=2"]
  assert f"--run_name={settings[0].run_name}" in cmd


def test_sweep_dry_run_shards_match_the_library(toy):
  seen = []
  for i in range(2):
    done = _sweep(toy, "--dry_run", "--num_shards=2", f"--shard_index={i}")
    assert done.returncode == 0, done.stderr
    seen += [line.split("--run_name=")[1].split()[0] for line in done.stdout.splitlines()
             if "--run_name=" in line]
  assert sorted(seen) == ["toy-a", "toy-b", "toy-c"]
  assert not (toy / "logs").exists()


@pytest.mark.parametrize("args", [
    ["--settings=no_such_group"],
    ["--settings=flags/nothing/*.flags"],
    ["--settings=fig1a", "--num_shards=3", "--shard_index=3"],
    ["--settings=fig1a", "--shard_index=-1"],
    ["--settings=fig1a", "--parallel=0"],
    ["--settings=fig1a", "--epochs=0"],
    ["--settings=fig1a", "--logdir={file}/sub"],
    ["--settings=fig1a", "--extra='unclosed"],
    ["--settings=fig1a", "--train_command=/no/such/python experiments/train.py"],
])
def test_sweep_refuses_bad_flags_with_one_line_and_creates_nothing(tmp_path, args):
  (tmp_path / "a_file").write_text("")
  args = [a.replace("{file}", str(tmp_path / "a_file")) for a in args]
  if not any(a.startswith("--logdir") for a in args):
    args.append(f"--logdir={tmp_path / 'logs'}")
  done = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "sweep.py"), *args],
                        capture_output=True, text=True, timeout=60)
  assert done.returncode == 2, done.stdout + done.stderr
  assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error:")
  assert sorted(os.listdir(tmp_path)) == ["a_file"]
