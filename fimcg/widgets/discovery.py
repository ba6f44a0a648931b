"""Notebook 06: equation discovery (a sparse polynomial fit and its threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .._validation import to_numpy
from .base import check_trace_count, explorer, set_traces

__all__ = ["DiscoveryData", "discovery_data", "discovery_figure", "update_discovery_figure",
           "discovery_explorer"]

@dataclass(frozen=True)
class DiscoveryData:
    """A sparse polynomial fit to drift and diffusion values, and the values it was fitted to.

    Attributes:
        x: locations (G,). drift, diffusion: the given values (G,).
        drift_fit, diffusion_fit: the discovered f and g = sqrt(max(p, 0)) at x (G,).
        model: the :class:`fimcg.analysis.discovery.PolynomialSDE`. equation: its text.
        n_terms: number of non-zero coefficients (f and g^2 together).
        threshold, drift_degree, diffusion_degree: the fit's settings.
    """

    x: np.ndarray
    drift: np.ndarray
    diffusion: np.ndarray
    drift_fit: np.ndarray
    diffusion_fit: np.ndarray
    model: Any
    equation: str
    n_terms: int
    threshold: float
    drift_degree: int
    diffusion_degree: int


def discovery_data(locations: Any, drift: Any, diffusion: Any, *, weights: Any = None, threshold: float = 0.1,
                   drift_degree: int = 3, diffusion_degree: int = 2, names: Sequence[str] | None = None
                   ) -> DiscoveryData:
    """Run :func:`fimcg.analysis.discovery.discover_from_coefficients` on 1-D values and evaluate the result.

    Args:
        locations: (G,) or (G, 1). drift, diffusion: values there, same shape.
        weights: optional (G,) weights (e.g. the data density). Other arguments: as in
            :func:`fimcg.analysis.discovery.discover_from_coefficients`.
    """
    from ..analysis.discovery import discover_from_coefficients

    threshold = float(threshold)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be finite and >= 0, got {threshold!r}")
    loc = to_numpy(locations, dtype=np.float64).reshape(-1)
    f = to_numpy(drift, dtype=np.float64).reshape(-1)
    g = to_numpy(diffusion, dtype=np.float64).reshape(-1)
    model = discover_from_coefficients(loc[:, None], f[:, None],
                                       g[:, None], weights=weights,
                                       threshold=threshold, drift_degree=drift_degree,
                                       diffusion_degree=diffusion_degree, names=names)
    n_terms = int(np.count_nonzero(model.drift_coef) + np.count_nonzero(model.diffusion2_coef))
    return DiscoveryData(x=loc, drift=f, diffusion=g,
                         drift_fit=np.asarray(model.drift(loc[:, None]))[:, 0],
                         diffusion_fit=np.asarray(model.diffusion(loc[:, None]))[:, 0], model=model,
                         equation=model.equation(), n_terms=n_terms, threshold=float(threshold),
                         drift_degree=int(drift_degree), diffusion_degree=int(diffusion_degree))


def _discovery_title(d: DiscoveryData) -> str:
    eq = d.equation.replace("\n", "<br>")
    return f"threshold {d.threshold:g}, {d.n_terms} terms<br>{eq}"


def discovery_figure(data: DiscoveryData):
    """Given values (markers) and the sparse fit (line) for drift (left) and diffusion (right).

    Trace order (fixed): given f, fitted f, given g, fitted g. The equation is the title.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..app.figures import COLORS

    fig = make_subplots(rows=1, cols=2, subplot_titles=("drift", "diffusion"))
    for col, (given, fit) in enumerate(((data.drift, data.drift_fit), (data.diffusion, data.diffusion_fit)), start=1):
        fig.add_trace(go.Scatter(x=data.x, y=given, mode="markers", name="given values", legendgroup="given",
                                 showlegend=col == 1, marker=dict(size=5, color=COLORS[0])), row=1, col=col)
        fig.add_trace(go.Scatter(x=data.x, y=fit, mode="lines", name="sparse equation", legendgroup="fit",
                                 showlegend=col == 1, line=dict(color=COLORS[3], width=3)), row=1, col=col)
    fig.update_xaxes(title_text="x")
    fig.update_layout(template="plotly_white", height=440, title=dict(text=_discovery_title(data), font=dict(size=12)),
                      margin=dict(l=50, r=20, t=110, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def update_discovery_figure(fig, data: DiscoveryData) -> None:
    """Copy ``data`` into a figure made by :func:`discovery_figure`, in place."""
    check_trace_count(fig, 4, source="discovery_figure")
    set_traces(fig, [(data.x, data.drift), (data.x, data.drift_fit), (data.x, data.diffusion),
                      (data.x, data.diffusion_fit)], _discovery_title(data))


def discovery_explorer(locations: Any, drift: Any, diffusion: Any, *, weights: Any = None):
    """A slider for the sparsity threshold and the two library degrees, redrawing the discovered
    equation and its fit.

    The callback is :func:`discovery_data` + :func:`update_discovery_figure`.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (``threshold``, ``drift_degree``,
        ``diffusion_degree``), ``figure`` (``go.FigureWidget``), ``equation`` (an HTML widget with
        the equation) and ``data`` (current :class:`DiscoveryData`).
    """
    import ipywidgets as w

    style = {"description_width": "110px"}
    controls = {
        "threshold": w.FloatLogSlider(value=0.1, base=10, min=-3, max=0, step=0.25, description="threshold",
                                      style=style, continuous_update=False),
        "drift_degree": w.IntSlider(value=3, min=1, max=7, description="drift degree", style=style,
                                    continuous_update=False),
        "diffusion_degree": w.IntSlider(value=2, min=0, max=6, description="g² degree", style=style,
                                        continuous_update=False),
    }

    def compute() -> DiscoveryData:
        return discovery_data(locations, drift, diffusion, weights=weights, **{k: c.value for k, c in controls.items()})

    equation = w.HTML()

    def show_equation(d: DiscoveryData) -> None:
        equation.value = "<pre>" + d.equation + f"\n({d.n_terms} terms)</pre>"

    box = explorer(controls, compute, discovery_figure, update_discovery_figure,
                    [w.HBox(list(controls.values())), equation], on_data=show_equation)
    box.equation = equation
    return box
