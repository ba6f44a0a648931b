"""Two-dimensional latents: multivariate candidates, the 2-D FIM, tabulated fields, alignment, cores, scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import fimcg
from fimcg import simulate
from fimcg.analysis.alignment_nd import compare_to_truth_nd, fit_polynomial_map, ito_transform_nd
from fimcg.analysis.validation import attractors, core_statistics, occupation_distance, validate
from fimcg.fim.candidates import (RegressionSums, g2_averages, high_degree_fits, kernel_cross_validation,
                                  kernel_cross_validation_nd, polynomial_fits)
from fimcg.fim.normalise import normalise
from fimcg.sde import SDE, TabulatedGrid, tabulated_sde
from fimcg.sde.systems import double_well_2d, get_system, rotating_ring


def _context_2d(drift, g, *, n_paths=40, n_steps=400, dt=0.01, seed=0):
    sde = SDE(drift, g, dim=2)
    x0 = torch.randn(n_paths, 2, generator=torch.Generator().manual_seed(seed))
    p = simulate(sde, x0, dt=dt, n_steps=n_steps, seed=seed, substeps=2)
    return sde, p, normalise(p[None], dt)


def _true_normalised_drift(sde, norm, q):
    """The true drift at normalised queries q (1, G, 3), in normalised units."""
    x = q[0, :, :2] * norm.std[0, :2] + norm.mean[0, :2]
    return sde.drift(x) / norm.std[0, :2] / norm.time_factor[0]


# --- multivariate candidates ---------------------------------------------------------------------


def test_multivariate_cubic_fit_recovers_a_coupled_drift_that_per_coordinate_fits_miss():
    drift = lambda x: torch.stack([x[:, 0] - x[:, 0] ** 3 - 0.8 * x[:, 1], -x[:, 1] + 0.6 * x[:, 0] ** 2], -1)  # noqa: E731
    sde, p, norm = _context_2d(drift, lambda x: 0.5 * torch.ones_like(x), n_steps=800)
    q = torch.nn.functional.pad(norm.x[:, ::97, :2], (0, 1))
    truth = _true_normalised_drift(sde, norm, q)
    joint = polynomial_fits(norm, q, multivariate=True)[0][0, :, 1, :2]  # the cubic fit
    apart = polynomial_fits(norm, q)[0][0, :, 1, :2]
    err = lambda f: float(((f - truth) ** 2).mean().sqrt() / (truth ** 2).mean().sqrt())  # noqa: E731
    assert err(joint) < 0.2
    assert err(apart) > 2 * err(joint)


def test_multivariate_cubic_fit_is_the_ridge_fit_on_all_monomials():
    """In 2-D the cubic fit is the (weakly) ridged least-squares fit on the 10 monomials of degree <= 3."""
    from fimcg.estimators.bases import polynomial_features
    drift = lambda x: torch.stack([x[:, 0] - x[:, 0] ** 3 + 0.5 * x[:, 0] * x[:, 1], -x[:, 1] + 0.3 * x[:, 0] ** 2], -1)  # noqa: E731
    _, _, norm = _context_2d(drift, lambda x: 0.5 * torch.ones_like(x), n_steps=300)
    x, y = norm.x[0, :, :2].double(), (norm.dx / norm.dt)[0, :, :2].double()
    phi = polynomial_features(x, 3)
    coef = torch.linalg.lstsq(phi, y).solution
    q = torch.nn.functional.pad(norm.x[:, ::61, :2], (0, 1))
    fits = polynomial_fits(norm, q, multivariate=True, prior_std=1e6)[0][0, :, 1, :2]
    torch.testing.assert_close(fits.double(), polynomial_features(q[0, :, :2].double(), 3) @ coef, rtol=1e-3, atol=1e-3)


def test_fits_with_as_many_coefficients_as_transitions_are_unavailable():
    """A degree-7 fit in 2-D has 36 coefficients: on 30 transitions it interpolates, and it must not
    win the cross-validated average (its error is infinite)."""
    _, p, _ = _context_2d(lambda x: -x, lambda x: torch.ones_like(x), n_paths=2, n_steps=15)
    norm = normalise(p[None], 0.01)
    assert norm.x.shape[1] == 30
    q = torch.nn.functional.pad(norm.x[:, :5, :2], (0, 1))
    fits, cv = high_degree_fits(norm, q, (5, 7), sums=RegressionSums.of(norm, None, 50.0), multivariate=True)
    assert bool(torch.isfinite(cv[0, :2, 0]).all())  # 21 coefficients < 30 transitions
    assert bool(torch.isinf(cv[0, :2, 1]).all())  # 36 >= 30


def test_multivariate_high_degree_fit_recovers_a_quintic_in_two_coordinates():
    drift = lambda x: torch.stack([-x[:, 0] ** 5 + x[:, 0] * x[:, 1] ** 2 - x[:, 0],  # noqa: E731
                                   -x[:, 1] ** 3 - 0.5 * x[:, 0] ** 2 * x[:, 1]], -1)
    sde, p, norm = _context_2d(drift, lambda x: 0.3 * torch.ones_like(x), n_steps=1500)
    q = torch.nn.functional.pad(norm.x[:, ::211, :2], (0, 1))
    truth = _true_normalised_drift(sde, norm, q)
    sums = RegressionSums.of(norm, None, 50.0)
    fits, cv = high_degree_fits(norm, q, (5,), sums=sums, multivariate=True)
    rel = float(((fits[0, :, 0, :2] - truth) ** 2).mean().sqrt() / (truth ** 2).mean().sqrt())
    assert rel < 0.15
    assert bool(torch.isfinite(cv[:, :2]).all())


@pytest.mark.parametrize("shape", ["constant", "quadratic"])
def test_g2_averages_recover_constant_and_state_dependent_noise(shape):
    g = (lambda x: 0.6 * torch.ones_like(x)) if shape == "constant" else (lambda x: torch.sqrt(0.2 + 0.3 * x ** 2))
    drift = lambda x: -x - 0.3 * x.flip(-1)  # noqa: E731
    sde, p, norm = _context_2d(drift, g, n_paths=60, n_steps=800)
    q = torch.nn.functional.pad(norm.x[:, ::331, :2], (0, 1))
    est = g2_averages(norm, q, sums=RegressionSums.of(norm, None, 50.0))  # (1, G, 2, 3) normalised g'²
    x = q[0, :, :2] * norm.std[0, :2] + norm.mean[0, :2]
    g_true = sde.diffusion(x) / norm.std[0, :2] * norm.time_factor[0].rsqrt()
    for j in range(2):  # raw and noise-robust
        g_est = est[0, :, j, :2].sqrt()
        assert float(((g_est - g_true) ** 2).mean().sqrt() / (g_true ** 2).mean().sqrt()) < 0.08
    assert bool((est[..., 2] == 0).all())  # the padding dimension


def test_kernel_cross_validation_in_d_dimensions_agrees_with_the_1d_one_and_covers_both_dimensions(reference_paths):
    bws = (0.1, 0.3, 1.0)
    norm = normalise(reference_paths[None, :2, :120], 0.002)  # 238 transitions: all scored
    one = kernel_cross_validation(norm, bws, 5.0)[0]
    nd = kernel_cross_validation_nd(norm, bws, 5.0)[0, 0]
    torch.testing.assert_close(nd, one, rtol=0.05, atol=0.0)
    _, _, norm2 = _context_2d(lambda x: -x, lambda x: torch.ones_like(x))
    cv = kernel_cross_validation_nd(norm2, bws, 5.0)
    assert cv.shape == (1, 2, 3) and bool(torch.isfinite(cv).all()) and bool((cv > 0).all())


def test_multivariate_config_refuses_one_dimensional_candidates():
    from fimcg.fim import CandidateConfig
    with pytest.raises(ValueError, match="families"):
        CandidateConfig(multivariate=True)


# --- the shipped 2-D FIM -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fim():
    return fimcg.load_fim()


def test_load_fim_answers_one_and_two_dimensional_contexts_with_one_call(fim, reference_paths):
    assert fim.supported_dims == (1, 2)
    assert 2 not in fim.config.trained_dims and 2 in fim.companions[2].config.trained_dims
    sde = double_well_2d(coupling=1.0)
    p = simulate(sde, torch.tensor([[-1.0, 0.2], [1.0, -0.2]]).repeat(10, 1), dt=0.01, n_steps=300, seed=1)
    q = p.reshape(-1, 2)[::53]
    with torch.no_grad():
        f, g = fim(p, 0.01, q)
        f1, _ = fim(reference_paths[:5], 0.002, torch.linspace(-1, 1, 7)[:, None])
    assert f.shape == g.shape == q.shape and f1.shape == (7, 1)
    rel = float(((f - sde.drift(q)) ** 2).mean().sqrt() / (sde.drift(q) ** 2).mean().sqrt())
    assert rel < 0.35
    assert float((g - 1).abs().mean()) < 0.15
    why = fim.explain(p, 0.01, q)
    assert "cv average" in why["drift_options"] and why["drift_options"]["cv average"].shape == q.shape
    assert "cv g2" in why["diffusion_gates"]


def test_fim_refuses_a_dimension_it_has_no_weights_for(fim):
    p = torch.randn(4, 50, 3).cumsum(1) * 0.1
    with pytest.raises(ValueError, match=r"trained for d in \(1, 2\); got d=3"):
        fim.estimate(p, 0.01, torch.zeros(2, 3))


def test_shipped_2d_weights_are_checksum_verified():
    from fimcg.fim import SHIPPED_WEIGHTS_2D, SHIPPED_WEIGHTS_2D_SHA256
    from fimcg.io.checkpoint import sha256_of
    assert sha256_of(SHIPPED_WEIGHTS_2D) == SHIPPED_WEIGHTS_2D_SHA256


def test_fim_sde_in_two_dimensions_is_tabulated_and_simulates(fim):
    sde = double_well_2d()
    p = simulate(sde, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]).repeat(8, 1), dt=0.01, n_steps=300, seed=2)
    est = fim.sde(p, 0.01)
    assert isinstance(est.drift, TabulatedGrid)
    q = p.reshape(-1, 2)[::101]
    with torch.no_grad():
        torch.testing.assert_close(est.drift(q), fim.estimate(p, 0.01, q, warn=False)[0], rtol=0.1, atol=0.3)
    sim = simulate(est, q[:4], dt=0.01, n_steps=200, seed=0)
    assert bool(torch.isfinite(sim).all())


# --- tabulated fields ---------------------------------------------------------------------------


def test_tabulated_grid_is_exact_for_linear_fields_inside_and_beyond_and_keeps_nan():
    axes = [torch.linspace(-1, 1, 9), torch.linspace(-2, 2, 13)]
    field = lambda z: torch.stack([2 * z[..., 0] - z[..., 1] + 1, 0.5 * z[..., 0]], -1)  # noqa: E731
    mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)
    t = TabulatedGrid(axes, field(mesh), extrapolate=True)
    z = torch.randn(200, 2) * 2
    torch.testing.assert_close(t(z), field(z), rtol=1e-5, atol=1e-5)
    held = TabulatedGrid(axes, field(mesh), extrapolate=False)
    torch.testing.assert_close(held(torch.tensor([[5.0, 0.0]])), field(torch.tensor([[1.0, 0.0]])))
    out = t(torch.tensor([[float("nan"), 0.0], [0.0, 0.0]]))
    assert bool(torch.isnan(out[0]).all()) and bool(torch.isfinite(out[1]).all())
    with pytest.raises(ValueError, match="values must have shape"):
        TabulatedGrid(axes, torch.zeros(9, 12, 2), extrapolate=True)
    with pytest.raises(ValueError, match="uniform and increasing"):
        TabulatedGrid([torch.tensor([0.0, 1.0, 3.0]), axes[1]], torch.zeros(3, 13, 2), extrapolate=True)
    with pytest.raises(ValueError, match="grid_size"):
        tabulated_sde(lambda x: (x, x), torch.zeros(2), torch.ones(2), grid_size=1)
    with pytest.raises(ValueError, match="margin"):
        tabulated_sde(lambda x: (x, x), torch.zeros(2), torch.ones(2), margin=float("nan"))


def test_tabulated_sde_reproduces_a_2d_system():
    sde = rotating_ring()
    tab = tabulated_sde(lambda x: (sde.drift(x), sde.diffusion(x)), torch.tensor([-2.0, -2.0]),
                        torch.tensor([2.0, 2.0]), grid_size=81)
    z = torch.rand(100, 2) * 3 - 1.5
    torch.testing.assert_close(tab.drift(z), sde.drift(z), rtol=0.02, atol=0.02)
    torch.testing.assert_close(tab.diffusion(z), sde.diffusion(z), rtol=0.01, atol=0.01)


# --- systems ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,params", [("double_well_2d", {"coupling": 1.0}), ("mueller_brown", {})])
def test_gradient_systems_drift_is_minus_the_potential_gradient(name, params):
    sde = get_system(name, **params)
    z = (torch.rand(50, 2, dtype=torch.float64) - 0.5) * 1.5 + torch.tensor([0.0, 0.5], dtype=torch.float64)
    z.requires_grad_(True)
    grad, = torch.autograd.grad(sde.potential(z).sum(), z)
    torch.testing.assert_close(sde.drift(z.detach()), -grad)


def test_rotating_ring_is_not_a_gradient_field():
    sde = rotating_ring(omega=2.0)
    z = torch.rand(20, 2, dtype=torch.float64, requires_grad=True)
    f = sde.drift(z)
    dfx_dy = torch.autograd.grad(f[:, 0].sum(), z, retain_graph=True)[0][:, 1]
    dfy_dx = torch.autograd.grad(f[:, 1].sum(), z)[0][:, 0]
    torch.testing.assert_close(dfy_dx - dfx_dy, torch.full((20,), 4.0, dtype=torch.float64))  # curl = 2 omega


# --- alignment in d dimensions -----------------------------------------------------------------


def test_ito_transform_nd_matches_monte_carlo_of_a_nonlinear_map():
    """E[Δx] and Cov[Δx] over one small step from a point, for x = h(z), agree with Itô's formula."""
    h = lambda z: torch.stack([z[..., 0] + 0.3 * z[..., 1] ** 2, z[..., 1] - 0.2 * z[..., 0] * z[..., 1]], -1)  # noqa: E731
    z0 = torch.tensor([0.4, -0.7], dtype=torch.float64)
    f_z, g_z = torch.tensor([0.5, -1.0], dtype=torch.float64), torch.tensor([0.6, 0.9], dtype=torch.float64)
    dt, n = 1e-3, 400_000
    dz = f_z * dt + g_z * math.sqrt(dt) * torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dx = h(z0 + dz) - h(z0)
    J = torch.autograd.functional.jacobian(h, z0)
    H = torch.stack([torch.autograd.functional.hessian(lambda z: h(z)[i], z0) for i in range(2)])
    fx, cov = ito_transform_nd(J[None], H[None], f_z[None], g_z[None])
    np.testing.assert_allclose(dx.mean(0).numpy() / dt, fx[0], atol=0.06)
    np.testing.assert_allclose(np.cov(dx.numpy().T) / dt, cov[0], rtol=0.02, atol=0.01)


def test_compare_to_truth_nd_is_exact_for_a_known_polynomial_reparameterisation():
    """Latent z = k(x) with x = h(z) a polynomial of degree 2 and noise kept diagonal (a map per coordinate)."""
    sde = double_well_2d(sigma=(0.8, 0.5))
    x = simulate(sde, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]).repeat(10, 1), dt=0.01, n_steps=300, seed=3).double()
    a = 0.15
    h = lambda z: torch.stack([z[..., 0] + a * z[..., 0] ** 2, 2.0 * z[..., 1]], -1)  # noqa: E731
    inv = lambda x_: torch.stack([(-1 + torch.sqrt(1 + 4 * a * x_[..., 0])) / (2 * a), x_[..., 1] / 2], -1)  # noqa: E731
    z = inv(x)

    def coefficients(zq):  # the exact latent SDE: f_z = (f_x - 1/2 h'' g_z²) / h', g_z = g_x / h'
        zq = zq.double()
        xq = h(zq)
        d1 = torch.stack([1 + 2 * a * zq[:, 0], torch.full_like(zq[:, 1], 2.0)], -1)
        d2 = torch.stack([torch.full_like(zq[:, 0], 2 * a), torch.zeros_like(zq[:, 1])], -1)
        g_z = sde.diffusion(xq) / d1
        return (sde.drift(xq) - 0.5 * d2 * g_z ** 2) / d1, g_z
    cmp = compare_to_truth_nd(z, x, coefficients, sde, degree=2)
    assert cmp.r2 > 0.999999 and cmp.alignment.inverse_r2.min() > 0.99
    assert cmp.drift_rel < 1e-4 and cmp.diffusion_rel < 1e-4 and cmp.off_diagonal < 1e-6


def test_polynomial_map_derivatives_match_autograd_with_mixed_terms():
    z = torch.randn(300, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    h = lambda v: torch.stack([v[..., 0] + 0.3 * v[..., 0] * v[..., 1] ** 2, v[..., 1] - 0.2 * v[..., 0] ** 2 * v[..., 1]  # noqa: E731
                               + 0.1 * v[..., 0] ** 3], -1)
    m = fit_polynomial_map(z, h(z), degree=3)
    pts = z[:5]
    for i, zi in enumerate(pts):
        jac = torch.autograd.functional.jacobian(h, zi)
        hess = torch.stack([torch.autograd.functional.hessian(lambda v: h(v)[k], zi) for k in range(2)])
        np.testing.assert_allclose(m.jacobian(pts)[i], jac.numpy(), atol=1e-8)
        np.testing.assert_allclose(m.hessian(pts)[i], hess.numpy(), atol=1e-8)


def test_polynomial_map_rejects_bad_input():
    z = torch.randn(100, 2)
    with pytest.raises(ValueError, match="same number of observations"):
        fit_polynomial_map(z, torch.randn(99, 2))
    with pytest.raises(ValueError, match="constant"):
        fit_polynomial_map(torch.cat([z[:, :1], torch.ones(100, 1)], 1), torch.randn(100, 2))
    with pytest.raises(ValueError, match="NaN"):
        fit_polynomial_map(z, torch.full((100, 2), float("nan")))


# --- cores ------------------------------------------------------------------------------------------


def test_attractors_and_cores_of_the_2d_double_well():
    sde = double_well_2d()
    p = simulate(sde, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]).repeat(8, 1), dt=0.01, n_steps=1500, seed=4)
    c = attractors(sde.drift, p.reshape(-1, 2)[::61])
    assert c.shape == (2, 2)
    np.testing.assert_allclose(np.sort(c[:, 0]), [-1.0, 1.0], atol=1e-3)
    np.testing.assert_allclose(c[:, 1], 0.0, atol=1e-3)
    st = core_statistics(p, 0.01, c)
    assert st.radius == pytest.approx(0.5, rel=1e-3)
    assert st.occupation.sum() == pytest.approx(1.0) and st.n_switches > 0
    assert occupation_distance(st, st) == 0.0


def test_core_switches_count_arrivals_in_another_core_with_hysteresis():
    path = torch.tensor([[0.0, 0], [-1, 0], [-0.2, 0], [0.1, 0], [-0.9, 0], [0.3, 0], [1.0, 0], [0.2, 0], [-1, 0]])
    st = core_statistics(path[None], 1.0, np.array([[-1.0, 0.0], [1.0, 0.0]]), radius=0.5)
    assert st.n_switches == 2 and st.total_time == 8.0  # -1 -> +1 -> -1; the excursions to 0.1 and 0.3 are not switches
    with pytest.raises(ValueError, match="centres must have shape"):
        core_statistics(path[None], 1.0, np.zeros((2, 3)))


def test_validate_compares_2d_paths_by_cores():
    sde = double_well_2d()
    p = simulate(sde, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]).repeat(8, 1), dt=0.01, n_steps=1500, seed=5)
    val = validate(sde, p, 0.01, n_paths=32, duration=40.0, max_step=0.005)
    assert val.occupation_tv < 0.15
    assert 0.4 < val.model.rate / val.data.rate < 2.5
    assert "occupation" in str(val)
    far = validate(sde, p[:, :200], 0.01, n_paths=32, max_step=0.005)  # the same window as the data: 2 time units
    assert far.model_time == pytest.approx(1.99) and far.n_model_paths == 32
    with pytest.raises(ValueError, match="window must be"):
        from fimcg.analysis.validation import validate_cores
        validate_cores(sde, p, 0.01, window="long")
    with pytest.raises(ValueError, match="at least two metastable"):
        validate(SDE(lambda x: -x, lambda x: torch.ones_like(x), dim=2), p, 0.01, n_paths=4, duration=1.0)


# --- coarse-graining a 2-D video ------------------------------------------------------------------


@pytest.mark.slow
def test_coarse_grain_two_dimensional_video_recovers_both_coordinates():
    sde = double_well_2d()
    x = simulate(sde, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]).repeat(6, 1), dt=0.01, n_steps=299, seed=6)
    flat = x.reshape(-1, 2)
    rng = [(float(a) - 0.2, float(b) + 0.2) for a, b in zip(flat.min(0).values, flat.max(0).values)]
    frames = fimcg.render_video(x, size=32, noise=0.02, x_range=rng, seed=0)
    res = fimcg.coarse_grain(frames, 0.01, latent_dim=2, estimator=fimcg.least_squares, steps=3, progress=False)
    assert res.latents.shape == x.shape and res.config["n_components"] == 96
    m = fit_polynomial_map(res.latents, x)
    assert m.r2.min() > 0.97
    assert res.sde().dim == 2


def test_autoencoder_components_default_by_latent_dimension():
    from fimcg.coarse_graining.options import AutoencoderConfig, DEFAULT_COMPONENTS
    assert AutoencoderConfig().as_dict(1)["n_components"] == DEFAULT_COMPONENTS[1] == 32
    assert AutoencoderConfig().as_dict(2)["n_components"] == DEFAULT_COMPONENTS[2]
    assert AutoencoderConfig(n_components=40).as_dict(2)["n_components"] == 40


def test_isomap_recovers_both_coordinates_of_a_narrow_two_well_domain():
    """Features of a blob in the plane whose data form two wells joined by a thin, sparsely visited
    neck (the development scene, seed 0): the second coordinate must be the narrow direction, not a
    bend of the first; the sample is the farthest-point one, not a random one."""
    import numpy as np_
    from bench.cases import development_2d_scenes, video_2d_data
    from fimcg.coarse_graining import autoencoder as ae
    x, frames = video_2d_data(development_2d_scenes()[0], 0)
    flat = frames.reshape(-1, 1024)
    pca = ae.FramePCA((32, 32), 96).fit(flat, seed=0)
    feats = pca.project(flat)
    idx, coords = ae.isomap_coordinates(feats, 2)
    assert fit_polynomial_map(coords, x.reshape(-1, 2)[idx]).r2.min() > 0.98
    random = np_.sort(np_.random.default_rng(0).choice(feats.shape[0], 1000, replace=False))
    assert len(np_.intersect1d(idx, random)) < 300  # a different sample than the random one
