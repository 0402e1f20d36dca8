"""What a run records for later: results.json (rundir.Results) and TensorBoard's HParams."""
from __future__ import annotations

import os
from typing import Optional

from tensorboard.plugins.hparams import api as hp

from rethinking import config as config_lib
from rethinking import host
from rethinking import rundir

# From the one declaration of the metrics (rundir.Evaluation): TensorBoard's eval/ scalars and
# what results.json's "final" keeps.
EVAL_SCALARS = {name: field.metadata["metric"]
                for name, field in rundir.Evaluation.metrics().items() if field.metadata["scalar"]}
FINAL_KEYS = ("step", *rundir.Evaluation.metrics())


def save_model(model, path: str) -> None:
  """model.keras (the final model); a failed save (a full disk) leaves no partial file, and the
  error names the file."""
  try:
    model.save(path)
  except OSError as e:
    if os.path.exists(path):
      os.unlink(path)
    if e.filename is None:
      raise OSError(e.errno, e.strerror, path) from e
    raise


_WD_LAYER_WORDS = {"all": "", "hidden_dense": " (hidden dense layers only)"}


def describe_setting(cfg: config_lib.RunConfig) -> str:
  """One line: model, corruption, regularizers, optimizer schedule."""
  corruption = cfg.corruption.kind + (f" p={cfg.corruption.prob:g}"
                                      if cfg.corruption.kind == "labels" else "")
  extras = [name for name, on in (("random crop", cfg.train.augment),
                                  (f"weight decay {cfg.model.weight_decay:g}"
                                   + _WD_LAYER_WORDS[cfg.model.weight_decay_layers],
                                   cfg.model.weight_decay),
                                  (f"dropout {cfg.model.dropout:g}", cfg.model.dropout)) if on]
  return (f"{cfg.model.name}, {corruption}{', ' + ', '.join(extras) if extras else ''}; SGD lr "
          f"{cfg.train.learning_rate:g} x{cfg.train.lr_decay:g}/epoch, momentum "
          f"{cfg.train.momentum:g}, batch {cfg.train.batch_size}, seed {cfg.train.seed}")


def results(cfg: config_lib.RunConfig, summary, state, *, final: dict, status: str, step: int,
            diverged_at: Optional[int], stop_signal: Optional[str], steps_per_epoch: int,
            run_dir: str, replicas: int, device=None) -> rundir.Results:
  """results.json of a run. summary: sources.DataSummary; state: state.RunState; final: the
  last evaluation record (with its step); device: the device_rules.DeviceChoices it used."""
  return rundir.Results(
      config=cfg.to_dict(), status=status, final={k: final[k] for k in FINAL_KEYS if k in final},
      run_dir=run_dir, step=step, diverged_at_step=diverged_at,
      stop_signal=stop_signal if status == "stopped" else None,
      steps_to_fit=state.steps_to_fit, epochs_to_fit=state.epochs_to_fit,
      steps_per_epoch=steps_per_epoch,
      corruption={"kind": cfg.corruption.kind, "prob": cfg.corruption.label_prob,
                  "fraction_labels_changed": summary.fraction_labels_changed,
                  "fingerprint": summary.corruption_fingerprint,
                  "pixel_unit": cfg.corruption.pixel_unit},
      data={"name": summary.name, "train_size": summary.train_size,
            "test_size": summary.test_size, "fingerprint": summary.fingerprint,
            "train_evaluated": summary.train_evaluated,
            **({"jpeg": summary.jpeg} if summary.jpeg else {})},
      device=host.describe_device(), strategy=cfg.train.strategy, replicas=replicas,
      precision=cfg.train.precision,
      jit=bool(cfg.train.jit) if device is None else device.jit,
      eval_batch_size=None if device is None else device.eval_batch,
      wall_seconds=state.wall_seconds,
      train_seconds=state.train_seconds,
      examples_per_second=state.train_images / max(state.train_seconds, 1e-9),
      peak_memory_bytes=host.peak_memory_bytes(), history=state.history,
      versions=host.versions())


def write_hparams(writer, cfg: config_lib.RunConfig, train_size: int, trial_id: str) -> None:
  """TensorBoard's HParams plugin: this run's settings, and the metrics an ablation compares
  (final accuracies, time to fit). Model and corruption come first: the columns read first."""
  values = {"model": cfg.model.name, "corruption": cfg.corruption.kind,
            "corrupt_prob": cfg.corruption.label_prob, "dataset": cfg.data.name,
            "train_size": train_size, "augment": cfg.train.augment,
            "weight_decay": cfg.model.weight_decay,
            "weight_decay_layers": cfg.model.weight_decay_layers, "dropout": cfg.model.dropout,
            "learning_rate": cfg.train.learning_rate, "lr_decay": cfg.train.lr_decay,
            "batch_size": cfg.train.batch_size, "seed": cfg.train.seed,
            "precision": cfg.train.precision}
  metrics = [hp.Metric(f"eval/{key}", display_name=key, description=text)
             for key, text in EVAL_SCALARS.items()]
  metrics.append(hp.Metric("fit/steps_to_fit", display_name="steps_to_fit",
                           description="first step at which the training set was fit"))
  with writer.as_default():
    hp.hparams_config(hparams=[hp.HParam(name) for name in values], metrics=metrics)
    hp.hparams(values, trial_id=trial_id)
