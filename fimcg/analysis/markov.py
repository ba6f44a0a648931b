"""How well an inferred SDE predicts its coordinate's own future: the FIM as a judge of coordinates.

A coarse-grained coordinate z is good when it is slow and Markov at the observation scale: the SDE
an estimator reads off z at the frame step dt should predict where z goes over longer lags too
(Chapman-Kolmogorov). :func:`predictive_information` measures exactly that, in a way that does not
depend on how z is parameterised:

1. Cut z into ``n_bins`` bins of equal occupation (data quantiles), so every bin holds the same
   share of the data whatever the coordinate's scale or warping.
2. Ask the estimator (the frozen FIM, or any estimator with the package's call shape) for drift
   f and diffusion g of z, and build the generator Q of the 1-D SDE on a fine grid of cells
   (finite volumes for the Fokker-Planck equation on cells of equal data occupation, with Itô's
   D = g²/2 inside the derivative, reflecting ends; :func:`generator_matrix`). ``expm(Q τ)`` propagates a cell to lag τ.
3. Aggregate the fine cells into the quantile bins (each cell weighted by its data occupation)
   and score the observed bin-to-bin transitions at lags ``lags`` (in frames):

       I(τ) = mean over observed transitions (i -> j) of log P_model(j | i, τ) + log n_bins.

   ``log n_bins`` is the log-likelihood of a model that knows nothing (every bin equally likely),
   so I(τ) is the information (nats per transition) the SDE's predictions carry about the future
   bin, beyond the bins' occupation. A fast coordinate decorrelates before a few frames: I ≈ 0. A
   slow, Markov coordinate whose SDE the estimator captures: I clearly > 0 at every lag. A
   coordinate that mixes a slow variable with others, or is not Markov, is mispredicted at long
   lags, where I falls, and can turn negative (the model is confidently wrong).

Because bins are quantiles and the generator transforms with the coordinate, a smooth monotone
re-parameterisation of z leaves I unchanged (up to the estimator's own error and the grid).
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from scipy.linalg import expm

from .._validation import check_int, check_positive, to_numpy

__all__ = ["PredictiveInformation", "predictive_information", "generator_matrix", "autocorrelation"]

#: smallest transition probability a model is credited with (a never-predicted transition costs log 1e-6)
PROBABILITY_FLOOR = 1e-6
#: the fine cells span these quantiles of the coordinate (the tails beyond are assigned to the end cells)
GRID_QUANTILES = (0.002, 0.998)


@dataclass(frozen=True)
class PredictiveInformation:
    """The result of :func:`predictive_information`.

    Attributes:
        score: mean of ``per_lag`` (nats per transition).
        per_lag: I(τ) for each lag, nats per transition.
        lags: the lags, in observation steps.
        n_bins: the quantile bins.
    """

    score: float
    per_lag: tuple[float, ...]
    lags: tuple[int, ...]
    n_bins: int


def generator_matrix(drift: np.ndarray, diffusion: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Generator (rate matrix, rows sum to 0) of a 1-D Itô SDE on the cells between ``edges``.

    Finite volumes for the Fokker-Planck equation ∂p/∂t = -∂(f p)/∂x + ∂²(D p)/∂x², D = g²/2, on any
    increasing edges: the flux across the face between cells i and i + 1 (centres δ apart) is the
    drift at the face carrying the upwind density, minus (D_{i+1} p_{i+1} - D_i p_i)/δ with D at the
    cell centres (D inside the derivative: Itô's convention, so a change of coordinates by Itô's
    formula gives the same transition probabilities). With cell widths w the rates are
    ``(max(f, 0) + D_i/δ) / w_i`` upwards and ``(max(-f, 0) + D_{i+1}/δ) / w_{i+1}`` downwards; the
    outer faces are closed (reflecting).

    Args:
        drift: f at the M - 1 inner faces ``edges[1:-1]``, shape (M - 1,).
        diffusion: g at the M cell centres, shape (M,).
        edges: M + 1 strictly increasing cell edges.

    Returns:
        (M, M) float64 rate matrix.
    """
    edges = np.asarray(edges, dtype=np.float64)
    m = edges.size - 1
    f = np.asarray(drift, dtype=np.float64).reshape(-1)
    g = np.asarray(diffusion, dtype=np.float64).reshape(-1)
    if m < 2 or f.size != m - 1 or g.size != m:
        raise ValueError(f"need M >= 2 cells, M - 1 face drifts and M centre diffusions; got {m} cells, "
                         f"{f.size} drifts, {g.size} diffusions")
    width = np.diff(edges)
    if not (width > 0).all():
        raise ValueError("edges must be strictly increasing")
    centres = 0.5 * (edges[1:] + edges[:-1])
    d, delta = 0.5 * g ** 2, np.diff(centres)
    up = (np.maximum(f, 0) + d[:-1] / delta) / width[:-1]
    down = (np.maximum(-f, 0) + d[1:] / delta) / width[1:]
    q = np.zeros((m, m))
    idx = np.arange(m - 1)
    q[idx, idx + 1] = up
    q[idx + 1, idx] = down
    q[np.arange(m), np.arange(m)] = -q.sum(axis=1)
    return q


def predictive_information(z: Any, dt: float, estimator: Callable[..., tuple[Any, Any]], *,
                           lags: Sequence[int] = (1, 5, 20), n_bins: int = 10,
                           n_cells: int = 80) -> PredictiveInformation:
    """How much an estimator's SDE for a coordinate predicts the coordinate's future (module doc).

    Args:
        z: the coordinate, (n_paths, T) or (n_paths, T, 1), observed every ``dt``.
        dt: time between observations (> 0).
        estimator: ``(paths (n_paths, T, 1), dt, locations (G, 1)) -> (drift (G, 1), diffusion (G, 1))``,
            e.g. a :class:`fimcg.fim.FIM` or :func:`fimcg.estimators.local_linear`. It sees z standardised.
        lags: prediction lags, in observation steps (each >= 1 and shorter than the paths).
        n_bins: quantile bins the future is scored in (>= 2).
        n_cells: cells of the fine grid the generator lives on (>= n_bins).

    Returns:
        :class:`PredictiveInformation`.

    Raises:
        ValueError: z not of shape (n_paths, T[, 1]), non-finite or constant, or bad lags/bins.
    """
    zz = to_numpy(z, dtype=np.float64)
    if zz.ndim == 3 and zz.shape[-1] == 1:
        zz = zz[..., 0]
    if zz.ndim != 2:
        raise ValueError(f"z must have shape (n_paths, T) or (n_paths, T, 1), got {zz.shape}")
    if not np.isfinite(zz).all():
        raise ValueError("z contains NaN/inf")
    dt = check_positive(dt, name="dt")
    n_bins = check_int(n_bins, name="n_bins", minimum=2)
    n_cells = check_int(n_cells, name="n_cells", minimum=n_bins)
    lags = tuple(check_int(lag, name="lag", minimum=1) for lag in lags)
    if not lags or max(lags) >= zz.shape[1]:
        raise ValueError(f"lags must be non-empty and shorter than the paths (T = {zz.shape[1]}), got {lags}")
    sd = zz.std()
    if not sd > 1e-12 * (1 + abs(zz.mean())):
        raise ValueError("z is constant: it carries no dynamics to predict")
    zz = (zz - zz.mean()) / sd
    # cells of equal occupation (data quantiles): the same partition of the data in any monotone
    # re-parameterisation of z, so the score does not depend on how z is warped
    edges = np.quantile(zz, np.linspace(GRID_QUANTILES[0], GRID_QUANTILES[1], n_cells + 1))
    edges = np.maximum.accumulate(edges + 1e-9 * np.arange(n_cells + 1))  # strictly increasing for ties
    centres = 0.5 * (edges[1:] + edges[:-1])
    points = torch.as_tensor(np.concatenate([edges[1:-1], centres])[:, None], dtype=torch.float32)
    with torch.no_grad():  # drift at the inner faces, diffusion at the cell centres, in one call
        f, g = estimator(torch.as_tensor(zz[..., None], dtype=torch.float32), dt, points)
    q = generator_matrix(to_numpy(f).reshape(-1)[:n_cells - 1], to_numpy(g).reshape(-1)[n_cells - 1:], edges)
    # data -> fine cells and quantile bins; each cell belongs to the bin of its centre
    cells = np.clip(np.searchsorted(edges, zz) - 1, 0, n_cells - 1)
    cuts = np.quantile(zz, np.linspace(0, 1, n_bins + 1)[1:-1])
    bins = np.searchsorted(cuts, zz)
    cell_bin = np.searchsorted(cuts, centres)
    occupation = np.bincount(cells.ravel(), minlength=n_cells).astype(np.float64)
    into_bins = np.zeros((n_cells, n_bins))
    into_bins[np.arange(n_cells), cell_bin] = 1.0
    from_bins = into_bins.T * occupation[None, :]
    from_bins /= np.maximum(from_bins.sum(axis=1, keepdims=True), 1e-300)
    per_lag = []
    for lag in lags:
        p = from_bins @ expm(q * lag * dt) @ into_bins  # (n_bins, n_bins): P(bin j at t + lag | bin i at t)
        p = np.maximum(p, PROBABILITY_FLOOR)
        p /= p.sum(axis=1, keepdims=True)
        a, b = bins[:, :-lag].ravel(), bins[:, lag:].ravel()
        per_lag.append(float(np.mean(np.log(p[a, b])) + np.log(n_bins)))
    return PredictiveInformation(score=float(np.mean(per_lag)), per_lag=tuple(per_lag), lags=lags, n_bins=n_bins)


def implied_timescale(rho: float, lag: float) -> float:
    """The time scale ``-lag / log(rho)`` implied by an autocorrelation (or eigenvalue) ``rho`` at
    ``lag``, in the units of ``lag``: ``inf`` for ``rho >= 1`` (no decay seen), ``0`` for ``rho <= 0``."""
    rho = float(rho)
    if rho >= 1:
        return math.inf
    return float(-lag / math.log(rho)) if rho > 0 else 0.0


def autocorrelation(z: Any, lag: int) -> float:
    """Autocorrelation of a coordinate at ``lag`` observation steps, pooled over paths.

    Args:
        z: (n_paths, T) or (n_paths, T, 1), finite and not constant.
        lag: observation steps (>= 1, shorter than the paths).

    Returns:
        corr(z_t, z_{t+lag}) with the mean and variance of all of z (dimensionless, in [-1, 1]).
    """
    x = to_numpy(z, dtype=np.float64)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 2:
        raise ValueError(f"z must have shape (n_paths, T) or (n_paths, T, 1), got {x.shape}")
    lag = check_int(lag, name="lag", minimum=1)
    if lag >= x.shape[1]:
        raise ValueError(f"lag={lag} must be shorter than the paths (T = {x.shape[1]})")
    if not np.isfinite(x).all() or x.std() == 0:
        raise ValueError("z must be finite and not constant")
    x = (x - x.mean()) / x.std()
    return float((x[:, :-lag] * x[:, lag:]).mean())
