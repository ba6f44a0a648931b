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

from .._validation import as_tensor, check_finite, check_int, check_locations, check_paths, check_positive, to_numpy
from ..sde.model import SDE

__all__ = ["paths_figure", "density_figure", "drift_diffusion_figure", "video_figure", "frame_strip_figure",
           "latent_scatter_figure", "pca_figure", "error_curve_figure", "slider_figure",
           "function_family_figure", "training_curve_figure", "paths_grid_figure",
           "history_figure", "gates_figure", "vector_field_figure", "vector_fields_figure",
           "trajectories_2d_figure", "latent_vs_truth_2d_figure", "COLORS"]

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


def family_coordinates_xy(coefficients: Any) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Where each recording's coordinates (K, r) are drawn: (c1, c2) for r >= 2, (recording index, c1)
    for r = 1, nowhere for r = 0; with the two axis titles. Returns ``(x (K,), y (K,), x title, y title)``."""
    c = np.asarray(coefficients, dtype=float)
    if c.ndim != 2:
        raise ValueError(f"coefficients must have shape (K, r), got {c.shape}")
    if c.shape[1] >= 2:
        return c[:, 0], c[:, 1], "c1 (first component)", "c2 (second component)"
    if c.shape[1] == 1:
        return np.arange(c.shape[0], dtype=float), c[:, 0], "recording", "c1 (first component)"
    return np.zeros(0), np.zeros(0), "", ""


def family_coefficients_figure(coefficients: Any, *, labels: Sequence[str] | None = None,
                               title: str | None = None) -> go.Figure:
    """Each recording's coordinates in the collection's family of drifts
    (:attr:`fimcg.coarse_graining.collection.Pooled.drift_coefficients`): its parameters in the shared latent.

    Args:
        coefficients: (K, r), r >= 1: recording k's coefficient on each of the family's components
            (1 = one standard deviation of the collection along it; a component's sign is arbitrary).
        labels: a name per recording (default "recording k").

    Returns:
        For r = 1, one ``Scatter`` of c_1 against the recording's index; for r >= 2, one ``Scatter`` of
        c_2 against c_1 (each point labelled with its recording).

    Raises:
        ValueError: not (K, r) with r >= 1 (a family of rank 0 has no coordinates: the recordings
            share one drift), or labels that do not name every recording.
    """
    c = to_numpy(as_tensor(coefficients, name="coefficients"))
    if c.ndim != 2 or c.shape[1] < 1:
        raise ValueError(f"coefficients must have shape (K, r) with r >= 1, got {c.shape} (a family of rank 0 has "
                         f"no coordinates)")
    labels = [f"recording {k}" for k in range(c.shape[0])] if labels is None else list(labels)
    if len(labels) != c.shape[0]:
        raise ValueError(f"labels must name each of the {c.shape[0]} recordings, got {len(labels)}")
    x, y, x_title, y_title = family_coordinates_xy(c)
    fig = go.Figure(go.Scatter(x=x, y=y, mode="markers" if c.shape[1] == 1 else "markers+text", text=labels,
                               textposition="top center", marker=dict(color=COLORS[0], size=9), name="recordings"))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    if c.shape[1] == 1:
        fig.update_xaxes(tickmode="array", tickvals=list(range(c.shape[0])), ticktext=labels)
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


# --------------------------------------------------------------------------------------------------
# Two-dimensional systems: vector fields, trajectories in the plane, 2-D latents
# --------------------------------------------------------------------------------------------------

#: fill colours of potential contours: light to medium blue, so dark arrows and lines stay visible
_POTENTIAL_SCALE = [[0.0, "#F7FBFF"], [1.0, "#6BAED6"]]
_ARROW = "#222222"


def _as_float64(value: Any, *, name: str) -> torch.Tensor:
    """``as_tensor`` in float64 that also takes numpy views with negative strides (e.g. ``a[::-1]``)."""
    if isinstance(value, np.ndarray) and any(s < 0 for s in value.strides):
        value = np.ascontiguousarray(value)
    return as_tensor(value, name=name, dtype=torch.float64)


def _grid_axis(values: Any, *, name: str) -> np.ndarray:
    """A grid axis as a finite, strictly increasing float array of at least 2 points."""
    t = _as_float64(values, name=name)
    if t.ndim != 1 or t.shape[0] < 2:
        raise ValueError(f"{name} must be a 1-D grid of at least 2 points, shape (n,); got shape {tuple(t.shape)}")
    check_finite(t, name=name)
    g = to_numpy(t)
    if np.any(np.diff(g) <= 0):
        raise ValueError(f"{name} must be strictly increasing; got steps {np.diff(g)[np.diff(g) <= 0][:3]} "
                         f"at {np.nonzero(np.diff(g) <= 0)[0][:3]}")
    return g


def _on_grid(value: Any, *, name: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """An array on the (ny, nx) grid of the given ``shape``, finite, as float64 numpy."""
    t = _as_float64(value, name=name)
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {what}={shape} (rows follow grid_y, columns grid_x); "
                         f"got {tuple(t.shape)}")
    check_finite(t, name=name)
    return to_numpy(t)


def _paths_2d(paths: Any, *, name: str = "paths") -> np.ndarray:
    p = _as_float64(paths, name=name)
    if p.ndim != 3 or p.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (n_paths, T, 2) for planar paths; got {tuple(p.shape)}")
    return to_numpy(check_paths(p, name=name, min_length=1))


def _arrows(gx: np.ndarray, gy: np.ndarray, field: np.ndarray, scale: float, *, head: float = 0.3,
            angle: float = np.pi / 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polyline coordinates of one arrow per grid point: 7 entries per arrow, row-major over (ny, nx).

    Arrow k (point (gx[k % nx], gy[k // nx])): tail, tip, gap, left barb, tip, right barb, gap. The
    shaft is ``scale * field``; the barbs are ``head`` of the shaft long at ``angle`` to it. Gaps are
    ``None`` (object arrays, so plotly breaks the line there). Returns x, y and customdata
    (tail x, tail y, f1, f2 per entry, for the hover text).
    """
    X, Y = np.meshgrid(gx, gy)
    x0, y0 = X.reshape(-1), Y.reshape(-1)
    f = field.reshape(-1, 2)
    u, v = scale * f[:, 0], scale * f[:, 1]
    x1, y1 = x0 + u, y0 + v
    hx, hy = -head * u, -head * v                                  # back along the shaft from the tip
    c, s = np.cos(angle), np.sin(angle)
    lx, ly = x1 + c * hx - s * hy, y1 + s * hx + c * hy
    rx, ry = x1 + c * hx + s * hy, y1 - s * hx + c * hy
    gap = np.full_like(x0, np.nan)
    xs = np.stack([x0, x1, gap, lx, x1, rx, gap], axis=1).reshape(-1)
    ys = np.stack([y0, y1, gap, ly, y1, ry, gap], axis=1).reshape(-1)
    custom = np.repeat(np.stack([x0, y0, f[:, 0], f[:, 1]], axis=1), 7, axis=0)

    def with_gaps(a: np.ndarray) -> np.ndarray:
        out = a.astype(object)
        out[np.isnan(a)] = None
        return out

    return with_gaps(xs), with_gaps(ys), custom


def _add_potential(fig: go.Figure, gx: np.ndarray, gy: np.ndarray, pot: np.ndarray, *, row: int, col: int,
                   showscale: bool, potential_title: str) -> None:
    fig.add_trace(go.Contour(x=gx, y=gy, z=pot, name="potential", colorscale=_POTENTIAL_SCALE, ncontours=20,
                             contours=dict(coloring="fill", showlines=True), line=dict(width=0.5, color="#9ECAE1"),
                             showscale=showscale, colorbar=dict(title=potential_title, len=0.8),
                             hovertemplate="(%{x:.3g}, %{y:.3g})<br>U = %{z:.3g}<extra></extra>"),
                  row=row, col=col)


def _add_paths(fig: go.Figure, p: np.ndarray, n_show: int, *, row: int, col: int, showlegend: bool,
               max_points: int) -> None:
    stride = max(1, int(np.ceil(p.shape[1] / max_points)))
    for i, path in enumerate(p[:n_show, ::stride]):
        fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines", name=f"path {i}",
                                 legendgroup=f"path {i}", showlegend=showlegend,
                                 line=dict(width=1.2, color=COLORS[(i + 1) % len(COLORS)])), row=row, col=col)


def _equal_aspect(fig: go.Figure, n_cols: int) -> None:
    """Same length per unit on both axes of each panel, so arrows and paths point the right way."""
    for k in range(1, n_cols + 1):
        fig.update_yaxes(scaleanchor="x" if k == 1 else f"x{k}", scaleratio=1, constrain="domain", row=1, col=k)
        fig.update_xaxes(constrain="domain", row=1, col=k)


def _vector_fields(grid_x: Any, grid_y: Any, fields: Sequence[tuple[str, Any, str]], *, potential: Any,
                   paths: Any, n_show: int, scale: float | None, titles: Sequence[str] | None,
                   title: str | None, equal_aspect: bool, potential_title: str, max_points: int,
                   height: int) -> go.Figure:
    """One implementation for both vector-field figures. ``fields``: (label, drift, argument name)."""
    gx, gy = _grid_axis(grid_x, name="grid_x"), _grid_axis(grid_y, name="grid_y")
    shape = (gy.size, gx.size)
    arrays = [(label, _on_grid(f, name=arg, shape=shape + (2,), what="(ny, nx, 2)")) for label, f, arg in fields]
    pot = None if potential is None else _on_grid(potential, name="potential", shape=shape, what="(ny, nx)")
    p = None if paths is None else _paths_2d(paths)
    n_show = check_int(n_show, name="n_show", minimum=0)
    max_points = check_int(max_points, name="max_points", minimum=2)
    if scale is None:
        cell = min(np.diff(gx).min(), np.diff(gy).min())
        longest = max(float(np.linalg.norm(a, axis=-1).max()) for _, a in arrays)
        scale = 0.9 * cell / longest if longest > 0 else 1.0
    else:
        scale = check_positive(scale, name="scale")
    n = len(arrays)
    fig = make_subplots(rows=1, cols=n, subplot_titles=list(titles) if titles is not None else None,
                        horizontal_spacing=0.08 if n > 1 else 0.2)
    for k, (label, a) in enumerate(arrays, start=1):
        if pot is not None:
            _add_potential(fig, gx, gy, pot, row=1, col=k, showscale=k == n, potential_title=potential_title)
        xs, ys, custom = _arrows(gx, gy, a, scale)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=label, showlegend=False, customdata=custom,
                                 line=dict(width=1.2, color=_ARROW),
                                 hovertemplate="(%{customdata[0]:.3g}, %{customdata[1]:.3g})<br>"
                                               "f = (%{customdata[2]:.3g}, %{customdata[3]:.3g})"
                                               f"<extra>{label}</extra>"),
                      row=1, col=k)
        if p is not None and n_show > 0:
            _add_paths(fig, p, n_show, row=1, col=k, showlegend=k == 1, max_points=max_points)
    pad_x, pad_y = 0.5 * np.diff(gx).min(), 0.5 * np.diff(gy).min()
    fig.update_xaxes(title_text="x1", range=[gx[0] - pad_x, gx[-1] + pad_x], showgrid=False, zeroline=False)
    fig.update_yaxes(range=[gy[0] - pad_y, gy[-1] + pad_y], showgrid=False, zeroline=False)
    fig.update_yaxes(title_text="x2", row=1, col=1)
    if equal_aspect:
        _equal_aspect(fig, n)
    fig.update_layout(meta=dict(arrow_scale=float(scale)))
    return _layout(fig, title, height=height)


def vector_fields_figure(grid_x: Any, grid_y: Any, fields: Mapping[str, Any], *, potential: Any = None,
                         paths: Any = None, n_show: int = 3, scale: float | None = None, title: str | None = None,
                         equal_aspect: bool = True, potential_title: str = "U", max_points: int = 2000,
                         height: int = 420) -> go.Figure:
    """Several 2-D drift fields side by side (e.g. truth vs estimate), one panel per named field.

    Args:
        grid_x: (nx,) and grid_y: (ny,) strictly increasing grid coordinates (state units).
        fields: name -> drift (ny, nx, 2) on that grid (state units per time unit); row j, column i is
            the drift at (grid_x[i], grid_y[j]). The name titles the panel.
        potential: optional (ny, nx) potential on the same grid, drawn as filled contours under the
            arrows of every panel (one colour bar, titled ``potential_title``).
        paths: optional (n_paths, T, 2); the first ``n_show`` are drawn over every panel (each line
            thinned to at most ``max_points`` points).
        scale: arrow length per drift unit (time units: an arrow is ``scale * f`` long). Default:
            one scale for all panels such that the longest arrow of all is 0.9 of a grid cell
            (the smaller grid step), so panels compare like for like.
        equal_aspect: same length per unit on both axes, so arrows point the way the drift does.

    Returns:
        Figure with ``len(fields)`` columns; per panel, in this order, a ``Contour`` trace
        "potential" (only with ``potential``), one ``Scatter`` trace of arrows named after the field
        (7 entries per arrow, row-major over the grid: tail, tip, None, barb, tip, barb, None), and
        min(n_show, n_paths) ``Scatter`` traces "path i". ``fig.layout.meta["arrow_scale"]`` holds the
        scale used.
    """
    if not isinstance(fields, Mapping) or not fields:
        raise ValueError("fields must be a non-empty mapping name -> drift (ny, nx, 2)")
    return _vector_fields(grid_x, grid_y, [(str(k), v, f"fields[{k!r}]") for k, v in fields.items()],
                          potential=potential, paths=paths, n_show=n_show, scale=scale, titles=list(map(str, fields)),
                          title=title, equal_aspect=equal_aspect, potential_title=potential_title,
                          max_points=max_points, height=height)


def vector_field_figure(grid_x: Any, grid_y: Any, drift: Any, *, potential: Any = None, paths: Any = None,
                        n_show: int = 3, scale: float | None = None, title: str | None = None,
                        equal_aspect: bool = True, potential_title: str = "U", max_points: int = 2000,
                        height: int = 450) -> go.Figure:
    """A 2-D drift field f(x1, x2) as arrows, optionally over potential contours and with paths.

    Args:
        grid_x: (nx,) and grid_y: (ny,) strictly increasing grid coordinates (state units).
        drift: (ny, nx, 2) drift on that grid (state units per time unit); row j, column i is the
            drift at (grid_x[i], grid_y[j]).
        potential: optional (ny, nx) potential on the same grid (filled contours under the arrows).
        paths: optional (n_paths, T, 2); the first ``n_show`` are drawn over the field.
        scale: arrow length per drift unit (an arrow is ``scale * f`` long); default: the longest
            arrow is 0.9 of a grid cell (the smaller grid step).

    Returns:
        Figure with a ``Contour`` trace "potential" (only with ``potential``), one ``Scatter`` trace
        "drift" of arrows (7 entries per arrow, see :func:`vector_fields_figure`) and
        min(n_show, n_paths) ``Scatter`` traces "path i". ``fig.layout.meta["arrow_scale"]`` holds the
        scale used.
    """
    return _vector_fields(grid_x, grid_y, [("drift", drift, "drift")], potential=potential, paths=paths,
                          n_show=n_show, scale=scale, titles=None, title=title, equal_aspect=equal_aspect,
                          potential_title=potential_title, max_points=max_points, height=height)


def trajectories_2d_figure(paths: Any, *, n_show: int = 5, potential: Any = None, grid_x: Any = None,
                           grid_y: Any = None, title: str | None = None, equal_aspect: bool = True,
                           potential_title: str = "U", max_points: int = 5000) -> go.Figure:
    """Planar sample paths: the first ``n_show`` paths as lines in the (x1, x2) plane.

    Args:
        paths: (n_paths, T, 2) (state units).
        potential: optional (ny, nx) potential on the grid ``grid_x`` (nx,), ``grid_y`` (ny,), drawn
            as filled contours under the paths; it needs both grids. Grids without a potential only
            set the axis ranges (e.g. to match :func:`vector_field_figure`).
        max_points: longer paths are thinned to at most this many points per line.

    Returns:
        Figure with a ``Contour`` trace "potential" (only with ``potential``) followed by
        min(n_show, n_paths) ``Scatter`` traces "path i".
    """
    p = _paths_2d(paths)
    n_show = check_int(n_show, name="n_show", minimum=1)
    max_points = check_int(max_points, name="max_points", minimum=2)
    if (grid_x is None) != (grid_y is None):
        raise ValueError("grid_x and grid_y must be given together")
    if potential is not None and grid_x is None:
        raise ValueError("potential needs grid_x and grid_y: the grid it is given on")
    fig = make_subplots(rows=1, cols=1)
    if grid_x is not None:
        gx, gy = _grid_axis(grid_x, name="grid_x"), _grid_axis(grid_y, name="grid_y")
        if potential is not None:
            pot = _on_grid(potential, name="potential", shape=(gy.size, gx.size), what="(ny, nx)")
            _add_potential(fig, gx, gy, pot, row=1, col=1, showscale=True, potential_title=potential_title)
        fig.update_xaxes(range=[gx[0], gx[-1]])
        fig.update_yaxes(range=[gy[0], gy[-1]])
    _add_paths(fig, p, n_show, row=1, col=1, showlegend=True, max_points=max_points)
    fig.update_xaxes(title_text="x1", showgrid=False, zeroline=False)
    fig.update_yaxes(title_text="x2", showgrid=False, zeroline=False)
    if equal_aspect:
        _equal_aspect(fig, 1)
    return _layout(fig, title, height=450)


def latent_vs_truth_2d_figure(true: Any, latent: Any, *, max_points: int = 2000,
                              title: str | None = None) -> go.Figure:
    """A 2-D latent against the true 2-D state: the true states coloured by each latent coordinate.

    A good latent varies smoothly over the true plane, one coordinate per panel (up to an
    invertible map). Left: true (x1, x2) coloured by latent z1; right: coloured by latent z2.

    Args:
        true: true states (N, 2) (or (n_paths, T, 2), flattened). latent: recovered latents of the same
            shape. max_points: the points are thinned evenly (indices spread over 0..N-1) to at most
            this many.

    Returns:
        Figure with two ``Scatter`` traces "z1" and "z2" (markers at the same true states, one colour
        bar each).
    """
    a = _as_float64(true, name="true")
    b = _as_float64(latent, name="latent")
    for t, name in ((a, "true"), (b, "latent")):
        if t.ndim not in (2, 3) or t.shape[-1] != 2:
            raise ValueError(f"{name} must have shape (N, 2) or (n_paths, T, 2); got {tuple(t.shape)}")
        check_finite(t, name=name)
    if a.shape != b.shape:
        raise ValueError(f"true and latent must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    x, z = to_numpy(a).reshape(-1, 2), to_numpy(b).reshape(-1, 2)
    if x.shape[0] == 0:
        raise ValueError("true and latent hold no points")
    max_points = check_int(max_points, name="max_points", minimum=1)
    idx = np.unique(np.linspace(0, x.shape[0] - 1, min(max_points, x.shape[0])).round().astype(int))
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.15,
                        subplot_titles=("true state coloured by latent z1", "true state coloured by latent z2"))
    for k in range(2):
        fig.add_trace(go.Scatter(x=x[idx, 0], y=x[idx, 1], mode="markers", name=f"z{k + 1}", showlegend=False,
                                 marker=dict(size=4, opacity=0.7, color=z[idx, k], colorscale="Viridis",
                                             showscale=True, colorbar=dict(title=f"z{k + 1}", len=0.8,
                                                                           x=0.42 if k == 0 else 1.0)),
                                 hovertemplate="(%{x:.3g}, %{y:.3g})<br>z" + str(k + 1)
                                               + " = %{marker.color:.3g}<extra></extra>"),
                      row=1, col=k + 1)
    fig.update_xaxes(title_text="true x1")
    fig.update_yaxes(title_text="true x2")
    _equal_aspect(fig, 2)
    return _layout(fig, title, height=420)
