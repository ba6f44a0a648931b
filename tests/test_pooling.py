"""Pooling estimates across recordings: the jackknife and empirical-Bayes shrinkage (fimcg.estimators.pooling)."""

from __future__ import annotations

import pytest
import torch

import fimcg
from fimcg.estimators.pooling import Prior, jackknife, shrink


def test_jackknife_variance_of_a_mean_is_the_textbook_one():
    """For the estimator 'mean of each path's mean increment' the jackknife variance is s²/n exactly."""
    torch.manual_seed(0)
    paths = torch.randn(8, 50, 1).cumsum(1)

    def est(p, dt, loc):
        per_path = (p[:, 1:] - p[:, :-1]).mean(dim=(1, 2))
        return per_path.mean().expand(loc.shape[0], 1), torch.ones(loc.shape[0], 1)
    f, g, vf, vg2 = jackknife(est, paths, 0.1, torch.zeros(3, 1))
    per_path = (paths[:, 1:] - paths[:, :-1]).mean(dim=(1, 2))
    torch.testing.assert_close(vf, (per_path.var() / 8).expand(3, 1))
    assert float(vg2.abs().max()) == 0.0
    with pytest.raises(ValueError, match="at least 2 paths"):
        jackknife(est, paths[:1], 0.1, torch.zeros(3, 1))


def test_shrinkage_pools_noisy_estimates_and_keeps_precise_ones():
    gen = torch.Generator().manual_seed(0)
    truth = 1.0 + 0.2 * torch.randn(200, 1, 1, generator=gen)  # 200 recordings, population sd 0.2
    noise_sd = torch.where(torch.arange(200) < 100, 1.0, 0.01)[:, None, None]  # half noisy, half precise
    est = truth + noise_sd * torch.randn(200, 1, 1, generator=gen)
    shrunk, prior, w = shrink(est, noise_sd ** 2)
    assert prior.spread.item() == pytest.approx(0.04, rel=0.5)
    noisy, precise = slice(0, 100), slice(100, 200)
    assert float(w[noisy].mean()) < 0.1 and float(w[precise].mean()) > 0.99
    err = lambda e, part: float(((e[part] - truth[part]) ** 2).mean().sqrt())  # noqa: E731
    assert err(shrunk, noisy) < 0.5 * err(est, noisy)  # the noisy ones gain a lot
    assert err(shrunk, precise) <= err(est, precise) * 1.01  # the precise ones lose nothing


def test_shrink_towards_a_given_prior_and_bad_input():
    prior = Prior(mean=torch.zeros(2, 1), spread=torch.ones(2, 1))
    out, used, w = shrink(torch.full((1, 2, 1), 2.0), torch.ones(1, 2, 1), prior=prior)
    torch.testing.assert_close(out, torch.ones(1, 2, 1))  # halfway: equal spread and sampling variance
    assert used is prior and float(w.mean()) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shape"):
        shrink(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=">= 0"):
        shrink(torch.zeros(2, 3, 1), -torch.ones(2, 3, 1))
    with pytest.raises(ValueError, match="at least 2 recordings"):
        shrink(torch.zeros(1, 3, 1), torch.zeros(1, 3, 1))


def test_pooling_helps_the_fim_on_short_recordings_of_a_family():
    """Twelve short recordings of double wells with different barriers: shrinking the FIM's estimates
    towards the collection lowers the median drift error (the point of pooling)."""
    fim = fimcg.load_fim()
    grid = torch.linspace(-1.3, 1.3, 40)[:, None]
    est, var, truth = [], [], []
    for k in range(12):
        sde = fimcg.systems.landscape_sde(barrier=0.6 + 0.08 * k)
        x = fimcg.simulate(sde, torch.tensor([[-1.0], [1.0], [-1.0], [1.0]]), dt=0.002, n_steps=5 * 299,
                           seed=k)[:, ::5]
        f, _, vf, _ = jackknife(lambda p, dt, loc: fim.estimate(p, dt, loc, warn=False), x, 0.01, grid)
        est.append(f), var.append(vf), truth.append(sde.f(grid))
    est, var, truth = torch.stack(est), torch.stack(var), torch.stack(truth)
    shrunk, _, _ = shrink(est, var)
    rel = lambda e: ((e - truth) ** 2).mean(dim=(1, 2)).sqrt() / (truth ** 2).mean(dim=(1, 2)).sqrt()  # noqa: E731
    assert float(rel(shrunk).median()) < 0.8 * float(rel(est).median())
