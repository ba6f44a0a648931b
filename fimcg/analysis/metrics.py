"""Error metrics for estimated drift and diffusion, and the grid they are evaluated on.

Estimates are only meaningful where the data went, so comparisons use :func:`occupied_grid`, a
regular grid between low and high percentiles of the observed states (by default the 2nd and 98th).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._validation import as_tensor, check_finite, check_int, check_locations, check_paths, to_numpy
from ..sde.model import SDE

__all__ = ["occupied_grid", "rmse", "relative_rmse", "sde_errors"]


def occupied_grid(paths: Any, *, n: int = 100, lo: float = 0.02, hi: float = 0.98) -> torch.Tensor:
    """A regular grid over the visited region of ``paths``.

    Args:
        paths: (n_paths, T, d) (or (n_paths, T) / (T,) for d = 1), finite.
        n: grid points per dimension (>= 2).
        lo, hi: quantile levels bounding the grid in each dimension, 0 <= lo < hi <= 1.

    Returns:
        Tensor (n^d, d) on the paths' device and dtype: for d = 1 the points from the ``lo`` to the
        ``hi`` quantile of all observed states, in increasing order; for d > 1 the product of the
        per-dimension grids (first coordinate varying fastest). Detached from autograd.
    """
    p = check_paths(paths, min_length=1)
    n = check_int(n, name="n", minimum=2)
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"lo and hi must be numbers, got lo={lo!r}, hi={hi!r}") from exc
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(f"need 0 <= lo < hi <= 1, got lo={lo!r}, hi={hi!r}")
    d = p.shape[-1]
    states = to_numpy(p.reshape(-1, d), dtype=np.float64)
    q = np.quantile(states, [lo, hi], axis=0)  # (2, d)
    if not np.all(q[1] > q[0]):
        raise ValueError(f"the paths do not spread between the {lo:g} and {hi:g} quantiles "
                         f"(range per dimension {q.T.tolist()}); nothing to put a grid on")
    axes = [np.linspace(q[0, k], q[1, k], n) for k in range(d)]
    if d == 1:
        grid = axes[0][:, None]
    else:
        # the last meshgrid axis varies fastest in C order: give it the first coordinate
        mesh = np.meshgrid(*axes[::-1], indexing="ij")[::-1]
        grid = np.stack([m.reshape(-1) for m in mesh], axis=-1)
    return torch.as_tensor(grid, dtype=p.dtype, device=p.device)


def _pair(a: Any, b: Any, names: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    ta, tb = as_tensor(a, name=names[0]), as_tensor(b, name=names[1])
    if ta.shape != tb.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape; got {tuple(ta.shape)} and "
                         f"{tuple(tb.shape)}")
    if ta.numel() == 0:
        raise ValueError(f"{names[0]} and {names[1]} are empty")
    check_finite(ta, name=names[0])
    check_finite(tb, name=names[1])
    tb = tb.to(device=ta.device)
    dtype = torch.promote_types(ta.dtype, tb.dtype)
    return ta.detach().to(dtype), tb.detach().to(dtype)


def rmse(a: Any, b: Any) -> float:
    """Root-mean-square difference sqrt(mean((a - b)^2)) over all entries of two same-shape arrays."""
    ta, tb = _pair(a, b, ("a", "b"))
    return float(torch.sqrt(torch.mean((ta - tb) ** 2)))


def relative_rmse(est: Any, true: Any) -> float:
    """RMSE(est, true) / RMS(true): 0 is perfect, 1 is as large as the true function itself.

    Raises ``ValueError`` if ``true`` is identically zero (the ratio is undefined).
    """
    te, tt = _pair(est, true, ("est", "true"))
    scale = float(torch.sqrt(torch.mean(tt ** 2)))
    if scale == 0.0:
        raise ValueError("relative_rmse is undefined: true is identically zero (use rmse)")
    return float(torch.sqrt(torch.mean((te - tt) ** 2))) / scale


def sde_errors(sde: SDE, locations: Any, drift: Any, diffusion: Any) -> dict[str, float]:
    """Errors of an estimate against a known SDE at ``locations`` (G, d).

    Returns a dict with ``drift_rmse``, ``drift_rel``, ``diffusion_rmse`` and ``diffusion_rel``
    (relative RMSEs as in :func:`relative_rmse`; NaN when the true function is identically zero).
    """
    if not isinstance(sde, SDE):
        raise TypeError(f"sde must be a fimcg.SDE, got {type(sde).__name__}")
    loc = check_locations(locations, d=sde.dim)
    with torch.no_grad():
        f_true, g_true = sde.drift(loc), sde.diffusion(loc)
    out: dict[str, float] = {}
    for key, est, true in (("drift", drift, f_true), ("diffusion", diffusion, g_true)):
        te, tt = _pair(est, true, (key, f"true {key} at locations"))
        err = float(torch.sqrt(torch.mean((te - tt) ** 2)))
        scale = float(torch.sqrt(torch.mean(tt ** 2)))
        out[f"{key}_rmse"] = err
        out[f"{key}_rel"] = err / scale if scale > 0 else math.nan
    return out
