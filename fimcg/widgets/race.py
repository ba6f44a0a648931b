"""Notebook 07: decoupled (frozen FIM) vs joint training, scored during training.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..analysis.alignment import score_coarse_graining

__all__ = ["AccuracyRecorder", "accuracy_vs_time_figure", "race_figure", "race_explorer"]

class AccuracyRecorder:
    """A ``callback`` for :func:`fimcg.coarse_graining.coarse_grain` or
    :func:`fimcg.coarse_graining.joint.joint_coarse_grain` that scores the provisional result during training.

    Each call runs :func:`score_coarse_graining` and stores the record with its ``step``; the
    training time comes from the result's history (evaluation time excluded). A result whose
    latent or coefficients are not finite is recorded with NaN errors.

    Attributes:
        records: list of dicts (see :func:`score_coarse_graining`, plus ``step``).
    """

    def __init__(self, paths: Any, sde, *, grid_size: int = 80) -> None:
        from .._validation import check_paths

        self.paths = check_paths(paths)
        self.sde = sde
        self.grid_size = grid_size
        self.records: list[dict] = []

    def __call__(self, step: int, result) -> None:
        try:
            rec = score_coarse_graining(result, self.paths, self.sde, grid_size=self.grid_size)
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            rec = dict(r2=float("nan"), drift_rel=float("nan"), diffusion_rel=float("nan"), grid=None, drift=None,
                       diffusion=None, time_s=float(result.history[-1]["time_s"]) if result.history else 0.0)
        rec["step"] = int(step)
        self.records.append(rec)


def accuracy_vs_time_figure(runs: Mapping[str, AccuracyRecorder], *, title: str | None = None):
    """Relative drift (left) and diffusion (right) error after alignment against training time.

    Args:
        runs: name -> a recorder filled during training (e.g. "FIM, seed 0").

    Returns:
        Figure with two ``Scatter`` traces per run (log y axes).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..app.figures import COLORS

    if not runs:
        raise ValueError("runs must name at least one recorder")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("drift: relative RMSE", "diffusion: relative RMSE"))
    for i, (name, rec) in enumerate(runs.items()):
        if not rec.records:
            raise ValueError(f"runs[{name!r}] holds no records: pass it as callback= with eval_every > 0")
        t = [r["time_s"] for r in rec.records]
        for col, key in ((1, "drift_rel"), (2, "diffusion_rel")):
            fig.add_trace(go.Scatter(x=t, y=[r[key] for r in rec.records], mode="lines+markers", name=name,
                                     legendgroup=name, showlegend=col == 1,
                                     line=dict(color=COLORS[i % len(COLORS)])), row=1, col=col)
    fig.update_yaxes(type="log")
    fig.update_xaxes(title_text="training time (s)")
    fig.update_layout(template="plotly_white", height=400, title=title, margin=dict(l=50, r=20, t=70, b=40))
    return fig


def _latest(rec: AccuracyRecorder, t: float) -> dict | None:
    done = [r for r in rec.records if r["time_s"] <= t and r["drift"] is not None]
    return done[-1] if done else None


def race_figure(runs: Mapping[str, AccuracyRecorder], sde, t: float):
    """Each run's aligned drift and diffusion as they stood after ``t`` seconds of training.

    Trace order (fixed): truth f, truth g, then per run its drift and its diffusion (empty before
    the run's first record).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..app.figures import COLORS

    if not runs:
        raise ValueError("runs must name at least one recorder")
    first = next(iter(runs.values()))
    grid = next((r["grid"] for r in first.records if r["grid"] is not None), None)
    if grid is None:
        raise ValueError("the first run holds no usable record")
    with torch.no_grad():
        xt = torch.as_tensor(grid)[:, None]
        f_true, g_true = sde.drift(xt)[:, 0].numpy(), sde.diffusion(xt)[:, 0].numpy()
    fig = make_subplots(rows=1, cols=2, subplot_titles=("drift (aligned to x)", "diffusion (aligned to x)"))
    for col, y in ((1, f_true), (2, g_true)):
        fig.add_trace(go.Scatter(x=grid, y=y, name="truth", legendgroup="truth", showlegend=col == 1,
                                 line=dict(color="#222222", width=3, dash="dash")), row=1, col=col)
    parts = []
    for i, (name, rec) in enumerate(runs.items()):
        r = _latest(rec, t)
        for col, key in ((1, "drift"), (2, "diffusion")):
            fig.add_trace(go.Scatter(x=r["grid"] if r else [], y=r[key] if r else [], name=name, legendgroup=name,
                                     showlegend=col == 1, line=dict(color=COLORS[i % len(COLORS)], width=2)),
                          row=1, col=col)
        parts.append(f"{name}: " + (f"{r['drift_rel']:.2f}/{r['diffusion_rel']:.2f}" if r else "not started"))
    fig.update_xaxes(title_text="x")
    fig.update_layout(template="plotly_white", height=420,
                      title=dict(text=f"after {t:g} s of training<br>relative error f / g:  " + ";  ".join(parts),
                                 font=dict(size=12)),
                      margin=dict(l=50, r=20, t=100, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def race_explorer(runs: Mapping[str, AccuracyRecorder], sde, *, times: Sequence[float] | None = None):
    """A slider over training time showing each run's drift and diffusion at that moment.

    The callback rebuilds the traces with :func:`race_figure` (no training: the runs are recorded).

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (``time``), ``figure`` (``go.FigureWidget``).
    """
    import ipywidgets as w
    import plotly.graph_objects as go

    t_max = max(r["time_s"] for rec in runs.values() for r in rec.records)
    slider = w.FloatSlider(value=0.0, min=0.0, max=float(np.ceil(t_max)), step=max(0.5, round(t_max / 50, 1)),
                           description="time (s)", continuous_update=False)
    figure = go.FigureWidget(race_figure(runs, sde, 0.0))
    box = w.VBox([slider, figure])
    box.controls, box.figure = {"time": slider}, figure

    def on_change(change) -> None:
        new = race_figure(runs, sde, slider.value)
        with figure.batch_update():
            for trace, fresh in zip(figure.data, new.data):
                trace.update(x=fresh.x, y=fresh.y)
            figure.layout.title.text = new.layout.title.text

    slider.observe(on_change, names="value")
    return box
