"""Function bases shared by the estimators and the FIM: monomials and Legendre polynomials.
"""

from __future__ import annotations

import itertools
from typing import Callable, Sequence

import torch

from .._validation import check_int

__all__ = ["monomial_exponents", "monomials", "polynomial_features", "basis", "legendre"]


def monomial_exponents(d: int, degree: int) -> list[tuple[int, ...]]:
    """Exponent tuples of every monomial of total degree <= ``degree`` in ``d`` variables, constant
    first, then by degree (within a degree in the order of
    ``itertools.combinations_with_replacement``): for d = 1, [(0,), (1,), ..., (degree,)]."""
    d = check_int(d, name="d", minimum=1)
    degree = check_int(degree, name="degree", minimum=0)
    out = []
    for deg in range(degree + 1):
        for combo in itertools.combinations_with_replacement(range(d), deg):
            out.append(tuple(combo.count(i) for i in range(d)))
    return out


def monomials(x: torch.Tensor, exponents: Sequence[Sequence[int]]) -> torch.Tensor:
    """The monomials ``Π_k x_k^e_k`` for each exponent tuple e: (..., d) -> (..., len(exponents)).

    Powers are taken by repeated multiplication (coordinate 0 first), the same arithmetic for every
    caller, so that equal monomials are equal to the last bit.
    """
    d = x.shape[-1]
    cols = []
    for e in exponents:
        if len(e) != d:
            raise ValueError(f"exponent tuple {tuple(e)} has {len(e)} entries for states of dimension {d}")
        term = torch.ones_like(x[..., 0])
        first = True
        for k, power in enumerate(e):
            for _ in range(int(power)):
                term = x[..., k] if first else term * x[..., k]
                first = False
        cols.append(term)
    return torch.stack(cols, dim=-1)


def polynomial_features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """All monomials of total degree <= ``degree`` of the d coordinates: (..., d) -> (..., K).

    Order: :func:`monomial_exponents`; for d = 1 this is [1, x, x^2, ..., x^degree] (so
    ``polynomial_features(z[..., None], p)`` is the per-coordinate power basis of z).
    """
    return monomials(x, monomial_exponents(x.shape[-1], degree))


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
