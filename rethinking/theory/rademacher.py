"""Empirical Rademacher complexity (Section 2.1), estimated by fitting random signs.

    R_n(H) = E_sigma [ sup_(h in H) (1/n) sum_i sigma_i h(x_i) ],  sigma uniform in {-1, +1}^n.

The paper argues that R_n ~ 1 for the networks it trains, since they fit random labels, but never
measures it. We estimate it by Monte Carlo over `draws` sign vectors: for each sigma, train the
family on (x, sigma) and take h = sign(output) on the same n points; the supremum is replaced by
what training reaches, so each draw (and the mean) is a lower bound on the true supremum. The
interval is the mean +- t_(0.975, draws-1) * std / sqrt(draws) over draws.

Conclusion: MLP 1x512 and the Gaussian-kernel interpolant fit every random sign vector on up to
2,000 CIFAR-10 images (estimate 1.0, the largest possible); measurements in
docs/measurements/theory/README.md.

Families (`fit_predict(x, sigma, seed) -> outputs [n]`, sign taken afterwards):
  - `constant`: h = +1 whatever sigma is; its estimate is (1/n) sum sigma_i, ~0 (the floor).
  - `kernel_family(kernel, bandwidth)`: the min-norm interpolant of sigma (kernels.py) on flat
    pixels in [0, 1]; it interpolates distinct points, so ~1 (linear: only while n <= d).
  - `mlp_family(...)`: the registry's mlp_1x512 with one output (rethinking.models), on the
    networks' inputs (centre 28x28 crop, per-image standardization), trained with SGD (momentum
    0.9, learning rate 0.01, constant: no per-epoch decay, batch 128) on the logistic loss of
    sigma until its signs match sigma on all n points or `max_epochs` pass.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
import scipy.stats

from rethinking.theory import kernels

FitPredict = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class RademacherEstimate:
  """Mean correlation over draws, its 95% t interval, and per-draw details."""
  n: int
  draws: int
  mean: float
  half_width: float
  correlations: List[float]
  fraction_fit: List[float]  # per draw: fraction of points with sign(h) = sigma
  seconds: float

  @property
  def interval(self):
    return (self.mean - self.half_width, self.mean + self.half_width)

  def as_dict(self) -> dict:
    low, high = self.interval
    return {**dataclasses.asdict(self), "ci95_low": low, "ci95_high": high}


def random_signs(n: int, rng: np.random.Generator) -> np.ndarray:
  """float64 [n] of independent uniform +-1."""
  return rng.integers(0, 2, size=n) * 2.0 - 1.0


def estimate(fit_predict: FitPredict, x: np.ndarray, draws: int,
             seed: Union[int, Sequence[int]]) -> RademacherEstimate:
  """Monte Carlo estimate of R_n on the points x [n, ...] with `draws` sign vectors.

  seed: an int or ints (e.g. (seed, n)) for np.random.default_rng; drives the signs and, through
  per-draw seeds, the family's own randomness.
  """
  if draws < 1:
    raise ValueError(f"draws must be >= 1, got {draws}")
  rng = np.random.default_rng(seed)
  correlations, fraction_fit = [], []
  start = time.perf_counter()
  for _ in range(draws):
    sigma = random_signs(len(x), rng)
    model_seed = int(rng.integers(2**31 - 1))
    h = np.where(np.asarray(fit_predict(x, sigma, model_seed)).reshape(-1) >= 0, 1.0, -1.0)
    correlations.append(float(np.mean(sigma * h)))
    fraction_fit.append(float(np.mean(sigma == h)))
  mean = float(np.mean(correlations))
  if draws > 1:
    std = float(np.std(correlations, ddof=1))
    half_width = float(scipy.stats.t.ppf(0.975, draws - 1)) * std / math.sqrt(draws)
  else:
    half_width = float("nan")
  return RademacherEstimate(n=len(x), draws=draws, mean=mean, half_width=half_width,
                            correlations=correlations, fraction_fit=fraction_fit,
                            seconds=time.perf_counter() - start)


def constant(x: np.ndarray, sigma: np.ndarray, seed: int) -> np.ndarray:
  """The constant predictor h = +1: the family that cannot fit anything."""
  del sigma, seed
  return np.ones(len(x))


def kernel_family(kernel: str, bandwidth: Optional[float] = None) -> FitPredict:
  """Min-norm interpolation of sigma with the given kernel, evaluated on the training points."""

  def fit_predict(x, sigma, seed):
    del seed  # deterministic
    flat = x.reshape(len(x), -1)
    return kernels.fit_min_norm(flat, sigma, kernel=kernel,
                                bandwidth=bandwidth).train_predictions[:, 0]

  return fit_predict


def mlp_family(max_epochs: int = 200, batch_size: int = 128, learning_rate: float = 0.01,
               momentum: float = 0.9, check_every: int = 5) -> FitPredict:
  """mlp_1x512 (one logit) trained on sigma with SGD until it fits all signs or max_epochs."""

  def fit_predict(x, sigma, seed):
    # Keras only for the MLP family; the kernel and constant families are NumPy.
    import keras  # pylint: disable=import-outside-toplevel
    from rethinking import models  # pylint: disable=import-outside-toplevel
    # Keras initializers and fit()'s shuffling draw from its global seed; one per draw.
    keras.utils.set_random_seed(seed)
    model = models.build("mlp_1x512", num_classes=1, input_shape=x.shape[1:])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate,
                                                 momentum=momentum),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    targets = ((sigma + 1) / 2).astype(np.float32)[:, None]
    x = x.astype(np.float32)
    epochs = 0
    while True:
      model.fit(x, targets, batch_size=batch_size, epochs=check_every, shuffle=True, verbose=0)
      epochs += check_every
      # A separate inference pass over all n points (not fit()'s running average).
      logits = _logits(model, x)
      if np.all((logits >= 0) == (sigma > 0)) or epochs >= max_epochs:
        return logits

  return fit_predict


def _logits(model, x, batch_size: int = 1024) -> np.ndarray:
  return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + batch_size]))[:, 0]
                         for i in range(0, len(x), batch_size)])


FAMILIES = ("mlp_1x512", "kernel_gaussian", "kernel_linear", "constant")


def family(name: str, bandwidth: Optional[float] = None, max_epochs: int = 200) -> FitPredict:
  """The fit_predict of a family by name (FAMILIES)."""
  if name == "mlp_1x512":
    return mlp_family(max_epochs=max_epochs)
  if name == "kernel_gaussian":
    return kernel_family("gaussian", bandwidth)
  if name == "kernel_linear":
    return kernel_family("linear")
  if name == "constant":
    return constant
  raise ValueError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}")
