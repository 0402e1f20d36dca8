"""A trained model can be used again: model.keras reloads for every architecture, and the
inference helpers reproduce the trainer's test accuracy."""
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds

from rethinking import config as config_lib
from rethinking import inference
from rethinking import models
from rethinking.training import trainer


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_a_saved_model_reloads_with_the_same_outputs(name, tmp_path):
  shape = (75, 75, 3) if name == "inception_v3" else (28, 28, 3)  # small V3 input: faster
  model = models.build(name, num_classes=10, input_shape=shape, weight_decay=5e-4)
  path = str(tmp_path / "model.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  x = np.random.default_rng(0).normal(size=(2,) + shape).astype("float32")
  np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), rtol=1e-5,
                             atol=1e-5)
  assert models.count_params(loaded) == models.count_params(model)


def test_a_fresh_process_loads_a_saved_alexnet_through_inference(tmp_path):
  """load_model must register the custom layers itself (AlexNet's local response
  normalization): the model registry no longer imports the model modules."""
  path = str(tmp_path / "model.keras")
  models.build("alexnet_small").save(path)
  code = (f"from rethinking import inference; m = inference.load_model({path!r}); "
          f"print(sum(type(l).__name__ == 'LocalResponseNormalization' for l in m.layers))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert int(out.stdout.strip().splitlines()[-1]) == 2


def test_importing_the_package_does_not_import_tensorflow():
  # Flag checks must stay fast: `import rethinking` (and the run-directory contract) are TF-free.
  code = ("import sys, rethinking, rethinking.rundir, rethinking.config, rethinking.validation; "
          "print('tensorflow' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "False"


def test_the_reloaded_run_model_gives_the_trainers_test_accuracy(tmp_path):
  cfg = config_lib.RunConfig(
      corruption=config_lib.CorruptionConfig(kind="true"),
      model=config_lib.ModelConfig(name="alexnet_small"),
      train=config_lib.TrainConfig(epochs=1, batch_size=32, learning_rate=0.01),
      logdir=str(tmp_path), run_name="r")
  with tfds.testing.mock_data(num_examples=64):
    results = trainer.Trainer(cfg, say=lambda line: None).run()
    images, labels = inference.test_split("cifar10")
  model = inference.load_model(str(tmp_path / "r"))
  accuracy = float(np.mean(inference.predict(model, images, batch_size=48) == labels))
  assert accuracy == results.final["test_accuracy"]
