"""Resumption is sacred: run directories stopped by main's trainer resume at their step with
today's code and end like an uninterrupted run; a directory that cannot be resumed is refused
with one line and left as it was, never restarted from step 0."""
import hashlib
import json
import logging
import os
import shutil

from absl import flags
from absl import logging as absl_logging
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import make_resume_runs  # tests/: how tests/data/resume_runs was written
from rethinking import rundir
from rethinking.training import trainer

RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "resume_runs")
# |resumed - uninterrupted| / |uninterrupted| per variable, through their sketches: float
# rounding only (the stopped part may come from another CPU). No such bound holds for bf16: it
# rounds every product, and how depends on the CPU and its thread count (this Inception's
# kernels ended 0.25 apart resumed on one thread against two, and 2e-2 apart on two), so a bf16
# run is checked exactly where it resumes instead (_assert_restored_exactly).
TOLERANCE = {"float32": 1e-4}


def _uninterrupted(name):
  """How main's trainer ended this run without a stop (make_resume_runs.summary)."""
  with open(os.path.join(RUNS, make_resume_runs.UNINTERRUPTED)) as f:
    return json.load(f)[name]


def _resume(name, logdir, **kwargs):
  shutil.copytree(os.path.join(RUNS, name), logdir / name)
  return trainer.Trainer(make_resume_runs.config(name, logdir),
                         data=make_resume_runs.data(name), say=lambda line: None, **kwargs)


@pytest.mark.parametrize("name", sorted(make_resume_runs.RUNS))
def test_a_run_stopped_by_main_resumes_at_its_step_and_ends_like_an_uninterrupted_one(
    name, tmp_path):
  stop = make_resume_runs.stop_step(name)
  old = rundir.Results.read(os.path.join(RUNS, name))
  assert old.status == "stopped" and old.step == stop > 0
  first = {}

  def first_call(t, step):
    first.setdefault("iterations", int(t.session.optimizer.iterations.numpy()))

  resumed = _resume(name, tmp_path, after_call=first_call)
  if old.precision not in TOLERANCE:
    _assert_restored_exactly(resumed, tmp_path / name)
  got = make_resume_runs.summary(resumed, resumed.run())
  # Calls of 2 steps: a restart from step 0 would have applied 2 steps by the first call's end.
  assert first == {"iterations": stop + 2}
  want = _uninterrupted(name)
  for key in ("status", "step", "steps_to_fit", "history_steps"):
    assert got[key] == want[key], key
  if old.precision not in TOLERANCE:
    return
  tolerance = TOLERANCE[old.precision]
  assert [n for n, _ in got["sketch"]] == [n for n, _ in want["sketch"]]
  for (leaf, a), (_, b) in zip(got["sketch"], want["sketch"]):
    error = np.linalg.norm(np.subtract(a, b)) / max(np.linalg.norm(b), 1e-12)
    assert error <= tolerance, (leaf, error)
  for key in ("train_loss", "test_loss"):
    np.testing.assert_allclose(got["final"][key], want["final"][key], rtol=10 * tolerance)


def _digest(array):
  array = np.ascontiguousarray(array)
  return array.dtype.str, array.shape, hashlib.sha256(array.tobytes()).hexdigest()


def _assert_restored_exactly(t, run_dir):
  """After the restore every model and optimizer variable holds, bit for bit, a value of the
  newest checkpoint, and the step is the checkpoint's: the state the run stopped in."""
  session = t.setup()
  session.checkpoints.restore()
  reader = tf.train.load_checkpoint(str(run_dir))
  saved = {}
  for key in reader.get_variable_to_shape_map():
    if key != "_CHECKPOINTABLE_OBJECT_GRAPH":
      digest = _digest(reader.get_tensor(key))
      saved[digest] = saved.get(digest, 0) + 1
  for variable in list(session.model.weights) + session.optimizer.variables:
    digest = _digest(variable.numpy())
    assert saved.get(digest, 0) > 0, (variable.path, "holds no value of the checkpoint")
    saved[digest] -= 1
  assert int(session.step.numpy()) == make_resume_runs.stop_step(os.path.basename(run_dir))


def _tree(directory):
  """Every file's name and content hash: what "left as it was" compares."""
  return {name: hashlib.sha256(open(os.path.join(directory, name), "rb").read()).hexdigest()
          for name in sorted(os.listdir(directory))}


def _truncate_checkpoints(run_dir):
  for name in os.listdir(run_dir):
    if name.startswith("ckpt-") and ".data-" in name:
      with open(run_dir / name, "r+b") as f:
        f.truncate(1000)


def _remove_state(run_dir):
  os.unlink(run_dir / "state.json")


def _truncate_state(run_dir):
  with open(run_dir / "state.json", "r+b") as f:
    f.truncate(100)


# Main's code trained the first two again from step 0 (with a warning), and died with a
# JSONDecodeError traceback on the third.
@pytest.mark.parametrize("damage,named", [
    (_truncate_checkpoints, "{}: no checkpoint restores (ckpt-6 is unreadable"),
    (_remove_state, "{}: no checkpoint restores (ckpt-6 has no saved state; ckpt-4 has"),
    (_truncate_state, "{}/state.json is unreadable (JSONDecodeError"),
], ids=["checkpoints truncated", "state.json missing", "state.json truncated"])
def test_a_run_directory_that_cannot_resume_is_refused_in_one_line_and_left_as_it_was(
    damage, named, tmp_path, caplog):
  t = _resume("mlp_stop_when_fit", tmp_path)
  run_dir = tmp_path / "mlp_stop_when_fit"
  damage(run_dir)
  before = _tree(run_dir)
  with pytest.raises(trainer.RunDirectoryError) as refused:
    t.run()
  assert str(refused.value).startswith(named.format(run_dir)), refused.value
  assert "\n" not in str(refused.value)
  assert _tree(run_dir) == before  # no events file, no lock, no new checkpoint
  # Fall-back warnings before the refusal would break its one line.
  assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ---- experiments/train.py ---------------------------------------------------------------------
def _train_py(capfd, *args):
  """experiments/train.py's main in this process, on tfds mock data (which cannot cross a
  process boundary): (exit status, stdout, stderr lines, the RunConfig its flags make)."""
  from experiments import train  # pylint: disable=import-outside-toplevel  (defines the flags)
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["train.py", *args])
  verbosity = absl_logging.get_verbosity()
  tf.config.list_logical_devices()  # TensorFlow's start-up lines are this process's, not main's
  capfd.readouterr()
  try:
    cfg, _ = train.build_config()
    with tfds.testing.mock_data(num_examples=32), pytest.raises(SystemExit) as exited:
      train.main(["train.py"])  # any other exception is the traceback the user would see
  finally:
    flags.FLAGS.unparse_flags()
    absl_logging.set_verbosity(verbosity)
  out, err = capfd.readouterr()
  return exited.value.code, out, err.strip().splitlines(), cfg


def test_a_truncated_results_json_is_set_aside_in_one_line_and_the_run_resumes(tmp_path, capfd):
  t = _resume("mlp_stop_when_fit", tmp_path)
  run_dir = tmp_path / "mlp_stop_when_fit"
  with open(run_dir / "results.json", "r+b") as f:
    f.truncate(500)  # a bad copy
  code, _, err, _ = _train_py(capfd, f"--logdir={tmp_path}", "--run_name=mlp_stop_when_fit")
  assert code == 2 and len(err) == 1, err  # main's code: a JSONDecodeError traceback
  assert err[0].startswith(f"error: {run_dir / 'results.json'} is unreadable (JSONDecodeError")
  assert "set aside as results.json.unreadable" in err[0] and "resume" in err[0]
  assert (run_dir / "results.json.unreadable").stat().st_size == 500
  assert not (run_dir / "results.json").exists()
  state = t.setup().checkpoints.restore()  # what the next run starts from
  assert int(t.session.step.numpy()) == 6 and [h["step"] for h in state.history] == [4]


def _full_disk_at(step):
  """CheckpointManager.save failing at `step` as it does on a full disk. Mounting a small
  filesystem needs root, so this repeats what a 4 MB tmpfs did by hand: TensorFlow left a
  partial shard in ckpt-<step>_temp/ and raised ResourceExhaustedError naming it."""
  real = tf.train.CheckpointManager.save

  def save(self, checkpoint_number=None, **kwargs):
    if checkpoint_number != step:
      return real(self, checkpoint_number=checkpoint_number, **kwargs)
    shard = os.path.join(self.directory, f"ckpt-{step}_temp",
                         "part-00000-of-00001.data-00000-of-00001.tempstate17943828383268684192")
    os.makedirs(os.path.dirname(shard))
    with open(shard, "wb") as f:
      f.write(b"\0" * 4096)
    raise tf.errors.ResourceExhaustedError(
        None, None, "{{function_node __wrapped__SaveV2_dtypes_12_device_/job:localhost/replica:0"
        f"/task:0/device:CPU:0}}}} {shard}; No space left on device [Op:SaveV2]")
  return save


def test_a_full_disk_at_a_checkpoint_ends_in_one_line_and_the_last_one_restores(
    tmp_path, capfd, monkeypatch):
  args = ["--dataset=mnist", "--model=mlp_1x512", "--train_size=32", "--batch_size=16",
          "--epochs=2", "--steps_per_call=2", "--eval_batch_size=32", "--test_every=0",
          "--deterministic", f"--logdir={tmp_path}", "--run_name=run"]
  monkeypatch.setattr(tf.train.CheckpointManager, "save", _full_disk_at(4))
  code, _, err, cfg = _train_py(capfd, *args)
  run_dir = tmp_path / "run"
  assert code == 1 and len(err) == 1, err  # main's code: a ResourceExhaustedError traceback
  assert err[0] == (f"error: No space left on device writing checkpoint {run_dir}/ckpt-4: free "
                    f"space in {run_dir} and run the same command again; it resumes from "
                    f"ckpt-2 (step 2)")
  assert sorted(n for n in os.listdir(run_dir) if n.startswith("ckpt-")) == [
      "ckpt-2.data-00000-of-00001", "ckpt-2.index"]  # the partial shard is gone (space back)
  monkeypatch.undo()
  with tfds.testing.mock_data(num_examples=32):
    t = trainer.Trainer(cfg, say=lambda line: None)
    state = t.setup().checkpoints.restore()
  assert int(t.session.step.numpy()) == 2 and [h["step"] for h in state.history] == [2]
