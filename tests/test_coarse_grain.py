"""coarse_grain: learning a latent from video around a frozen, differentiable estimator.

The tests use the classic local-linear estimator (same call shape as the FIM, differentiable in the
paths) so they do not depend on the FIM's training state; a test at the end checks the FIM wiring.
"""

import copy
import math
import warnings

import numpy as np
import pytest
import torch

import fimcg
from fimcg.analysis.alignment import fit_alignment
from fimcg.coarse_graining.trainer import CheckpointMismatch, TrainingDiverged
from fimcg.coarse_graining.result import CoarseGrainResult
from fimcg.coarse_graining.losses import latent_nll
from fimcg.coarse_graining.decoupled import coarse_grain
from fimcg.coarse_graining.options import InitConfig, LikelihoodConfig, LossWeights
from fimcg.coarse_graining.slow import NoSlowVariableWarning
from fimcg.estimators.classic import local_linear
from fimcg.sde.systems import double_well
from fimcg.video import render_video

torch.set_num_threads(1)

FAST = dict(estimator=local_linear, progress=False, init=InitConfig(steps=200, points=400),
            likelihood=LikelihoodConfig(n_queries=64))


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(8, 1, generator=gen) * 3 - 1.5
    x = fimcg.simulate(double_well(), x0, dt=0.002, n_steps=99 * 5, seed=1)[:, ::5]  # (8, 100, 1), dt 0.01
    frames = render_video(x, size=16)
    return x, frames


@pytest.fixture(scope="module")
def fitted(data):
    x, frames = data
    return coarse_grain(frames, 0.01, steps=3, **FAST)


def test_result_interface(data, fitted):
    x, frames = data
    res = fitted
    assert isinstance(res, CoarseGrainResult)
    assert res.latents.shape == (8, 100, 1)
    # the anchoring: standardised latent
    assert float(res.latents.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(res.latents.std()) == pytest.approx(1.0, abs=1e-3)
    torch.testing.assert_close(res.encode(frames), res.latents, atol=1e-4, rtol=0)
    assert res.decode(res.latents[0]).shape == (100, 16, 16)
    loc = torch.linspace(-1, 1, 7)[:, None]
    f, g = res.drift(loc), res.diffusion(loc)
    assert f.shape == (7, 1) and g.shape == (7, 1) and bool((g >= 0).all())
    assert [h["step"] for h in res.history] == [1, 2, 3]
    assert {"loss", "rec", "sim", "time_s"} <= set(res.history[0])
    paths = fimcg.simulate(res.sde(), res.latents[:4, 0], dt=0.01, n_steps=50, seed=0)
    assert paths.shape == (4, 51, 1) and bool(torch.isfinite(paths).all())
    prec = res.precision()
    assert set(prec) == {"noise_std", "g2_inflation", "g2_inflation_rel"}
    assert prec["noise_std"][0] >= 0


def test_latent_is_a_precise_coordinate(data, fitted):
    x, _ = data
    m = fit_alignment(fitted.latents, x)
    assert m.r2 > 0.999
    # the decoder reproduces frames: relative reconstruction error is small
    assert fitted.history[-1]["rec"] < 0.05


def test_accepts_channels_and_other_image_sizes(data):
    x, _ = data
    frames = render_video(x[:, :60], size=12)
    rgb = torch.stack([frames, 0.5 * frames, frames.flip(-1)], dim=2)  # (8, 60, 3, 12, 12)
    res = coarse_grain(rgb.numpy(), 0.01, steps=0, **FAST)
    assert res.latents.shape == (8, 60, 1)
    assert res.decode(res.latents[0, :5]).shape == (5, 3, 12, 12)
    assert fit_alignment(res.latents, x[:, :60]).r2 > 0.99


@pytest.mark.parametrize("space", ["frames", "latent"])
def test_gradient_flows_through_the_estimator_into_the_encoder(data, space):
    from fimcg.coarse_graining.losses import frame_nll

    _, frames = data
    res = coarse_grain(frames, 0.01, steps=0, **FAST)
    enc = res.encoder
    enc.train()
    feats = enc.pca(frames.reshape(-1, 16, 16)).detach()
    z = enc.from_features(feats).reshape(8, 100, 1)
    calls = []

    def spy(paths, dt, loc):
        calls.append(paths.requires_grad)
        return local_linear(paths, dt, loc)
    gen = torch.Generator().manual_seed(0)
    if space == "frames":
        nll = frame_nll(z, feats, 0.01, spy, res.decoder, gen, 64, 12000)
    else:
        nll = latent_nll(z, 0.01, spy, gen, 64, 12000)
    nll.backward()
    assert calls == [True]  # the estimator saw the latent paths with their graph
    grads = [p.grad for p in enc.net.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0


def test_frame_likelihood_is_invariant_to_rescaling_the_latent(data):
    """The frame-space likelihood does not change when latent, decoder and SDE are rescaled together."""
    from fimcg.coarse_graining.losses import frame_nll

    _, frames = data
    res = coarse_grain(frames, 0.01, steps=0, **FAST)
    feats = res.encoder.pca(frames.reshape(-1, 16, 16))
    z = res.encode(frames)
    est = lambda p, dt, loc: local_linear(p, dt, loc, bandwidth=0.3)  # noqa: E731
    base = frame_nll(z, feats, 0.01, est, res.decoder, torch.Generator().manual_seed(0), 128, 12000)
    c = 3.0
    scaled_dec = copy.deepcopy(res.decoder)
    with torch.no_grad():  # D'(z') = D(z' / c): stretch the spline's knot range
        scaled_dec.lo *= c
        scaled_dec.hi *= c
    est_c = lambda p, dt, loc: local_linear(p, dt, loc, bandwidth=0.3 * c)  # noqa: E731
    scaled = frame_nll(c * z, feats, 0.01, est_c, scaled_dec, torch.Generator().manual_seed(0), 128, 12000,
                             h=1e-2 * c)
    assert float(scaled) == pytest.approx(float(base), abs=1e-3)
    # the naive latent likelihood is not invariant: it drops by log(c) per transition
    naive = latent_nll(z, 0.01, est, torch.Generator().manual_seed(0), 128, 12000)
    naive_c = latent_nll(c * z, 0.01, est_c, torch.Generator().manual_seed(0), 128, 12000)
    assert float(naive_c) - float(naive) == pytest.approx(np.log(c), abs=1e-3)


def test_checkpoint_and_resume(data, tmp_path):
    _, frames = data
    ckpt = tmp_path / "cg.safetensors"
    first = coarse_grain(frames, 0.01, steps=4, checkpoint=ckpt, checkpoint_every=2, **FAST)
    assert ckpt.is_file()
    calls = []

    def counting(paths, dt, loc):
        calls.append(1)
        return local_linear(paths, dt, loc)
    counting.__name__ = local_linear.__name__  # the estimator's name is part of the run's options
    opts = dict(FAST, estimator=counting)
    # same data and options, more steps: continues from step 4 (only 2 new estimator calls)
    resumed = coarse_grain(frames, 0.01, steps=6, checkpoint=ckpt, **opts)
    assert len(calls) == 2
    assert [h["step"] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    assert resumed.history[:4] == first.history
    # a finished checkpoint with the same step count reproduces the result without training
    calls.clear()
    again = coarse_grain(frames, 0.01, steps=6, checkpoint=ckpt, **opts)
    assert calls == []
    torch.testing.assert_close(again.latents, resumed.latents)
    # other data: refuse rather than silently mixing runs
    with pytest.raises(CheckpointMismatch, match="belongs to other data or options"):
        coarse_grain(frames[:, :50], 0.01, steps=6, checkpoint=ckpt, **FAST)


def test_save_and_load(fitted, data, tmp_path):
    _, frames = data
    path = fitted.save(tmp_path / "result.safetensors")
    back = CoarseGrainResult.load(path, estimator=local_linear)
    torch.testing.assert_close(back.encode(frames[:2]), fitted.encode(frames[:2]))
    loc = torch.linspace(-1, 1, 5)[:, None]
    torch.testing.assert_close(back.drift(loc), fitted.drift(loc))
    assert back.history == fitted.history
    no_est = CoarseGrainResult.load(path, estimator=None)
    with pytest.raises(RuntimeError, match="no estimator attached"):
        no_est.drift(loc)
    with pytest.raises(RuntimeError, match="not a saved CoarseGrainResult"):
        CoarseGrainResult.from_state({"format": "other"})


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data, tmp_path):
    _, frames = data
    ckpt = tmp_path / "nan.safetensors"
    state = {"n": 0}

    def breaks_at_third_call(paths, dt, loc):
        state["n"] += 1
        f, g = local_linear(paths, dt, loc)
        return (f * float("nan"), g) if state["n"] >= 3 else (f, g)
    breaks_at_third_call.__name__ = "local_linear"
    with pytest.raises(TrainingDiverged, match=r"step 3 .*last good checkpoint \(step 2\)"):
        coarse_grain(frames, 0.01, steps=5, checkpoint=ckpt, checkpoint_every=1,
                     **dict(FAST, estimator=breaks_at_third_call))
    blob = fimcg.io.checkpoint.load_checkpoint(ckpt)
    assert blob["step"] == 2 and len(blob["history"]) == 2
    assert all(math.isfinite(h["loss"]) for h in blob["history"])


def test_bad_input(data):
    x, frames = data
    bad = frames.clone()
    bad[1, 5, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="frames contains 1 NaN/inf"):
        coarse_grain(bad, 0.01, **FAST)
    bad[1, 5, 3, 3] = float("inf")
    with pytest.raises(ValueError, match="NaN/inf"):
        coarse_grain(bad, 0.01, **FAST)
    with pytest.raises(ValueError, match=r"must have shape \(n_paths, T, H, W\)"):
        coarse_grain(frames[0], 0.01, **FAST)
    with pytest.raises(ValueError, match="T=5 frames per path; at least 10"):
        coarse_grain(frames[:, :5], 0.01, **FAST)
    with pytest.raises(ValueError, match="transitions"):
        coarse_grain(frames[:2, :20], 0.01, **FAST)
    with pytest.raises(ValueError, match="constant: no pixel changes"):
        coarse_grain(frames[:, :1].expand(-1, 50, -1, -1), 0.01, **FAST)
    for dt in (0.0, -0.01, float("nan")):
        with pytest.raises(ValueError, match="dt must be finite and > 0"):
            coarse_grain(frames, dt, **FAST)
    with pytest.raises(ValueError, match=r"latent_dim=4 is larger than .* supports \(d <= 3\)"):
        coarse_grain(frames, 0.01, latent_dim=4, **FAST)
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        coarse_grain(frames, 0.01, latent_dim=0, **FAST)
    with pytest.raises(ValueError, match="LikelihoodConfig.space must be one of frames, latent, got 'pixels'"):
        LikelihoodConfig(space="pixels")
    with pytest.raises(ValueError, match="LossWeights.likelihood must be a finite number >= 0"):
        LossWeights(likelihood=-1.0)
    with pytest.raises(ValueError, match="InitConfig.steps must be >= 0"):
        InitConfig(steps=-1)
    with pytest.raises(TypeError, match="likelihood must be of type LikelihoodConfig, got dict"):
        coarse_grain(frames, 0.01, **dict(FAST, likelihood={"n_queries": 5}))
    with pytest.raises(ValueError, match="coarse_grain needs InitConfig\\(method='isomap'\\) or method='slow'"):
        coarse_grain(frames, 0.01, **dict(FAST, init=InitConfig(method="random")))
    with pytest.raises(TypeError, match="estimator must be a FIM or a callable"):
        coarse_grain(frames, 0.01, **dict(FAST, estimator="kramers"))


def test_latent_dim_limited_by_fim_weights(data):
    _, frames = data
    fim = fimcg.fim.FIM(fimcg.fim.FIMConfig())  # untrained; config trained_dims = (1,)
    with pytest.raises(ValueError, match=r"latent_dim=2: the estimator FIM was trained for d in \(1,\)"):
        coarse_grain(frames, 0.01, latent_dim=2, estimator=fim, progress=False)
    with pytest.raises(ValueError, match=r"d <= 3"):
        coarse_grain(frames, 0.01, latent_dim=4, estimator=fim, progress=False)


def test_runs_with_a_fim_estimator(data):
    x, frames = data
    fim = fimcg.fim.FIM(fimcg.fim.FIMConfig()).eval()  # untrained weights: only the wiring is tested
    fim.requires_grad_(False)
    res = coarse_grain(frames, 0.01, estimator=fim, steps=2, progress=False, init=InitConfig(steps=100, points=300),
                       likelihood=LikelihoodConfig(n_queries=32))
    assert res.config["estimator"] == "FIM"
    assert len(res.history) == 2 and all(np.isfinite(h["loss"]) for h in res.history)
    f, g = res.coefficients(torch.zeros(3, 1))
    assert f.shape == (3, 1) and bool(torch.isfinite(g).all())


def test_run_pipeline_end_to_end(data):
    from fimcg.app.pipeline import run_pipeline

    x, _ = data
    out = run_pipeline(x, 0.01, double_well(), size=16, estimator=local_linear, steps=2, progress=False)
    n = out["numbers"]
    assert n["n_frames"] == 800 and n["estimator"] == "local_linear"
    assert n["latent_r2"] > 0.999
    assert np.isfinite(n["drift_rel_rmse"]) and np.isfinite(n["diffusion_rel_rmse"])
    assert n["equation_latent"].startswith("f(z) = ") and "g(z)^2 = " in n["equation_latent"]
    assert n["equation_x"].startswith("f(x) = ")
    assert "validation" in n
    # the discovered latent equation is simulate-able
    paths = fimcg.simulate(out["equation_latent"].sde(), torch.zeros(3, 1), dt=0.01, n_steps=20, seed=0,
                           on_divergence="nan")
    assert paths.shape == (3, 21, 1)


def test_precision_detects_latent_noise(fitted):
    """White noise of std s on the latent is read off the increments' lag-1 covariance."""
    x = fimcg.simulate(double_well(), torch.linspace(-1.5, 1.5, 40)[:, None], dt=0.002, n_steps=500 * 5,
                       seed=5)[:, ::5]  # (40, 501, 1) at dt = 0.01
    gen = torch.Generator().manual_seed(6)
    for s in (0.0, 0.05):
        noisy = x + s * torch.randn(x.shape, generator=gen)
        res = CoarseGrainResult(fitted.encoder, fitted.decoder, 0.01, noisy, [], {}, local_linear)
        p = res.precision()
        if s == 0:
            assert p["noise_std"][0] < 0.02  # only the O(dt) correlation of the diffusion itself
        else:
            assert p["noise_std"][0] == pytest.approx(s, rel=0.25)
            assert p["g2_inflation"][0] == pytest.approx(2 * s ** 2 / 0.01, rel=0.5)


def test_run_pipeline_replaces_a_checkpoint_of_other_data(data, tmp_path):
    from fimcg.app.pipeline import run_pipeline

    x, _ = data
    ckpt = tmp_path / "pipe.safetensors"
    opts = dict(size=16, estimator=local_linear, steps=1, progress=False, checkpoint=ckpt)
    run_pipeline(x, 0.01, double_well(), **opts)
    out = run_pipeline(x[:, :60], 0.01, double_well(), **opts)  # other data, same checkpoint file
    assert out["numbers"]["frames_per_path"] == 60


@pytest.mark.slow
def test_the_slow_initialisation_finds_the_particle_that_geometry_misses():
    """A brighter, larger, fast distractor owns the frames' geometry; the frozen FIM, judging
    candidate coordinates by how well their SDE predicts their future, prefers a slow one."""
    from fimcg.video import make_scene

    scene = make_scene("distractor", n_paths=12, n_frames=500, size=24, seed=2)
    fim = fimcg.load_fim()
    r2 = {}
    with pytest.warns(NoSlowVariableWarning, match="the geometric coordinate .* is not slow"):
        res = coarse_grain(scene.frames, scene.dt, estimator=fim, steps=0, progress=False)
    r2["isomap"] = fit_alignment(res.latents, scene.signal).r2
    assert res.config["init"]["per_lag"][-1] < 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoSlowVariableWarning)  # the slow candidate is found: no warning
        res = coarse_grain(scene.frames, scene.dt, estimator=fim, steps=0, init=InitConfig(method="slow"),
                           progress=False)
    r2["slow"] = fit_alignment(res.latents, scene.signal).r2
    assert r2["isomap"] < 0.2 and r2["slow"] > 0.8
    init = res.config["init"]
    rows = init["candidates"]
    assert init["chosen"] == rows[0]["name"] and init["chosen"].startswith("predictive")
    assert init["held_out"] == "paths" and init["judge"] == "estimator"
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    base = {"PCA/Isomap", "TICA 1", "slow Isomap 2", "slow Isomap 3", "slow Isomap 4", "predictive 5", "predictive 20"}
    smoothed = {r["name"] for r in rows} - base
    # the first round's winner, averaged over time (InitConfig().smoothing_windows), is judged too
    (winner,) = {name.split(" (smoothed")[0] for name in smoothed}
    assert winner in base and smoothed == {f"{winner} (smoothed {k})" for k in InitConfig().smoothing_windows}
    assert all(math.isfinite(r["score"]) for r in rows if r["name"] in smoothed)
    # the same candidates ranked by slowness alone (the ablation): the most autocorrelated one starts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoSlowVariableWarning)
        by_ac = coarse_grain(scene.frames, scene.dt, estimator=fim, steps=0, progress=False,
                             init=InitConfig(method="slow", judge="slowness"))
    acs = {r["name"]: r["autocorrelation"] for r in by_ac.config["init"]["candidates"]}
    assert by_ac.config["init"]["judge"] == "slowness" and by_ac.config["init"]["chosen"] == max(acs, key=acs.get)
    # same candidates, same split; the slowness judge does not smooth (an average over time is slower by construction)
    assert acs == {r["name"]: r["autocorrelation"] for r in rows if r["name"] in base}


def test_the_slow_initialisation_needs_held_out_stretches_longer_than_its_lags():
    from fimcg.video import make_scene

    scene = make_scene("reference", n_paths=2, n_frames=60, size=16, seed=0)  # held out: 15 frames per path
    with pytest.raises(ValueError, match="held-out stretches of 15 frames, no longer than the longest judge lag"):
        coarse_grain(scene.frames, scene.dt, steps=0, init=InitConfig(method="slow"), progress=False)


def test_geometry_that_finds_the_slow_variable_gives_no_warning():
    from fimcg.video import make_scene

    scene = make_scene("reference", n_paths=6, n_frames=400, size=16, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoSlowVariableWarning)
        res = coarse_grain(scene.frames, scene.dt, steps=0, progress=False)
        assert res.config["init"]["per_lag"][-1] > 0.2
        short = coarse_grain(scene.frames[:, :199], scene.dt, steps=0, progress=False)  # 199 < 10 x lag 20
        judged = coarse_grain(scene.frames[:, :200], scene.dt, steps=0, progress=False)
    assert "per_lag" not in short.config["init"] and len(judged.config["init"]["per_lag"]) == 3


def test_the_geometric_warning_points_at_the_callers_line():
    from fimcg.video import make_scene

    scene = make_scene("noise_only", n_paths=4, n_frames=200, size=16, seed=0)
    with pytest.warns(NoSlowVariableWarning, match="the geometric coordinate") as caught:
        coarse_grain(scene.frames, scene.dt, steps=0, progress=False)
    assert caught[0].filename == __file__


@pytest.mark.slow
def test_frames_with_nothing_slow_give_a_warning():
    from fimcg.coarse_graining import NoSlowVariableWarning
    from fimcg.video import make_scene

    scene = make_scene("noise_only", n_paths=6, n_frames=300, seed=0)
    with pytest.warns(NoSlowVariableWarning, match="no slow variable found"):
        coarse_grain(scene.frames, scene.dt, steps=0, init=InitConfig(method="slow"), progress=False)
