"""Classic estimators whose one setting the data choose: a polynomial degree by AIC, a kernel
bandwidth by cross-validation. What a careful user would fit by hand, and the peers any learned
estimator has to beat.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validation import check_int, check_locations
from .bases import polynomial_features
from .classic import default_bandwidth, interpolate_1d, local_linear, transitions

__all__ = ["aic_polynomial", "cross_validated_bandwidth", "BANDWIDTH_FACTORS"]


#: bandwidths tried by :func:`cross_validated_bandwidth`, as multiples of the rule of thumb
BANDWIDTH_FACTORS = tuple(2.0 ** (k / 2) for k in range(-4, 5))  # 0.25 to 4


def _aic_fit(phi_all: torch.Tensor, y: torch.Tensor, w: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, int]:
    """Weighted least squares of y (N, d) on the first k columns of phi_all for each k in sizes
    (each at most N - 2); returns the coefficients (k, d) and the k of smallest corrected AIC,
    N log(RSS/N) + 2k + 2k(k + 1)/(N - k - 1) (summed over d)."""
    n = phi_all.shape[0]
    best, best_aic = None, math.inf
    root = w.sqrt()
    for k in sizes:
        phi = phi_all[:, :k] * root
        a = phi.T @ phi
        a = a + 1e-12 * torch.diagonal(a).mean().clamp_min(1e-300) * torch.eye(k, dtype=a.dtype, device=a.device)
        coef = torch.linalg.solve(a, phi.T @ (y * root))
        rss = ((y * root - phi @ coef) ** 2).sum(0).clamp_min(1e-300)
        aic = float((n * torch.log(rss / n)).sum()) + (2 * k + 2 * k * (k + 1) / (n - k - 1)) * y.shape[1]  # AICc
        if aic < best_aic:
            best, best_aic = (coef, k), aic
    return best


def aic_polynomial(paths: Any, dt: Any, locations: Any, *, max_degree: int = 8,
                   diff2_max_degree: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Polynomial drift and squared diffusion whose degrees Akaike's criterion picks.

    Least squares of Δx/Δt (weights Δt) on all monomials up to degree p, for p = 0 .. ``max_degree``,
    keeping the p of smallest corrected AIC, N log(RSS/N) + 2k + 2k(k + 1)/(N - k - 1) (k coefficients,
    at most N - 2, so short data cannot interpolate); then the same for the squared
    residuals (Δx - f̂Δt)²/Δt up to ``diff2_max_degree``. States are standardised first.
    The fits are polynomials everywhere, also beyond the data (where high degrees swing).

    Args:
        paths: observed paths (n_paths, T, d), T >= 2.
        dt: time between observations, or the steps between them ((T - 1,) or (n_paths, T - 1)).
        locations: query points (G, d).
        max_degree, diff2_max_degree: the highest degrees tried.

    Returns:
        ``(drift, diffusion)``, each (G, d), diffusion >= 0.
    """
    p, x, dx, tau = transitions(paths, dt)
    x, dx, tau = x.double(), dx.double(), tau.double()
    loc = check_locations(locations, d=p.shape[-1]).to(device=p.device).double()
    if x.shape[0] < 3:
        raise ValueError(f"aic_polynomial needs at least 3 increments; got {x.shape[0]}")
    max_degree = check_int(max_degree, name="max_degree", minimum=0)
    diff2_max_degree = check_int(diff2_max_degree, name="diff2_max_degree", minimum=0)
    mu, sd = x.mean(0), x.std(0)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    z, zq = (x - mu) / sd, (loc - mu) / sd
    d = x.shape[1]

    def sizes(deg: int) -> list[int]:
        return [math.comb(k + d, d) for k in range(deg + 1)]

    top = max(max_degree, diff2_max_degree)
    phi, phi_q = polynomial_features(z, top), polynomial_features(zq, top)
    n_f = sizes(max_degree)
    cf, kf = _aic_fit(phi[:, :n_f[-1]], dx / tau, tau / tau.mean(), [k for k in n_f if k <= x.shape[0] - 2])
    resid2 = (dx - (phi[:, :kf] @ cf) * tau) ** 2 / tau
    n_g = sizes(diff2_max_degree)
    cg, kg = _aic_fit(phi[:, :n_g[-1]], resid2, torch.ones_like(tau), [k for k in n_g if k <= x.shape[0] - 2])
    drift = phi_q[:, :kf] @ cf
    g2 = phi_q[:, :kg] @ cg
    return drift.to(p.dtype), g2.clamp_min(0).sqrt().to(p.dtype)


def cross_validated_bandwidth(paths: Any, dt: Any, *, factors: tuple[float, ...] = BANDWIDTH_FACTORS,
                              folds: int = 5, grid: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Bandwidths of :func:`~fimcg.estimators.local_linear` for the drift and for g², by K-fold
    cross-validation over multiples ``factors`` of the rule of thumb.

    The increments are cut into ``folds`` contiguous blocks (in path and time order, so that a
    held-out block is not predicted by its own neighbours' correlated increments). For each block
    and bandwidth the estimator is fitted on the other blocks at ``grid`` points spanning the data
    (per dimension for d = 1; at the held-out states themselves otherwise) and scored on the block:
    Σ Δt (Δx/Δt - f̂)² for the drift, Σ (Δx²/Δt - ĝ² - f̂²Δt)² for g².

    Returns:
        ``(h_drift, h_diffusion)``, each (d,), in state units.
    """
    p, x, dx, tau = transitions(paths, dt)
    x, dx, tau = x.double(), dx.double(), tau.double()
    folds = check_int(folds, name="folds", minimum=2)
    n, d = x.shape
    if n < 2 * folds:
        raise ValueError(f"cross-validation over {folds} folds needs at least {2 * folds} increments; got {n}")
    base = default_bandwidth(x)
    fold = torch.arange(n, device=x.device) * folds // n  # contiguous blocks
    err_f = torch.zeros(len(factors), dtype=torch.float64)
    err_g = torch.zeros(len(factors), dtype=torch.float64)
    lo, hi = x.min(0).values, x.max(0).values
    for k in range(folds):
        train, test = fold != k, fold == k
        # the training increments as paths of two observations, each with its own step
        pairs = torch.stack([x[train], x[train] + dx[train]], dim=1)
        where = (torch.linspace(0, 1, grid, dtype=torch.float64, device=x.device)[:, None] * (hi - lo) + lo
                 if d == 1 else x[test])
        for j, factor in enumerate(factors):
            f, g = local_linear(pairs, tau[train], where, bandwidth=base * factor, min_count=1)
            if d == 1:
                f_t = interpolate_1d(x[test, 0], where[:, 0], f)
                g2_t = interpolate_1d(x[test, 0], where[:, 0], g ** 2)
            else:
                f_t, g2_t = f, g ** 2
            rate = dx[test] / tau[test]
            err_f[j] += float((tau[test] * (rate - f_t) ** 2).sum())
            err_g[j] += float(((dx[test] ** 2 / tau[test] - g2_t - f_t ** 2 * tau[test]) ** 2).sum())
    return base * factors[int(err_f.argmin())], base * factors[int(err_g.argmin())]

