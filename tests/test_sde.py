"""Euler-Maruyama simulation: statistics against closed forms, reproducibility, shapes, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from fimcg import SDE, simulate, systems
from fimcg.sde import SimulationDiverged


def _ou_moments(theta, mu, sigma, x0, t):
    mean = mu + (x0 - mu) * math.exp(-theta * t)
    var = sigma ** 2 / (2 * theta) * (1 - math.exp(-2 * theta * t))
    return mean, var


def test_ou_mean_and_variance_match_closed_form():
    theta, mu, sigma, x0 = 1.5, 0.5, 0.8, 2.0
    n = 8000
    sde = systems.ornstein_uhlenbeck(theta=theta, mu=mu, sigma=sigma)
    paths = simulate(sde, torch.full((n, 1), x0), dt=0.05, n_steps=60, substeps=10, seed=1)
    for step in (4, 20, 60):  # t = 0.2, 1, 3
        t = step * 0.05
        mean, var = _ou_moments(theta, mu, sigma, x0, t)
        xs = paths[:, step, 0].double()
        se_mean = math.sqrt(var / n)
        se_var = var * math.sqrt(2 / (n - 1))
        assert abs(float(xs.mean()) - mean) < 4 * se_mean, (t, float(xs.mean()), mean)
        assert abs(float(xs.var()) - var) < 4 * se_var + 0.01 * var, (t, float(xs.var()), var)


def test_ou_in_two_dimensions_has_independent_coordinates():
    sde = systems.ornstein_uhlenbeck(theta=1.0, sigma=1.0, dim=2)
    paths = simulate(sde, torch.zeros(6000, 2), dt=0.1, n_steps=40, substeps=5, seed=2)
    end = paths[:, -1].double()
    var = 0.5 * (1 - math.exp(-8.0))
    assert torch.allclose(end.var(dim=0), torch.tensor([var, var], dtype=torch.float64), rtol=0.08)
    corr = float(torch.corrcoef(end.T)[0, 1])
    assert abs(corr) < 4 / math.sqrt(6000)


def _stationary_cdf(sde, xs):
    grid = torch.linspace(-1.8, 1.8, 20001, dtype=torch.float64)
    p = sde.stationary_density(grid).numpy()
    cdf = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(grid.numpy()))])
    return np.interp(xs, grid.numpy(), cdf / cdf[-1])


def test_reference_double_well_samples_follow_the_stationary_density():
    """KS test on one nearly independent sample per path after a burn-in of T = 4."""
    sde = systems.double_well()
    gen = torch.Generator().manual_seed(3)
    n = 4000
    x0 = torch.where(torch.rand(n, 1, generator=gen) < 0.5, -1.0, 1.0) + 0.3 * torch.randn(n, 1, generator=gen)
    paths = simulate(sde, x0, dt=0.002, n_steps=2000, seed=4)
    sample = paths[:, -1, 0].double().numpy()
    assert np.abs(sample).max() < 1.79  # the semicircle diffusion vanishes at |x| = 1.789
    res = stats.kstest(sample, lambda x: _stationary_cdf(sde, x))
    assert res.pvalue > 1e-3, res
    # the same test has power: it rejects the density of the double well with constant diffusion
    wrong = systems.double_well_constant(sigma=1.0)
    res_wrong = stats.kstest(sample, lambda x: _stationary_cdf(wrong, x))
    assert res_wrong.pvalue < 1e-6, res_wrong


def test_reference_double_well_statistics(reference_paths):
    x = reference_paths[:, 500:, 0]  # after T = 1 of burn-in
    assert 0.9 < float(x.std()) < 1.02  # std(x) ~ 0.96
    assert float(x.abs().max()) < 1.79


def test_seed_makes_runs_reproducible():
    sde = systems.double_well()
    x0 = torch.zeros(5, 1)
    a = simulate(sde, x0, dt=0.002, n_steps=300, seed=11)
    b = simulate(sde, x0, dt=0.002, n_steps=300, seed=11)
    c = simulate(sde, x0, dt=0.002, n_steps=300, seed=12)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    torch.manual_seed(0)
    d = simulate(sde, x0, dt=0.002, n_steps=10)
    torch.manual_seed(0)
    e = simulate(sde, x0, dt=0.002, n_steps=10)
    assert torch.equal(d, e)


@pytest.mark.parametrize("dim, system", [(1, "double_well"), (2, "double_well_2d"), (2, "mueller_brown")])
def test_shapes_and_initial_state(dim, system):
    sde = systems.get_system(system)
    x0 = torch.tensor([[-0.55, 1.44], [0.6, 0.03], [-0.05, 0.47]])[:, :dim]
    out = simulate(sde, x0, dt=1e-3, n_steps=17, seed=0)
    assert out.shape == (3, 18, dim)
    assert out.dtype == torch.float32
    assert torch.equal(out[:, 0], x0)
    assert torch.isfinite(out).all()


def test_flat_x0_is_accepted_for_one_dimensional_systems():
    out = simulate(systems.double_well(), torch.zeros(4), dt=0.01, n_steps=3, seed=0)
    assert out.shape == (4, 4, 1)


def test_substeps_reduce_discretisation_bias():
    """EM with step h on OU has stationary variance sigma^2 / (2 theta - theta^2 h): check both cases."""
    sde = systems.ornstein_uhlenbeck(theta=1.0, sigma=1.0)
    coarse = simulate(sde, torch.zeros(20000, 1), dt=0.5, n_steps=30, seed=5)
    fine = simulate(sde, torch.zeros(20000, 1), dt=0.5, n_steps=30, substeps=50, seed=5)
    v_coarse = float(coarse[:, -1].var())
    v_fine = float(fine[:, -1].var())
    assert abs(v_coarse - 1 / (2 - 0.5)) < 0.04  # biased EM variance 0.667
    assert abs(v_fine - 1 / (2 - 0.01)) < 0.03  # close to the true 0.5


def test_float64_in_float64_out():
    out = simulate(systems.double_well(), torch.zeros(3, 1, dtype=torch.float64), dt=0.01, n_steps=5, seed=0)
    assert out.dtype == torch.float64


def test_numpy_and_list_x0():
    out = simulate(systems.double_well(), np.zeros((2, 1), dtype=np.float32), dt=0.01, n_steps=5, seed=0)
    assert out.dtype == torch.float32 and out.shape == (2, 6, 1)
    assert simulate(systems.double_well(), np.zeros((2, 1)), dt=0.01, n_steps=5).dtype == torch.float64
    out = simulate(systems.double_well(), [[0.1], [0.2]], dt=0.01, n_steps=5, seed=0)
    assert out.shape == (2, 6, 1)


def test_per_path_coefficients_index_rows():
    """drift/diffusion see the whole batch: a family with one coefficient per path works."""
    theta = torch.tensor([[0.5], [5.0]])
    sde = SDE(drift=lambda x: -theta * x, diffusion=lambda x: torch.full_like(x, 1e-3))
    out = simulate(sde, torch.ones(2, 1), dt=0.01, n_steps=100, seed=0)
    assert float(out[0, -1]) == pytest.approx(math.exp(-0.5), abs=0.02)
    assert float(out[1, -1]) == pytest.approx(math.exp(-5.0), abs=0.02)


def test_runs_on_the_device_of_x0_cpu():
    out = simulate(systems.double_well(), torch.zeros(2, 1, device="cpu"), dt=0.01, n_steps=5, seed=0)
    assert out.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():
    x0 = torch.zeros(64, 1, device="cuda")
    out = simulate(systems.double_well(), x0, dt=0.002, n_steps=100, seed=0)
    assert out.device.type == "cuda"
    assert torch.isfinite(out).all()
    again = simulate(systems.double_well(), x0, dt=0.002, n_steps=100, seed=0)
    assert torch.equal(out, again)


# ---------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_dt(dt):
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        simulate(systems.double_well(), torch.zeros(2, 1), dt=dt, n_steps=5)


@pytest.mark.parametrize("n_steps, err", [(0, ValueError), (-3, ValueError), (2.5, TypeError), ("10", TypeError)])
def test_bad_n_steps(n_steps, err):
    with pytest.raises(err, match="n_steps must be"):
        simulate(systems.double_well(), torch.zeros(2, 1), dt=0.01, n_steps=n_steps)


def test_bad_substeps():
    with pytest.raises(ValueError, match="substeps must be >= 1"):
        simulate(systems.double_well(), torch.zeros(2, 1), dt=0.01, n_steps=5, substeps=0)


def test_nan_x0():
    with pytest.raises(ValueError, match=r"x0 contains 1 NaN/inf value\(s\); first at index \(1, 0\)"):
        simulate(systems.double_well(), torch.tensor([[0.0], [math.nan]]), dt=0.01, n_steps=5)


@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 1), ()])
def test_x0_shape_mismatch(shape):
    with pytest.raises(ValueError, match=r"x0 must have shape \(n_paths, d=1\)"):
        simulate(systems.double_well(), torch.zeros(shape), dt=0.01, n_steps=5)


def test_x0_wrong_dimension_for_2d_system():
    with pytest.raises(ValueError, match=r"x0 must have shape \(n_paths, d=2\); got shape \(4, 1\)"):
        simulate(systems.double_well_2d(), torch.zeros(4, 1), dt=0.01, n_steps=5)


def test_not_an_sde():
    with pytest.raises(TypeError, match="sde must be a fimcg.SDE"):
        simulate(lambda x: x, torch.zeros(2, 1), dt=0.01, n_steps=5)


def test_bad_on_divergence():
    with pytest.raises(ValueError, match="on_divergence must be 'raise' or 'nan'"):
        simulate(systems.double_well(), torch.zeros(2, 1), dt=0.01, n_steps=5, on_divergence="ignore")


def test_negative_diffusion_is_an_error():
    sde = SDE(drift=lambda x: -x, diffusion=lambda x: torch.where(x > 0.3, -torch.ones_like(x), torch.ones_like(x)))
    with pytest.raises(ValueError, match=r"sde.diffusion returned a negative or NaN value \[-1.0\]"):
        simulate(sde, torch.zeros(20, 1), dt=0.01, n_steps=500, seed=0)


def test_negative_diffusion_at_x0_is_an_error():
    sde = SDE(drift=lambda x: -x, diffusion=lambda x: x)
    with pytest.raises(ValueError, match=r"negative or NaN value \[-1.0\] at state \[-1.0\] \(path 1, observation 0\)"):
        simulate(sde, torch.tensor([[1.0], [-1.0]]), dt=0.01, n_steps=5)


def test_nan_diffusion_is_an_error_not_a_divergence():
    sde = SDE(drift=lambda x: -x,
              diffusion=lambda x: torch.where(x > 0.3, torch.full_like(x, math.nan), torch.ones_like(x)))
    with pytest.raises(ValueError, match=r"sde.diffusion returned a negative or NaN value \[nan\]"):
        simulate(sde, torch.zeros(20, 1), dt=0.01, n_steps=500, seed=0)


def test_diffusion_with_wrong_shape():
    sde = SDE(drift=lambda x: -x, diffusion=lambda x: torch.ones(x.shape[0]))
    with pytest.raises(ValueError, match="sde.diffusion returned shape"):
        simulate(sde, torch.zeros(3, 1), dt=0.01, n_steps=5)


def _exploding():
    # f = x^3 blows up in finite time from x0 = 2 (t* = 1/(2 x0^2) = 0.125); from x0 = 0 it stays put
    return SDE(drift=lambda x: x ** 3, diffusion=lambda x: torch.zeros_like(x))


def test_divergence_raises_with_the_diverged_paths_and_step():
    with pytest.raises(SimulationDiverged, match=r"1 of 2 paths diverged") as info:
        simulate(_exploding(), torch.tensor([[0.0], [2.0]]), dt=0.01, n_steps=100, bound=1e3)
    assert info.value.diverged.tolist() == [False, True]
    # exact blow-up at t = 0.125 (observation 12.5); explicit Euler lags behind a convex blow-up
    assert 12 <= info.value.step <= 30


def test_divergence_nan_mode_keeps_the_other_paths():
    out = simulate(_exploding(), torch.tensor([[0.0], [2.0]]), dt=0.01, n_steps=100, bound=1e3,
                   on_divergence="nan")
    assert torch.isfinite(out[0]).all()
    finite = torch.isfinite(out[1, :, 0])
    first_nan = int((~finite).nonzero()[0])
    assert finite[:first_nan].all() and not finite[first_nan:].any()
    assert float(out[1, first_nan - 1].abs()) <= 1e3


def test_sde_rejects_bad_dim_and_non_callables():
    with pytest.raises(ValueError, match="dim must be 1, 2 or 3, got 4"):
        SDE(drift=lambda x: x, diffusion=lambda x: x, dim=4)
    with pytest.raises(TypeError, match="drift and diffusion must be callables"):
        SDE(drift=1.0, diffusion=lambda x: x)
