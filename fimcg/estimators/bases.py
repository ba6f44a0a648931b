"""Function bases shared by the estimators and the FIM: monomials and Legendre polynomials.
"""

from __future__ import annotations

import itertools
from typing import Callable

import torch

from .._validation import check_int

__all__ = ["polynomial_features", "basis", "legendre"]


def polynomial_features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """All monomials of total degree <= ``degree`` of the d coordinates: (..., d) -> (..., K).

    Order: constant first, then by degree; for d = 1 this is [1, x, x^2, ..., x^degree] (so
    ``polynomial_features(z[..., None], p)`` is the per-coordinate power basis of z).
    """
    degree = check_int(degree, name="degree", minimum=0)
    d = x.shape[-1]
    cols = [torch.ones_like(x[..., 0])]
    for deg in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(d), deg):
            term = x[..., combo[0]]
            for k in combo[1:]:
                term = term * x[..., k]
            cols.append(term)
    return torch.stack(cols, dim=-1)


def basis(spec: int | Callable[[torch.Tensor], torch.Tensor], name: str = "basis"
          ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A feature map (..., d) -> (..., K) from a polynomial degree (:func:`polynomial_features`) or
    a callable (returned as it is); ``name`` is the argument's name in error messages."""
    if callable(spec):
        return spec
    if isinstance(spec, bool) or not isinstance(spec, int):
        raise TypeError(f"{name} must be a polynomial degree (int >= 0) or a callable (..., d) -> (..., K), "
                        f"got {spec!r}")
    deg = check_int(spec, name=name, minimum=0)
    return lambda z: polynomial_features(z, deg)


def legendre(u: torch.Tensor, degree: int) -> torch.Tensor:
    """Legendre polynomials P_0 .. P_degree of u (any shape, meant for u in [-1, 1]): (..., degree + 1).

    Well conditioned up to high degree (unlike monomials), by Bonnet's recursion.
    """
    out = [torch.ones_like(u), u]
    for m in range(1, degree):
        out.append(((2 * m + 1) * u * out[m] - m * out[m - 1]) / (m + 1))
    return torch.stack(out[:degree + 1], dim=-1)
