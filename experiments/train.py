"""Train one setting of the paper and leave everything in one run directory.

  python experiments/train.py                               # MLP 1x512, random labels, CIFAR-10
  python experiments/train.py --flagfile=flags/table1/inception_crop_wd.flags
  python experiments/train.py --model=inception_small --corruption=random_labels --train_size=2000

Defaults are the paper's for the chosen model (rethinking/defaults.py); with no flags
the headline experiment runs: MLP 1x512 fitting random labels on CIFAR-10. Results land in
<logdir>/<run_name>/ (TensorBoard events, checkpoints, results.json). A run started again with
the same command resumes where it stopped.
"""
from __future__ import annotations

import os
import sys

from absl import flags
from absl import logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import cli  # noqa: E402  pylint: disable=wrong-import-position
from rethinking import config as config_lib  # noqa: E402
from rethinking import defaults  # noqa: E402
from rethinking import validation  # noqa: E402

_DATASET = flags.DEFINE_enum("dataset", defaults.DATASET, config_lib.DATASETS, "Dataset (tfds name).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir (default: $TFDS_DATA_DIR).")
_MODEL = flags.DEFINE_string("model", defaults.MODEL,
                             f"One of {', '.join(config_lib.MODEL_NAMES)}.")
_CORRUPTION = flags.DEFINE_string("corruption", defaults.CORRUPTION,
                                  f"One of {config_lib.CORRUPTIONS}.")
_CORRUPT_PROB = flags.DEFINE_float("corrupt_prob", None,
                                   "Label corruption probability (--corruption=labels only).")
_PIXEL_UNIT = flags.DEFINE_enum(
    "pixel_unit", "pixel", config_lib.PIXEL_UNITS, "Pixel permutations move whole pixels ('pixel') or single values "
    "('value'); the paper does not say.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of corruption, initialisation, order, augmentation.")
_TRAIN_SIZE = flags.DEFINE_integer("train_size", 0, "Use the first N training examples; 0 = all.",
                                   lower_bound=0)
_EPOCHS = flags.DEFINE_integer("epochs", None, "Epochs (default: the model's, "
                               f"rethinking/defaults.py: {defaults.describe('epochs')}).",
                               lower_bound=1)
_MAX_STEPS = flags.DEFINE_integer("max_steps", 0, "Stop after this many steps; 0 = no limit.",
                                  lower_bound=0)
_BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", None, "Batch size (default: the model's, rethinking/defaults.py: "
    f"{defaults.describe('batch_size')}).", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", None, "Initial learning rate (default: the model's, rethinking/defaults.py: "
    f"{defaults.describe('learning_rate')}).")
_LR_DECAY = flags.DEFINE_float("lr_decay", None, "Learning-rate factor per epoch (default: "
                               f"{defaults.describe('lr_decay')}).")
_MOMENTUM = flags.DEFINE_float("momentum", None, "SGD momentum (default: "
                               f"{defaults.describe('momentum')}).")
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", 0.0, "L2 penalty on the kernels, in the loss.",
                                   lower_bound=0.0)
_AUGMENT = flags.DEFINE_bool("augment", False, "Random 28x28 crops (Table 1 'random crop').")
_DROPOUT = flags.DEFINE_float("dropout", 0.0, "Dropout rate before the classifier.")
_WEIGHT_DECAY_LAYERS = flags.DEFINE_enum(
    "weight_decay_layers", "all", config_lib.WEIGHT_DECAY_LAYERS,
    "Kernels --weight_decay penalizes: all conv/dense kernels, or the hidden fully connected "
    "layers only (TensorFlow's CIFAR-10 tutorial, for alexnet_small and the MLPs).")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 1, "Evaluate the whole train and test sets "
                                   "every this many epochs.", lower_bound=1)
_TEST_EVERY = flags.DEFINE_integer(
    "test_every", 1, "Evaluate the test set every this many epochs (at an evaluation); 0 = only "
    "at the end. Saves time on small training sets, where the 10,000 test images dominate.",
    lower_bound=0)
_SKIP_TRAIN_EVAL_BELOW = flags.DEFINE_float(
    "skip_train_eval_below", 0.0, "Opt-in saving: skip the whole-training-set pass at an "
    "evaluation while the running training accuracy since the last one is below this fraction "
    "(0 = never; the last evaluation always runs). Not for the report's 99%/95% fit levels or "
    "Figure 2b, which read every pass.", lower_bound=0.0, upper_bound=1.0)
_STOP_WHEN_FIT = flags.DEFINE_bool("stop_when_fit", False,
                                   "Stop once the whole training set is fit (100% accuracy).")
_EVAL_EMA = flags.DEFINE_float(
    "eval_ema", 0.0, "Fidelity probe: evaluate and save a moving average of the weights with this "
    "decay (TensorFlow's CIFAR-10 tutorial: 0.9999, warmed up by the step), batch norm's moving "
    "statistics averaged with them (TensorFlow's Inception training); 0 = the trained weights.",
    lower_bound=0.0, upper_bound=0.999999)
_LOGDIR = flags.DEFINE_string("logdir", "runs", "Parent of run directories.")
_RUN_NAME = flags.DEFINE_string("run_name", "", "Run directory name (default: from the setting).")
_STRATEGY = flags.DEFINE_enum("strategy", "default", config_lib.STRATEGIES,
                              "tf.distribute strategy (multi_worker needs TF_CONFIG).")
_PRECISION = flags.DEFINE_enum("precision", "float32", config_lib.PRECISIONS,
                               "Keras mixed-precision policy.")
_JIT = flags.DEFINE_bool("jit", None, "Compile the training step with XLA (default: the device "
                        "rule, off on CPU, on for GPU/TPU; rethinking/training/device_rules.py).")
_EVAL_BATCH_SIZE = flags.DEFINE_integer(
    "eval_batch_size", 0, "Images per compiled evaluation call; 0 = the device rule.",
    lower_bound=0)
_DETERMINISTIC = flags.DEFINE_bool("deterministic", False, "Deterministic ops (bitwise resume).")
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices", 1, "Split the host CPU into this many logical devices, so that "
    "--strategy=mirrored trains as many replicas on any machine (a testing aid: they share the "
    "same cores; the result must equal one device's).")
_STEPS_PER_CALL = flags.DEFINE_integer(
    "steps_per_call", 0, "Steps per compiled call; 0 = automatic (up to 100, fewer so that a "
    "call lasts at most a few seconds).", lower_bound=0)
_JPEG_QUALITY = flags.DEFINE_integer(
    "jpeg_quality", 0, "Fidelity probe: re-encode both splits as JPEG at this quality (1-100), "
    "block grid shifted; 0 = the images as stored.", lower_bound=0, upper_bound=100)
_DOWNLOAD = flags.DEFINE_bool("download", True, "Let tfds download a missing dataset.")
_VERBOSE = flags.DEFINE_bool(
    "verbose", False, "Also show TensorFlow's own log lines (C++ start-up, checkpoint "
    "sharding) and absl INFO; by default only the run's banner, progress and summary print.")


WRITE_FAILURE_EXIT = 1  # a file of the run directory could not be written (a full disk)


def build_config() -> tuple[config_lib.RunConfig, bool]:
  """RunConfig from the flags; unset schedule flags stay None and RunConfig fills them with
  the model's schedule (rethinking/defaults.py, the one source of defaults)."""
  prob_given = _CORRUPT_PROB.value is not None
  cfg = config_lib.RunConfig(
      data=config_lib.DataConfig(name=_DATASET.value, data_dir=_DATA_DIR.value,
                                 train_size=_TRAIN_SIZE.value, download=_DOWNLOAD.value,
                                 jpeg_quality=_JPEG_QUALITY.value),
      corruption=config_lib.CorruptionConfig(
          kind=_CORRUPTION.value, prob=_CORRUPT_PROB.value if prob_given else 0.0,
          seed=_SEED.value, pixel_unit=_PIXEL_UNIT.value),
      model=config_lib.ModelConfig(name=_MODEL.value, weight_decay=_WEIGHT_DECAY.value,
                                   dropout=_DROPOUT.value,
                                   weight_decay_layers=_WEIGHT_DECAY_LAYERS.value),
      train=config_lib.TrainConfig(
          epochs=_EPOCHS.value, max_steps=_MAX_STEPS.value, batch_size=_BATCH_SIZE.value,
          learning_rate=_LEARNING_RATE.value, lr_decay=_LR_DECAY.value,
          momentum=_MOMENTUM.value,
          augment=_AUGMENT.value, eval_every=_EVAL_EVERY.value, test_every=_TEST_EVERY.value,
          stop_when_fit=_STOP_WHEN_FIT.value, eval_ema=_EVAL_EMA.value,
          skip_train_eval_below=_SKIP_TRAIN_EVAL_BELOW.value, strategy=_STRATEGY.value,
          precision=_PRECISION.value, jit=_JIT.value, eval_batch_size=_EVAL_BATCH_SIZE.value,
          deterministic=_DETERMINISTIC.value,
          seed=_SEED.value, steps_per_call=_STEPS_PER_CALL.value),
      logdir=_LOGDIR.value, run_name=_RUN_NAME.value)
  return cfg, prob_given


def quiet_tensorflow(verbose: bool) -> None:
  """Before TensorFlow is imported: hide its C++ start-up lines (CUDA probing on a CPU machine)
  and absl INFO lines such as the checkpoint-sharding logger, unless --verbose."""
  if verbose:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  logging.set_verbosity(logging.WARNING)
  # TensorFlow's C++ code logs a few lines while it loads, before absl::InitializeLog() reads
  # TF_CPP_MIN_LOG_LEVEL (tensorflow/tensorflow#100442): only muting stderr's file descriptor
  # during the import hides them. A failing import still raises, and prints after the restore.
  saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  try:
    import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def exit_status(results) -> int:
  """0 completed; 1 diverged; 130/143 stopped by SIGINT/SIGTERM (a sweep reads results.json)."""
  # The trainer loads TensorFlow: only after the flags are validated.
  from rethinking.training import state  # pylint: disable=import-outside-toplevel
  if results.status == "diverged":
    return 1
  if results.status == "stopped":
    return state.EXIT_CODES.get(results.stop_signal, 1)
  return 0


def main(argv):
  cfg, prob_given = build_config()

  def check():
    size = validation.prepared_split_size(cfg.data.name, "train", cfg.data.data_dir)
    return validation.check_run_config(cfg, prob_given, split_size=size,
                                       cpu_devices=_CPU_DEVICES.value)

  cli.start(argv, check)
  quiet_tensorflow(_VERBOSE.value)
  # Imported after the flags are validated: these load TensorFlow (bad flags answer at once).
  from rethinking import rundir  # pylint: disable=import-outside-toplevel
  from rethinking.data import datasets  # pylint: disable=import-outside-toplevel
  from rethinking.training import distribution  # pylint: disable=import-outside-toplevel
  from rethinking.training import progress  # pylint: disable=import-outside-toplevel
  from rethinking.training import trainer  # pylint: disable=import-outside-toplevel
  distribution.split_cpu(_CPU_DEVICES.value)  # before any TensorFlow op runs
  try:
    results = trainer.train(cfg)
  except (datasets.DatasetUnavailableError, rundir.RunLockedError,
          trainer.FingerprintMismatchError, trainer.RunDirectoryError,
          distribution.ReplicaBatchError, distribution.ClusterMismatch) as e:
    cli.die(f"error: {e}")
  except trainer.RunWriteError as e:  # not a refusal: the run failed, its checkpoints did not
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(WRITE_FAILURE_EXIT)
  except distribution.PeerFailure as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(distribution.PEER_FAILURE_EXIT)
  print(progress.summary(results, paper_line(cfg), cfg.logdir), flush=True)
  sys.exit(exit_status(results))


def paper_line(config: config_lib.RunConfig):
  """The paper's numbers for the matching cell, or None (rethinking.report.cells)."""
  # The report is read only for the summary line, after training.
  from rethinking.report import cells  # pylint: disable=import-outside-toplevel
  return cells.paper_numbers_line(config)


if __name__ == "__main__":
  cli.run(main)
