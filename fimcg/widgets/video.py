"""Notebook 02: from a latent variable to video, and back by the blob's centroid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .base import explorer, slider_over

__all__ = ["VideoData", "video_data", "video_panel_figure", "update_video_panel", "video_slider_figure",
           "video_explorer"]

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
    from .._validation import as_tensor, check_int, check_paths
    from ..video import frame_centroids, pixel_to_latent, render_video

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
    return slider_over(lambda d: video_panel_figure(d, dt=dt), datas, labels, slider_title=slider_title,
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

    from ..video import EMBEDDINGS

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
    return explorer(controls, compute, lambda d: video_panel_figure(d, dt=dt), update_video_panel, above)
