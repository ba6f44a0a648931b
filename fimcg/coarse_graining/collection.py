"""Many recordings, one encoder: each recording's SDE, pooled across the collection, and new recordings.

A collection (:func:`fimcg.io.open_collection`) is coarse-grained with one encoder, so all its
recordings share one latent coordinate. In that coordinate every recording has its own SDE, which
the frozen estimator reads off that recording's latent paths alone. A short recording gives a rough
estimate; the collection says what kind of functions its recordings' drifts and diffusions are
(:mod:`fimcg.estimators.pooling`): a family started from the principal directions of the
recordings' estimates, refined on all the collection's transitions, its rank chosen by
cross-validation on the collection. Each recording's few coefficients in that family are fitted to
its own transitions, and its pooled estimate is that fit plus the share of its own estimate that
cross-validation keeps. ``rank=0`` pools towards the collection's mean alone (the ablation).

A *new* recording costs no training: its frames are encoded by the trained encoder, the estimator
reads its latent paths in one pass, and its coefficients are one small least-squares fit.

Everything is tabulated on one grid over the collection's visited latent range
(:class:`Pooled`) and interpolated linearly to the locations asked for (1-D latents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..analysis.metrics import occupied_grid
from ..estimators.pooling import MAX_FAMILY_RANK, Family, fit_family, fold_estimates, select_family
from ..sde.model import Tabulated
from .data import estimate_in_contexts

__all__ = ["Pooled", "RecordingSDE", "pool", "infer_recording", "collection_grid", "GRID_POINTS"]

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
        drift_family, diffusion2_family: the collection's :class:`~fimcg.estimators.pooling.Family`
            of drifts and of g² (rank 0: the mean alone).
        drift_coefficients, diffusion2_coefficients: (K, r) each recording's coordinates in them:
            its parameters in the shared latent, comparable across recordings.
        drift_centre: (K, G, 1) each recording's drift in the family (its fit).
    """

    names: list[str]
    grid: torch.Tensor
    drift: torch.Tensor
    diffusion: torch.Tensor
    raw_drift: torch.Tensor
    raw_diffusion: torch.Tensor
    drift_family: Family
    diffusion2_family: Family
    drift_coefficients: torch.Tensor
    diffusion2_coefficients: torch.Tensor
    drift_centre: torch.Tensor

    @property
    def drift_weight(self) -> float:
        """The share of its own drift estimate every recording keeps (cross-validated,
        :attr:`~fimcg.estimators.pooling.Family.own_weight`; 0: the family fit alone, 1: nothing pooled)."""
        return self.drift_family.own_weight

    @property
    def diffusion2_weight(self) -> float:
        """The same for g²."""
        return self.diffusion2_family.own_weight

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


#: transitions the estimator reads at a time (as in training)
CONTEXT_SIZE = 12000


@dataclass(frozen=True)
class _Estimates:
    """One recording's own estimates on the grid (each (G,), float64) and its estimates without
    each fold of its paths (F, G) (:func:`~fimcg.estimators.pooling.fold_estimates`)."""

    drift: torch.Tensor
    g2: torch.Tensor
    drift_leave_out: torch.Tensor
    g2_leave_out: torch.Tensor


def _estimate(estimator: Any, z: torch.Tensor, dt: float, grid: torch.Tensor) -> _Estimates:
    """One recording's latent paths z (n, T, 1) read by the estimator on the grid, with all its
    paths and without each fold of them (at most :data:`CONTEXT_SIZE` transitions at a time)."""
    def in_contexts(paths, step, loc):
        return estimate_in_contexts(estimator, paths, step, loc, CONTEXT_SIZE)
    with torch.no_grad():
        f, g, f_out, g2_out = fold_estimates(in_contexts, z, dt, grid)
    return _Estimates(drift=f[:, 0].double(), g2=(g[:, 0] ** 2).double(), drift_leave_out=f_out[..., 0].double(),
                      g2_leave_out=g2_out[..., 0].double())


def pool(latents: torch.Tensor, groups: list[list[int]], names: list[str], dt: float, estimator: Any, *,
         grid_points: int = GRID_POINTS, rank: int | None = None, max_rank: int = MAX_FAMILY_RANK) -> Pooled:
    """Each recording's SDE from its own latent paths, and the pooled estimates (module doc).

    Args:
        latents: (n_paths, T, 1) the collection's encoded paths (or any 1-D paths, e.g. true states).
            groups: the path indices of each recording. names: their names. dt: time between frames.
            estimator: the frozen estimator.
        grid_points: points of the grid the SDEs are tabulated on.
        rank: the rank of the drift and g² families; default chosen by cross-validation on the
            collection (up to ``max_rank``); 0: the collection's mean alone.
    """
    if latents.shape[-1] != 1:
        raise ValueError(f"pooling tabulates 1-D latents; these have d={latents.shape[-1]}")
    if len(groups) < 2:
        raise ValueError("pooling needs a collection of at least 2 recordings")
    if rank is not None and not 0 <= int(rank) <= len(groups) - 1:
        raise ValueError(f"rank must be between 0 and {len(groups) - 1} (recordings - 1), got {rank!r}")
    z = latents.detach().cpu().float()
    grid = collection_grid(z, grid_points)
    paths = [z[torch.as_tensor(g)] for g in groups]
    est = [_estimate(estimator, p, dt, grid) for p in paths]
    f = torch.stack([e.drift for e in est])
    g2 = torch.stack([e.g2 for e in est])
    options = dict(ranks=None if rank is None else [int(rank)], max_rank=max_rank)
    f_family = select_family(f, grid, paths, dt, g2=g2, leave_out=[e.drift_leave_out for e in est], **options)
    f_coef, f_centre, f_pooled = (torch.stack(t) for t in zip(*[
        _in_family(f_family, p, dt, f[k], g2=g2[k]) for k, p in enumerate(paths)]))
    g_family = select_family(g2, grid, paths, dt, g2=g2, target="diffusion2", drift=f_pooled,
                             leave_out=[e.g2_leave_out for e in est], **options)
    g_coef, _, g2_pooled = (torch.stack(t) for t in zip(*[
        _in_family(g_family, p, dt, g2[k], g2=g2[k], target="diffusion2", drift=f_pooled[k])
        for k, p in enumerate(paths)]))
    col = lambda t: t[..., None].float()  # noqa: E731  (K, G) -> (K, G, 1)
    return Pooled(names=list(names), grid=grid, drift=col(f_pooled), diffusion=col(g2_pooled.clamp_min(0).sqrt()),
                  raw_drift=col(f), raw_diffusion=col(g2.sqrt()), drift_family=f_family, diffusion2_family=g_family,
                  drift_coefficients=f_coef.float(), diffusion2_coefficients=g_coef.float(), drift_centre=col(f_centre))


def _in_family(family: Family, paths: torch.Tensor, dt: float, own: torch.Tensor, *, g2: torch.Tensor,
               target: str = "drift", drift: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One recording in a collection's ``family``: its coordinates (r,), its fit (G,) and its pooled
    estimate (G,), the fit plus the family's ``own_weight`` of the difference to its ``own`` estimate (G,)."""
    coef = fit_family(family, paths, dt, g2=g2, target=target, drift=drift)
    centre = family.values(coef)
    return coef, centre, centre + family.own_weight * (own - centre)


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
        drift_weight: the share of its own drift estimate kept (1: nothing pooled).
        drift_centre: (G, 1) its drift in the collection's family (None when nothing was pooled).
        drift_coefficients, diffusion2_coefficients: (r,) its coordinates in the collection's
            families (None when nothing was pooled).
    """

    latents: torch.Tensor
    dt: float
    grid: torch.Tensor
    drift: torch.Tensor
    diffusion: torch.Tensor
    raw_drift: torch.Tensor
    raw_diffusion: torch.Tensor
    drift_weight: float = 1.0
    drift_centre: torch.Tensor | None = None
    drift_coefficients: torch.Tensor | None = None
    diffusion2_coefficients: torch.Tensor | None = None

    def coefficients(self, locations: Any, *, pooled: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Drift and diffusion (L, 1) at latent ``locations`` (L, 1), interpolated linearly from the grid
        (pooled with the collection, or the recording's own estimate); beyond the grid the end values
        are held."""
        f, g = (self.drift, self.diffusion) if pooled else (self.raw_drift, self.raw_diffusion)
        loc = torch.as_tensor(locations, dtype=torch.float32).reshape(-1, 1)
        return _interp(self.grid, f, loc), _interp(self.grid, g, loc)


def infer_recording(latents: torch.Tensor, dt: float, estimator: Any, pooled: Pooled | None, *,
                    grid: torch.Tensor | None = None) -> RecordingSDE:
    """The SDE of a new recording's latent paths (n_paths, T, 1) on ``pooled``'s grid, fitted in the
    collection's families and pooled with the collection's weights; with ``pooled=None``, its own
    estimate on ``grid`` (G, 1), nothing pooled."""
    grid = pooled.grid if pooled is not None else grid
    z = latents.detach().cpu().float()
    with torch.no_grad():
        own_f, own_g = estimate_in_contexts(estimator, z, dt, grid, CONTEXT_SIZE)
    if pooled is None:
        return RecordingSDE(latents=latents.detach().cpu(), dt=dt, grid=grid, drift=own_f.float(),
                            diffusion=own_g.float(), raw_drift=own_f.float(), raw_diffusion=own_g.float())
    own_f, own_g2 = own_f[:, 0].double(), (own_g[:, 0] ** 2).double()
    f_coef, f_centre, f = _in_family(pooled.drift_family, z, dt, own_f, g2=own_g2)
    g_coef, _, g2 = _in_family(pooled.diffusion2_family, z, dt, own_g2, g2=own_g2, target="diffusion2", drift=f)
    col = lambda t: t[:, None].float()  # noqa: E731
    return RecordingSDE(latents=latents.detach().cpu(), dt=dt, grid=grid, drift=col(f), diffusion=col(g2.clamp_min(0).sqrt()),
                        raw_drift=col(own_f), raw_diffusion=col(own_g2.sqrt()), drift_weight=pooled.drift_weight,
                        drift_centre=col(f_centre), drift_coefficients=f_coef.float(),
                        diffusion2_coefficients=g_coef.float())
