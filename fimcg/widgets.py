"""Interactive notebook helpers: fast mode, and ipywidgets that drive plotly figures.

Every widget here is a thin shell: sliders, a :class:`plotly.graph_objects.FigureWidget`, and a
callback that calls a pure function (also in this module, or elsewhere in :mod:`fimcg`) and
copies its arrays into the figure's traces. The pure functions are what the tests check; the
widgets are tested headlessly by setting a slider's ``.value`` and reading the figure back.

Two environment variables steer the notebooks:

* ``FIMCG_FAST=1`` -- small data and short training everywhere (continuous integration, a quick
  look). Read it through :func:`fast_mode` / :func:`pick`, never directly.
* ``FIMCG_STATIC=1`` -- set by the book build: the notebook runs for a static web page where no
  kernel answers a slider, so :func:`show` does not build widgets at all (their state would add
  megabytes to the page and show only the initial state). The static pages use plotly's own
  sliders instead.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import torch

__all__ = [
    "fast_mode",
    "pick",
    "static_mode",
    "show",
    "landscape_sde",
    "LandscapeData",
    "landscape_data",
    "landscape_figure",
    "update_landscape_figure",
    "landscape_slider_figure",
    "potential_explorer",
]

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"environment variable {name} must be one of 1/0/true/false/yes/no/on/off, got {raw!r}")


def fast_mode() -> bool:
    """True when the environment variable ``FIMCG_FAST`` is set to 1/true/yes/on.

    Raises:
        ValueError: ``FIMCG_FAST`` holds something else (a typo should not silently run the
            slow mode for an hour).
    """
    return _flag("FIMCG_FAST")


def static_mode() -> bool:
    """True while a notebook runs for the static website (``FIMCG_STATIC``, set by the book build)."""
    return _flag("FIMCG_STATIC")


def pick(normal: T, fast: T) -> T:
    """Return ``fast`` in fast mode (see :func:`fast_mode`), else ``normal``.

    Example: ``n_paths = pick(200, 20)``.
    """
    return fast if fast_mode() else normal


def show(builder: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Build a widget with ``builder(*args, **kwargs)`` and return it for display.

    In static mode (the book build) nothing is built and a short note is returned instead: a
    static page has no kernel to answer the sliders. Use it as the last line of a cell, e.g.
    ``show(potential_explorer, n_paths=50)``.
    """
    if not callable(builder):
        raise TypeError(f"builder must be a callable returning a widget, got {type(builder).__name__}")
    if static_mode():
        return _StaticNote(getattr(builder, "__name__", "widget"))
    return builder(*args, **kwargs)


class _StaticNote:
    """What :func:`show` displays on the static website instead of a live widget."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _repr_markdown_(self) -> str:
        return (f"*Interactive widget `{self.name}`: open this notebook in JupyterLab to use the "
                "sliders. A figure with plotly's own slider on this page shows the same idea.*")

    def __repr__(self) -> str:
        return f"<widget {self.name}: live only in Jupyter>"


# --------------------------------------------------------------------------------------------------
# Notebook 01: a particle in a (tilted) double well with constant or semicircle diffusion
# --------------------------------------------------------------------------------------------------

REFERENCE_WIDTH = math.sqrt(4.0 / 1.25)  # where the reference diffusion sqrt(4 - 1.25 x^2) vanishes


def landscape_sde(*, barrier: float = 1.0, well: float = 1.0, tilt: float = 0.0, noise: float = 2.0,
                  width: float = REFERENCE_WIDTH, state_dependent: bool = True):
    """A double well described by what one sees in its picture, as a :class:`fimcg.SDE`.

    Potential and drift (f = -U')::

        U(x) = barrier * ((x / well)^2 - 1)^2 - tilt * x

    so without tilt the wells sit at x = +-well and the barrier between them is ``barrier`` high.
    Diffusion: ``noise * sqrt(max(1 - x^2 / width^2, 0))`` (a semicircle of half-width ``width``)
    when ``state_dependent``, else the constant ``noise``. The defaults are the reference system
    f(x) = 4x - 4x^3, g(x) = sqrt(max(4 - 1.25 x^2, 0)).

    Args:
        barrier: height of the barrier at x = 0 above the wells (> 0).
        well: position of the wells (> 0).
        tilt: constant force towards +x (any sign); it deepens the right well.
        noise: g(0), the noise amplitude in the middle (> 0).
        width: where the semicircle diffusion vanishes (> well, so the particle is confined by the
            drift before the noise switches off); ignored for constant diffusion.
        state_dependent: semicircle (True) or constant (False) diffusion.

    Raises:
        ValueError: a non-positive barrier, well, noise or width, or ``width <= well``.
    """
    from ._validation import check_positive
    from .systems import polynomial_potential

    barrier = check_positive(barrier, name="barrier")
    well = check_positive(well, name="well")
    noise = check_positive(noise, name="noise")
    tilt = float(tilt)
    if not math.isfinite(tilt):
        raise ValueError(f"tilt must be finite, got {tilt!r}")
    coeffs = (barrier, 0.0, -2.0 * barrier / well ** 2, 0.0, barrier / well ** 4)
    if state_dependent:
        width = check_positive(width, name="width")
        if width <= well:
            raise ValueError(f"width must exceed well (the noise must not vanish before the wells); "
                             f"got width={width!r}, well={well!r}")
        return polynomial_potential(coeffs=coeffs, tilt=tilt, semicircle=(noise ** 2, noise ** 2 / width ** 2))
    return polynomial_potential(coeffs=coeffs, tilt=tilt, sigma=noise)


@dataclass(frozen=True)
class LandscapeData:
    """Everything the landscape figure shows, as numpy arrays (float64).

    Attributes:
        x: grid of states (G,). potential, drift, diffusion, density: U, f, g and the stationary
            density p on the grid, each (G,).
        bin_centers, histogram: density-normalised histogram of all simulated observations (B,).
        time: observation times of the shown paths (S,). paths: a few simulated paths (n_show, S).
        std: standard deviation of all simulated observations.
        switches_per_time: crossings between the two wells per unit time, per path (a crossing is
            counted when a path goes from below -well/2 to above +well/2 or back).
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


def _sample_stationary(sde, n: int, *, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    """n draws from the stationary density by inverting its CDF on a fine grid; (n, 1)."""
    from .systems import stationary_density

    grid = torch.linspace(lo, hi, 4001, dtype=torch.float64)
    p = stationary_density(sde, grid).numpy()
    cdf = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(grid.numpy()))])
    cdf /= cdf[-1]
    u = torch.rand(n, generator=gen, dtype=torch.float64).numpy()
    x = np.interp(u, cdf, grid.numpy())
    return torch.as_tensor(x, dtype=torch.float32)[:, None]


def _count_switches(paths: torch.Tensor, level: float) -> torch.Tensor:
    """Crossings between x < -level and x > +level along each path of (n, T); returns (n,)."""
    state = torch.zeros_like(paths, dtype=torch.int8)
    state[paths > level] = 1
    state[paths < -level] = -1
    counts = torch.zeros(paths.shape[0])
    for i in range(paths.shape[0]):
        s = state[i][state[i] != 0]
        counts[i] = float((s[1:] != s[:-1]).sum()) if s.numel() > 1 else 0.0
    return counts


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
    from ._validation import check_int, check_positive
    from .sde import simulate
    from .systems import stationary_density

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
    x0 = _sample_stationary(sde, n_paths, lo=lo, hi=hi, gen=gen)
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
    switches = _count_switches(paths, well / 2).mean() / (n_steps * dt)
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
    with fig.batch_update():
        fig.data[0].update(x=data.x, y=data.potential)
        fig.data[1].update(x=data.x, y=data.diffusion)
        fig.data[2].update(x=data.bin_centers, y=data.histogram)
        fig.data[3].update(x=data.x, y=data.density)
        for trace, path in zip(fig.data[len(_LANDSCAPE_TRACES):], data.paths):
            trace.update(x=data.time, y=path)
        fig.layout.title.text = _landscape_title(data)


def landscape_slider_figure(datas: Sequence[LandscapeData], labels: Sequence[str], *,
                            slider_title: str = ""):
    """The static-page stand-in for :func:`potential_explorer`: a plotly slider over precomputed data.

    Every entry of ``datas`` contributes one copy of the landscape traces; the slider shows one
    copy at a time (no kernel needed, so it works on the website).

    Args:
        datas: one :class:`LandscapeData` per slider position (all with the same number of paths).
        labels: the slider's label for each position.
    """
    if len(datas) == 0 or len(datas) != len(labels):
        raise ValueError(f"datas and labels must be non-empty and of equal length, got {len(datas)} and {len(labels)}")
    fig = landscape_figure(datas[0])
    per = len(fig.data)
    first = list(fig.data)
    traces = []
    for k, data in enumerate(datas):
        f = landscape_figure(data)
        if len(f.data) != per:
            raise ValueError("every entry of datas must show the same number of paths")
        for t in f.data:
            t.visible = k == 0
            traces.append(t)
    fig.data = []
    for t, like in zip(traces, first * len(datas)):
        # keep each copy on the subplot axes of its original trace
        t.xaxis, t.yaxis = like.xaxis, like.yaxis
        fig.add_trace(t)
    steps = []
    for k, (data, label) in enumerate(zip(datas, labels)):
        visible = [k == j // per for j in range(per * len(datas))]
        steps.append(dict(method="update", label=str(label),
                          args=[{"visible": visible}, {"title.text": _landscape_title(data)}]))
    fig.update_layout(sliders=[dict(active=0, steps=steps, y=-0.3, yanchor="top", pad=dict(t=10),
                                    currentvalue=dict(prefix=slider_title, font=dict(size=13)))],
                      height=500, margin=dict(b=150), title=_landscape_title(datas[0]))
    return fig


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
    import plotly.graph_objects as go

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
        params = {k: c.value for k, c in controls.items()}
        return landscape_data(landscape_sde(**params), well=params["well"], **sim)

    data = compute()
    figure = go.FigureWidget(landscape_figure(data))
    status = w.Label(value="")
    box = w.VBox([w.HBox([w.VBox([controls[k] for k in ("barrier", "well", "tilt")]),
                          w.VBox([controls[k] for k in ("noise", "width")] + [controls["state_dependent"]])]),
                  status, figure])
    box.controls, box.figure, box.status, box.data = controls, figure, status, data

    def on_change(change) -> None:
        controls["width"].disabled = not controls["state_dependent"].value
        try:
            new = compute()
        except ValueError as exc:  # e.g. width <= well: say why, keep the last figure
            status.value = f"invalid setting: {exc}"
            return
        status.value = ""
        box.data = new
        update_landscape_figure(figure, new)

    for c in controls.values():
        c.observe(on_change, names="value")
    return box
