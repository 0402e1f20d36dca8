"""R replicas and W workers train exactly like one device; only the chief writes the run
directory; a dead peer ends the others; a bad split of the batch is refused before training.

Multi-replica runs need logical CPU devices configured before TensorFlow starts, and workers
are processes: these tests run tests/replica_train.py children on tfds mock data.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from rethinking import validation
from rethinking.data import pipeline as pipeline_lib
from rethinking.data import preprocessing
from rethinking.training import distribution

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD = os.path.join(ROOT, "tests", "replica_train.py")
TRAIN = os.path.join(ROOT, "experiments", "train.py")
# float32: R replicas sum R partial means where one device takes one mean; measured relative
# differences of per-step losses are ~1e-7 (README, "Multi-replica training").
FLOAT32_RTOL = 1e-5
# A killed peer ends the others within this many seconds (measured: under 1 s on loopback).
DEAD_PEER_BOUND_SECONDS = 30


def _env(tmp_path, tf_config=None):
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  env["TMPDIR"] = str(tmp_path / "scratch")  # where non-chief workers keep their files
  os.makedirs(env["TMPDIR"], exist_ok=True)
  if tf_config:
    env["TF_CONFIG"] = json.dumps(tf_config)
  return env


def _start(tmp_path, logdir, strategies, *args, tf_config=None):
  return subprocess.Popen([sys.executable, CHILD, str(logdir), strategies, *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=_env(tmp_path, tf_config))


def _runs(proc, timeout=120):
  out, err = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, err[-3000:]
  return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _assert_same_training(got, expected, n_evaluated):
  np.testing.assert_allclose(got["losses"], expected["losses"], rtol=FLOAT32_RTOL)
  assert len(got["losses"]) == len(expected["losses"]) > 0
  for key in ("train_loss", "test_loss"):
    np.testing.assert_allclose(got["final"][key], expected["final"][key], rtol=FLOAT32_RTOL)
  for key in ("train_accuracy", "test_accuracy"):  # at most one borderline example flips
    assert abs(got["final"][key] - expected["final"][key]) <= 1 / n_evaluated, key
  assert got["final"]["step"] == expected["final"]["step"]


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _cluster(num_workers):
  workers = [f"127.0.0.1:{port}" for port in _free_ports(num_workers)]
  return [{"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
          for i in range(num_workers)]


# ---- replicas on one host ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--augment", "--weight_decay=0.001", "--jit",
                                         "--eval_ema=0.9"]],
                         ids=["plain", "random_crop_weight_decay_jit_ema"])
def test_two_and_four_replicas_reproduce_the_single_device_loss_curve(tmp_path, extra):
  # A loss divided by R twice trains like one device at lr/R (PITFALLS.md); crops keyed by
  # replica give each R other crops. Both fail here. With --eval_ema the final numbers are the
  # weight average's, updated in cross-replica context.
  two = _start(tmp_path, tmp_path / "two", "default,mirrored", "--cpu_devices=2", *extra)
  four = _start(tmp_path, tmp_path / "four", "mirrored", "--cpu_devices=4", *extra)
  default, mirrored2 = _runs(two)
  mirrored4, = _runs(four)
  assert (default["replicas"], mirrored2["replicas"], mirrored4["replicas"]) == (1, 2, 4)
  _assert_same_training(mirrored2, default, n_evaluated=128)
  _assert_same_training(mirrored4, default, n_evaluated=128)


def test_the_functional_loss_is_a_plain_mean_that_keras_does_not_scale_by_replicas():
  # steps.make_train_call divides by the replica count once, itself; Keras' loss *classes*
  # divide again under a strategy (losses/loss.py, scale_loss_for_distribution). Pin that the
  # functional form returns per-example values, untouched by any strategy.
  labels = tf.constant([0, 1, 2, 3])
  logits = tf.random.stateless_normal([4, 10], seed=[1, 2])
  values = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
  assert values.shape == (4,)
  expected = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
  np.testing.assert_allclose(values.numpy(), expected.numpy(), rtol=1e-6)


def _pipeline(augment=True):
  rng = np.random.default_rng(0)
  images = tf.constant(rng.random((64, 32, 32, 3), dtype=np.float32))
  labels = tf.constant(rng.integers(0, 10, 64).astype(np.int32))
  data = pipeline_lib.PreparedData(
      name="synthetic", train_images=images, train_labels=labels,
      clean_train_labels=labels.numpy(), test_images=images[:16], test_labels=labels[:16],
      num_classes=10, fraction_labels_changed=0.0, data_fingerprint="",
      corruption_fingerprint="")
  return pipeline_lib.ResidentPipeline(data, batch_size=16, seed=7, augment=augment)


def test_a_replica_gets_its_share_of_the_global_batch_with_the_crops_one_device_would_use():
  pipe = _pipeline()
  order = pipe.epoch_order(tf.constant(0))
  step, in_epoch = tf.constant(5, tf.int64), tf.constant(1)
  whole_images, whole_labels = pipe.train_batch(order, step, in_epoch)
  for replicas in (2, 4):
    shares = [pipe.train_batch(order, step, in_epoch, r, replicas) for r in range(replicas)]
    np.testing.assert_array_equal(tf.concat([s[1] for s in shares], 0), whole_labels)
    np.testing.assert_array_equal(tf.concat([s[0] for s in shares], 0), whole_images)
  # One device's crops are those of the code before the crops were keyed by position.
  seed = tf.random.experimental.stateless_fold_in(
      tf.random.experimental.stateless_fold_in(tf.constant([7, 102], tf.int64), step), 0)
  index = order[16:32]
  before = preprocessing.per_image_standardization(preprocessing.random_crop(
      tf.gather(pipe.train_raw_images, index), 28, seed))
  np.testing.assert_array_equal(whole_images, before)


# ---- the batch split -------------------------------------------------------------------------
@pytest.mark.parametrize("flags,tf_config", [
    (["--strategy=mirrored", "--cpu_devices=3", "--batch_size=64"], None),
    (["--strategy=multi_worker", "--batch_size=64"], _cluster(3)[0]),
    (["--strategy=default", "--cpu_devices=2"], None),
    (["--strategy=mirrored", "--cpu_devices=0"], None),
], ids=["mirrored_3", "three_workers", "cpu_devices_without_mirrored", "cpu_devices_0"])
def test_a_batch_the_replicas_do_not_divide_is_refused_in_one_line(flags, tf_config, tmp_path):
  proc = subprocess.run([sys.executable, TRAIN, f"--logdir={tmp_path / 'runs'}", *flags],
                        capture_output=True, text=True, timeout=120,
                        env=_env(tmp_path, tf_config))
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: --"), proc.stderr
  assert not (tmp_path / "runs").exists()


def test_the_trainer_refuses_an_uneven_split_it_discovers_before_training(tmp_path):
  # Replicas known only once TensorFlow runs (GPUs) are checked by the trainer itself.
  proc = _start(tmp_path, tmp_path / "runs", "mirrored", "--cpu_devices=3")
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 2 and "divisible by the 3 replicas" in err, err[-2000:]
  assert not (tmp_path / "runs").exists()  # refused before training: no trace


def test_the_batch_check_names_the_replicas():
  assert distribution.divisibility_problem(64, 4) is None
  assert "3 replicas" in distribution.divisibility_problem(64, 3)
  assert validation.check_replicas(64, "mirrored", 4) is None
  assert validation.check_replicas(64, "mirrored", 3).flag == "batch_size"


def test_the_chief_is_the_chief_task_else_worker_0(monkeypatch):
  def role(cluster, task_type, index):
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": cluster, "task": {"type": task_type, "index": index}}))
    return distribution.Role.from_environment("multi_worker")

  workers = {"worker": ["a:1", "b:1"]}
  assert role(workers, "worker", 0).is_chief and not role(workers, "worker", 1).is_chief
  with_chief = {"chief": ["c:1"], "worker": ["a:1"]}
  assert role(with_chief, "chief", 0).is_chief and not role(with_chief, "worker", 0).is_chief
  assert role(with_chief, "worker", 0).num_workers == 2
  assert distribution.Role.from_environment("mirrored").is_chief  # TF_CONFIG is ignored


# ---- workers ---------------------------------------------------------------------------------
WORKER_ARGS = ("--epochs=4", "--n=128")


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("one_device")
  run, = _runs(_start(tmp_path, tmp_path / "runs", "default", *WORKER_ARGS))
  return run


def _files(path):
  return sorted(os.path.relpath(os.path.join(d, f), path)
                for d, _, files in os.walk(path) for f in files)


@pytest.mark.slow
def test_two_loopback_workers_leave_one_run_directory_with_the_single_device_results(
    one_device, tmp_path):
  logdir = tmp_path / "shared_logdir"
  workers = [_start(tmp_path, logdir, "multi_worker", *WORKER_ARGS, tf_config=config)
             for config in _cluster(2)]
  chief, other = [_runs(w)[0] for w in workers]
  assert chief["replicas"] == other["replicas"] == 2
  _assert_same_training(chief, one_device, n_evaluated=128)
  assert chief["final"] == other["final"]
  files = _files(logdir)
  assert [f for f in files if f.endswith("results.json")] == ["run_multi_worker/results.json"]
  assert len([f for f in files if "events.out" in f]) == 1
  assert "run_multi_worker/model.keras" in files and "run_multi_worker/LOCK" not in files
  assert {f.split("/")[0] for f in files} == {"run_multi_worker"}
  assert _files(tmp_path / "scratch") == []  # the other worker removed what it wrote


def _step_lines(proc, at_least, timeout=120):
  """Reads 'step N' lines until N >= at_least; returns the steps seen."""
  seen, deadline = [], time.time() + timeout
  for line in proc.stdout:
    if line.startswith("step "):
      seen.append(int(line.split()[1]))
      if seen[-1] >= at_least:
        return seen
    assert time.time() < deadline
  raise AssertionError(f"ended before step {at_least}: {proc.stderr.read()[-3000:]}")


@pytest.mark.slow
def test_a_killed_worker_ends_the_other_in_bounded_time_and_a_restart_resumes(
    one_device, tmp_path):
  logdir = tmp_path / "shared_logdir"
  cluster = _cluster(2)
  chief, victim = [_start(tmp_path, logdir, "multi_worker", *WORKER_ARGS, tf_config=config)
                   for config in cluster]
  _step_lines(chief, at_least=10)  # past the checkpoints of epochs 1 and 2 (4 steps each)
  victim.kill()
  killed = time.time()
  _, err = chief.communicate(timeout=DEAD_PEER_BOUND_SECONDS + 30)
  seconds = time.time() - killed
  victim.communicate()
  assert chief.returncode == distribution.PEER_FAILURE_EXIT, err[-3000:]
  assert seconds < DEAD_PEER_BOUND_SECONDS
  errors = [line for line in err.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and "peer worker died" in errors[0], err[-3000:]
  assert not (logdir / "run_multi_worker" / "results.json").exists()
  saved = tf.train.latest_checkpoint(str(logdir / "run_multi_worker"))
  assert saved and int(saved.rsplit("-", 1)[1]) >= 8

  # Restarted with fresh ports: both resume from the chief's checkpoint and finish as one
  # device would have.
  workers = [_start(tmp_path, logdir, "multi_worker", *WORKER_ARGS, tf_config=config)
             for config in _cluster(2)]
  first = [_step_lines(w, at_least=0)[0] for w in workers]
  assert first[0] == first[1] > 8  # resumed, not restarted
  chief_run, _ = [_runs(w)[0] for w in workers]
  np.testing.assert_allclose(chief_run["final"]["train_loss"],
                             one_device["final"]["train_loss"], rtol=FLOAT32_RTOL)
  np.testing.assert_allclose(chief_run["final"]["test_loss"],
                             one_device["final"]["test_loss"], rtol=FLOAT32_RTOL)


def test_a_worker_whose_peer_never_joins_exits_after_the_join_timeout(tmp_path):
  # The deadlock: a peer that never joins (refused by the lock, crashed at start) left
  # the other waiting forever, deaf to SIGTERM (TensorFlow holds the GIL and catches SIGTERM
  # while the cluster forms).
  started = time.time()
  alone = _start(tmp_path, tmp_path / "runs", "multi_worker", "--join_timeout=5",
                 tf_config=_cluster(2)[0])
  try:
    _, err = alone.communicate(timeout=90)
  finally:
    alone.kill()
  assert alone.returncode == 1 and "waiting up to 5 s" in err, err[-2000:]
  assert time.time() - started < 60
  assert not (tmp_path / "runs" / "run_multi_worker" / "results.json").exists()


@pytest.mark.slow
def test_sigterm_ends_a_worker_stuck_in_a_collective_within_the_grace(tmp_path):
  workers = [_start(tmp_path, tmp_path / "runs", "multi_worker", "--grace=3", "--epochs=50",
                    tf_config=config) for config in _cluster(2)]
  stuck, hung = workers
  try:
    _step_lines(stuck, at_least=4)
    hung.send_signal(signal.SIGSTOP)  # alive but silent: the collective waits for it
    time.sleep(1)
    stuck.send_signal(signal.SIGTERM)
    signalled = time.time()
    _, err = stuck.communicate(timeout=60)
    assert stuck.returncode == 143, err[-2000:]
    assert time.time() - signalled < 3 + 10
    assert "still running 3 s after SIGTERM" in err
  finally:
    for w in workers:
      w.kill()
      w.communicate()


@pytest.mark.slow
def test_sigterm_to_one_worker_stops_every_worker_at_one_step_with_a_checkpoint(tmp_path):
  logdir = tmp_path / "runs"
  workers = [_start(tmp_path, logdir, "multi_worker", "--epochs=50", tf_config=config)
             for config in _cluster(2)]
  chief, other = workers
  try:
    _step_lines(chief, at_least=6)
    chief.send_signal(signal.SIGTERM)
    (chief_run,), (other_run,) = _runs_with_code(chief, 143), _runs_with_code(other, 1)
  finally:
    for w in workers:
      w.kill()
  assert (chief_run["status"], other_run["status"]) == ("stopped", "stopped")
  assert (chief_run["stop_signal"], other_run["stop_signal"]) == ("SIGTERM", "peer")
  assert chief_run["step"] == other_run["step"]
  saved = tf.train.latest_checkpoint(str(logdir / "run_multi_worker"))
  assert saved.endswith(f"-{chief_run['step']}")

  # Restarted with a --logdir the other worker cannot see, it would start afresh while the
  # chief resumes: both refuse instead of training apart.
  chief_config, other_config = _cluster(2)
  workers = [_start(tmp_path, logdir, "multi_worker", "--epochs=50", tf_config=chief_config),
             _start(tmp_path, tmp_path / "elsewhere", "multi_worker", "--epochs=50",
                    tf_config=other_config)]
  try:
    for w in workers:
      _, err = w.communicate(timeout=60)
      assert w.returncode == 2 and "resumed from different steps" in err, err[-2000:]
  finally:
    for w in workers:
      w.kill()


def _runs_with_code(proc, code, timeout=60):
  out, err = proc.communicate(timeout=timeout)
  assert proc.returncode == code, err[-3000:]
  return [json.loads(line) for line in out.splitlines() if line.startswith("{")]
