"""Analysis of a result: alignment with a known truth (identifiability), equation discovery,
coordinate-free validation, how well an SDE predicts its coordinate's future (:mod:`.markov`), error
metrics. Imports within the package: ``sde``, ``estimators``, ``_validation``.
"""

from . import alignment, discovery, markov, metrics, validation
from .alignment import compare_to_truth, fit_alignment
from .discovery import PolynomialSDE, discover, discover_from_coefficients
from .markov import PredictiveInformation, predictive_information
from .metrics import occupied_grid, relative_rmse, rmse, sde_errors
from .validation import switching_statistics, validate

__all__ = ["alignment", "discovery", "markov", "metrics", "validation", "predictive_information", "PredictiveInformation", "compare_to_truth", "fit_alignment", "discover",
           "discover_from_coefficients", "PolynomialSDE", "validate", "switching_statistics", "occupied_grid",
           "rmse", "relative_rmse", "sde_errors"]
