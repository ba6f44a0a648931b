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
        prior_mean, prior_sd: the collection's mean drift and the spread of the recordings' true drifts
            (sqrt of tau²) around it.
        own_diffusion, pooled_diffusion: the same for g.
        weight: the share of its own drift estimate that pooling kept, in [0, 1].
    """

    name: str
    grid: np.ndarray
    own_drift: np.ndarray
    pooled_drift: np.ndarray
    prior_mean: np.ndarray
    prior_sd: np.ndarray
    own_diffusion: np.ndarray
    pooled_diffusion: np.ndarray
    weight: np.ndarray


def pooling_view(pooled: Any, recording: int) -> PoolingView:
    """Cut recording ``recording`` (an index) out of a :class:`fimcg.coarse_graining.collection.Pooled`."""
    k = int(recording)
    if not 0 <= k < len(pooled.names):
        raise ValueError(f"recording must be an index 0..{len(pooled.names) - 1}, got {recording!r}")
    col = lambda t: t.detach().cpu().double().numpy().reshape(-1)  # noqa: E731
    return PoolingView(name=pooled.names[k], grid=col(pooled.grid), own_drift=col(pooled.raw_drift[k]),
                       pooled_drift=col(pooled.drift[k]), prior_mean=col(pooled.drift_prior.mean),
                       prior_sd=np.sqrt(col(pooled.drift_prior.spread)), own_diffusion=col(pooled.raw_diffusion[k]),
                       pooled_diffusion=col(pooled.diffusion[k]), weight=col(pooled.drift_weight[k]))


def _traces(v: PoolingView) -> list[tuple[np.ndarray, np.ndarray]]:
    band_x = np.concatenate([v.grid, v.grid[::-1]])
    band_y = np.concatenate([v.prior_mean + v.prior_sd, (v.prior_mean - v.prior_sd)[::-1]])
    return [(band_x, band_y), (v.grid, v.prior_mean), (v.grid, v.own_drift), (v.grid, v.pooled_drift),
            (v.grid, v.own_diffusion), (v.grid, v.pooled_diffusion), (v.grid, v.weight)]


def _title(v: PoolingView) -> str:
    return f"{v.name}: its own estimate kept {100 * float(v.weight.mean()):.0f}% weight on average"


def pooling_figure(v: PoolingView):
    """Drift (left: the collection's band mean ± spread, the recording's own and pooled estimates),
    diffusion (middle: own and pooled) and the weight of the own drift estimate (right).
    Traces (fixed order): band, collection mean, own drift, pooled drift, own g, pooled g, weight."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=("drift f(z)", "diffusion g(z)", "weight of its own drift"))
    (bx, by), mean, own_f, pooled_f, own_g, pooled_g, w = _traces(v)
    fig.add_trace(go.Scatter(x=bx, y=by, fill="toself", mode="none", fillcolor="rgba(128,128,128,0.25)",
                             name="collection: mean ± spread"), row=1, col=1)
    fig.add_trace(go.Scatter(x=mean[0], y=mean[1], mode="lines", name="collection mean",
                             line=dict(color="grey", dash="dash")), row=1, col=1)
    for (x, y), name, color, col in ((own_f, "own estimate", "#E69F00", 1), (pooled_f, "pooled", "#0072B2", 1),
                                     (own_g, "own estimate (g)", "#E69F00", 2), (pooled_g, "pooled (g)", "#0072B2", 2),
                                     (w, "weight", "#009E73", 3)):
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, line=dict(color=color)), row=1, col=col)
    fig.update_xaxes(title_text="latent z")
    fig.update_yaxes(range=[0, 1.05], row=1, col=3)
    fig.update_layout(height=380, title=dict(text=_title(v), font=dict(size=13)), template="plotly_white",
                      margin=dict(l=50, r=20, t=70, b=40))
    return fig


def update_pooling_figure(fig, v: PoolingView) -> None:
    """Copy ``v`` into a figure made by :func:`pooling_figure` (Figure or FigureWidget)."""
    if len(fig.data) != 7:
        raise ValueError(f"expected a figure from pooling_figure (7 traces), got {len(fig.data)}")
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
