"""The synthetic prior: equations, observed paths, targets, reproducibility."""

from __future__ import annotations

import math

import pytest
import torch

from fimcg.fim.training.prior import PriorConfig, SyntheticPrior, sample_equations

torch.set_num_threads(1)


def test_equations_are_reproducible_and_diffusion_nonnegative():
    a = sample_equations(64, generator=torch.Generator().manual_seed(1))
    b = sample_equations(64, generator=torch.Generator().manual_seed(1))
    x = torch.linspace(-3, 3, 50)[None, :, None].expand(64, 50, 1)
    torch.testing.assert_close(a.drift(x), b.drift(x))
    g = a.diffusion(x)
    assert g.shape == (64, 50, 1) and (g >= 0).all() and torch.isfinite(g).all()


def test_prior_is_broader_than_polynomials():
    eqs = sample_equations(400, p_nonpolynomial=0.5, generator=torch.Generator().manual_seed(2))
    nonpoly = (eqs.tanh[..., 0] != 0) | (eqs.sine[..., 0] != 0) | (eqs.rational[..., 0] != 0)
    assert 0.35 < float(nonpoly.float().mean()) < 0.65
    # the three diffusion modes all occur
    const = (eqs.diff_poly[..., 1:] == 0).all(-1) & (eqs.diff_mod[..., [0, 2]] == 0).all(-1)
    modulated = (eqs.diff_mod[..., 0] != 0)
    assert 0.15 < float(const.float().mean()) < 0.45 and 0.1 < float(modulated.float().mean()) < 0.4


def test_drift_formula_matches_coefficients():
    eqs = sample_equations(3, generator=torch.Generator().manual_seed(3))
    x = torch.tensor([0.7])
    b = 1
    p, (ta, tk, tc), (sa, sw, sp), (ra, rr) = eqs.poly[b, 0], eqs.tanh[b, 0], eqs.sine[b, 0], eqs.rational[b, 0]
    expected = (p[0] + p[1] * x + p[2] * x ** 2 + p[3] * x ** 3 + ta * math.tanh(tk * (x - tc))
                + sa * math.sin(sw * x + sp) + ra * x / (1 + rr * x ** 2))
    got = eqs.drift(x.expand(3, 1))[b]
    torch.testing.assert_close(got, expected.reshape(1).float(), rtol=1e-5, atol=1e-5)
    assert "f0(x) =" in eqs.describe(b)


def test_episode_batches_are_consistent():
    prior = SyntheticPrior(seed=4, tokens_per_batch=4000)
    batches = prior.episode()
    assert batches
    cfg = prior.config
    for b in batches:
        B, P, T, d = b.paths.shape
        assert d == 1 and torch.isfinite(b.paths).all()
        assert cfg.dt_range[0] <= b.dt <= cfg.dt_range[1]
        assert b.queries.shape == (B, cfg.n_queries, 1) == b.drift.shape == b.diffusion.shape
        assert (b.diffusion >= 0).all() and torch.isfinite(b.drift).all()
        # queries lie inside each dataset's observed range
        lo = b.paths.flatten(1, 2).min(dim=1).values[:, None] - 1.0
        hi = b.paths.flatten(1, 2).max(dim=1).values[:, None] + 1.0
        assert ((b.queries >= lo) & (b.queries <= hi)).all()


def test_stream_covers_the_sampling_regimes():
    prior = SyntheticPrior(seed=5, tokens_per_batch=3000)
    it = iter(prior)
    dts, noisy, lengths = [], 0, []
    for _ in range(60):
        b = next(it)
        dts.append(b.dt)
        noisy += int((b.noise > 0).sum())
        lengths.append(b.paths.shape[2])
    assert min(dts) < 0.005 and max(dts) > 0.02
    assert noisy > 0 and max(lengths) > 10 * min(lengths)


def test_two_dimensional_prior():
    prior = SyntheticPrior(PriorConfig(dim=2, transitions_range=(100, 400)), seed=6, tokens_per_batch=2000)
    b = prior.episode()[0]
    assert b.paths.shape[-1] == 2 and b.drift.shape[-1] == 2


def test_resumed_generator_state_reproduces_stream():
    p1 = SyntheticPrior(seed=7, tokens_per_batch=2000)
    p1.episode()
    state = p1.state_dict()
    a = p1.episode()
    p2 = SyntheticPrior(seed=99, tokens_per_batch=2000)
    p2.load_state_dict(state)
    b = p2.episode()
    torch.testing.assert_close(a[0].paths, b[0].paths)


@pytest.mark.parametrize("key", ["dt_range", "n_paths_range"])
def test_config_from_dict_restores_tuples(key):
    cfg = PriorConfig.from_dict({key: [1, 2]})
    assert getattr(cfg, key) == (1, 2)


def test_smooth_bumps_widen_the_prior_without_changing_the_old_draws():
    """p_smooth / p_smooth_diffusion add Gaussian bumps (drift) and a log-modulation (g) drawn after
    every other coefficient, so the equations of a seed keep their other terms."""
    plain = sample_equations(200, generator=torch.Generator().manual_seed(5))
    wide = sample_equations(200, p_smooth=0.5, p_smooth_diffusion=0.5, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(plain.poly, wide.poly)
    torch.testing.assert_close(plain.diff_mod, wide.diff_mod)
    assert plain.bumps is None and plain.diff_bumps is None
    has_bumps = (wide.bumps[..., 0] != 0).any(-1).float().mean()
    has_diff_bumps = (wide.diff_bumps[..., 0] != 0).any(-1).float().mean()
    assert 0.35 < float(has_bumps) < 0.65 and 0.35 < float(has_diff_bumps) < 0.65
    x = torch.linspace(-2, 2, 41)[None, :, None].expand(200, 41, 1)
    a, c, w = wide.bumps[7, 0].unbind(-1)
    expected = plain.drift(x)[7, :, 0] + (a * torch.exp(-0.5 * ((x[7] - c) / w) ** 2)).sum(-1)
    torch.testing.assert_close(wide.drift(x)[7, :, 0], expected, rtol=1e-5, atol=1e-5)
    ratio = wide.diffusion(x) / plain.diffusion(x).clamp_min(1e-12)
    e, c, w = wide.diff_bumps[..., 0, :, :].unbind(-1)  # (200, K)
    mod = torch.exp((e[:, None] * torch.exp(-0.5 * ((x - c[:, None]) / w[:, None]) ** 2)).sum(-1))
    ok = plain.diffusion(x)[..., 0] > 1e-6
    torch.testing.assert_close(ratio[..., 0][ok], mod[ok], rtol=1e-4, atol=1e-4)
    assert "exp(-(x" in wide.describe(int((wide.bumps[:, 0, :, 0] != 0).any(-1).nonzero()[0]))
    batch = SyntheticPrior(PriorConfig(p_smooth=0.5, p_smooth_diffusion=0.5), seed=0,
                           tokens_per_batch=2000).episode()[0]
    assert torch.isfinite(batch.paths).all() and (batch.diffusion >= 0).all()


def test_coupled_terms_add_gradient_landscapes_polynomial_coupling_and_rotations_in_2d():
    """p_coupled draws, after every other coefficient, wells (-grad of Gaussians), polynomial coupling
    (-grad of -Σ γ x_i² x_j² / 2) and a rotation; the rest of a seed's equations is unchanged."""
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    plain = sample_equations(300, dim=2, generator=gen())
    coupled = sample_equations(300, dim=2, p_coupled=1.0, generator=gen())
    torch.testing.assert_close(plain.poly, coupled.poly)
    torch.testing.assert_close(plain.coupling, coupled.coupling)
    assert plain.wells is None and plain.rotation is None
    assert sample_equations(10, dim=1, p_coupled=1.0, generator=gen()).wells is None  # nothing to couple in 1-D
    x = (torch.rand(300, 50, 2, dtype=torch.float64) - 0.5) * 3
    extra = coupled.drift(x) - plain.drift(x)
    # the wells and the polynomial coupling are a gradient, the rotation is not: its curl is 2 ω e^{-r²/2r0²}
    rot = coupled.rotation.double()
    r2 = (x * x).sum(-1)
    gauss = torch.exp(-0.5 * r2 / rot[:, None, 1] ** 2)
    xr = x.clone().requires_grad_(True)
    f = coupled._coupled(xr)
    dfx_dy = torch.autograd.grad(f[..., 0].sum(), xr, retain_graph=True)[0][..., 1]
    dfy_dx = torch.autograd.grad(f[..., 1].sum(), xr)[0][..., 0]
    curl = dfy_dx - dfx_dy
    expected = rot[:, None, 0] * gauss * (2 - r2 / rot[:, None, 1] ** 2)
    torch.testing.assert_close(curl, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(extra, coupled._coupled(x))
    assert float((coupled.rotation[:, 0] != 0).float().mean()) > 0.9
    assert float((coupled.wells[..., 0] != 0).any(-1).float().mean()) > 0.9


def test_queries_at_data_are_observed_states():
    cfg = PriorConfig(dim=2, transitions_range=(200, 400), queries_at_data=True, p_coupled=0.5, p_noise=0.0)
    b = SyntheticPrior(cfg, seed=1, tokens_per_batch=2000).episode()[0]
    flat = b.paths.flatten(1, 2)  # (B, P T, 2)
    dist = (b.queries[:, :, None, :] - flat[:, None, :, :]).abs().amax(-1).amin(-1)  # to the nearest observed state
    assert float(dist.max()) == 0.0
    box = SyntheticPrior(PriorConfig(dim=2, transitions_range=(200, 400), p_noise=0.0), seed=1,
                         tokens_per_batch=2000).episode()[0]
    far = (box.queries[:, :, None, :] - box.paths.flatten(1, 2)[:, None]).abs().amax(-1).amin(-1)
    assert float(far.min()) > 0.0  # the default: uniform over the box, not observed states
