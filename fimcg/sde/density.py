"""The stationary density of a one-dimensional SDE (the zero-flux solution of the Fokker-Planck equation).
"""

from __future__ import annotations

import math
from typing import Any
import numpy as np
import torch
from .._validation import as_tensor, check_finite, check_int, check_interval
from .model import SDE


def _log_density_on_grid(sde: SDE, lo: float, hi: float, n_grid: int):
    """Unnormalised log p on a uniform float64 grid; -inf where g == 0. Returns (grid, logp)."""
    grid = torch.linspace(lo, hi, n_grid, dtype=torch.float64)
    with torch.no_grad():
        f = sde.drift(grid[:, None])[:, 0]
        g = sde.diffusion(grid[:, None])[:, 0]
    if f.shape != grid.shape or g.shape != grid.shape:
        raise ValueError("the SDE's drift/diffusion must map (G, 1) states to (G, 1)")
    if not bool(torch.isfinite(f).all()) or not bool(torch.isfinite(g).all()):
        raise ValueError(f"the SDE's drift or diffusion is not finite on the domain ({lo:g}, {hi:g}); "
                         "pass a smaller domain=")
    if bool((g < 0).any()):
        raise ValueError("the SDE's diffusion is negative somewhere in the domain; g must be >= 0")
    pos = (g > 1e-12 * max(float(g.max()), 1e-300)).numpy()
    if not pos.any():
        raise ValueError(f"the diffusion is zero on the whole domain ({lo:g}, {hi:g})")
    idx = np.flatnonzero(pos)
    if idx[-1] - idx[0] + 1 != idx.size:
        raise ValueError("the diffusion vanishes inside the domain, splitting it into separate regions; "
                         "the stationary density is not unique there (pass a domain= inside one region)")
    i0, i1 = int(idx[0]), int(idx[-1]) + 1
    x, f, g2 = grid[i0:i1], f[i0:i1], g[i0:i1] ** 2
    logp = torch.full_like(grid, -math.inf)
    if x.numel() < 3:
        raise ValueError(f"the diffusion is positive on too small a part of the domain ({lo:g}, {hi:g})")
    phi = torch.cat([torch.zeros(1, dtype=x.dtype), torch.cumulative_trapezoid(2 * f / g2, x)])
    logp[i0:i1] = phi - torch.log(g2)
    return grid, logp, (i0, i1)


def stationary_density(sde: SDE, x: Any, *, domain: tuple[float, float] | None = None,
                       n_grid: int = 20001) -> torch.Tensor:
    """Stationary density p(x) of a 1-D SDE, from the zero-flux Fokker-Planck solution.

    p(x) ∝ exp( ∫ 2 f(y) / g(y)^2 dy ) / g(x)^2, integrated by the trapezoid rule on a fine grid,
    restricted to the interval where g > 0 (so semicircle diffusions, whose g vanishes at the edges,
    work), normalised to integrate to 1 and linearly interpolated at ``x``. Works for any 1-D SDE.

    Args:
        sde: a 1-D :class:`fimcg.SDE` whose drift confines the particle.
        x: evaluation points, shape (G,) or (G, 1).
        domain: ``(lo, hi)`` to integrate over. ``None`` finds it: the grid grows from (-8, 8)
            until the density is negligible (< e^-40 of its peak) at both ends, then is refined
            to the region that holds all but a negligible part of the mass.
        n_grid: grid points of the integration (>= 101).

    Returns:
        Density values, shape (G,), dtype and device of ``x`` (float32 for non-float input); 0
        outside the support.

    Raises:
        ValueError: ``sde.dim != 1``, NaN in ``x``, a bad ``domain``, or a density that is not
            normalisable (mass escaping to infinity, e.g. a non-confining drift).
    """
    if not isinstance(sde, SDE):
        raise TypeError(f"sde must be a fimcg.SDE, got {type(sde).__name__}")
    if sde.dim != 1:
        raise ValueError(f"stationary_density needs a 1-D SDE; {sde.name!r} has dim={sde.dim}")
    xt = as_tensor(x, name="x")
    if xt.ndim == 2 and xt.shape[1] == 1:
        xt = xt[:, 0]
    if xt.ndim != 1:
        raise ValueError(f"x must have shape (G,) or (G, 1); got shape {tuple(xt.shape)}")
    check_finite(xt, name="x")
    n_grid = check_int(n_grid, name="n_grid", minimum=101)
    cutoff = -40.0

    if domain is not None:
        lo, hi = check_interval(domain, name="domain")
        grid, logp, _ = _log_density_on_grid(sde, lo, hi, n_grid)
    else:
        half = 8.0
        while True:
            grid, logp, (i0, i1) = _log_density_on_grid(sde, -half, half, n_grid)
            peak = float(logp.max())
            if not math.isfinite(peak):
                raise ValueError(f"the stationary density of {sde.name!r} is not normalisable")
            # an end of the positive-g interval at the grid boundary must carry negligible density
            open_lo = i0 == 0 and float(logp[0]) - peak > cutoff
            open_hi = i1 == n_grid and float(logp[-1]) - peak > cutoff
            if not (open_lo or open_hi):
                break
            half *= 4
            if half > 1e4:
                raise ValueError(f"the stationary density of {sde.name!r} does not decay within |x| < 1e4 "
                                 "(the drift does not confine the particle); pass domain= explicitly")
        keep = np.flatnonzero((logp - peak > cutoff).numpy())
        step = float(grid[1] - grid[0])
        lo = float(grid[max(keep[0] - 1, 0)]) - step
        hi = float(grid[min(keep[-1] + 1, n_grid - 1)]) + step
        grid, logp, _ = _log_density_on_grid(sde, lo, hi, n_grid)

    peak = float(logp.max())
    p = torch.exp(logp - peak)
    p = p / torch.trapezoid(p, grid)
    vals = np.interp(xt.detach().cpu().double().numpy(), grid.numpy(), p.numpy(), left=0.0, right=0.0)
    return torch.as_tensor(vals, dtype=xt.dtype, device=xt.device)


def sample_stationary(sde: SDE, n: int, *, domain: tuple[float, float], generator: torch.Generator | None = None,
                      n_grid: int = 4001) -> torch.Tensor:
    """Draws from the stationary density of a 1-D SDE, by inverting its CDF on a grid.

    The CDF is the trapezoid integral of :func:`stationary_density` on ``n_grid`` points spanning
    ``domain``; uniform draws are mapped through its inverse by linear interpolation.

    Args:
        sde: a 1-D :class:`fimcg.SDE` whose drift confines the particle.
        n: number of draws (>= 1).
        domain: ``(lo, hi)``, the interval the draws come from (it should hold nearly all the mass).
        generator: torch random generator of the uniform draws (``None``: the global one).
        n_grid: points of the CDF grid (>= 101).

    Returns:
        The draws, shape (n, 1), float32.
    """
    n = check_int(n, name="n", minimum=1)
    n_grid = check_int(n_grid, name="n_grid", minimum=101)
    lo, hi = check_interval(domain, name="domain")
    grid = torch.linspace(lo, hi, n_grid, dtype=torch.float64)
    p = stationary_density(sde, grid).numpy()
    cdf = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(grid.numpy()))])
    cdf /= cdf[-1]
    u = torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    x = np.interp(u, cdf, grid.numpy())
    return torch.as_tensor(x, dtype=torch.float32)[:, None]
