"""Plotly figure builders shared by the report, the notebooks and the book.

Every builder is a pure function: tensors/arrays in, a ``plotly.graph_objects.Figure`` out, no
display side effects, so tests can check traces and data and widgets can rebuild figures cheaply.
Arrays follow the package shapes: paths (n_paths, T, d), locations (G, d), estimates (G, d),
frames (n_paths, T, H, W).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .._validation import as_tensor, check_int, check_locations, check_paths, check_positive, to_numpy
from ..sde.model import SDE

__all__ = ["paths_figure", "density_figure", "drift_diffusion_figure", "video_figure", "frame_strip_figure",
           "latent_scatter_figure", "pca_figure", "error_curve_figure", "slider_figure",
           "function_family_figure", "training_curve_figure", "paths_grid_figure",
           "history_figure", "gates_figure", "COLORS"]

#: colour cycle used by all builders (colour-blind friendly, Okabe-Ito)
COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_TRUTH = "#222222"
#: colours of the FIM's gate options (Okabe-Ito, then Tol's muted colours and a grey): 17 distinct ones
_GATE_COLORS = COLORS[:7] + ("#882255", "#44AA99", "#332288", "#AA4499", "#117733", "#CC6677", "#DDCC77",
                             "#88CCEE", "#999933", "#777777")


def _layout(fig: go.Figure, title: str | None, **kw: Any) -> go.Figure:
    fig.update_layout(template="plotly_white", title=title, margin=dict(l=50, r=20, t=50 if title else 20, b=40),
                      **kw)
    return fig


def paths_figure(paths: Any, dt: float, *, n_show: int = 5, dim: int = 0, title: str | None = None,
                 max_points: int = 5000) -> go.Figure:
    """Sample paths against time: one line per path for the first ``n_show`` paths.

    Args:
        paths: (n_paths, T, d). dt: time between observations. dim: which coordinate to plot.
        max_points: longer paths are thinned to at most this many points per line (for file size).

    Returns:
        Figure with min(n_show, n_paths) ``Scatter`` traces named "path i".
    """
    p = check_paths(paths, min_length=1)
    dt = check_positive(dt, name="dt")
    n_show = check_int(n_show, name="n_show", minimum=1)
    if not 0 <= dim < p.shape[-1]:
        raise ValueError(f"dim must be in [0, {p.shape[-1] - 1}], got {dim!r}")
    stride = max(1, int(np.ceil(p.shape[1] / max_points)))
    arr = to_numpy(p[:n_show, ::stride, dim])
    t = np.arange(p.shape[1])[::stride] * dt
    fig = go.Figure()
    for i, row in enumerate(arr):
        fig.add_trace(go.Scatter(x=t, y=row, mode="lines", name=f"path {i}",
                                 line=dict(width=1, color=COLORS[i % len(COLORS)])))
    return _layout(fig, title, xaxis_title="time t", yaxis_title=f"x{'' if p.shape[-1] == 1 else dim + 1}")


def density_figure(paths: Any, sde: SDE | None = None, *, bins: int = 60, title: str | None = None,
                   n_theory: int = 400) -> go.Figure:
    """Histogram of all observed states (1-D) as a density, with the stationary density of ``sde``.

    Returns:
        Figure with a ``Bar`` trace "data" (bin centres, density; integrates to 1) and, when ``sde``
        is given, a ``Scatter`` trace "stationary density" from
        :func:`fimcg.sde.density.stationary_density` over the histogram's range.
    """
    p = check_paths(paths, min_length=1)
    if p.shape[-1] != 1:
        raise ValueError(f"density_figure needs 1-D paths, got d={p.shape[-1]}")
    bins = check_int(bins, name="bins", minimum=2)
    x = to_numpy(p).reshape(-1)
    dens, edges = np.histogram(x, bins=bins, density=True)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(go.Bar(x=centres, y=dens, width=np.diff(edges), name="data", opacity=0.55,
                           marker_color=COLORS[0]))
    if sde is not None:
        from ..sde.density import stationary_density

        span = edges[-1] - edges[0]
        xs = np.linspace(edges[0] - 0.05 * span, edges[-1] + 0.05 * span, n_theory)
        ps = to_numpy(stationary_density(sde, torch.as_tensor(xs, dtype=torch.float64)))
        fig.add_trace(go.Scatter(x=xs, y=ps, mode="lines", name="stationary density",
                                 line=dict(color=_TRUTH, width=2)))
    return _layout(fig, title, xaxis_title="x", yaxis_title="density", bargap=0)


def drift_diffusion_figure(locations: Any, estimates: Mapping[str, tuple[Any, Any]], *,
                           sde: SDE | None = None, title: str | None = None, dim: int = 0) -> go.Figure:
    """Drift (left) and diffusion (right) estimates against the truth, on 1-D query locations.

    Args:
        locations: (G, d) query points (the x axis uses coordinate ``dim``).
        estimates: name -> (drift (G, d), diffusion (G, d)), e.g. ``{"binned KM": binned_km(...)}``.
        sde: the true system; adds a "truth" trace to each panel.

    Returns:
        Figure with two subplots; per estimator one drift and one diffusion ``Scatter`` trace
        (legend group = name), plus two "truth" traces when ``sde`` is given.
    """
    if not isinstance(estimates, Mapping):
        raise TypeError(f"estimates must be a mapping name -> (drift, diffusion), got {type(estimates).__name__}")
    loc_t = as_tensor(locations, name="locations")
    d = loc_t.shape[-1] if loc_t.ndim == 2 else 1
    loc_t = check_locations(loc_t, d=d)
    if not 0 <= dim < d:
        raise ValueError(f"dim must be in [0, {d - 1}], got {dim!r}")
    loc = to_numpy(loc_t)
    order = np.argsort(loc[:, dim])
    xs = loc[order, dim]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("drift f(x)", "diffusion g(x)"))
    if sde is not None:
        with torch.no_grad():
            f_true = to_numpy(sde.drift(loc_t))[order, dim]
            g_true = to_numpy(sde.diffusion(loc_t))[order, dim]
        for col, y in ((1, f_true), (2, g_true)):
            fig.add_trace(go.Scatter(x=xs, y=y, mode="lines", name="truth", legendgroup="truth",
                                     showlegend=col == 1, line=dict(color=_TRUTH, width=3, dash="dash")),
                          row=1, col=col)
    for i, (name, pair) in enumerate(estimates.items()):
        try:
            drift, diffusion = pair
        except (TypeError, ValueError) as exc:
            raise TypeError(f"estimates[{name!r}] must be a pair (drift, diffusion)") from exc
        for col, (label, val) in enumerate((("drift", drift), ("diffusion", diffusion)), start=1):
            arr = to_numpy(val)
            arr = arr[:, None] if arr.ndim == 1 else arr
            if arr.ndim != 2 or arr.shape[0] != loc.shape[0]:
                raise ValueError(f"estimates[{name!r}] {label} must have shape (G={loc.shape[0]}, d); "
                                 f"got {np.shape(to_numpy(val))}")
            fig.add_trace(go.Scatter(x=xs, y=arr[order, min(dim, arr.shape[1] - 1)], mode="lines", name=name,
                                     legendgroup=name, showlegend=col == 1,
                                     line=dict(color=COLORS[i % len(COLORS)], width=2)), row=1, col=col)
    fig.update_xaxes(title_text="x")
    return _layout(fig, title)


def _frames_of(frames: Any, path_index: int) -> np.ndarray:
    f = as_tensor(frames, name="frames")
    if f.ndim == 3:
        f = f[None]
    if f.ndim != 4:
        raise ValueError(f"frames must have shape (n_paths, T, H, W) or (T, H, W); got {tuple(f.shape)}")
    if not 0 <= path_index < f.shape[0]:
        raise ValueError(f"path_index must be in [0, {f.shape[0] - 1}], got {path_index!r}")
    return to_numpy(f[path_index])


def video_figure(frames: Any, *, path_index: int = 0, max_frames: int = 60, dt: float | None = None,
                 title: str | None = None) -> go.Figure:
    """One path's video as a heatmap with a plotly slider and play button (works on static pages).

    Args:
        frames: (n_paths, T, H, W) or (T, H, W) images in [0, 1].
        path_index: which path to show. max_frames: at most this many frames, evenly spaced.
        dt: time between frames (labels the slider with times instead of indices).

    Returns:
        Figure with one ``Heatmap`` trace (the first frame), ``fig.frames`` holding one frame per
        slider step, and one slider.
    """
    clip = _frames_of(frames, path_index)
    max_frames = check_int(max_frames, name="max_frames", minimum=1)
    idx = np.unique(np.linspace(0, clip.shape[0] - 1, min(max_frames, clip.shape[0])).round().astype(int))
    label = (lambda i: f"t={i * dt:.3g}") if dt is not None else (lambda i: str(i))
    heat = dict(colorscale="Gray", zmin=0.0, zmax=1.0, showscale=False)
    fig = go.Figure(go.Heatmap(z=clip[idx[0]], **heat),
                    frames=[go.Frame(data=[go.Heatmap(z=clip[i], **heat)], name=str(i)) for i in idx])
    steps = [dict(method="animate", label=label(i),
                  args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                       transition=dict(duration=0))]) for i in idx]
    fig.update_layout(
        # step labels would overlap for many frames: hide them, show the current one above the bar
        sliders=[dict(active=0, steps=steps, pad=dict(t=30), font=dict(color="rgba(0,0,0,0)"),
                      currentvalue=dict(prefix="" if dt is not None else "frame ", font=dict(color="#222")))],
        updatemenus=[dict(type="buttons", showactive=False, x=0.0, y=-0.05, xanchor="right",
                          buttons=[dict(label="play", method="animate",
                                        args=[None, dict(frame=dict(duration=80, redraw=True),
                                                         fromcurrent=True)])])],
        width=420, height=480,
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    return _layout(fig, title)


def frame_strip_figure(frames: Any, *, path_index: int = 0, n_frames: int = 8, dt: float | None = None,
                       title: str | None = None) -> go.Figure:
    """A strip of ``n_frames`` evenly spaced frames of one path, side by side.

    Returns:
        Figure with min(n_frames, T) ``Heatmap`` traces, one per subplot, titled by index or time.
    """
    clip = _frames_of(frames, path_index)
    n_frames = check_int(n_frames, name="n_frames", minimum=1)
    idx = np.unique(np.linspace(0, clip.shape[0] - 1, min(n_frames, clip.shape[0])).round().astype(int))
    names = [f"t={i * dt:.3g}" if dt is not None else f"frame {i}" for i in idx]
    fig = make_subplots(rows=1, cols=len(idx), subplot_titles=names, horizontal_spacing=0.01)
    for k, i in enumerate(idx, start=1):
        fig.add_trace(go.Heatmap(z=clip[i], colorscale="Gray", zmin=0.0, zmax=1.0, showscale=False),
                      row=1, col=k)
    fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor="x")
    fig.update_xaxes(showticklabels=False)
    return _layout(fig, title, height=220)


def latent_scatter_figure(true: Sequence[float] | Any, estimated: Any, *, title: str | None = None,
                          max_points: int = 5000) -> go.Figure:
    """Recovered latent against the true latent (1-D), as a scatter plot (thinned to ``max_points``)."""
    a, b = to_numpy(as_tensor(true, name="true")).reshape(-1), to_numpy(as_tensor(estimated, name="estimated")).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"true and estimated must hold the same number of values; got {a.size} and {b.size}")
    stride = max(1, a.size // max_points)
    fig = go.Figure(go.Scatter(x=a[::stride], y=b[::stride], mode="markers", name="states",
                                 marker=dict(size=3, color=COLORS[0], opacity=0.5)))
    return _layout(fig, title, xaxis_title="true x", yaxis_title="recovered x")



# --------------------------------------------------------------------------------------------------
# Notebook figures (added by the notebooks engineer)
# --------------------------------------------------------------------------------------------------

def pca_figure(explained: Any, scores: Any, color: Any = None, *, color_title: str = "x",
               title: str | None = None, max_points: int = 5000) -> go.Figure:
    """Principal components of frames: explained variance (left), first two components (right).

    Args:
        explained: fraction of variance per component (k,), e.g. from :func:`fimcg.video.frame_pca`.
        scores: coordinates of the frames on the components (N, k), k >= 2.
        color: optional value per frame (N,) (e.g. the true latent) colouring the scatter.
        max_points: the scatter is thinned to at most this many points.

    Returns:
        Figure with a ``Bar`` trace "explained variance" and a ``Scatter`` trace "frames".
    """
    ev = to_numpy(as_tensor(explained, name="explained")).reshape(-1)
    sc = to_numpy(as_tensor(scores, name="scores"))
    if sc.ndim != 2 or sc.shape[1] < 2:
        raise ValueError(f"scores must have shape (N, k) with k >= 2; got {sc.shape}")
    stride = max(1, sc.shape[0] // check_int(max_points, name="max_points", minimum=1))
    marker: dict[str, Any] = dict(size=3, opacity=0.6, color=COLORS[0])
    if color is not None:
        c = to_numpy(as_tensor(color, name="color")).reshape(-1)
        if c.size != sc.shape[0]:
            raise ValueError(f"color must hold one value per frame ({sc.shape[0]}), got {c.size}")
        marker.update(color=c[::stride], colorscale="Viridis", showscale=True,
                      colorbar=dict(title=color_title, len=0.8))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.4, 0.6],
                        subplot_titles=("variance explained per component", "frames on components 1 and 2"))
    fig.add_trace(go.Bar(x=np.arange(1, ev.size + 1), y=ev, name="explained variance",
                         marker_color=COLORS[1]), row=1, col=1)
    fig.add_trace(go.Scatter(x=sc[::stride, 0], y=sc[::stride, 1], mode="markers", name="frames",
                             marker=marker), row=1, col=2)
    fig.update_xaxes(title_text="component", row=1, col=1)
    fig.update_yaxes(title_text="fraction of variance", row=1, col=1)
    fig.update_xaxes(title_text="component 1", row=1, col=2)
    fig.update_yaxes(title_text="component 2", row=1, col=2)
    return _layout(fig, title, showlegend=False, height=400)


def error_curve_figure(curves: Mapping[str, Mapping[str, Any]], *, title: str | None = None,
                       reference_slope: float | None = -0.5) -> go.Figure:
    """Relative errors of drift (left) and diffusion (right) against the observed time, log-log.

    Args:
        curves: name -> {"total_time": (K,), "drift_rel": (K,), "diffusion_rel": (K,)}, e.g. from
            :func:`fimcg.widgets.estimation.error_curve`.
        reference_slope: adds a dotted guide line ∝ T^slope through each panel's first point of the
            first curve (None: no guide). -1/2 is the variance-limited rate of the drift.

    Returns:
        Figure with one ``Scatter`` trace per curve and panel (legend group = name), plus the guides.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty mapping name -> {'total_time', 'drift_rel', 'diffusion_rel'}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("drift: relative RMSE", "diffusion: relative RMSE"))
    for i, (name, c) in enumerate(curves.items()):
        missing = {"total_time", "drift_rel", "diffusion_rel"} - set(c)
        if missing:
            raise ValueError(f"curves[{name!r}] lacks {sorted(missing)}")
        t = to_numpy(c["total_time"]).astype(float)
        for col, key in ((1, "drift_rel"), (2, "diffusion_rel")):
            y = to_numpy(c[key]).astype(float)
            if y.shape != t.shape:
                raise ValueError(f"curves[{name!r}][{key!r}] has shape {y.shape}, total_time {t.shape}")
            fig.add_trace(go.Scatter(x=t, y=y, mode="lines+markers", name=name, legendgroup=name,
                                     showlegend=col == 1, line=dict(color=COLORS[i % len(COLORS)])),
                          row=1, col=col)
    if reference_slope is not None:
        first = next(iter(curves.values()))
        t = to_numpy(first["total_time"]).astype(float)
        for col, key in ((1, "drift_rel"), (2, "diffusion_rel")):
            y0 = float(to_numpy(first[key])[0])
            fig.add_trace(go.Scatter(x=t, y=y0 * (t / t[0]) ** reference_slope, mode="lines",
                                     name=f"∝ T^{reference_slope:g}", legendgroup="guide", showlegend=col == 1,
                                     line=dict(color="#888888", dash="dot")), row=1, col=col)
    fig.update_xaxes(type="log", title_text="observed time T (all paths)")
    fig.update_yaxes(type="log")
    return _layout(fig, title, height=400)


def slider_figure(figs: Sequence[go.Figure], labels: Sequence[str], *, prefix: str = "",
                  slider_y: float = -0.25) -> go.Figure:
    """Combine figures of the same layout into one figure with a plotly slider that picks one.

    The static-page stand-in for a widget: precompute one figure per setting, then let the
    reader step through them without a kernel. Traces of all figures are stacked; step k makes
    figure k's traces visible and shows its title. Layout (axes, subplots, size) comes from the
    first figure, so every figure must have the same number of traces on the same axes.

    Args:
        figs: the figures, one per slider position. labels: the slider label of each.
        prefix: text before the current label (e.g. ``"noise = "``).
        slider_y: vertical position of the slider in paper coordinates (below the plot).

    Returns:
        A figure with ``len(figs) * n_traces`` traces and one slider of ``len(figs)`` steps.
    """
    figs, labels = list(figs), [str(v) for v in labels]
    if not figs or len(figs) != len(labels):
        raise ValueError(f"figs and labels must be non-empty and of equal length, got {len(figs)} and {len(labels)}")
    per = len(figs[0].data)
    axes = [(t.xaxis, t.yaxis) for t in figs[0].data]
    for k, f in enumerate(figs):
        if [(t.xaxis, t.yaxis) for t in f.data] != axes:
            raise ValueError(f"figs[{k}] does not have the traces of figs[0] on the same axes "
                             f"({len(f.data)} vs {per} traces)")
    out = go.Figure(layout=figs[0].layout)
    for k, f in enumerate(figs):
        for t in f.data:
            t = t.to_plotly_json()
            t["visible"] = k == 0
            out.add_trace(t)
    titles = [f.layout.title.text for f in figs]
    steps = [dict(method="update", label=label,
                  args=[{"visible": [j // per == k for j in range(per * len(figs))]}, {"title.text": titles[k]}])
             for k, label in enumerate(labels)]
    height = (figs[0].layout.height or 450) + 90
    bottom = (figs[0].layout.margin.b or 40) + 90
    out.update_layout(sliders=[dict(active=0, steps=steps, y=slider_y, yanchor="top", pad=dict(t=10),
                                    currentvalue=dict(prefix=prefix, font=dict(size=13)))],
                      height=height, margin=dict(b=bottom))
    return out


def function_family_figure(x: Any, drifts: Any, diffusions: Any, *, labels: Sequence[str] | None = None,
                           title: str | None = None) -> go.Figure:
    """Several drift (left) and diffusion (right) functions on one grid, e.g. samples of a prior.

    Args:
        x: grid (G,) or (G, 1). drifts, diffusions: (B, G) or (B, G, 1), one row per function.
        labels: a name per function (default "sample b").

    Returns:
        Figure with 2 B ``Scatter`` traces: drift b then diffusion b, for b = 0..B-1.
    """
    xs = to_numpy(as_tensor(x, name="x")).reshape(-1)
    f = to_numpy(as_tensor(drifts, name="drifts"))
    g = to_numpy(as_tensor(diffusions, name="diffusions"))
    f = f[..., 0] if f.ndim == 3 else f
    g = g[..., 0] if g.ndim == 3 else g
    if f.ndim != 2 or f.shape != g.shape or f.shape[1] != xs.size:
        raise ValueError(f"drifts and diffusions must both have shape (B, G={xs.size}); got {f.shape} and {g.shape}")
    labels = [f"sample {b}" for b in range(f.shape[0])] if labels is None else list(labels)
    if len(labels) != f.shape[0]:
        raise ValueError(f"labels must name each of the {f.shape[0]} functions, got {len(labels)}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("drift f(x)", "diffusion g(x)"))
    for b, name in enumerate(labels):
        color = COLORS[b % len(COLORS)]
        fig.add_trace(go.Scatter(x=xs, y=f[b], mode="lines", name=name, legendgroup=name,
                                 line=dict(color=color)), row=1, col=1)
        fig.add_trace(go.Scatter(x=xs, y=g[b], mode="lines", name=name, legendgroup=name, showlegend=False,
                                 line=dict(color=color)), row=1, col=2)
    fig.update_xaxes(title_text="x")
    return _layout(fig, title, height=380)


def training_curve_figure(history: Sequence[Mapping[str, Any]], *, title: str | None = None) -> go.Figure:
    """Training losses (left) and validation errors (right) against the step, from a pretraining log.

    Args:
        history: records as written by :func:`fimcg.fim.training.loop.pretrain` (``log.json``'s "history"):
            each with "step" and some of "loss_f", "loss_g", "val_drift_rel", "val_diffusion_rel",
            "ref_drift_rel", "ref_diffusion_rel".

    Returns:
        Figure with one ``Scatter`` trace per quantity present (losses left, log scale; relative
        errors right).
    """
    if not history:
        raise ValueError("history is empty: no training records to plot")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss (running mean)", "validation: relative RMSE"))
    names = {"loss_f": "drift loss", "loss_g": "diffusion loss", "val_drift_rel": "prior: drift",
             "val_diffusion_rel": "prior: diffusion", "ref_drift_rel": "double well: drift",
             "ref_diffusion_rel": "double well: diffusion"}
    for i, (key, name) in enumerate(names.items()):
        pts = [(r["step"], r[key]) for r in history if key in r and r[key] is not None]
        if not pts:
            continue
        col = 1 if key.startswith("loss") else 2
        steps, vals = zip(*pts)
        fig.add_trace(go.Scatter(x=list(steps), y=list(vals), mode="lines" if col == 1 else "lines+markers",
                                 name=name, line=dict(color=COLORS[i % len(COLORS)],
                                                      dash="dot" if key.startswith("ref") else None)),
                      row=1, col=col)
    if not fig.data:
        raise ValueError("history holds none of loss_f, loss_g, val_*_rel, ref_*_rel")
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="step")
    return _layout(fig, title, height=380)


def paths_grid_figure(datasets: Sequence[tuple[Any, float]], *, titles: Sequence[str] | None = None,
                      n_show: int = 3, cols: int = 2, max_points: int = 1000) -> go.Figure:
    """Several data sets side by side: a few paths of each against time, one panel per data set.

    Args:
        datasets: ``(paths, dt)`` pairs; paths (n_paths, T, 1) (or (n_paths, T)); they may differ in
            number, length and sampling step.
        titles: a panel title per data set. n_show: paths drawn per panel. cols: panels per row.
        max_points: each line is thinned to at most this many points.

    Returns:
        Figure with one ``Scatter`` trace per drawn path.
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("datasets must not be empty")
    n_show = check_int(n_show, name="n_show", minimum=1)
    cols = check_int(cols, name="cols", minimum=1)
    titles = [f"data set {i}" for i in range(len(datasets))] if titles is None else list(titles)
    if len(titles) != len(datasets):
        raise ValueError(f"titles must name each of the {len(datasets)} data sets, got {len(titles)}")
    rows = -(-len(datasets) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=0.18 / max(rows - 1, 1) + 0.05)
    for i, (paths, dt) in enumerate(datasets):
        p = check_paths(paths, name=f"datasets[{i}] paths", min_length=1)
        dt = check_positive(dt, name=f"datasets[{i}] dt")
        stride = max(1, int(np.ceil(p.shape[1] / max_points)))
        t = np.arange(p.shape[1])[::stride] * dt
        for j, row in enumerate(to_numpy(p[:n_show, ::stride, 0])):
            fig.add_trace(go.Scatter(x=t, y=row, mode="lines", showlegend=False, name=f"path {j}",
                                     line=dict(width=1, color=COLORS[j % len(COLORS)])),
                          row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(title_text="t")
    return _layout(fig, None, height=260 * rows)


def history_figure(history: Sequence[Mapping[str, Any]], *, keys: Sequence[str] | None = None,
                   x: str = "step", log_y: bool = False, title: str | None = None) -> go.Figure:
    """Training curves: one line per key of a list of records (e.g. ``result.history``).

    Args:
        history: records, each a mapping with ``x`` and some of ``keys``.
        keys: the quantities to draw (default: every numeric key except ``x`` and ``time_s``).
        x: the key on the horizontal axis ("step" or "time_s").
        log_y: logarithmic vertical axis.

    Returns:
        Figure with one ``Scatter`` trace per key found in the records.
    """
    history = list(history)
    if not history:
        raise ValueError("history is empty: no records to plot")
    if keys is None:
        keys = [k for k, v in history[0].items() if k not in (x, "time_s") and isinstance(v, (int, float))]
    fig = go.Figure()
    for i, key in enumerate(keys):
        pts = [(r[x], r[key]) for r in history if x in r and r.get(key) is not None]
        if pts:
            xs, ys = zip(*pts)
            fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines", name=key,
                                     line=dict(color=COLORS[i % len(COLORS)])))
    if not fig.data:
        raise ValueError(f"no record holds {x!r} together with any of {list(keys)}")
    if log_y:
        fig.update_yaxes(type="log")
    return _layout(fig, title, xaxis_title=x, height=350)


def gates_figure(locations: Any, explanation: Mapping[str, Any], *, min_share: float = 0.02,
                 title: str | None = None) -> go.Figure:
    """Which classic estimates the FIM mixed, location by location (stacked areas, one per option).

    Args:
        locations: (G,) or (G, 1) query states (one-dimensional).
        explanation: the dict returned by :meth:`fimcg.fim.FIM.explain` at those locations.
        min_share: options whose largest weight stays below this are drawn together as "other".

    Returns:
        Figure with two stacked-area panels (drift gates left, diffusion gates right) whose traces
        sum to 1 at every location; one ``Scatter`` trace per option shown.
    """
    x = to_numpy(check_locations(locations, d=1))[:, 0]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("drift: weight of each estimate", "diffusion: weight of each g² estimate"))
    for col, key in ((1, "drift_gates"), (2, "diffusion_gates")):
        gates = {name: to_numpy(w).reshape(-1) for name, w in explanation[key].items()}
        if any(len(w) != len(x) for w in gates.values()):
            raise ValueError(f"explanation[{key!r}] has weights for {[len(w) for w in gates.values()]} locations, "
                             f"not {len(x)}: explain() must be called with these locations")
        # one colour per option, fixed by its place among all options: the same option has the same
        # colour in every figure
        palette = {n: _GATE_COLORS[i % len(_GATE_COLORS)] for i, n in enumerate(gates)}
        shown = {n: w for n, w in gates.items() if w.max() >= min_share}
        rest = sum((w for n, w in gates.items() if n not in shown), np.zeros_like(x))
        if rest.max() > 0:
            shown["other"] = rest
            palette["other"] = "#BBBBBB"
        for name, w in shown.items():
            fig.add_trace(go.Scatter(x=x, y=w, name=name, mode="lines", stackgroup=key, legendgroup=key,
                                     legendgrouptitle_text="drift" if col == 1 else "diffusion",
                                     line=dict(width=0.5, color=palette[name]), showlegend=True), row=1, col=col)
    fig.update_yaxes(range=[0, 1])
    fig.update_xaxes(title_text="x")
    return _layout(fig, title, height=360)
