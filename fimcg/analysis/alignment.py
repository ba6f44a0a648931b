"""Identifiability: align a learned 1-D latent to the true state before comparing SDEs.

A latent coordinate ``z`` learned from video is defined only up to a smooth monotone change of
variables. To compare an SDE inferred in ``z`` with the true SDE in ``x`` we

1. fit a smooth monotone map ``x = h(z)`` (:func:`fit_alignment`), and
2. move the inferred drift and diffusion to ``x`` with Itô's formula (:func:`ito_transform`)::

       f_x(h(z)) = h'(z) f_z(z) + 1/2 h''(z) g_z(z)^2
       g_x(h(z)) = |h'(z)| g_z(z)

The map is a monotone cubic I-spline: ``h(z) = c + sum_k b_k I_k(s z)`` with ``b_k >= 0`` and ``s = +-1``
(a decreasing latent is handled by the sign flip), fitted by bound-constrained least squares. Its
derivative ``h'`` is a non-negative quadratic spline, so ``h''`` exists everywhere (piecewise linear),
which the Itô correction needs. Outside the fitted range ``h`` continues linearly.

Everything here is a pure function of arrays; numpy in, numpy out (torch tensors are accepted).
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.interpolate import BSpline
from scipy.optimize import lsq_linear

from .._validation import check_int, check_paths, to_numpy

__all__ = ["MonotoneMap", "fit_alignment", "ito_transform", "aligned_coefficients", "latent_r2", "Comparison",
           "compare_to_truth", "score_coarse_graining", "WARPS", "check_warp", "warp_tanh", "warp_sinh", "warp_cubic"]


def _as_1d(value: Any, *, name: str) -> np.ndarray:
    """``value`` as a finite float64 array (N,), from (N,), (N, 1) or (n_paths, T, 1)."""
    a = to_numpy(value, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    elif a.ndim == 3 and a.shape[2] == 1:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, (N,), (N, 1) or (n_paths, T, 1); got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = int(np.sum(~np.isfinite(a)))
        raise ValueError(f"{name} contains {bad} NaN/inf value(s)")
    return a


def _ispline_basis(knots: np.ndarray, degree: int = 2):
    """Integrated B-spline basis on a clamped knot vector: the I_k are monotone from 0 to 1.

    Returns (integrals, derivatives, second derivatives), lists of scipy BSpline objects.
    """
    t = np.concatenate([[knots[0]] * degree, knots, [knots[-1]] * degree])
    n_basis = len(t) - degree - 1
    ints, firsts, seconds = [], [], []
    for k in range(n_basis):
        c = np.zeros(n_basis)
        c[k] = 1.0
        b = BSpline(t, c, degree, extrapolate=False)
        area = (t[k + degree + 1] - t[k]) / (degree + 1)  # integral of a B-spline
        b = BSpline(t, c / area, degree, extrapolate=False)  # now integrates to 1 (an M-spline)
        ints.append(b.antiderivative())
        firsts.append(b)
        seconds.append(b.derivative())
    return ints, firsts, seconds


@dataclass(frozen=True)
class MonotoneMap:
    """A fitted smooth monotone map ``x = h(z)`` (from :func:`fit_alignment`).

    Attributes:
        sign: +1 if ``h`` increases in ``z``, -1 if it decreases.
        intercept, weights: ``h(z) = intercept + sum_k weights[k] * I_k(sign * z)``, weights >= 0.
        z_range: (lo, hi) of ``sign * z`` covered by the fit; ``h`` is linear outside it.
        r2: coefficient of determination of ``h(z)`` against the true ``x`` (the latent's R²).
        residual_std: standard deviation of ``x - h(z)`` in units of x (the encoder's precision
            after alignment; latent noise s adds about ``2 s^2 / dt`` to an estimated g²).
    """

    sign: int
    intercept: float
    weights: np.ndarray
    knots: np.ndarray
    z_range: tuple[float, float]
    r2: float
    residual_std: float

    def _parts(self):
        return _ispline_basis(self.knots)

    def _eval(self, z: Any, order: int) -> np.ndarray:
        z = to_numpy(z, dtype=np.float64)
        u = self.sign * z
        lo, hi = self.z_range
        uc = np.clip(u, lo, hi)
        ints, firsts, seconds = self._parts()
        d1 = sum(w * np.nan_to_num(b(uc)) for w, b in zip(self.weights, firsts))
        if order == 1:
            return self.sign * d1
        if order == 2:
            d2 = sum(w * np.nan_to_num(b(uc)) for w, b in zip(self.weights, seconds))
            return np.where((u < lo) | (u > hi), 0.0, d2)  # linear continuation outside
        val = self.intercept + sum(w * np.nan_to_num(b(uc)) for w, b in zip(self.weights, ints))
        return val + d1 * (u - uc)

    def __call__(self, z: Any) -> np.ndarray:
        """h(z), same shape as ``z``."""
        return self._eval(z, 0)

    def derivative(self, z: Any) -> np.ndarray:
        """h'(z), same shape as ``z``."""
        return self._eval(z, 1)

    def second_derivative(self, z: Any) -> np.ndarray:
        """h''(z), same shape as ``z``."""
        return self._eval(z, 2)

    def inverse(self, x: Any, *, tol: float = 1e-10) -> np.ndarray:
        """z = h^{-1}(x) by vectorised bisection; same shape as ``x``.

        Where h is flat (zero slope) the smallest pre-image is returned.
        """
        x = to_numpy(x, dtype=np.float64)
        lo, hi = self.z_range
        span = hi - lo
        a = np.full(x.shape, lo - 10 * span)
        b = np.full(x.shape, hi + 10 * span)
        # bisection on u = sign * z where H(u) = h(sign * u) is increasing
        H = lambda u: self._eval(self.sign * u, 0)  # noqa: E731
        for _ in range(200):
            m = 0.5 * (a + b)
            below = H(m) < x
            a = np.where(below, m, a)
            b = np.where(below, b, m)
            if np.max(b - a, initial=0.0) < tol * max(span, 1e-12):
                break
        return self.sign * 0.5 * (a + b)


def fit_alignment(z: Any, x: Any, *, n_knots: int = 10) -> MonotoneMap:
    """Fit a smooth monotone map ``x ≈ h(z)`` from a learned latent to the true state.

    Args:
        z: learned latent, shape (N,), (N, 1) or (n_paths, T, 1).
        x: true state at the same observations, same number of elements as ``z``.
        n_knots: number of interior spline knots, spaced evenly between the 1st and 99th
            percentile of ``z`` (the extremes are added as end knots); >= 2. More knots follow a
            more curved latent but can pick up noise.

    Returns:
        A :class:`MonotoneMap`; its ``r2`` is the latent's R² against the truth.

    The direction (increasing or decreasing) is chosen by the sign of the correlation of ``z`` and
    ``x``. Raises ``ValueError`` for mismatched sizes, NaN/inf, fewer than 10 points, or a constant
    latent (which carries no information about ``x``).
    """
    zz = _as_1d(z, name="z")
    xx = _as_1d(x, name="x")
    if zz.shape != xx.shape:
        raise ValueError(f"z and x must have the same number of points; got {zz.size} and {xx.size}")
    if zz.size < 10:
        raise ValueError(f"fit_alignment needs at least 10 points; got {zz.size}")
    if not isinstance(n_knots, (int, np.integer)) or n_knots < 2:
        raise ValueError(f"n_knots must be an integer >= 2, got {n_knots!r}")
    if np.std(zz) <= 1e-12 * max(1.0, np.abs(zz).max()):
        raise ValueError("z is constant: a constant latent cannot be aligned to x")
    sign = 1 if np.corrcoef(zz, xx)[0, 1] >= 0 else -1
    u = sign * zz
    q_lo, q_hi = np.quantile(u, [0.01, 0.99])
    knots = np.unique(np.r_[u.min(), np.linspace(q_lo, q_hi, n_knots), u.max()])
    if knots.size < 2:
        raise ValueError("z takes too few distinct values to fit a smooth map")
    ints, _, _ = _ispline_basis(knots)
    A = np.column_stack([np.ones_like(u)] + [np.nan_to_num(b(u)) for b in ints])
    scale = np.std(xx) if np.std(xx) > 0 else 1.0
    lower = np.r_[-np.inf, np.zeros(len(ints))]
    sol = lsq_linear(A, xx / scale, bounds=(lower, np.full(A.shape[1], np.inf)), lsmr_tol="auto",
                     method="bvls")
    coef = sol.x * scale
    pred = A @ coef
    resid = xx - pred
    ss_tot = float(np.sum((xx - xx.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return MonotoneMap(sign=sign, intercept=float(coef[0]), weights=np.asarray(coef[1:]), knots=knots,
                       z_range=(float(knots[0]), float(knots[-1])), r2=r2, residual_std=float(np.std(resid)))


def latent_r2(z: Any, x: Any, *, n_knots: int = 10) -> float:
    """R² of the best smooth monotone map from ``z`` to ``x`` (1 = a perfect coordinate)."""
    return fit_alignment(z, x, n_knots=n_knots).r2


def ito_transform(dh: Any, d2h: Any, drift_z: Any, diffusion_z: Any) -> tuple[np.ndarray, np.ndarray]:
    """Itô's formula for ``x = h(z)``: returns ``(f_x, g_x)`` at the same points.

    Args:
        dh, d2h: h'(z) and h''(z) at the points, shape (G,) (or (G, 1)).
        drift_z, diffusion_z: f_z and g_z at the same points, same shape.

    Returns:
        ``f_x = h' f_z + 1/2 h'' g_z^2`` and ``g_x = |h'| g_z``, arrays of the input shape.
    """
    arrs = [to_numpy(a, dtype=np.float64) for a in (dh, d2h, drift_z, diffusion_z)]
    shapes = {a.shape for a in arrs}
    if len(shapes) != 1:
        raise ValueError(f"dh, d2h, drift_z and diffusion_z must have the same shape; got {[a.shape for a in arrs]}")
    h1, h2, f, g = arrs
    return h1 * f + 0.5 * h2 * g ** 2, np.abs(h1) * g


def aligned_coefficients(alignment: MonotoneMap, drift_z: Callable[[np.ndarray], Any],
                         diffusion_z: Callable[[np.ndarray], Any], x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Drift and diffusion of a latent SDE expressed in the true coordinate, on an x-grid.

    Args:
        alignment: the fitted map ``x = h(z)``.
        drift_z, diffusion_z: callables taking latent locations, a float64 array of shape (G, 1),
            and returning values of shape (G, 1) or (G,) (numpy or torch).
        x: grid of true states, shape (G,) or (G, 1) (usually the occupied region).

    Returns:
        ``(f_x, g_x)``, each of shape (G,).
    """
    xg = _as_1d(x, name="x")
    zg = alignment.inverse(xg)
    loc = zg[:, None]
    f_z = to_numpy(drift_z(loc), dtype=np.float64).reshape(-1)
    g_z = to_numpy(diffusion_z(loc), dtype=np.float64).reshape(-1)
    if f_z.shape != zg.shape or g_z.shape != zg.shape:
        raise ValueError(f"drift_z/diffusion_z must return one value per location ({zg.size}); "
                         f"got {f_z.size} and {g_z.size}")
    return ito_transform(alignment.derivative(zg), alignment.second_derivative(zg), f_z, g_z)


@dataclass(frozen=True)
class Comparison:
    """A latent SDE compared with the true one after alignment (see :func:`compare_to_truth`).

    Attributes:
        alignment: the fitted map ``x = h(z)``.
        grid: (G,) x-grid over the occupied region of the true states.
        drift, diffusion: the latent SDE moved to x by Itô's formula, (G,) each.
        drift_true, diffusion_true: the truth on the grid.
        drift_rel, diffusion_rel: relative RMSEs (RMSE / RMS of the truth on the grid).
    """

    alignment: MonotoneMap
    grid: np.ndarray
    drift: np.ndarray
    diffusion: np.ndarray
    drift_true: np.ndarray
    diffusion_true: np.ndarray
    drift_rel: float
    diffusion_rel: float

    @property
    def r2(self) -> float:
        return self.alignment.r2

    def as_dict(self) -> dict:
        return {"r2": self.r2, "precision_x": self.alignment.residual_std, "drift_rel": self.drift_rel,
                "diffusion_rel": self.diffusion_rel}


def compare_to_truth(latents: Any, x: Any, coefficients: Callable[[Any], tuple[Any, Any]], sde: Any, *,
                     grid: Any = None, n_grid: int = 100, n_knots: int = 10,
                     alignment: MonotoneMap | None = None) -> Comparison:
    """Align a 1-D latent to the true states and compare its SDE with the true one.

    Args:
        latents: learned latent at every observation, (n_paths, T, 1) (or flat).
        x: the true states at the same observations.
        coefficients: callable mapping latent locations, a float32 torch tensor (G, 1), to
            ``(drift, diffusion)`` (G, 1) in latent units (e.g. ``result.coefficients``).
        sde: the true :class:`fimcg.SDE` (1-D).
        grid: x-locations for the comparison; default ``n_grid`` points between the 2nd and 98th
            percentile of ``x`` (the occupied region, as :func:`fimcg.analysis.metrics.occupied_grid`).
        n_knots: knots of the monotone alignment (see :func:`fit_alignment`).
        alignment: a map ``x = h(z)`` fitted before (e.g. once for a whole collection of recordings
            that share the latent); by default it is fitted to ``latents`` and ``x``.
    """
    import torch

    xx = _as_1d(x, name="x")
    m = fit_alignment(latents, xx, n_knots=n_knots) if alignment is None else alignment
    if grid is None:
        lo, hi = np.quantile(xx, [0.02, 0.98])
        grid = np.linspace(lo, hi, n_grid)
    xg = _as_1d(grid, name="grid")

    def part(i):
        return lambda loc: coefficients(torch.as_tensor(loc, dtype=torch.float32))[i]
    f, g = aligned_coefficients(m, part(0), part(1), xg)
    xt = torch.as_tensor(xg[:, None], dtype=torch.float64)
    with torch.no_grad():
        ft = np.asarray(sde.drift(xt), dtype=np.float64).reshape(-1)
        gt = np.asarray(sde.diffusion(xt), dtype=np.float64).reshape(-1)
    rel = lambda a, b: float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b ** 2)))  # noqa: E731
    return Comparison(m, xg, f, g, ft, gt, rel(f, ft), rel(g, gt))


def warp_sinh(x: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z = sinh(a x) / a, which stretches the edges; returns (h, h', h'') at ``x`` (a = 0: the identity)."""
    if a == 0:
        return x, np.ones_like(x), np.zeros_like(x)
    return np.sinh(a * x) / a, np.cosh(a * x), a * np.sinh(a * x)


def warp_tanh(x: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z = tanh(a x) / a, which compresses the edges; returns (h, h', h'') at ``x`` (a = 0: the identity)."""
    if a == 0:
        return x, np.ones_like(x), np.zeros_like(x)
    t = np.tanh(a * x)
    return t / a, 1 - t ** 2, -2 * a * t * (1 - t ** 2)


def warp_cubic(x: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z = x + a x^3; returns (h, h', h'') at ``x`` (a = 0: the identity)."""
    return x + a * x ** 3, 1 + 3 * a * x ** 2, 6 * a * x


#: monotone maps z = h(x) with strength a >= 0 (a = 0: the identity); each returns (h, h', h'')
WARPS: dict[str, Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
    "tanh": warp_tanh,   # compresses the edges, like a camera that sees the wells foreshortened
    "sinh": warp_sinh,   # stretches the edges
    "cubic": warp_cubic,  # x + a x^3
}


def check_warp(kind: str, strength: Any) -> float:
    """Check a choice of :data:`WARPS`: ``kind`` one of its keys, ``strength`` finite and >= 0;
    return the strength as a float (``ValueError`` naming the problem otherwise)."""
    if kind not in WARPS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(WARPS)}")
    strength = float(strength)
    if not math.isfinite(strength) or strength < 0:
        raise ValueError(f"strength must be finite and >= 0, got {strength!r}")
    return strength


def score_coarse_graining(result, paths: Any, sde, *, grid_size: int = 80) -> dict:
    """Evaluate a coarse-graining against the truth (for synthetic data only).

    A thin wrapper over :func:`fimcg.analysis.alignment.compare_to_truth`: fits the monotone alignment
    x = h(z), maps the result's drift and diffusion to x by Itô's formula, and compares with ``sde``
    on the occupied region of ``paths``; adds the training time so far.

    Args:
        result: a :class:`fimcg.coarse_graining.CoarseGrainResult` (or the joint baseline's result).
        paths: the true states of the training frames (n_paths, T, 1).
        sde: the true 1-D system.

    Returns:
        dict with ``r2`` (of the alignment), ``drift_rel``, ``diffusion_rel`` (relative RMSE after
        alignment), ``grid``, ``drift``, ``diffusion`` (aligned, numpy (G,)), ``time_s`` (training
        time so far, from the result's history).
    """
    p = check_paths(paths)
    grid_size = check_int(grid_size, name="grid_size", minimum=2)
    if result.latents.numel() != p.numel():
        raise ValueError(f"paths hold {p.numel()} states but the result has {result.latents.numel()} latent values")
    cmp = compare_to_truth(result.latents.detach().reshape(-1), p.detach().reshape(-1),
                           lambda loc: (result.drift(loc), result.diffusion(loc)), sde, n_grid=grid_size)
    time_s = float(result.history[-1]["time_s"]) if result.history else 0.0
    return dict(r2=float(cmp.r2), drift_rel=float(cmp.drift_rel), diffusion_rel=float(cmp.diffusion_rel),
                grid=np.asarray(cmp.grid), drift=np.asarray(cmp.drift), diffusion=np.asarray(cmp.diffusion),
                time_s=time_s)
