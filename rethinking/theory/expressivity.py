"""Theorem 1 (Section 4): a depth-two ReLU network with 2n + d weights fits any n targets.

    c(x) = sum_j w_j max(<a, x> - b_j, 0),   a in R^d, b in R^n, w in R^(n x k).

Conclusion: the construction fits every training label of CIFAR-10 (true or random) exactly up
to float64 rounding, and generalizes to nothing; the measurements are in
docs/measurements/theory/README.md.

Construction (the paper's proof, made linear-time): draw a unit Gaussian projection a (seeded;
redrawn while two projections z_i = <a, x_i> are closer than a few ulps; identical points raise
ValueError), sort z, and interleave b_1 < z_1 < b_2 < z_2 < ... < b_n < z_n. A_ij =
max(z_i - b_j, 0) is then lower triangular with a positive diagonal, and A w = y is solved by
forward substitution without forming A: the network is piecewise linear in t = <a, x>, with slope
S_i = w_1 + ... + w_i on [b_i, b_(i+1)), and each step needs only the network's value at the
previous point and the current slope. O(n log n) for the sort, O(n k) for the solve. One output
column of w per class: d + n + n k weights, 2n + d for k = 1. Weights are float64.

Where the biases go matters numerically. With the midpoint b_i = (z_(i-1) + z_i) / 2, fitting
consecutive points forces S_i = 2 (y_i - y_(i-1)) / (z_i - z_(i-1)) - S_(i-1): an undamped
alternating component, so one tiny gap leaves every later slope (and weight) huge. We put b_i at
z_(i-1) + BIAS_POSITION * (z_i - z_(i-1)) with BIAS_POSITION = 1/8: the alternating part then
shrinks by a factor 1/7 per point and c is close to the piecewise-linear interpolant of the data
(weights and errors orders of magnitude smaller than with midpoints).

The solve is self-correcting (`_forward_substitution`): w_i is computed from the value the
network with the already *stored* float64 weights takes at z_i, tracked in extended precision
(np.longdouble: 64-bit mantissa on x86; on platforms where it is plain float64 the accuracy of
the construction drops to the next paragraph's ~n^2 eps).

Evaluation, from (a, b, w) only:
  - `predict`: piecewise-linear, O((m + n) log n): c(t) = c(b_j) + S_j (t - b_j) with S and the
    knot values c(b_j) as extended-precision running sums.
  - `predict_dense`, `to_keras()` + `keras_forward`: the literal forward pass,
    sum_j w_j relu(t - b_j) in float64, O(m n), what a neural network computes.

Numerics as n grows. Gaps between sorted projections shrink like range / n and the smallest like
range / n^2, so slopes and weights reach ~|dy| n^2 / range with alternating signs. The forward
pass adds terms w_j (t - b_j) as large as |w| * range to produce an O(1) output: cancellation,
error ~ eps * n^2. And the output at a training point is as steep as its slope there
(~n^2 / range): rounding <a, x> differently (a different matmul kernel) moves it by
slope * eps * sum|a_i x_i|; casting the inputs to float32, as `keras.Model.predict` does, ruins
it. In float32 the forward pass would fail outright (eps * n^2 ~ 150 at n = 50,000), so the
Keras model is float64.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import keras
import numpy as np

# Projections closer than this many ulps of the largest |z| count as ties: a bias between them
# must lie strictly inside, and the gaps must survive the subtraction.
_TIE_ULPS = 64
# Where b_i sits in (z_(i-1), z_i), as a fraction of the gap (see the module docstring).
BIAS_POSITION = 0.125


@dataclasses.dataclass(frozen=True)
class DepthTwoNetwork:
  """c(x) = sum_j w_j max(<a, x> - b_j, 0) with one output per column of w.

  projection: float64 [d] (a); biases: float64 [n] (b, increasing);
  output_weights: float64 [n, k] (w).
  """
  projection: np.ndarray
  biases: np.ndarray
  output_weights: np.ndarray

  @property
  def num_weights(self) -> int:
    """d + n + n k: 2n + d for one output, as Theorem 1 counts."""
    return int(self.projection.size + self.biases.size + self.output_weights.size)

  def _project(self, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != self.projection.size:
      raise ValueError(f"points must be [m, {self.projection.size}], got {x.shape}")
    return x @ self.projection

  def predict(self, x) -> np.ndarray:
    """float64 [m, k]: the network on points x [m, d], evaluated piecewise-linearly in <a, x>
    with extended-precision running sums (the slopes reach ~n^2 / range; see above)."""
    projected = self._project(x)
    t = projected.astype(np.longdouble)
    biases = self.biases.astype(np.longdouble)
    slopes = np.cumsum(self.output_weights.astype(np.longdouble), axis=0)  # on [b_j, b_(j+1))
    segment = np.diff(biases)[:, None]
    knots = np.concatenate([np.zeros((1, slopes.shape[1]), np.longdouble),
                            np.cumsum(slopes[:-1] * segment, axis=0)])  # c(b_j)
    j = np.searchsorted(self.biases, projected, side="right") - 1  # the last kink <= t
    inside = j >= 0
    out = np.zeros((t.size, slopes.shape[1]))
    ji = j[inside]
    out[inside] = knots[ji] + slopes[ji] * (t[inside] - biases[ji])[:, None]
    return out

  def predict_dense(self, x, block_size: int = 512) -> np.ndarray:
    """float64 [m, k]: the literal forward pass sum_j w_j relu(<a, x> - b_j), O(m n)."""
    t = self._project(x)
    out = np.empty((t.size, self.output_weights.shape[1]))
    for start in range(0, t.size, block_size):
      hidden = np.maximum(t[start:start + block_size, None] - self.biases[None, :], 0.0)
      out[start:start + block_size] = hidden @ self.output_weights
    return out

  def to_keras(self) -> keras.Model:
    """A float64 keras.Model: Dense(1, no bias; kernel a) -> relu(z - b) -> Dense(k, no bias;
    kernel w). Its parameter count is `num_weights`."""
    d, (n, k) = self.projection.size, self.output_weights.shape
    inputs = keras.Input((d,), dtype="float64", name="points")
    z = keras.layers.Dense(1, use_bias=False, dtype="float64", name="projection")(inputs)
    hidden = ReluKinks(n, dtype="float64", name="kinks")(z)
    outputs = keras.layers.Dense(k, use_bias=False, dtype="float64", name="output")(hidden)
    model = keras.Model(inputs, outputs, name="theorem1_depth_two")
    model.get_layer("projection").set_weights([self.projection[:, None]])
    model.get_layer("kinks").set_weights([self.biases])
    model.get_layer("output").set_weights([self.output_weights])
    return model


def keras_forward(model: keras.Model, x, batch_size: int = 512) -> np.ndarray:
  """float64 [m, k]: `model` called on float64 batches of x.

  Not `model.predict`: its data adapter casts float64 arrays to floatx (float32), and at the
  slopes of this network (~n^2 / range) that rounding of the inputs alone costs ~0.05 at n = 2000.
  """
  x = np.asarray(x, dtype=np.float64)
  return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + batch_size]))
                         for i in range(0, len(x), batch_size)])


class ReluKinks(keras.layers.Layer):
  """[batch, 1] -> [batch, n]: max(z - b_j, 0) for n learned biases b."""

  def __init__(self, units: int, **kwargs):
    super().__init__(**kwargs)
    self.units = units

  def build(self, input_shape):
    self.biases = self.add_weight(shape=(self.units,), initializer="zeros", name="biases")

  def call(self, z):
    return keras.ops.relu(z - self.biases)

  def get_config(self):
    return {**super().get_config(), "units": self.units}


def _as_targets(targets, n: int, num_classes: Optional[int]) -> np.ndarray:
  """float64 [n, k]: int classes -> one-hot when num_classes is given; [n] -> [n, 1]."""
  targets = np.asarray(targets)
  if num_classes is not None:
    if targets.shape != (n,) or not np.issubdtype(targets.dtype, np.integer):
      raise ValueError(f"with num_classes, targets must be int classes [{n}], got "
                       f"{targets.dtype} {targets.shape}")
    if targets.size and (targets.min() < 0 or targets.max() >= num_classes):
      raise ValueError(f"classes must be in [0, {num_classes}), got [{targets.min()}, "
                       f"{targets.max()}]")
    return np.eye(num_classes)[targets]
  targets = targets.astype(np.float64)
  if targets.ndim == 1:
    targets = targets[:, None]
  if targets.ndim != 2 or targets.shape[0] != n:
    raise ValueError(f"targets must be [{n}] or [{n}, k], got {targets.shape}")
  if not np.all(np.isfinite(targets)):
    raise ValueError("targets must be finite")
  return targets


def _tie_groups(z_sorted: np.ndarray):
  """Runs of sorted projections closer than the tie tolerance, as (start, stop) index pairs."""
  tolerance = _TIE_ULPS * np.finfo(np.float64).eps * np.max(np.abs(z_sorted))
  close = np.diff(z_sorted) <= tolerance
  groups, start = [], None
  for i, c in enumerate(close):
    if c and start is None:
      start = i
    elif not c and start is not None:
      groups.append((start, i + 1))
      start = None
  if start is not None:
    groups.append((start, len(z_sorted)))
  return groups


def _raise_if_duplicates(x: np.ndarray, order: np.ndarray, groups) -> None:
  for start, stop in groups:
    seen = {}
    for i in sorted(order[start:stop].tolist()):
      key = x[i].tobytes()
      if key in seen:
        raise ValueError(f"points {seen[key]} and {i} are identical: no function of x can give "
                         "them different targets (drop duplicates first)")
      seen[key] = i


def _forward_substitution(z_sorted, biases, y_sorted) -> np.ndarray:
  """float64 w [n, k] with sum_(j<=i) w_j (z_i - b_j) = y_i, in O(n k) without forming A.

  Self-correcting: the network's value at z_i before w_i is added, E_i, is tracked from the
  float64 weights actually stored (slope S = sum of stored w, value V at the last point, both in
  extended precision), and w_i = (y_i - E_i) / (z_i - b_i). The rounding of each stored w_i is
  then repaired by the next step instead of accumulating. One scalar loop per output column
  (numpy scalars are ~6x faster than length-k arrays in a Python loop).
  """
  ext = np.longdouble
  n, k = y_sorted.shape
  z = [ext(v) for v in z_sorted]
  height = [ext(zi) - ext(bi) for zi, bi in zip(z_sorted, biases)]  # z_i - b_i > 0
  weights = np.empty((n, k))
  for c in range(k):
    column = weights[:, c]
    y = [ext(v) for v in y_sorted[:, c]]
    slope, value, position = ext(0), ext(0), ext(biases[0])  # value: the network at position
    for i in range(n):
      before = value + slope * (z[i] - position)  # only kinks b_(<i) are left of z_i so far
      stored = float((y[i] - before) / height[i])
      column[i] = stored
      slope += stored
      value = before + ext(stored) * height[i]
      position = z[i]
  return weights


def fit(x, targets, *, num_classes: Optional[int] = None, seed: int = 0,
        bias_position: float = BIAS_POSITION, max_projections: int = 20) -> DepthTwoNetwork:
  """The Theorem 1 network fitting targets on points x exactly (up to rounding).

  x: [n, d] distinct points. targets: real values [n] or [n, k], or int classes [n] with
  num_classes (fitted as one-hot). seed: of the Gaussian projection. Raises ValueError for
  duplicate points, or when no projection out of `max_projections` separates the points.
  """
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
    raise ValueError(f"points must be a non-empty [n, d] array, got {x.shape}")
  if not np.all(np.isfinite(x)):
    raise ValueError("points must be finite")
  n, d = x.shape
  if not 0 < bias_position < 1:
    raise ValueError(f"bias_position must be in (0, 1), got {bias_position}")
  y = _as_targets(targets, n, num_classes)
  rng = np.random.default_rng(seed)
  for attempt in range(max_projections):
    a = rng.standard_normal(d)
    a /= np.linalg.norm(a)
    z = x @ a
    order = np.argsort(z, kind="stable")
    z_sorted = z[order]
    groups = _tie_groups(z_sorted) if n > 1 else []
    if not groups:
      break
    if attempt == 0:
      _raise_if_duplicates(x, order, groups)
  else:
    raise ValueError(f"no projection out of {max_projections} separates the {n} points "
                     "(points nearly identical, or d = 1 with near-ties)")
  y_sorted = y[order]
  gaps = np.diff(z_sorted)
  first_offset = gaps.mean() if n > 1 else max(1.0, abs(z_sorted[0]))
  biases = np.concatenate([[z_sorted[0] - first_offset], z_sorted[:-1] + bias_position * gaps])
  weights = _forward_substitution(z_sorted, biases, y_sorted)
  return DepthTwoNetwork(projection=a, biases=biases, output_weights=weights)
