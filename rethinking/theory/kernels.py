"""Section 5: minimum-norm interpolation (kernel trick) and SGD's implicit minimum norm.

For y = X w with n < d, SGD started at w = 0 stays in the span of the rows of X and converges to
the minimum-norm solution w = X^T (X X^T)^-1 y (`sgd_least_squares`, `min_norm_solution`). With
a kernel the same solution is c(x) = sum_i alpha_i k(x, x_i) with K alpha = y
(`fit_min_norm`), which interpolates every training target whenever K is positive definite.

Conclusion: the min-norm Gaussian-kernel interpolant fits true and random CIFAR-10 labels alike
(0% training error) and tests near chance on random labels; measurements, with their cost, are
in docs/measurements/theory/README.md.

Kernels (points are flattened pixels in [0, 1], as Section 5 uses them: no crop, no whitening):
  - gaussian: k(x, x') = exp(-bandwidth * ||x - x'||^2). The paper gives no bandwidth for
    CIFAR-10; the first author's MNIST demo used 0.02 on 784 pixels in [0, 1]. Our default is
    1 / median(||x - x'||^2) over a seeded sample of 1,000 points (`median_bandwidth`), so the
    typical kernel value is e^-1.
  - linear: k(x, x') = <x, x'>, i.e. the linear model y = X w on raw pixels. K = X X^T has
    rank <= d, so it interpolates only while n <= d (3072 on CIFAR-10, 784 on MNIST). For n <= d
    we solve the dual with Cholesky (falling back to least squares if X X^T is numerically
    singular); for n > d we compute the primal minimum-norm least-squares solution
    w = pinv(X) y (LAPACK gelsy), which does not interpolate: the training error is
    reported as it is, not claimed to be zero.

Solving K alpha = y: Gram matrices are built in row blocks (bounded scratch memory) into one
n x n array, factored with LAPACK Cholesky (potrf, via scipy.linalg.cho_factor on the array's
Fortran-order view, so no copy is made when overwriting) and solved for all k target columns at
once. Memory: n^2 x 8 bytes in float64 (20,000 -> 3.2 GB; keeping K to check K alpha costs a
second copy), n^2 x 4 in float32 (50,000 -> 10 GB, which fits 24 GiB only when overwritten in
place; then training predictions are recomputed blockwise). Time: Gram 2 n^2 d flops, Cholesky
n^3 / 3 flops: full-size CIFAR-10 runs belong on a machine with many cores (the paper: 24 cores,
under 3 minutes for MNIST).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Optional

import numpy as np
import scipy.linalg

KERNELS = ("gaussian", "linear")


def squared_distances(x1: np.ndarray, x2: np.ndarray, sq1=None, sq2=None) -> np.ndarray:
  """[m, n] squared Euclidean distances, clipped at 0 (the expansion can round below it)."""
  sq1 = np.einsum("ij,ij->i", x1, x1) if sq1 is None else sq1
  sq2 = np.einsum("ij,ij->i", x2, x2) if sq2 is None else sq2
  out = x1 @ x2.T
  out *= -2
  out += sq1[:, None]
  out += sq2[None, :]
  np.maximum(out, 0, out=out)
  return out


def median_bandwidth(x: np.ndarray, sample_size: int = 1000, seed: int = 0) -> float:
  """1 / median squared distance between distinct points of a seeded sample of x."""
  rng = np.random.default_rng(seed)
  sample = x[rng.choice(len(x), size=min(sample_size, len(x)), replace=False)].astype(np.float64)
  dist = squared_distances(sample, sample)
  upper = dist[np.triu_indices(len(sample), k=1)]
  median = float(np.median(upper)) if upper.size else 0.0
  if not median > 0:
    raise ValueError("cannot pick a bandwidth: the sampled points are identical")
  return 1.0 / median


def gram(kernel: str, x1: np.ndarray, x2: Optional[np.ndarray] = None, bandwidth: float = 1.0,
         block_size: int = 2048, out: Optional[np.ndarray] = None) -> np.ndarray:
  """K [m, n] with K_ij = k(x1_i, x2_j) in x1's dtype, built in blocks of rows.

  x2 = None means x2 = x1 (a symmetric Gram matrix). out: a preallocated [m, n] array.
  """
  _check_kernel(kernel)
  x2 = x1 if x2 is None else x2
  out = np.empty((len(x1), len(x2)), dtype=x1.dtype) if out is None else out
  sq2 = np.einsum("ij,ij->i", x2, x2) if kernel == "gaussian" else None
  for start in range(0, len(x1), block_size):
    rows = x1[start:start + block_size]
    if kernel == "linear":
      out[start:start + len(rows)] = rows @ x2.T
    else:
      block = squared_distances(rows, x2, sq2=sq2)
      block *= -bandwidth
      np.exp(block, out=block)
      out[start:start + len(rows)] = block
  return out


def _check_kernel(kernel: str) -> None:
  if kernel not in KERNELS:
    raise ValueError(f"unknown kernel {kernel!r}; known: {', '.join(KERNELS)}")


@dataclasses.dataclass(frozen=True)
class MinNormInterpolant:
  """The minimum-norm solution, dual (c(x) = k(x, X) alpha) or primal (c(x) = x w).

  train_points: [n, d] (dual form only); coefficients: alpha [n, k] (dual) or w [d, k] (primal).
  """
  kernel: str
  bandwidth: Optional[float]
  form: str
  coefficients: np.ndarray
  train_points: Optional[np.ndarray] = None

  def predict(self, x: np.ndarray, block_size: int = 2048) -> np.ndarray:
    """[m, k] outputs on points x [m, d], computed in blocks of rows."""
    x = np.asarray(x, dtype=self.coefficients.dtype)
    if self.form == "primal":
      return x @ self.coefficients
    out = np.empty((len(x), self.coefficients.shape[1]), dtype=self.coefficients.dtype)
    for start in range(0, len(x), block_size):
      rows = x[start:start + block_size]
      out[start:start + len(rows)] = gram(self.kernel, rows, self.train_points,
                                          self.bandwidth or 1.0) @ self.coefficients
    return out


@dataclasses.dataclass(frozen=True)
class FitResult:
  """The interpolant, its outputs on the training points (K alpha, recomputed, not assumed),
  how it was solved, and the seconds each stage took."""
  interpolant: MinNormInterpolant
  train_predictions: np.ndarray
  method: str
  precision: str
  seconds: dict


def as_targets(labels: np.ndarray, num_classes: int) -> np.ndarray:
  """One-hot float64 [n, num_classes] regression targets for int labels [n]."""
  return np.eye(num_classes)[np.asarray(labels)]


# scipy's LAPACK (OpenBLAS with 32-bit integers) segfaults in potrf on a matrix of 2^31 or
# more elements (seen at n = 50,000): such matrices are factored blockwise here instead, every
# LAPACK/BLAS call on a block far below that size.
LAPACK_MAX_ELEMENTS = 2**31 - 1


@dataclasses.dataclass
class BlockedCholesky:
  """K = L L^T with L in the lower triangle of the (overwritten) C-order array `factor`."""
  factor: np.ndarray
  block: int

  def _blocks(self):
    n = self.factor.shape[0]
    return [(b, min(b + self.block, n)) for b in range(0, n, self.block)]

  def solve(self, y: np.ndarray) -> np.ndarray:
    """alpha with L L^T alpha = y; y [n, k]."""
    l, blocks = self.factor, self._blocks()
    z = np.array(y, dtype=l.dtype)
    for b0, b1 in blocks:  # forward: L z = y
      if b0:
        z[b0:b1] -= l[b0:b1, :b0] @ z[:b0]
      z[b0:b1] = scipy.linalg.solve_triangular(l[b0:b1, b0:b1], z[b0:b1], lower=True,
                                               check_finite=False)
    for b0, b1 in reversed(blocks):  # backward: L^T alpha = z
      if b1 < l.shape[0]:
        z[b0:b1] -= l[b1:, b0:b1].T @ z[b1:]
      z[b0:b1] = scipy.linalg.solve_triangular(l[b0:b1, b0:b1], z[b0:b1], lower=True,
                                               trans="T", check_finite=False)
    return z


def blocked_cholesky(k: np.ndarray, block: int = 4096) -> BlockedCholesky:
  """Right-looking blocked Cholesky of the symmetric positive definite C-order `k`, in place
  (only its lower triangle is read and written). Raises np.linalg.LinAlgError if not PD."""
  n = k.shape[0]
  for b0 in range(0, n, block):
    b1 = min(b0 + block, n)
    k[b0:b1, b0:b1] = scipy.linalg.cholesky(k[b0:b1, b0:b1], lower=True, check_finite=False)
    if b1 == n:
      break
    panel = scipy.linalg.solve_triangular(k[b0:b1, b0:b1], k[b1:, b0:b1].T, lower=True,
                                          check_finite=False).T  # L21 = A21 L11^-T
    k[b1:, b0:b1] = panel
    for c0 in range(b1, n, block):  # A22 -= L21 L21^T, lower block columns only
      c1 = min(c0 + block, n)
      k[c0:, c0:c1] -= panel[c0 - b1:] @ panel[c0 - b1:c1 - b1].T
  return BlockedCholesky(k, block)


def fit_min_norm(x: np.ndarray, targets: np.ndarray, kernel: str = "gaussian",
                 bandwidth: Optional[float] = None, dtype=np.float64, keep_gram: bool = True,
                 block_size: int = 2048) -> FitResult:
  """Minimum-norm interpolation of targets [n] or [n, k] on points x [n, d].

  bandwidth: the Gaussian kernel's gamma (None: `median_bandwidth(x)`); ignored for linear.
  dtype: float64 or float32 for K and its Cholesky factor. keep_gram: keep K to compute the
  training outputs K alpha (a second n x n array); otherwise K is factored in place and the
  training outputs are recomputed blockwise. Raises ValueError when the Gaussian K is not
  numerically positive definite (duplicate points, or float32 with too wide a bandwidth).
  """
  _check_kernel(kernel)
  dtype = np.dtype(dtype)
  x = np.asarray(x, dtype=dtype)
  y = np.asarray(targets, dtype=np.float64)
  y = y[:, None] if y.ndim == 1 else y
  n, d = x.shape
  seconds = {}
  if kernel == "gaussian" and bandwidth is None:
    bandwidth = median_bandwidth(x)
  if kernel == "linear":
    bandwidth = None
    if n > d:
      return _primal_least_squares(x, y, dtype, seconds)
  start = time.perf_counter()
  k = gram(kernel, x, bandwidth=bandwidth or 1.0, block_size=block_size)
  seconds["gram"] = time.perf_counter() - start
  start = time.perf_counter()
  try:
    if k.size >= LAPACK_MAX_ELEMENTS and not keep_gram:
      factor = blocked_cholesky(k)
    else:
      # K is symmetric, so its C-order array is the Fortran-order array potrf wants: no copy.
      factor = scipy.linalg.cho_factor(k.T, lower=True, overwrite_a=not keep_gram,
                                       check_finite=False)
  except np.linalg.LinAlgError as e:
    if kernel == "linear":
      del k
      return _primal_least_squares(x, y, dtype, seconds, note="dual Cholesky failed: ")
    raise ValueError(f"the {n} x {n} Gaussian kernel matrix is not positive definite in "
                     f"{dtype.name} ({e}): duplicate points, or use float64 / a larger "
                     "bandwidth") from None
  if isinstance(factor, BlockedCholesky):
    alpha = factor.solve(y.astype(dtype))
  else:
    alpha = scipy.linalg.cho_solve(factor, y.astype(dtype), check_finite=False)
  del factor
  seconds["cholesky_solve"] = time.perf_counter() - start
  interpolant = MinNormInterpolant(kernel=kernel, bandwidth=bandwidth, form="dual",
                                   coefficients=alpha, train_points=x)
  start = time.perf_counter()
  if keep_gram:
    train_predictions = k @ alpha
    del k
  else:
    del k
    train_predictions = interpolant.predict(x, block_size=block_size)
  seconds["train_predictions"] = time.perf_counter() - start
  return FitResult(interpolant, train_predictions, method="dual cholesky",
                   precision=dtype.name, seconds=seconds)


def _primal_least_squares(x, y, dtype, seconds, note: str = "") -> FitResult:
  start = time.perf_counter()
  # gelsy (complete orthogonal factorization) gives the same minimum-norm solution as an SVD
  # (gelsd) for the cost of a pivoted QR.
  w, *_ = scipy.linalg.lstsq(x, y.astype(dtype), lapack_driver="gelsy", check_finite=False)
  seconds["lstsq"] = time.perf_counter() - start
  interpolant = MinNormInterpolant(kernel="linear", bandwidth=None, form="primal",
                                   coefficients=w)
  return FitResult(interpolant, x @ w, method=note + "primal min-norm least squares (lstsq)",
                   precision=np.dtype(dtype).name, seconds=seconds)


def min_norm_solution(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """w = X^T (X X^T)^-1 y: the minimum-norm solution of X w = y for X [n, d] of rank n < d."""
  x = np.asarray(x, dtype=np.float64)
  return x.T @ np.linalg.solve(x @ x.T, np.asarray(y, dtype=np.float64))


def sgd_least_squares(x: np.ndarray, y: np.ndarray, *, learning_rate: Optional[float] = None,
                      epochs: int = 100, batch_size: int = 1, seed: int = 0) -> np.ndarray:
  """Plain SGD on (1/2n) ||X w - y||^2 from w = 0 with a constant step; returns w [d] or [d, k].

  learning_rate: default 1 / max_i ||x_i||^2, which converges for any batch size. Every update
  is a combination of rows of X, so w never leaves their span: at a zero-loss limit it is the
  minimum-norm solution.
  """
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y, dtype=np.float64)
  if learning_rate is None:
    learning_rate = 1.0 / float(np.max(np.einsum("ij,ij->i", x, x)))
  rng = np.random.default_rng(seed)
  w = np.zeros((x.shape[1],) + y.shape[1:])
  for _ in range(epochs):
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
      batch = order[start:start + batch_size]
      residual = x[batch] @ w - y[batch]
      w -= (learning_rate / len(batch)) * (x[batch].T @ residual)
  return w
