"""What a run tells the person watching it: a start banner, progress within and across epochs
(elapsed, ETA), one line per evaluation, and a summary at the end.

Lines go to stdout through `print`, not absl's INFO channel, so the apps can silence TensorFlow's
own INFO lines (checkpoint sharding, start-up) without silencing these.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional

# The report's number formats (rethinking.report.markdown imports nothing but typing).
from rethinking.report import markdown as md

PROGRESS_EVERY_SECONDS = 30.0


def _duration(seconds: float) -> str:
  seconds = max(0, int(round(seconds)))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _number(x: Optional[float]) -> str:
  return "-" if x is None else f"{x:.4f}"


def _percent(x: Optional[float]) -> str:
  """A fraction as a percentage that never rounds a not-quite-fit accuracy up to 100.00%
  (report.markdown.percent, the report's rule too): the fit (--stop_when_fit) is exactly 100%,
  and 49,999 of 50,000 printed as 100.00% reads as a fit that did not stop."""
  return "-" if x is None else f"{md.percent(100 * x)}%"


class Progress:
  """Progress lines for one run. `say` prints a line (default: stdout, flushed); on a terminal
  the within-epoch line is a bar rewritten in place."""

  def __init__(self, *, total_steps: int, steps_per_epoch: int, start_step: int,
               say: Optional[Callable[[str], None]] = None,
               every_seconds: float = PROGRESS_EVERY_SECONDS):
    self.total_steps = total_steps
    self.steps_per_epoch = steps_per_epoch
    self.start_step = start_step
    self.every_seconds = every_seconds
    self._say = say or (lambda text: print(text, flush=True))
    self._terminal = say is None and sys.stdout.isatty()
    self.started = time.time()
    self._last_line = self.started
    self._train_seconds = 0.0
    self._trained_steps = 0
    self._eval_seconds = 0.0
    self._evaluations = 0
    self._bar_open = False

  def say(self, text: str) -> None:
    if self._bar_open:
      print(file=sys.stdout)
      self._bar_open = False
    self._say(text)

  @property
  def total_epochs(self) -> int:
    return -(-self.total_steps // self.steps_per_epoch)

  def banner(self, *, run_dir: str, setting: str, data: str, device: str, precision: str,
             batch_size: int, resumed_from: Optional[int]) -> None:
    start = (f"resumed from step {resumed_from:,}" if resumed_from
             else "starting at step 0")
    self.say(f"run {run_dir}\n"
             f"  setting   {setting}\n"
             f"  data      {data}\n"
             f"  device    {device}, {precision}\n"
             f"  plan      {self.total_steps:,} steps = {self.total_epochs} epochs of "
             f"{self.steps_per_epoch:,} steps, batch {batch_size}; {start}")

  def trained(self, steps: int, seconds: float) -> None:
    self._train_seconds += seconds
    self._trained_steps += steps

  def evaluated(self, seconds: float) -> None:
    self._eval_seconds += seconds
    self._evaluations += 1

  def eta_seconds(self, step: int, evaluations_left: int) -> Optional[float]:
    if not self._trained_steps:
      return None
    per_step = self._train_seconds / self._trained_steps
    per_eval = self._eval_seconds / self._evaluations if self._evaluations else 0.0
    return (self.total_steps - step) * per_step + evaluations_left * per_eval

  def _position(self, step: int) -> str:
    epoch = min(step // self.steps_per_epoch + (step % self.steps_per_epoch > 0),
                self.total_epochs)
    return f"epoch {epoch}/{self.total_epochs} step {step:,}/{self.total_steps:,}"

  def _times(self, step: int, evaluations_left: int) -> str:
    eta = self.eta_seconds(step, evaluations_left)
    rate = (self._trained_steps / self._train_seconds) if self._train_seconds else 0.0
    return (f"elapsed {_duration(time.time() - self.started)} ETA "
            f"{'-' if eta is None else _duration(eta)} | {rate:.1f} steps/s")

  def maybe_within_epoch(self, step: int, running_loss: float, evaluations_left: int) -> None:
    """A line (or the bar, on a terminal) when the last one is `every_seconds` old."""
    now = time.time()
    if not self._terminal and now - self._last_line < self.every_seconds:
      return
    self._last_line = now
    text = (f"{self._position(step)} | running loss {running_loss:.4f} | "
            f"{self._times(step, evaluations_left)}")
    if self._terminal:
      print("\r" + text[:150].ljust(150), end="", file=sys.stdout, flush=True)
      self._bar_open = True
    else:
      self._say(text)

  def evaluation(self, record: dict, evaluations_left: int, data: str) -> None:
    self._last_line = time.time()
    self.say(f"{self._position(record['step'])} | running loss "
             f"{_number(record['running_train_loss'])} acc "
             f"{_percent(record['running_train_accuracy'])} | whole train set acc {_percent(record['train_accuracy'])} loss "
             f"{_number(record['train_loss'])} | test acc {_percent(record.get('test_accuracy'))} | "
             f"{self._times(record['step'], evaluations_left)} | {data}")


def summary(results, paper_line: Optional[str], logdir: str) -> str:
  """The end-of-run summary: status, final accuracies, time to fit, cost, the paper's numbers
  for the matching cell, and where to look next. `results`: rundir.Results."""
  final = results.final
  lines = [f"{results.status} at step {results.step:,} "
           f"({results.epochs_run or 0:.2f} epochs) in {_duration(results.wall_seconds or 0)}"]
  if results.status == "stopped":
    lines.append(f"  stopped at step {results.step:,}; run the same command to continue")
  if final:
    lines.append(f"  final (step {final.get('step', '?'):,}): whole train set acc "
                 f"{_percent(final.get('train_accuracy'))}, test acc "
                 f"{_percent(final.get('test_accuracy'))}")
  if results.steps_to_fit is not None:
    lines.append(f"  fit the training set (100%) at step {results.steps_to_fit:,} "
                 f"(epoch {results.epochs_to_fit:g})")
  else:
    lines.append("  did not fit the training set (100%)")
  lines.append(f"  {results.examples_per_second or 0:,.0f} img/s on {results.device}, "
               f"{results.precision}; {results.data.get('name')} n={results.train_size:,}")
  if paper_line:
    lines.append(f"  {paper_line}")
  lines.append(f"  results {results.run_dir}/results.json; curves: tensorboard --logdir {logdir}")
  return "\n".join(lines)
