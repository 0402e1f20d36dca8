"""Bad input costs seconds; killed runs resume exactly; nothing is half-written."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from rethinking import config as config_lib
from rethinking import rundir
from rethinking.training import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "experiments", "train.py")
CHILD = os.path.join(ROOT, "tests", "mock_train.py")

# (flags, the flag the message must name)
BAD_TRAIN_FLAGS = [
    (["--model=resnet50"], "--model"),
    (["--dataset=svhn"], "--dataset"),
    (["--corruption=blurred"], "--corruption"),
    (["--corruption=labels", "--corrupt_prob=1.5"], "--corrupt_prob"),
    (["--corruption=labels", "--corrupt_prob=-0.1"], "--corrupt_prob"),
    (["--corruption=labels"], "--corrupt_prob"),
    (["--corruption=gaussian", "--corrupt_prob=0.5"], "--corrupt_prob"),
    (["--corruption=random_labels", "--corrupt_prob=1.0"], "--corrupt_prob"),
    (["--batch_size=0"], "--batch_size"),
    (["--batch_size=-128"], "--batch_size"),
    (["--batch_size=abc"], "--batch_size"),
    (["--epochs=0"], "--epochs"),
    (["--learning_rate=0"], "--learning_rate"),
    (["--learning_rate=-0.1"], "--learning_rate"),
    (["--lr_decay=1.5"], "--lr_decay"),
    (["--momentum=1.0"], "--momentum"),
    (["--weight_decay=-1e-4"], "--weight_decay"),
    (["--dropout=1.0"], "--dropout"),
    (["--eval_every=0"], "--eval_every"),
    (["--test_every=-1"], "--test_every"),
    (["--train_size=-5"], "--train_size"),
    (["--train_size=50"], "--train_size"),  # smaller than a batch
    (["--model=inception_v3"], "--model"),  # 28x28 CIFAR-10 input
    (["--dataset=imagenet2012", "--model=mlp_1x512"], "--model"),
    (["--data_dir=/nonexistent/tfds"], "--data_dir"),
    (["--logdir=/proc/no/such/dir"], "--logdir"),
    (["--strategy=tpu"], "--strategy"),
    (["--strategy=multi_worker"], "--strategy"),
    (["--strategy=mirrored_everywhere"], "--strategy"),
    (["--precision=float8"], "--precision"),
    (["--pixel_unit=channel"], "--pixel_unit"),
    (["--no_such_flag=1"], "no_such_flag"),
]


@pytest.mark.parametrize("flags,named", BAD_TRAIN_FLAGS, ids=lambda x: str(x))
def test_bad_train_flag_is_one_line_exit_2_and_writes_nothing(flags, named, tmp_path):
  logdir = tmp_path / "runs"
  args = [sys.executable, TRAIN, f"--logdir={logdir}"] + flags
  env = {**os.environ, "TFDS_DATA_DIR": str(tmp_path / "tfds")}
  env.pop("TF_CONFIG", None)
  env.pop("TPU_NAME", None)
  started = time.time()
  proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr
  assert named in lines[0] and lines[0].startswith("error:")
  assert not logdir.exists()
  assert time.time() - started < 60  # before any data is loaded


def test_train_size_larger_than_the_prepared_split_is_rejected(tmp_path):
  info = tmp_path / "tfds" / "cifar10" / "3.0.2"
  info.mkdir(parents=True)
  (info / "dataset_info.json").write_text(json.dumps(
      {"splits": [{"name": "train", "shardLengths": ["600"]}]}))
  proc = subprocess.run([sys.executable, TRAIN, f"--data_dir={tmp_path / 'tfds'}",
                         "--train_size=601", f"--logdir={tmp_path / 'runs'}"],
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2 and "--train_size=601" in proc.stderr
  assert "600" in proc.stderr and not (tmp_path / "runs").exists()


def test_missing_dataset_is_one_line_exit_2(tmp_path):
  (tmp_path / "empty").mkdir()
  proc = subprocess.run([sys.executable, TRAIN, f"--data_dir={tmp_path / 'empty'}",
                         "--nodownload", f"--logdir={tmp_path / 'runs'}"],
                        capture_output=True, text=True, timeout=180)
  assert proc.returncode == 2
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and str(tmp_path / "empty") in lines[0] and "--data_dir" in lines[0]
  assert not (tmp_path / "runs").exists()  # refused before training: nothing left behind


# ---- kills and resumes ------------------------------------------------------------------------
def _child(logdir, run_name, epochs=4, kill_after_step=None, sig=signal.SIGKILL, n=96,
           steps_per_call=2, signals=1):
  """Runs tests/mock_train.py; sends `sig` (`signals` times) once it reports a step >=
  kill_after_step. Returns (exit code, stdout lines, seconds from the signal to the exit)."""
  proc = subprocess.Popen([sys.executable, CHILD, str(logdir), run_name, str(epochs), str(n),
                           str(steps_per_call)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  lines, signalled = [], None
  for line in proc.stdout:
    lines.append(line.strip())
    if kill_after_step is not None and line.startswith("step ") and int(
        line.split()[1]) >= kill_after_step:
      signalled = time.time()
      for _ in range(signals):
        proc.send_signal(sig)
      break
  lines += [line.strip() for line in proc.stdout]
  proc.wait(timeout=300)
  return proc.returncode, lines, (time.time() - signalled if signalled else None)


def _final_weights(run_dir):
  path = tf.train.latest_checkpoint(run_dir)
  reader = tf.train.load_checkpoint(path)
  # Keras 3 models save their weights under the optimizer's tracked variables (the model path
  # holds none): every variable but the save counter.
  names = sorted(n for n in reader.get_variable_to_shape_map()
                 if n.startswith(("optimizer/", "step/")))
  assert any("_trainable_variables" in n for n in names), names
  return {n: reader.get_tensor(n) for n in names}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  logdir = tmp_path_factory.mktemp("whole")
  code, lines, _ = _child(logdir, "run")
  assert code == 0 and lines[-1] == "status completed", lines
  run_dir = logdir / "run"
  return json.load(open(run_dir / "results.json")), _final_weights(str(run_dir))


def _assert_same_run(run_dir, uninterrupted):
  expected, weights = uninterrupted
  results = json.load(open(os.path.join(run_dir, "results.json")))
  assert results["status"] == "completed"
  assert results["final"] == expected["final"]
  assert results["steps_to_fit"] == expected["steps_to_fit"]
  assert results["corruption"] == expected["corruption"]
  got = _final_weights(str(run_dir))
  assert got.keys() == weights.keys()
  for name in weights:
    np.testing.assert_array_equal(got[name], weights[name], err_msg=name)


# 6 steps per epoch, calls of 2 steps, checkpoints at each epoch end (6, 12, 18, 24).
# Killed before any checkpoint (step 2), mid-epoch after one (10), late (20), then resumed.
KILL_POINTS = (2, 10, 20)


def test_sigkill_at_several_points_then_resume_equals_the_uninterrupted_run(
    uninterrupted, tmp_path):
  resumed_from = []
  for point in KILL_POINTS:
    code, lines, _ = _child(tmp_path, "run", kill_after_step=point)
    assert code == -signal.SIGKILL, lines
    steps = [int(l.split()[1]) for l in lines if l.startswith("step ")]
    resumed_from.append(steps[0] - 2)
    assert not (tmp_path / "run" / "results.json").exists()
  latest = tf.train.latest_checkpoint(str(tmp_path / "run"))
  resume_from = int(latest.rsplit("-", 1)[1]) if latest else 0
  code, lines, _ = _child(tmp_path, "run")
  assert code == 0 and lines[-1] == "status completed", lines
  first_step = int(next(l for l in lines if l.startswith("step ")).split()[1])
  assert first_step == resume_from + 2 and resume_from >= 18  # resumed, not restarted
  assert resumed_from[:2] == [0, 0] and resumed_from[2] >= 6
  _assert_same_run(tmp_path / "run", uninterrupted)
  assert not (tmp_path / "run" / "LOCK").exists()
  assert not [f for f in os.listdir(tmp_path / "run") if f.startswith(".tmp-")]


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_at_the_next_step_with_a_checkpoint_then_resumes(
    uninterrupted, tmp_path, sig, code):
  # Calls of 6 steps (a whole epoch): the stop must not wait for the call or an evaluation.
  exit_code, lines, seconds = _child(tmp_path, "run", kill_after_step=8, sig=sig,
                                     steps_per_call=6)
  assert exit_code == code, lines
  assert seconds < 15
  results = json.load(open(tmp_path / "run" / "results.json"))
  assert results["status"] == "stopped" and results["stop_signal"] == sig.name
  stopped_at = results["step"]
  assert 8 <= stopped_at < 24
  # `final` is the last evaluation (none is run for the stop) and says at which step it was.
  assert results["final"]["step"] == results["history"][-1]["step"] <= stopped_at
  assert results["final"]["step"] % 6 == 0
  assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith(f"-{stopped_at}")
  exit_code, lines, _ = _child(tmp_path, "run")
  assert exit_code == 0
  first = int(next(l for l in lines if l.startswith("step ")).split()[1])
  assert first > stopped_at and first - stopped_at <= 2  # continued from the stop
  _assert_same_run(tmp_path / "run", uninterrupted)


def test_a_second_signal_exits_at_once_and_leaves_a_resumable_run(uninterrupted, tmp_path):
  exit_code, lines, _ = _child(tmp_path, "run", kill_after_step=8, sig=signal.SIGINT,
                               signals=2)
  assert exit_code == 130, lines
  assert tf.train.latest_checkpoint(str(tmp_path / "run")) is not None
  exit_code, lines, _ = _child(tmp_path, "run")
  assert exit_code == 0 and lines[-1] == "status completed", lines
  _assert_same_run(tmp_path / "run", uninterrupted)


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(uninterrupted, tmp_path):
  code, _, _ = _child(tmp_path, "run", kill_after_step=14)  # checkpoints at 6 and 12
  run_dir = tmp_path / "run"
  newest = tf.train.latest_checkpoint(str(run_dir))
  assert newest.endswith("-12")
  data = newest + ".data-00000-of-00001"
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)
  proc = subprocess.run([sys.executable, CHILD, str(tmp_path), "run", "4"], capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "unreadable" in proc.stderr and "falling back" in proc.stderr
  steps = [int(l.split()[1]) for l in proc.stdout.splitlines() if l.startswith("step ")]
  assert steps[0] == 8  # resumed from step 6
  _assert_same_run(run_dir, uninterrupted)


# ---- lock, divergence --------------------------------------------------------------------------
def _config(logdir, **train):
  return config_lib.RunConfig(
      data=config_lib.DataConfig(name="cifar10"),
      corruption=config_lib.CorruptionConfig(kind="random_labels"),
      model=config_lib.ModelConfig(name="mlp_1x512"),
      train=config_lib.TrainConfig(**{"epochs": 1, "batch_size": 16, **train}),
      logdir=str(logdir), run_name="run")


def test_a_locked_run_directory_is_refused_and_a_stale_lock_taken_over(tmp_path):
  run_dir = tmp_path / "run"
  run_dir.mkdir()
  lock = rundir.RunLock(str(run_dir)).acquire()  # held by this (live) process
  with pytest.raises(rundir.RunLockedError, match="in use"):
    rundir.RunLock(str(run_dir)).acquire()
  lock.release()
  dead = subprocess.Popen(["true"])
  dead.wait()
  (run_dir / "LOCK").write_text(f"{os.uname().nodename}:{dead.pid}")
  with tfds.testing.mock_data(num_examples=32):
    results = trainer.train(_config(tmp_path))
  assert results.status == "completed"
  assert not (run_dir / "LOCK").exists()


def test_a_live_lock_makes_train_refuse(tmp_path):
  run_dir = tmp_path / "run"
  run_dir.mkdir()
  with rundir.RunLock(str(run_dir)):
    with tfds.testing.mock_data(num_examples=32):
      with pytest.raises(rundir.RunLockedError):
        trainer.train(_config(tmp_path))
  assert not (run_dir / "results.json").exists()


def test_an_absurd_learning_rate_diverges_with_the_step_recorded(tmp_path):
  with tfds.testing.mock_data(num_examples=64):
    results = trainer.train(_config(tmp_path, learning_rate=1e12, epochs=5))
  assert results.status == "diverged"
  assert isinstance(results.diverged_at_step, int) and results.diverged_at_step >= 1
  assert results.step < 5 * 4
  on_disk = json.load(open(tmp_path / "run" / "results.json"))
  assert on_disk["status"] == "diverged"


def test_atomic_json_leaves_the_old_file_when_writing_fails(tmp_path):
  path = tmp_path / "results.json"
  rundir.atomic_write_json(str(path), {"a": 1})
  with pytest.raises(TypeError):
    rundir.atomic_write_json(str(path), {"a": object.__new__(type("Bad", (), {
        "__str__": lambda self: (_ for _ in ()).throw(TypeError("no"))}))})
  assert json.load(open(path)) == {"a": 1}
  assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
