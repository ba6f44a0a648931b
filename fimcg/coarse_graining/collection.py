"""Many recordings, one encoder: each recording's SDE, pooled across the collection, and new recordings.

A collection (:func:`fimcg.io.open_collection`) is coarse-grained with one encoder, so all its
recordings share one latent coordinate. In that coordinate every recording has its own SDE, which
the frozen estimator reads off that recording's latent paths alone. A short recording gives a rough
estimate; the collection tells how much the recordings differ, and :func:`fimcg.estimators.pooling.shrink`
moves each recording's estimate towards the collection by as much as its own uncertainty warrants
(empirical Bayes, with delete-one-path jackknife variances). A *new* recording costs no training:
its frames are encoded by the trained encoder, the estimator reads its latent paths in one pass
(plus one pass per path for the jackknife), and its estimate is shrunk towards the same prior.

Everything is tabulated on one grid over the collection's visited latent range
(:class:`Pooled`) and interpolated linearly to the locations asked for (1-D latents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..analysis.metrics import occupied_grid
from ..estimators.pooling import Prior, jackknife, shrink
from ..sde.model import Tabulated
from .data import estimate_in_contexts

__all__ = ["Pooled", "RecordingSDE", "pool", "infer_recording", "collection_grid", "GRID_POINTS", "JACKKNIFE_PIECES"]

#: points of the grid over the collection's latent range on which the SDEs are tabulated
GRID_POINTS = 100


@dataclass(frozen=True)
class Pooled:
    """Every recording's drift and diffusion on a common grid, as estimated and after pooling.

    Attributes:
        names: the recordings' names (K,).
        grid: (G, 1) latent locations (the collection's 1st to 99th percentile).
        drift, diffusion: (K, G, 1) pooled estimates.
        raw_drift, raw_diffusion: (K, G, 1) each recording's own estimate.
        drift_prior, diffusion2_prior: the collection's :class:`~fimcg.estimators.pooling.Prior`
            for the drift and for g² (mean and spread, each (G, 1)).
        drift_weight: (K, G, 1) weight each recording's own drift estimate keeps (1: none pooled).
    """

    names: list[str]
    grid: torch.Tensor
    drift: torch.Tensor
    diffusion: torch.Tensor
    raw_drift: torch.Tensor
    raw_diffusion: torch.Tensor
    drift_prior: Prior
    diffusion2_prior: Prior
    drift_weight: torch.Tensor

    def at(self, values: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
        """Interpolate tabulated ``values`` (..., G, 1) to ``locations`` (L, 1): (..., L, 1)."""
        return _interp(self.grid, values, locations)


def _interp(grid: torch.Tensor, values: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """Each row of ``values`` (..., G, 1), tabulated on the uniform ``grid`` (G, 1), at ``locations``
    (L, 1): (..., L, 1), linear between grid points, the end values held beyond them."""
    q = torch.as_tensor(locations).reshape(-1).double()
    rows = values.reshape(-1, values.shape[-2])
    out = torch.stack([Tabulated(grid[:, 0], row, extrapolate=False)(q) for row in rows])
    return out.reshape(*values.shape[:-2], q.numel(), 1).to(values.dtype)


#: a recording with fewer paths is cut into this many pieces (blocks of time) for the jackknife
JACKKNIFE_PIECES = 4


def _estimate(estimator: Any, z: torch.Tensor, dt: float, grid: torch.Tensor, *, context_size: int = 12000
              ) -> tuple[torch.Tensor, ...]:
    """(drift, g, var drift, var g²) of one recording's latent paths z (n, T, 1) on the grid.

    The jackknife leaves out one path at a time; a recording of fewer than :data:`JACKKNIFE_PIECES`
    paths is first cut into that many blocks of time (only the transitions across the cuts are lost).
    Each estimate reads at most ``context_size`` transitions at a time (as in training)."""
    n, T, d = z.shape
    pieces = -(-JACKKNIFE_PIECES // n)
    if pieces > 1 and T // pieces >= 10:
        L = T // pieces
        z = z[:, :L * pieces].reshape(n * pieces, L, d)

    def in_contexts(paths, step, loc):
        return estimate_in_contexts(estimator, paths, step, loc, context_size)
    with torch.no_grad():
        f, g, vf, vg2 = jackknife(in_contexts, z, dt, grid)
    return f, g, vf, vg2


def pool(latents: torch.Tensor, groups: list[list[int]], names: list[str], dt: float, estimator: Any, *,
         grid_points: int = GRID_POINTS) -> Pooled:
    """Each recording's SDE from its own latent paths, and the pooled estimates (module doc).

    Args:
        latents: (n_paths, T, 1) the collection's encoded paths. groups: the path indices of each
            recording. names: their names. dt: time between frames. estimator: the frozen estimator.
    """
    if latents.shape[-1] != 1:
        raise ValueError(f"pooling tabulates 1-D latents; these have d={latents.shape[-1]}")
    if len(groups) < 2:
        raise ValueError("pooling needs a collection of at least 2 recordings")
    z = latents.detach().cpu().float()
    grid = collection_grid(z, grid_points)
    est = [_estimate(estimator, z[torch.as_tensor(g)], dt, grid) for g in groups]
    f = torch.stack([e[0] for e in est]).double()
    g2 = torch.stack([e[1] ** 2 for e in est]).double()
    f_pooled, f_prior, w = shrink(f, torch.stack([e[2] for e in est]).double())
    g2_pooled, g2_prior, _ = shrink(g2, torch.stack([e[3] for e in est]).double())
    return Pooled(names=list(names), grid=grid, drift=f_pooled.float(), diffusion=g2_pooled.clamp_min(0).sqrt().float(),
                  raw_drift=f.float(), raw_diffusion=g2.sqrt().float(), drift_prior=f_prior,
                  diffusion2_prior=g2_prior, drift_weight=w.float())


def collection_grid(latents: torch.Tensor, points: int = GRID_POINTS) -> torch.Tensor:
    """The grid (points, 1) on which a collection's SDEs are tabulated: its latents' 1st to 99th percentile."""
    return occupied_grid(latents.detach().cpu().float(), n=points, lo=0.01, hi=0.99)


@dataclass(frozen=True)
class RecordingSDE:
    """The SDE of one recording in a collection's latent coordinate (:meth:`CoarseGrainResult.infer`).

    Attributes:
        latents: (n_paths, T, 1) its frames, encoded.
        dt: time between its frames.
        grid: (G, 1) the collection's grid.
        drift, diffusion: (G, 1) pooled estimates on the grid; raw_drift, raw_diffusion: its own.
        drift_weight: (G, 1) the weight its own drift estimate keeps.
    """

    latents: torch.Tensor
    dt: float
    grid: torch.Tensor
    drift: torch.Tensor
    diffusion: torch.Tensor
    raw_drift: torch.Tensor
    raw_diffusion: torch.Tensor
    drift_weight: torch.Tensor

    def coefficients(self, locations: Any, *, pooled: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Drift and diffusion (L, 1) at latent ``locations`` (L, 1), interpolated linearly from the grid
        (pooled with the collection, or the recording's own estimate); beyond the grid the end values
        are held."""
        f, g = (self.drift, self.diffusion) if pooled else (self.raw_drift, self.raw_diffusion)
        loc = torch.as_tensor(locations, dtype=torch.float32).reshape(-1, 1)
        return _interp(self.grid, f, loc), _interp(self.grid, g, loc)


def infer_recording(latents: torch.Tensor, dt: float, estimator: Any, pooled: Pooled | None, *,
                    grid: torch.Tensor | None = None) -> RecordingSDE:
    """The SDE of a new recording's latent paths (n_paths, T, 1) on ``pooled``'s grid, shrunk towards
    its prior; with ``pooled=None``, its own estimate on ``grid`` (G, 1), nothing pooled."""
    grid = pooled.grid if pooled is not None else grid
    f, g, vf, vg2 = _estimate(estimator, latents.detach().cpu().float(), dt, grid)
    if pooled is None:
        return RecordingSDE(latents=latents.detach().cpu(), dt=dt, grid=grid, drift=f.float(), diffusion=g.float(),
                            raw_drift=f.float(), raw_diffusion=g.float(), drift_weight=torch.ones_like(f))
    f_s, _, w = shrink(f[None].double(), vf[None].double(), prior=pooled.drift_prior)
    g2_s, _, _ = shrink((g ** 2)[None].double(), vg2[None].double(), prior=pooled.diffusion2_prior)
    return RecordingSDE(latents=latents.detach().cpu(), dt=dt, grid=grid, drift=f_s[0].float(),
                        diffusion=g2_s[0].clamp_min(0).sqrt().float(), raw_drift=f.float(), raw_diffusion=g.float(),
                        drift_weight=w[0].float())
