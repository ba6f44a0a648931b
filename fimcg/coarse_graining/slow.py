"""Choosing the slow coordinate: candidate coordinates from the frames, judged by the frozen estimator.

The coarse-grained variable is the one whose dynamics is slow and Markov at the observation scale.
Geometry alone (PCA, then Isomap) finds the largest-variance manifold of the frames, which a bright
fast distractor owns. The ``"slow"`` initialisation of :func:`fimcg.coarse_grain`
(``InitConfig(method="slow")``) therefore

1. builds candidate coordinates from the PCA features u of the frames (:func:`slow_candidates`):
   the geometric one (Isomap on u), the slowest linear combination of u (TICA at lag τ: the
   generalized eigenvectors of the symmetrised lagged covariance C(τ) against C(0), whose eigenvalue
   λ is the autocorrelation at lag τ; implied time scale -τ/log λ), and Isomap on the m slowest
   TICA components scaled by their eigenvalues (a kinetic map: the slow manifold, unrolled, for
   m = 2 .. ``components``);
2. asks the frozen estimator (the FIM) for the SDE of each candidate and scores how much that SDE
   predicts the candidate's own future at several lags
   (:func:`fimcg.analysis.markov.predictive_information`: nats per transition, invariant to a
   monotone re-parameterisation). A fast nuisance decorrelates (score ≈ 0), a coordinate mixing the
   slow variable with others is mispredicted at long lags, the slow Markov coordinate scores highest;
3. initialises the encoder and decoder on the best candidate (as the Isomap initialisation does),
   after which the FIM's frame-space likelihood refines the encoder.

When even the best candidate predicts nothing beyond the longest lag (information below
:data:`NOTHING_SLOW_NATS`, about an autocorrelation of 0.3 for a Gaussian coordinate), either the
frames show nothing slow at this time scale or no candidate isolates it, and a
:class:`NoSlowVariableWarning` says so instead of a confident SDE.

Status: the candidates are linear (TICA) or geometric; on scenes where the slow variable is a
nonlinear function of the frames (a distractor crossing the particle, flicker, a turning object)
the best of them is still far from the particle (latent R² about 0.8 on the fast bright distractor,
against 0.02 for geometry alone). Nonlinear candidates are the next step.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from scipy.linalg import eigh

from .._validation import check_int
from ..analysis.markov import predictive_information
from .autoencoder import isomap_coordinates

__all__ = ["NoSlowVariableWarning", "NOTHING_SLOW_NATS", "tica", "slow_candidates", "judge_candidates"]

#: mutual information of a Gaussian coordinate with autocorrelation 0.3 at the longest lag (-log(1 - 0.09)/2)
NOTHING_SLOW_NATS = -0.5 * math.log(1 - 0.3 ** 2)
#: ridge on C(0) relative to its mean eigenvalue (keeps TICA stable on nearly collinear features)
TICA_RIDGE = 1e-6
#: neighbours of the inverse-distance extension of Isomap coordinates from landmarks to all frames
EXTENSION_NEIGHBOURS = 8


class NoSlowVariableWarning(UserWarning):
    """No candidate coordinate of the frames stays predictable beyond the longest lag."""


def tica(feats: torch.Tensor, *, lag: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Time-lagged independent components of features (n_paths, T, k) at ``lag`` observations.

    Returns ``(components (n_paths, T, dim), eigenvalues (dim,))``, slowest first; each component
    has zero mean and unit variance over the data, and its eigenvalue is its autocorrelation at the lag.
    """
    lag = check_int(lag, name="lag", minimum=1)
    n, T, k = feats.shape
    if lag >= T:
        raise ValueError(f"lag={lag} must be shorter than the paths (T = {T})")
    x = feats.detach().double().cpu()
    x = x - x.reshape(-1, k).mean(0)
    a, b = x[:, :-lag].reshape(-1, k), x[:, lag:].reshape(-1, k)
    c0 = (a.T @ a + b.T @ b) / (2 * a.shape[0])
    ct = (a.T @ b + b.T @ a) / (2 * a.shape[0])
    c0 = c0 + TICA_RIDGE * torch.trace(c0) / k * torch.eye(k, dtype=c0.dtype)
    w, v = eigh(ct.numpy(), c0.numpy())
    order = np.argsort(w)[::-1][:min(dim, k)]
    comps = (x.reshape(-1, k).numpy() @ v[:, order]).reshape(n, T, -1)
    comps = (comps - comps.reshape(-1, comps.shape[-1]).mean(0)) / comps.reshape(-1, comps.shape[-1]).std(0)
    return torch.as_tensor(comps, dtype=torch.float32), torch.as_tensor(w[order].copy(), dtype=torch.float32)


def _extend(points: np.ndarray, idx: np.ndarray, coords: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """Coordinates of every point from those of the landmarks ``points[idx]``: inverse-distance
    weighted mean over the nearest landmarks."""
    land = points[idx]
    out = np.empty(points.shape[0])
    for s in range(0, points.shape[0], chunk):
        d2 = ((points[s:s + chunk, None, :] - land[None]) ** 2).sum(-1)
        near = np.argpartition(d2, EXTENSION_NEIGHBOURS - 1, axis=1)[:, :EXTENSION_NEIGHBOURS]
        w = 1.0 / (np.sqrt(np.take_along_axis(d2, near, 1)) + 1e-9)
        out[s:s + chunk] = (w * coords[near]).sum(1) / w.sum(1)
    return out


def _isomap_everywhere(points: torch.Tensor, *, seed: int, max_points: int) -> torch.Tensor:
    """1-D Isomap coordinate of every row of ``points`` (N, m), via landmarks: (N,)."""
    idx, coords = isomap_coordinates(points, 1, seed=seed, max_points=max_points)
    flat = points.detach().double().cpu().numpy()
    return torch.as_tensor(_extend(flat, np.asarray(idx), np.asarray(coords[:, 0], dtype=np.float64)),
                           dtype=torch.float32)


def slow_candidates(feats: torch.Tensor, *, lag: int, components: int, seed: int, max_points: int
                    ) -> tuple[dict[str, torch.Tensor], dict]:
    """Candidate 1-D coordinates of frames from their features (n_paths, T, k) (module doc, step 1).

    Returns ``(candidates, facts)``: {name: coordinate (n_paths, T)} and the TICA eigenvalues and
    implied time scales (in observation steps).
    """
    n, T, k = feats.shape
    comps, lam = tica(feats, lag=lag, dim=components)
    out = {"PCA/Isomap": _isomap_everywhere(feats.reshape(-1, k), seed=seed, max_points=max_points).reshape(n, T),
           "TICA 1": comps[..., 0]}
    for m in range(2, comps.shape[-1] + 1):
        kinetic = comps[..., :m] * lam[:m].clamp_min(0)
        out[f"slow Isomap {m}"] = _isomap_everywhere(kinetic.reshape(-1, m), seed=seed,
                                                     max_points=max_points).reshape(n, T)
    timescales = [float(-lag / math.log(min(max(float(v), 1e-12), 1 - 1e-12))) for v in lam]
    return out, {"tica_eigenvalues": [float(v) for v in lam], "tica_timescales_steps": timescales}


def judge_candidates(candidates: dict[str, torch.Tensor], dt: float, estimator: Callable, *,
                     lags: tuple[int, ...]) -> list[dict]:
    """Score every candidate by the estimator's predictive information about its future (module
    doc, step 2); returns one record per candidate, best first."""
    rows = []
    for name, z in candidates.items():
        try:
            info = predictive_information(z, dt, estimator, lags=lags)
            rows.append({"name": name, "score": info.score, "per_lag": list(info.per_lag)})
        except ValueError as exc:  # a constant candidate, say
            rows.append({"name": name, "score": -math.inf, "per_lag": [], "error": str(exc)})
    return sorted(rows, key=lambda r: -r["score"])
