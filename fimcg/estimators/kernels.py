"""Kernel regression formulas shared by the estimators and the FIM.
"""

from __future__ import annotations

import torch

__all__ = ["local_line"]


def local_line(mass: torch.Tensor, sum_y: torch.Tensor, sum_x: torch.Tensor, sum_xx: torch.Tensor,
               sum_xy: torch.Tensor, q: torch.Tensor, *, pseudo_count: float = 0.0,
               prior_y: torch.Tensor | float = 0.0, ridge: torch.Tensor | float = 0.0
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Nadaraya-Watson and local-linear fits of y at q from kernel-weighted sums (one coordinate).

    The sums are Σ w, Σ w y, Σ w x, Σ w x², Σ w x y over the data, with kernel weights w centred at
    q (all arguments broadcast together). ``pseudo_count`` pseudo-observations at x = q carrying
    the value ``prior_y`` are added to every sum (shrinkage where data are scarce; 0: the plain
    weighted least-squares line), and ``ridge`` is added to the local variance of x (keeps slopes
    tame where the data sit on one point). The local line is the weighted least-squares straight
    line y ≈ a + b (x - q); its intercept a is the estimate at q.

    Returns:
        ``(nw, ll, ex, var)``: the local mean of y, the local line at q, the local mean of x and the
        (ridged) local variance of x; each of the broadcast shape.
    """
    s = pseudo_count
    den = mass + s
    nw = (sum_y + s * prior_y) / den
    ex = (sum_x + s * q) / den
    exx = (sum_xx + s * q * q) / den
    exy = (sum_xy + s * q * prior_y) / den
    var = (exx - ex ** 2).clamp_min(0) + ridge
    return nw, nw + (exy - ex * nw) / var * (q - ex), ex, var
