"""The FIM as a judge of coordinates: predictive information of an SDE about its coordinate's future."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import fimcg
from fimcg.analysis.markov import generator_matrix, predictive_information
from fimcg.estimators import local_linear
from fimcg.video import make_scene, ou_process


def test_generator_rows_sum_to_zero_and_reach_the_stationary_law():
    edges = np.linspace(-3, 3, 121)
    faces = edges[1:-1]
    q = generator_matrix(-faces, np.full(faces.size + 1, math.sqrt(2.0)), edges)  # OU: f = -x, g = sqrt(2)
    np.testing.assert_allclose(q.sum(axis=1), 0, atol=1e-9)
    w, v = np.linalg.eig(q.T)
    pi = np.real(v[:, np.argmin(np.abs(w))])
    pi /= pi.sum()
    centres = 0.5 * (edges[1:] + edges[:-1])
    gauss = np.exp(-centres ** 2 / 2)
    gauss /= gauss.sum()
    assert np.abs(pi - gauss).max() < 0.02 * gauss.max()  # N(0, 1), up to the upwind scheme's error
    with pytest.raises(ValueError, match="M - 1 face drifts and M centre diffusions"):
        generator_matrix(np.zeros(3), np.zeros(3), edges)


def _true_ou(paths, dt, loc):
    """The exact SDE of a standardised OU path with rate 5: f = -5 x, g = sqrt(10)."""
    return -5.0 * loc, torch.full_like(loc, math.sqrt(10.0))


def test_with_the_true_sde_the_score_is_the_binned_mutual_information_of_the_ou_process():
    """For a stationary OU path the future at lag τ is Gaussian with correlation ρ = exp(-rate τ): the
    mutual information is -log(1 - ρ²)/2; quantile bins keep most of it, never more."""
    gen = torch.Generator().manual_seed(0)
    ou = ou_process(20, 500, rate=5.0, std=1.0, dt=0.01, generator=gen)[..., 0]
    good = predictive_information(ou, 0.01, _true_ou, lags=(1, 5, 20))
    for lag, info in zip(good.lags, good.per_lag):
        rho = math.exp(-5.0 * lag * 0.01)
        mutual = -0.5 * math.log(1 - rho ** 2)
        assert 0.8 * mutual < info < mutual + 0.01, (lag, info, mutual)
    noise = torch.randn(20, 500, generator=gen)
    bad = predictive_information(noise, 0.01, local_linear, lags=(1, 5, 20))
    # white noise: the fitted SDE (a very fast mean reversion) predicts a correlation that is not
    # there, so its predictions are worse than knowing nothing
    assert bad.score < 0.0 < 0.4 < good.score


def test_a_monotone_reparameterisation_scores_the_same():
    """y = h(x), h(x) = x + 0.3 x³, with the SDE that Itô's formula gives y: the same score as x."""
    gen = torch.Generator().manual_seed(1)
    x = ou_process(40, 500, rate=5.0, std=1.0, dt=0.01, generator=gen)[..., 0].double()
    y = x + 0.3 * x ** 3
    m, s = float(y.mean()), float(y.std())
    grid = torch.linspace(-8, 8, 20001, dtype=torch.float64)

    def ito(paths, dt, loc):  # the estimator sees y standardised: loc = (y - m) / s
        xq = torch.as_tensor(np.interp(loc.double().numpy() * s + m, (grid + 0.3 * grid ** 3).numpy(), grid.numpy()))
        h1, h2 = 1 + 0.9 * xq ** 2, 1.8 * xq
        f, g = -5.0 * xq, math.sqrt(10.0)
        return (h1 * f + 0.5 * h2 * g ** 2) / s, h1 * g / s

    a = predictive_information(x, 0.01, _true_ou)
    b = predictive_information(y, 0.01, ito)
    assert a.score > 0.4 and max(abs(u - v) for u, v in zip(a.per_lag, b.per_lag)) < 0.02


def test_the_shipped_fim_prefers_the_slow_particle_to_a_fast_distractor():
    scene = make_scene("distractor", n_paths=12, n_frames=400, seed=3)
    fim = fimcg.load_fim()
    slow = predictive_information(scene.signal, scene.dt, fim)
    fast = predictive_information(scene.states["distractor"][..., 0], scene.dt, fim)
    assert slow.score > fast.score + 0.2
    assert slow.per_lag[-1] > 0.1 > fast.per_lag[-1]


def test_bad_input_is_named():
    z = torch.randn(3, 50)
    with pytest.raises(ValueError, match=r"z must have shape \(n_paths, T\)"):
        predictive_information(torch.randn(50), 0.01, local_linear)
    with pytest.raises(ValueError, match="shorter than the paths"):
        predictive_information(z, 0.01, local_linear, lags=(60,))
    with pytest.raises(ValueError, match="z is constant"):
        predictive_information(torch.ones(3, 50), 0.01, local_linear)
    with pytest.raises(ValueError, match="NaN/inf"):
        predictive_information(z * float("nan"), 0.01, local_linear)
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        predictive_information(z, 0.0, local_linear)


def test_implied_timescale_inverts_an_exponential_decay():
    from fimcg.analysis.markov import implied_timescale

    assert implied_timescale(math.exp(-5 / 20), 5) == pytest.approx(20.0)
    assert implied_timescale(1.0, 5) == math.inf and implied_timescale(-0.1, 5) == 0.0
