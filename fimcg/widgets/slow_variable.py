"""Notebook 08: finding the slow variable when a distractor owns the frames' geometry.

The pure function :func:`slow_variable_data` renders the reference particle (the double well, on a
line) together with one distractor blob and runs the candidates and the judge of
:mod:`fimcg.coarse_graining.slow` on the frames; the figure compares each candidate's R² against
the hidden particle with the score the frozen estimator gives it. It shows the choice (steps 2-3 of
that module); the sharpening of the winner by averaging over time (step 4) is left out to keep the
widget quick, so ``coarse_grain`` may end on the chosen candidate's smoothed version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .base import check_trace_count, explorer, slider_over

__all__ = ["SlowVariableData", "slow_variable_data", "slow_variable_figure", "update_slow_variable_figure",
           "slow_variable_slider_figure", "slow_variable_explorer"]

#: frames of path 0 shown, and the frames between two of them (the predictive candidate's lag)
SAMPLE_FRAMES, SAMPLE_STRIDE = 4, 5
#: PCA features of the frames the candidates are built from
N_FEATURES = 16
#: the candidate the geometric initialisation uses (Isomap on the PCA features)
GEOMETRY = "PCA/Isomap"


@dataclass(frozen=True)
class SlowVariableData:
    """Which coordinate of a distractor scene the frozen estimator picks, and how good each one is.

    Candidates are in the fixed order of :func:`fimcg.coarse_graining.slow.slow_candidates`
    (geometry first, the predictive encoder last), whatever their rank.

    Attributes:
        frames: :data:`SAMPLE_FRAMES` frames of path 0, :data:`SAMPLE_STRIDE` frames apart,
            (SAMPLE_FRAMES, size, size) in [0, 1]. frame_index: their indices (SAMPLE_FRAMES,).
        names: the candidates' names (C,).
        r2: R² of the best monotone map from each candidate to the true particle position, over the
            whole recording (C,) (1: a perfect coordinate; about 0: it follows something else).
        score: the estimator's predictive information of each candidate on the held-out paths,
            nats per transition, mean over ``lags`` (C,) (the judge's criterion).
        per_lag: the predictive information at each lag (C, len(lags)).
        autocorrelation: each candidate's autocorrelation at the longest lag (C,), held-out paths.
        lags: the judge's lags, in frames.
        chosen: the name of the candidate with the highest score.
        truth_score: the same score for the true particle position on the held-out paths (the ceiling).
        settings: the keywords of :func:`slow_variable_data` (speed in 1/time units, the correlation
            time 1/speed, brightness, n_paths, n_frames, size in pixels, seed, predictive_steps) and dt.
    """

    frames: np.ndarray
    frame_index: np.ndarray
    names: tuple[str, ...]
    r2: np.ndarray
    score: np.ndarray
    per_lag: np.ndarray
    autocorrelation: np.ndarray
    lags: tuple[int, ...]
    chosen: str
    truth_score: float
    settings: dict

    def r2_of(self, name: str) -> float:
        """R² of the candidate ``name``."""
        return float(self.r2[self.names.index(name)])

    @property
    def chosen_r2(self) -> float:
        """R² of the chosen candidate."""
        return self.r2_of(self.chosen)

    @property
    def geometry_r2(self) -> float:
        """R² of the geometric candidate (what the ``"isomap"`` initialisation starts from)."""
        return self.r2_of(GEOMETRY)


def slow_variable_data(*, speed: float = 20.0, brightness: float = 1.0, n_paths: int = 8, n_frames: int = 300,
                       size: int = 24, seed: int = 0, estimator: Callable | None = None,
                       predictive_steps: int = 200) -> SlowVariableData:
    """Render the particle with one distractor, build the slow-variable candidates and judge them.

    The scene is ``make_scene("distractor", rate=speed, brightness=brightness, ...)``: the reference
    double well moves a blob of brightness 0.7 along a horizontal line; a distractor blob (width 2 px)
    moves by a 2-D Ornstein-Uhlenbeck process of rate ``speed`` and standard deviation 0.25·size px
    around the image centre; pixel noise 0.02; one frame every 0.01 time units (``brightness=0`` hides
    the distractor).

    The method: :data:`N_FEATURES` PCA features of the frames
    (:class:`fimcg.coarse_graining.autoencoder.FramePCA`), the candidates of
    :func:`fimcg.coarse_graining.slow.slow_candidates` (TICA lag 5, 4 components, one predictive
    encoder at lag 5 with 32 hidden units), fitted on the fitting paths and judged on the held-out
    ones by :func:`fimcg.coarse_graining.slow.judge_candidates` at the default ``InitConfig().judge_lags``.

    Args:
        speed: the distractor's rate, 1/time units (> 0); its correlation time is 1/speed.
        brightness: the distractor's peak brightness (>= 0; the particle's is 0.7).
        n_paths: paths (>= 4: a quarter of them is held out). n_frames: frames per path (>= 50).
        size: image side in pixels (>= 8).
        seed: seeds the processes, the pixel noise and the candidates.
        estimator: the judge, ``(paths, dt, locations) -> (drift, diffusion)``; default
            :func:`fimcg.load_fim` (pass it in to load the weights once).
        predictive_steps: Adam steps of the predictive encoder (>= 1).

    Raises:
        ValueError: an option out of range (the message names it).
    """
    import torch

    from .._validation import check_int, check_positive
    from ..analysis.alignment import latent_r2
    from ..analysis.markov import predictive_information
    from ..coarse_graining.autoencoder import FramePCA
    from ..coarse_graining.options import InitConfig
    from ..coarse_graining.slow import judge_candidates, slow_candidates
    from ..video import make_scene

    speed = check_positive(speed, name="speed")
    brightness = float(brightness)
    if not (math.isfinite(brightness) and brightness >= 0):
        raise ValueError(f"brightness must be finite and >= 0, got {brightness!r}")  # before the FIM loads
    n_paths = check_int(n_paths, name="n_paths", minimum=4)
    n_frames = check_int(n_frames, name="n_frames", minimum=50)
    size = check_int(size, name="size", minimum=8)
    predictive_steps = check_int(predictive_steps, name="predictive_steps", minimum=1)
    if estimator is None:
        from ..fim import load_fim

        estimator = load_fim()

    scene = make_scene("distractor", n_paths=n_paths, n_frames=n_frames, size=size, seed=int(seed), rate=speed,
                       brightness=brightness)
    frames, x = scene.frames, scene.signal

    flat = frames.reshape(n_paths * n_frames, -1)
    pca = FramePCA((size, size), N_FEATURES).fit(flat, seed=int(seed))
    with torch.no_grad():
        feats = pca.project(flat).reshape(n_paths, n_frames, N_FEATURES)
    found = slow_candidates(feats, lag=5, components=4, seed=int(seed), max_points=600, predictive_lags=(5,),
                            predictive_steps=predictive_steps, hidden=32)
    held_out = {name: found.split.held_out(z) for name, z in found.coordinates.items()}
    lags, dt = InitConfig().judge_lags, scene.dt
    ranked = judge_candidates(held_out, dt, estimator, lags=lags)  # best first
    rows = {row["name"]: row for row in ranked}
    names = tuple(found.coordinates)
    truth = x[..., 0].reshape(-1).numpy()
    r2 = np.array([latent_r2(found.coordinates[n].reshape(-1).numpy(), truth) for n in names])
    score = np.array([rows[n]["score"] for n in names])
    per_lag = np.array([rows[n]["per_lag"] if rows[n]["per_lag"] else [np.nan] * len(lags) for n in names])
    truth_score = predictive_information(found.split.held_out(x[..., 0]), dt, estimator, lags=lags).score
    idx = np.arange(SAMPLE_FRAMES) * SAMPLE_STRIDE  # n_frames >= 50 holds them all
    return SlowVariableData(
        frames=frames[0, idx].double().numpy(), frame_index=idx, names=names, r2=r2, score=score, per_lag=per_lag,
        autocorrelation=np.array([rows[n]["autocorrelation"] for n in names]), lags=lags,
        chosen=ranked[0]["name"], truth_score=float(truth_score),
        settings=dict(speed=speed, correlation_time=1.0 / speed, brightness=brightness, n_paths=n_paths,
                      n_frames=n_frames, size=size, seed=int(seed), predictive_steps=predictive_steps, dt=dt))


def _slow_title(d: SlowVariableData) -> str:
    s = d.settings
    return (f"distractor: rate {s['speed']:g} (correlation time {s['correlation_time']:.2g}), brightness "
            f"{s['brightness']:g}<br>the FIM chooses {d.chosen} (R² {d.chosen_r2:.2f}); "
            f"geometry ({GEOMETRY}) R² {d.geometry_r2:.2f}")


def _bar_colors(d: SlowVariableData) -> list[str]:
    from ..app.figures import COLORS

    return [COLORS[3] if n == d.chosen else ("#999999" if n == GEOMETRY else COLORS[0]) for n in d.names]


def _frame_names(d: SlowVariableData) -> list[str]:
    return [f"t = {i * d.settings['dt']:.2f}" for i in d.frame_index]


def slow_variable_figure(data: SlowVariableData):
    """Frames of path 0 (top) and, per candidate, its R² against the true particle (bottom left) and
    the FIM's score, the predictive information on held-out paths (bottom right); the chosen
    candidate is drawn in vermillion, geometry in grey, and a dashed line marks the true particle's score.

    Trace order (fixed): one ``Heatmap`` per frame, the ``Bar`` "R² vs true particle", the ``Bar``
    "FIM score", the ``Scatter`` "true particle's score". Returns a :class:`plotly.graph_objects.Figure`.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(data.frames)  # SAMPLE_FRAMES: n_frames >= 50 leaves room for all of them
    specs = [[{} for _ in range(n)], [{"colspan": n // 2}] + [None] * (n // 2 - 1) + [{"colspan": n - n // 2}]
             + [None] * (n - n // 2 - 1)]
    titles = _frame_names(data) + ["R² against the true particle",
                                   "FIM score, nats per transition (dashed: the true particle)"]
    fig = make_subplots(rows=2, cols=n, specs=specs, row_heights=[0.4, 0.6], subplot_titles=titles,
                        horizontal_spacing=0.06, vertical_spacing=0.14)
    for k, frame in enumerate(data.frames, start=1):
        fig.add_trace(go.Heatmap(z=frame, colorscale="Gray", zmin=0.0, zmax=1.0, showscale=False,
                                 name=f"frame {data.frame_index[k - 1]}"), row=1, col=k)
        fig.update_xaxes(showticklabels=False, row=1, col=k)
        fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor=f"x{k if k > 1 else ''}",
                         row=1, col=k)
    right = n // 2 + 1
    colors = _bar_colors(data)
    fig.add_trace(go.Bar(x=list(data.names), y=data.r2, name="R² vs true particle", marker=dict(color=colors)),
                  row=2, col=1)
    fig.add_trace(go.Bar(x=list(data.names), y=data.score, name="FIM score", marker=dict(color=colors)),
                  row=2, col=right)
    fig.add_trace(go.Scatter(x=[data.names[0], data.names[-1]], y=[data.truth_score] * 2, mode="lines",
                             name="true particle's score", line=dict(color="black", dash="dash")), row=2, col=right)
    fig.update_yaxes(range=[0, 1.02], row=2, col=1)
    fig.update_layout(height=560, title=dict(text=_slow_title(data), font=dict(size=13)), template="plotly_white",
                      showlegend=False, margin=dict(l=50, r=20, t=100, b=40))
    return fig


def update_slow_variable_figure(fig, data: SlowVariableData) -> None:
    """Copy ``data`` into a figure made by :func:`slow_variable_figure` (Figure or FigureWidget), in place."""
    n = len(data.frames)
    check_trace_count(fig, n + 3, source=f"slow_variable_figure with {n} frames")
    colors = _bar_colors(data)
    with fig.batch_update():
        for trace, frame in zip(fig.data[:n], data.frames):
            trace.z = frame
        fig.data[n].update(x=list(data.names), y=data.r2, marker=dict(color=colors))
        fig.data[n + 1].update(x=list(data.names), y=data.score, marker=dict(color=colors))
        fig.data[n + 2].update(x=[data.names[0], data.names[-1]], y=[data.truth_score] * 2)
        fig.layout.title.text = _slow_title(data)


def slow_variable_slider_figure(datas: Sequence[SlowVariableData], labels: Sequence[str], *, slider_title: str = ""):
    """Static-page stand-in for :func:`slow_variable_explorer`: a plotly slider over precomputed
    :func:`slow_variable_data` (all with the same number of sample frames)."""
    return slider_over(slow_variable_figure, datas, labels, slider_title=slider_title, slider_y=-0.12)


def slow_variable_explorer(*, speed: float = 20.0, brightness: float = 1.0, n_paths: int = 8, n_frames: int = 300,
                           size: int = 24, seed: int = 0, estimator: Callable | None = None,
                           predictive_steps: int = 200) -> Any:
    """Sliders for the distractor's speed (rate, 1/time) and brightness, redrawing the frames and,
    per candidate coordinate, its R² against the particle and the FIM's score (a few seconds per change).

    The callback is :func:`slow_variable_data` + :func:`update_slow_variable_figure`; the estimator
    (default :func:`fimcg.load_fim`) is loaded once.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (``speed``, ``brightness``), ``figure``
        (``go.FigureWidget``) and ``data`` (current :class:`SlowVariableData`).
    """
    import ipywidgets as w

    if estimator is None:
        from ..fim import load_fim

        estimator = load_fim()
    style = {"description_width": "130px"}
    controls = {
        "speed": w.FloatSlider(value=speed, min=1.0, max=50.0, step=1.0, description="distractor rate",
                               style=style, continuous_update=False),
        "brightness": w.FloatSlider(value=brightness, min=0.0, max=1.5, step=0.1, description="distractor brightness",
                                    style=style, continuous_update=False),
    }

    def compute() -> SlowVariableData:
        return slow_variable_data(speed=controls["speed"].value, brightness=controls["brightness"].value,
                                  n_paths=n_paths, n_frames=n_frames, size=size, seed=seed, estimator=estimator,
                                  predictive_steps=predictive_steps)

    return explorer(controls, compute, slow_variable_figure, update_slow_variable_figure,
                    [w.HBox(list(controls.values()))])
