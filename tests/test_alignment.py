"""Alignment of a learned latent to the truth, and Itô's formula, against analytic maps."""

import numpy as np
import pytest
import torch

from fimcg.analysis.alignment import aligned_coefficients, fit_alignment, ito_transform, latent_r2


def f_true(x):
    return 4 * x - 4 * x ** 3


def g_true(x):
    return np.sqrt(np.maximum(4 - 1.25 * x ** 2, 0))


# (psi, psi', psi'') for latents z = psi(x); the latent SDE follows from Itô's formula
MAPS = {
    "affine": (lambda x: 2 * x + 1, lambda x: 2 + 0 * x, lambda x: 0 * x),
    "cubic": (lambda x: x + 0.2 * x ** 3, lambda x: 1 + 0.6 * x ** 2, lambda x: 1.2 * x),
    "flip": (lambda x: -x, lambda x: -1 + 0 * x, lambda x: 0 * x),
    "flip_cubic": (lambda x: -x - 0.2 * x ** 3, lambda x: -1 - 0.6 * x ** 2, lambda x: -1.2 * x),
}


@pytest.fixture(scope="module")
def x_samples():
    rng = np.random.default_rng(1)
    return rng.uniform(-1.7, 1.7, size=4000)


@pytest.mark.parametrize("name", list(MAPS))
def test_recovers_true_coefficients_through_known_map(name, x_samples):
    psi, dpsi, d2psi = MAPS[name]
    z = psi(x_samples)
    m = fit_alignment(z, x_samples)
    assert m.r2 > 0.9999
    assert m.sign == (1 if dpsi(0.0) > 0 else -1)

    # latent SDE of z = psi(x) by Itô, written as functions of z via the exact inverse on a fine table
    xs_table = np.linspace(-1.8, 1.8, 20001)
    zs_table = psi(xs_table)
    order = np.argsort(zs_table)

    def x_of(z):
        return np.interp(z, zs_table[order], xs_table[order])

    def drift_z(zl):
        x = x_of(np.asarray(zl)[:, 0])
        return dpsi(x) * f_true(x) + 0.5 * d2psi(x) * g_true(x) ** 2

    def diffusion_z(zl):
        x = x_of(np.asarray(zl)[:, 0])
        return np.abs(dpsi(x)) * g_true(x)

    grid = np.linspace(-1.6, 1.6, 41)
    f_x, g_x = aligned_coefficients(m, drift_z, diffusion_z, grid)
    rms_f = np.sqrt(np.mean(f_true(grid) ** 2))
    rms_g = np.sqrt(np.mean(g_true(grid) ** 2))
    assert np.sqrt(np.mean((f_x - f_true(grid)) ** 2)) / rms_f < 0.02
    assert np.sqrt(np.mean((g_x - g_true(grid)) ** 2)) / rms_g < 0.01


def test_map_and_inverse_and_derivatives_exact_for_affine(x_samples):
    m = fit_alignment(2 * x_samples + 1, x_samples)
    z = np.array([-2.0, 0.3, 3.1])
    np.testing.assert_allclose(m(z), (z - 1) / 2, atol=1e-8)
    np.testing.assert_allclose(m.derivative(z), 0.5, atol=1e-8)
    np.testing.assert_allclose(m.second_derivative(z), 0.0, atol=1e-8)
    np.testing.assert_allclose(m.inverse(np.array([-1.0, 0.0, 1.5])), [-1.0, 1.0, 4.0], atol=1e-7)
    # linear continuation outside the fitted range
    np.testing.assert_allclose(m(np.array([10.0])), [4.5], atol=1e-6)


def test_ito_transform_formula():
    f_x, g_x = ito_transform(np.array([2.0, -1.0]), np.array([0.5, 1.0]), np.array([1.0, 3.0]),
                             np.array([2.0, 0.5]))
    np.testing.assert_allclose(f_x, [2 * 1 + 0.5 * 0.5 * 4, -3 + 0.5 * 0.25])
    np.testing.assert_allclose(g_x, [4.0, 0.5])


def test_r2_drops_with_latent_noise(x_samples):
    rng = np.random.default_rng(2)
    clean = latent_r2(x_samples, x_samples)
    noisy = latent_r2(x_samples + rng.normal(scale=0.3, size=x_samples.shape), x_samples)
    assert clean > 0.99999
    var_x = np.var(x_samples)
    # R² of a noisy latent is close to var/(var + noise²) and clearly below 1
    assert noisy == pytest.approx(var_x / (var_x + 0.09), abs=0.02)
    m = fit_alignment(x_samples + rng.normal(scale=0.05, size=x_samples.shape), x_samples)
    assert m.residual_std == pytest.approx(0.05, rel=0.15)


def test_accepts_torch_and_path_shapes(x_samples):
    x = torch.tensor(x_samples, dtype=torch.float32).reshape(8, 500, 1)
    m = fit_alignment(3 * x, x)
    assert m.r2 > 0.99999


def test_bad_input():
    x = np.linspace(-1, 1, 100)
    with pytest.raises(ValueError, match="same number of points"):
        fit_alignment(x[:50], x)
    with pytest.raises(ValueError, match="z contains 1 NaN"):
        fit_alignment(np.r_[x[:-1], np.nan], x)
    with pytest.raises(ValueError, match="z is constant"):
        fit_alignment(np.ones(100), x)
    with pytest.raises(ValueError, match="at least 10 points"):
        fit_alignment(x[:5], x[:5])
    with pytest.raises(ValueError, match="n_knots"):
        fit_alignment(x, x, n_knots=1)
    with pytest.raises(ValueError, match="one-dimensional"):
        fit_alignment(np.ones((10, 2)), x[:10])
    with pytest.raises(ValueError, match="same shape"):
        ito_transform(np.ones(3), np.ones(3), np.ones(2), np.ones(3))


def test_compare_to_truth_on_an_affine_latent():
    import fimcg
    from fimcg.analysis.alignment import compare_to_truth
    from fimcg.sde.systems import double_well

    sde = double_well()
    x = fimcg.simulate(sde, torch.linspace(-1, 1, 10)[:, None], dt=0.002, n_steps=1000, seed=0)
    z = -3 * x + 2  # a decreasing affine latent: f_z = -3 f, g_z = 3 g at x = (2 - z) / 3
    exact = compare_to_truth(z, x, lambda l: (-3 * sde.drift((2 - l) / 3), 3 * sde.diffusion((2 - l) / 3)), sde)
    assert exact.drift_rel < 1e-5 and exact.diffusion_rel < 1e-5 and exact.r2 > 0.999999
    assert exact.grid.shape == (100,)
    np.testing.assert_allclose(exact.grid[[0, -1]], np.quantile(x.numpy(), [0.02, 0.98]), rtol=1e-6)
    # a latent SDE with twice the true diffusion is reported as 100% off
    wrong = compare_to_truth(z, x, lambda l: (-3 * sde.drift((2 - l) / 3), 6 * sde.diffusion((2 - l) / 3)), sde)
    assert wrong.diffusion_rel == pytest.approx(1.0, abs=1e-4)
    assert set(wrong.as_dict()) == {"r2", "precision_x", "drift_rel", "diffusion_rel"}
