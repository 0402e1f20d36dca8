"""experiments/sweep.py and rethinking/sweep/: sharding, skipping, resuming, deadlines, signals,
GPU assignment. The training command is a small fake (no TensorFlow): each flagfile says how its
run behaves (complete, fail, stop on SIGTERM, ignore SIGTERM, ...), so every test runs in seconds.
"""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from rethinking import paper
from rethinking import rundir
from rethinking.sweep import runner as sweep_runner
from rethinking.sweep import settings as sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# How a fake run behaves is the flagfile's "# behave: <what>" line (default: complete at once).
FAKE_TRAIN = textwrap.dedent("""\
    import json, os, signal, sys, time
    args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    run_dir = os.path.join(args["logdir"], args["run_name"])
    text = open(args["flagfile"]).read()
    behave = text.split("# behave: ")[1].split()[0] if "# behave: " in text else "complete"

    def results(status):
      tmp = os.path.join(run_dir, "results.tmp")
      with open(tmp, "w") as f:
        json.dump({"config": {}, "status": status, "final": {}}, f)
      os.replace(tmp, os.path.join(run_dir, "results.json"))

    def record(event):
      with open(os.path.join(args["logdir"], "calls.txt"), "a") as f:
        f.write(json.dumps({"run": args["run_name"], "event": event, "time": time.time(),
                            "pid": os.getpid(), "argv": sys.argv[1:],
                            "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
                            "growth": os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH")}) + "\\n")

    def stop(signum, frame):  # as the trainer: checkpoint, status "stopped", exit 128 + signum
      results("stopped")
      record("stopped")
      sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop if behave != "ignore_sigterm" else signal.SIG_IGN)
    signal.signal(signal.SIGINT, stop)
    record("start")
    if behave == "fail":
      print("this setting fails")
      sys.exit(1)
    if behave == "exit0_without_results":
      sys.exit(0)
    if behave == "stopped_exit143":
      results("stopped")
      sys.exit(143)
    if behave.startswith("sleep"):  # sleep<seconds>, then complete
      time.sleep(float(behave[len("sleep"):]))
    if behave in ("run_until_signalled", "ignore_sigterm"):
      while True:
        time.sleep(0.05)
    results("completed")
    record("end")
    """)


def _flagfiles(tmp_path, behaviours):
  group = tmp_path / "flags" / "toy"
  group.mkdir(parents=True)
  for name, behave in behaviours.items():
    (group / f"{name}.flags").write_text(f"--model=mlp_1x512\n# behave: {behave}\n")
  (tmp_path / "fake_train.py").write_text(FAKE_TRAIN)
  return tmp_path


@pytest.fixture
def toy(tmp_path):
  """Three flagfiles in a group "toy" (the second fails) and the fake training command."""
  return _flagfiles(tmp_path, {"a": "complete", "b": "fail", "c": "complete"})


def _events(logdir, event="start"):
  path = logdir / "calls.txt"
  if not path.exists():
    return []
  return [e for e in map(json.loads, path.read_text().splitlines()) if e["event"] == event]


def _calls(logdir):
  return [e["run"] for e in _events(logdir)]


def _alive(pid):
  """A process that runs (a zombie nobody reaped counts as gone)."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False


def _sweep_command(toy, *args):
  return [sys.executable, os.path.join(ROOT, "experiments", "sweep.py"),
          f"--settings={toy / 'flags' / 'toy' / '*.flags'}", f"--logdir={toy / 'logs'}",
          f"--train_command={sys.executable} {toy / 'fake_train.py'}", *args]


def _env():
  env = dict(os.environ)
  env.pop("TF_FORCE_GPU_ALLOW_GROWTH", None)
  return env


def _sweep(toy, *args):
  return subprocess.run(_sweep_command(toy, *args), capture_output=True, text=True, timeout=60,
                        env=_env())


def _status(stdout, run):
  match = re.search(rf"^{run} +(.+?)(?:  +\S+)*$", stdout[stdout.index("setting  "):], re.M)
  return match.group(1) if match else None


def test_sweep_goes_on_past_a_failing_run_and_exits_nonzero(toy):
  done = _sweep(toy, "--parallel=2", "--epochs=3", "--jit", "--extra=--seed=5")
  assert done.returncode == 1, done.stdout + done.stderr
  assert sorted(_calls(toy / "logs")) == ["toy-a", "toy-b", "toy-c"]
  argv = " ".join(_events(toy / "logs")[0]["argv"])
  assert "--epochs=3" in argv and "--jit --seed=5" in argv
  table = done.stdout[done.stdout.index("setting  "):]
  assert re.search(r"toy-b +failed \(exit 1\)", table) and re.search(r"toy-a +completed", table)
  assert "this setting fails" in (toy / "logs" / "toy-b" / "train.log").read_text()


def test_sweep_skips_completed_runs_and_runs_broken_ones_again(toy):
  logs = toy / "logs"
  for name, status in (("toy-a", "completed"), ("toy-c", "stopped")):
    (logs / name).mkdir(parents=True)
    rundir.Results(config={}, status=status, final={}).write(str(logs / name))
  done = _sweep(toy)
  assert done.returncode == 1
  assert sorted(_calls(logs)) == ["toy-b", "toy-c"]
  assert re.search(r"toy-a +skipped \(completed\)", done.stdout)
  (logs / "calls.txt").unlink()
  result = sweep_runner.run_sweep(
      sweep.expand_settings([str(toy / "flags" / "toy" / "[ac].flags")]), str(logs),
      train_command=[sys.executable, str(toy / "fake_train.py")], echo=lambda line: None)
  assert [o.status for o in result.outcomes] == ["skipped (completed)"] * 2
  assert not _calls(logs) and result.all_completed and result.stopped_by is None


def test_the_outcome_comes_from_results_json_whatever_the_exit_status(tmp_path):
  toy = _flagfiles(tmp_path, {"stopped_143": "stopped_exit143",
                              "no_results": "exit0_without_results",
                              "stale_then_fail": "fail", "ok": "complete"})
  # A results.json left by an earlier attempt says nothing about this one.
  (toy / "logs" / "toy-stale_then_fail").mkdir(parents=True)
  rundir.Results(config={}, status="stopped", final={}).write(
      str(toy / "logs" / "toy-stale_then_fail"))
  done = _sweep(toy, "--parallel=2")
  assert done.returncode == 1, done.stdout + done.stderr
  assert _status(done.stdout, "toy-stopped_143") == "stopped"
  assert _status(done.stdout, "toy-no_results") == "failed (exit 0, no results.json)"
  assert _status(done.stdout, "toy-stale_then_fail") == "failed (exit 1)"
  assert _status(done.stdout, "toy-ok") == "completed"


def test_a_completed_run_that_train_py_leaves_alone_stays_completed(tmp_path):
  """--noskip_completed: train.py finds the run done, exits 0 and does not rewrite results.json."""
  toy = _flagfiles(tmp_path, {"done": "exit0_without_results"})
  (toy / "logs" / "toy-done").mkdir(parents=True)
  rundir.Results(config={}, status="completed", final={}).write(str(toy / "logs" / "toy-done"))
  done = _sweep(toy, "--noskip_completed")
  assert done.returncode == 0, done.stdout + done.stderr
  assert _calls(toy / "logs") == ["toy-done"] and _status(done.stdout, "toy-done") == "completed"


def test_deadline_sends_sigterm_then_sigkill_after_the_grace_and_exits_3(tmp_path):
  toy = _flagfiles(tmp_path, {"a_honours": "run_until_signalled", "b_ignores": "ignore_sigterm",
                              "c_later": "complete"})
  start = time.monotonic()
  # The deadline leaves the fakes time to start and install their handlers on a loaded machine.
  done = _sweep(toy, "--parallel=2", "--deadline=4s", "--grace=2s")
  seconds = time.monotonic() - start
  assert done.returncode == 3, done.stdout + done.stderr
  assert 6 < seconds < 40, seconds  # deadline + grace + start-up, not forever
  assert _status(done.stdout, "toy-a_honours") == "stopped"
  assert _status(done.stdout, "toy-b_ignores") == "killed (signal 9)"
  assert _status(done.stdout, "toy-c_later") == "not started"
  assert [e["run"] for e in _events(toy / "logs", "stopped")] == ["toy-a_honours"]
  last = done.stdout.strip().splitlines()[-1]
  assert last.startswith("[sweep] stopped at the deadline (--deadline=4s")
  assert "SIGKILL after the 2s grace: toy-b_ignores" in last
  assert "To resume" in last and "--deadline=4s" in last
  assert not any(_alive(e["pid"]) for e in _events(toy / "logs"))  # nothing left running


def test_a_stopped_sweep_resumes_where_it_stopped(tmp_path):
  toy = _flagfiles(tmp_path, {"a": "run_until_signalled", "b": "complete"})
  first = _sweep(toy, "--deadline=3s", "--grace=5s")
  assert first.returncode == 3 and _status(first.stdout, "toy-b") == "not started"
  (toy / "flags" / "toy" / "a.flags").write_text("# behave: complete\n")
  second = _sweep(toy)
  assert second.returncode == 0, second.stdout + second.stderr
  assert _calls(toy / "logs") == ["toy-a", "toy-a", "toy-b"]


@pytest.mark.parametrize("signum,said", [(signal.SIGTERM, "by SIGTERM"),
                                         (signal.SIGINT, "by Ctrl-C")])
def test_sigterm_or_ctrl_c_to_the_sweep_stops_its_children_like_the_deadline(tmp_path, signum,
                                                                            said):
  toy = _flagfiles(tmp_path, {"a": "run_until_signalled", "b": "complete"})
  proc = subprocess.Popen(_sweep_command(toy, "--grace=5s"), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=_env())
  for _ in range(200):
    if _calls(toy / "logs"):
      break
    time.sleep(0.05)
  proc.send_signal(signum)
  stdout, stderr = proc.communicate(timeout=30)
  assert proc.returncode == 3, stdout + stderr
  assert _status(stdout, "toy-a") == "stopped" and _status(stdout, "toy-b") == "not started"
  assert f"[sweep] stopped {said}" in stdout and "To resume" in stdout


def test_sigkill_reaches_a_launcher_scripts_child(tmp_path):
  """--train_command may be a wrapper script; SIGTERM/SIGKILL go to its whole process group."""
  toy = _flagfiles(tmp_path, {"a": "ignore_sigterm"})
  wrapper = toy / "launch.sh"
  wrapper.write_text(f'#!/bin/sh\n"{sys.executable}" "{toy / "fake_train.py"}" "$@"\n')
  wrapper.chmod(0o755)
  done = subprocess.run(
      [sys.executable, os.path.join(ROOT, "experiments", "sweep.py"),
       f"--settings={toy / 'flags' / 'toy' / '*.flags'}", f"--logdir={toy / 'logs'}",
       f"--train_command={wrapper}", "--deadline=3s", "--grace=1s"],
      capture_output=True, text=True, timeout=30)
  assert done.returncode == 3, done.stdout + done.stderr
  [event] = _events(toy / "logs")
  alive = _alive(event["pid"])
  if alive:
    os.kill(event["pid"], signal.SIGKILL)  # leave nothing behind, then fail
  assert not alive, "the launcher's child outlived the sweep"
  assert _status(done.stdout, "toy-a").startswith("killed (signal ")


@pytest.mark.parametrize("children_per_gpu", [1, 2])
def test_each_child_gets_one_gpu_and_no_gpu_holds_more_than_children_per_gpu(tmp_path,
                                                                              children_per_gpu):
  toy = _flagfiles(tmp_path, {f"r{i}": "sleep0.6" for i in range(6)})
  done = _sweep(toy, "--gpus=3,5", f"--children_per_gpu={children_per_gpu}")
  assert done.returncode == 0, done.stdout + done.stderr
  starts, ends = _events(toy / "logs"), {e["run"]: e["time"] for e in _events(toy / "logs", "end")}
  assert len(starts) == 6 and {e["gpu"] for e in starts} == {"3", "5"}
  growth = "true" if children_per_gpu > 1 else None
  assert all(e["growth"] == growth for e in starts)
  for gpu in ("3", "5"):
    intervals = [(e["time"], ends[e["run"]]) for e in starts if e["gpu"] == gpu]
    most = max(sum(s <= t < e for s, e in intervals) for t, _ in intervals)
    assert most <= children_per_gpu
  # and the sweep filled all of its slots before the first training ended
  lines = done.stdout.splitlines()
  first_end = next(i for i, line in enumerate(lines) if ": completed" in line)
  assert sum(": started" in line for line in lines[:first_end]) == 2 * children_per_gpu
  assert re.search(r"toy-r0 +completed +\d+ +[35]", done.stdout)


@pytest.mark.parametrize("text,seconds", [("90m", 5400), ("2h", 7200), ("3600s", 3600),
                                          ("1h30m", 5400), ("1.5h", 5400), ("1d", 86400)])
def test_deadline_durations(text, seconds):
  assert sweep.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "90", "m", "-5m", "0s", "5 minutes", "1h 30m", "2w"])
def test_bad_durations_raise(text):
  with pytest.raises(ValueError):
    sweep.parse_duration(text)


@pytest.mark.parametrize("num_shards", [1, 2, 3, 7, 60])
def test_shards_are_disjoint_and_together_hold_every_setting(num_shards):
  settings = sweep.expand_settings(list(sweep.GROUPS))
  assert len(settings) == sum(len(os.listdir(os.path.join(ROOT, "flags", g)))
                              for g in sweep.GROUPS) > 60
  shards = [sweep.shard(settings, i, num_shards) for i in range(num_shards)]
  names = [s.run_name for part in shards for s in part]
  assert sorted(names) == sorted(s.run_name for s in settings)  # complete, nothing twice


def test_settings_are_named_group_dash_name_as_the_paper_module_keys_them():
  settings = sweep.expand_settings(["table1", "flags/fig1bc/mlp_*.flags"])
  names = {s.run_name for s in settings}
  assert {f"table1-{r.setting}" for r in paper.TABLE1} <= names
  assert "fig1bc-mlp_1x512_p0.4" in names and len(names) == 19 + 6
  assert all(rundir.split_setting_run_name(s.run_name) == (s.group, s.name) for s in settings)
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


@pytest.mark.parametrize("args,named", [
    (["--settings=no_such_group"], "--settings"),
    (["--settings=flags/nothing/*.flags"], "--settings"),
    ([], "--settings is required"),
    (["--settings=fig1a", "--num_shards=3", "--shard_index=3"], "--shard_index=3"),
    (["--settings=fig1a", "--shard_index=-1"], "--shard_index=-1"),
    (["--settings=fig1a", "--parallel=0"], "--parallel=0"),
    (["--settings=fig1a", "--epochs=0"], "--epochs=0"),
    (["--settings=fig1a", "--logdir={file}/sub"], "--logdir="),
    (["--settings=fig1a", "--extra='unclosed"], "--extra="),
    (["--settings=fig1a", "--train_command=/no/such/python experiments/train.py"],
     "--train_command="),
    (["--settings=fig1a", "--deadline=90"], "--deadline=90: must be a duration"),
    (["--settings=fig1a", "--deadline=soon"], "--deadline=soon"),
    (["--settings=fig1a", "--grace=0s"], "--grace=0s"),
    (["--settings=fig1a", "--gpus=0,0"], "--gpus=0,0"),
    (["--settings=fig1a", "--gpus=0,x"], "--gpus=0,x"),
    (["--settings=fig1a", "--gpus="], "--gpus=: must list at least one GPU id"),  # empty $CUDA_...
    (["--settings=fig1a", "--gpus=0,1", "--children_per_gpu=0"], "--children_per_gpu=0"),
    (["--settings=fig1a", "--children_per_gpu=2"], "--children_per_gpu=2: needs --gpus"),
    (["--settings=fig1a", "--gpus=0,1", "--parallel=3"], "--parallel=3"),
    (["--settings=fig1a", "--flagfile={file}.missing"], "error: Unable to open flagfile"),
    (["--settings=fig1a", "stray"], "unexpected arguments"),
])
def test_sweep_refuses_bad_flags_with_one_line_and_creates_nothing(tmp_path, args, named):
  (tmp_path / "a_file").write_text("")
  args = [a.replace("{file}", str(tmp_path / "a_file")) for a in args]
  if not any(a.startswith("--logdir") for a in args):
    args.append(f"--logdir={tmp_path / 'logs'}")
  done = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "sweep.py"), *args],
                        capture_output=True, text=True, timeout=60)
  assert done.returncode == 2, done.stdout + done.stderr
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], done.stderr
  assert "ERROR::" not in lines[0]
  assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_sweep_help_lists_groups_gpus_and_deadline():
  done = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "sweep.py"), "--help"],
                        capture_output=True, text=True, timeout=60)
  for word in ("table1", "fig1a_mlp", "appendix", "--gpus", "--children_per_gpu", "--deadline",
               "90m", "--grace", "docs/gpu.md"):
    assert word in done.stdout, word
