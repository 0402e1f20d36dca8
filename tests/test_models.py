"""The architectures of Appendix A: Table 1's parameter counts, shapes, weight decay, LRN, mixed
precision, FLOP counts, and that every CIFAR-10 model can fit random labels (Section 2)."""
import functools
import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from rethinking import config as config_lib
from rethinking import models
from rethinking.models import layers as layers_lib
from rethinking.models.layers import FusedBatchNormalization, LocalResponseNormalization

CIFAR_MODELS = ("inception_small", "inception_small_nobn", "alexnet_small", "mlp_1x512",
                "mlp_3x512")
TABLE1_PARAMETERS = {
    "inception_small": 1_649_402,
    "inception_small_nobn": 1_649_402,
    "alexnet_small": 1_387_786,
    "mlp_3x512": 1_735_178,
    "mlp_1x512": 1_209_866,
}
# keras.applications' Inception V3 with a 1000-way top: 23,851,784 weights, of which 34,432
# are batch norm's moving statistics (state, not parameters).
INCEPTION_V3_PARAMETERS = 23_817_352


def _random_images(n, seed, shape=(28, 28, 3)):
  """float32 [n, *shape] Gaussian images, per-image standardized like the CIFAR-10 pipeline,
  and uniformly random int32 labels [n]."""
  rng = np.random.default_rng(seed)
  images = rng.normal(size=(n, *shape)).astype(np.float32)
  images = tf.image.per_image_standardization(images).numpy()
  labels = rng.integers(0, 10, size=n).astype(np.int32)
  return images, labels


@functools.lru_cache(maxsize=None)
def _default_model(name):
  """One default build per name, shared by the tests that only inspect it."""
  return models.build(name)


def _kernels(model):
  return [v for v in model.trainable_weights if v.path.endswith("/kernel")]


# --- Parameter counts (Table 1) ---------------------------------------------------------------

@pytest.mark.parametrize("name,count", list(TABLE1_PARAMETERS.items()),
                         ids=[f"{n}_has_{c}_parameters" for n, c in TABLE1_PARAMETERS.items()])
def test_parameter_count_matches_table1(name, count):
  assert models.count_params(_default_model(name)) == count


def test_table1_counts_follow_from_the_architectures_by_arithmetic():
  """The counts above, by hand from PAPER.md's description: convolutions with k*k*cin*cout
  weights plus one offset (BN beta, or a bias without BN) per output channel."""
  def conv(k, cin, cout):
    return k * k * cin * cout + cout

  def dense(cin, cout):
    return cin * cout + cout

  total, channels = conv(3, 3, 96), 96
  for module in [("inc", 32, 32), ("inc", 32, 48), ("down", 80), ("inc", 112, 48),
                 ("inc", 96, 64), ("inc", 80, 80), ("inc", 48, 96), ("down", 96),
                 ("inc", 176, 160), ("inc", 176, 160)]:
    if module[0] == "inc":
      _, c1, c3 = module
      total += conv(1, channels, c1) + conv(3, channels, c3)
      channels = c1 + c3
    else:
      total += conv(3, channels, module[1])
      channels += module[1]  # the max pool passes its input's channels through
  total += dense(channels, 10)
  assert total == TABLE1_PARAMETERS["inception_small"]
  # Two 5x5 convolutions with 64 channels; two stride-2 pools take 28x28 to 7x7.
  alexnet = (conv(5, 3, 64) + conv(5, 64, 64) + dense(7 * 7 * 64, 384) + dense(384, 192)
             + dense(192, 10))
  assert alexnet == TABLE1_PARAMETERS["alexnet_small"]
  pixels = 28 * 28 * 3
  assert dense(pixels, 512) + dense(512, 10) == TABLE1_PARAMETERS["mlp_1x512"]
  assert (dense(pixels, 512) + 2 * dense(512, 512) + dense(512, 10)
          == TABLE1_PARAMETERS["mlp_3x512"])


def test_batch_norm_has_an_offset_but_no_scale_and_its_statistics_are_not_parameters():
  model = _default_model("inception_small")
  bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
  assert bns and all(l.center and not l.scale for l in bns)
  convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
  assert convs and not any(l.use_bias for l in convs)
  nobn = _default_model("inception_small_nobn")
  assert not any(isinstance(l, keras.layers.BatchNormalization) for l in nobn.layers)
  assert all(l.use_bias for l in nobn.layers if isinstance(l, keras.layers.Conv2D))
  assert models.count_params(model) < model.count_params()  # moving mean/variance left out


def test_inception_v3_at_299_has_23817352_parameters_and_about_5_7_gmacs():
  model = models.build("inception_v3")
  assert model.input_shape == (None, 299, 299, 3)
  assert model.output_shape == (None, 1000)
  assert models.count_params(model) == INCEPTION_V3_PARAMETERS
  forward, training = models.flops_per_image(model)
  assert 11.0e9 < forward < 12.0e9  # the commonly quoted 5.7 G multiply-adds
  stem = 2 * 3 * 3 * 3 * 32 * 149 * 149  # the first 3x3/2 conv: no gradient for the images
  assert training == 3 * forward - stem


# --- Registry ---------------------------------------------------------------------------------

def test_registry_names_match_the_config_names():
  assert tuple(models.MODEL_NAMES) == tuple(config_lib.MODEL_NAMES)
  assert set(CIFAR_MODELS) | {"inception_v3"} == set(models.MODEL_NAMES)


def test_model_names_are_checkable_without_tensorflow():
  """Flags are validated before TensorFlow loads: the registry is a TensorFlow-free table, and
  adding a model is its module plus one registry line."""
  code = ("import sys; from rethinking import config, models; "
          "assert 'alexnet_small' in config.MODEL_NAMES == models.MODEL_NAMES; "
          "assert models.default_input_shape('inception_v3') == (299, 299, 3); "
          "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
  assert done.returncode == 0, done.stderr[-2000:]


def test_unknown_model_name_raises_value_error_listing_the_known_names():
  with pytest.raises(ValueError) as error:
    models.build("resnet18")
  assert "resnet18" in str(error.value)
  for name in models.MODEL_NAMES:
    assert name in str(error.value)
  with pytest.raises(ValueError):
    models.default_input_shape("resnet18")


def test_default_input_shapes_are_28x28_crops_and_299_for_imagenet():
  for name in CIFAR_MODELS:
    assert models.default_input_shape(name) == (28, 28, 3)
  assert models.default_input_shape("inception_v3") == (299, 299, 3)


@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_output_is_float32_logits_of_the_requested_classes(name):
  model = models.build(name, num_classes=7)
  images, _ = _random_images(3, seed=0)
  logits = model(images, training=False)
  assert logits.shape == (3, 7)
  assert logits.dtype == tf.float32
  assert np.all(np.isfinite(logits.numpy()))
  assert model.input_shape == (None, 28, 28, 3)
  assert model.name == name


def test_inception_small_mean_pools_a_7x7_map():
  model = _default_model("inception_small")
  assert tuple(model.get_layer("mean_pool").input.shape[1:]) == (7, 7, 336)


def test_dropout_is_added_before_the_classifier_only_when_asked():
  for name in CIFAR_MODELS:
    assert not any(isinstance(l, keras.layers.Dropout) for l in _default_model(name).layers)
  model = models.build("mlp_1x512", dropout=0.5)
  dropout = [l for l in model.layers if isinstance(l, keras.layers.Dropout)]
  assert len(dropout) == 1 and dropout[0].rate == 0.5
  assert model.layers[-2] is dropout[0]  # right before the classifier


# --- Weight decay -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_weight_decay_adds_an_l2_penalty_on_the_kernels_to_the_loss(name):
  assert not models.build(name).losses  # no penalty without weight decay
  weight_decay = 5e-4
  model = models.build(name, weight_decay=weight_decay)
  kernels = _kernels(model)
  # One penalty per conv/dense kernel: none on biases or batch-norm offsets.
  assert len(model.losses) == len(kernels) > 0
  expected = weight_decay * sum(np.sum(np.square(k.numpy().astype(np.float64)))
                                for k in kernels)
  np.testing.assert_allclose(float(tf.add_n(model.losses)), expected, rtol=1e-5)


@pytest.mark.parametrize("name,hidden", [("alexnet_small", ("fc1", "fc2")),
                                         ("mlp_3x512", ("hidden1", "hidden2", "hidden3"))])
def test_weight_decay_on_hidden_dense_layers_only_as_the_cifar10_tutorial(name, hidden):
  # TensorFlow's CIFAR-10 tutorial (our AlexNet) put its weight decay on local3 and local4 only.
  weight_decay = 2e-3
  model = models.build(name, weight_decay=weight_decay, weight_decay_layers="hidden_dense")
  kernels = [model.get_layer(layer).kernel for layer in hidden]
  assert len(model.losses) == len(hidden)  # none on the convolutions or the classifier
  expected = weight_decay * sum(np.sum(np.square(k.numpy().astype(np.float64)))
                                for k in kernels)
  np.testing.assert_allclose(float(tf.add_n(model.losses)), expected, rtol=1e-5)
  with pytest.raises(ValueError, match="no hidden fully connected layers"):
    models.build("inception_small", weight_decay=weight_decay, weight_decay_layers="hidden_dense")


# --- Local response normalization -------------------------------------------------------------

def test_local_response_normalization_follows_tensorflows_formula():
  """out = x / (bias + alpha * sum of squares over channels c-r..c+r) ** beta."""
  r, bias, alpha, beta = 2, 1.0, 0.3, 0.75
  x = np.random.default_rng(0).normal(size=(2, 3, 3, 8)).astype(np.float32)
  out = LocalResponseNormalization(r, bias, alpha, beta)(x).numpy()
  squares = np.square(x)
  expected = np.empty_like(x)
  for c in range(8):
    window = squares[..., max(0, c - r):c + r + 1].sum(axis=-1)
    expected[..., c] = x[..., c] / (bias + alpha * window) ** beta
  np.testing.assert_allclose(out, expected, rtol=1e-5)


@pytest.mark.parametrize("depth_radius, bias, alpha, beta", [
    (4, 1.0, 0.001 / 9.0, 0.75),  # the tutorial's (AlexNet's), on the rsqrt path
    (2, 2.0, 0.3, 0.5),  # a strong normalization, on the pow path
])
@pytest.mark.parametrize("jit", [False, True])
def test_local_response_normalization_gradient_equals_tensorflows_lrn_grad(
    depth_radius, bias, alpha, beta, jit):
  """The hand-written gradient against TensorFlow's LRNGrad, edges of the channel window and
  XLA included: a wrong sign, factor or window shows as a difference far above rounding."""
  rng = np.random.default_rng(0)
  x = tf.constant(rng.uniform(0.0, 30.0, (4, 5, 5, 16)).astype(np.float32))
  upstream = tf.constant(rng.normal(size=(4, 5, 5, 16)).astype(np.float32))

  def gradient(fn):
    def run(x):
      with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
      return y, tape.gradient(y, x, output_gradients=upstream)
    return tf.function(run, jit_compile=jit)(x)

  theirs = gradient(lambda v: tf.nn.local_response_normalization(v, depth_radius, bias, alpha,
                                                                 beta))
  ours = gradient(lambda v: layers_lib.local_response_normalization(
      v, depth_radius, bias, alpha, beta))
  np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())
  scale = np.max(np.abs(theirs[1].numpy()))
  np.testing.assert_allclose(ours[1].numpy(), theirs[1].numpy(), rtol=0, atol=1e-5 * scale)


def test_local_response_normalization_keeps_a_bfloat16_input_bfloat16():
  x = tf.cast(np.random.default_rng(0).normal(size=(1, 2, 2, 16)), tf.bfloat16)
  layer = LocalResponseNormalization(dtype="mixed_bfloat16")
  assert layer(x).dtype == tf.bfloat16


def test_alexnet_small_survives_a_json_round_trip():
  model = models.build("alexnet_small", weight_decay=1e-4)
  lrn = model.get_layer("norm1")
  assert (lrn.depth_radius, lrn.bias, lrn.beta) == (4, 1.0, 0.75)
  assert lrn.alpha == pytest.approx(0.001 / 9)
  clone = keras.models.model_from_json(model.to_json())
  clone.set_weights(model.get_weights())
  images, _ = _random_images(2, seed=1)
  np.testing.assert_allclose(clone(images).numpy(), model(images).numpy(), rtol=1e-5)
  assert isinstance(clone.get_layer("norm2"), LocalResponseNormalization)
  assert len(clone.losses) == len(model.losses) == 5


# --- Fused batch norm -------------------------------------------------------------------------

def _stock_batch_norm_model(monkeypatch, name="inception_small"):
  """The model as it was built before the fused layer: keras.layers.BatchNormalization."""
  with monkeypatch.context() as patch:
    patch.setattr(layers_lib, "FusedBatchNormalization", keras.layers.BatchNormalization)
    model = models.build(name)
  assert not any(isinstance(l, FusedBatchNormalization) for l in model.layers)
  return model


@pytest.mark.parametrize("policy,tolerance", [("float32", 1e-4), ("mixed_bfloat16", 2e-2)])
def test_fused_batch_norm_computes_what_keras_batch_norm_computes(policy, tolerance):
  """Outputs (training and inference), gradients and moving statistics of the fused layer equal
  the stock layer's; under mixed_bfloat16 it keeps bfloat16 activations."""
  x = np.random.default_rng(0).normal(2.0, 3.0, size=(8, 7, 7, 16)).astype(np.float32)
  settings = dict(center=True, scale=False, momentum=0.9, epsilon=1e-3)
  try:
    keras.mixed_precision.set_global_policy(policy)
    stock, fused = keras.layers.BatchNormalization(**settings), FusedBatchNormalization(**settings)
    results = []
    for layer in (stock, fused):
      layer.build(x.shape)
      layer.beta.assign(np.linspace(-1.0, 1.0, 16).astype(np.float32))
      inputs = tf.cast(x, layer.compute_dtype)
      # A loss that the normalization does not make constant.
      weights = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        y = layer(inputs, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
      dx, dbeta = tape.gradient(loss, [inputs, layer.beta])
      results.append([y, dx, dbeta, layer.moving_mean, layer.moving_variance,
                      layer(inputs, training=False)])
    assert results[1][0].dtype == results[0][0].dtype == tf.as_dtype(stock.compute_dtype)
    for a, b in zip(*results):
      a, b = (np.asarray(tf.cast(v, tf.float32)) for v in (a, b))
      np.testing.assert_allclose(b, a, rtol=tolerance, atol=tolerance * np.abs(a).max())
  finally:
    keras.mixed_precision.set_global_policy("float32")


def test_inception_small_uses_the_fused_batch_norm_with_the_stock_variable_names(monkeypatch):
  model, stock = _default_model("inception_small"), _stock_batch_norm_model(monkeypatch)
  fused = [l for l in model.layers if isinstance(l, FusedBatchNormalization)]
  assert len(fused) == 19 and all(l.momentum == 0.9 and l.epsilon == 1e-3 for l in fused)
  assert [v.path for v in model.weights] == [v.path for v in stock.weights]
  assert models.count_params(model) == models.count_params(stock) == 1_649_402


def test_inception_small_loss_and_gradients_equal_those_with_keras_batch_norm(monkeypatch):
  """Same weights, same batch: the training-mode loss agrees, and every gradient up to float32
  round-off (the backward pass through 19 batch norms cancels large terms)."""
  keras.utils.set_random_seed(0)
  stock = _stock_batch_norm_model(monkeypatch)
  model = models.build("inception_small")
  model.set_weights(stock.get_weights())
  images, labels = _random_images(16, seed=5)
  loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  out = []
  for m in (stock, model):
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, m(images, training=True))
    out.append((float(loss), tape.gradient(loss, m.trainable_variables)))
  assert out[1][0] == pytest.approx(out[0][0], rel=1e-5)
  for a, b in zip(out[0][1], out[1][1]):
    assert np.linalg.norm(b.numpy() - a.numpy()) <= 1e-2 * np.linalg.norm(a.numpy())


def test_a_checkpoint_written_with_keras_batch_norm_restores_into_the_fused_model(
    monkeypatch, tmp_path):
  """Runs started before the fused layer resume: the trainer's tf.train.Checkpoint of (model,
  optimizer) restores completely, moving statistics and momentum included."""
  keras.utils.set_random_seed(1)
  images, labels = _random_images(8, seed=6)
  loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  def one_step(model):
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, model(images, training=True))
    optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
    return optimizer

  old = _stock_batch_norm_model(monkeypatch)
  old_optimizer = one_step(old)
  path = tf.train.Checkpoint(model=old, optimizer=old_optimizer).save(str(tmp_path / "ckpt"))
  new = models.build("inception_small")
  new_optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
  new_optimizer.build(new.trainable_variables)
  tf.train.Checkpoint(model=new, optimizer=new_optimizer).restore(path).assert_consumed()
  for a, b in zip(old.weights + old_optimizer.variables, new.weights + new_optimizer.variables):
    np.testing.assert_array_equal(b.numpy(), a.numpy())
  assert np.any(new.get_layer("stem_bn").moving_mean.numpy() != 0)  # statistics came along
  np.testing.assert_allclose(new(images, training=False).numpy(),
                             old(images, training=False).numpy(), rtol=1e-4, atol=1e-4)


def test_inception_small_with_fused_batch_norm_survives_keras_save_and_load(tmp_path):
  model = models.build("inception_small")
  path = str(tmp_path / "model.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert isinstance(loaded.get_layer("stem_bn"), FusedBatchNormalization)
  images, _ = _random_images(2, seed=7)
  np.testing.assert_allclose(loaded(images, training=False).numpy(),
                             model(images, training=False).numpy(), rtol=1e-5, atol=1e-6)


_MIRRORED_SCRIPT = """
import json
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from rethinking.models.layers import FusedBatchNormalization
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x = np.random.default_rng(0).normal(1.0, 2.0, size=(8, 4, 4, 6)).astype(np.float32)
for cls in (keras.layers.BatchNormalization, FusedBatchNormalization):
  with strategy.scope():
    layer = cls(center=True, scale=False, momentum=0.9, epsilon=1e-3)
    layer.build(x.shape)
  batch = next(iter(strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensor_slices(x).batch(8))))

  @tf.function
  def step(batch):
    def replica(b):
      with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(b, training=True)) * tf.range(6.0))
      return tape.gradient(loss, layer.beta)
    return strategy.run(replica, args=(batch,))

  grads = strategy.experimental_local_results(step(batch))
  stats = [strategy.experimental_local_results(v.value)
           for v in (layer.moving_mean, layer.moving_variance)]
  print(cls.__name__, json.dumps([[[v.numpy().tolist() for v in s] for s in stats],
                                  [g.numpy().tolist() for g in grads]]))
"""


def test_fused_batch_norm_under_mirrored_strategy_matches_keras_batch_norm():
  """Two logical CPU devices: per-replica gradients and every replica's copy of the moving
  statistics equal the stock layer's (each replica normalizes with its own share's moments)."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT], capture_output=True,
                        text=True, timeout=240, check=False, cwd=root,
                        env={**os.environ, "PYTHONPATH": root})
  assert proc.returncode == 0, proc.stderr[-2000:]
  rows = {}
  for line in proc.stdout.splitlines():
    name, rest = line.split(" ", 1)
    rows[name] = json.loads(rest)
  (stock_stats, stock_grads), (fused_stats, fused_grads) = (
      rows["BatchNormalization"], rows["FusedBatchNormalization"])
  np.testing.assert_allclose(fused_stats, stock_stats, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(fused_grads, stock_grads, rtol=1e-4, atol=1e-4)


# --- Mixed precision and XLA ------------------------------------------------------------------

def test_mixed_bfloat16_models_compute_in_bfloat16_and_return_float32_logits():
  images, _ = _random_images(2, seed=2)
  try:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    for name in ("inception_small", "alexnet_small"):
      model = models.build(name)
      conv = next(l for l in model.layers if isinstance(l, keras.layers.Conv2D))
      assert conv.compute_dtype == "bfloat16"
      assert conv.kernel.dtype == "float32"  # variables stay float32
      logits = model(images, training=False)
      assert logits.dtype == tf.float32
      assert np.all(np.isfinite(logits.numpy()))
  finally:
    keras.mixed_precision.set_global_policy("float32")


def test_alexnet_small_compiles_with_xla():
  """LRN is the only op not from a stock Keras layer; XLA has a kernel for it."""
  model = models.build("alexnet_small")
  images, _ = _random_images(2, seed=3)
  forward = tf.function(lambda x: model(x, training=False), jit_compile=True)
  np.testing.assert_allclose(forward(images).numpy(), model(images).numpy(), rtol=1e-4,
                             atol=1e-5)


# --- FLOPs ------------------------------------------------------------------------------------

def test_flops_per_image_count_two_per_multiply_add_and_three_forwards_to_train():
  pixels = 28 * 28 * 3
  forward, training = models.flops_per_image(_default_model("mlp_1x512"))
  assert forward == 2 * (pixels * 512 + 512 * 10)
  # backward = 2x forward, but the first layer computes no gradient for the images
  assert training == 3 * forward - 2 * pixels * 512
  forward, _ = models.flops_per_image(_default_model("mlp_3x512"))
  assert forward == 2 * (pixels * 512 + 2 * 512 * 512 + 512 * 10)
  forward, _ = models.flops_per_image(_default_model("alexnet_small"))
  assert forward == 2 * (25 * 3 * 64 * 28 * 28 + 25 * 64 * 64 * 14 * 14 + 7 * 7 * 64 * 384
                         + 384 * 192 + 192 * 10)


def test_inception_small_costs_about_1_2_gflop_per_training_image():
  forward, training = models.flops_per_image(_default_model("inception_small"))
  assert 1.15e9 < training < 1.3e9
  assert models.flops_per_image(_default_model("inception_small_nobn"))[0] == forward


# --- Training ---------------------------------------------------------------------------------

def test_inception_v3_takes_a_training_step_at_75x75():
  keras.utils.set_random_seed(0)
  model = models.build("inception_v3", input_shape=(75, 75, 3), num_classes=10, dropout=0.2,
                       weight_decay=4e-5)
  assert model.output_shape == (None, 10)
  assert model.layers[-2].name == "dropout"
  # The penalty reaches every kernel of the keras.applications body, not only the classifier.
  assert len(model.losses) == len(_kernels(model)) == 95
  images, labels = _random_images(4, seed=4, shape=(75, 75, 3))
  optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
  loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  before = model.get_layer("logits").kernel.numpy()
  with tf.GradientTape() as tape:
    loss = loss_fn(labels, model(images, training=True)) + tf.add_n(model.losses)
  grads = tape.gradient(loss, model.trainable_variables)
  assert all(g is not None for g in grads)
  optimizer.apply_gradients(zip(grads, model.trainable_variables))
  assert np.isfinite(float(loss))
  assert not np.allclose(model.get_layer("logits").kernel.numpy(), before)


def test_inception_without_batch_norm_keeps_the_signal_scale_through_its_depth():
  """He-initialized convolutions: per-image standardized inputs (unit variance) still give
  pooled features of order 0.1-1 after 19 ReLU layers (Glorot gave ~0.02)."""
  keras.utils.set_random_seed(0)
  model = models.build("inception_small_nobn")
  pooled = keras.Model(model.input, model.get_layer("mean_pool").output)
  images, _ = _random_images(16, seed=1)
  features = pooled(images, training=False).numpy()
  assert 0.1 < float(np.mean(np.abs(features))) < 10.0


# Per model: (learning rate, batch size, learning-rate decay per epoch, epoch budget), SGD with
# momentum 0.9 as in the paper. The seeded runs fit in 2-3 (MLPs), 8-9 (Inception) and 24 (AlexNet)
# epochs; each budget leaves a margin of ~1.5-2x and no more, so a model that learns markedly
# slower than it should fails. The decay (the paper's is 0.95 per epoch of 50,000 images) lets
# the weights settle so that the inference pass agrees with them.
#
# Inception without batch norm is left out: SGD memorizes random labels with it far too slowly for
# this suite (the probes: docs/measurements/nobn_random_labels/README.md); its structure, count
# and signal scale are tested above, and it shares every other line with the batch-norm model.
FIT_SETTINGS = {
    "inception_small": (0.1, 32, 0.8, 14),
    "alexnet_small": (0.005, 8, 0.95, 36),
    "mlp_1x512": (0.01, 32, 1.0, 6),
    "mlp_3x512": (0.01, 32, 1.0, 6),
}


@pytest.mark.parametrize("name", list(FIT_SETTINGS))
def test_fits_256_random_labels_to_100_percent_training_accuracy(name):
  """Section 2's claim in miniature. Accuracy comes from a separate inference pass
  (training=False: batch norm uses its moving statistics) over all 256 images."""
  learning_rate, batch_size, decay, epochs = FIT_SETTINGS[name]
  keras.utils.set_random_seed(0)
  images, labels = _random_images(256, seed=0)
  images, labels = tf.constant(images), tf.constant(labels)
  model = models.build(name)
  steps_per_epoch = 256 // batch_size
  schedule = keras.optimizers.schedules.ExponentialDecay(learning_rate, steps_per_epoch, decay,
                                                         staircase=True)
  optimizer = keras.optimizers.SGD(schedule, momentum=0.9)
  loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  @tf.function
  def train_epoch(order):
    for step in tf.range(steps_per_epoch):
      batch = order[step * batch_size:(step + 1) * batch_size]
      with tf.GradientTape() as tape:
        logits = model(tf.gather(images, batch), training=True)
        loss = loss_fn(tf.gather(labels, batch), logits)
      grads = tape.gradient(loss, model.trainable_variables)
      optimizer.apply_gradients(zip(grads, model.trainable_variables))

  @tf.function
  def accuracy():
    predictions = tf.argmax(model(images, training=False), axis=-1, output_type=tf.int32)
    return tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32))

  rng = np.random.default_rng(0)
  start, history = time.time(), []
  for _ in range(epochs):
    train_epoch(tf.constant(rng.permutation(256), tf.int32))
    history.append(float(accuracy()))
    if history[-1] == 1.0:
      break
  print(f"{name}: {len(history)} epochs ({len(history) * steps_per_epoch} steps), "
        f"{time.time() - start:.1f}s, accuracy by epoch {history}")
  assert history[-1] == 1.0, f"{name} did not fit in {epochs} epochs: {history}"
