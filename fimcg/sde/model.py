"""The SDE type: dX = f(X) dt + g(X) dW with diagonal noise, and tabulated coefficient functions.
"""

from __future__ import annotations

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
