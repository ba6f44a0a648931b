"""Classic estimators of drift and diffusion from paths: binned Kramers-Moyal, local-linear kernel
regression, least squares in a known basis. Each takes ``(paths (n_paths, T, d), dt, locations (G, d))``
and returns ``(drift (G, d), diffusion (G, d))``; each is written in torch and differentiable in the paths.

Imports within the package: only ``fimcg._validation``.
Shared building blocks: :mod:`.bases` (monomial and Legendre bases), :mod:`.kernels` (kernel-regression
formulas), used by the FIM too.
"""

from .bases import basis, legendre
from .kernels import local_line
from .classic import (ESTIMATORS, binned_km, default_bandwidth, get_estimator, increments, least_squares,
                      local_linear, polynomial_features)

__all__ = ["binned_km", "local_linear", "least_squares", "increments", "default_bandwidth", "polynomial_features",
           "ESTIMATORS", "get_estimator", "basis", "legendre", "local_line"]
