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
from typing import Any, Callable, Mapping, Sequence, TypeVar

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
    "VideoData",
    "video_data",
    "video_panel_figure",
    "update_video_panel",
    "video_slider_figure",
    "video_explorer",
    "frame_pca",
    "EstimationData",
    "estimation_data",
    "estimation_figure",
    "update_estimation_figure",
    "estimation_slider_figure",
    "estimation_explorer",
    "error_curve",
    "NormalisationData",
    "normalisation_data",
    "normalisation_figure",
    "update_normalisation_figure",
    "normalisation_explorer",
    "WARPS",
    "CoordinateChangeData",
    "coordinate_change_data",
    "coordinate_change_figure",
    "update_coordinate_change_figure",
    "coordinate_change_explorer",
    "LatentRecorder",
    "latent_training_figure",
    "DiscoveryData",
    "discovery_data",
    "discovery_figure",
    "update_discovery_figure",
    "discovery_explorer",
    "score_coarse_graining",
    "AccuracyRecorder",
    "accuracy_vs_time_figure",
    "race_figure",
    "race_explorer",
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
# What the figures and explorers below share
# --------------------------------------------------------------------------------------------------

D = TypeVar("D")


def _check_trace_count(fig, expected: int, *, source: str) -> None:
    """Raise ``ValueError`` unless ``fig`` has ``expected`` traces (it should come from ``source``)."""
    if len(fig.data) != expected:
        raise ValueError(f"expected a figure from {source} ({expected} traces), got {len(fig.data)} traces")


def _set_traces(fig, xy: Sequence[tuple[Any, Any]], title: str) -> None:
    """In one batch update, give the figure's first ``len(xy)`` traces, in order, the ``(x, y)``
    arrays of ``xy`` and set the title text (``fig``: a Figure or FigureWidget, changed in place)."""
    with fig.batch_update():
        for trace, (x, y) in zip(fig.data, xy):
            trace.update(x=x, y=y)
        fig.layout.title.text = title


def _slider_over(make_figure: Callable[[D], Any], datas: Sequence[D], labels: Sequence[str], *,
                 slider_title: str, slider_y: float):
    """One ``make_figure(data)`` per entry of ``datas`` behind a plotly slider labelled ``labels``
    (:func:`fimcg.figures.slider_figure`): the static-page stand-in for an explorer."""
    from .app.figures import slider_figure

    if len(datas) != len(labels):
        raise ValueError(f"datas and labels must be non-empty and of equal length, got {len(datas)} and {len(labels)}")
    return slider_figure([make_figure(d) for d in datas], labels, prefix=slider_title, slider_y=slider_y)


def _explorer(controls: Mapping[str, Any], compute: Callable[[], D], make_figure: Callable[[D], Any],
              update_figure: Callable[[Any, D], None], above: Sequence[Any], *, status: Any = None,
              on_data: Callable[[D], None] | None = None):
    """The wiring every explorer shares: data from the controls, a live figure, redrawn on change.

    Args:
        controls: name -> ipywidget; a change of any ``value`` recomputes and redraws.
        compute: ``() -> data`` from the controls' current values.
        make_figure: ``data -> plotly Figure`` (shown as a ``go.FigureWidget``).
        update_figure: ``(figure, data) -> None``, copies new data into the figure in place.
        above: the widgets shown above the figure (controls, labels).
        status: optional ``ipywidgets.Label`` (put it in ``above``): a ``ValueError`` of ``compute``
            is reported there and the figure keeps the last valid data (without it, the error
            propagates).
        on_data: called with the first data and with every new data, before the figure is redrawn.

    Returns:
        An ``ipywidgets.VBox`` (``above`` then the figure) with attributes ``controls``, ``figure``,
        ``data`` (the current data) and, if given, ``status``.
    """
    import ipywidgets as w
    import plotly.graph_objects as go

    data = compute()
    if on_data is not None:
        on_data(data)
    figure = go.FigureWidget(make_figure(data))
    box = w.VBox([*above, figure])
    box.controls, box.figure, box.data = controls, figure, data
    if status is not None:
        box.status = status

    def on_change(change) -> None:
        try:
            new = compute()
        except ValueError as exc:
            if status is None:
                raise
            status.value = f"invalid setting: {exc}"  # say why, keep the last figure
            return
        if status is not None:
            status.value = ""
        box.data = new
        if on_data is not None:
            on_data(new)
        update_figure(figure, new)

    for c in controls.values():
        c.observe(on_change, names="value")
    return box


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
    from .sde.systems import polynomial_potential

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
        switches_per_time: switches between the two wells per unit time (a switch is counted when
            a path goes from below -well/2 to above +well/2 or back; see
            :func:`fimcg.discovery.switching_statistics`).
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
    from .sde.density import stationary_density

    grid = torch.linspace(lo, hi, 4001, dtype=torch.float64)
    p = stationary_density(sde, grid).numpy()
    cdf = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(grid.numpy()))])
    cdf /= cdf[-1]
    u = torch.rand(n, generator=gen, dtype=torch.float64).numpy()
    x = np.interp(u, cdf, grid.numpy())
    return torch.as_tensor(x, dtype=torch.float32)[:, None]


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
    from .analysis.validation import switching_statistics
    from .sde.simulate import simulate
    from .sde.density import stationary_density

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
    _set_traces(fig, [(data.x, data.potential), (data.x, data.diffusion), (data.bin_centers, data.histogram),
                      (data.x, data.density)] + [(data.time, path) for path in data.paths], _landscape_title(data))


def landscape_slider_figure(datas: Sequence[LandscapeData], labels: Sequence[str], *,
                            slider_title: str = ""):
    """The static-page stand-in for :func:`potential_explorer`: a plotly slider over precomputed data.

    One :func:`landscape_figure` per entry of ``datas``, combined by :func:`fimcg.figures.slider_figure`
    (no kernel needed, so it works on the website). All entries must show the same number of paths.
    """
    return _slider_over(landscape_figure, datas, labels, slider_title=slider_title, slider_y=-0.3)


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
    return _explorer(controls, compute, landscape_figure, update_landscape_figure, above, status=status)


# --------------------------------------------------------------------------------------------------
# Notebook 02: from a latent variable to video
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VideoData:
    """One rendered path and what the pixels reveal about its latent state.

    Attributes:
        frames: a few frames (n_frames, size, size) in [0, 1]. frame_index: their indices (n_frames,).
        x: the true latent path (T,). decoded: the latent read back from each frame by the blob's
            centroid and the inverse geometry (T,); NaN where no pixel is bright enough.
        decode_rmse: RMSE of ``decoded`` against ``x`` (latent units, NaN frames ignored).
        r2: coefficient of determination of ``decoded`` against ``x``.
        settings: the rendering keywords (size, blob_width, noise, embedding) and the threshold.
    """

    frames: np.ndarray
    frame_index: np.ndarray
    x: np.ndarray
    decoded: np.ndarray
    decode_rmse: float
    r2: float
    settings: dict


def video_data(path: Any, *, size: int = 32, blob_width: float = 1.5, noise: float = 0.0,
               embedding: str = "line", n_frames: int = 6, seed: int = 0, threshold: float = 0.3) -> VideoData:
    """Render one latent path as video and decode it back with the hand-made centroid coordinate.

    Calls :func:`fimcg.render_video`, :func:`fimcg.video.frame_centroids` and
    :func:`fimcg.video.pixel_to_latent`.

    Args:
        path: one latent path, shape (T,), (T, 1) or (1, T, 1).
        size, blob_width, noise, embedding: passed to :func:`fimcg.render_video`.
        n_frames: evenly spaced frames to keep for display (1..T).
        seed: seed of the pixel noise. threshold: brightness subtracted before the centroid is
            taken (pixels below it are ignored); it must sit above most of the noise.
    """
    from ._validation import as_tensor, check_int, check_paths
    from .video import frame_centroids, pixel_to_latent, render_video

    p = as_tensor(path, name="path")
    if p.ndim == 2 and p.shape[1] == 1:  # (T, 1): one path
        p = p[None]
    p = check_paths(p, name="path", min_length=2)
    if p.shape[0] != 1 or p.shape[2] != 1:
        raise ValueError(f"path must be a single 1-D path, (T,), (T, 1) or (1, T, 1); got shape {tuple(p.shape)}")
    length = p.shape[1]
    n_frames = check_int(n_frames, name="n_frames", minimum=1)
    if n_frames > length:
        raise ValueError(f"n_frames must be <= the path length T={length}, got {n_frames}")
    frames = render_video(p, size=size, blob_width=blob_width, noise=noise, embedding=embedding, seed=seed)[0]
    centroids = frame_centroids(frames, threshold=threshold)  # (T, 2)
    decoded = pixel_to_latent(centroids, size=size, embedding=embedding)[:, 0].double().numpy()
    x = p[0, :, 0].double().numpy()
    ok = np.isfinite(decoded)
    err = decoded[ok] - x[ok]
    rmse = float(np.sqrt(np.mean(err ** 2))) if ok.any() else float("nan")
    r2 = float(1 - np.sum(err ** 2) / np.sum((x[ok] - x[ok].mean()) ** 2)) if ok.sum() > 1 else float("nan")
    idx = np.unique(np.linspace(0, length - 1, n_frames).round().astype(int))
    return VideoData(frames=frames[idx].double().numpy(), frame_index=idx, x=x, decoded=decoded,
                     decode_rmse=rmse, r2=r2,
                     settings=dict(size=int(size), blob_width=float(blob_width), noise=float(noise),
                                   embedding=embedding, threshold=float(threshold)))


def _video_title(data: VideoData) -> str:
    s = data.settings
    return (f"{s['size']}x{s['size']} pixels, blob width {s['blob_width']:g}, noise {s['noise']:g}, "
            f"{s['embedding']}<br>the centroid decodes x with RMSE {data.decode_rmse:.3f} (R² {data.r2:.4f})")


def video_panel_figure(data: VideoData, *, dt: float | None = None, max_points: int = 2000):
    """Frames of the path (top row) and the centroid-decoded latent against the truth (bottom).

    Trace order (fixed): one ``Heatmap`` per frame, then the scatter "decoded vs true" and the
    diagonal "perfect decoding". Returns a :class:`plotly.graph_objects.Figure`.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(data.frames)
    names = [f"t = {i * dt:.3g}" if dt is not None else f"frame {i}" for i in data.frame_index]
    specs = [[{} for _ in range(n)], [{"colspan": n}] + [None] * (n - 1)]
    fig = make_subplots(rows=2, cols=n, specs=specs, row_heights=[0.35, 0.65], subplot_titles=names + [""],
                        horizontal_spacing=0.01, vertical_spacing=0.12)
    for k, frame in enumerate(data.frames, start=1):
        fig.add_trace(go.Heatmap(z=frame, colorscale="Gray", zmin=0.0, zmax=1.0, showscale=False,
                                 name=names[k - 1]), row=1, col=k)
        fig.update_xaxes(showticklabels=False, row=1, col=k)
        fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor=f"x{k if k > 1 else ''}",
                         row=1, col=k)
    stride = max(1, data.x.size // max_points)
    fig.add_trace(go.Scatter(x=data.x[::stride], y=data.decoded[::stride], mode="markers", name="decoded vs true",
                             marker=dict(size=3, opacity=0.5, color="#0072B2")), row=2, col=1)
    lim = [float(np.nanmin(data.x)), float(np.nanmax(data.x))]
    fig.add_trace(go.Scatter(x=lim, y=lim, mode="lines", name="perfect decoding",
                             line=dict(color="black", dash="dash")), row=2, col=1)
    fig.update_xaxes(title_text="true x", row=2, col=1)
    fig.update_yaxes(title_text="x from the centroid", row=2, col=1)
    fig.update_layout(height=540, title=dict(text=_video_title(data), font=dict(size=13)),
                      margin=dict(l=50, r=20, t=90, b=40), template="plotly_white", showlegend=False)
    return fig


def update_video_panel(fig, data: VideoData, *, max_points: int = 2000) -> None:
    """Copy ``data`` into a figure made by :func:`video_panel_figure` (Figure or FigureWidget)."""
    n = len(fig.data) - 2
    if n != len(data.frames):
        raise ValueError(f"the figure shows {n} frames but data has {len(data.frames)}")
    stride = max(1, data.x.size // max_points)
    lim = [float(np.nanmin(data.x)), float(np.nanmax(data.x))]
    with fig.batch_update():
        for trace, frame in zip(fig.data[:n], data.frames):
            trace.z = frame
        fig.data[n].update(x=data.x[::stride], y=data.decoded[::stride])
        fig.data[n + 1].update(x=lim, y=lim)
        fig.layout.title.text = _video_title(data)


def video_slider_figure(datas: Sequence[VideoData], labels: Sequence[str], *, slider_title: str = "",
                        dt: float | None = None):
    """Static-page stand-in for :func:`video_explorer`: a plotly slider over precomputed settings.

    All entries must show the same number of frames (image sizes may differ).
    """
    return _slider_over(lambda d: video_panel_figure(d, dt=dt), datas, labels, slider_title=slider_title,
                        slider_y=-0.1)


def video_explorer(path: Any, *, dt: float | None = None, n_frames: int = 6, seed: int = 0):
    """Sliders for image size, blob width, pixel noise and the centroid threshold, and a menu for
    the embedding geometry, redrawing the frames and the centroid-decoded latent of ``path``.

    The callback is :func:`video_data` + :func:`update_video_panel`. Changing the image size
    rebuilds the heatmaps (their shape changes), everything else updates in place.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (name -> widget, names as in
        :func:`video_data`), ``figure`` (``go.FigureWidget``) and ``data`` (current :class:`VideoData`).
    """
    import ipywidgets as w

    from .video import EMBEDDINGS

    style = {"description_width": "90px"}
    controls = {
        "size": w.IntSlider(value=32, min=12, max=64, step=4, description="image size", style=style,
                            continuous_update=False),
        "blob_width": w.FloatSlider(value=1.5, min=0.5, max=5.0, step=0.25, description="blob width",
                                    style=style, continuous_update=False),
        "noise": w.FloatSlider(value=0.0, min=0.0, max=0.3, step=0.02, description="pixel noise",
                               style=style, continuous_update=False),
        "threshold": w.FloatSlider(value=0.3, min=0.0, max=0.8, step=0.05, description="threshold",
                                   style=style, continuous_update=False),
        "embedding": w.Dropdown(options=[e for e, dims in EMBEDDINGS.items() if 1 in dims], value="line",
                                description="embedding", style=style),
    }

    def compute() -> VideoData:
        return video_data(path, n_frames=n_frames, seed=seed, **{k: c.value for k, c in controls.items()})

    above = [w.HBox([w.VBox([controls["size"], controls["blob_width"], controls["noise"]]),
                     w.VBox([controls["threshold"], controls["embedding"]])])]
    return _explorer(controls, compute, lambda d: video_panel_figure(d, dt=dt), update_video_panel, above)


def frame_pca(frames: Any, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of frames seen as vectors of pixels.

    Args:
        frames: (..., H, W) images; all leading axes are flattened into N frames (keep N a few
            thousand: the SVD costs O(N * (H W)^2)).
        k: number of components (1..min(N, H*W)).

    Returns:
        ``(explained, scores)``: the fraction of the pixel variance each of the first ``k``
        components explains (k,), and the frames' coordinates on them (N, k), frames in the
        order of ``frames.reshape(-1, H, W)``.
    """
    from ._validation import as_tensor, check_finite, check_int

    f = as_tensor(frames, name="frames")
    if f.ndim < 3:
        raise ValueError(f"frames must have shape (..., H, W) with at least one frame axis; got {tuple(f.shape)}")
    check_finite(f, name="frames")
    x = f.reshape(-1, f.shape[-2] * f.shape[-1]).double()
    k = check_int(k, name="k", minimum=1)
    if k > min(x.shape):
        raise ValueError(f"k must be <= min(frames, pixels) = {min(x.shape)}, got {k}")
    x = x - x.mean(0)
    _, s, vt = torch.linalg.svd(x, full_matrices=False)
    var = s ** 2
    explained = (var[:k] / var.sum()).numpy()
    scores = (x @ vt[:k].T).numpy()
    return explained, scores


# --------------------------------------------------------------------------------------------------
# Notebook 03: estimating drift and diffusion from paths
# --------------------------------------------------------------------------------------------------

Estimator = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def default_estimators() -> dict[str, Estimator]:
    """The classic estimators of :mod:`fimcg.estimators`: binned Kramers-Moyal and local-linear."""
    from .estimators.classic import binned_km, local_linear

    return {"binned KM": binned_km, "local-linear": local_linear}


@dataclass(frozen=True)
class EstimationData:
    """Estimates of drift and diffusion from one simulated data set, and their errors.

    Attributes:
        grid: query locations (G,), over the occupied region (2nd..98th percentile of the data).
        drift, diffusion: the true f and g on the grid (G,).
        estimates: name -> (drift (G,), diffusion (G,)).
        errors: name -> :func:`fimcg.metrics.sde_errors` dict (drift_rel, diffusion_rel, ...).
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
    from ._validation import check_int, check_positive
    from .analysis.metrics import occupied_grid, sde_errors
    from .sde.systems import paths_from_wells

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
        estimates[name] = (f_hat[:, 0].double().cpu().numpy(), g_hat[:, 0].double().cpu().numpy())
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

    from .app.figures import COLORS

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
    _set_traces(fig, xy, _estimation_title(data))


def estimation_slider_figure(datas: Sequence[EstimationData], labels: Sequence[str], *, slider_title: str = ""):
    """Static-page stand-in for :func:`estimation_explorer`: a plotly slider over precomputed data sets.

    All entries must use the same estimators.
    """
    return _slider_over(estimation_figure, datas, labels, slider_title=slider_title, slider_y=-0.35)


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

    from .sde.systems import double_well

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

    return _explorer(controls, compute, estimation_figure, update_estimation_figure,
                     [w.VBox(list(controls.values()))])


def error_curve(sde, *, total_times: Sequence[float], n_paths: int = 10, dt: float = 0.002, seeds: int = 3,
                estimators: Mapping[str, Estimator] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Mean relative errors of each estimator as the observed time grows.

    For each total observed time T (split over ``n_paths`` paths sampled every ``dt``) and each of
    ``seeds`` seeds, runs :func:`estimation_data` and averages the relative RMSEs.

    Returns:
        name -> {"total_time": (K,), "drift_rel": (K,), "diffusion_rel": (K,)} (means over seeds).
    """
    from ._validation import check_int, check_positive

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


# --------------------------------------------------------------------------------------------------
# Notebook 04: inside the FIM (normalisation)
# --------------------------------------------------------------------------------------------------

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
    from ._validation import check_int, check_paths, check_positive
    from .analysis.metrics import occupied_grid

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
    as_np = lambda t: t[:, 0].double().cpu().numpy()  # noqa: E731
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

    from .app.figures import COLORS

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
    _check_trace_count(fig, 6, source="normalisation_figure")
    _set_traces(fig, [(data.y, data.drift_y), (data.y, data.diffusion_y), (data.x, data.drift_ref),
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

    return _explorer(controls, compute, normalisation_figure, update_normalisation_figure,
                     [w.HBox(list(controls.values()))])


# --------------------------------------------------------------------------------------------------
# Notebook 05: coarse-graining and identifiability
# --------------------------------------------------------------------------------------------------

def _warp_sinh(x: np.ndarray, a: float):
    if a == 0:
        return x, np.ones_like(x), np.zeros_like(x)
    return np.sinh(a * x) / a, np.cosh(a * x), a * np.sinh(a * x)


def _warp_tanh(x: np.ndarray, a: float):
    if a == 0:
        return x, np.ones_like(x), np.zeros_like(x)
    t = np.tanh(a * x)
    return t / a, 1 - t ** 2, -2 * a * t * (1 - t ** 2)


def _warp_cubic(x: np.ndarray, a: float):
    return x + a * x ** 3, 1 + 3 * a * x ** 2, 6 * a * x


#: monotone maps z = h(x) with strength a >= 0 (a = 0: the identity); each returns (h, h', h'')
WARPS: dict[str, Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
    "tanh": _warp_tanh,   # compresses the edges, like a camera that sees the wells foreshortened
    "sinh": _warp_sinh,   # stretches the edges
    "cubic": _warp_cubic,  # x + a x^3
}


@dataclass(frozen=True)
class CoordinateChangeData:
    """An SDE seen in a warped coordinate z = h(x), by Itô's formula and by estimation.

    Attributes:
        x: grid of the original state (G,). z: h(x) (G,). dh: h'(x) (G,).
        drift_z, diffusion_z: Itô's formula, f_z = h' f + 1/2 h'' g^2 and g_z = |h'| g, at z (G,).
        drift_naive: h' f alone (what forgetting the Itô term gives) (G,).
        z_grid: query points of the estimate (K,). drift_est, diffusion_est: binned Kramers-Moyal
            on the transformed paths z_t = h(x_t) (K,).
        kind, strength: the map.
    """

    x: np.ndarray
    z: np.ndarray
    dh: np.ndarray
    drift_z: np.ndarray
    diffusion_z: np.ndarray
    drift_naive: np.ndarray
    z_grid: np.ndarray
    drift_est: np.ndarray
    diffusion_est: np.ndarray
    kind: str
    strength: float


def coordinate_change_data(sde=None, *, kind: str = "tanh", strength: float = 1.0, n_paths: int = 50,
                           n_obs: int = 5000, dt: float = 0.002, seed: int = 0, grid_size: int = 100,
                           paths: Any = None) -> CoordinateChangeData:
    """Express a 1-D SDE in the coordinate z = h(x) and check Itô's formula against data.

    The theory uses :func:`fimcg.alignment.ito_transform`; the check simulates ``sde`` (or takes
    ``paths``), maps the paths through h and runs :func:`fimcg.binned_km` on them.

    Args:
        sde: a 1-D :class:`fimcg.SDE` (default the reference double well).
        kind: a key of :data:`WARPS`. strength: the map's parameter a >= 0 (0: the identity).
        n_paths, n_obs, dt, seed: the simulation (ignored when ``paths`` is given).
        grid_size: points of the theory grid, over the occupied region of the paths.
        paths: observed paths (n_paths, T, 1) of ``sde`` sampled every ``dt`` (skips the simulation).
    """
    from ._validation import check_int, check_paths, check_positive
    from .analysis.alignment import ito_transform
    from .estimators.classic import binned_km
    from .analysis.metrics import occupied_grid
    from .sde.systems import double_well, paths_from_wells

    sde = double_well() if sde is None else sde
    if kind not in WARPS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(WARPS)}")
    strength = float(strength)
    if not math.isfinite(strength) or strength < 0:
        raise ValueError(f"strength must be finite and >= 0, got {strength!r}")
    dt = check_positive(dt, name="dt")
    grid_size = check_int(grid_size, name="grid_size", minimum=2)
    if paths is None:
        paths = paths_from_wells(sde, n_paths=n_paths, n_obs=n_obs, dt=dt, seed=seed)
    p = check_paths(paths)
    if p.shape[-1] != 1:
        raise ValueError(f"coordinate_change_data needs 1-D paths, got d={p.shape[-1]}")
    x = occupied_grid(p, n=grid_size)[:, 0].double()
    with torch.no_grad():
        f = sde.drift(x[:, None])[:, 0].numpy()
        g = sde.diffusion(x[:, None])[:, 0].numpy()
    xs = x.numpy()
    warp = WARPS[kind]
    z, h1, h2 = warp(xs, strength)
    f_z, g_z = ito_transform(h1, h2, f, g)
    zp = torch.as_tensor(warp(p.double().numpy(), strength)[0])
    z_grid = occupied_grid(zp, n=grid_size // 2)
    f_est, g_est = binned_km(zp, dt, z_grid, n_bins=40)
    return CoordinateChangeData(x=xs, z=z, dh=h1, drift_z=f_z, diffusion_z=g_z, drift_naive=h1 * f,
                                z_grid=z_grid[:, 0].numpy(), drift_est=f_est[:, 0].numpy(),
                                diffusion_est=g_est[:, 0].numpy(), kind=kind, strength=strength)


def _coordinate_title(d: CoordinateChangeData) -> str:
    return f"z = h(x), {d.kind} warp of strength {d.strength:g}"


def coordinate_change_figure(data: CoordinateChangeData):
    """The map h (left), the drift (middle) and the diffusion (right) in the coordinate z.

    Trace order (fixed): h(x); f_z by Itô, h' f (no Itô term), binned KM on z; g_z by Itô, binned KM on z.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .app.figures import COLORS

    fig = make_subplots(rows=1, cols=3, column_widths=[0.26, 0.37, 0.37], horizontal_spacing=0.08,
                        subplot_titles=("the map z = h(x)", "drift in z", "diffusion in z"))
    fig.add_trace(go.Scatter(x=data.x, y=data.z, name="h(x)", showlegend=False, line=dict(color="#222222")),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=data.z, y=data.drift_z, name="Itô: h' f + ½ h'' g²", legendgroup="ito",
                             line=dict(color="#222222", width=3)), row=1, col=2)
    fig.add_trace(go.Scatter(x=data.z, y=data.drift_naive, name="h' f only (no Itô term)", legendgroup="naive",
                             line=dict(color=COLORS[3], dash="dash")), row=1, col=2)
    fig.add_trace(go.Scatter(x=data.z_grid, y=data.drift_est, name="estimated from z paths", legendgroup="est",
                             mode="markers", marker=dict(color=COLORS[0], size=5)), row=1, col=2)
    fig.add_trace(go.Scatter(x=data.z, y=data.diffusion_z, name="Itô: |h'| g", legendgroup="ito", showlegend=False,
                             line=dict(color="#222222", width=3)), row=1, col=3)
    fig.add_trace(go.Scatter(x=data.z_grid, y=data.diffusion_est, name="estimated from z paths", legendgroup="est",
                             showlegend=False, mode="markers", marker=dict(color=COLORS[0], size=5)), row=1, col=3)
    fig.update_xaxes(title_text="x", row=1, col=1)
    fig.update_xaxes(title_text="z", row=1, col=2)
    fig.update_xaxes(title_text="z", row=1, col=3)
    fig.update_layout(template="plotly_white", height=400, title=_coordinate_title(data),
                      margin=dict(l=50, r=20, t=70, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def update_coordinate_change_figure(fig, data: CoordinateChangeData) -> None:
    """Copy ``data`` into a figure made by :func:`coordinate_change_figure`, in place."""
    _check_trace_count(fig, 6, source="coordinate_change_figure")
    _set_traces(fig, [(data.x, data.z), (data.z, data.drift_z), (data.z, data.drift_naive),
                      (data.z_grid, data.drift_est), (data.z, data.diffusion_z), (data.z_grid, data.diffusion_est)],
                _coordinate_title(data))


def coordinate_change_explorer(sde=None, *, paths: Any = None, dt: float = 0.002):
    """A menu for the kind of monotone map and a slider for its strength, redrawing the drift and
    diffusion in the new coordinate (Itô's formula against an estimate from transformed paths).

    The callback is :func:`coordinate_change_data` + :func:`update_coordinate_change_figure`; the
    paths are simulated once (or given) and reused.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (``kind``, ``strength``), ``figure``
        (``go.FigureWidget``) and ``data`` (current :class:`CoordinateChangeData`).
    """
    import ipywidgets as w

    from .sde.systems import double_well, paths_from_wells

    sde = double_well() if sde is None else sde
    if paths is None:
        paths = paths_from_wells(sde, n_paths=50, n_obs=5000, dt=dt, seed=0)
    controls = {
        "kind": w.Dropdown(options=list(WARPS), value="tanh", description="map"),
        "strength": w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="strength",
                                  continuous_update=False),
    }

    def compute() -> CoordinateChangeData:
        return coordinate_change_data(sde, paths=paths, dt=dt, kind=controls["kind"].value,
                                      strength=controls["strength"].value)

    return _explorer(controls, compute, coordinate_change_figure, update_coordinate_change_figure,
                     [w.HBox(list(controls.values()))])


class LatentRecorder:
    """A ``callback`` for :func:`fimcg.coarse_grain.coarse_grain` that keeps snapshots of training.

    At every call it stores the step, the latent of the training frames against the true state
    (thinned to ``max_points``), and the drift and diffusion the frozen estimator gives on a grid
    over the latent's range.

    Args:
        true_x: the true state of every training frame, (n_paths, T) or (n_paths, T, 1).
        max_points: latent/true pairs kept per snapshot. grid_size: points of the coefficient grid.

    Attributes:
        snapshots: list of dicts with keys ``step``, ``x``, ``z`` (thinned pairs), ``grid``,
            ``drift``, ``diffusion`` (numpy arrays).
    """

    def __init__(self, true_x: Any, *, max_points: int = 2000, grid_size: int = 60) -> None:
        from ._validation import as_tensor, check_int

        x = as_tensor(true_x, name="true_x").detach().reshape(-1).double().cpu().numpy()
        self.max_points = check_int(max_points, name="max_points", minimum=10)
        self.grid_size = check_int(grid_size, name="grid_size", minimum=2)
        self._stride = max(1, x.size // self.max_points)
        self._x = x
        self.snapshots: list[dict] = []

    def __call__(self, step: int, result) -> None:
        z = result.latents.detach().reshape(-1).double().cpu().numpy()
        if z.size != self._x.size:
            raise ValueError(f"true_x holds {self._x.size} states but the result has {z.size} latent values")
        lo, hi = np.quantile(z, [0.02, 0.98])
        grid = torch.linspace(float(lo), float(hi), self.grid_size)[:, None]
        f, g = result.coefficients(grid)
        self.snapshots.append(dict(step=int(step), x=self._x[::self._stride], z=z[::self._stride],
                                   grid=grid[:, 0].numpy(), drift=f[:, 0].double().cpu().numpy(),
                                   diffusion=g[:, 0].double().cpu().numpy()))


def _snapshot_figure(snap: dict):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .app.figures import COLORS

    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=("latent z vs true x", "drift in z", "diffusion in z"))
    fig.add_trace(go.Scatter(x=snap["x"], y=snap["z"], mode="markers", name="frames",
                             marker=dict(size=3, opacity=0.4, color=COLORS[0])), row=1, col=1)
    fig.add_trace(go.Scatter(x=snap["grid"], y=snap["drift"], name="f_z", line=dict(color=COLORS[1], width=2)),
                  row=1, col=2)
    fig.add_trace(go.Scatter(x=snap["grid"], y=snap["diffusion"], name="g_z", line=dict(color=COLORS[2], width=2)),
                  row=1, col=3)
    fig.update_xaxes(title_text="true x", row=1, col=1)
    fig.update_yaxes(title_text="latent z", row=1, col=1)
    fig.update_xaxes(title_text="z", row=1, col=2)
    fig.update_xaxes(title_text="z", row=1, col=3)
    fig.update_layout(template="plotly_white", height=380, showlegend=False, title=f"training step {snap['step']}",
                      margin=dict(l=50, r=20, t=70, b=40))
    return fig


def latent_training_figure(recorder: LatentRecorder):
    """The recorded snapshots as one figure with a slider over training steps (works on static pages)."""
    from .app.figures import slider_figure

    if not recorder.snapshots:
        raise ValueError("the recorder holds no snapshots: pass it as callback= with eval_every > 0")
    figs = [_snapshot_figure(s) for s in recorder.snapshots]
    return slider_figure(figs, [str(s["step"]) for s in recorder.snapshots], prefix="training step ",
                         slider_y=-0.3)


# --------------------------------------------------------------------------------------------------
# Notebook 06: equation discovery
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DiscoveryData:
    """A sparse polynomial fit to drift and diffusion values, and the values it was fitted to.

    Attributes:
        x: locations (G,). drift, diffusion: the given values (G,).
        drift_fit, diffusion_fit: the discovered f and g = sqrt(max(p, 0)) at x (G,).
        model: the :class:`fimcg.discovery.PolynomialSDE`. equation: its text.
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
    """Run :func:`fimcg.discovery.discover_from_coefficients` on 1-D values and evaluate the result.

    Args:
        locations: (G,) or (G, 1). drift, diffusion: values there, same shape.
        weights: optional (G,) weights (e.g. the data density). Other arguments: as in
            :func:`fimcg.discovery.discover_from_coefficients`.
    """
    from .analysis.discovery import discover_from_coefficients

    threshold = float(threshold)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be finite and >= 0, got {threshold!r}")
    loc = np.asarray(locations.detach().cpu() if hasattr(locations, "detach") else locations, dtype=np.float64)
    loc = loc.reshape(-1)
    model = discover_from_coefficients(loc[:, None], np.asarray(_np1(drift)).reshape(-1, 1),
                                       np.asarray(_np1(diffusion)).reshape(-1, 1), weights=weights,
                                       threshold=threshold, drift_degree=drift_degree,
                                       diffusion_degree=diffusion_degree, names=names)
    n_terms = int(np.count_nonzero(model.drift_coef) + np.count_nonzero(model.diffusion2_coef))
    return DiscoveryData(x=loc, drift=_np1(drift), diffusion=_np1(diffusion),
                         drift_fit=np.asarray(model.drift(loc[:, None]))[:, 0],
                         diffusion_fit=np.asarray(model.diffusion(loc[:, None]))[:, 0], model=model,
                         equation=model.equation(), n_terms=n_terms, threshold=float(threshold),
                         drift_degree=int(drift_degree), diffusion_degree=int(diffusion_degree))


def _np1(v: Any) -> np.ndarray:
    return np.asarray(v.detach().cpu() if hasattr(v, "detach") else v, dtype=np.float64).reshape(-1)


def _discovery_title(d: DiscoveryData) -> str:
    eq = d.equation.replace("\n", "<br>")
    return f"threshold {d.threshold:g}, {d.n_terms} terms<br>{eq}"


def discovery_figure(data: DiscoveryData):
    """Given values (markers) and the sparse fit (line) for drift (left) and diffusion (right).

    Trace order (fixed): given f, fitted f, given g, fitted g. The equation is the title.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .app.figures import COLORS

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
    _check_trace_count(fig, 4, source="discovery_figure")
    _set_traces(fig, [(data.x, data.drift), (data.x, data.drift_fit), (data.x, data.diffusion),
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

    box = _explorer(controls, compute, discovery_figure, update_discovery_figure,
                    [w.HBox(list(controls.values())), equation], on_data=show_equation)
    box.equation = equation
    return box


# --------------------------------------------------------------------------------------------------
# Notebook 07: decoupled (frozen FIM) vs joint training
# --------------------------------------------------------------------------------------------------

def score_coarse_graining(result, paths: Any, sde, *, grid_size: int = 80) -> dict:
    """Evaluate a coarse-graining against the truth (for synthetic data only).

    A thin wrapper over :func:`fimcg.alignment.compare_to_truth`: fits the monotone alignment
    x = h(z), maps the result's drift and diffusion to x by Itô's formula, and compares with ``sde``
    on the occupied region of ``paths``; adds the training time so far.

    Args:
        result: a :class:`fimcg.coarse_grain.CoarseGrainResult` (or the joint baseline's result).
        paths: the true states of the training frames (n_paths, T, 1).
        sde: the true 1-D system.

    Returns:
        dict with ``r2`` (of the alignment), ``drift_rel``, ``diffusion_rel`` (relative RMSE after
        alignment), ``grid``, ``drift``, ``diffusion`` (aligned, numpy (G,)), ``time_s`` (training
        time so far, from the result's history).
    """
    from ._validation import check_int, check_paths
    from .analysis.alignment import compare_to_truth

    p = check_paths(paths)
    grid_size = check_int(grid_size, name="grid_size", minimum=2)
    if result.latents.numel() != p.numel():
        raise ValueError(f"paths hold {p.numel()} states but the result has {result.latents.numel()} latent values")
    cmp = compare_to_truth(result.latents.detach().reshape(-1), p.detach().reshape(-1),
                           lambda loc: (result.drift(loc), result.diffusion(loc)), sde, n_grid=grid_size)
    time_s = float(result.history[-1]["time_s"]) if result.history else 0.0
    return dict(r2=float(cmp.r2), drift_rel=float(cmp.drift_rel), diffusion_rel=float(cmp.diffusion_rel),
                grid=np.asarray(cmp.grid), drift=np.asarray(cmp.drift), diffusion=np.asarray(cmp.diffusion),
                time_s=time_s)


class AccuracyRecorder:
    """A ``callback`` for :func:`fimcg.coarse_grain.coarse_grain` or
    :func:`fimcg.joint.joint_coarse_grain` that scores the provisional result during training.

    Each call runs :func:`score_coarse_graining` and stores the record with its ``step``; the
    training time comes from the result's history (evaluation time excluded). A result whose
    latent or coefficients are not finite is recorded with NaN errors.

    Attributes:
        records: list of dicts (see :func:`score_coarse_graining`, plus ``step``).
    """

    def __init__(self, paths: Any, sde, *, grid_size: int = 80) -> None:
        from ._validation import check_paths

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

    from .app.figures import COLORS

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

    from .app.figures import COLORS

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
