"""Tests of the figure builders the notebooks added to fimcg.app.figures."""

from __future__ import annotations

import numpy as np
import pytest

from fimcg.app import figures


def test_pca_figure_traces_and_colour():
    rng = np.random.default_rng(0)
    explained = np.array([0.5, 0.3, 0.2])
    scores = rng.normal(size=(12000, 3))
    color = np.arange(12000.0)
    fig = figures.pca_figure(explained, scores, color, color_title="true x", max_points=3000)
    bar, scatter = fig.data
    assert bar.type == "bar" and list(bar.y) == [0.5, 0.3, 0.2] and list(bar.x) == [1, 2, 3]
    assert scatter.type == "scatter" and len(scatter.x) == 3000
    np.testing.assert_allclose(scatter.x, scores[::4, 0])
    np.testing.assert_allclose(scatter.marker.color, color[::4])
    assert scatter.marker.colorbar.title.text == "true x"


def test_pca_figure_without_colour():
    fig = figures.pca_figure([0.6, 0.4], np.ones((5, 2)))
    assert isinstance(fig.data[1].marker.color, str)


@pytest.mark.parametrize("scores,color,match", [
    (np.ones((5, 1)), None, r"scores must have shape \(N, k\) with k >= 2; got \(5, 1\)"),
    (np.ones((5, 2)), np.ones(4), r"color must hold one value per frame \(5\), got 4"),
])
def test_pca_figure_bad_input(scores, color, match):
    with pytest.raises(ValueError, match=match):
        figures.pca_figure([0.5, 0.5], scores, color)


def test_error_curve_figure_traces_and_guide():
    curves = {"a": {"total_time": [1, 4, 16], "drift_rel": [1.0, 0.5, 0.25], "diffusion_rel": [0.1, 0.05, 0.02]},
              "b": {"total_time": [1, 4, 16], "drift_rel": [0.5, 0.3, 0.2], "diffusion_rel": [0.2, 0.1, 0.05]}}
    fig = figures.error_curve_figure(curves)
    names = [t.name for t in fig.data]
    assert names == ["a", "a", "b", "b", "∝ T^-0.5", "∝ T^-0.5"]
    np.testing.assert_allclose(fig.data[4].y, [1.0, 0.5, 0.25])   # through a's first drift point
    np.testing.assert_allclose(fig.data[5].y, [0.1, 0.05, 0.025])
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert len(figures.error_curve_figure(curves, reference_slope=None).data) == 4


@pytest.mark.parametrize("curves,match", [
    ({}, "non-empty mapping"),
    ({"a": {"total_time": [1, 2], "drift_rel": [1, 2]}}, r"curves\['a'\] lacks \['diffusion_rel'\]"),
    ({"a": {"total_time": [1, 2], "drift_rel": [1], "diffusion_rel": [1, 2]}}, r"\['drift_rel'\] has shape \(1,\)"),
])
def test_error_curve_figure_bad_input(curves, match):
    with pytest.raises(ValueError, match=match):
        figures.error_curve_figure(curves)


def _two_panel(y, title):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2)
    fig.add_trace(go.Scatter(y=y, name="left"), row=1, col=1)
    fig.add_trace(go.Bar(y=y, name="right"), row=1, col=2)
    fig.update_layout(title=title, height=300)
    return fig


def test_slider_figure_stacks_and_toggles():
    figs = [_two_panel([k, k + 1], f"setting {k}") for k in range(3)]
    out = figures.slider_figure(figs, ["a", "b", "c"], prefix="setting: ")
    assert len(out.data) == 6
    assert [bool(t.visible) for t in out.data] == [True, True] + [False] * 4
    assert [t.xaxis for t in out.data] == ["x", "x2"] * 3
    assert list(out.data[4].y) == [2, 3]
    (slider,) = out.layout.sliders
    assert [s.label for s in slider.steps] == ["a", "b", "c"]
    assert slider.steps[1].args[0]["visible"] == [False, False, True, True, False, False]
    assert slider.steps[2].args[1]["title.text"] == "setting 2"
    assert slider.currentvalue.prefix == "setting: "
    assert out.layout.title.text == "setting 0" and out.layout.height == 390


def test_slider_figure_rejects_mismatched_figures():
    import plotly.graph_objects as go

    good = _two_panel([1, 2], "a")
    with pytest.raises(ValueError, match=r"figs\[1\] does not have the traces of figs\[0\]"):
        figures.slider_figure([good, go.Figure(go.Scatter(y=[1]))], ["a", "b"])
    with pytest.raises(ValueError, match="equal length"):
        figures.slider_figure([good], ["a", "b"])
    with pytest.raises(ValueError, match="non-empty"):
        figures.slider_figure([], [])


def test_function_family_figure():
    x = np.linspace(-1, 1, 5)
    f = np.stack([x, 2 * x])
    g = np.ones((2, 5, 1))
    fig = figures.function_family_figure(x, f, g, labels=["a", "b"])
    assert [t.name for t in fig.data] == ["a", "a", "b", "b"]
    np.testing.assert_allclose(fig.data[2].y, 2 * x)
    assert [t.xaxis for t in fig.data] == ["x", "x2", "x", "x2"]
    with pytest.raises(ValueError, match=r"shape \(B, G=5\)"):
        figures.function_family_figure(x, f[:, :3], g)
    with pytest.raises(ValueError, match="labels must name each of the 2"):
        figures.function_family_figure(x, f, g, labels=["a"])


def test_family_coefficients_figure():
    c = np.array([[0.5, -1.0], [1.5, 0.2], [-2.0, 0.7]])
    fig = figures.family_coefficients_figure(c, labels=["a", "b", "c"])
    np.testing.assert_allclose(fig.data[0].x, c[:, 0])  # rank >= 2: c2 against c1
    np.testing.assert_allclose(fig.data[0].y, c[:, 1])
    assert list(fig.data[0].text) == ["a", "b", "c"]
    one = figures.family_coefficients_figure(c[:, :1])  # rank 1: c1 against the recording
    np.testing.assert_allclose(one.data[0].y, c[:, 0])
    assert list(one.layout.xaxis.ticktext) == ["recording 0", "recording 1", "recording 2"]
    with pytest.raises(ValueError, match="rank 0 has no coordinates"):
        figures.family_coefficients_figure(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="labels must name each of the 3"):
        figures.family_coefficients_figure(c, labels=["a"])


def test_training_curve_figure():
    history = [{"step": 10, "loss_f": 1.0, "loss_g": 2.0}, {"step": 20, "loss_f": 0.5, "loss_g": 1.0},
               {"step": 20, "val_drift_rel": 0.4, "val_diffusion_rel": 0.2, "ref_drift_rel": 0.3}]
    fig = figures.training_curve_figure(history)
    names = [t.name for t in fig.data]
    assert names == ["drift loss", "diffusion loss", "prior: drift", "prior: diffusion", "double well: drift"]
    assert list(fig.data[1].y) == [2.0, 1.0] and list(fig.data[1].x) == [10, 20]
    assert fig.layout.yaxis.type == "log"
    with pytest.raises(ValueError, match="history is empty"):
        figures.training_curve_figure([])
    with pytest.raises(ValueError, match="holds none of"):
        figures.training_curve_figure([{"step": 1, "lr": 0.1}])


def test_paths_grid_figure():
    a = np.zeros((4, 50, 1))
    b = np.ones((2, 3000))
    fig = figures.paths_grid_figure([(a, 0.1), (b, 0.01)], titles=["A", "B"], n_show=3, max_points=1000)
    assert len(fig.data) == 3 + 2
    assert fig.data[3].xaxis == "x2" and len(fig.data[3].x) == 1000
    assert fig.data[3].x[1] == pytest.approx(0.03)
    with pytest.raises(ValueError, match=r"datasets\[1\] dt must be finite and > 0"):
        figures.paths_grid_figure([(a, 0.1), (b, 0.0)])
    with pytest.raises(ValueError, match="datasets must not be empty"):
        figures.paths_grid_figure([])


def test_history_figure():
    hist = [{"step": 1, "loss": 2.0, "rec": 1.0, "sim": 0.5, "time_s": 0.1},
            {"step": 2, "loss": 1.0, "rec": 0.5, "sim": None, "time_s": 0.2}]
    fig = figures.history_figure(hist)
    assert [t.name for t in fig.data] == ["loss", "rec", "sim"]
    assert list(fig.data[2].x) == [1]  # None values are skipped
    fig = figures.history_figure(hist, keys=["loss"], x="time_s", log_y=True)
    assert list(fig.data[0].x) == [0.1, 0.2] and fig.layout.yaxis.type == "log"
    with pytest.raises(ValueError, match="history is empty"):
        figures.history_figure([])
    with pytest.raises(ValueError, match="no record holds 'step' together with any of \\['acc'\\]"):
        figures.history_figure(hist, keys=["acc"])
