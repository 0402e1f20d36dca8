"""The outer loop, as in Orbit's Controller (tensorflow/models orbit/controller.py): train to the
next evaluation in compiled calls (steps.TrainCall), evaluate, checkpoint, repeat, until the
last step, the fit (--stop_when_fit), a non-finite loss or a stop request.

The trainer builds the session and writes the results; this module only decides what happens
next and keeps the loop's clocks and running sums.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional, Tuple

from rethinking.training import distribution
from rethinking.training import steps as steps_lib


@dataclasses.dataclass
class Hooks:
  """What the loop calls back into: the trainer's evaluation (returns (record, fit) or (None,
  False) when a stop interrupted it), and the optional user callbacks."""
  evaluate: Callable[[int, steps_lib.RunningSums], tuple]
  on_evaluation: Optional[Callable[[dict], None]] = None
  after_call: Optional[Callable[[int], None]] = None
  request_stop: Callable[[str], None] = lambda reason: None


class Controller:
  """One run's loop over a trainer.Session, its RunState and a progress.Progress."""

  def __init__(self, session, state, train, progress, hooks: Hooks, data_line: str):
    self.session, self.state, self.train, self.progress = session, state, train, progress
    self.hooks, self.data_line = hooks, data_line
    self.cadence = steps_lib.Cadence(session.total_steps, session.steps_per_epoch,
                                     train.eval_every, train.steps_per_call)
    self.step = int(session.step.numpy())
    self.wall_start = time.time() - state.wall_seconds
    self.since = steps_lib.RunningSums()
    self.seconds_per_step = None

  def run(self) -> Tuple[str, Optional[int], int]:
    """Trains to the end or a stop; returns (status, step of a non-finite loss or None, step)."""
    status, diverged_at, finished = "completed", None, False
    # A stop that interrupted an evaluation leaves it to the resume, before any training.
    evaluation_pending = bool(self.step) and self.cadence.evaluation_due(self.step) and (
        self.state.last_evaluation or {}).get("step") != self.step
    while not self.session.should_stop():
      if evaluation_pending:
        evaluation_pending = False
        fit = self.evaluate()
        if fit is None:
          break  # stopped during the evaluation: its sums were partial
        if fit and self.train.stop_when_fit:
          finished = True
          break
        continue
      if self.step >= self.session.total_steps:
        finished = True
        break
      result = self.train_call()
      if result.first_nonfinite_step >= 0:
        status, diverged_at = "diverged", result.first_nonfinite_step
        self.progress.say(f"loss became non-finite at step {diverged_at}: stopping (status "
                          f"diverged)")
        break
      evaluation_pending = self.after_call()
    if not finished and status != "diverged":
      status = "stopped"
      self.checkpoint()  # the resume point; no evaluation (answer quickly)
    self.state.wall_seconds = time.time() - self.wall_start
    return status, diverged_at, self.step

  def checkpoint(self) -> None:
    self.state.wall_seconds = time.time() - self.wall_start
    self.session.checkpoints.save(self.step, self.state)

  def evaluate(self) -> Optional[bool]:
    """Evaluates, checkpoints and reports; returns whether the training set is fit, or None
    when a stop interrupted the evaluation."""
    started = time.time()
    record, fit = self.hooks.evaluate(self.step, self.since)
    if record is None:
      return None
    self.progress.evaluated(time.time() - started)
    self.checkpoint()
    self.progress.evaluation(record, self.cadence.evaluations_left(self.step), self.data_line)
    if self.hooks.on_evaluation:
      self.hooks.on_evaluation(record)
    self.since = steps_lib.RunningSums()
    return fit

  def train_call(self) -> steps_lib.CallResult:
    """One compiled call of up to the cadence's length; books its time, images and sums."""
    started = time.time()
    result = self.session.train_call(self.step,
                                     self.cadence.call_length(self.step, self.seconds_per_step))
    if result.peer_stopped:  # every worker stops at the step where any one was asked to
      self.hooks.request_stop(distribution.PEER_STOP)
    seconds = time.time() - started
    if result.steps:
      self.seconds_per_step = seconds / result.steps
    self.state.train_seconds += seconds
    self.state.train_images += result.steps * self.train.batch_size
    self.progress.trained(result.steps, seconds)
    self.step += result.steps
    self.since.add(result)
    return result

  def after_call(self) -> bool:
    """The user's callback, then whether an evaluation is due (else a progress line)."""
    if self.hooks.after_call:
      self.hooks.after_call(self.step)
    due = self.cadence.evaluation_due(self.step)
    if not due:
      self.progress.maybe_within_epoch(self.step, self.since.mean_loss,
                                       self.cadence.evaluations_left(self.step))
    return due
