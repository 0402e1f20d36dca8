"""Child process for the multi-replica tests: trains MLP 1x512 on tfds mock data (which cannot
cross a process boundary) under one or more strategies, and prints one JSON line per run:
{"strategy", "replicas", "status", "losses" (per step, from TensorBoard), "final"}. Under
`multi_worker` it reads TF_CONFIG as experiments/train.py does; it prints "step N" after every
compiled call.

  python tests/replica_train.py <logdir> <strategies, comma-separated> [--cpu_devices=N]
      [--augment] [--weight_decay=W] [--epochs=E] [--n=N] [--batch_size=B] [--grace=S]
      [--join_timeout=S] [--jit] [--eval_ema=D]

Exits like experiments/train.py: 0 completed, 3 a peer worker died, 130/143 stopped.
"""
import argparse
import glob
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from rethinking import config as config_lib  # noqa: E402
from rethinking.training import distribution  # noqa: E402
from rethinking.training import state  # noqa: E402
from rethinking.training import trainer  # noqa: E402


def config(args, strategy):
  return config_lib.RunConfig(
      data=config_lib.DataConfig(name="cifar10"),
      corruption=config_lib.CorruptionConfig(kind="random_labels", seed=5),
      model=config_lib.ModelConfig(name="mlp_1x512", weight_decay=args.weight_decay),
      train=config_lib.TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                                   learning_rate=0.01, seed=5, augment=args.augment,
                                   strategy=strategy, steps_per_call=2, jit=args.jit,
                                   eval_ema=args.eval_ema),
      logdir=args.logdir, run_name=f"run_{strategy}")


def step_losses(run_dir):
  losses = {}
  for path in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == "train/loss":
          losses[event.step] = float(tf.make_ndarray(value.tensor))
  return [losses[k] for k in sorted(losses)]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("logdir")
  parser.add_argument("strategies")
  parser.add_argument("--cpu_devices", type=int, default=1)
  parser.add_argument("--augment", action="store_true")
  parser.add_argument("--jit", action="store_true")
  parser.add_argument("--weight_decay", type=float, default=0.0)
  parser.add_argument("--eval_ema", type=float, default=0.0)
  parser.add_argument("--epochs", type=int, default=2)
  parser.add_argument("--n", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--grace", type=float, default=60.0)
  parser.add_argument("--join_timeout", type=float, default=distribution.JOIN_TIMEOUT_SECONDS)
  args = parser.parse_args()
  distribution.JOIN_TIMEOUT_SECONDS = args.join_timeout
  distribution.split_cpu(args.cpu_devices)
  code = 0
  with tfds.testing.mock_data(num_examples=args.n):
    for strategy in args.strategies.split(","):
      t = trainer.Trainer(config(args, strategy),
                          after_call=lambda t, step: print(f"step {step}", flush=True),
                          say=lambda line: None)
      t.stop.grace_seconds = args.grace
      try:
        results = t.run()
      except distribution.PeerFailure as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(distribution.PEER_FAILURE_EXIT)
      except (distribution.ReplicaBatchError, distribution.ClusterMismatch) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
      print(json.dumps({"strategy": strategy, "replicas": results.replicas,
                        "status": results.status, "step": results.step,
                        "stop_signal": results.stop_signal, "final": results.final,
                        "losses": step_losses(results.run_dir)}), flush=True)
      if results.status == "stopped":
        code = state.EXIT_CODES.get(results.stop_signal, 1)
  sys.exit(code)


if __name__ == "__main__":
  main()
