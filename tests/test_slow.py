"""The slow initialisation's parts (fimcg.coarse_graining.slow): the held-out split, TICA, the predictive
(time-lagged) encoder and the judge, on a small 1-D "video" where a bright fast bump hides a slow one."""

import math

import pytest
import torch

import fimcg
from fimcg.analysis.alignment import fit_alignment
from fimcg.analysis.markov import autocorrelation
from fimcg.coarse_graining.autoencoder import FramePCA, mlp
from fimcg.coarse_graining.options import InitConfig
from fimcg.coarse_graining.slow import (Split, judge_candidates, predictive_encoder, rank_candidates, slow_candidates,
                                        smoothed_candidate, tica, window_mean)
from fimcg.sde import simulate
from fimcg.sde.systems import double_well
from fimcg.video import ou_process


@pytest.fixture(scope="module")
def strip():
    """(features (8, 400, 48), slow state (8, 400)): a dim bump at the slow double-well position and a
    brighter, wider bump moving by a fast OU process, on a strip of 48 pixels."""
    n, T, dt = 8, 400, 0.01
    x0 = torch.tensor([-1.0, 1.0]).repeat(n // 2)[:, None]
    x = simulate(double_well(), x0, dt=dt, n_steps=T - 1, substeps=5, seed=3)[..., 0]
    y = ou_process(n, T, rate=20.0, std=1.0, dt=dt, generator=torch.Generator().manual_seed(4))[..., 0]
    pix = torch.linspace(-2.5, 2.5, 48)
    feats = (0.6 * torch.exp(-0.5 * ((pix - x[..., None]) / 0.4) ** 2)
             + torch.exp(-0.5 * ((pix - y[..., None]) / 0.6) ** 2))
    return feats, x, dt


def r2(z, x) -> float:
    return fit_alignment(z.reshape(-1), x.reshape(-1)).r2


@pytest.mark.parametrize("n", [4, 5, 7, 8, 12, 24])
def test_split_holds_out_whole_paths_of_both_parities(n):
    s = Split(n, 100)
    x = torch.arange(n)[:, None].expand(n, 100)
    fit, out = s.fit(x)[:, 0].tolist(), s.held_out(x)[:, 0].tolist()
    assert s.by_paths and len(out) == max(1, round(n / 4)) and sorted(fit + out) == list(range(n))
    assert not set(fit) & set(out)
    if len(out) > 1:  # paths often start in alternating wells: hold out both kinds
        assert {i % 2 for i in out} == {0, 1}


def test_split_holds_out_path_ends_of_few_paths():
    s = Split(2, 100)
    t = torch.arange(100).expand(2, 100)
    assert not s.by_paths and s.fit(t).shape == (2, 75) and s.held_out(t)[0, 0] == 75


def test_tica_fitted_on_part_applies_to_all(strip):
    feats, x, _ = strip
    comps, lam = tica(feats, lag=5, dim=3, fit_on=feats[:6])
    again, lam6 = tica(feats[:6], lag=5, dim=3)
    assert comps.shape == (8, 400, 3) and torch.allclose(lam, lam6)
    assert torch.allclose(comps[:6].abs(), again.abs(), atol=1e-4)  # same components (up to sign)
    assert (lam[:-1] >= lam[1:]).all()


def test_predictive_encoder_reads_the_slow_bump_from_raw_features(strip):
    feats, x, _ = strip
    split = Split(*feats.shape[:2])
    targets, _ = tica(feats, lag=5, dim=4, fit_on=split.fit(feats))
    z, state = predictive_encoder(feats, targets, split, lag=5, hidden=32, depth=2, steps=400, seed=0)
    assert z.shape == (8, 400)
    flat = feats.reshape(-1, 48)
    pc1 = FramePCA((48,), 1).fit(flat).project(flat)
    assert r2(split.held_out(z), split.held_out(x)) > 0.5 > r2(pc1, x)  # PCA 1 follows the bright bump
    net = mlp(48, 32, 1, depth=2)
    net.load_state_dict(state)  # the standardisation is folded in: the network reads raw features
    assert torch.allclose(net(feats.reshape(-1, 48)).reshape(8, 400), z, atol=1e-5)
    with pytest.raises(ValueError, match="lag=399 frames is too long: the predictive encoder's training and validation"):
        predictive_encoder(feats, targets, split, lag=399, hidden=8, depth=1, steps=1, seed=0)


def test_the_fim_judge_prefers_the_slow_coordinate_and_slowness_ranks_by_autocorrelation(strip):
    feats, x, dt = strip
    found = slow_candidates(feats, lag=5, components=3, seed=0, max_points=400, predictive_lags=(5,),
                            predictive_steps=400, hidden=32)
    assert {"PCA/Isomap", "TICA 1", "slow Isomap 2", "slow Isomap 3", "predictive 5"} == set(found.coordinates)
    assert set(found.networks) == {"predictive 5"}
    held = {k: found.split.held_out(v) for k, v in found.coordinates.items()}
    fim = fimcg.load_fim()
    rows = judge_candidates(held, dt, fim, lags=(1, 5, 20))
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    truth = {k: r2(v, x) for k, v in found.coordinates.items()}
    assert rows[0]["name"] == max(truth, key=truth.get) == "predictive 5"  # the judge ranks like the truth
    assert truth["PCA/Isomap"] < 0.2  # geometry follows the bright bump
    by_ac = judge_candidates(held, dt, fim, lags=(1, 5, 20), by="slowness")
    assert by_ac[0]["name"] == max(held, key=lambda k: autocorrelation(held[k], 20))
    for r in rows:
        ac = autocorrelation(held[r["name"]], 20)
        assert math.isclose(r["autocorrelation"], ac, abs_tol=1e-9)
        assert math.isclose(r["timescale"], -20 / math.log(ac), rel_tol=1e-9) if 0 < ac < 1 else True
    with pytest.raises(ValueError, match="by must be one of estimator, slowness"):
        judge_candidates(held, dt, fim, lags=(1,), by="variance")


def test_init_config_checks_the_slow_options():
    assert InitConfig().predictive_lags == (5, 20) and InitConfig().judge == "estimator"
    assert InitConfig(judge_lags=(20, 1, 5, 5)).judge_lags == (1, 5, 20)  # the last is the longest
    with pytest.raises(ValueError, match="InitConfig.judge must be one of estimator, slowness, got 'fast'"):
        InitConfig(judge="fast")
    with pytest.raises(ValueError, match="InitConfig.predictive_lags"):
        InitConfig(predictive_lags=(0,))
    with pytest.raises(ValueError, match="InitConfig.predictive_steps"):
        InitConfig(predictive_steps=0)
    assert InitConfig(predictive_lags=()).predictive_lags == ()


def test_the_encoder_starts_exactly_on_a_predictive_winner(strip):
    from fimcg.coarse_graining.autoencoder import Encoder, FramePCA, SplineDecoder
    from fimcg.coarse_graining.trainer import initialise_autoencoder

    feats, x, _ = strip
    split = Split(*feats.shape[:2])
    targets, _ = tica(feats, lag=5, dim=4, fit_on=split.fit(feats))
    z, state = predictive_encoder(feats, targets, split, lag=5, hidden=32, depth=2, steps=50, seed=0)
    pca = FramePCA((48,), 48)
    enc, dec = Encoder(pca, 1, hidden=32), SplineDecoder(pca, 1)
    flat = feats.reshape(-1, 48)
    initialise_autoencoder(enc, dec, flat, 1, seed=0, init_steps=5, lr=1e-3, max_points=300,
                           targets=z.reshape(-1, 1), net_state=state)
    with torch.no_grad():
        out = enc.net(flat).reshape(8, 400)
    assert torch.allclose(out, z, atol=1e-5)  # not regressed: the very network


def test_predictive_lags_longer_than_the_held_out_stretch_are_skipped(strip):
    feats, x, _ = strip
    found = slow_candidates(feats[:2, :60], lag=2, components=2, seed=0, max_points=100, predictive_lags=(2, 20),
                            predictive_steps=20, hidden=8)
    assert not found.split.by_paths and found.split.held_out(feats[:2, :60]).shape[1] == 15
    assert "predictive 2" in found.coordinates and "predictive 20" not in found.coordinates
    assert found.facts["skipped_predictive_lags"] == [20]


def test_window_mean_averages_the_frames_around_each_one_within_its_path():
    z = torch.arange(12.0).reshape(2, 6) ** 2
    m = window_mean(z, half_width=2)
    for i in range(2):
        for t in range(6):
            lo, hi = max(0, t - 2), min(6, t + 3)
            assert m[i, t].item() == pytest.approx(z[i, lo:hi].mean().item())  # fewer frames at the ends
    assert torch.equal(window_mean(z, half_width=0), z)
    with pytest.raises(ValueError, match="half_width"):
        window_mean(z, half_width=-1)


def test_smoothed_candidate_removes_the_fast_part_a_candidate_picked_up(strip):
    """A candidate that follows the slow bump but also leaks the fast one (z = x + 0.4 y): its mean
    over +-5 frames, regressed on the frames, keeps the slow part and averages the fast one away."""
    feats, x, dt = strip
    y = ou_process(8, 400, rate=20.0, std=1.0, dt=dt, generator=torch.Generator().manual_seed(4))[..., 0]
    z = x + 0.4 * y  # the fixture's fast bump position leaks into the candidate
    split = Split(*feats.shape[:2])
    smooth, state = smoothed_candidate(feats, z, split, half_width=5, hidden=32, depth=2, steps=600, seed=0)
    assert smooth.shape == z.shape
    assert r2(smooth, x) > r2(z, x) + 0.03
    held = split.held_out  # paths the regression never saw
    assert r2(held(smooth), held(x)) > r2(held(z), held(x)) + 0.02
    # the averaging does it: the same regression on the candidate itself (no window) does not help
    plain, _ = predictive_encoder(feats, ((z - z.mean()) / z.std())[..., None], split, lag=0, hidden=32, depth=2,
                                  steps=600, seed=0)
    assert r2(plain, x) < r2(smooth, x) - 0.03
    net = mlp(48, 32, 1)  # the returned state is the coarse-graining encoder's network on raw features
    net.load_state_dict(state)
    with torch.no_grad():
        assert torch.allclose(net(feats.reshape(-1, 48)).reshape(8, 400), smooth, atol=1e-5)
    with pytest.raises(ValueError, match="z must be"):
        smoothed_candidate(feats, z[:, :10], split, half_width=5, hidden=8, depth=1, steps=1, seed=0)


def test_rank_candidates_orders_by_the_judge_and_puts_unscored_last():
    rows = [{"name": "a", "score": 0.1, "autocorrelation": 0.9}, {"name": "b", "score": -math.inf, "autocorrelation": 0.95},
            {"name": "c", "score": 0.3, "autocorrelation": 0.2}]
    assert [r["name"] for r in rank_candidates(rows)] == ["c", "a", "b"]
    assert [r["name"] for r in rank_candidates(rows, by="slowness")] == ["b", "a", "c"]
    with pytest.raises(ValueError, match="by must be"):
        rank_candidates(rows, by="beauty")


def test_smoothed_candidate_with_few_paths_averages_fitted_and_held_out_ends_apart(strip):
    """With fewer than four paths the last quarter of every path is held out: a fitted frame's target
    must not average held-out frames, so changing the held-out frames leaves the fitted coordinate."""
    feats, x, _ = strip
    feats, x = feats[:2], x[:2]
    split = Split(2, 400)
    assert not split.by_paths
    z = x.clone()
    changed = z.clone()
    changed[:, split.cut:] += 5.0  # only the held-out ends differ
    a, _ = smoothed_candidate(feats, z, split, half_width=5, hidden=8, depth=1, steps=20, seed=0)
    b, _ = smoothed_candidate(feats, changed, split, half_width=5, hidden=8, depth=1, steps=20, seed=0)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("bad", [{"smoothing_windows": (0,)}, {"smoothing_windows": (-3, 5)}, {"smoothing_steps": 0}])
def test_init_config_rejects_bad_smoothing_options(bad):
    with pytest.raises(ValueError, match="smoothing"):
        InitConfig(**bad)


def test_init_config_sorts_and_deduplicates_smoothing_windows():
    assert InitConfig(smoothing_windows=(10, 5, 10)).smoothing_windows == (5, 10)
    assert InitConfig(smoothing_windows=()).smoothing_windows == ()
