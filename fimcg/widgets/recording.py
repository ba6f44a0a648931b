"""Notebook 09: a recording as fimcg will read it, after crop, downsampling and stride, and what varies most in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .base import explorer, slider_over

__all__ = ["RecordingPreview", "recording_preview", "recording_figure", "update_recording_figure",
           "recording_slider_figure", "recording_explorer"]


@dataclass(frozen=True)
class RecordingPreview:
    """A few processed frames of a recording's first path and its first principal directions.

    Attributes:
        frames: (n_frames, H, W) processed frames (grey), evenly spaced over the previewed stretch.
        frame_index: their indices after stride (n_frames,).
        directions: (n_components, H, W) absolute values of the first principal directions of the
            previewed frames (where the frames vary most), each scaled to a maximum of 1.
        explained: (n_components,) fraction of the frames' variance along each direction.
        settings: crop, downsample, stride and the frame shape.
    """

    frames: np.ndarray
    frame_index: np.ndarray
    directions: np.ndarray
    explained: np.ndarray
    settings: dict


def recording_preview(files: Sequence[Any], *, crop: tuple[int, int, int, int] | None = None, downsample: int = 1,
                      stride: int = 1, n_frames: int = 5, n_preview: int = 400, n_components: int = 3
                      ) -> RecordingPreview:
    """Open ``files`` with :func:`fimcg.open_recording` (``crop``, ``downsample``, ``stride``), read the
    first ``n_preview`` frames of the first path and fit :class:`~fimcg.coarse_graining.autoencoder.FramePCA`
    on them (the projection the encoder starts from).

    Raises ``ValueError`` for settings that leave no pixels or fewer frames than ``n_frames``.
    """
    import torch

    from .._validation import check_int
    from ..coarse_graining.autoencoder import FramePCA
    from ..io.recording import open_recording

    n_frames = check_int(n_frames, name="n_frames", minimum=1)
    n_components = check_int(n_components, name="n_components", minimum=1)
    rec = open_recording(*files, crop=crop, downsample=downsample, stride=stride)
    if len(rec.frame_shape) != 2:
        raise ValueError(f"the preview shows grey frames; these have shape {rec.frame_shape}")
    frames = np.concatenate(list(rec.chunks(0, stop=check_int(n_preview, name="n_preview", minimum=2))))
    if frames.shape[0] < max(n_frames, 2):
        raise ValueError(f"only {frames.shape[0]} frames to preview, fewer than n_frames={n_frames}")
    pca = FramePCA(rec.frame_shape, n_components).fit_rows(torch.from_numpy(frames.reshape(frames.shape[0], -1)))
    directions = pca.components.T.abs().reshape(n_components, *rec.frame_shape).numpy()
    directions = directions / np.maximum(directions.max(axis=(1, 2), keepdims=True), 1e-12)
    idx = np.unique(np.linspace(0, frames.shape[0] - 1, n_frames).round().astype(int))
    return RecordingPreview(frames=frames[idx], frame_index=idx, directions=directions,
                            explained=pca.explained.numpy().copy(),
                            settings=dict(crop=None if crop is None else tuple(crop), downsample=int(downsample),
                                          stride=int(stride), frame_shape=tuple(rec.frame_shape)))


def _title(data: RecordingPreview) -> str:
    s = data.settings
    return (f"frames {s['frame_shape'][0]}x{s['frame_shape'][1]} (crop {s['crop']}, downsample {s['downsample']}, "
            f"stride {s['stride']})<br>bottom: where the frames vary most (first principal directions)")


def recording_figure(data: RecordingPreview, *, dt: float | None = None):
    """Processed frames (top row) and the first principal directions with their variance shares
    (bottom row). Traces: one ``Heatmap`` per frame, then one per direction."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n, m = len(data.frames), len(data.directions)
    cols = max(n, m)
    names = [f"t = {i * dt * data.settings['stride']:.3g}" if dt is not None else f"frame {i}"
             for i in data.frame_index]
    titles = names + [""] * (cols - n) + [f"direction {k + 1}: {100 * v:.0f}%" for k, v in
                                          enumerate(data.explained)] + [""] * (cols - m)
    fig = make_subplots(rows=2, cols=cols, subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.12)
    for k, frame in enumerate(data.frames):
        fig.add_trace(go.Heatmap(z=frame, colorscale="Gray", zmin=0.0, zmax=1.0, showscale=False, name=names[k]),
                      row=1, col=k + 1)
    for k, direction in enumerate(data.directions):
        fig.add_trace(go.Heatmap(z=direction, colorscale="Viridis", zmin=0.0, zmax=1.0, showscale=False,
                                 name=f"direction {k + 1}"), row=2, col=k + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_layout(height=430, title=dict(text=_title(data), font=dict(size=13)), template="plotly_white",
                      margin=dict(l=20, r=20, t=90, b=20), showlegend=False)
    return fig


def update_recording_figure(fig, data: RecordingPreview) -> None:
    """Copy ``data`` into a figure made by :func:`recording_figure` (the numbers of frames and
    directions must match)."""
    n, m = len(data.frames), len(data.directions)
    if len(fig.data) != n + m:
        raise ValueError(f"the figure has {len(fig.data)} panels, the data {n + m}")
    with fig.batch_update():
        for trace, z in zip(fig.data, [*data.frames, *data.directions]):
            trace.z = z
        for k, v in enumerate(data.explained):
            fig.layout.annotations[max(n, m) + k].text = f"direction {k + 1}: {100 * v:.0f}%"
        fig.layout.title.text = _title(data)


def recording_slider_figure(datas: Sequence[RecordingPreview], labels: Sequence[str], *, slider_title: str = "",
                            dt: float | None = None):
    """Static-page stand-in for :func:`recording_explorer`: a plotly slider over precomputed previews."""
    return slider_over(lambda d: recording_figure(d, dt=dt), datas, labels, slider_title=slider_title,
                       slider_y=-0.05)


def recording_explorer(files: Sequence[Any], *, dt: float | None = None, n_frames: int = 5, n_preview: int = 400):
    """Sliders for the crop (rows and columns), the downsampling and the stride of ``files``, redrawing
    :func:`recording_preview` (frames and principal directions) on every change.

    Returns:
        An ``ipywidgets.VBox`` with ``controls``, ``figure``, ``data`` and ``status`` (a label that
        says why a setting is invalid, e.g. a crop that leaves no pixels).
    """
    import ipywidgets as w

    from ..io.recording import open_recording

    h, wd = open_recording(*files).frame_shape[-2:]
    style = {"description_width": "80px"}
    controls = {
        "rows": w.IntRangeSlider(value=(0, h), min=0, max=h, description="rows", style=style,
                                 continuous_update=False),
        "columns": w.IntRangeSlider(value=(0, wd), min=0, max=wd, description="columns", style=style,
                                    continuous_update=False),
        "downsample": w.IntSlider(value=1, min=1, max=4, description="downsample", style=style,
                                  continuous_update=False),
        "stride": w.IntSlider(value=1, min=1, max=8, description="stride", style=style, continuous_update=False),
    }
    status = w.Label("")

    def compute() -> RecordingPreview:
        (top, bottom), (left, right) = controls["rows"].value, controls["columns"].value
        return recording_preview(files, crop=(top, bottom, left, right), downsample=controls["downsample"].value,
                                 stride=controls["stride"].value, n_frames=n_frames, n_preview=n_preview)

    above = [w.HBox([w.VBox([controls["rows"], controls["columns"]]),
                     w.VBox([controls["downsample"], controls["stride"]])]), status]
    return explorer(controls, compute, lambda d: recording_figure(d, dt=dt), update_recording_figure, above,
                    status=status)
