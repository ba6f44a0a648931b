"""Notebook 12: a particle in a 2-D double well, its drift as a vector field, and fields on a grid.

The system is :func:`fimcg.sde.systems.double_well_2d` parametrised by what a reader can see
(:func:`landscape_2d_sde`): the barrier height, a coupling that tilts the wells' axis, and the
noise, with the wells kept at x1 = -1 and x1 = +1 whatever the sliders say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .base import check_trace_count, explorer, slider_over

__all__ = ["landscape_2d_sde", "Landscape2DData", "landscape_2d_data", "landscape_2d_figure",
           "update_landscape_2d_figure", "landscape_2d_slider_figure", "landscape_2d_explorer", "field_on_grid"]

#: Euler-Maruyama steps of at most this length simulate the paths (the walls are steep: |f'| ~ 100)
MAX_STEP = 0.002


def landscape_2d_sde(*, barrier: float = 1.0, coupling: float = 0.0, noise: float | tuple[float, float] = 1.0,
                     stiffness: float = 4.0):
    """The 2-D double well of notebook 12 with its wells at x1 = +-1 and a barrier of the given height.

    It is :func:`fimcg.sde.systems.double_well_2d`,
    ``U(x1, x2) = beta x1^4/4 - alpha x1^2/2 + kappa x2^2/2 + c x1 x2``, with ``beta = 4 barrier``,
    ``alpha = beta - c^2/kappa``, ``kappa = stiffness`` and ``c = coupling``: the wells are at
    ``(+-1, -+c/kappa)``, the saddle at the origin, and ``U(saddle) - U(well) = barrier`` for every
    coupling (``barrier=1, coupling=0`` is the catalogue's default ``double_well_2d()`` up to the noise).

    Args:
        barrier: height of the saddle above the wells (> 0).
        coupling: the x1 x2 term; it tilts the line through the wells (any finite value: along the
            valley x2 = -c x1 / kappa the potential is beta x1^4/4 - beta x1^2/2 for every c).
        noise: constant diffusion g, one number for both coordinates or a pair (g1, g2) (> 0).
        stiffness: curvature of the potential across the wells' axis (> 0).

    Returns:
        A 2-D :class:`fimcg.SDE` with a ``potential``.
    """
    from .._validation import check_number, check_positive
    from ..sde.systems import double_well_2d

    barrier = check_positive(barrier, name="barrier")
    stiffness = check_positive(stiffness, name="stiffness")
    coupling = check_number(coupling, name="coupling")
    sigma = noise if np.isscalar(noise) else tuple(noise)
    if not np.isscalar(sigma) and len(sigma) != 2:
        raise ValueError(f"noise must be a number or a pair (g1, g2), got {noise!r}")
    sigma = check_positive(sigma, name="noise") if np.isscalar(sigma) else \
        tuple(check_positive(s, name="noise") for s in sigma)
    beta = 4.0 * barrier
    return double_well_2d(alpha=beta - coupling ** 2 / stiffness, beta=beta, kappa=stiffness, coupling=coupling,
                          sigma=sigma)


@dataclass(frozen=True)
class Landscape2DData:
    """Everything the 2-D landscape figure shows, as numpy arrays (float64).

    Attributes:
        grid_x: (nx,) and grid_y: (ny,) the grid of the field (same step in both coordinates).
        potential: (ny, nx) U on the grid (row j, column i: at (grid_x[i], grid_y[j])).
        drift: (ny, nx, 2) f = -grad U on the grid.
        time: (S,) observation times of the shown paths. paths: (n_show, S, 2) a few simulated paths.
        wells: (K, 2) the drift's stable fixed points (:func:`fimcg.analysis.validation.attractors`),
            sorted by x1 (left well first).
        occupation: (K,) share of all observations nearest to each well.
        switches_per_time: switches between the wells per unit time, all paths
            (:func:`fimcg.analysis.validation.core_statistics`: a switch is the arrival within a quarter
            of the wells' distance of a well other than the last one visited).
        barrier, coupling: the landscape's settings. noise: (2,) the diffusion (g1, g2).
    """

    grid_x: np.ndarray
    grid_y: np.ndarray
    potential: np.ndarray
    drift: np.ndarray
    time: np.ndarray
    paths: np.ndarray
    wells: np.ndarray
    occupation: np.ndarray
    switches_per_time: float
    barrier: float
    coupling: float
    noise: np.ndarray


def landscape_2d_data(*, barrier: float = 1.0, coupling: float = 0.0, noise: float | tuple[float, float] = 1.0,
                      n_paths: int = 40, t_max: float = 10.0, dt: float = 0.01, seed: int = 0, n_show: int = 3,
                      grid_size: int = 17, extent: tuple[float, float] = (1.6, 1.2)) -> Landscape2DData:
    """Simulate the 2-D double well of :func:`landscape_2d_sde` and collect what its figure shows.

    Paths start alternately in the two wells (plus N(0, 0.1²) in each coordinate) and run ``t_max``
    time units, observed every ``dt`` (Euler-Maruyama steps of at most 0.002 in between).

    Args:
        barrier, coupling, noise: the landscape (see :func:`landscape_2d_sde`).
        n_paths: number of simulated paths (>= 1). t_max: their duration (> 0). dt: observation step (> 0).
        seed: seed of the initial states and the noise. n_show: paths to keep for plotting
            (1..n_paths), thinned to at most 1000 points each.
        grid_size: grid points along x1 (>= 3); x2 gets the same step.
        extent: half-widths (a1, a2) of the grid: x1 in [-a1, a1], x2 in [-a2, a2] (both > 0).

    Returns:
        A :class:`Landscape2DData`.
    """
    from .._validation import check_int, check_positive
    from ..analysis.validation import attractors, core_statistics
    from ..sde.simulate import simulate

    sde = landscape_2d_sde(barrier=barrier, coupling=coupling, noise=noise)
    n_paths = check_int(n_paths, name="n_paths", minimum=1)
    t_max = check_positive(t_max, name="t_max")
    dt = check_positive(dt, name="dt")
    n_show = check_int(n_show, name="n_show", minimum=1)
    grid_size = check_int(grid_size, name="grid_size", minimum=3)
    if n_show > n_paths:
        raise ValueError(f"n_show must be <= n_paths={n_paths}, got {n_show}")
    if np.ndim(extent) != 1 or len(extent) != 2:
        raise ValueError(f"extent must be a pair of half-widths (a1, a2), got {extent!r}")
    a1, a2 = (check_positive(a, name="extent") for a in extent)
    n_steps = max(1, int(round(t_max / dt)))
    substeps = max(1, math.ceil(dt / MAX_STEP - 1e-9))

    kappa = sde.params["kappa"]
    start = torch.tensor([[-1.0, sde.params["coupling"] / kappa], [1.0, -sde.params["coupling"] / kappa]])
    gen = torch.Generator().manual_seed(int(seed))
    x0 = start[torch.arange(n_paths) % 2] + 0.1 * torch.randn(n_paths, 2, generator=gen)
    paths = simulate(sde, x0, dt=dt, n_steps=n_steps, substeps=substeps, seed=int(seed) + 1).double()  # (n, T, 2)

    grid_x = np.linspace(-a1, a1, grid_size)
    step = grid_x[1] - grid_x[0]
    half_y = max(1, int(round(a2 / step)))
    grid_y = step * np.arange(-half_y, half_y + 1)
    xs = torch.as_tensor(np.stack(np.meshgrid(grid_x, grid_y), axis=-1).reshape(-1, 2))  # row-major (ny, nx)
    with torch.no_grad():
        potential = sde.potential(xs).numpy().reshape(grid_y.size, grid_x.size)
        drift = sde.drift(xs).numpy().reshape(grid_y.size, grid_x.size, 2)

    # stable fixed points from a 6 x 6 grid of starts (an even count: no start at the saddle, the origin)
    starts = np.stack(np.meshgrid(np.linspace(-a1, a1, 6), np.linspace(-a2, a2, 6)), axis=-1).reshape(-1, 2)
    wells = attractors(sde.drift, starts)
    wells = wells[np.argsort(wells[:, 0])]
    cores = core_statistics(paths, dt, wells)
    stride = max(1, (n_steps + 1) // 1000)
    return Landscape2DData(
        grid_x=grid_x, grid_y=grid_y, potential=potential, drift=drift,
        time=np.arange(0, n_steps + 1, stride) * dt, paths=paths[:n_show, ::stride].numpy(), wells=wells,
        occupation=cores.occupation, switches_per_time=float(cores.rate), barrier=float(barrier),
        coupling=float(sde.params["coupling"]), noise=np.asarray(sde.params["sigma"], dtype=np.float64),
    )


def _landscape_2d_title(data: Landscape2DData) -> str:
    g = data.noise
    noise = f"{g[0]:g}" if g[0] == g[1] else f"({g[0]:g}, {g[1]:g})"
    occ = " / ".join(f"{v:.2f}" for v in data.occupation)
    return (f"barrier {data.barrier:g}, coupling {data.coupling:g}, noise {noise}:  "
            f"{data.switches_per_time:.2f} switches per unit time, occupation {occ}")


def landscape_2d_figure(data: Landscape2DData, *, title: str | None = None):
    """The drift field as arrows over the potential's contours, a few paths, and the wells.

    Made by :func:`fimcg.app.figures.vector_field_figure` (arrow length scaled to the grid) plus one
    marker trace. Trace order (fixed): the ``Contour`` "potential", the arrows "drift", one trace per
    shown path, then the markers "wells". Returns a :class:`plotly.graph_objects.Figure`.
    """
    import plotly.graph_objects as go

    from ..app.figures import vector_field_figure

    fig = vector_field_figure(data.grid_x, data.grid_y, data.drift, potential=data.potential, paths=data.paths,
                              n_show=len(data.paths), title=title or _landscape_2d_title(data), height=480)
    fig.add_trace(go.Scatter(x=data.wells[:, 0], y=data.wells[:, 1], mode="markers", name="wells",
                             marker=dict(symbol="x", size=11, color="#d62728", line=dict(width=1))))
    return fig


def update_landscape_2d_figure(fig, data: Landscape2DData) -> None:
    """Copy ``data`` into a figure made by :func:`landscape_2d_figure` (a Figure or FigureWidget), in place.

    Every trace gets the arrays of a freshly built figure (contour levels, arrows at their new
    scale, paths, wells), and the title its new text.
    """
    n_paths = len(fig.data) - 3  # potential, drift, wells and the paths
    if n_paths != len(data.paths):
        raise ValueError(f"the figure shows {n_paths} paths but data has {len(data.paths)}")
    new = landscape_2d_figure(data)
    check_trace_count(fig, len(new.data), source="landscape_2d_figure")
    with fig.batch_update():
        for old, fresh in zip(fig.data, new.data):
            if fresh.type == "contour":
                old.update(x=fresh.x, y=fresh.y, z=fresh.z)
            else:
                old.update(x=fresh.x, y=fresh.y, customdata=fresh.customdata)
        fig.layout.title.text = new.layout.title.text
        fig.layout.meta = new.layout.meta


def landscape_2d_slider_figure(datas: Sequence[Landscape2DData], labels: Sequence[str], *, slider_title: str = ""):
    """The static-page stand-in for :func:`landscape_2d_explorer`: a plotly slider over precomputed data.

    One :func:`landscape_2d_figure` per entry of ``datas``, combined by
    :func:`fimcg.app.figures.slider_figure` (no kernel needed). All entries must show the same number
    of paths.
    """
    return slider_over(landscape_2d_figure, datas, labels, slider_title=slider_title, slider_y=-0.12)


def landscape_2d_explorer(*, n_paths: int = 40, t_max: float = 10.0, dt: float = 0.01, seed: int = 0,
                          n_show: int = 3):
    """Sliders for the barrier, the coupling and the noise of the 2-D double well, redrawing the
    potential, the drift field, the paths and the wells' statistics live.

    The callback is :func:`landscape_2d_data` + :func:`update_landscape_2d_figure`.

    Returns:
        An ``ipywidgets.VBox`` with extra attributes ``controls`` (dict name -> slider; names are the
        keyword arguments of :func:`landscape_2d_sde`), ``figure`` (the ``go.FigureWidget``),
        ``status`` (a Label with the last error, if the sliders give an invalid system) and
        ``data`` (the current :class:`Landscape2DData`).
    """
    import ipywidgets as w

    style = {"description_width": "110px"}
    layout = w.Layout(width="330px")
    controls = {
        "barrier": w.FloatSlider(value=1.0, min=0.25, max=3.0, step=0.25, description="barrier height",
                                 style=style, layout=layout, continuous_update=False),
        "coupling": w.FloatSlider(value=0.0, min=-2.0, max=2.0, step=0.25, description="coupling",
                                  style=style, layout=layout, continuous_update=False),
        "noise": w.FloatSlider(value=1.0, min=0.5, max=2.0, step=0.1, description="noise g",
                               style=style, layout=layout, continuous_update=False),
    }
    sim = dict(n_paths=n_paths, t_max=t_max, dt=dt, seed=seed, n_show=n_show)

    def compute() -> Landscape2DData:
        return landscape_2d_data(**{k: c.value for k, c in controls.items()}, **sim)

    status = w.Label(value="")  # e.g. |coupling| too large for the barrier: says why, keeps the last figure
    above = [w.HBox([w.VBox([controls["barrier"], controls["coupling"]]), w.VBox([controls["noise"]])]), status]
    return explorer(controls, compute, landscape_2d_figure, update_landscape_2d_figure, above, status=status)


def field_on_grid(fn: Callable[[torch.Tensor], Any], grid_x: Any, grid_y: Any, *, paths: Any = None,
                  min_count: int = 5) -> Any:
    """Evaluate a function of the state on every point of a 2-D grid, as (ny, nx, ...) numpy arrays.

    For drawing estimated fields with :func:`fimcg.app.figures.vector_field_figure`: an estimator
    says little where the data never went, so with ``paths`` a grid point keeps its value only if
    at least ``min_count`` observations lie in its cell (within half a grid step in both
    coordinates); elsewhere the value is 0 (no arrow).

    Args:
        fn: locations (G, 2) float32 tensor, row-major over the grid (G = ny * nx) -> a (G, ...)
            tensor or array, or a tuple of them (e.g. an estimator's ``(drift, diffusion)``; use
            ``lambda q: fimcg.local_linear(paths, dt, q)``, ``sde.drift`` or ``lambda q: fim(paths, dt, q)``).
        grid_x: (nx,) and grid_y: (ny,) strictly increasing grid coordinates.
        paths: optional observed paths (n_paths, T, 2) that decide which cells are visited.
        min_count: observations a cell needs to keep its value (>= 1).

    Returns:
        What ``fn`` returns, each array reshaped to (ny, nx, ...) (float64 numpy): row j, column i
        is the value at (grid_x[i], grid_y[j]).
    """
    from .._validation import check_int, check_paths, to_numpy

    gx, gy = to_numpy(grid_x, dtype=np.float64), to_numpy(grid_y, dtype=np.float64)
    for g, name in ((gx, "grid_x"), (gy, "grid_y")):
        if g.ndim != 1 or g.size < 2 or not np.all(np.isfinite(g)) or np.any(np.diff(g) <= 0):
            raise ValueError(f"{name} must be a finite, strictly increasing 1-D grid of at least 2 points; "
                             f"got shape {g.shape}")
    min_count = check_int(min_count, name="min_count", minimum=1)
    loc = torch.as_tensor(np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2), dtype=torch.float32)
    visited = np.ones((gy.size, gx.size), dtype=bool)
    if paths is not None:
        p = check_paths(paths, name="paths")
        if p.shape[2] != 2:
            raise ValueError(f"paths must have shape (n_paths, T, 2); got {tuple(p.shape)}")
        x = to_numpy(p, dtype=np.float64).reshape(-1, 2)

        def edges(g: np.ndarray) -> np.ndarray:
            mid = (g[1:] + g[:-1]) / 2
            return np.concatenate([[g[0] - (mid[0] - g[0])], mid, [g[-1] + (g[-1] - mid[-1])]])

        counts, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=[edges(gy), edges(gx)])
        visited = counts >= min_count
    with torch.no_grad():
        out = fn(loc)
    single = not isinstance(out, tuple)
    arrays = []
    for a in ((out,) if single else out):
        a = to_numpy(a, dtype=np.float64)
        if a.shape[:1] != (loc.shape[0],):
            raise ValueError(f"fn must return arrays with one row per grid point ({loc.shape[0]}); got shape {a.shape}")
        a = a.reshape((gy.size, gx.size) + a.shape[1:]).copy()
        a[~visited] = 0.0
        arrays.append(a)
    return arrays[0] if single else tuple(arrays)
