"""The per-device rule for XLA and the evaluation batch (rethinking/training/device_rules.py)."""
import pytest

from rethinking import config as config_lib
from rethinking.training import device_rules


def test_xla_is_off_on_cpu_and_on_for_accelerators_unless_asked():
  assert not device_rules.resolve("CPU").jit
  assert device_rules.resolve("GPU").jit and device_rules.resolve("TPU").jit
  assert device_rules.resolve("CPU", jit=True).jit
  assert not device_rules.resolve("GPU", jit=False).jit


def test_the_evaluation_batch_follows_the_rule_unless_given():
  for kind in device_rules.DEVICE_KINDS:
    assert device_rules.resolve(kind).eval_batch > 0
  assert device_rules.resolve("CPU", eval_batch=250).eval_batch == 250
  assert device_rules.resolve("CPU", eval_batch=0) == device_rules.resolve("CPU")


def test_the_training_device_kind_prefers_accelerators():
  assert device_rules.device_kind(["CPU"]) == "CPU"
  assert device_rules.device_kind(["CPU", "GPU", "GPU"]) == "GPU"
  assert device_rules.device_kind(["cpu", "TPU_SYSTEM", "TPU"]) == "TPU"
  assert device_rules.device_kind([]) == "CPU"


@pytest.mark.parametrize("kind,eval_batch", [("NPU", None), ("CPU", -1)])
def test_unknown_kinds_and_negative_batches_are_refused(kind, eval_batch):
  with pytest.raises(ValueError):
    device_rules.resolve(kind, eval_batch=eval_batch)


# --- Recorded and resumable -------------------------------------------------------------------

def _config(logdir, **train):
  return config_lib.RunConfig(
      corruption=config_lib.CorruptionConfig(kind="random_labels", seed=3),
      model=config_lib.ModelConfig(name="mlp_1x512"),
      train=config_lib.TrainConfig(epochs=1, batch_size=16, seed=3, **train),
      logdir=str(logdir), run_name="run")


def _run(cfg, said=None):
  # TensorFlow loads only for the tests that train: the rule tests above run without it.
  from rethinking.perf import benchmark  # pylint: disable=import-outside-toplevel
  from rethinking.training import trainer  # pylint: disable=import-outside-toplevel
  data = benchmark.synthetic_data(64, 40, image_shape=(8, 8, 3), seed=3)
  return trainer.Trainer(cfg, data=data, say=(said.append if said is not None else
                                              lambda line: None)).run()


def test_a_run_records_the_xla_and_evaluation_batch_it_used_and_the_batch_changes_no_metric(
    tmp_path):
  by_rule = _run(_config(tmp_path / "rule"))
  assert by_rule.config["train"]["jit"] is None and by_rule.config["train"]["eval_batch_size"] == 0
  assert by_rule.jit is False and by_rule.eval_batch_size == device_rules.resolve("CPU").eval_batch
  small = _run(_config(tmp_path / "small", eval_batch_size=24))  # 64 = 24 + 24 + 16 (masked)
  assert small.eval_batch_size == 24
  for key in ("train_accuracy", "test_accuracy"):
    assert small.final[key] == by_rule.final[key]
  for key in ("train_loss", "test_loss"):
    assert small.final[key] == pytest.approx(by_rule.final[key], rel=1e-5)


def test_runs_from_before_the_rule_resume_and_completed_ones_are_not_trained_again(tmp_path):
  """A config written with jit=False and no eval_batch_size (before the rule) is the same
  setting as today's default config; a completed one is returned as it is."""
  old = _config(tmp_path, jit=False).to_dict()
  del old["train"]["eval_batch_size"]
  new = _config(tmp_path).to_dict()
  assert config_lib.setting_differences(old, new) == []
  assert config_lib.normalized_config(old) == config_lib.normalized_config(new)
  assert config_lib.setting_differences(old, _config(tmp_path, eval_batch_size=7).to_dict()) == []
  first = _run(_config(tmp_path, jit=False))
  said = []
  again = _run(_config(tmp_path, eval_batch_size=32), said)
  assert any("already completed" in line for line in said)
  assert again.to_json() == first.to_json()
