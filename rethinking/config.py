"""Frozen configuration dataclasses: flags -> config -> library.

The experiments/ scripts turn absl flags into these; nothing in the library reads flags.
Defaults are the paper's (Appendix A; the README's "Choices the paper leaves open"); where the
paper is silent the choice is documented next to the field.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from rethinking import defaults
from rethinking.models import registry

DATASETS = ("cifar10", "mnist", "imagenet2012")
# The one list of each kind of corruption, TF-free so that flags and the report can read them:
# label corruptions (any dataset) and pixel corruptions (CIFAR-10 and MNIST, not ImageNet).
LABEL_CORRUPTIONS = ("true", "labels", "random_labels")
PIXEL_CORRUPTIONS = ("shuffled_pixels", "random_pixels", "gaussian")
CORRUPTIONS = LABEL_CORRUPTIONS + PIXEL_CORRUPTIONS
# Corruptions that take a probability; for the others --corrupt_prob must not be given.
CORRUPTIONS_WITH_PROB = ("labels",)

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
PIXEL_UNITS = ("pixel", "value")
# Which kernels weight decay penalizes: every conv/dense kernel ("all", what the flagfiles use), or
# the hidden fully connected layers only ("hidden_dense"), as TensorFlow's CIFAR-10 tutorial did
# for its network, our AlexNet (wd 0.004 * l2_loss on local3 and local4, i.e. 0.002 * sum(w^2)):
# the paper's appendix trains "each model with its default weight decay".
WEIGHT_DECAY_LAYERS = ("all", "hidden_dense")
# Models with hidden fully connected layers (the others' only dense layer is the classifier).
HIDDEN_DENSE_MODELS = ("alexnet_small", "mlp_1x512", "mlp_3x512")
# The model registry's names: its table is TensorFlow-free, so flags are validated in a
# fraction of a second, before TensorFlow is imported.
MODEL_NAMES = registry.MODEL_NAMES


def label_probability(kind: str, prob: float = 0.0) -> float:
  """The probability that a training label is redrawn: 1 for random labels, `prob` for
  "labels", 0 for the others (the one place this rule lives)."""
  if kind == "random_labels":
    return 1.0
  return float(prob) if kind in CORRUPTIONS_WITH_PROB else 0.0


@dataclasses.dataclass(frozen=True)
class DataConfig:
  name: str = defaults.DATASET
  data_dir: Optional[str] = None
  # Use the first N examples of the training split in stored order (0 = all).
  train_size: int = 0
  # Allow tfds to download a dataset that is not prepared in data_dir.
  download: bool = True
  # A fidelity probe (issue 23), 0 = off: re-encode every image of both splits as JPEG at this
  # quality, its 8x8 block grid shifted off the stored one (data/jpeg.py), before corruption.
  # The offline CIFAR-10 copy was decoded from JPEG q75; runs on copies degraded further (e.g.
  # q50, q30) give the trend from which the pristine data's accuracy is estimated.
  jpeg_quality: int = 0


@dataclasses.dataclass(frozen=True)
class CorruptionConfig:
  kind: str = defaults.CORRUPTION
  # Probability of replacing a label: given for "labels"; set to 1.0 for "random_labels" and 0
  # for the others (__post_init__), so that results.json records what was trained.
  prob: float = 0.0
  seed: int = 0
  # The paper does not say whether a pixel permutation moves whole pixels (all channels
  # together) or single values: we default to whole pixels, and permute the stored 32x32 image
  # (the corruption is a property of the dataset; cropping comes after).
  pixel_unit: str = "pixel"

  def __post_init__(self):
    if self.kind in CORRUPTIONS and self.kind not in CORRUPTIONS_WITH_PROB:
      object.__setattr__(self, "prob", label_probability(self.kind, self.prob))

  @property
  def label_prob(self) -> float:
    return label_probability(self.kind, self.prob)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  name: str = defaults.MODEL
  weight_decay: float = 0.0
  dropout: float = 0.0
  weight_decay_layers: str = "all"  # WEIGHT_DECAY_LAYERS


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  # The schedule: None = the model's (rethinking/defaults.py), filled in by RunConfig.
  epochs: Optional[int] = None
  max_steps: int = 0  # 0 = no limit beyond epochs
  batch_size: Optional[int] = None
  learning_rate: Optional[float] = None
  lr_decay: Optional[float] = None  # multiplicative, per epoch
  momentum: Optional[float] = None
  augment: bool = False  # random 28x28 crops
  eval_every: int = 1  # epochs
  # Test-set evaluation every this many epochs (at an evaluation); 0 = only at the end. The
  # whole-train-set evaluation (time to fit) still runs every eval_every epochs.
  test_every: int = 1
  stop_when_fit: bool = False
  # A fidelity probe (issue 23), 0 = off: evaluate (and save) an exponential moving average of
  # the weights with this decay, as TensorFlow's CIFAR-10 tutorial did with 0.9999
  # (training/optimizer.py:WeightAverage); training itself is unchanged.
  eval_ema: float = 0.0
  # Opt-in saving: skip the whole-training-set pass at an evaluation while the running training
  # accuracy since the last one is below this (0 = never skip). Replayed on every committed
  # history without moving a steps_to_fit: docs/measurements/cheap_evaluation/README.md.
  skip_train_eval_below: float = 0.0
  strategy: str = "default"
  precision: str = "float32"
  # XLA for the training step and evaluation; None = the device rule (training/device_rules.py:
  # off on CPU, on for GPU/TPU). The value used is recorded in results.json.
  jit: Optional[bool] = None
  # Images per compiled evaluation call (resident data); 0 = the device rule.
  eval_batch_size: int = 0
  deterministic: bool = False
  seed: int = 0
  # Steps run inside one compiled call (no host work between them); per-step loss is still
  # logged from inside the call. 0 = automatic: up to 100, fewer when a call would take more
  # than a few seconds (progress lines and stops stay prompt).
  steps_per_call: int = 0


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """One run. RunConfig() is exactly `python experiments/train.py` with no flags; schedule
  fields left unset take the model's values (defaults.defaults_for)."""
  data: DataConfig = DataConfig()
  corruption: CorruptionConfig = CorruptionConfig()
  model: ModelConfig = ModelConfig()
  train: TrainConfig = TrainConfig()
  logdir: str = "runs"
  run_name: str = ""

  def __post_init__(self):
    schedule = defaults.defaults_for(self.model.name)
    unset = {k: schedule[k] for k in defaults.SCHEDULE_FIELDS if getattr(self.train, k) is None}
    if unset:
      object.__setattr__(self, "train", dataclasses.replace(self.train, **unset))

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, config: Dict[str, Any]) -> "RunConfig":
    """Any config a results.json or state.json recorded, typed: the one place that fills what
    an older run did not record (fields added since take their defaults; the schedule its
    model's) and upgrades old spellings (random labels recorded with p = 0 read as p = 1, by
    CorruptionConfig). Fields this version does not know are dropped."""
    config = config or {}
    sections = {}
    for name, section_cls in (("data", DataConfig), ("corruption", CorruptionConfig),
                              ("model", ModelConfig), ("train", TrainConfig)):
      given = config.get(name) or {}
      known = {f.name for f in dataclasses.fields(section_cls)}
      sections[name] = section_cls(**{k: v for k, v in given.items() if k in known})
    top = {k: config[k] for k in ("logdir", "run_name") if config.get(k) is not None}
    return cls(**sections, **top)


# ---- comparing recorded configs: is it the same setting? -------------------------------------
# Config entries (section, field) that may change between a run and its continuation in the
# same directory: how long to train, how often to evaluate or report, where data and logs live.
# Anything else makes it another setting, and the trainer refuses the directory.
RESUMABLE_CHANGES = frozenset({
    ("train", "epochs"), ("train", "max_steps"), ("train", "stop_when_fit"),
    ("train", "eval_every"), ("train", "test_every"), ("train", "steps_per_call"),
    ("train", "jit"), ("train", "eval_batch_size"), ("train", "skip_train_eval_below"),
    ("data", "data_dir"), ("data", "download"),
    ("logdir",), ("run_name",)})

# Train fields that change speed and nothing else (compared by neither resume nor completion).
SPEED_ONLY_TRAIN_FIELDS = ("jit", "eval_batch_size")


def normalized_config(config: dict) -> dict:
  """A config dict with the label-corruption probability made explicit: 1.0 for random labels,
  0.0 for corruptions without one. Runs written before the config recorded it (prob 0.0 for
  random labels) compare equal to today's."""
  corruption = dict(config.get("corruption") or {})
  kind = corruption.get("kind")
  if kind == "random_labels" or (kind not in CORRUPTIONS_WITH_PROB
                                 and "prob" in corruption):
    corruption["prob"] = label_probability(kind, corruption.get("prob", 0.0))
  # XLA and the evaluation batch change speed only (the device rule picks them when unset):
  # a run completed with jit=False is the same setting as one asking for the rule.
  train = {k: v for k, v in (config.get("train") or {}).items()
           if k not in SPEED_ONLY_TRAIN_FIELDS}
  return {**config, "corruption": corruption, "train": train}


def with_defaults(config: dict) -> dict:
  """A config dict with the fields it lacks (added to config.py after it was written) set to
  their defaults, so a run started before a new field existed still resumes: the round trip
  through RunConfig.from_dict, the one place that fills and upgrades configs."""
  return RunConfig.from_dict(config).to_dict()


def setting_differences(saved: dict, current: dict) -> List[str]:
  """Config entries ("section.field") that differ beyond RESUMABLE_CHANGES."""
  saved = normalized_config(with_defaults(saved))
  current = normalized_config(with_defaults(current))
  out = []
  for key in sorted(set(saved) | set(current)):
    a, b = saved.get(key), current.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      out += [f"{key}.{k}" for k in sorted(set(a) | set(b))
              if a.get(k) != b.get(k) and (key, k) not in RESUMABLE_CHANGES]
    elif a != b and (key,) not in RESUMABLE_CHANGES:
      out.append(key)
  return out
