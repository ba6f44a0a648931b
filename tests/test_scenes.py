"""Scenes: objects drawn where their processes put them, every hidden state returned, bad input named."""

from __future__ import annotations

import math

import pytest
import torch

from fimcg.analysis.markov import autocorrelation
from fimcg.video import SCENES, Blob, Occluder, frame_centroids, make_scene, ou_process, render_blobs


def test_a_blob_is_drawn_where_its_position_says():
    pos = torch.tensor([[[10.0, 20.0], [5.5, 7.25]]])  # (1 path, 2 frames, (column, row))
    frames = render_blobs([Blob(pos, width=1.0)], size=32)
    assert frames.shape == (1, 2, 32, 32) and float(frames.max()) == pytest.approx(1.0, abs=0.02)
    torch.testing.assert_close(frame_centroids(frames, threshold=0.01)[0], pos[0], atol=0.05, rtol=0)


def test_elongated_turning_blob_shape_and_global_effects():
    pos = torch.full((1, 2, 2), 15.5)
    blob = Blob(pos, width=1.0, elongation=3.0, angle=torch.tensor([[0.0, math.pi / 2]]))
    f = render_blobs([blob], size=32)[0]
    # along the axis the spot is 3x wider: at angle 0 it spreads along the columns, at pi/2 along the rows
    assert float(f[0, 15, 20]) > 0.2 > float(f[0, 20, 15]) and float(f[1, 20, 15]) > 0.2 > float(f[1, 15, 20])
    gained = render_blobs([blob], size=32, gain=0.5, background=0.1)[0]
    torch.testing.assert_close(gained, (0.5 * (f + 0.1)).clamp(0, 1))
    shifted = render_blobs([blob], size=32, shift=torch.tensor([[[3.0, 0.0], [3.0, 0.0]]]))[0]
    torch.testing.assert_close(shifted[:, :, 3:], f[:, :, :-3], atol=1e-5, rtol=0)
    occ = render_blobs([blob], size=32, occluders=[Occluder(0, 16, 0, 32, level=0.3)])[0]
    assert bool((occ[:, :, :16] == 0.3).all()) and torch.equal(occ[:, :, 16:], f[:, :, 16:])


def test_ou_process_has_its_stationary_law_and_correlation_time():
    gen = torch.Generator().manual_seed(0)
    x = ou_process(400, 400, rate=5.0, std=2.0, dt=0.01, mean=3.0, generator=gen)
    assert float(x.mean()) == pytest.approx(3.0, abs=0.05) and float(x.std()) == pytest.approx(2.0, rel=0.03)
    lag = 20  # correlation exp(-rate * lag * dt) = e^-1
    xc = x - 3.0
    corr = float((xc[:, lag:] * xc[:, :-lag]).mean() / (xc ** 2).mean())
    assert corr == pytest.approx(math.exp(-1), abs=0.03)


@pytest.mark.parametrize("name", sorted(SCENES))
def test_every_scene_returns_frames_and_its_hidden_states(name):
    scene = make_scene(name, n_paths=3, n_frames=60, size=24, seed=1)
    assert scene.frames.shape == (3, 60, 24, 24) and scene.frames.dtype == torch.float32
    assert 0 <= float(scene.frames.min()) and float(scene.frames.max()) <= 1
    assert scene.description and scene.dt == 0.01
    for key, value in scene.states.items():
        assert value.shape[:2] == (3, 60), key
    if name in ("fast_only", "noise_only"):
        assert scene.signal is None and scene.sde is None
    else:
        assert scene.signal.shape == (3, 60, 1) and torch.equal(scene.states["signal"], scene.signal)
        assert scene.sde.name == "double_well"
    again = make_scene(name, n_paths=3, n_frames=60, size=24, seed=1)
    assert torch.equal(again.frames, scene.frames)  # the seed fixes everything
    assert not torch.equal(make_scene(name, n_paths=3, n_frames=60, size=24, seed=2).frames, scene.frames)


def test_the_signal_moves_the_particle_and_the_distractor_does_not_follow_it():
    scene = make_scene("distractor", n_paths=4, n_frames=300, size=32, seed=0)
    sig, dis = scene.signal[..., 0].reshape(-1), scene.states["distractor"][..., 0].reshape(-1)
    assert abs(float(torch.corrcoef(torch.stack([sig, dis]))[0, 1])) < 0.2
    # the distractor is fast: its lag-10 autocorrelation (0.1 time units) is small, the signal's large
    def lag_corr(v, k):
        v = v - v.mean()
        return float((v[:, k:] * v[:, :-k]).mean() / (v ** 2).mean())
    assert lag_corr(scene.states["distractor"][..., 0], 10) < 0.3 < 0.8 < lag_corr(scene.signal[..., 0], 10)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown scene 'nope'; valid: reference"):
        make_scene("nope")
    pos = torch.zeros(1, 3, 2)
    with pytest.raises(ValueError, match=r"Blob.position must have shape \(n_paths, T, 2\)"):
        render_blobs([Blob(torch.zeros(3, 2))])
    with pytest.raises(ValueError, match="blob 1 has positions of shape"):
        render_blobs([Blob(pos), Blob(torch.zeros(1, 4, 2))])
    with pytest.raises(ValueError, match=r"gain must be a number or have one value per frame \(3\)"):
        render_blobs([Blob(pos)], gain=torch.ones(5))
    with pytest.raises(ValueError, match="shift must have shape"):
        render_blobs([Blob(pos)], shift=torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="noise must be finite and >= 0"):
        render_blobs([Blob(pos)], noise=-0.1)
    with pytest.raises(ValueError, match="brightness must be"):
        render_blobs([Blob(pos, brightness=0.0)])
    with pytest.raises(ValueError, match="at least one Blob"):
        render_blobs([])
    with pytest.raises(ValueError, match="slow signal must be 1-D"):
        from fimcg.sde import systems
        make_scene("reference", sde=systems.double_well_2d())


def test_the_distractor_scene_takes_its_rate_and_brightness():
    default = make_scene("distractor", n_paths=2, n_frames=200, size=16, seed=3)
    same = make_scene("distractor", n_paths=2, n_frames=200, size=16, seed=3, rate=20.0, brightness=1.0)
    assert torch.equal(default.frames, same.frames)
    slow = make_scene("distractor", n_paths=2, n_frames=200, size=16, seed=3, rate=2.0)
    d_fast, d_slow = default.states["distractor"][..., 0], slow.states["distractor"][..., 0]
    # OU autocorrelation at 5 frames: exp(-2 * 0.05) = 0.90 against exp(-20 * 0.05) = 0.37
    assert autocorrelation(d_slow, 5) > 0.8 and autocorrelation(d_fast, 5) < 0.5
    hidden = make_scene("distractor", n_paths=2, n_frames=200, size=16, seed=3, brightness=0.0, noise=0.0)
    alone = make_scene("reference", n_paths=2, n_frames=200, size=16, seed=3, noise=0.0)
    assert torch.allclose(hidden.frames / hidden.frames.max(), alone.frames / alone.frames.max(), atol=1e-5)
    assert "correlation time 0.5" in slow.description
    with pytest.raises(ValueError, match="scene 'distractor' has no option 'speed'; its options: rate, brightness"):
        make_scene("distractor", n_paths=2, n_frames=20, speed=2.0)
    with pytest.raises(ValueError, match="scene 'reference' has no option 'rate'; its options: none"):
        make_scene("reference", n_paths=2, n_frames=20, rate=2.0)
    with pytest.raises(ValueError, match="rate must be"):
        make_scene("distractor", n_paths=2, n_frames=20, rate=0.0)
    with pytest.raises(ValueError, match="brightness must be a finite number >= 0"):
        make_scene("distractor", n_paths=2, n_frames=20, brightness=-1.0)
