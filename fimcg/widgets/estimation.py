"""Notebook 03: estimating drift and diffusion from paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from .._validation import to_numpy
from .base import explorer, set_traces, slider_over

__all__ = ["default_estimators", "EstimationData", "estimation_data", "estimation_figure",
           "update_estimation_figure", "estimation_slider_figure", "estimation_explorer", "error_curve",
           "Estimator"]

Estimator = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def default_estimators() -> dict[str, Estimator]:
    """The classic estimators of :mod:`fimcg.estimators`: binned Kramers-Moyal and local-linear."""
    from ..estimators.classic import binned_km, local_linear

    return {"binned KM": binned_km, "local-linear": local_linear}


@dataclass(frozen=True)
class EstimationData:
    """Estimates of drift and diffusion from one simulated data set, and their errors.

    Attributes:
        grid: query locations (G,), over the occupied region (2nd..98th percentile of the data).
        drift, diffusion: the true f and g on the grid (G,).
        estimates: name -> (drift (G,), diffusion (G,)).
        errors: name -> :func:`fimcg.analysis.metrics.sde_errors` dict (drift_rel, diffusion_rel, ...).
        n_paths, n_obs: data size (paths, observations per path). dt_obs: time between observations.
    """

    grid: np.ndarray
    drift: np.ndarray
    diffusion: np.ndarray
    estimates: dict
    errors: dict
    n_paths: int
    n_obs: int
    dt_obs: float


def estimation_data(sde, *, n_paths: int = 20, n_obs: int = 500, dt: float = 0.002, subsample: int = 1,
                    seed: int = 0, estimators: Mapping[str, Estimator] | None = None,
                    grid_size: int = 80) -> EstimationData:
    """Simulate ``sde``, observe it every ``subsample`` steps, and run each estimator.

    The paths are integrated with Euler-Maruyama at step ``dt`` (starting at the wells -1 and +1
    in turn) and observed every ``subsample`` steps, so the estimators see a time step
    ``dt_obs = dt * subsample``: a coarse ``dt_obs`` shows the discretisation bias of
    Kramers-Moyal-type estimators, while the data still come from the same fine simulation.

    Args:
        sde: a 1-D :class:`fimcg.SDE`.
        n_paths: paths (>= 1). n_obs: observations per path (>= 2).
        dt: integration step (> 0). subsample: integration steps per observation (>= 1).
        estimators: name -> callable ``(paths, dt, locations) -> (drift (G, 1), diffusion (G, 1))``,
            e.g. ``fim.estimate``; default :func:`default_estimators`.
        grid_size: query locations on the occupied region (>= 2).
    """
    from .._validation import check_int, check_positive
    from ..analysis.metrics import occupied_grid, sde_errors
    from ..sde.systems import paths_from_wells

    n_paths = check_int(n_paths, name="n_paths", minimum=1)
    n_obs = check_int(n_obs, name="n_obs", minimum=2)
    subsample = check_int(subsample, name="subsample", minimum=1)
    dt = check_positive(dt, name="dt")
    grid_size = check_int(grid_size, name="grid_size", minimum=2)
    if sde.dim != 1:
        raise ValueError(f"estimation_data needs a 1-D SDE, got dim={sde.dim}")
    estimators = dict(default_estimators() if estimators is None else estimators)
    if not estimators:
        raise ValueError("estimators must name at least one estimator")
    for name, est in estimators.items():
        if not callable(est):
            raise TypeError(f"estimators[{name!r}] must be callable (paths, dt, locations) -> (drift, diffusion)")
    dt_obs = dt * subsample
    paths = paths_from_wells(sde, n_paths=n_paths, n_obs=n_obs, dt=dt_obs, substeps=subsample, seed=seed)
    loc = occupied_grid(paths, n=grid_size)
    with torch.no_grad():
        f_true, g_true = sde.drift(loc)[:, 0], sde.diffusion(loc)[:, 0]
    estimates, errors = {}, {}
    for name, est in estimators.items():
        with torch.no_grad():
            f_hat, g_hat = est(paths, dt_obs, loc)
        estimates[name] = (to_numpy(f_hat[:, 0], dtype=np.float64), to_numpy(g_hat[:, 0], dtype=np.float64))
        errors[name] = sde_errors(sde, loc, f_hat.cpu(), g_hat.cpu())
    return EstimationData(grid=loc[:, 0].double().numpy(), drift=f_true.double().numpy(),
                          diffusion=g_true.double().numpy(), estimates=estimates, errors=errors,
                          n_paths=n_paths, n_obs=n_obs, dt_obs=dt_obs)


def _estimation_title(data: EstimationData) -> str:
    errs = ";  ".join(f"{k}: {v['drift_rel']:.2f} / {v['diffusion_rel']:.2f}" for k, v in data.errors.items())
    return (f"{data.n_paths} paths x {data.n_obs} obs, Δt = {data.dt_obs:g} (T = "
            f"{data.n_paths * (data.n_obs - 1) * data.dt_obs:g})<br>relative error f / g:  {errs}")


def estimation_figure(data: EstimationData):
    """Drift (left) and diffusion (right): truth and every estimate, errors in the title.

    Trace order (fixed): truth f, truth g, then for each estimator its drift and its diffusion.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..app.figures import COLORS

    fig = make_subplots(rows=1, cols=2, subplot_titles=("drift f(x)", "diffusion g(x)"))
    for col, y in ((1, data.drift), (2, data.diffusion)):
        fig.add_trace(go.Scatter(x=data.grid, y=y, mode="lines", name="truth", legendgroup="truth",
                                 showlegend=col == 1, line=dict(color="#222222", width=3, dash="dash")),
                      row=1, col=col)
    for i, (name, (f_hat, g_hat)) in enumerate(data.estimates.items()):
        for col, y in ((1, f_hat), (2, g_hat)):
            fig.add_trace(go.Scatter(x=data.grid, y=y, mode="lines", name=name, legendgroup=name,
                                     showlegend=col == 1, line=dict(color=COLORS[i % len(COLORS)], width=2)),
                          row=1, col=col)
    fig.update_xaxes(title_text="x")
    fig.update_layout(template="plotly_white", height=440, title=dict(text=_estimation_title(data), font=dict(size=12)),
                      margin=dict(l=50, r=20, t=100, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def update_estimation_figure(fig, data: EstimationData) -> None:
    """Copy ``data`` into a figure made by :func:`estimation_figure` with the same estimators."""
    expected = 2 + 2 * len(data.estimates)
    if len(fig.data) != expected:
        raise ValueError(f"the figure has {len(fig.data)} traces but data needs {expected} "
                         f"({len(data.estimates)} estimators)")
    xy = [(data.grid, data.drift), (data.grid, data.diffusion)]
    for i, (name, (f_hat, g_hat)) in enumerate(data.estimates.items()):
        if fig.data[2 + 2 * i].name != name:
            raise ValueError(f"trace {2 + 2 * i} is {fig.data[2 + 2 * i].name!r}, expected estimator {name!r}")
        xy += [(data.grid, f_hat), (data.grid, g_hat)]
    set_traces(fig, xy, _estimation_title(data))


def estimation_slider_figure(datas: Sequence[EstimationData], labels: Sequence[str], *, slider_title: str = ""):
    """Static-page stand-in for :func:`estimation_explorer`: a plotly slider over precomputed data sets.

    All entries must use the same estimators.
    """
    return slider_over(estimation_figure, datas, labels, slider_title=slider_title, slider_y=-0.35)


def estimation_explorer(sde=None, *, estimators: Mapping[str, Estimator] | None = None, dt: float = 0.002,
                        seed: int = 0):
    """Sliders for the amount of data (paths, observations per path) and the sampling step,
    redrawing every estimator's drift and diffusion against the truth.

    The callback is :func:`estimation_data` + :func:`update_estimation_figure`.

    Args:
        sde: the system to simulate (default: the reference double well).
        estimators: as in :func:`estimation_data` (pass ``{"FIM": fim.estimate, ...}`` to include the FIM).
        dt: the integration step; the sampling-step slider observes every k-th step.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (``n_paths``, ``n_obs``, ``subsample``),
        ``figure`` (``go.FigureWidget``) and ``data`` (current :class:`EstimationData`).
    """
    import ipywidgets as w

    from ..sde.systems import double_well

    sde = double_well() if sde is None else sde
    style = {"description_width": "150px"}
    layout = w.Layout(width="420px")
    controls = {
        "n_paths": w.IntSlider(value=10, min=1, max=100, description="paths", style=style, layout=layout,
                               continuous_update=False),
        "n_obs": w.IntSlider(value=500, min=50, max=5000, step=50, description="observations per path",
                             style=style, layout=layout, continuous_update=False),
        "subsample": w.IntSlider(value=1, min=1, max=50, description=f"sampling step (x {dt:g})", style=style,
                                 layout=layout, continuous_update=False),
    }

    def compute() -> EstimationData:
        return estimation_data(sde, dt=dt, seed=seed, estimators=estimators,
                               **{k: c.value for k, c in controls.items()})

    return explorer(controls, compute, estimation_figure, update_estimation_figure,
                     [w.VBox(list(controls.values()))])


def error_curve(sde, *, total_times: Sequence[float], n_paths: int = 10, dt: float = 0.002, seeds: int = 3,
                estimators: Mapping[str, Estimator] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Mean relative errors of each estimator as the observed time grows.

    For each total observed time T (split over ``n_paths`` paths sampled every ``dt``) and each of
    ``seeds`` seeds, runs :func:`estimation_data` and averages the relative RMSEs.

    Returns:
        name -> {"total_time": (K,), "drift_rel": (K,), "diffusion_rel": (K,)} (means over seeds).
    """
    from .._validation import check_int, check_positive

    seeds = check_int(seeds, name="seeds", minimum=1)
    times = [check_positive(t, name="total_times[i]") for t in total_times]
    if not times:
        raise ValueError("total_times must not be empty")
    out: dict[str, dict[str, list]] = {}
    for total in times:
        n_obs = max(2, int(round(total / (n_paths * dt))) + 1)
        runs = [estimation_data(sde, n_paths=n_paths, n_obs=n_obs, dt=dt, seed=s, estimators=estimators)
                for s in range(seeds)]
        for name in runs[0].errors:
            row = out.setdefault(name, {"total_time": [], "drift_rel": [], "diffusion_rel": []})
            row["total_time"].append(n_paths * (n_obs - 1) * dt)
            for key in ("drift_rel", "diffusion_rel"):
                row[key].append(float(np.mean([r.errors[name][key] for r in runs])))
    return {name: {k: np.asarray(v) for k, v in row.items()} for name, row in out.items()}
