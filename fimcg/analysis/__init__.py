"""Analysis of a result: alignment with a known truth (identifiability), equation discovery,
coordinate-free validation, error metrics. Imports within the package: ``sde``, ``estimators``, ``_validation``.
"""

from . import alignment, discovery, metrics, validation
from .alignment import compare_to_truth, fit_alignment
from .discovery import PolynomialSDE, discover, discover_from_coefficients
from .metrics import occupied_grid, relative_rmse, rmse, sde_errors
from .validation import switching_statistics, validate

__all__ = ["alignment", "discovery", "metrics", "validation", "compare_to_truth", "fit_alignment", "discover",
           "discover_from_coefficients", "PolynomialSDE", "validate", "switching_statistics", "occupied_grid",
           "rmse", "relative_rmse", "sde_errors"]
