"""SGD as a random variable: the lecture's first point, measured.

At a fixed θ, a mini-batch B of b objects drawn *without replacement* from the
n training objects gives the gradient estimate g_B = (1/b) Σ_{i∈B} uᵢ, where uᵢ
is object i's contribution, scaled so that the full gradient is their mean:
∇L = ū = (1/n) Σᵢ uᵢ (for a mean loss uᵢ is the gradient of object i's loss; for
the lecture's sum L = ΣΔ², uᵢ is n times it, so g_B estimates ∇L itself).

* g_B is unbiased: E[g_B] = ∇L.
* Its total variance (the trace of its covariance) is, by the finite-population
  correction of sampling without replacement,

      E‖g_B − ∇L‖² = (σ² / b) · (n − b) / (n − 1),    σ² = (1/n) Σᵢ ‖uᵢ − ū‖²,

  which falls like 1/b for small batches and reaches 0 at b = n (with
  replacement it would stay σ²/b).

:func:`sgd_noise` draws ``samples`` mini-batches per batch size, computes each
g_B by a real backward pass through the model, and compares the sample mean
with ∇L (within 3 standard errors, measured in norm: E‖mean − ∇L‖² = V/S) and the
sample total variance with the formula (within 10 %).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.checks import check_memory, check_option, check_seed, is_int
from ..errors import ConfigError, ShapeError
from ..nn.init import as_generator
from ..nn.losses import MSELoss


@dataclass
class NoiseRow:
    """The measurements for one batch size b (gradients flattened over all parameters)."""

    batch_size: int
    mean_error: float  # ‖mean of the samples − ∇L‖
    standard_error: float  # √(V̂ / S): the standard error of that mean, in norm
    max_coordinate_z: float  # max over coordinates of |mean_j − ∇L_j| / (sd_j / √S)
    variance: float  # V̂ = (1/S) Σ ‖g_s − ∇L‖²
    variance_se: float  # standard error of V̂
    theory: float  # (σ²/b)(n − b)/(n − 1)
    with_replacement: float  # σ²/b

    @property
    def z(self) -> float:
        """mean_error / standard_error (E[z²] = 1)."""
        return self.mean_error / self.standard_error if self.standard_error > 0 else (
            0.0 if self.mean_error == 0 else math.inf)

    @property
    def ratio(self) -> float:
        """variance / theory (1 when they agree)."""
        if self.theory == 0:
            return 1.0 if self.variance <= 1e-24 else math.inf
        return self.variance / self.theory

    @property
    def mean_ok(self) -> bool:
        return self.z <= 3.0

    @property
    def variance_ok(self) -> bool:
        return abs(self.ratio - 1.0) <= 0.10


@dataclass
class SGDNoiseResult:
    """Per batch size: the mini-batch gradient's mean against ∇L and its variance against theory."""

    rows: list[NoiseRow]
    n: int
    samples: int
    full_gradient: np.ndarray
    sigma2: float
    parameter_names: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every batch size: mean within 3 standard errors and variance within 10 % of theory."""
        return all(r.mean_ok and r.variance_ok for r in self.rows)

    def theory(self, b: Any) -> np.ndarray:
        """Theoretical total variance at batch size(s) b (without replacement)."""
        b = np.asarray(b, dtype=np.float64)
        return self.sigma2 / b * (self.n - b) / (self.n - 1) if self.n > 1 else np.zeros_like(b)

    def report(self) -> str:
        lines = [
            f"Mini-batch gradients at a fixed θ: n = {self.n} objects, {self.samples} batches per size, "
            f"drawn without replacement",
            f"  ‖∇L‖ = {np.linalg.norm(self.full_gradient):.6g},  σ² = (1/n)Σ‖uᵢ − ū‖² = {self.sigma2:.6g}",
            f"  {'b':>6}  {'‖mean − ∇L‖':>12}  {'std err':>10}  {'z':>6}  {'variance':>12}  "
            f"{'theory':>12}  {'σ²/b':>12}  {'ratio':>7}  {'ok':>4}",
        ]
        for r in self.rows:
            ok = "yes" if r.mean_ok and r.variance_ok else "NO"
            lines.append(
                f"  {r.batch_size:>6}  {r.mean_error:>12.5g}  {r.standard_error:>10.4g}  {r.z:>6.2f}  "
                f"{r.variance:>12.6g}  {r.theory:>12.6g}  {r.with_replacement:>12.6g}  {r.ratio:>7.4f}  {ok:>4}"
            )
        lines.append(
            "  mean: within 3 standard errors of ∇L (z ≤ 3); variance: within 10% of (σ²/b)(n−b)/(n−1)"
            + ("  -> all checks pass" if self.passed else "  -> SOME CHECKS FAIL")
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "samples": self.samples, "sigma2": self.sigma2,
            "full_gradient_norm": float(np.linalg.norm(self.full_gradient)), "passed": self.passed,
            "rows": [{"batch_size": r.batch_size, "mean_error": r.mean_error, "standard_error": r.standard_error,
                      "z": r.z, "max_coordinate_z": r.max_coordinate_z, "variance": r.variance,
                      "variance_se": r.variance_se, "theory": r.theory, "with_replacement": r.with_replacement,
                      "ratio": r.ratio, "mean_ok": r.mean_ok, "variance_ok": r.variance_ok} for r in self.rows],
        }


def _gradient(model: Any, params: list, loss_fn: Any, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """∇ of loss_fn(model(X), Y) with respect to every parameter, flattened into one vector."""
    for p in params:
        p.grad = None
    loss_fn(model(X), Y).backward()
    return np.concatenate([(np.zeros(p.size) if p.grad is None else p.grad.reshape(-1)) for p in params])


def sgd_noise(
    model: Any,
    X: Any,
    Y: Any,
    batch_sizes: Sequence[int] = (1, 4, 16, 64, 256),
    samples: int = 2000,
    rng: np.random.Generator | int | None = 0,
    loss_fn: Any = None,
) -> SGDNoiseResult:
    """Sample mini-batch gradients at the model's current θ and compare them with theory.

    Parameters
    ----------
    model : a Module; its parameters are not changed (gradients are reset afterwards).
    X, Y : the n training objects, shapes (n, ...) and (n, ...).
    batch_sizes : the b to try, each at most n.
    samples : mini-batches S drawn per batch size (the variance's relative standard
        error shrinks like 1/√S).
    rng : Generator or seed for drawing the batches.
    loss_fn : the loss (default ``MSELoss()``); with ``reduction="sum"`` the batch
        gradient is scaled by n/b so it estimates the full sum's gradient.

    Returns
    -------
    SGDNoiseResult; ``.report()`` prints the table, ``.passed`` the verdict,
    :func:`chainrule.train.plots.plot_sgd_noise` draws it.

    Cost: n + S · len(batch_sizes) + 1 backward passes.
    """
    who = "sgd_noise"
    if not callable(model) or not hasattr(model, "parameters"):
        raise ConfigError(f"{who}: model must be a chainrule Module, got {type(model).__name__}")
    X, Y = np.asarray(getattr(X, "data", X)), np.asarray(getattr(Y, "data", Y))
    if X.ndim == 0 or Y.ndim == 0 or X.dtype.kind not in "biuf" or Y.dtype.kind not in "biuf":
        raise ShapeError(f"{who}: expected numeric arrays X (n, ...) and Y (n, ...), got {X.dtype} {X.shape} "
                         f"and {Y.dtype} {Y.shape}")
    n = len(X)
    if len(Y) != n:
        raise ShapeError(f"sgd_noise: X has {n} objects but Y has {len(Y)}")
    if n < 2:
        raise ConfigError("sgd_noise: needs at least two objects")
    if isinstance(batch_sizes, (str, bytes)) or not isinstance(batch_sizes, Sequence) or not batch_sizes:
        raise ConfigError(f"{who}: batch_sizes must be a non-empty list of whole numbers, got {batch_sizes!r}")
    sizes = [check_option(b, "batch_size", f"{who}: batch_sizes") for b in batch_sizes]
    if any(b > n for b in sizes):
        raise ConfigError(f"sgd_noise: batch sizes must lie in [1, n = {n}], got {sizes}")
    if not is_int(samples) or samples < 2:
        raise ConfigError(f"sgd_noise: needs at least 2 samples per batch size, got {samples!r}")
    samples = check_option(samples, "samples", who)
    rng = check_seed(rng, who)
    n_params = sum(int(np.size(p.data)) for p in model.parameters())
    check_memory(8.0 * (n + samples) * max(n_params, 1), f"{who}: {n:,} + {samples:,} gradients of "
                 f"{n_params:,} numbers", error=ConfigError)
    loss_fn = loss_fn if loss_fn is not None else MSELoss()
    is_sum = getattr(loss_fn, "reduction", "mean") == "sum"
    g = as_generator(rng)
    named = list(model.named_parameters())
    params = [p for _, p in named]
    saved = [p.grad for p in params]
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()  # the noise studied is the sampling of objects, not e.g. dropout
    try:
        full = _gradient(model, params, loss_fn, X, Y)
        # Per-object contributions u_i, scaled so that their mean is the full gradient.
        scale_one = float(n) if is_sum else 1.0
        U = np.stack([_gradient(model, params, loss_fn, X[i:i + 1], Y[i:i + 1]) for i in range(n)]) * scale_one
        sigma2 = float(np.mean(np.sum((U - U.mean(axis=0)) ** 2, axis=1)))
        rows = []
        for b in sizes:
            scale = n / b if is_sum else 1.0
            G = np.empty((samples, full.size))
            for s in range(samples):
                idx = g.choice(n, size=b, replace=False)
                G[s] = _gradient(model, params, loss_fn, X[idx], Y[idx]) * scale
            dev = G - full
            sq = np.sum(dev * dev, axis=1)
            variance = float(sq.mean())
            mean = G.mean(axis=0)
            sd = G.std(axis=0, ddof=1)
            coord_z = np.where(sd > 0, np.abs(mean - full) / np.where(sd > 0, sd, 1) * math.sqrt(samples), 0.0)
            theory = sigma2 / b * (n - b) / (n - 1)
            rows.append(NoiseRow(
                batch_size=b,
                mean_error=float(np.linalg.norm(mean - full)),
                standard_error=math.sqrt(float(np.sum(sd**2)) / samples),
                max_coordinate_z=float(coord_z.max(initial=0.0)),
                variance=variance,
                variance_se=float(sq.std(ddof=1) / math.sqrt(samples)),
                theory=theory,
                with_replacement=sigma2 / b,
            ))
    finally:
        for p, old in zip(params, saved):
            p.grad = old
        if was_training and hasattr(model, "train"):
            model.train()
    return SGDNoiseResult(rows=rows, n=n, samples=samples, full_gradient=full, sigma2=sigma2,
                          parameter_names=[name for name, _ in named])


__all__ = ["sgd_noise", "SGDNoiseResult", "NoiseRow"]
