"""The trainer on mock CIFAR-10: run directory contents, fingerprints, exact resume (the
flagfiles: test_flagfiles.py)."""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from rethinking import config as config_lib
from rethinking.training import trainer

RESULT_KEYS = ("config", "final", "steps_to_fit", "epochs_to_fit", "corruption", "data",
               "device", "precision", "wall_seconds", "examples_per_second", "versions",
               "status")


def _config(logdir, seed=0, epochs=2, kind="random_labels", **train):
  return config_lib.RunConfig(
      data=config_lib.DataConfig(name="cifar10"),
      corruption=config_lib.CorruptionConfig(kind=kind, seed=seed),
      model=config_lib.ModelConfig(name="mlp_1x512"),
      train=config_lib.TrainConfig(epochs=epochs, batch_size=32, learning_rate=0.01,
                                   seed=seed, **train),
      logdir=str(logdir), run_name=f"run_s{seed}_{kind}")


def _train(cfg, n=160, **kwargs):
  """(trainer, results.json as a dict) of one run on mock CIFAR-10 of n examples per split."""
  with tfds.testing.mock_data(num_examples=n):
    t = trainer.Trainer(cfg, say=lambda line: None, **kwargs)
    return t, t.run().to_json()


def test_a_tiny_run_writes_every_result_key_and_tensorboard_events(tmp_path):
  cfg = _config(tmp_path)
  _, results = _train(cfg)
  run_dir = os.path.join(tmp_path, cfg.run_name)
  on_disk = json.load(open(os.path.join(run_dir, "results.json")))
  for key in RESULT_KEYS:
    assert key in on_disk, key
  assert on_disk["status"] == "completed"
  assert set(on_disk["final"]) >= {"train_accuracy", "train_loss", "test_accuracy", "test_loss"}
  assert set(on_disk["corruption"]) >= {"kind", "prob", "fraction_labels_changed",
                                        "fingerprint"}
  assert set(on_disk["data"]) >= {"name", "train_size", "fingerprint"}
  assert on_disk["corruption"]["kind"] == "random_labels" and on_disk["corruption"]["prob"] == 1
  assert on_disk["data"]["train_size"] == 160
  assert on_disk["final"]["step"] == 2 * (160 // 32)
  assert on_disk["config"]["train"]["batch_size"] == 32
  assert 0 <= on_disk["final"]["train_accuracy"] <= 1
  assert len(on_disk["history"]) == 2  # one evaluation per epoch
  assert results == on_disk
  assert os.path.exists(os.path.join(run_dir, "model.keras"))
  assert oct(os.stat(os.path.join(run_dir, "results.json")).st_mode & 0o777) == "0o644"
  assert oct(os.stat(os.path.join(run_dir, "state.json")).st_mode & 0o777) == "0o644"
  assert tf.train.latest_checkpoint(run_dir) is not None
  assert not os.path.exists(os.path.join(run_dir, "LOCK"))
  events = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
  assert events
  tags = set()
  for event_file in events:
    for event in tf.compat.v1.train.summary_iterator(event_file):
      tags.update(v.tag for v in event.summary.value)
  assert {"train/loss", "train/learning_rate", "eval/train_accuracy", "eval/test_accuracy",
          "eval/train_loss", "eval/test_loss"} <= tags
  assert any("hparams" in t for t in tags)


def test_same_seed_same_fingerprints_other_seed_other_corruption(tmp_path):
  a = _train(_config(tmp_path / "a", seed=1, epochs=1))[1]
  b = _train(_config(tmp_path / "b", seed=1, epochs=1))[1]
  c = _train(_config(tmp_path / "c", seed=2, epochs=1))[1]
  assert a["corruption"]["fingerprint"] == b["corruption"]["fingerprint"]
  assert a["data"]["fingerprint"] == b["data"]["fingerprint"] == c["data"]["fingerprint"]
  assert a["corruption"]["fingerprint"] != c["corruption"]["fingerprint"]


def _weights(t):
  return [v.numpy() for v in t.model.weights]


def test_resume_mid_epoch_continues_the_step_count_and_reproduces_the_weights(tmp_path):
  whole_cfg = _config(tmp_path / "whole", epochs=3, deterministic=True, steps_per_call=2)
  whole, whole_results = _train(whole_cfg)

  cfg = _config(tmp_path / "cut", epochs=3, deterministic=True, steps_per_call=2)
  stop_at = 7  # mid-epoch: 5 steps per epoch

  def stop(t, step):
    if step >= stop_at:
      t.request_stop()

  _, stopped = _train(cfg, after_call=stop)
  assert stopped["status"] == "stopped"
  assert stopped["step"] == 7  # calls of two steps within epochs of 5: 2, 4, 5, 7
  assert stopped["final"]["step"] == 5  # the last evaluation (end of epoch 1)
  resumed, results = _train(cfg)
  assert results["status"] == "completed"
  assert results["final"]["step"] == whole_results["final"]["step"] == 15
  for a, b in zip(_weights(resumed), _weights(whole)):
    np.testing.assert_array_equal(a, b)
  for key in ("train_accuracy", "train_loss", "test_accuracy", "test_loss"):
    assert results["final"][key] == whole_results["final"][key]
  assert results["corruption"]["fingerprint"] == whole_results["corruption"]["fingerprint"]


def test_a_completed_run_is_not_trained_again(tmp_path):
  cfg = _config(tmp_path, epochs=1)
  _, first = _train(cfg)
  calls = []
  _, again = _train(cfg, after_call=lambda t, s: calls.append(s))
  assert calls == [] and again == first


def test_resume_refuses_other_data_in_the_same_run_dir(tmp_path):
  cfg = _config(tmp_path, epochs=1, kind="random_labels")
  _train(cfg, after_call=lambda t, s: t.request_stop())
  other = config_lib.RunConfig(**{**cfg.__dict__, "corruption": config_lib.CorruptionConfig(
      kind="random_labels", seed=99)})
  with pytest.raises(trainer.FingerprintMismatchError):
    _train(other)


def test_stop_when_fit_stops_at_the_first_fit_evaluation(tmp_path):
  cfg = _config(tmp_path, epochs=60, kind="true", stop_when_fit=True, jit=True)
  cfg = config_lib.RunConfig(**{**cfg.__dict__, "train": config_lib.TrainConfig(
      **{**cfg.train.__dict__, "learning_rate": 0.05, "batch_size": 16})})
  _, results = _train(cfg, n=48)
  assert results["steps_to_fit"] is not None
  assert results["final"]["step"] == results["steps_to_fit"]
  assert results["final"]["train_accuracy"] == 1.0
  assert results["epochs_to_fit"] == results["steps_to_fit"] / results["steps_per_epoch"]


def test_test_every_skips_the_test_set_between_evaluations_but_not_at_the_end(tmp_path):
  cfg = _config(tmp_path, epochs=5, test_every=2)
  _, results = _train(cfg)
  tested = [h["test_accuracy"] is not None for h in results["history"]]
  assert tested == [False, True, False, True, True]  # epochs 1..5; the last always
  assert all(h["train_accuracy"] is not None for h in results["history"])
  assert results["final"]["test_accuracy"] is not None
  only_end = _config(tmp_path / "end", epochs=3, test_every=0)
  _, results = _train(only_end)
  assert [h["test_accuracy"] is not None for h in results["history"]] == [False, False, True]


def test_the_optimizer_applies_a_learning_rate_decayed_once_per_epoch(tmp_path):
  # Read from the optimizer (what Keras' SGD multiplies the gradient by at its next step), not
  # from the schedule: a schedule not attached to the optimizer, or decaying per step, fails.
  applied = {}

  def record(t, step):
    optimizer = t.session.optimizer
    applied[int(optimizer.iterations.numpy())] = float(optimizer.learning_rate.numpy())

  cfg = _config(tmp_path, epochs=3, steps_per_call=1)
  _, results = _train(cfg, after_call=record)
  # After k steps the optimizer holds the rate of step k + 1 (0-based index k).
  expected = {step: 0.01 * 0.95 ** (step // 5) for step in range(1, 16)}
  assert sorted(applied) == sorted(expected)
  for step, rate in expected.items():
    np.testing.assert_allclose(applied[step], rate, rtol=1e-6, err_msg=f"step {step}")
  rates = [h["learning_rate"] for h in results["history"]]  # the rate of each epoch's steps
  np.testing.assert_allclose(rates, [0.01, 0.01 * 0.95, 0.01 * 0.95 ** 2], rtol=1e-6)


def test_a_completed_run_is_extended_when_only_the_epochs_grow(tmp_path):
  cfg = _config(tmp_path, epochs=1)
  _, first = _train(cfg)
  longer = config_lib.RunConfig(**{**cfg.__dict__, "train": config_lib.TrainConfig(
      **{**cfg.train.__dict__, "epochs": 2})})
  calls = []
  _, second = _train(longer, after_call=lambda t, s: calls.append(s))
  assert calls and calls[0] > first["final"]["step"]  # continued, did not restart
  assert second["final"]["step"] == 2 * first["final"]["step"]
  assert [h["step"] for h in second["history"]] == [5, 10]


def test_a_run_directory_of_another_setting_is_refused(tmp_path):
  cfg = _config(tmp_path, epochs=1)
  _train(cfg)
  other = config_lib.RunConfig(**{**cfg.__dict__, "train": config_lib.TrainConfig(
      **{**cfg.train.__dict__, "learning_rate": 0.5})})
  with pytest.raises(trainer.FingerprintMismatchError, match="learning_rate"):
    _train(other)


def test_rerunning_with_fewer_epochs_leaves_the_longer_runs_results(tmp_path):
  _, first = _train(_config(tmp_path, epochs=2))
  shorter = _config(tmp_path, epochs=1)
  calls = []
  _, again = _train(shorter, after_call=lambda t, s: calls.append(s))
  assert calls == [] and again == first  # epochs still 2, metrics of the 2-epoch run


def test_random_labels_record_probability_one_in_config_and_corruption(tmp_path):
  _, results = _train(_config(tmp_path, epochs=1))
  assert results["config"]["corruption"]["prob"] == 1.0 == results["corruption"]["prob"]


def test_skip_train_eval_below_skips_passes_but_never_the_last(tmp_path):
  cfg = _config(tmp_path, epochs=3, skip_train_eval_below=1.01)  # every pass but the last
  _, results = _train(cfg)
  assert [h["train_accuracy"] is None for h in results["history"]] == [True, True, False]
  assert all(h["test_accuracy"] is not None for h in results["history"])
  assert results["final"]["train_accuracy"] is not None


# ---- --eval_ema: the weight average a fidelity probe evaluates (issue 23) ---------------------
def test_the_weight_average_is_tensorflows_moving_average_with_num_updates():
  """training/optimizer.WeightAverage against tf.train.ExponentialMovingAverage(decay,
  num_updates), which TensorFlow's CIFAR-10 tutorial used (its warm-up included), on a plain
  variable that the TF1-era class can average."""
  from rethinking.training import optimizer  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  weight = tf.Variable(rng.standard_normal(5).astype(np.float32))
  updates = tf.Variable(0, dtype=tf.int64)
  ours = optimizer.WeightAverage([weight], decay=0.99)
  reference = tf.train.ExponentialMovingAverage(0.99, num_updates=updates)
  reference.apply([weight])  # creates its average at the initial value, as ours starts
  for t in range(1, 60):  # past the warm-up: min(0.99, (1 + t) / (10 + t)) reaches 0.99 at 881
    weight.assign(rng.standard_normal(5).astype(np.float32))
    updates.assign(t)
    ours.update(t)
    reference.apply([weight])
  np.testing.assert_allclose(ours.averages[0].numpy(), reference.average(weight).numpy(),
                             rtol=1e-5)
  with ours.swapped_in():
    np.testing.assert_array_equal(weight.numpy(), ours.averages[0].numpy())
  assert not np.allclose(weight.numpy(), ours.averages[0].numpy())  # trained weights back


def test_the_average_also_follows_batch_norm_statistics_which_evaluations_then_read():
  """Averaged weights evaluated with the moving statistics of the current weights (momentum
  0.9: the last ~10 steps) would be a mismatch; TensorFlow's Inception training averaged both.
  Fails if the statistics are left out of the average, or not swapped in and back."""
  import keras  # pylint: disable=import-outside-toplevel
  from rethinking.models import layers  # pylint: disable=import-outside-toplevel
  from rethinking.training import optimizer  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  inputs = keras.Input((8, 8, 3))
  x = layers.conv_module(inputs, 4, 3, name="a_")
  x = layers.conv_module(x, 4, 3, name="b_")
  model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
  statistics = layers.batch_norm_statistics(model)
  assert [v.path.split("/")[-1] for v in statistics] == ["moving_mean", "moving_variance"] * 2
  train = config_lib.TrainConfig(eval_ema=0.5, momentum=0.9, learning_rate=0.1)
  opt = optimizer.build(train, 10, model.trainable_variables, statistics=statistics)
  initial = [v.numpy() for v in statistics]
  images = tf.random.stateless_normal([16, 8, 8, 3], seed=[3, 4]) * 3.0 + 1.0
  model(images, training=True)  # moves the statistics (no SGD step: the weights stay)
  opt.after_update(1)
  current = [v.numpy() for v in statistics]
  d = min(0.5, 2.0 / 11.0)
  for a, c, i in zip(opt.weight_average.averages[-4:], current, initial):
    np.testing.assert_allclose(a.numpy(), d * i + (1 - d) * c, rtol=1e-6)
    assert not np.allclose(a.numpy(), c)
  with opt.evaluation_weights():
    for v, a in zip(statistics, opt.weight_average.averages[-4:]):
      np.testing.assert_array_equal(v.numpy(), a.numpy())
  for v, c in zip(statistics, current):
    np.testing.assert_array_equal(v.numpy(), c)


def test_the_trainer_averages_every_batch_norm_statistic_of_an_eval_ema_run(tmp_path):
  cfg = _config(tmp_path, epochs=1, eval_ema=0.9999)
  cfg = config_lib.RunConfig.from_dict({**cfg.to_dict(), "model": {
      **cfg.to_dict()["model"], "name": "inception_small"}})
  with tfds.testing.mock_data(num_examples=64):
    session = trainer.Trainer(cfg, say=lambda line: None).setup()
  averaged = session.optimization.weight_average.variables
  trainable = session.model.trainable_variables
  batch_norms = [layer for layer in session.model.layers if "bn" in layer.name]
  assert len(batch_norms) > 10
  assert len(averaged) == len(trainable) + 2 * len(batch_norms)
  assert {v.path for v in averaged[len(trainable):]} == {
      v.path for layer in batch_norms for v in (layer.moving_mean, layer.moving_variance)}


def test_eval_ema_changes_what_is_evaluated_and_saved_not_what_is_trained_and_resumes(tmp_path):
  def run(name, ema, **kwargs):
    cfg = _config(tmp_path / name, epochs=3, deterministic=True, steps_per_call=2,
                  eval_ema=ema)
    t, results = _train(cfg, **kwargs)
    return t, results, os.path.join(tmp_path, name, cfg.run_name)

  plain, plain_results, _ = run("plain", 0.0)
  ema, ema_results, ema_dir = run("ema", 0.9)
  # Training is the same run: the trained weights agree bit for bit.
  for a, b in zip(_weights(ema), _weights(plain)):
    np.testing.assert_array_equal(a, b)
  averages = [v.numpy() for v in ema.session.optimization.weight_average.averages]
  assert not all(np.allclose(a, w) for a, w in zip(averages, _weights(ema)))
  # Its evaluations and its saved model are the average's.
  assert ema_results["final"]["test_loss"] != plain_results["final"]["test_loss"]
  import keras  # pylint: disable=import-outside-toplevel
  saved = keras.saving.load_model(os.path.join(ema_dir, "model.keras"), compile=False)
  for a, b in zip(saved.trainable_weights, averages):
    np.testing.assert_array_equal(a.numpy(), b)

  seen = []

  def stop(t, step):
    seen.append(t.session.optimization.weight_average.averages[0].numpy())
    if step >= 7:
      t.request_stop()

  _, stopped, _ = run("cut", 0.9, after_call=stop)
  assert stopped["status"] == "stopped" and stopped["step"] == 7
  assert len(seen) == 4 and all(not np.array_equal(a, b) for a, b in zip(seen, seen[1:]))
  resumed, results, _ = run("cut", 0.9)  # the average restores from the checkpoint
  for a, b in zip(resumed.session.optimization.weight_average.averages, averages):
    np.testing.assert_array_equal(a.numpy(), b)
  assert results["final"] == ema_results["final"]


def test_a_jpeg_probe_records_what_its_pass_did_to_the_images_for_the_trend(tmp_path):
  """The report estimates the pristine data's accuracy from the probes' distortions: without
  them in results.json it has only the quality numbers, which are no distance."""
  cfg = _config(tmp_path, epochs=1)
  probe = config_lib.RunConfig.from_dict({**cfg.to_dict(), "data": {
      **cfg.to_dict()["data"], "jpeg_quality": 30}, "run_name": "probe"})
  _, plain = _train(cfg)
  printed = []
  with tfds.testing.mock_data(num_examples=160):
    results = trainer.Trainer(probe, say=lambda text: printed.extend(text.splitlines())).run(
        ).to_json()
  assert "jpeg" not in plain["data"]
  # Every line that prints accuracies names the data they were measured on: the re-encoded copy.
  (data,) = [line for line in printed if line.lstrip().startswith("data ")]
  assert "re-encoded JPEG q30" in data
  evaluations = [line for line in printed if "test acc" in line and "final" not in line]
  assert evaluations and all("re-encoded JPEG q30" in line for line in evaluations)
  jpeg = results["data"]["jpeg"]
  assert (jpeg["quality"], jpeg["anchor_quality"]) == (30, 75)
  assert jpeg["rmse"] > jpeg["anchor_rmse"] > 0 and "160 images" in jpeg["measured_on"]
