"""Notebook 04: inside the FIM (normalisation: an estimate under a change of units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import to_numpy
from .base import check_trace_count, explorer, set_traces
from .estimation import Estimator

__all__ = ["NormalisationData", "normalisation_data", "normalisation_figure", "update_normalisation_figure",
           "normalisation_explorer"]

@dataclass(frozen=True)
class NormalisationData:
    """An estimator applied to rescaled data, in the new units and mapped back.

    The data x(t) are replaced by y = scale * x + shift observed in a time unit ``time_unit`` times
    the original one (so the sampling step becomes dt / time_unit). Itô's formula and the time
    change give f_y(y) = scale * time_unit * f_x(x) and g_y(y) = |scale| * sqrt(time_unit) * g_x(x).

    Attributes:
        x: grid in original units (G,). y: the same grid in new units (G,).
        drift_y, diffusion_y: the estimate from the rescaled data, new units (G,).
        drift_back, diffusion_back: the same mapped back to original units (G,).
        drift_ref, diffusion_ref: the estimate from the original data (G,).
        max_deviation: largest |mapped back - original| relative to the original's RMS, over
            drift and diffusion (0 for an exactly equivariant estimator).
        scale, shift, time_unit: the transformation.
    """

    x: np.ndarray
    y: np.ndarray
    drift_y: np.ndarray
    diffusion_y: np.ndarray
    drift_back: np.ndarray
    diffusion_back: np.ndarray
    drift_ref: np.ndarray
    diffusion_ref: np.ndarray
    max_deviation: float
    scale: float
    shift: float
    time_unit: float


def normalisation_data(estimate: Estimator, paths: Any, dt: float, *, scale: float = 1.0, shift: float = 0.0,
                       time_unit: float = 1.0, grid_size: int = 60) -> NormalisationData:
    """Run ``estimate`` on rescaled data and map its answer back (see :class:`NormalisationData`).

    Args:
        estimate: ``(paths, dt, locations) -> (drift (G, 1), diffusion (G, 1))``, e.g. ``fim.estimate``.
        paths: 1-D observed paths (n_paths, T, 1). dt: their sampling step (> 0).
        scale: the factor on the state (non-zero, may be negative: a mirrored coordinate).
        shift: the offset added to the state. time_unit: the new time unit in old units (> 0).
        grid_size: query points over the occupied region of the data (>= 2).
    """
    from .._validation import check_int, check_paths, check_positive
    from ..analysis.metrics import occupied_grid

    if not callable(estimate):
        raise TypeError(f"estimate must be callable (paths, dt, locations) -> (drift, diffusion), got {estimate!r}")
    p = check_paths(paths)
    if p.shape[-1] != 1:
        raise ValueError(f"normalisation_data needs 1-D paths, got d={p.shape[-1]}")
    dt = check_positive(dt, name="dt")
    time_unit = check_positive(time_unit, name="time_unit")
    scale, shift = float(scale), float(shift)
    if scale == 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be finite and non-zero, got {scale!r}")
    if not math.isfinite(shift):
        raise ValueError(f"shift must be finite, got {shift!r}")
    grid_size = check_int(grid_size, name="grid_size", minimum=2)
    x = occupied_grid(p, n=grid_size)
    with torch.no_grad():
        f_ref, g_ref = estimate(p, dt, x)
        f_y, g_y = estimate(scale * p + shift, dt / time_unit, scale * x + shift)
    f_back = f_y / (scale * time_unit)
    g_back = g_y / (abs(scale) * math.sqrt(time_unit))
    as_np = lambda t: to_numpy(t[:, 0], dtype=np.float64)  # noqa: E731
    dev = 0.0
    for back, ref in ((f_back, f_ref), (g_back, g_ref)):
        rms = float(ref.double().pow(2).mean().sqrt())
        dev = max(dev, float((back.double() - ref.double()).abs().max()) / max(rms, 1e-12))
    return NormalisationData(x=as_np(x), y=as_np(scale * x + shift), drift_y=as_np(f_y), diffusion_y=as_np(g_y),
                             drift_back=as_np(f_back), diffusion_back=as_np(g_back), drift_ref=as_np(f_ref),
                             diffusion_ref=as_np(g_ref), max_deviation=dev, scale=scale, shift=shift,
                             time_unit=time_unit)


def _normalisation_title(d: NormalisationData) -> str:
    return (f"y = {d.scale:g}·x {'+' if d.shift >= 0 else '-'} {abs(d.shift):g}, time unit × {d.time_unit:g}<br>"
            f"mapped back, the estimate moves by {100 * d.max_deviation:.2g}% of its size")


def normalisation_figure(data: NormalisationData):
    """Top: the estimate in the new units. Bottom: mapped back, against the estimate from the original data.

    Trace order (fixed): f_y, g_y (top), then original f, mapped-back f, original g, mapped-back g.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..app.figures import COLORS

    fig = make_subplots(rows=2, cols=2, vertical_spacing=0.16,
                        subplot_titles=("drift in the new units", "diffusion in the new units",
                                        "drift mapped back to x", "diffusion mapped back to x"))
    fig.add_trace(go.Scatter(x=data.y, y=data.drift_y, name="from rescaled data", legendgroup="new",
                             line=dict(color=COLORS[1], width=2)), row=1, col=1)
    fig.add_trace(go.Scatter(x=data.y, y=data.diffusion_y, name="from rescaled data", legendgroup="new",
                             showlegend=False, line=dict(color=COLORS[1], width=2)), row=1, col=2)
    for col, ref, back in ((1, data.drift_ref, data.drift_back), (2, data.diffusion_ref, data.diffusion_back)):
        fig.add_trace(go.Scatter(x=data.x, y=ref, name="from the original data", legendgroup="ref",
                                 showlegend=col == 1, line=dict(color="#222222", width=4)), row=2, col=col)
        fig.add_trace(go.Scatter(x=data.x, y=back, name="rescaled, mapped back", legendgroup="back",
                                 showlegend=col == 1, line=dict(color=COLORS[1], width=2, dash="dash")),
                      row=2, col=col)
    fig.update_xaxes(title_text="y", row=1)
    fig.update_xaxes(title_text="x", row=2)
    fig.update_layout(template="plotly_white", height=640, title=dict(text=_normalisation_title(data), font=dict(size=13)),
                      margin=dict(l=50, r=20, t=100, b=40), legend=dict(orientation="h", y=-0.12))
    return fig


def update_normalisation_figure(fig, data: NormalisationData) -> None:
    """Copy ``data`` into a figure made by :func:`normalisation_figure`, in place."""
    check_trace_count(fig, 6, source="normalisation_figure")
    set_traces(fig, [(data.y, data.drift_y), (data.y, data.diffusion_y), (data.x, data.drift_ref),
                      (data.x, data.drift_back), (data.x, data.diffusion_ref), (data.x, data.diffusion_back)],
                _normalisation_title(data))


def normalisation_explorer(estimate: Estimator, paths: Any, dt: float):
    """Sliders for the scale, offset and time unit of the data, redrawing ``estimate``'s answer in
    the new units and mapped back (an equivariant estimator's mapped-back curves never move).

    The callback is :func:`normalisation_data` + :func:`update_normalisation_figure`.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (``scale``, ``shift``, ``time_unit``),
        ``figure`` (``go.FigureWidget``) and ``data`` (current :class:`NormalisationData`).
    """
    import ipywidgets as w

    style = {"description_width": "120px"}
    controls = {
        "scale": w.FloatLogSlider(value=1.0, base=10, min=-1, max=2, step=0.25, description="state scale",
                                  style=style, continuous_update=False),
        "shift": w.FloatSlider(value=0.0, min=-10.0, max=10.0, step=1.0, description="state offset",
                               style=style, continuous_update=False),
        "time_unit": w.FloatLogSlider(value=1.0, base=10, min=-2, max=2, step=0.25, description="time unit",
                                      style=style, continuous_update=False),
    }

    def compute() -> NormalisationData:
        return normalisation_data(estimate, paths, dt, **{k: c.value for k, c in controls.items()})

    return explorer(controls, compute, normalisation_figure, update_normalisation_figure,
                     [w.HBox(list(controls.values()))])
