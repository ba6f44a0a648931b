"""fimcg: coarse-graining with Foundation Inference Models.

High-dimensional recordings of a stochastic system -> a low-dimensional latent X and the SDE
dX = f(X) dt + g(X) dW that governs it, with f and g inferred zero-shot by a frozen, pretrained
Foundation Inference Model (FIM).

The data path, one package each: :mod:`fimcg.sde` (simulate) -> :mod:`fimcg.video` (render) ->
:mod:`fimcg.coarse_graining` (encode, train) with :mod:`fimcg.estimators` and :mod:`fimcg.fim` (infer)
-> :mod:`fimcg.analysis` (align, discover, validate) -> :mod:`fimcg.app` (report, command line);
:mod:`fimcg.io` holds the file format, :mod:`fimcg.widgets` the notebook panels.
"""

__version__ = "0.1.0"

from . import analysis, coarse_graining, estimators, fim, io, sde, video
from .analysis import compare_to_truth, discover, occupied_grid, relative_rmse, validate
from .coarse_graining import CoarseGrainResult, coarse_grain, joint_coarse_grain
from .estimators import binned_km, least_squares, local_linear
from .fim import FIM, load_fim
from .io import open_recording
from .sde import SDE, simulate, systems
from .video import render_video

__all__ = ["__version__", "SDE", "simulate", "systems", "render_video", "binned_km", "local_linear", "least_squares",
           "FIM", "load_fim", "coarse_grain", "CoarseGrainResult", "joint_coarse_grain", "compare_to_truth",
           "discover", "validate", "occupied_grid", "relative_rmse", "open_recording",
           "sde", "video", "estimators", "fim", "coarse_graining", "analysis", "io"]
