"""Notebook 01: a particle in a (tilted) double well with constant or semicircle diffusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..sde.systems import REFERENCE_WIDTH, landscape_sde
from .base import explorer, set_traces, slider_over

__all__ = ["LandscapeData", "landscape_data", "landscape_figure", "update_landscape_figure",
           "landscape_slider_figure", "potential_explorer"]

@dataclass(frozen=True)
class LandscapeData:
    """Everything the landscape figure shows, as numpy arrays (float64).

    Attributes:
        x: grid of states (G,). potential, drift, diffusion, density: U, f, g and the stationary
            density p on the grid, each (G,).
        bin_centers, histogram: density-normalised histogram of all simulated observations (B,).
        time: observation times of the shown paths (S,). paths: a few simulated paths (n_show, S).
        std: standard deviation of all simulated observations.
        switches_per_time: switches between the two wells per unit time (a switch is counted when
            a path goes from below -well/2 to above +well/2 or back; see
            :func:`fimcg.analysis.validation.switching_statistics`).
    """

    x: np.ndarray
    potential: np.ndarray
    drift: np.ndarray
    diffusion: np.ndarray
    density: np.ndarray
    bin_centers: np.ndarray
    histogram: np.ndarray
    time: np.ndarray
    paths: np.ndarray
    std: float
    switches_per_time: float


def landscape_data(sde, *, n_paths: int = 100, t_max: float = 10.0, dt: float = 0.002, seed: int = 0,
                   bins: int = 60, n_show: int = 3, well: float = 1.0, grid_size: int = 400) -> LandscapeData:
    """Simulate ``sde`` from its stationary density and collect what the landscape figure shows.

    Paths start from draws of the stationary density (so the histogram needs no burn-in) and run
    ``t_max`` time units with Euler-Maruyama at ``dt``.

    Args:
        sde: a 1-D :class:`fimcg.SDE` with a confining drift (e.g. from :func:`landscape_sde`).
        n_paths: number of simulated paths (>= 1). t_max: their duration (> 0). dt: time step (> 0).
        seed: seed of the initial draws and the noise. bins: histogram bins (>= 5).
        n_show: paths to keep for plotting (1..n_paths), thinned to at most 1000 points each.
        well: position of the wells, used only to count well switches (crossings of +-well/2).
        grid_size: points of the theory grid (>= 10).

    Returns:
        A :class:`LandscapeData`.
    """
    from .._validation import check_int, check_positive
    from ..analysis.validation import switching_statistics
    from ..sde.simulate import simulate
    from ..sde.density import sample_stationary, stationary_density

    n_paths = check_int(n_paths, name="n_paths", minimum=1)
    t_max = check_positive(t_max, name="t_max")
    dt = check_positive(dt, name="dt")
    bins = check_int(bins, name="bins", minimum=5)
    n_show = check_int(n_show, name="n_show", minimum=1)
    grid_size = check_int(grid_size, name="grid_size", minimum=10)
    well = check_positive(well, name="well")
    if n_show > n_paths:
        raise ValueError(f"n_show must be <= n_paths={n_paths}, got {n_show}")
    if sde.dim != 1:
        raise ValueError(f"landscape_data needs a 1-D SDE, got dim={sde.dim}")
    n_steps = max(1, int(round(t_max / dt)))

    # the theory's support: where the density is not negligible
    wide = torch.linspace(-6.0, 6.0, 6001, dtype=torch.float64)
    p_wide = stationary_density(sde, wide).numpy()
    inside = np.flatnonzero(p_wide > 1e-6 * p_wide.max())
    lo, hi = float(wide[max(inside[0] - 1, 0)]), float(wide[min(inside[-1] + 1, wide.numel() - 1)])

    gen = torch.Generator().manual_seed(int(seed))
    x0 = sample_stationary(sde, n_paths, domain=(lo, hi), generator=gen)
    paths = simulate(sde, x0, dt=dt, n_steps=n_steps, seed=int(seed) + 1)[..., 0]  # (n, T)

    x = torch.linspace(min(lo, float(paths.min())), max(hi, float(paths.max())), grid_size, dtype=torch.float64)
    with torch.no_grad():
        xs = x[:, None]
        potential = sde.potential(xs).numpy() if sde.potential is not None else np.full(grid_size, np.nan)
        drift = sde.drift(xs)[:, 0].numpy()
        diffusion = sde.diffusion(xs)[:, 0].numpy()
    density = stationary_density(sde, x).numpy()
    hist, edges = np.histogram(paths.numpy().ravel(), bins=bins, range=(float(x[0]), float(x[-1])), density=True)
    stride = max(1, (n_steps + 1) // 1000)
    time = np.arange(0, n_steps + 1, stride) * dt
    switches = switching_statistics(paths[..., None], dt, thresholds=(-well / 2, well / 2)).rate
    return LandscapeData(
        x=x.numpy(), potential=potential, drift=drift, diffusion=diffusion, density=density,
        bin_centers=(edges[1:] + edges[:-1]) / 2, histogram=hist, time=time,
        paths=paths[:n_show, ::stride].double().numpy(), std=float(paths.double().std()),
        switches_per_time=float(switches),
    )


# trace order of the landscape figure (update_landscape_figure relies on it)
_LANDSCAPE_TRACES = ("potential U(x)", "diffusion g(x)", "histogram", "stationary p(x)")


def landscape_figure(data: LandscapeData, *, title: str | None = None):
    """Three panels: potential and diffusion; a few paths; histogram against the stationary density.

    Trace order (fixed): U(x), g(x), histogram, p(x), then one trace per shown path.
    Returns a :class:`plotly.graph_objects.Figure`.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, column_widths=[0.3, 0.4, 0.3], horizontal_spacing=0.09,
                        subplot_titles=("landscape", "paths", "stationary density"))
    fig.add_trace(go.Scatter(x=data.x, y=data.potential, name=_LANDSCAPE_TRACES[0],
                             line=dict(color="#1f77b4", width=2.5)), row=1, col=1)
    fig.add_trace(go.Scatter(x=data.x, y=data.diffusion, name=_LANDSCAPE_TRACES[1],
                             line=dict(color="#d62728", dash="dash")), row=1, col=1)
    fig.add_trace(go.Bar(x=data.bin_centers, y=data.histogram, name=_LANDSCAPE_TRACES[2],
                         marker_color="rgba(31,119,180,0.35)"), row=1, col=3)
    fig.add_trace(go.Scatter(x=data.x, y=data.density, name=_LANDSCAPE_TRACES[3],
                             line=dict(color="black", width=2)), row=1, col=3)
    for i, path in enumerate(data.paths):
        fig.add_trace(go.Scatter(x=data.time, y=path, name=f"path {i + 1}", showlegend=False,
                                 line=dict(width=1)), row=1, col=2)
    fig.update_layout(height=380, bargap=0, margin=dict(l=40, r=20, t=60, b=40),
                      legend=dict(orientation="h", y=-0.18), title=title or _landscape_title(data))
    fig.update_xaxes(title_text="x", row=1, col=1)
    fig.update_xaxes(title_text="t", row=1, col=2)
    fig.update_yaxes(title_text="x", row=1, col=2)
    fig.update_xaxes(title_text="x", row=1, col=3)
    return fig


def _landscape_title(data: LandscapeData) -> str:
    return f"std(x) = {data.std:.2f},  well switches per unit time = {data.switches_per_time:.2f}"


def update_landscape_figure(fig, data: LandscapeData) -> None:
    """Copy ``data`` into a figure made by :func:`landscape_figure` (a Figure or FigureWidget), in place."""
    n_paths = len(fig.data) - len(_LANDSCAPE_TRACES)
    if n_paths != len(data.paths):
        raise ValueError(f"the figure shows {n_paths} paths but data has {len(data.paths)}")
    set_traces(fig, [(data.x, data.potential), (data.x, data.diffusion), (data.bin_centers, data.histogram),
                      (data.x, data.density)] + [(data.time, path) for path in data.paths], _landscape_title(data))


def landscape_slider_figure(datas: Sequence[LandscapeData], labels: Sequence[str], *,
                            slider_title: str = ""):
    """The static-page stand-in for :func:`potential_explorer`: a plotly slider over precomputed data.

    One :func:`landscape_figure` per entry of ``datas``, combined by :func:`fimcg.app.figures.slider_figure`
    (no kernel needed, so it works on the website). All entries must show the same number of paths.
    """
    return slider_over(landscape_figure, datas, labels, slider_title=slider_title, slider_y=-0.3)


def potential_explorer(*, n_paths: int = 100, t_max: float = 10.0, dt: float = 0.002, seed: int = 0,
                       n_show: int = 3):
    """Sliders for the potential (barrier, well position, tilt) and the diffusion (noise, width,
    constant vs semicircle), redrawing paths, histogram and theory live.

    The callback is :func:`landscape_sde` + :func:`landscape_data` + :func:`update_landscape_figure`.

    Returns:
        An ``ipywidgets.VBox`` with extra attributes ``controls`` (dict name -> widget; names are
        the keyword arguments of :func:`landscape_sde`), ``figure`` (the ``go.FigureWidget``),
        ``status`` (a Label with the last error, if the sliders give an invalid system) and
        ``data`` (the current :class:`LandscapeData`).
    """
    import ipywidgets as w

    style = {"description_width": "110px"}
    layout = w.Layout(width="330px")
    controls = {
        "barrier": w.FloatSlider(value=1.0, min=0.25, max=3.0, step=0.25, description="barrier height",
                                 style=style, layout=layout, continuous_update=False),
        "well": w.FloatSlider(value=1.0, min=0.6, max=1.4, step=0.1, description="well position",
                              style=style, layout=layout, continuous_update=False),
        "tilt": w.FloatSlider(value=0.0, min=-2.0, max=2.0, step=0.25, description="tilt",
                              style=style, layout=layout, continuous_update=False),
        "noise": w.FloatSlider(value=2.0, min=0.5, max=3.0, step=0.25, description="noise g(0)",
                               style=style, layout=layout, continuous_update=False),
        "width": w.FloatSlider(value=round(REFERENCE_WIDTH, 2), min=1.5, max=3.0, step=0.05,
                               description="semicircle width", style=style, layout=layout,
                               continuous_update=False),
        "state_dependent": w.ToggleButtons(options=[("semicircle g(x)", True), ("constant g", False)],
                                           value=True, description="diffusion", style=style),
    }
    sim = dict(n_paths=n_paths, t_max=t_max, dt=dt, seed=seed, n_show=n_show)

    def compute() -> LandscapeData:
        controls["width"].disabled = not controls["state_dependent"].value
        params = {k: c.value for k, c in controls.items()}
        return landscape_data(landscape_sde(**params), well=params["well"], **sim)

    status = w.Label(value="")  # e.g. width <= well: says why, the figure keeps the last valid setting
    above = [w.HBox([w.VBox([controls[k] for k in ("barrier", "well", "tilt")]),
                     w.VBox([controls[k] for k in ("noise", "width")] + [controls["state_dependent"]])]), status]
    return explorer(controls, compute, landscape_figure, update_landscape_figure, above, status=status)
