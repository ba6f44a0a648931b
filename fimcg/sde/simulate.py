"""Batched Euler-Maruyama simulation of an :class:`~fimcg.sde.SDE`.
"""

from __future__ import annotations

import math
from typing import Literal
import torch
from .._validation import as_tensor, check_finite, check_int, check_positive
from .model import SDE


class SimulationDiverged(RuntimeError):
    """Raised when simulated paths become NaN/inf or leave the bound.

    Attributes:
        diverged: bool tensor (n_paths,), True for every path that diverged.
        step: the first observation index at which a divergence was seen.
    """

    def __init__(self, message: str, *, diverged: torch.Tensor, step: int) -> None:
        super().__init__(message)
        self.diverged = diverged
        self.step = step


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def _raise_bad_diffusion(sde: SDE, out: torch.Tensor, path: int, start: int, stop: int) -> None:
    """Find the first observed state in out[:, start:stop] where g is negative/NaN and raise."""
    for i in range(start, stop):
        g = sde.diffusion(out[:, i])[path]
        if bool((g < 0).any() or torch.isnan(g).any()):
            raise ValueError(f"sde.diffusion returned a negative or NaN value {g.tolist()} at state "
                             f"{out[path, i].tolist()} (path {path}, observation {i}); g must be >= 0 "
                             "(use sqrt(max(., 0)) for semicircle-type diffusions)")
    raise ValueError(f"sde.diffusion returned a negative or NaN value on path {path} between observations "
                     f"{start} and {stop - 1}; g must be >= 0")


def simulate(
    sde: SDE,
    x0: torch.Tensor,
    *,
    dt: float,
    n_steps: int,
    substeps: int = 1,
    seed: int | None = None,
    bound: float = 1e4,
    on_divergence: Literal["raise", "nan"] = "raise",
    chunk: int = 256,
) -> torch.Tensor:
    """Simulate ``sde`` with batched Euler-Maruyama and return the observed paths.

    Args:
        sde: the equation to integrate.
        x0: initial states, shape (n_paths, d) (or (n_paths,) for d = 1). The result lives on
            ``x0``'s device and has its floating dtype (float32 unless ``x0`` is float64).
        dt: time between two observations (> 0).
        n_steps: number of observation steps (>= 1); the result has n_steps + 1 observations.
        substeps: Euler-Maruyama steps per observation (>= 1); the integration step is dt/substeps.
        seed: seed of a private random generator (``None``: torch's global generator).
        bound: a path whose ``|x|`` exceeds this (or becomes NaN/inf) has diverged.
        on_divergence: ``"raise"`` raises :class:`SimulationDiverged`; ``"nan"`` fills a diverged
            path with NaN from its first diverged observation on (filter with ``torch.isfinite``).
        chunk: observations whose Gaussian increments are drawn in one call (speed only).

    Returns:
        Tensor (n_paths, n_steps + 1, d); ``[:, 0]`` is ``x0``.

    Raises:
        ValueError: non-positive ``dt``, ``n_steps < 1``, NaN in ``x0``, a shape mismatch, or a
            negative / NaN diffusion value returned by ``sde.diffusion``.
        SimulationDiverged: with ``on_divergence="raise"`` when a path blows up.
    """
    if not isinstance(sde, SDE):
        raise TypeError(f"sde must be a fimcg.SDE, got {type(sde).__name__}")
    dt = check_positive(dt, name="dt")
    n_steps = check_int(n_steps, name="n_steps", minimum=1)
    substeps = check_int(substeps, name="substeps", minimum=1)
    bound = check_positive(bound, name="bound")
    if on_divergence not in ("raise", "nan"):
        raise ValueError(f"on_divergence must be 'raise' or 'nan', got {on_divergence!r}")
    x = as_tensor(x0, name="x0")
    if x.ndim == 1 and sde.dim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != sde.dim:
        raise ValueError(f"x0 must have shape (n_paths, d={sde.dim}); got shape {tuple(x.shape)}")
    check_finite(x, name="x0")
    x = x.detach().clone()
    n_paths, d = x.shape
    h = dt / substeps
    sqrt_h = math.sqrt(h)
    gen = _generator(seed, x.device)
    with torch.no_grad():  # the block check below starts at observation 1: check x0's diffusion here
        g0 = sde.diffusion(x)
    if g0.shape != x.shape:
        raise ValueError(f"sde.diffusion returned shape {tuple(g0.shape)} for states of shape "
                         f"{tuple(x.shape)}; it must return the states' shape")
    g0_bad = (g0 < 0).any(dim=1) | torch.isnan(g0).any(dim=1)
    if bool(g0_bad.any()):
        p = int(torch.nonzero(g0_bad)[0])
        raise ValueError(f"sde.diffusion returned a negative or NaN value {g0[p].tolist()} at state "
                         f"{x[p].tolist()} (path {p}, observation 0); g must be >= 0")

    out = torch.empty(n_paths, n_steps + 1, d, dtype=x.dtype, device=x.device)
    out[:, 0] = x
    alive = torch.ones(n_paths, dtype=torch.bool, device=x.device)
    first_bad = -1
    step = 1
    with torch.no_grad():
        while step <= n_steps:
            m = min(chunk, n_steps + 1 - step)
            noise = torch.randn(m, substeps, n_paths, d, generator=gen, dtype=x.dtype, device=x.device)
            noise.mul_(sqrt_h)
            gmin = torch.full_like(x, math.inf)
            for j in range(m):
                for k in range(substeps):
                    g = sde.diffusion(x)
                    gmin = torch.minimum(gmin, g)  # NaN propagates
                    x = x + sde.drift(x) * h + g * noise[j, k]
                out[:, step + j] = x
            if gmin.shape != x.shape:
                raise ValueError(f"sde.diffusion returned shape {tuple(gmin.shape)} for states of shape "
                                 f"{tuple(x.shape)}; it must return the states' shape")
            block = out[:, step:step + m]
            finite_blk = torch.isfinite(block).all(dim=2)  # (n, m)
            g_bad = ((gmin < 0) | torch.isnan(gmin)).any(dim=1) & finite_blk.all(dim=1)
            if bool(g_bad.any()):
                _raise_bad_diffusion(sde, out, int(torch.nonzero(g_bad)[0]), step - 1, step + m)
            ok = finite_blk & (block.abs() <= bound).all(dim=2)
            if not bool(ok.all()):
                bad_paths = ~ok.all(dim=1)
                # a NaN diffusion at a finite state turns the path NaN too (gmin is then masked
                # above): look at the last finite state of each newly non-finite path first
                newly_nan = alive & ~finite_blk.all(dim=1)
                for p in torch.nonzero(newly_nan)[:10, 0].tolist():
                    i = step + int(torch.nonzero(~finite_blk[p])[0])
                    if bool((out[p, i - 1].abs() > bound).any()):
                        continue  # the path had left the bound already: a divergence, not a bad g
                    g_prev = sde.diffusion(out[:, i - 1])[p]
                    if bool((g_prev < 0).any() or torch.isnan(g_prev).any()):
                        _raise_bad_diffusion(sde, out, p, i - 1, i)
                first = int(torch.nonzero(~ok)[:, 1].min()) + step
                first_bad = first if first_bad < 0 else min(first_bad, first)
                if on_divergence == "raise":
                    raise SimulationDiverged(
                        f"{int((alive & bad_paths).sum())} of {n_paths} paths diverged (|x| > {bound:g} or "
                        f"NaN/inf) by observation {first} (t = {first * dt:g}); reduce dt or increase "
                        "substeps, or pass on_divergence='nan' to keep the other paths",
                        diverged=(alive & bad_paths).clone(), step=first)
                # NaN-fill each diverged path from its first bad observation onwards
                first_idx = torch.where(ok, m, torch.arange(m, device=x.device)).min(dim=1).values
                mask = torch.arange(m, device=x.device)[None, :] >= first_idx[:, None]
                block[mask] = float("nan")
                x = torch.where(bad_paths[:, None], torch.full_like(x, float("nan")), x)
                alive &= ~bad_paths
            step += m
    # paths already marked dead keep NaN (their x is NaN so later blocks are NaN too)
    return out
