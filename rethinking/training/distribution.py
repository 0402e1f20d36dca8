"""Many replicas and many workers that train exactly like one device (DESIGN.md, Training).

- Semantics: `--batch_size` is global. Each of R replicas takes batch/R distinct examples of
  the same global batch (pipeline.ResidentPipeline.train_batch) and a loss divided by R
  (steps.TrainCall); the optimizer sums gradients over replicas, so R replicas take the
  step one device takes, up to float rounding. Batch-norm moments are per replica (not synced).
- Devices: `split_cpu(n)` makes n logical CPU devices before TensorFlow starts, so that
  `mirrored` runs n replicas on any machine (a testing aid: they share the same cores).
- Workers (MultiWorkerMirroredStrategy, TF_CONFIG): every worker runs the same program; only
  the chief writes the run directory. `Role` says which this process is; other workers write
  checkpoints, events and the model to a temporary directory they remove (TensorFlow's
  multi-worker guide), and read the chief's run directory to resume.
- Failures: a killed peer fails the next collective at once (the connection resets), a hung
  one after COLLECTIVE_TIMEOUT_SECONDS; either surfaces as one `PeerFailure` in every other
  worker. A stop requested on any worker stops all at one step (steps.TrainCall); a peer
  that never joins ends the wait after JOIN_TIMEOUT_SECONDS.
"""
from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import json
import os
import signal
import sys
import threading
from typing import Callable, Optional

import tensorflow as tf

from rethinking import config as config_lib
from rethinking import rundir
from rethinking.training import state as state_lib

# Longest a collective may wait for its peers (TensorFlow's default: forever). Loading and
# corrupting the data, or an evaluation, happen between collectives on every worker alike, so
# a healthy peer is late by seconds; the bound only has to exceed the slowest such gap.
COLLECTIVE_TIMEOUT_SECONDS = 300.0
# Longest a worker waits at start for the others to join the cluster; then it exits (status 1).
# Workers of one job usually start within seconds; a scheduler may stagger them by minutes.
JOIN_TIMEOUT_SECONDS = 900.0
PEER_STOP = "peer"  # results.json's stop_signal when another worker was asked to stop
PEER_FAILURE_EXIT = 3  # experiments/train.py's exit status when a peer worker is gone


class PeerFailure(RuntimeError):
  """A peer worker died or became unreachable; the run cannot go on without it."""


# Errors a collective raises when a peer is gone (refused or reset at the transport, timed
# out, or aborted).
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
               tf.errors.CancelledError, tf.errors.AbortedError)


def split_cpu(num_devices: int) -> None:
  """Splits the host CPU into `num_devices` logical devices; call before any TensorFlow op."""
  if num_devices <= 1:
    return
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])
  except RuntimeError as e:  # the runtime already started
    if len(tf.config.list_logical_devices("CPU")) != num_devices:
      raise RuntimeError(f"cannot split the CPU into {num_devices} devices after TensorFlow "
                         f"has started ({e})") from e


def mirrored_devices() -> Optional[list]:
  """The devices MirroredStrategy should use: every logical CPU device when the CPU was split
  (split_cpu; MirroredStrategy would take only the first), else its default (every GPU)."""
  cpus = tf.config.list_logical_devices("CPU")
  return [d.name for d in cpus] if len(cpus) > 1 else None


def make_strategy(name: str) -> tf.distribute.Strategy:
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy(devices=mirrored_devices())
  if name == "multi_worker":
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS)
    with _bounded_join():
      return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
  if name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"unknown strategy {name!r}; known: {', '.join(config_lib.STRATEGIES)}")


@contextlib.contextmanager
def _bounded_join():
  """While the cluster forms, TensorFlow waits for every peer holding the GIL (no Python thread
  runs, so state.StopSignal cannot act) and catches SIGTERM itself (its preemption notifier): a
  peer that never joins would be waited for forever. A watchdog in C (faulthandler) ends the
  process after JOIN_TIMEOUT_SECONDS, and SIGINT takes its default action meanwhile (nothing
  is there to checkpoint yet). The stop mechanism's handlers are restored afterwards."""
  print(f"waiting up to {JOIN_TIMEOUT_SECONDS:.0f} s for every worker of the cluster to start",
        file=sys.stderr, flush=True)
  main = threading.current_thread() is threading.main_thread()
  previous = {sig: signal.signal(sig, signal.SIG_DFL) if main else None
              for sig in (signal.SIGINT, signal.SIGTERM)}
  with open(os.devnull, "w") as devnull:
    faulthandler.dump_traceback_later(JOIN_TIMEOUT_SECONDS, exit=True, file=devnull)
    try:
      yield
    finally:
      faulthandler.cancel_dump_traceback_later()
      for sig, handler in previous.items():
        if main:
          signal.signal(sig, handler)  # also takes SIGTERM back from TensorFlow


def divisibility_problem(batch_size: int, replicas: int) -> Optional[str]:
  """Why `batch_size` cannot be split evenly over `replicas`, or None."""
  if replicas > 1 and batch_size % replicas:
    return (f"--batch_size={batch_size} is global and must be divisible by the {replicas} "
            f"replicas (each takes batch_size / replicas examples)")
  return None


@dataclasses.dataclass(frozen=True)
class Role:
  """This process's place in a multi-worker cluster (TF_CONFIG); one worker otherwise."""
  task_type: Optional[str] = None  # "chief" or "worker"; None for a single process
  task_id: int = 0
  num_workers: int = 1
  cluster_has_chief: bool = False

  @property
  def is_chief(self) -> bool:
    """TensorFlow's rule (multi_worker_util.is_chief): the "chief" task, else worker 0."""
    if self.task_type in (None, "chief"):
      return True
    return self.task_type == "worker" and self.task_id == 0 and not self.cluster_has_chief

  @classmethod
  def from_environment(cls, strategy_name: str) -> "Role":
    """Read from TF_CONFIG under `multi_worker`; the single chief otherwise."""
    if strategy_name != "multi_worker" or not os.environ.get("TF_CONFIG"):
      return cls()
    tf_config = json.loads(os.environ["TF_CONFIG"])
    cluster, task = tf_config.get("cluster", {}), tf_config.get("task", {})
    return cls(task_type=task.get("type"), task_id=int(task.get("index", 0)),
               num_workers=len(cluster.get("chief", [])) + len(cluster.get("worker", [])),
               cluster_has_chief=bool(cluster.get("chief")))

  @property
  def name(self) -> str:
    return "single worker" if self.task_type is None else f"{self.task_type} {self.task_id}"


def spans_workers(strategy: tf.distribute.Strategy) -> bool:
  """True when the strategy's replicas live in more than one process."""
  return getattr(strategy.extended, "_num_workers", 1) > 1  # pylint: disable=protected-access


def make_stop_check(strategy: tf.distribute.Strategy, stop: state_lib.StopSignal,
                    stop_flag: tf.Variable) -> Callable[[], bool]:
  """The trainer's "stop now?" between calls and evaluations. One worker: whether it was asked
  to. Several: whether any was (an all-reduce of the stop flags), so every worker leaves the
  loop at the same point instead of waiting in a collective for one that left; a worker stopped
  by another records PEER_STOP."""
  if not spans_workers(strategy):
    return stop.requested.is_set

  @tf.function
  def any_requested():
    requests = strategy.run(lambda: tf.cast(stop_flag.read_value(), tf.int32))
    return strategy.reduce(tf.distribute.ReduceOp.SUM, requests, axis=None) > 0

  def should_stop() -> bool:
    if not bool(any_requested()):
      return False
    if not stop.requested.is_set():
      stop.request(PEER_STOP)
    return True

  return should_stop


def check_same_restore_point(strategy: tf.distribute.Strategy, step: int) -> None:
  """Workers that restored different checkpoints would train apart silently: refuse."""
  if not spans_workers(strategy):
    return

  @tf.function  # run eagerly, strategy.run warns of its overhead
  def sum_over_replicas(value):
    return strategy.reduce(tf.distribute.ReduceOp.SUM,
                           strategy.run(lambda: tf.identity(value)), axis=None)

  total = sum_over_replicas(tf.constant(step, tf.int64))
  replicas = strategy.num_replicas_in_sync
  if int(total) != step * replicas:  # every worker sees it when any one differs
    raise ClusterMismatch(
        f"workers resumed from different steps (this one {step}, the mean {int(total) / replicas:g}"
        f"): every worker must read the chief's run directory (one --logdir shared by all)")


class ClusterMismatch(RuntimeError):
  """The workers of one cluster do not see the same run (e.g. different --logdir values)."""


class ReplicaBatchError(ValueError):
  """The global batch cannot be split evenly over the replicas."""


def lock_if_chief(role: Role, run_dir: str):
  """The run directory's lock, taken by the chief only (every worker trains the same run)."""
  return rundir.RunLock(run_dir) if role.is_chief else contextlib.nullcontext()


class WorkerCheckpoints:
  """A non-chief worker's checkpoints: restored from the chief's run directory (read only), and
  saved to the worker's scratch directory, since every worker must take part in a save (it may
  run collectives; TensorFlow's multi-worker guide)."""

  def __init__(self, chief: state_lib.Checkpoints, own: state_lib.Checkpoints):
    self.chief, self.own = chief, own

  def restore(self):
    return self.chief.restore()

  def save(self, step: int, state) -> None:
    self.own.save(step, state)


def checkpoints_for(run_dir: str, write_dir: str, checkpoint: tf.train.Checkpoint, *,
                    fingerprints: dict, config: dict):
  """state.Checkpoints in the run directory; for a non-chief worker (write_dir elsewhere),
  WorkerCheckpoints reading the chief's and writing its own."""
  own = state_lib.Checkpoints(write_dir, checkpoint, fingerprints=fingerprints, config=config)
  if write_dir == run_dir:
    return own
  return WorkerCheckpoints(
      state_lib.Checkpoints(run_dir, checkpoint, fingerprints=fingerprints, config=config), own)


@contextlib.contextmanager
def peer_failures_explained(role: Role):
  """Turns a collective that failed because a peer is gone into one clear PeerFailure."""
  try:
    yield
  except PEER_ERRORS as e:
    if role.num_workers <= 1:
      raise
    raise PeerFailure(
        f"{role.name}: a peer worker died or became unreachable, so training cannot go on "
        f"({type(e).__name__}: {_cause(e)}); restart every worker with the same command to resume "
        f"from the chief's last checkpoint") from e


def _cause(error: tf.errors.OpError) -> str:
  """The line of a TensorFlow error that says what happened (not the graph traceback)."""
  noise = ("Graph execution error", "Detected at", "File ", "[[", "The error could be",
           "Additional GRPC", ":UNKNOWN")
  lines = [line.strip() for line in (error.message or "").splitlines()]
  useful = [line for line in lines if line and not line.startswith(noise)]
  return (useful or [type(error).__name__])[0][:300]
