"""Tests of fimcg.widgets: fast/static mode flags, the pure landscape functions, and the widgets
driven headlessly (setting a slider's value fires its callback without a kernel)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fimcg import widgets
from fimcg.analysis.alignment import WARPS, score_coarse_graining
from fimcg.sde.density import stationary_density
from fimcg.sde.systems import double_well, landscape_sde
from fimcg.video import frame_pca

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# environment flags
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("Yes", True), (" on ", True),
                                            ("0", False), ("", False), ("false", False), ("off", False)])
def test_fast_mode_reads_env(monkeypatch, value, expected):
    monkeypatch.setenv("FIMCG_FAST", value)
    assert widgets.fast_mode() is expected
    assert widgets.pick("normal", "fast") == ("fast" if expected else "normal")


def test_fast_mode_unset_is_normal(monkeypatch):
    monkeypatch.delenv("FIMCG_FAST", raising=False)
    assert widgets.fast_mode() is False
    assert widgets.pick(200, 20) == 200


def test_fast_mode_rejects_typo(monkeypatch):
    monkeypatch.setenv("FIMCG_FAST", "ture")
    with pytest.raises(ValueError, match=r"FIMCG_FAST.*'ture'"):
        widgets.fast_mode()


def test_show_builds_widget_live_and_note_static(monkeypatch):
    calls = []

    def builder(*, a):
        calls.append(a)
        return ("widget", a)

    monkeypatch.delenv("FIMCG_STATIC", raising=False)
    assert widgets.show(builder, a=3) == ("widget", 3)
    monkeypatch.setenv("FIMCG_STATIC", "1")
    note = widgets.show(builder, a=4)
    assert calls == [3]  # not built in static mode
    assert "builder" in note._repr_markdown_() and "JupyterLab" in note._repr_markdown_()
    with pytest.raises(TypeError, match="builder must be a callable"):
        widgets.show(42)


# ---------------------------------------------------------------------------------------------
# landscape_sde: the parametrised double well
# ---------------------------------------------------------------------------------------------

def test_landscape_defaults_are_the_reference_system():
    x = torch.linspace(-2.2, 2.2, 101)[:, None]
    ref = double_well()
    sde = landscape_sde()
    torch.testing.assert_close(sde.drift(x), ref.drift(x), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(sde.diffusion(x), ref.diffusion(x), atol=1e-5, rtol=1e-5)


def test_landscape_geometry_barrier_wells_tilt():
    sde = landscape_sde(barrier=2.5, well=1.3, tilt=0.0)
    x = torch.tensor([[-1.3], [0.0], [1.3]], dtype=torch.float64)
    u = sde.potential(x)
    assert float(u[1] - u[0]) == pytest.approx(2.5)  # barrier height above the wells
    assert float(u[2] - u[0]) == pytest.approx(0.0, abs=1e-9)
    assert torch.allclose(sde.drift(x)[[0, 2]], torch.zeros(2, 1, dtype=torch.float64), atol=1e-9)
    # a positive tilt deepens the right well
    tilted = landscape_sde(barrier=2.5, well=1.3, tilt=0.5)
    ut = tilted.potential(x)
    assert float(ut[2]) < float(ut[0])
    assert float(tilted.drift(x)[1]) == pytest.approx(0.5)


def test_landscape_diffusion_width_and_constant():
    sde = landscape_sde(noise=1.5, width=2.0)
    g = sde.diffusion(torch.tensor([[0.0], [1.0], [2.0], [2.5]]))[:, 0]
    assert g.tolist() == pytest.approx([1.5, 1.5 * math.sqrt(0.75), 0.0, 0.0], abs=1e-6)
    const = landscape_sde(noise=1.5, state_dependent=False)
    assert const.diffusion(torch.tensor([[0.0], [3.0]]))[:, 0].tolist() == pytest.approx([1.5, 1.5])


@pytest.mark.parametrize("kwargs,match", [
    (dict(barrier=0.0), r"barrier must be finite and > 0, got 0\.0"),
    (dict(well=-1.0), r"well must be finite and > 0, got -1\.0"),
    (dict(noise=float("nan")), r"noise must be finite and > 0"),
    (dict(tilt=float("inf")), r"tilt must be finite, got inf"),
    (dict(well=1.2, width=1.1), r"width must exceed well.*width=1\.1, well=1\.2"),
])
def test_landscape_sde_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        landscape_sde(**kwargs)


# ---------------------------------------------------------------------------------------------
# landscape_data: simulation statistics against theory
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_data():
    return widgets.landscape_data(landscape_sde(), n_paths=100, t_max=10.0, dt=0.002, seed=1)


def test_landscape_data_shapes(reference_data):
    d = reference_data
    assert d.x.shape == d.potential.shape == d.drift.shape == d.diffusion.shape == d.density.shape == (400,)
    assert d.bin_centers.shape == d.histogram.shape == (60,)
    assert d.paths.shape == (3, d.time.size) and d.time.size <= 1001
    assert d.time[0] == 0 and d.time[-1] == pytest.approx(10.0)


def test_landscape_data_matches_reference_statistics(reference_data):
    d = reference_data
    # REFERENCES.md: std(x) ~ 0.96, ~7 switches per 10 time units, paths inside (-1.79, 1.79)
    assert 0.90 < d.std < 1.02
    assert 0.45 < d.switches_per_time < 1.0
    assert np.trapezoid(d.density, d.x) == pytest.approx(1.0, abs=1e-3)
    # the histogram of 500k correlated observations follows the Fokker-Planck density: compare
    # bin masses (total variation distance), which is small for a correct simulation and ~0.3 for
    # a wrong diffusion (checked below)
    width = d.bin_centers[1] - d.bin_centers[0]
    theory = np.interp(d.bin_centers, d.x, d.density) * width
    tv = 0.5 * np.abs(d.histogram * width - theory).sum()
    assert tv < 0.05


def test_landscape_histogram_detects_a_wrong_theory(reference_data):
    """The TV check above can fail: against the constant-noise theory it is far off."""
    d = reference_data
    wrong = stationary_density(landscape_sde(state_dependent=False), torch.as_tensor(d.bin_centers)).numpy()
    width = d.bin_centers[1] - d.bin_centers[0]
    tv = 0.5 * np.abs(d.histogram * width - wrong * width).sum()
    assert tv > 0.1


def test_higher_barrier_fewer_switches():
    # Kramers: rate ~ barrier * exp(-2 barrier / g^2); with g = 1 the exponential wins clearly
    # (with the reference g(0) = 2 the faster relaxation in a steeper well nearly cancels it)
    low = widgets.landscape_data(landscape_sde(barrier=0.5, noise=1.0, state_dependent=False),
                                 n_paths=40, t_max=10.0, seed=2)
    high = widgets.landscape_data(landscape_sde(barrier=2.0, noise=1.0, state_dependent=False),
                                  n_paths=40, t_max=10.0, seed=2)
    assert high.switches_per_time < 0.5 * low.switches_per_time


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_paths=0), r"n_paths must be >= 1, got 0"),
    (dict(dt=-0.1), r"dt must be finite and > 0, got -0\.1"),
    (dict(t_max=0), r"t_max must be finite and > 0"),
    (dict(n_paths=2, n_show=3), r"n_show must be <= n_paths=2, got 3"),
    (dict(bins=2), r"bins must be >= 5, got 2"),
])
def test_landscape_data_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.landscape_data(double_well(), **kwargs)


def test_landscape_data_rejects_2d_system():
    from fimcg.sde.systems import double_well_2d

    with pytest.raises(ValueError, match="1-D SDE, got dim=2"):
        widgets.landscape_data(double_well_2d(), n_paths=2, n_show=1, t_max=0.1)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------

def test_landscape_figure_traces(reference_data):
    fig = widgets.landscape_figure(reference_data)
    names = [t.name for t in fig.data]
    assert names[:4] == ["potential U(x)", "diffusion g(x)", "histogram", "stationary p(x)"]
    assert len(fig.data) == 4 + 3
    np.testing.assert_allclose(fig.data[3].y, reference_data.density)


def test_update_landscape_figure_replaces_data(reference_data):
    fig = widgets.landscape_figure(reference_data)
    other = widgets.landscape_data(landscape_sde(barrier=2.0), n_paths=10, t_max=2.0, seed=3)
    widgets.update_landscape_figure(fig, other)
    np.testing.assert_allclose(fig.data[0].y, other.potential)
    np.testing.assert_allclose(fig.data[2].y, other.histogram)
    assert f"{other.std:.2f}" in fig.layout.title.text
    short = widgets.landscape_data(double_well(), n_paths=2, n_show=2, t_max=1.0)
    with pytest.raises(ValueError, match="shows 3 paths but data has 2"):
        widgets.update_landscape_figure(fig, short)


def test_landscape_slider_figure_steps_toggle_visibility():
    datas = [widgets.landscape_data(landscape_sde(barrier=b), n_paths=5, t_max=1.0, seed=0, n_show=2)
             for b in (0.5, 1.0, 2.0)]
    fig = widgets.landscape_slider_figure(datas, ["0.5", "1", "2"], slider_title="barrier: ")
    per = 4 + 2
    assert len(fig.data) == 3 * per
    assert [bool(t.visible) for t in fig.data] == [True] * per + [False] * (2 * per)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0.5", "1", "2"]
    vis = steps[2].args[0]["visible"]
    assert vis == [False] * (2 * per) + [True] * per
    # each copy's potential is the one of its barrier (U(0) - U(well) = barrier)
    for k, b in enumerate((0.5, 1.0, 2.0)):
        u = fig.data[k * per]
        x = np.asarray(u.x)
        y = np.asarray(u.y)
        assert np.interp(0.0, x, y) - np.interp(1.0, x, y) == pytest.approx(b, rel=0.02)
        assert (u.xaxis, u.yaxis) == (fig.data[0].xaxis, fig.data[0].yaxis)
    with pytest.raises(ValueError, match="equal length"):
        widgets.landscape_slider_figure(datas, ["a"])


# ---------------------------------------------------------------------------------------------
# the widget, driven headlessly
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def explorer():
    return widgets.potential_explorer(n_paths=10, t_max=2.0, n_show=2)


def _value_at(trace, x0: float) -> float:
    return float(np.interp(x0, np.asarray(trace.x), np.asarray(trace.y)))


def test_explorer_barrier_slider_redraws_potential(explorer):
    fig = explorer.figure
    explorer.controls["barrier"].value = 2.5
    assert _value_at(fig.data[0], 0.0) - _value_at(fig.data[0], 1.0) == pytest.approx(2.5, rel=0.02)
    assert explorer.data.potential is not None
    np.testing.assert_allclose(fig.data[3].y, explorer.data.density)
    explorer.controls["barrier"].value = 1.0


def test_explorer_well_and_tilt_sliders(explorer):
    fig = explorer.figure
    explorer.controls["well"].value = 1.3
    x = np.asarray(fig.data[0].x)
    u = np.asarray(fig.data[0].y)
    right = x > 0.3
    assert x[right][np.argmin(u[right])] == pytest.approx(1.3, abs=0.03)
    explorer.controls["tilt"].value = 1.0
    u = np.asarray(fig.data[0].y)
    assert u[x > 0].min() < u[x < 0].min()  # right well deeper
    # the stationary density follows: more mass on the right
    p, xs = np.asarray(fig.data[3].y), np.asarray(fig.data[3].x)
    assert np.trapezoid(p[xs > 0], xs[xs > 0]) > 0.7
    explorer.controls["tilt"].value = 0.0
    explorer.controls["well"].value = 1.0


def test_explorer_diffusion_controls(explorer):
    fig = explorer.figure
    explorer.controls["width"].value = 2.5
    assert _value_at(fig.data[1], 0.0) == pytest.approx(2.0, rel=1e-3)
    assert _value_at(fig.data[1], 1.25) == pytest.approx(2.0 * math.sqrt(0.75), rel=0.01)
    explorer.controls["state_dependent"].value = False
    g = np.asarray(fig.data[1].y)
    assert np.allclose(g, 2.0)
    assert explorer.controls["width"].disabled
    explorer.controls["noise"].value = 1.0
    assert np.allclose(np.asarray(fig.data[1].y), 1.0)
    explorer.controls["state_dependent"].value = True
    explorer.controls["noise"].value = 2.0
    assert not explorer.controls["width"].disabled


def test_explorer_invalid_setting_reports_and_keeps_figure(explorer):
    fig = explorer.figure
    explorer.controls["width"].value = 1.5
    before = np.asarray(fig.data[0].y).copy()
    explorer.controls["well"].value = 1.4
    assert explorer.status.value == ""  # 1.5 > 1.4 is valid
    explorer.controls["width"].value = 1.5
    explorer.controls["well"].value = 1.4
    explorer.controls["width"].min = 1.0
    explorer.controls["width"].value = 1.2  # now width < well
    assert "width must exceed well" in explorer.status.value
    assert fig.data[0].y is not None and len(fig.data[0].y) == len(before)
    explorer.controls["width"].value = 2.0
    assert explorer.status.value == ""
    explorer.controls["well"].value = 1.0


# ---------------------------------------------------------------------------------------------
# notebook 02: video
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_path():
    import fimcg

    return fimcg.simulate(double_well(), torch.zeros(1, 1), dt=0.002, n_steps=600, seed=0)


def test_video_data_decodes_clean_frames(short_path):
    d = widgets.video_data(short_path, size=32, n_frames=5)
    assert d.frames.shape == (5, 32, 32) and d.frames.min() >= 0 and d.frames.max() <= 1
    assert d.frame_index.tolist() == [0, 150, 300, 450, 600]
    assert d.x.shape == d.decoded.shape == (601,)
    assert d.decode_rmse < 0.01 and d.r2 > 0.999
    # accepts (T,), (T, 1) and (1, T, 1) alike
    for shape in ((601,), (601, 1), (1, 601, 1)):
        np.testing.assert_allclose(widgets.video_data(short_path.reshape(shape), n_frames=2).decoded, d.decoded)


@pytest.mark.parametrize("embedding", ["line", "warped", "arc", "spiral"])
def test_video_data_every_geometry_inverts(short_path, embedding):
    assert widgets.video_data(short_path, embedding=embedding, n_frames=2).decode_rmse < 0.02


def test_video_noise_degrades_readout(short_path):
    errs = [widgets.video_data(short_path, noise=s, n_frames=2, seed=1).decode_rmse for s in (0.0, 0.1, 0.3)]
    assert errs[0] < errs[1] < errs[2]
    # a threshold below the noise lets noise pixels drag the centroid to the image centre
    low = widgets.video_data(short_path, noise=0.1, threshold=0.0, n_frames=2, seed=1).decode_rmse
    assert low > 5 * errs[1]


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_frames=0), r"n_frames must be >= 1, got 0"),
    (dict(n_frames=1000), r"n_frames must be <= the path length T=601, got 1000"),
    (dict(size=2), r"size must be >= 4, got 2"),
    (dict(noise=-0.1), r"noise"),
    (dict(embedding="circle"), r"unknown embedding 'circle'"),
])
def test_video_data_bad_input(short_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.video_data(short_path, **kwargs)


def test_video_data_rejects_several_paths():
    with pytest.raises(ValueError, match=r"single 1-D path.*\(2, 10, 1\)"):
        widgets.video_data(torch.zeros(2, 10, 1))
    with pytest.raises(ValueError, match="NaN"):
        widgets.video_data(torch.tensor([0.0, float("nan"), 0.1]))


def test_video_panel_and_update(short_path):
    d = widgets.video_data(short_path, n_frames=4)
    fig = widgets.video_panel_figure(d, dt=0.002)
    assert [t.type for t in fig.data] == ["heatmap"] * 4 + ["scatter", "scatter"]
    noisy = widgets.video_data(short_path, n_frames=4, noise=0.2, size=24)
    widgets.update_video_panel(fig, noisy)
    assert np.asarray(fig.data[0].z).shape == (24, 24)
    np.testing.assert_allclose(np.asarray(fig.data[4].y), noisy.decoded[:: max(1, noisy.x.size // 2000)])
    assert f"{noisy.decode_rmse:.3f}" in fig.layout.title.text
    with pytest.raises(ValueError, match="shows 4 frames but data has 2"):
        widgets.update_video_panel(fig, widgets.video_data(short_path, n_frames=2))


def test_video_slider_figure(short_path):
    datas = [widgets.video_data(short_path, n_frames=3, noise=s) for s in (0.0, 0.2)]
    fig = widgets.video_slider_figure(datas, ["0", "0.2"], slider_title="noise ")
    assert len(fig.data) == 2 * 5
    assert [bool(t.visible) for t in fig.data] == [True] * 5 + [False] * 5
    assert fig.layout.sliders[0].steps[1].args[0]["visible"] == [False] * 5 + [True] * 5
    assert fig.data[5].xaxis == fig.data[0].xaxis and fig.data[8].yaxis == fig.data[3].yaxis


def test_video_explorer_headless(short_path):
    box = widgets.video_explorer(short_path, dt=0.002, n_frames=3)
    fig = box.figure
    assert box.data.decode_rmse < 0.01
    box.controls["noise"].value = 0.3
    assert box.data.settings["noise"] == 0.3 and box.data.decode_rmse > 0.05
    assert f"{box.data.decode_rmse:.3f}" in fig.layout.title.text
    box.controls["size"].value = 48
    assert np.asarray(fig.data[0].z).shape == (48, 48)
    box.controls["embedding"].value = "arc"
    assert box.data.settings["embedding"] == "arc"
    # the arc puts the particle off the middle row
    frame = np.asarray(fig.data[0].z)
    row = np.unravel_index(np.argmax(frame), frame.shape)[0]
    assert abs(row - 23.5) > 3


def test_frame_pca_recovers_planted_structure():
    gen = torch.Generator().manual_seed(0)
    # frames varying along exactly two pixel patterns: two components explain everything
    a, b = torch.rand(8, 8, generator=gen), torch.rand(8, 8, generator=gen)
    s, t = torch.randn(300, generator=gen), 0.3 * torch.randn(300, generator=gen)
    frames = s[:, None, None] * a + t[:, None, None] * b
    explained, scores = frame_pca(frames, k=4)
    assert explained.shape == (4,) and scores.shape == (300, 4)
    assert explained[:2].sum() == pytest.approx(1.0, abs=1e-9) and explained[0] > explained[1]
    assert np.allclose(explained[2:], 0, atol=1e-12)
    with pytest.raises(ValueError, match=r"k must be <= min\(frames, pixels\) = 64, got 65"):
        frame_pca(frames, k=65)
    with pytest.raises(ValueError, match="at least one frame axis"):
        frame_pca(torch.zeros(8, 8))


# ---------------------------------------------------------------------------------------------
# notebook 03: estimation
# ---------------------------------------------------------------------------------------------

def _fake_estimator(paths, dt, locations):
    """Returns the truth of the reference system: lets tests check the bookkeeping exactly."""
    sde = double_well()
    return sde.drift(locations), sde.diffusion(locations)


def test_estimation_data_bookkeeping():
    d = widgets.estimation_data(double_well(), n_paths=5, n_obs=200, subsample=2, seed=0,
                                estimators={"exact": _fake_estimator}, grid_size=30)
    assert d.grid.shape == d.drift.shape == d.diffusion.shape == (30,)
    assert d.n_paths == 5 and d.n_obs == 200 and d.dt_obs == pytest.approx(0.004)
    f_hat, g_hat = d.estimates["exact"]
    np.testing.assert_allclose(f_hat, d.drift, rtol=1e-6, atol=1e-6)
    assert d.errors["exact"]["drift_rel"] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(d.grid) > 0)


def test_estimation_data_classic_estimators_improve_with_data():
    small = widgets.estimation_data(double_well(), n_paths=4, n_obs=250, seed=0)
    large = widgets.estimation_data(double_well(), n_paths=40, n_obs=2500, seed=0)
    assert set(small.errors) == {"binned KM", "local-linear"}
    for name in small.errors:
        assert large.errors[name]["drift_rel"] < small.errors[name]["drift_rel"]
        assert large.errors[name]["diffusion_rel"] < 0.06  # 100k increments pin g down


def test_estimation_data_coarse_sampling_biases_drift():
    # same observed time (T = 200), sampling step 0.002 vs 0.1: the coarse drift is flattened
    fine = widgets.estimation_data(double_well(), n_paths=20, n_obs=5001, subsample=1, seed=1,
                                   estimators={"local-linear": widgets.default_estimators()["local-linear"]})
    coarse = widgets.estimation_data(double_well(), n_paths=20, n_obs=101, subsample=50, seed=1,
                                     estimators={"local-linear": widgets.default_estimators()["local-linear"]})
    assert coarse.errors["local-linear"]["drift_rel"] > 1.5 * fine.errors["local-linear"]["drift_rel"]


@pytest.mark.parametrize("kwargs,match,exc", [
    (dict(n_obs=1), r"n_obs must be >= 2, got 1", ValueError),
    (dict(subsample=0), r"subsample must be >= 1, got 0", ValueError),
    (dict(dt=0.0), r"dt must be finite and > 0, got 0\.0", ValueError),
    (dict(estimators={}), r"estimators must name at least one estimator", ValueError),
    (dict(estimators={"x": 3}), r"estimators\['x'\] must be callable", TypeError),
])
def test_estimation_data_bad_input(kwargs, match, exc):
    with pytest.raises(exc, match=match):
        widgets.estimation_data(double_well(), **kwargs)


def test_estimation_figure_update_and_slider():
    est = {"exact": _fake_estimator, "binned KM": widgets.default_estimators()["binned KM"]}
    a = widgets.estimation_data(double_well(), n_paths=4, n_obs=300, estimators=est, grid_size=20)
    b = widgets.estimation_data(double_well(), n_paths=8, n_obs=300, estimators=est, grid_size=20, seed=2)
    fig = widgets.estimation_figure(a)
    assert [t.name for t in fig.data] == ["truth", "truth", "exact", "exact", "binned KM", "binned KM"]
    widgets.update_estimation_figure(fig, b)
    np.testing.assert_allclose(fig.data[4].y, b.estimates["binned KM"][0])
    np.testing.assert_allclose(fig.data[5].y, b.estimates["binned KM"][1])
    assert "8 paths" in fig.layout.title.text
    other = widgets.estimation_data(double_well(), n_paths=4, n_obs=300, estimators={"exact": _fake_estimator})
    with pytest.raises(ValueError, match="has 6 traces but data needs 4"):
        widgets.update_estimation_figure(fig, other)
    slider = widgets.estimation_slider_figure([a, b], ["4", "8"], slider_title="paths: ")
    assert len(slider.data) == 12
    assert slider.layout.sliders[0].steps[1].args[0]["visible"] == [False] * 6 + [True] * 6


def test_estimation_explorer_headless():
    box = widgets.estimation_explorer(estimators={"binned KM": widgets.default_estimators()["binned KM"]})
    fig = box.figure
    box.controls["n_paths"].value = 3
    box.controls["n_obs"].value = 200
    assert box.data.n_paths == 3 and box.data.n_obs == 200
    assert "3 paths x 200 obs" in fig.layout.title.text
    box.controls["subsample"].value = 10
    assert box.data.dt_obs == pytest.approx(0.02)
    np.testing.assert_allclose(fig.data[2].y, box.data.estimates["binned KM"][0])


def test_error_curve_drift_error_falls_with_observed_time():
    curves = widgets.error_curve(double_well(), total_times=[4, 64], n_paths=8, seeds=2,
                                 estimators={"binned KM": widgets.default_estimators()["binned KM"]})
    c = curves["binned KM"]
    assert c["total_time"].tolist() == pytest.approx([4.0, 64.0], rel=0.01)
    assert c["drift_rel"][1] < 0.5 * c["drift_rel"][0]  # ~ T^-1/2: expect a factor ~4
    with pytest.raises(ValueError, match="total_times must not be empty"):
        widgets.error_curve(double_well(), total_times=[])


# ---------------------------------------------------------------------------------------------
# notebook 04: normalisation
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dw_paths():
    import fimcg

    return fimcg.simulate(double_well(), torch.tensor([[-1.0], [1.0]]).repeat(3, 1), dt=0.002, n_steps=800, seed=0)


def test_normalisation_equivariance_of_binned_km(dw_paths):
    from fimcg.estimators.classic import binned_km

    d = widgets.normalisation_data(binned_km, dw_paths, 0.002, scale=10.0, shift=5.0, time_unit=4.0)
    assert d.max_deviation < 1e-4
    np.testing.assert_allclose(d.y, 10 * d.x + 5, rtol=1e-5)
    # in the new units the drift is scale * time_unit times larger, the diffusion scale * sqrt(time_unit)
    np.testing.assert_allclose(d.drift_y, 40 * d.drift_ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(d.diffusion_y, 20 * d.diffusion_ref, rtol=1e-3, atol=1e-3)


def test_normalisation_detects_a_non_equivariant_estimator(dw_paths):
    from fimcg.estimators.classic import local_linear

    # a fixed bandwidth in state units is not scale-equivariant: the deviation is visible
    fixed = lambda p, dt, loc: local_linear(p, dt, loc, bandwidth=0.05)  # noqa: E731
    assert widgets.normalisation_data(fixed, dw_paths, 0.002, scale=10.0).max_deviation > 0.05


def test_normalisation_untrained_fim_is_equivariant(dw_paths):
    import fimcg

    fim = fimcg.FIM(fimcg.fim.FIMConfig()).eval()
    d = widgets.normalisation_data(fim.estimate, dw_paths, 0.002, scale=0.2, shift=-3.0, time_unit=10.0)
    assert d.max_deviation < 1e-3


@pytest.mark.parametrize("kwargs,match,exc", [
    (dict(scale=0.0), r"scale must be finite and non-zero, got 0\.0", ValueError),
    (dict(shift=float("nan")), r"shift must be finite", ValueError),
    (dict(time_unit=-1.0), r"time_unit must be finite and > 0, got -1\.0", ValueError),
])
def test_normalisation_bad_input(dw_paths, kwargs, match, exc):
    from fimcg.estimators.classic import binned_km

    with pytest.raises(exc, match=match):
        widgets.normalisation_data(binned_km, dw_paths, 0.002, **kwargs)


def test_normalisation_rejects_bad_estimator_and_2d(dw_paths):
    with pytest.raises(TypeError, match="estimate must be callable"):
        widgets.normalisation_data("km", dw_paths, 0.002)
    with pytest.raises(ValueError, match="needs 1-D paths, got d=2"):
        widgets.normalisation_data(lambda *a: None, torch.zeros(2, 10, 2), 0.002)


def test_normalisation_explorer_headless(dw_paths):
    from fimcg.estimators.classic import binned_km

    box = widgets.normalisation_explorer(binned_km, dw_paths, 0.002)
    fig = box.figure
    box.controls["scale"].value = 10.0
    box.controls["time_unit"].value = 100.0
    np.testing.assert_allclose(np.asarray(fig.data[0].y), box.data.drift_y)
    assert np.asarray(fig.data[0].y).std() > 100 * np.asarray(fig.data[2].y).std()  # new units: 1000x drift
    np.testing.assert_allclose(np.asarray(fig.data[3].y), np.asarray(fig.data[2].y), rtol=1e-3, atol=1e-3)
    assert "y = 10·x" in fig.layout.title.text


# ---------------------------------------------------------------------------------------------
# notebook 05: coordinate changes and the training recorder
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["tanh", "sinh", "cubic"])
def test_warps_are_monotone_with_correct_derivatives(kind):
    x = np.linspace(-2, 2, 2001)
    h, h1, h2 = WARPS[kind](x, 0.8)
    assert np.all(np.diff(h) > 0) and np.all(h1 > 0)
    np.testing.assert_allclose(np.gradient(h, x)[5:-5], h1[5:-5], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.gradient(h1, x)[5:-5], h2[5:-5], rtol=1e-3, atol=1e-5)
    h0, d0, dd0 = WARPS[kind](x, 0.0)
    np.testing.assert_allclose(h0, x)
    assert np.all(d0 == 1) and np.all(dd0 == 0)


@pytest.fixture(scope="module")
def long_dw_paths():
    import fimcg

    return fimcg.simulate(double_well(), torch.tensor([[-1.0], [1.0]]).repeat(25, 1), dt=0.002, n_steps=4999, seed=0)


def test_coordinate_change_identity_is_the_system(long_dw_paths):
    d = widgets.coordinate_change_data(paths=long_dw_paths, kind="tanh", strength=0.0)
    np.testing.assert_allclose(d.z, d.x)
    x = torch.as_tensor(d.x)[:, None]
    np.testing.assert_allclose(d.drift_z, double_well().drift(x)[:, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(d.drift_naive, d.drift_z)


@pytest.mark.parametrize("kind", ["tanh", "sinh"])
def test_coordinate_change_data_confirms_ito(long_dw_paths, kind):
    """Estimated drift of the transformed paths follows Itô's formula, not the naive h' f."""
    d = widgets.coordinate_change_data(paths=long_dw_paths, kind=kind, strength=1.0)
    ito = np.interp(d.z_grid, d.z, d.drift_z)
    naive = np.interp(d.z_grid, d.z, d.drift_naive)
    err_ito = np.sqrt(np.mean((ito - d.drift_est) ** 2))
    err_naive = np.sqrt(np.mean((naive - d.drift_est) ** 2))
    assert err_ito < 0.7 * err_naive
    g_err = np.sqrt(np.mean((np.interp(d.z_grid, d.z, d.diffusion_z) - d.diffusion_est) ** 2))
    assert g_err < 0.05


@pytest.mark.parametrize("kwargs,match", [
    (dict(kind="log"), r"unknown kind 'log'; valid: tanh, sinh, cubic"),
    (dict(strength=-1.0), r"strength must be finite and >= 0, got -1\.0"),
    (dict(dt=0), r"dt must be finite and > 0, got 0"),
])
def test_coordinate_change_bad_input(long_dw_paths, kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.coordinate_change_data(paths=long_dw_paths, **kwargs)


def test_coordinate_change_explorer_headless(long_dw_paths):
    box = widgets.coordinate_change_explorer(paths=long_dw_paths)
    fig = box.figure
    box.controls["strength"].value = 0.0
    np.testing.assert_allclose(np.asarray(fig.data[0].y), np.asarray(fig.data[0].x))  # identity map
    box.controls["kind"].value = "sinh"
    box.controls["strength"].value = 1.5
    assert box.data.kind == "sinh" and box.data.strength == 1.5
    np.testing.assert_allclose(np.asarray(fig.data[1].y), box.data.drift_z)
    assert "sinh warp of strength 1.5" in fig.layout.title.text
    widgets.update_coordinate_change_figure(fig, box.data)
    with pytest.raises(ValueError, match="6 traces"):
        widgets.update_coordinate_change_figure(widgets.landscape_figure(
            widgets.landscape_data(double_well(), n_paths=2, n_show=1, t_max=0.1)), box.data)


class _FakeResult:
    """Stands in for a provisional CoarseGrainResult: latents and an exact estimator."""

    def __init__(self, latents):
        self.latents = latents

    def coefficients(self, grid):
        sde = double_well()
        return sde.drift(grid), sde.diffusion(grid)


def test_latent_recorder_and_figure():
    x = torch.linspace(-1.5, 1.5, 5000).reshape(5, 1000, 1)
    rec = widgets.LatentRecorder(x, max_points=500, grid_size=20)
    rec(0, _FakeResult(2 * x + 1))
    rec(10, _FakeResult(-x))
    assert [s["step"] for s in rec.snapshots] == [0, 10]
    s = rec.snapshots[0]
    assert s["x"].size == 500 and s["z"].size == 500
    np.testing.assert_allclose(s["z"], 2 * s["x"] + 1, rtol=1e-6)
    np.testing.assert_allclose(s["drift"], double_well().drift(torch.as_tensor(s["grid"])[:, None])[:, 0].numpy(),
                               rtol=1e-5, atol=1e-5)
    fig = widgets.latent_training_figure(rec)
    assert len(fig.data) == 2 * 3 and [st.label for st in fig.layout.sliders[0].steps] == ["0", "10"]
    with pytest.raises(ValueError, match="true_x holds 5000 states but the result has 10"):
        rec(20, _FakeResult(torch.zeros(10, 1)))
    with pytest.raises(ValueError, match="holds no snapshots"):
        widgets.latent_training_figure(widgets.LatentRecorder(x))


# ---------------------------------------------------------------------------------------------
# notebook 06: discovery
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def noisy_coefficients():
    gen = torch.Generator().manual_seed(0)
    x = torch.linspace(-1.5, 1.5, 80)[:, None]
    sde = double_well()
    f = sde.drift(x) + 0.3 * torch.randn(80, 1, generator=gen)
    g = sde.diffusion(x) + 0.02 * torch.randn(80, 1, generator=gen)
    return x, f, g


def test_discovery_data_recovers_reference_terms(noisy_coefficients):
    x, f, g = noisy_coefficients
    d = widgets.discovery_data(x, f, g, threshold=0.1, drift_degree=5, diffusion_degree=4)
    c = d.model.coefficients()
    assert set(c["f"]) == {"x", "x^3"} and set(c["g2"]) == {"1", "x^2"}
    assert c["f"]["x"] == pytest.approx(4.0, rel=0.05) and c["f"]["x^3"] == pytest.approx(-4.0, rel=0.05)
    assert c["g2"]["1"] == pytest.approx(4.0, rel=0.03) and c["g2"]["x^2"] == pytest.approx(-1.25, rel=0.05)
    assert d.n_terms == 4 and "x^3" in d.equation
    np.testing.assert_allclose(d.drift_fit, np.asarray(d.model.drift(x.double().numpy()))[:, 0])


def test_discovery_threshold_controls_sparsity(noisy_coefficients):
    x, f, g = noisy_coefficients
    terms = [widgets.discovery_data(x, f, g, threshold=t, drift_degree=5, diffusion_degree=4).n_terms
             for t in (0.0, 0.01, 0.1, 0.5)]
    assert terms == sorted(terms, reverse=True) and terms[0] == 6 + 5 and terms[-1] < 4


def test_discovery_bad_input(noisy_coefficients):
    x, f, g = noisy_coefficients
    with pytest.raises(ValueError, match="drift and diffusion must have shape"):
        widgets.discovery_data(x, f[:10], g)
    with pytest.raises(ValueError, match="threshold"):
        widgets.discovery_data(x, f, g, threshold=-1.0)
    with pytest.raises(ValueError, match=r"threshold must be finite and >= 0, got nan"):
        widgets.discovery_data(x, f, g, threshold=float("nan"))
    with pytest.raises(ValueError, match="drift_degree must be <= 8"):
        widgets.discovery_data(x, f, g, drift_degree=9)


def test_discovery_explorer_headless(noisy_coefficients):
    x, f, g = noisy_coefficients
    box = widgets.discovery_explorer(x, f, g)
    fig = box.figure
    assert box.data.n_terms == 4
    box.controls["threshold"].value = 1.0
    assert box.data.n_terms < 4 and f"{box.data.n_terms} terms" in box.equation.value
    np.testing.assert_allclose(np.asarray(fig.data[1].y), box.data.drift_fit)
    box.controls["drift_degree"].value = 1
    assert "x^3" not in box.data.equation.splitlines()[0]
    assert box.data.equation.splitlines()[0] in fig.layout.title.text


# ---------------------------------------------------------------------------------------------
# notebook 07: scoring and the race
# ---------------------------------------------------------------------------------------------

class _ExactResult:
    """A coarse-graining whose latent is z = 2x + 1 and whose SDE is the truth in z (by Itô)."""

    def __init__(self, paths, time_s=1.0, scale=2.0):
        self.latents = scale * paths + 1
        self.history = [{"step": 1, "time_s": time_s}]
        self.scale = scale

    def drift(self, loc):
        x = (torch.as_tensor(np.asarray(loc)) - 1) / self.scale
        return self.scale * double_well().drift(x)

    def diffusion(self, loc):
        x = (torch.as_tensor(np.asarray(loc)) - 1) / self.scale
        return self.scale * double_well().diffusion(x)


def test_score_coarse_graining_exact_and_wrong(dw_paths):
    exact = score_coarse_graining(_ExactResult(dw_paths), dw_paths, double_well())
    assert exact["r2"] > 0.9999 and exact["drift_rel"] < 0.02 and exact["diffusion_rel"] < 0.02
    assert exact["time_s"] == 1.0 and exact["grid"].shape == exact["drift"].shape == (80,)
    wrong = _ExactResult(dw_paths)
    wrong.diffusion = lambda loc: 6 * torch.ones(len(loc), 1)  # constant noise g_x = 3: wrong
    assert score_coarse_graining(wrong, dw_paths, double_well())["diffusion_rel"] > 0.2
    with pytest.raises(ValueError, match="paths hold"):
        score_coarse_graining(_ExactResult(dw_paths[:2]), dw_paths, double_well())


def test_accuracy_recorder_and_figures(dw_paths):
    rec_a, rec_b = widgets.AccuracyRecorder(dw_paths, double_well()), widgets.AccuracyRecorder(dw_paths, double_well())
    rec_a(0, _ExactResult(dw_paths, time_s=0.5))
    rec_a(10, _ExactResult(dw_paths, time_s=2.0))
    bad = _ExactResult(dw_paths, time_s=1.0)
    bad.latents = torch.full_like(bad.latents, float("nan"))
    rec_b(0, bad)
    assert [r["step"] for r in rec_a.records] == [0, 10] and np.isnan(rec_b.records[0]["drift_rel"])
    fig = widgets.accuracy_vs_time_figure({"a": rec_a, "b": rec_b})
    assert len(fig.data) == 4 and list(fig.data[0].x) == [0.5, 2.0]
    race = widgets.race_figure({"a": rec_a, "b": rec_b}, double_well(), 1.0)
    assert [t.name for t in race.data] == ["truth", "truth", "a", "a", "b", "b"]
    assert len(race.data[2].y) == 80 and len(race.data[4].y) == 0  # b never produced a usable record
    assert len(widgets.race_figure({"a": rec_a}, double_well(), 0.1).data[2].y) == 0  # a not started yet
    box = widgets.race_explorer({"a": rec_a, "b": rec_b}, double_well())
    box.controls["time"].value = 2.0
    np.testing.assert_allclose(np.asarray(box.figure.data[2].y), rec_a.records[1]["drift"])
    assert "after 2 s" in box.figure.layout.title.text
    with pytest.raises(ValueError, match="holds no records"):
        widgets.accuracy_vs_time_figure({"c": widgets.AccuracyRecorder(dw_paths, double_well())})
