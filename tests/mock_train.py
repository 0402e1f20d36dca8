"""Child process for the kill/resume tests: trains on tfds mock data (which cannot cross a
process boundary) and prints "step N" after every compiled call.

  python tests/mock_train.py <logdir> <run_name> <epochs> [num_examples] [steps_per_call]

Exits like experiments/train.py: 0 completed, 130/143 stopped by SIGINT/SIGTERM.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow_datasets as tfds  # noqa: E402

from rethinking import config as config_lib  # noqa: E402
from rethinking.training import state  # noqa: E402
from rethinking.training import trainer  # noqa: E402


def config(logdir, run_name, epochs, steps_per_call=2):
  return config_lib.RunConfig(
      data=config_lib.DataConfig(name="cifar10"),
      corruption=config_lib.CorruptionConfig(kind="random_labels", seed=4),
      model=config_lib.ModelConfig(name="mlp_1x512"),
      train=config_lib.TrainConfig(epochs=epochs, batch_size=16, learning_rate=0.01, seed=4,
                                   deterministic=True, steps_per_call=steps_per_call),
      logdir=logdir, run_name=run_name)


def main():
  logdir, run_name, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
  n = int(sys.argv[4]) if len(sys.argv) > 4 else 96
  per_call = int(sys.argv[5]) if len(sys.argv) > 5 else 2
  with tfds.testing.mock_data(num_examples=n):
    results = trainer.Trainer(
        config(logdir, run_name, epochs, per_call),
        after_call=lambda t, step: print(f"step {step}", flush=True),
        say=lambda line: None).run()
  print(f"status {results.status}", flush=True)
  sys.exit(state.EXIT_CODES.get(results.stop_signal, 1) if results.status == "stopped" else 0)


if __name__ == "__main__":
  main()
