"""fimcg: coarse-graining with Foundation Inference Models.

High-dimensional recordings of a stochastic system -> a low-dimensional latent X and the SDE
dX = f(X) dt + g(X) dW that governs it, with f and g inferred zero-shot by a frozen, pretrained
Foundation Inference Model (FIM).
"""

from .sde import SDE, SimulationDiverged, simulate

__version__ = "0.1.0"

__all__ = ["SDE", "SimulationDiverged", "simulate", "__version__"]
