"""Notebook 08's widget (fimcg.widgets.slow_variable): the pure function on a scene whose bright, fast
distractor owns the geometry and on one without it, the figure and its update, the static slider and
the explorer driven headlessly."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import fimcg
from fimcg import widgets

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def fim():
    return fimcg.load_fim()


@pytest.fixture(scope="module")
def bright(fim):
    """The distractor scene's settings: a fast (rate 20), bright (1.0) distractor."""
    return widgets.slow_variable_data(speed=20.0, brightness=1.0, estimator=fim)


@pytest.fixture(scope="module")
def without(fim):
    """The same particle, no distractor (brightness 0)."""
    return widgets.slow_variable_data(speed=20.0, brightness=0.0, estimator=fim)


def test_slow_variable_data_shapes_and_the_distractor_scene(bright):
    c = len(bright.names)
    assert bright.names[0] == "PCA/Isomap" and bright.names[-1] == "predictive 5" and c == 6
    assert bright.r2.shape == bright.score.shape == bright.autocorrelation.shape == (c,)
    assert bright.per_lag.shape == (c, 3) and bright.lags == (1, 5, 20)
    assert bright.frames.shape == (4, 24, 24) and bright.frame_index.tolist() == [0, 5, 10, 15]
    assert bright.settings["correlation_time"] == pytest.approx(0.05) and bright.settings["dt"] == 0.01


def test_a_bright_fast_distractor_defeats_geometry_but_not_the_judge(bright, without):
    # the distractor owns the largest-variance direction: geometry follows it, not the particle
    assert bright.geometry_r2 < 0.3
    # the FIM's choice is a coordinate of the particle, far better than geometry
    assert bright.chosen != "PCA/Isomap" and bright.chosen_r2 > bright.geometry_r2 + 0.5
    assert bright.score[bright.names.index("PCA/Isomap")] < 0.05 < bright.score.max()
    # without the distractor every candidate finds the particle, and scores near the truth's ceiling
    assert without.geometry_r2 > 0.98 and without.chosen_r2 > 0.98
    assert without.score.max() > bright.score.max()
    assert abs(without.score.max() - without.truth_score) < 0.15
    assert without.truth_score == pytest.approx(bright.truth_score)  # the same particle


def test_slow_variable_figure_update_and_slider(bright, without):
    fig = widgets.slow_variable_figure(bright)
    assert [t.type for t in fig.data] == ["heatmap"] * 4 + ["bar", "bar", "scatter"]
    assert list(fig.data[4].x) == list(bright.names)
    np.testing.assert_allclose(fig.data[4].y, bright.r2)
    np.testing.assert_allclose(fig.data[5].y, bright.score)
    chosen = bright.names.index(bright.chosen)
    colors = list(fig.data[4].marker.color)
    assert colors[chosen] != colors[1 if chosen != 1 else 2] and colors[0] == "#999999"
    assert bright.chosen in fig.layout.title.text and "brightness 1" in fig.layout.title.text

    widgets.update_slow_variable_figure(fig, without)
    np.testing.assert_allclose(fig.data[4].y, without.r2)
    np.testing.assert_allclose(fig.data[5].y, without.score)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), without.frames[0])
    assert list(fig.data[6].y) == [without.truth_score] * 2
    assert "brightness 0" in fig.layout.title.text and without.chosen in fig.layout.title.text
    with pytest.raises(ValueError, match="slow_variable_figure"):
        widgets.update_slow_variable_figure(go.Figure([go.Scatter(), go.Scatter()]), bright)

    slider = widgets.slow_variable_slider_figure([bright, without], ["1", "0"], slider_title="brightness ")
    assert len(slider.data) == 2 * 7
    assert [bool(t.visible) for t in slider.data] == [True] * 7 + [False] * 7
    assert slider.layout.sliders[0].steps[1].args[0]["visible"] == [False] * 7 + [True] * 7


@pytest.mark.parametrize("kwargs,match", [
    (dict(speed=0.0), r"speed must be"),
    (dict(speed=-2.0), r"speed must be"),
    (dict(brightness=-0.1), r"brightness must be finite and >= 0, got -0.1"),
    (dict(brightness=float("nan")), r"brightness must be finite"),
    (dict(n_paths=2), r"n_paths must be >= 4"),
    (dict(n_frames=20), r"n_frames must be >= 50"),
])
def test_slow_variable_data_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.slow_variable_data(estimator=lambda *a: None, **kwargs)


def test_slow_variable_explorer_headless(fim):
    box = widgets.slow_variable_explorer(n_paths=4, n_frames=100, size=16, predictive_steps=50, estimator=fim)
    fig = box.figure
    assert set(box.controls) == {"speed", "brightness"}
    before = np.asarray(fig.data[0].z).copy()
    box.controls["brightness"].value = 0.0
    assert box.data.settings["brightness"] == 0.0
    assert box.data.geometry_r2 > 0.95  # no distractor: geometry finds the particle
    np.testing.assert_allclose(np.asarray(fig.data[4].y), box.data.r2)
    assert not np.allclose(np.asarray(fig.data[0].z), before)  # the distractor is gone from the frames
    assert "brightness 0" in fig.layout.title.text
    box.controls["speed"].value = 5.0
    assert box.data.settings["speed"] == 5.0 and "rate 5" in fig.layout.title.text
