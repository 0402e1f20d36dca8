"""Progress lines: what a person watching a run reads."""
from rethinking.training import progress


def _evaluation_line(train_accuracy):
  lines = []
  p = progress.Progress(total_steps=780, steps_per_epoch=390, start_step=0, say=lines.append)
  p.evaluation({"step": 390, "running_train_loss": 0.01, "running_train_accuracy": 0.999,
                "train_accuracy": train_accuracy, "train_loss": 0.002, "test_accuracy": 0.79},
               evaluations_left=1, data="cifar10 n=50,000")
  (line,) = lines
  return line


def test_one_example_short_of_the_fit_does_not_print_as_100_percent():
  # 49,999 of 50,000 is not the fit --stop_when_fit waits for; "100.00%" read as one that did
  # not stop (issue 23's q50 probe at epoch 16).
  assert "whole train set acc 99.998% " in _evaluation_line(49_999 / 50_000)
  assert "whole train set acc 100.00% " in _evaluation_line(1.0)
  assert "whole train set acc 99.64% " in _evaluation_line(0.9964)
  assert "test acc 79.00% " in _evaluation_line(1.0)
