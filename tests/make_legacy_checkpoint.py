"""Writes tests/data/legacy_run/: a run directory made by the trainer *before* the training
room was split into sources/steps/state/trainer (commit f1a522b), stopped mid-run at step 6.

Kept only to document how the committed directory was made; `test_checkpoints.py` restores it
with today's code. Synthetic 8x8 images keep the MLP (and so the checkpoint) small.

  python tests/make_legacy_checkpoint.py tests/data
"""
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rethinking import config as config_lib  # noqa: E402
from rethinking.perf import benchmark  # noqa: E402
from rethinking.training import trainer  # noqa: E402

STOP_AT = 6


def legacy_config(logdir):
  return config_lib.RunConfig(
      corruption=config_lib.CorruptionConfig(kind="random_labels", seed=3),
      model=config_lib.ModelConfig(name="mlp_1x512"),
      train=config_lib.TrainConfig(epochs=3, batch_size=16, learning_rate=0.01, seed=3,
                                   deterministic=True, steps_per_call=2),
      logdir=logdir, run_name="legacy_run")


def legacy_data():
  return benchmark.synthetic_data(64, 32, image_shape=(8, 8, 3), seed=3)


def main():
  out = sys.argv[1]
  shutil.rmtree(os.path.join(out, "legacy_run"), ignore_errors=True)

  def stop(t, step):
    if step >= STOP_AT:
      t.request_stop()

  results = trainer.Trainer(legacy_config(out), data=legacy_data(), after_call=stop).run()
  print(results["status"], results["final"]["step"])
  for name in os.listdir(os.path.join(out, "legacy_run")):
    if name.startswith("events.out"):
      os.unlink(os.path.join(out, "legacy_run", name))


if __name__ == "__main__":
  main()
