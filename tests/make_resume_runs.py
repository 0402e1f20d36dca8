"""Writes tests/data/resume_runs/: run directories stopped mid-run by the trainer of main at
commit 8280fc2, for test_resume_runs.py to resume with today's code, and uninterrupted.json, what
the same runs ended at without a stop (so the test need not train each twice).

  alexnet_fp32       AlexNet, float32, stopped at step 2 of 8 (before its first evaluation)
  inception_bf16     Inception (batch norm), mixed_bfloat16, stopped at step 2 of 8
  mlp_stop_when_fit  MLP 1x512, --stop_when_fit, stopped at step 6, one evaluation short of
                     fitting; the resume must stop at the same fit as an uninterrupted run

Synthetic images (64 to train, 32 to test; 8x8 for AlexNet, 4x4 for the others) keep the inputs,
and so the AlexNet and MLP checkpoints, small (du: 2.2 MB, 0.5 MB); the Inception's parameters do
not depend on the input size, so it runs with momentum 0 (no momentum slots: 6.4 MB, not 13).
Events files are dropped. Run it with the code whose directories you want (main's, not a
branch's), from the repository root:

  python tests/make_resume_runs.py tests/data/resume_runs
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rethinking.perf import benchmark  # noqa: E402
from rethinking import config as config_lib  # noqa: E402

TRAIN_SIZE, TEST_SIZE = 64, 32
UNINTERRUPTED = "uninterrupted.json"
# name -> (model, image side, stop at step, train config fields)
RUNS = {
    "alexnet_fp32": ("alexnet_small", 8, 2, dict(learning_rate=0.01)),
    "inception_bf16": ("inception_small", 4, 2, dict(learning_rate=0.1, momentum=0.0,
                                                     precision="mixed_bfloat16")),
    "mlp_stop_when_fit": ("mlp_1x512", 4, 6, dict(epochs=30, learning_rate=0.1,
                                                  stop_when_fit=True)),
}
SKETCH_SIZE = 16  # random projections per variable


def config(name, logdir):
  model, _, _, train = RUNS[name]
  # Evaluation in chunks of 32: the CPU rule's 1,000 would pad 64 images to 1,000.
  train = {"epochs": 2, "batch_size": 16, "seed": 5, "deterministic": True,
           "steps_per_call": 2, "eval_batch_size": 32, **train}
  return config_lib.RunConfig(
      data=config_lib.DataConfig(name="cifar10", train_size=TRAIN_SIZE),
      corruption=config_lib.CorruptionConfig(kind="random_labels", seed=5),
      model=config_lib.ModelConfig(name=model),
      train=config_lib.TrainConfig(**train), logdir=str(logdir), run_name=name)


def stop_step(name):
  return RUNS[name][2]


def data(name):
  side = RUNS[name][1]
  return benchmark.synthetic_data(TRAIN_SIZE, TEST_SIZE, image_shape=(side, side, 3), seed=5)


def sketch(trainer):
  """[(leaf name, 16 floats)] per model and optimizer variable, in their order: fixed Gaussian
  projections whose difference between two runs has about the norm of the variables' difference
  (Johnson-Lindenstrauss), so a final state is compared without storing it."""
  session = trainer.session
  out = []
  for i, variable in enumerate(list(session.model.weights) + session.optimizer.variables):
    value = np.asarray(variable.numpy(), np.float64).ravel()
    projection = np.random.default_rng(i).standard_normal((SKETCH_SIZE, value.size))
    out.append((variable.path.rsplit("/", 1)[-1],
                (projection @ value / np.sqrt(SKETCH_SIZE)).tolist()))
  return out


def summary(trainer, results):
  """What test_resume_runs compares of a finished run."""
  return {"status": results.status, "step": results.step, "steps_to_fit": results.steps_to_fit,
          "history_steps": [h["step"] for h in results.history], "final": results.final,
          "sketch": sketch(trainer)}


def main():
  from rethinking.training import trainer  # pylint: disable=import-outside-toplevel
  out = sys.argv[1]
  uninterrupted = {}
  for name in sorted(RUNS):
    shutil.rmtree(os.path.join(out, name), ignore_errors=True)

    def stop(t, step, at=stop_step(name)):
      if step >= at:
        t.request_stop()

    results = trainer.Trainer(config(name, out), data=data(name), after_call=stop).run()
    print(name, results.status, results.step)
    for file in os.listdir(os.path.join(out, name)):
      if file.startswith("events.out"):
        os.unlink(os.path.join(out, name, file))
    with tempfile.TemporaryDirectory() as scratch:
      whole = trainer.Trainer(config(name, scratch), data=data(name))
      uninterrupted[name] = summary(whole, whole.run())
  with open(os.path.join(out, UNINTERRUPTED), "w") as f:
    json.dump(uninterrupted, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  main()
