"""Classic estimators of drift and diffusion from paths: binned Kramers-Moyal, local-linear kernel
regression (rule-of-thumb or cross-validated bandwidth), least squares in a known basis, a polynomial
whose degree AIC picks, penalised splines whose smoothness GCV picks. Each takes
``(paths (n_paths, T, d), dt, locations (G, d))`` and returns ``(drift (G, d), diffusion (G, d))``;
each is written in torch (the splines and kernels are differentiable in the paths).

Imports within the package: only ``fimcg._validation``.
Shared building blocks: :mod:`.bases` (monomial and Legendre bases), :mod:`.kernels` (kernel-regression
formulas), :mod:`.splines` (P-splines chosen by GCV), used by the FIM too.
"""

from .bases import basis, legendre
from .kernels import local_line
from .classic import (binned_km, default_bandwidth, increments, interpolate_1d, least_squares, local_linear,
                      polynomial_features)
from .selection import aic_polynomial, cross_validated_bandwidth
from .splines import penalised_spline

ESTIMATORS = {
    "binned_km": binned_km,
    "local_linear": local_linear,
    "least_squares": least_squares,
    "aic_polynomial": aic_polynomial,
    "penalised_spline": penalised_spline,
}


def get_estimator(name: str):
    """The estimator function called ``name`` (one of :data:`ESTIMATORS`)."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; valid: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]


__all__ = ["binned_km", "local_linear", "least_squares", "aic_polynomial", "penalised_spline",
           "cross_validated_bandwidth", "increments", "default_bandwidth", "interpolate_1d", "polynomial_features",
           "ESTIMATORS", "get_estimator", "basis", "legendre", "local_line"]
