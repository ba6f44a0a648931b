"""Notebook 11: one recording of a collection, its own SDE estimate and the estimate pooled with the collection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import explorer, slider_over

__all__ = ["PoolingView", "pooling_view", "pooling_figure", "update_pooling_figure", "pooling_slider_figure",
           "pooling_explorer"]


@dataclass(frozen=True)
class PoolingView:
    """What pooling did to one recording (arrays on the collection's latent grid, each (G,)).

    Attributes:
        name: the recording. grid: latent locations z.
        own_drift, pooled_drift: its own FIM estimate and the pooled one.
        family_fit: its drift in the collection's family (fitted to its own transitions).
        collection_mean, collection_sd: the mean and the spread of all recordings' pooled drifts.
        own_diffusion, pooled_diffusion: the same for g.
        coordinates: (K, r) every recording's coordinates in the family of drifts; index: this one's row.
        weight: the share of its own drift estimate that pooling kept, in [0, 1].
    """

    name: str
    grid: np.ndarray
    own_drift: np.ndarray
    pooled_drift: np.ndarray
    family_fit: np.ndarray
    collection_mean: np.ndarray
    collection_sd: np.ndarray
    own_diffusion: np.ndarray
    pooled_diffusion: np.ndarray
    coordinates: np.ndarray
    index: int
    weight: float


def pooling_view(pooled: Any, recording: int) -> PoolingView:
    """Cut recording ``recording`` (an index) out of a :class:`fimcg.coarse_graining.collection.Pooled`."""
    k = int(recording)
    if not 0 <= k < len(pooled.names):
        raise ValueError(f"recording must be an index 0..{len(pooled.names) - 1}, got {recording!r}")
    col = lambda t: t.detach().cpu().double().numpy().reshape(-1)  # noqa: E731
    drifts = pooled.drift.detach().cpu().double().numpy()[..., 0]
    return PoolingView(name=pooled.names[k], grid=col(pooled.grid), own_drift=col(pooled.raw_drift[k]),
                       pooled_drift=col(pooled.drift[k]), family_fit=col(pooled.drift_centre[k]),
                       collection_mean=drifts.mean(0), collection_sd=drifts.std(0),
                       own_diffusion=col(pooled.raw_diffusion[k]), pooled_diffusion=col(pooled.diffusion[k]),
                       coordinates=pooled.drift_coefficients.detach().cpu().double().numpy(), index=k,
                       weight=float(pooled.drift_weight))


def _traces(v: PoolingView) -> list[tuple[np.ndarray, np.ndarray]]:
    band_x = np.concatenate([v.grid, v.grid[::-1]])
    band_y = np.concatenate([v.collection_mean + v.collection_sd, (v.collection_mean - v.collection_sd)[::-1]])
    from ..app.figures import family_coordinates_xy

    all_x, all_y, _, _ = family_coordinates_xy(v.coordinates)
    one = (all_x[v.index:v.index + 1], all_y[v.index:v.index + 1])
    return [(band_x, band_y), (v.grid, v.family_fit), (v.grid, v.own_drift), (v.grid, v.pooled_drift),
            (v.grid, v.own_diffusion), (v.grid, v.pooled_diffusion), (all_x, all_y), one]


def _title(v: PoolingView) -> str:
    return (f"{v.name}: its fit in the collection's family (rank {v.coordinates.shape[1]}) "
            f"plus {100 * v.weight:.0f}% of its own estimate")


def pooling_figure(v: PoolingView):
    """Drift (left: the collection's band mean ± spread, the recording's family fit, own and pooled
    estimates), diffusion (middle: own and pooled) and every recording's coordinates in the family
    of drifts (right: c2 against c1, or c1 against the recording's index for rank 1; this one
    highlighted). Traces (fixed order): band, family fit, own drift, pooled drift, own g, pooled g,
    all coordinates, this recording's coordinates."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=("drift f(z)", "diffusion g(z)",
                                                        "coordinates in the family of drifts"))
    (bx, by), fit, own_f, pooled_f, own_g, pooled_g, every, this = _traces(v)
    fig.add_trace(go.Scatter(x=bx, y=by, fill="toself", mode="none", fillcolor="rgba(128,128,128,0.25)",
                             name="collection: mean ± spread"), row=1, col=1)
    fig.add_trace(go.Scatter(x=fit[0], y=fit[1], mode="lines", name="its fit in the family",
                             line=dict(color="grey", dash="dash")), row=1, col=1)
    for (x, y), name, color, col in ((own_f, "own estimate", "#E69F00", 1), (pooled_f, "pooled", "#0072B2", 1),
                                     (own_g, "own estimate (g)", "#E69F00", 2), (pooled_g, "pooled (g)", "#0072B2", 2)):
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, line=dict(color=color)), row=1, col=col)
    fig.add_trace(go.Scatter(x=every[0], y=every[1], mode="markers", name="all recordings",
                             marker=dict(color="grey", size=7)), row=1, col=3)
    fig.add_trace(go.Scatter(x=this[0], y=this[1], mode="markers", name="this recording",
                             marker=dict(color="#0072B2", size=12, symbol="diamond")), row=1, col=3)
    fig.update_xaxes(title_text="latent z", row=1, col=1)
    fig.update_xaxes(title_text="latent z", row=1, col=2)
    from ..app.figures import family_coordinates_xy

    _, _, x_title, y_title = family_coordinates_xy(v.coordinates)
    fig.update_xaxes(title_text=x_title, row=1, col=3)
    fig.update_yaxes(title_text=y_title, row=1, col=3)
    fig.update_layout(height=380, title=dict(text=_title(v), font=dict(size=13)), template="plotly_white",
                      margin=dict(l=50, r=20, t=70, b=40))
    return fig


def update_pooling_figure(fig, v: PoolingView) -> None:
    """Copy ``v`` into a figure made by :func:`pooling_figure` (Figure or FigureWidget)."""
    if len(fig.data) != 8:
        raise ValueError(f"expected a figure from pooling_figure (8 traces), got {len(fig.data)}")
    with fig.batch_update():
        for trace, (x, y) in zip(fig.data, _traces(v)):
            trace.update(x=x, y=y)
        fig.layout.title.text = _title(v)


def pooling_slider_figure(pooled: Any, *, max_recordings: int = 10):
    """Static-page stand-in for :func:`pooling_explorer`: a plotly slider over the first recordings."""
    ks = list(range(min(len(pooled.names), max_recordings)))
    return slider_over(pooling_figure, [pooling_view(pooled, k) for k in ks], [pooled.names[k] for k in ks],
                       slider_title="", slider_y=-0.15)


def pooling_explorer(pooled: Any):
    """A slider over the recordings of a collection, redrawing :func:`pooling_figure`.

    Returns:
        An ``ipywidgets.VBox`` with ``controls`` ({"recording": IntSlider}), ``figure`` and ``data``.
    """
    import ipywidgets as w

    controls = {"recording": w.IntSlider(value=0, min=0, max=len(pooled.names) - 1, description="recording",
                                         continuous_update=False)}
    return explorer(controls, lambda: pooling_view(pooled, controls["recording"].value), pooling_figure,
                    update_pooling_figure, [controls["recording"]])
