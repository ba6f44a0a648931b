"""fimcg: coarse-graining with Foundation Inference Models.

High-dimensional recordings of a stochastic system -> a low-dimensional latent X and the SDE
dX = f(X) dt + g(X) dW that governs it, with f and g inferred zero-shot by a frozen, pretrained
Foundation Inference Model (FIM).
"""

__version__ = "0.1.0"

from .sde import SDE, SimulationDiverged, simulate
from . import estimators, metrics, systems
from .systems import get_system, list_systems, stationary_density
from .video import render_video
from .estimators import binned_km, local_linear, least_squares
from .metrics import occupied_grid, relative_rmse, rmse
from . import prior
from .fim import FIM, FIMConfig, ExtrapolationWarning, load_fim
from . import alignment, discovery
from .alignment import compare_to_truth, fit_alignment
from .discovery import discover, discover_from_coefficients, switching_statistics, validate
from .coarse_grain import CoarseGrainResult, TrainingDiverged, coarse_grain
from .joint import joint_coarse_grain

__all__ = ["SDE", "SimulationDiverged", "simulate", "__version__",
           "systems", "get_system", "list_systems", "stationary_density", "render_video",
           "estimators", "binned_km", "local_linear", "least_squares",
           "metrics", "occupied_grid", "rmse", "relative_rmse",
           "prior", "FIM", "FIMConfig", "ExtrapolationWarning", "load_fim",
           "alignment", "fit_alignment", "compare_to_truth", "discovery", "discover", "discover_from_coefficients",
           "switching_statistics", "validate", "coarse_grain", "CoarseGrainResult", "TrainingDiverged",
           "joint_coarse_grain"]
