"""SDEs: the :class:`SDE` type, Euler-Maruyama simulation, the catalogue of systems and stationary densities.

Imports within the package: ``sde`` depends on nothing else in fimcg (only ``fimcg._validation``).
"""

from . import systems
from .density import sample_stationary, stationary_density
from .model import SDE, Tabulated, TabulatedGrid, tabulated_sde
from .simulate import SimulationDiverged, simulate
from .systems import get_system, list_systems

__all__ = ["SDE", "Tabulated", "TabulatedGrid", "tabulated_sde", "simulate", "SimulationDiverged", "systems", "get_system", "list_systems",
           "stationary_density", "sample_stationary"]
