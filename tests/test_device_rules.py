"""The per-device rule for XLA and the evaluation batch (rethinking/training/device_rules.py)."""
import pytest

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
