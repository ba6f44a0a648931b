"""Notebook 10's widget (fimcg.widgets.identifiability): the latent-step likelihood of a distorted
coordinate moves by the change of variables while the frame likelihood stays put; the identity is
its own reference; bad input raises; the figures, the static slider and the explorer driven headlessly."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import fimcg
from fimcg import widgets

torch.set_num_threads(1)
DT = 0.01


@pytest.fixture(scope="module")
def fim():
    return fimcg.load_fim()


@pytest.fixture(scope="module")
def recording():
    """Chapter 5's data, smaller: 10 paths of 400 frames of the reference particle, 24x24 pixels."""
    x0 = torch.tensor([-1.0, 1.0]).repeat(5)[:, None]
    paths = fimcg.simulate(fimcg.systems.double_well(), x0, dt=DT, n_steps=399, substeps=5, seed=0)
    frames = fimcg.render_video(paths, size=24, blob_width=1.5, noise=0.0, seed=0)
    return paths, frames


@pytest.fixture(scope="module")
def pca(recording):
    return widgets.frame_features(recording[1], n_components=12)[0]


@pytest.fixture(scope="module")
def reference(recording, pca, fim):
    paths, frames = recording
    return widgets.identifiability_data(paths, frames, DT, strength=0.0, estimator=fim, pca=pca)


@pytest.fixture(scope="module")
def sticky(recording, pca, fim, reference):
    paths, frames = recording
    return widgets.identifiability_data(paths, frames, DT, kind="tanh", strength=1.0, estimator=fim, pca=pca,
                                        reference=reference)


def test_frame_features_shapes(recording, pca):
    feats = widgets.frame_features(recording[1], n_components=12)[1]
    assert feats.shape == (10, 400, 12) and pca.n_components == 12
    with pytest.raises(ValueError, match=r"frames must have shape \(n_paths, T, H, W\)"):
        widgets.frame_features(recording[1][0])


def test_identity_is_its_own_reference_for_every_kind(recording, pca, fim, reference):
    paths, frames = recording
    assert reference.latent_shift == reference.frame_shift == 0.0
    assert reference.exact_latent_shift == reference.exact_frame_shift == reference.log_jacobian == 0.0
    np.testing.assert_allclose(reference.z_of_x, reference.identity_of_x, atol=1e-12)
    np.testing.assert_allclose(reference.diffusion, reference.reference_diffusion)
    for kind in ("sinh", "cubic"):
        other = widgets.identifiability_data(paths, frames, DT, kind=kind, strength=0.0, estimator=fim, pca=pca)
        assert (other.latent_nll, other.frame_nll) == (reference.latent_nll, reference.frame_nll)
        assert other.reference_nll == reference.reference_nll
    # the exact SDE in the undistorted coordinate is the true SDE: its latent NLL is close to the FIM's
    assert abs(reference.exact_latent_nll - reference.latent_nll) < 0.1
    assert reference.settings["transitions"] == 10 * 399 and reference.x.shape == (widgets.identifiability.GRID_SIZE,)


def test_a_sticky_latent_lowers_the_latent_nll_but_not_the_frame_nll(sticky, reference):
    assert sticky.reference_nll == (reference.latent_nll, reference.frame_nll, reference.exact_latent_nll,
                                    reference.exact_frame_nll)
    assert sticky.log_jacobian < -0.3  # tanh is flat in the wells: E log|dz/dx̃| < 0
    assert sticky.latent_shift < -0.2 and sticky.exact_latent_shift < -0.2
    # the change of variables predicts the exact latent shift
    assert abs(sticky.exact_latent_shift - sticky.log_jacobian) < 0.15
    # the frame NLL changes far less than the latent NLL, and with the exact SDE hardly at all
    assert abs(sticky.frame_shift) < 0.4 * abs(sticky.latent_shift)
    assert abs(sticky.exact_frame_shift) < 0.05
    # the standardised latent is increasing and flatter than x in the wells
    assert np.all(np.diff(sticky.z_of_x) > 0)
    slope = np.gradient(sticky.z_of_x, sticky.x)
    well, top = np.argmin(np.abs(sticky.x - 1.0)), np.argmin(np.abs(sticky.x))
    assert slope[well] < 0.5 * slope[top]  # 1 - tanh(1)² = 0.42


def test_a_map_steep_in_the_wells_raises_the_latent_nll(recording, pca, fim, reference):
    paths, frames = recording
    d = widgets.identifiability_data(paths, frames, DT, kind="sinh", strength=1.0, estimator=fim, pca=pca,
                                     reference=reference)
    assert d.log_jacobian > 0.05 and d.latent_shift > 0.05
    assert abs(d.frame_shift) < 0.5 * d.latent_shift


def test_reference_computed_when_not_given(recording, pca, fim, sticky):
    paths, frames = recording
    again = widgets.identifiability_data(paths, frames, DT, kind="tanh", strength=1.0, estimator=fim, pca=pca)
    assert again.reference_nll == sticky.reference_nll and again.latent_nll == sticky.latent_nll


@pytest.mark.parametrize("kwargs,match", [
    (dict(kind="spline"), r"unknown kind 'spline'; valid: tanh, sinh, cubic"),
    (dict(strength=-1.0), r"strength must be finite and >= 0, got -1.0"),
    (dict(strength=float("nan")), r"strength must be finite"),
    (dict(strength=40.0), r"numerically flat"),
    (dict(n_knots=2), r"n_knots must be >= 4"),
])
def test_identifiability_data_bad_options(recording, pca, kwargs, match):
    paths, frames = recording
    with pytest.raises(ValueError, match=match):
        widgets.identifiability_data(paths, frames, DT, estimator=lambda *a: None, pca=pca, **kwargs)


def test_identifiability_data_bad_data(recording, pca, sticky):
    paths, frames = recording
    est = lambda *a: None  # never reached
    with pytest.raises(ValueError, match=r"dt must be finite and > 0"):
        widgets.identifiability_data(paths, frames, 0.0, estimator=est, pca=pca)
    with pytest.raises(ValueError, match=r"frames must have shape \(n_paths, T, H, W\) = \(10, 400, H, W\)"):
        widgets.identifiability_data(paths, frames[:, :300], DT, estimator=est, pca=pca)
    with pytest.raises(ValueError, match=r"needs 1-D paths"):
        widgets.identifiability_data(paths.repeat(1, 1, 2), frames, DT, estimator=est, pca=pca)
    with pytest.raises(ValueError, match=r"reference must be the undistorted coordinate \(strength 0\)"):
        widgets.identifiability_data(paths, frames, DT, estimator=est, pca=pca, reference=sticky)
    with pytest.raises(ValueError, match=r"reference was computed on other data"):
        widgets.identifiability_data(paths[:, :300], frames[:, :300], DT, estimator=est, pca=pca,
                                     reference=widgets.identifiability_data(paths, frames, DT, strength=0.0,
                                                                            estimator=sticky_estimator(), pca=pca))


def sticky_estimator():
    """A cheap stand-in estimator: the true SDE at every location (no FIM)."""
    sde = fimcg.systems.double_well()
    return lambda paths, dt, loc: (sde.drift(loc), sde.diffusion(loc).clamp_min(0.1))


def test_identifiability_figure_update_and_sliders(sticky, reference):
    fig = widgets.identifiability_figure(sticky)
    assert [t.type for t in fig.data] == ["scatter"] * 4 + ["bar", "bar", "scatter"]
    np.testing.assert_allclose(fig.data[1].y, sticky.z_of_x)
    np.testing.assert_allclose(fig.data[3].y, sticky.diffusion)
    np.testing.assert_allclose(fig.data[4].y, [sticky.latent_shift, sticky.frame_shift])
    np.testing.assert_allclose(fig.data[5].y, [sticky.exact_latent_shift, sticky.exact_frame_shift])
    assert list(fig.data[4].x) == list(widgets.identifiability.LIKELIHOODS)
    assert "tanh map of strength 1" in fig.layout.title.text

    widgets.update_identifiability_figure(fig, reference)
    np.testing.assert_allclose(fig.data[1].y, reference.z_of_x)
    np.testing.assert_allclose(fig.data[4].y, [0.0, 0.0])
    assert "strength 0" in fig.layout.title.text
    with pytest.raises(ValueError, match="identifiability_figure"):
        widgets.update_identifiability_figure(go.Figure([go.Scatter()]), sticky)

    slider = widgets.identifiability_slider_figure([reference, sticky], ["0", "1"], slider_title="a = ")
    assert len(slider.data) == 2 * 7
    assert [bool(t.visible) for t in slider.data] == [True] * 7 + [False] * 7

    sweep = widgets.identifiability_sweep_figure([sticky, reference])
    assert [t.name for t in sweep.data][:2] == ["latent steps, FIM", "frames, FIM"] and len(sweep.data) == 5
    assert list(sweep.data[0].x) == [0.0, 1.0]
    np.testing.assert_allclose(sweep.data[0].y, [0.0, sticky.latent_shift])
    np.testing.assert_allclose(sweep.data[4].y, [0.0, sticky.log_jacobian])


def test_sweep_figure_needs_one_kind(sticky, recording, pca):
    paths, frames = recording
    other = widgets.identifiability_data(paths, frames, DT, kind="cubic", strength=0.5, estimator=sticky_estimator(),
                                         pca=pca)
    with pytest.raises(ValueError, match="one kind of map"):
        widgets.identifiability_sweep_figure([sticky, other])
    with pytest.raises(ValueError, match="non-empty"):
        widgets.identifiability_sweep_figure([])


def test_identifiability_explorer_headless(recording, fim):
    paths, frames = recording
    box = widgets.identifiability_explorer(paths[:6, :200], frames[:6, :200], DT, estimator=fim, n_components=8)
    fig = box.figure
    assert set(box.controls) == {"kind", "strength"} and box.data.strength == 1.0
    before_z, before_bars = np.asarray(fig.data[1].y).copy(), np.asarray(fig.data[4].y).copy()
    box.controls["strength"].value = 2.0
    assert box.data.strength == 2.0 and "strength 2" in fig.layout.title.text
    assert not np.allclose(np.asarray(fig.data[1].y), before_z)
    assert not np.allclose(np.asarray(fig.data[4].y), before_bars)
    np.testing.assert_allclose(np.asarray(fig.data[4].y), [box.data.latent_shift, box.data.frame_shift])
    box.controls["kind"].value = "sinh"
    assert box.data.kind == "sinh" and box.data.latent_shift > 0 and "sinh" in fig.layout.title.text
    box.controls["strength"].value = 0.0
    np.testing.assert_allclose(np.asarray(fig.data[4].y), [0.0, 0.0], atol=1e-12)
