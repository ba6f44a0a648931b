"""The SDE type: dX = f(X) dt + g(X) dW with diagonal noise, and tabulated coefficient functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable
import torch


Field = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SDE:
    """A time-homogeneous SDE with diagonal noise.

    Args:
        drift: f, maps states ``(..., d)`` to drift ``(..., d)`` (state units per time unit).
        diffusion: g, maps states ``(..., d)`` to non-negative noise amplitudes ``(..., d)``
            (state units per sqrt(time unit)).
        dim: the state dimension d.
        name: a short human-readable name, used in figures and reports.
        potential: optional U with f = -grad U (for g constant) mapping ``(..., d)`` to ``(...)``.
        params: the keyword parameters the system was built with (for reports).
        formula: the equations in words, e.g. ``"f(x) = 4 x - 4 x^3, g(x) = 1"`` (for reports; the
            catalogue fills it in from the parameters).

    ``drift`` and ``diffusion`` are always called on the whole batch ``(n_paths, d)`` by
    :func:`simulate`, so a family of equations with per-path coefficients (as the synthetic prior
    uses) may index its coefficients by row.
    """

    drift: Field
    diffusion: Field
    dim: int = 1
    name: str = "sde"
    potential: Callable[[torch.Tensor], torch.Tensor] | None = None
    params: dict = field(default_factory=dict)
    formula: str = ""

    def __post_init__(self) -> None:
        if self.dim not in (1, 2, 3):
            raise ValueError(f"dim must be 1, 2 or 3, got {self.dim!r}")
        if not callable(self.drift) or not callable(self.diffusion):
            raise TypeError("drift and diffusion must be callables mapping (..., d) tensors to (..., d)")

    def f(self, x: torch.Tensor) -> torch.Tensor:
        """Drift at ``x`` of shape (..., d); returns (..., d)."""
        return self.drift(x)

    def g(self, x: torch.Tensor) -> torch.Tensor:
        """Diffusion at ``x`` of shape (..., d); returns (..., d)."""
        return self.diffusion(x)

    def stationary_density(self, x, **kwargs) -> torch.Tensor:
        """Stationary density at ``x`` (G,) or (G, 1) of a 1-D SDE; returns (G,).

        Shorthand for :func:`fimcg.sde.density.stationary_density` (see there for ``domain``, ``n_grid``).
        """
        from .density import stationary_density

        return stationary_density(self, x, **kwargs)

    def describe(self) -> str:
        """What this SDE is, for a reader: its formula, else its name and parameters."""
        if self.formula:
            return self.formula
        ps = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({ps})"

    def __repr__(self) -> str:  # dataclass repr would print function objects
        ps = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"SDE(name={self.name!r}, dim={self.dim}{', ' + ps if ps else ''})"


class Tabulated:
    """A 1-D function tabulated on a uniform grid, linearly interpolated (torch callable).

    Beyond the grid the drift continues linearly (``extrapolate=True``) and the diffusion is held.
    """

    def __init__(self, grid: torch.Tensor, values: torch.Tensor, *, extrapolate: bool) -> None:
        self.grid = grid.detach().cpu().double()
        self.values = values.detach().cpu().double().reshape(-1)
        self.extrapolate = extrapolate

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        g, v = self.grid.to(x.device, x.dtype), self.values.to(x.device, x.dtype)
        n = g.numel()
        h = g[1] - g[0]
        u = (x - g[0]) / h
        i = u.floor().clamp(0, n - 2).long()
        w = (u - i).clamp(0, 1)
        y = v[i] * (1 - w) + v[i + 1] * w
        if self.extrapolate:
            y = torch.where(x < g[0], v[0] + (x - g[0]) * (v[1] - v[0]) / h, y)
            y = torch.where(x > g[-1], v[-1] + (x - g[-1]) * (v[-1] - v[-2]) / h, y)
        return y


class TabulatedGrid:
    """A vector field tabulated on a regular grid in d dimensions, multilinearly interpolated (torch callable).

    ``axes`` are the d grid axes (each (n_k,), uniform, increasing) and ``values`` (n_1, ..., n_d, m)
    the field at the grid points (axis order: ``values[i_1, ..., i_d]`` is at
    ``(axes[0][i_1], ..., axes[d-1][i_d])``). Calling it on states (..., d) returns (..., m).
    Beyond the grid the field continues linearly along each axis from its edge cells
    (``extrapolate=True``: a drift keeps its restoring slope) or is held at the edge value (a diffusion).
    """

    def __init__(self, axes: list[torch.Tensor] | tuple[torch.Tensor, ...], values: torch.Tensor, *,
                 extrapolate: bool) -> None:
        self.axes = [a.detach().cpu().double().reshape(-1) for a in axes]
        d = len(self.axes)
        if values.ndim != d + 1 or tuple(values.shape[:d]) != tuple(a.numel() for a in self.axes):
            raise ValueError(f"values must have shape {tuple(a.numel() for a in self.axes)} + (m,), got "
                             f"{tuple(values.shape)}")
        for k, a in enumerate(self.axes):
            if a.numel() < 2 or not bool(torch.isfinite(a).all()):
                raise ValueError(f"grid axis {k} needs at least 2 finite points")
            step = a[1:] - a[:-1]
            if not bool((step > 0).all()) or float((step - step[0]).abs().max()) > 1e-3 * float(step[0]):
                raise ValueError(f"grid axis {k} must be uniform and increasing")
        self.values = values.detach().cpu().double()
        self.extrapolate = extrapolate

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        d = len(self.axes)
        v = self.values.to(x.device, x.dtype)
        lead = x.shape[:-1]
        xf = x.reshape(-1, d)
        finite = torch.isfinite(xf).all(dim=-1)
        idx, frac, excess, steps = [], [], [], []
        for k, axis in enumerate(self.axes):
            a = axis.to(x.device, x.dtype)
            h = a[1] - a[0]
            u = torch.nan_to_num((xf[:, k] - a[0]) / h, nan=0.0, posinf=1e30, neginf=-1e30)
            i = u.floor().clamp(0, a.numel() - 2).long()
            idx.append(i)
            frac.append((u - i).clamp(0, 1))
            excess.append(u - i - (u - i).clamp(0, 1))  # in grid steps beyond the edge (0 inside)
            steps.append(h)
        out = torch.zeros(xf.shape[0], v.shape[-1], dtype=x.dtype, device=x.device)
        slope = [torch.zeros_like(out) for _ in range(d)]
        for corner in range(2 ** d):  # the 2^d corners of each point's cell
            bits = [(corner >> k) & 1 for k in range(d)]
            w = torch.ones_like(xf[:, 0])
            for k in range(d):
                w = w * (frac[k] if bits[k] else 1 - frac[k])
            val = v[tuple(idx[k] + bits[k] for k in range(d))]  # (n, m)
            out = out + w[:, None] * val
            for k in range(d):  # d value / d u_k over the cell, for the linear continuation
                wk = torch.ones_like(w)
                for j in range(d):
                    if j != k:
                        wk = wk * (frac[j] if bits[j] else 1 - frac[j])
                slope[k] = slope[k] + (wk * (1 if bits[k] else -1))[:, None] * val
        if self.extrapolate:
            for k in range(d):
                out = out + excess[k][:, None] * slope[k]
        out = torch.where(finite[:, None], out, torch.full_like(out, float("nan")))  # NaN states stay NaN
        return out.reshape(*lead, v.shape[-1])


#: grid points per axis of :func:`tabulated_sde` by default: 1-D, and each axis in d > 1
TABLE_POINTS = {1: 512, 2: 64, 3: 24}


def tabulated_sde(coefficients: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], lo: torch.Tensor,
                  hi: torch.Tensor, *, grid_size: int | None = None, margin: float = 0.2, name: str = "sde",
                  params: dict | None = None) -> SDE:
    """An :class:`SDE` whose drift and diffusion are ``coefficients`` tabulated once on a grid.

    Args:
        coefficients: locations (G, d) -> (drift (G, d), diffusion (G, d)), called once on the grid.
        lo, hi: (d,) the range to cover, widened by ``margin`` (fraction of the range) on each side.
        grid_size: points per axis (default :data:`TABLE_POINTS`: 512 in 1-D, 64 per axis in 2-D).

    Returns:
        1-D: :class:`Tabulated` coefficients (linear interpolation); d > 1: :class:`TabulatedGrid`
        (multilinear). Beyond the grid the drift continues linearly and the diffusion is held.
    """
    lo, hi = torch.as_tensor(lo, dtype=torch.float64).reshape(-1), torch.as_tensor(hi, dtype=torch.float64).reshape(-1)
    d = lo.numel()
    if hi.numel() != d or not bool(torch.isfinite(lo).all() and torch.isfinite(hi).all()) or not bool((hi >= lo).all()):
        raise ValueError(f"lo and hi must be finite (d,) with hi >= lo; got {lo.tolist()} and {hi.tolist()}")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    if grid_size is not None and (isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 2):
        raise ValueError(f"grid_size must be an integer >= 2 (or None for the default), got {grid_size!r}")
    n = int(grid_size or TABLE_POINTS.get(d, 16))
    span = (hi - lo).clamp_min(1e-12)
    axes = [torch.linspace(float(lo[k] - margin * span[k]), float(hi[k] + margin * span[k]), n) for k in range(d)]
    grids = [[float(a[0]), float(a[-1]), n] for a in axes]
    info = dict(params or {}, grid=grids[0] if d == 1 else grids)
    if d == 1:
        f, g = coefficients(axes[0][:, None])
        return SDE(Tabulated(axes[0], f[:, 0], extrapolate=True), Tabulated(axes[0], g[:, 0], extrapolate=False),
                   dim=1, name=name, params=info)
    mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (n, ..., n, d)
    f, g = coefficients(mesh.reshape(-1, d).float())
    shape = mesh.shape[:-1] + (d,)
    return SDE(TabulatedGrid(axes, f.reshape(shape), extrapolate=True),
               TabulatedGrid(axes, g.reshape(shape), extrapolate=False), dim=d, name=name, params=info)
