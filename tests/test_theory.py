"""The paper's non-SGD claims: Theorem 1, Section 5's minimum norm, Rademacher estimates."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import scipy.linalg
import pytest

from rethinking.theory import expressivity
from rethinking.theory import kernels
from rethinking.theory import rademacher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _points(n, d, seed=0):
  return np.random.default_rng(seed).random((n, d))


@pytest.mark.parametrize("n,d", [(1, 1), (2, 1), (300, 1), (200, 3), (1000, 64)])
def test_theorem1_network_fits_any_targets(n, d):
  rng = np.random.default_rng(n + d)
  x, y = _points(n, d, seed=d), rng.uniform(-1, 1, n)
  network = expressivity.fit(x, y, seed=3)
  assert np.all(np.diff(network.biases) > 0)
  np.testing.assert_allclose(network.predict(x)[:, 0], y, rtol=0, atol=1e-10)
  np.testing.assert_allclose(network.predict_dense(x)[:, 0], y, rtol=0, atol=1e-6)


def test_biases_interleave_the_sorted_projections():
  x = _points(500, 7)
  network = expressivity.fit(x, np.zeros(500), seed=1)
  z = np.sort(x @ network.projection)
  b = network.biases
  assert np.all(b < z) and np.all(z[:-1] < b[1:])  # b_1 < z_1 < b_2 < ... < b_n < z_n


@pytest.mark.parametrize("n,d", [(10, 1), (400, 25)])
def test_weight_count_is_2n_plus_d(n, d):
  network = expressivity.fit(_points(n, d), np.ones(n))
  assert network.num_weights == 2 * n + d
  assert network.to_keras().count_params() == 2 * n + d


def test_classes_add_one_output_column_of_w_each():
  n, d, k = 120, 6, 10
  labels = np.random.default_rng(0).integers(0, k, n)
  network = expressivity.fit(_points(n, d), labels, num_classes=k)
  assert network.num_weights == n * k + n + d
  out = network.predict(_points(n, d))
  np.testing.assert_array_equal(out.argmax(1), labels)
  np.testing.assert_allclose(out, np.eye(k)[labels], rtol=0, atol=1e-10)


def test_duplicate_points_raise_a_clear_value_error():
  x = _points(50, 4)
  x[31] = x[7]
  with pytest.raises(ValueError, match="points 7 and 31 are identical"):
    expressivity.fit(x, np.arange(50.0))


def test_points_no_projection_can_separate_raise_after_max_projections():
  x = np.array([[1.0, 1.0], [1.0, 1.0 + 2e-16 * 4], [3.0, 0.0]])
  with pytest.raises(ValueError, match="no projection out of 5"):
    expressivity.fit(x, [0.0, 1.0, 2.0], max_projections=5)


def test_a_projection_with_ties_is_redrawn(monkeypatch):
  # The first projection (1, 0) maps (0, 0) and (0, 1) to the same z; the second separates them.
  draws = iter([np.array([1.0, 0.0]), np.array([0.6, 0.8])])

  class FakeGenerator:
    def standard_normal(self, size):
      return next(draws)

  monkeypatch.setattr(expressivity.np.random, "default_rng", lambda seed: FakeGenerator())
  x = np.array([[0.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
  network = expressivity.fit(x, [5.0, -1.0, 2.0])
  np.testing.assert_allclose(network.projection, [0.6, 0.8])
  np.testing.assert_allclose(network.predict(x)[:, 0], [5.0, -1.0, 2.0], atol=1e-12)


@pytest.mark.parametrize("targets", ["uniform01", "signs"])
def test_float64_error_below_1e_8_at_n_10000(targets):
  rng = np.random.default_rng(7)
  x = rng.random((10000, 50))
  y = rng.random(10000) if targets == "uniform01" else rng.choice([-1.0, 1.0], 10000)
  network = expressivity.fit(x, y, seed=0)
  assert np.abs(network.predict(x)[:, 0] - y).max() < 1e-8


def test_construction_is_linear_time_without_an_n_by_n_matrix():
  # n^2 float64 would be 320 GB here: only an O(n) construction gets through.
  rng = np.random.default_rng(11)
  x, y = rng.standard_normal((200_000, 2)), rng.uniform(-1, 1, 200_000)
  network = expressivity.fit(x, y, seed=0)
  assert network.num_weights == 400_002
  assert np.abs(network.predict(x)[:, 0] - y).max() < 1e-8


def test_keras_model_computes_the_same_network_as_numpy():
  n, d, k = 400, 5, 3
  x = _points(n, d)
  labels = np.random.default_rng(1).integers(0, k, n)
  network = expressivity.fit(x, labels, num_classes=k, seed=2)
  model = network.to_keras()
  keras_out = expressivity.keras_forward(model, x, batch_size=128)
  assert keras_out.dtype == np.float64
  np.testing.assert_allclose(keras_out, network.predict_dense(x), rtol=0, atol=1e-8)
  np.testing.assert_allclose(keras_out, network.predict(x), rtol=0, atol=1e-8)
  fresh = _points(50, d, seed=9)  # off the training points too
  np.testing.assert_allclose(expressivity.keras_forward(model, fresh), network.predict(fresh),
                             rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("kernel", ["gaussian", "linear"])
def test_kernel_interpolant_matches_a_direct_solve_and_fits_its_targets(kernel):
  n, d = 60, 80 if kernel == "linear" else 8
  x = _points(n, d)
  y = kernels.as_targets(np.random.default_rng(2).integers(0, 10, n), 10)
  fit = kernels.fit_min_norm(x, y, kernel=kernel, bandwidth=0.5)
  k = kernels.gram(kernel, x, bandwidth=0.5)
  np.testing.assert_allclose(fit.interpolant.coefficients, np.linalg.solve(k, y),
                             rtol=1e-6, atol=1e-8)
  np.testing.assert_allclose(fit.train_predictions, y, atol=1e-8)
  np.testing.assert_allclose(fit.interpolant.predict(x), y, atol=1e-8)


def test_gaussian_gram_is_exp_of_minus_bandwidth_squared_distance():
  x1, x2 = _points(7, 3), _points(5, 3, seed=1)
  expected = np.exp(-0.3 * ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(-1))
  np.testing.assert_allclose(kernels.gram("gaussian", x1, x2, bandwidth=0.3, block_size=3),
                             expected, rtol=1e-12)


def test_float32_in_place_solve_still_interpolates():
  x = _points(300, 10)
  y = kernels.as_targets(np.random.default_rng(3).integers(0, 10, 300), 10)
  fit = kernels.fit_min_norm(x, y, kernel="gaussian", dtype=np.float32, keep_gram=False)
  assert fit.precision == "float32" and fit.train_predictions.dtype == np.float32
  np.testing.assert_array_equal(fit.train_predictions.argmax(1), y.argmax(1))


def test_linear_kernel_with_more_points_than_dimensions_is_least_squares_not_interpolation():
  x, y = _points(40, 5), np.random.default_rng(4).uniform(-1, 1, 40)
  fit = kernels.fit_min_norm(x, y, kernel="linear")
  assert "primal" in fit.method
  np.testing.assert_allclose(fit.interpolant.coefficients[:, 0], np.linalg.pinv(x) @ y,
                             atol=1e-10)
  assert np.abs(fit.train_predictions[:, 0] - y).max() > 0.1  # rank 5 cannot fit 40 targets


def test_sgd_from_zero_converges_to_the_minimum_norm_solution():
  rng = np.random.default_rng(5)
  x, y = rng.standard_normal((20, 100)), rng.standard_normal(20)
  w = kernels.sgd_least_squares(x, y, epochs=400, seed=0)
  pinv = np.linalg.pinv(x) @ y
  np.testing.assert_allclose(kernels.min_norm_solution(x, y), pinv, atol=1e-10)
  assert np.linalg.norm(w - pinv) < 1e-6
  # Another interpolating solution (min-norm plus a null-space direction) is farther away.
  null = np.linalg.svd(x)[2][-1]
  assert np.allclose(x @ (pinv + null), y) and np.linalg.norm(w - (pinv + null)) > 0.5


def test_sgd_iterates_stay_in_the_row_span_of_the_data():
  # Why the limit is the minimum-norm solution: from w = 0 every update is a combination of rows.
  rng = np.random.default_rng(6)
  x, y = rng.standard_normal((10, 50)), rng.standard_normal(10)
  w = kernels.sgd_least_squares(x, y, epochs=300, seed=1)
  assert np.linalg.matrix_rank(np.column_stack([x.T, w])) == 10


def test_rademacher_is_one_for_an_interpolating_class_and_zero_for_a_constant():
  x = _points(200, 10)
  interp = rademacher.estimate(rademacher.kernel_family("gaussian"), x, draws=5, seed=0)
  assert interp.mean == 1.0 and all(f == 1.0 for f in interp.fraction_fit)
  const = rademacher.estimate(rademacher.constant, x, draws=30, seed=0)
  assert abs(const.mean) < 0.05  # std of the mean: 1 / sqrt(200 * 30) = 0.013
  low, high = const.interval
  assert low < 0 < high and high - low < 0.1


def test_rademacher_draws_are_reproducible_from_the_seed():
  x = _points(50, 3)
  a = rademacher.estimate(rademacher.constant, x, draws=4, seed=(1, 50))
  b = rademacher.estimate(rademacher.constant, x, draws=4, seed=(1, 50))
  c = rademacher.estimate(rademacher.constant, x, draws=4, seed=(2, 50))
  assert a.correlations == b.correlations and a.correlations != c.correlations


BAD_FLAGS = [
    ("expressivity", "--n=-5", "--n=-5"),
    ("expressivity", "--labels=noisy", "--labels=noisy"),
    ("expressivity", "--dataset=svhn", "--dataset=svhn"),
    ("linear_models", "--kernel=poly", "--kernel=poly"),
    ("linear_models", "--bandwidth=0", "--bandwidth=0"),
    ("linear_models", "--labels=true,true", "--labels=true,true"),
    ("linear_models", "--n_train=-1", "--n_train=-1"),
    ("rademacher", "--family=cnn", "--family=cnn"),
    ("rademacher", "--n=500,abc", "--n=500,abc"),
    ("rademacher", "--draws=1", "--draws=1"),
]


@pytest.mark.parametrize("script,flag,named", BAD_FLAGS)
def test_bad_flag_exits_2_with_one_line(script, flag, named, tmp_path):
  out = tmp_path / "result.json"
  proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", f"{script}.py"), flag,
                         f"--out={out}"], capture_output=True, text=True, timeout=60)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], proc.stderr
  assert not out.exists()


_MOCK_EXPRESSIVITY = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import tensorflow_datasets as tfds
    from experiments import cli, expressivity
    sys.argv = ["expressivity.py", "--n=40", "--labels=random", "--out={out}"]
    with tfds.testing.mock_data(num_examples=40):
      cli.run(expressivity.main)
""")


def test_expressivity_experiment_fits_mock_cifar10_and_writes_json(tmp_path):
  out = tmp_path / "theorem1.json"
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
  proc = subprocess.run([sys.executable, "-c", _MOCK_EXPRESSIVITY.format(root=ROOT, out=out)],
                        capture_output=True, text=True, timeout=120, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(out.read_text())
  assert result["n"] == 40 and result["d"] == 3072 and result["precision"] == "float64"
  assert result["num_weights"] == 40 * 10 + 40 + 3072
  assert result["train_accuracy"] == 1.0 and result["max_abs_error"] < 1e-6
  assert {"test_accuracy", "seconds", "dataset", "labels", "device"} <= set(result)
  assert "Theorem 1 on cifar10" in proc.stdout


THEORY_APPS = ("expressivity", "linear_models", "rademacher", "preview_corruptions")


def test_theory_code_imports_nothing_from_the_trainer():
  """rethinking/theory and its apps use rethinking.host / rethinking.rundir, not training/."""
  paths = [os.path.join(ROOT, "rethinking", "theory", f)
           for f in os.listdir(os.path.join(ROOT, "rethinking", "theory")) if f.endswith(".py")]
  paths += [os.path.join(ROOT, "experiments", f"{app}.py") for app in THEORY_APPS]
  for path in paths:
    text = open(path).read()
    assert "rethinking.training" not in text and "import training" not in text, path
    assert "../shared" not in text and "import _data" not in text, path


def test_theory_data_comes_from_the_given_or_the_environments_tfds_dir(tmp_path, monkeypatch):
  from rethinking.theory import data  # pylint: disable=import-outside-toplevel
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "env_tfds"))
  assert data.provenance("cifar10", None) == f"cifar10 (tfds data dir {tmp_path / 'env_tfds'})"
  assert data.provenance("mnist", str(tmp_path)) == f"mnist (tfds data dir {tmp_path})"


def test_the_blocked_cholesky_solves_like_lapack_and_is_used_for_huge_matrices(monkeypatch):
  # Above 2^31 elements scipy's LAPACK segfaults; the blocked path must give the same solution.
  rng = np.random.default_rng(0)
  x = rng.normal(size=(300, 20))
  y = rng.normal(size=(300, 3))
  k = kernels.gram("gaussian", x, bandwidth=0.05)
  expected = scipy.linalg.cho_solve(scipy.linalg.cho_factor(k, lower=True), y)
  np.testing.assert_allclose(kernels.blocked_cholesky(k.copy(), block=64).solve(y), expected,
                             rtol=1e-8, atol=1e-10)
  monkeypatch.setattr(kernels, "LAPACK_MAX_ELEMENTS", 1000)
  fit = kernels.fit_min_norm(x, y, bandwidth=0.05, keep_gram=False, block_size=64)
  np.testing.assert_allclose(fit.interpolant.coefficients, expected, rtol=1e-8, atol=1e-10)
  np.testing.assert_allclose(fit.train_predictions, y, atol=1e-8)
