"""Run directories written by earlier versions of the trainer still resume, and the stop flag is
checked at every step of a compiled call."""
import os
import shutil

import numpy as np
import tensorflow as tf

import make_legacy_checkpoint  # tests/: how tests/data/legacy_run was written
from rethinking import rundir
from rethinking.training import optimizer as optimizer_lib
from rethinking.training import steps
from rethinking.training import trainer

LEGACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy_run")


def _legacy_config(logdir):
  # As tests/make_legacy_checkpoint.py wrote it (before the trainer was split, commit f1a522b).
  return make_legacy_checkpoint.legacy_config(str(logdir))


def _data():
  return make_legacy_checkpoint.legacy_data()


def _checkpoint_weights(path):
  reader = tf.train.load_checkpoint(path)
  # Keras 3 models save their weights under the optimizer's tracked variables (the model path
  # holds none): compare every variable but the save counter.
  return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
          if n.startswith(("optimizer/", "step/"))}


def test_a_run_directory_from_before_the_split_resumes_where_it_stopped(tmp_path):
  shutil.copytree(LEGACY, tmp_path / "legacy_run")
  old = rundir.Results.read(str(tmp_path / "legacy_run"))  # the old results.json still reads
  assert old.status == "stopped" and old.step == 6 and old.config["corruption"]["prob"] == 0.0
  restored = {}

  def first_call(t, step):
    if not restored:
      restored["step"] = step
      restored["iterations"] = int(t.session.optimizer.iterations.numpy())

  t = trainer.Trainer(_legacy_config(tmp_path), data=_data(), after_call=first_call,
                      say=lambda line: None)
  results = t.run()
  assert results.status == "completed" and results.step == 12
  assert restored == {"step": 8, "iterations": 8}  # continued at step 6 with its optimizer
  assert [h["step"] for h in results.history] == [4, 8, 12]  # the old history kept

  # The same run from scratch with today's code ends at (nearly) the same weights: the resume
  # restored the old weights and momentum, not a fresh initialization. (Steps 1-6 were computed
  # by the old code: equal up to float rounding.)
  fresh = trainer.Trainer(_legacy_config(tmp_path / "fresh"), data=_data(),
                          say=lambda line: None).run()
  assert fresh.step == 12
  resumed_weights = _checkpoint_weights(tf.train.latest_checkpoint(str(tmp_path / "legacy_run")))
  fresh_weights = _checkpoint_weights(tf.train.latest_checkpoint(
      str(tmp_path / "fresh" / "legacy_run")))
  assert resumed_weights.keys() == fresh_weights.keys() and resumed_weights
  for name, value in fresh_weights.items():
    np.testing.assert_allclose(resumed_weights[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


class _StopAtStep:
  """A source whose batch at step `at` sets the stop flag from inside the graph."""

  def __init__(self, flag, at):
    self.flag, self.at = flag, at

  def host_inputs(self, start, num_steps):
    return ()

  def begin_call(self, inputs, start):
    return None

  def step_inputs(self, context, step):
    return (step,)

  def replica_batch(self, step):
    with tf.control_dependencies([tf.cond(tf.equal(step, self.at),
                                          lambda: self.flag.assign(True),
                                          lambda: tf.identity(self.flag))]):
      images = tf.zeros([4, 3]) + tf.cast(step, tf.float32)
    return images, tf.zeros([4], tf.int32)


def test_the_compiled_call_checks_the_stop_flag_before_every_step(tmp_path):
  model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(10)])
  optimizer = tf.keras.optimizers.SGD(0.01)
  optimizer.build(model.trainable_variables)
  flag = tf.Variable(False)
  step = tf.Variable(0, dtype=tf.int64)
  call = steps.TrainCall(
      model, optimizer_lib.Optimization(optimizer, lambda s: 0.01), _StopAtStep(flag, at=13),
      tf.distribute.get_strategy(), tf.summary.create_file_writer(str(tmp_path)), step, flag)
  result = call(10, 50)
  assert result.steps == 4  # steps 10, 11, 12, 13; the flag was set during step 13
  assert int(step.numpy()) == 14 and int(optimizer.iterations.numpy()) == 4
  assert call(14, 50).steps == 0  # a set flag runs no step at all


class _ModeDependent(tf.keras.layers.Layer):
  """Predicts class 1 in inference mode and class 0 in training mode."""

  def call(self, x, training=None):
    target = 0 if training else 1
    return tf.one_hot(tf.fill([tf.shape(x)[0]], target), 10) * 10.0


def test_the_fit_check_evaluates_in_inference_mode():
  # "100% training accuracy" must come from an inference pass (PITFALLS.md): a training-mode
  # pass (dropout on, batch statistics) would score 0 here.
  model = tf.keras.Sequential([tf.keras.Input((3,)), _ModeDependent()])
  images = tf.Variable(tf.zeros([2500, 3]))
  labels = tf.Variable(tf.ones([2500], tf.int32))
  loss, correct = steps.Evaluator(model).whole_split(images, labels)
  assert int(correct) == 2500  # every chunk, the padded tail included, counted once
  assert float(loss) / 2500 < 1e-3


def test_calls_never_cross_an_epoch_and_evaluations_follow_eval_every():
  cadence = steps.Cadence(total_steps=23, steps_per_epoch=5, eval_every=2, steps_per_call=4)
  assert [cadence.call_length(s) for s in (0, 4, 5, 8, 20, 21)] == [4, 1, 4, 2, 3, 2]
  assert [s for s in range(1, 24) if cadence.evaluation_due(s)] == [10, 20, 23]
  assert cadence.evaluations_left(0) == 2 and cadence.evaluations_left(10) == 1
  auto = steps.Cadence(total_steps=1000, steps_per_epoch=500)
  assert auto.call_length(0) == 10  # the first call also traces: short
  assert auto.call_length(10, seconds_per_step=2.0) == 2  # ~5 s per call
  assert auto.call_length(10, seconds_per_step=1e-4) == 100  # at most 100 steps
