"""Sparse equation discovery and coordinate-free validation statistics."""

import numpy as np
import pytest
import torch

import fimcg
from fimcg.analysis.discovery import PolynomialSDE, discover, discover_from_coefficients
from fimcg.analysis.validation import ks_distance, switching_statistics, validate, well_thresholds
from fimcg.sde.density import stationary_density

torch.set_num_threads(1)


def _reference():
    return fimcg.SDE(lambda x: 4 * x - 4 * x ** 3, lambda x: torch.sqrt(torch.clamp(4 - 1.25 * x ** 2, min=0)))


@pytest.fixture(scope="module")
def ref_paths():
    # 40 paths x 10 time units at the reference step; start spread over both wells
    x0 = torch.linspace(-1.2, 1.2, 40)[:, None]
    return fimcg.simulate(_reference(), x0, dt=0.002, n_steps=5000, seed=3)


def test_discover_recovers_reference_equation(ref_paths):
    m = discover(ref_paths, 0.002)
    c = m.coefficients()
    assert set(c["f"]) == {"x", "x^3"}  # sparsity pattern recovered exactly
    assert set(c["g2"]) == {"1", "x^2"}
    assert c["f"]["x"] == pytest.approx(4.0, abs=0.5)
    assert c["f"]["x^3"] == pytest.approx(-4.0, abs=0.5)
    assert c["g2"]["1"] == pytest.approx(4.0, abs=0.1)
    assert c["g2"]["x^2"] == pytest.approx(-1.25, abs=0.1)
    text = str(m)
    assert text.startswith("f(x) = ") and " x^3" in text and "g(x)^2 = " in text


def test_equation_text_format():
    m = PolynomialSDE(((0,), (1,), (2,), (3,)), ((0,), (1,), (2,)), np.array([[0.0, 3.98, 0.0, -4.01]]),
                      np.array([[4.0, 0.0, -1.25]]))
    assert m.equation() == "f(x) = 3.98 x - 4.01 x^3\ng(x)^2 = 4 - 1.25 x^2"


def test_discovered_sde_simulates_and_clips_diffusion():
    m = PolynomialSDE(((0,), (1,), (2,), (3,)), ((0,), (1,), (2,)), np.array([[0.0, 4.0, 0.0, -4.0]]),
                      np.array([[4.0, 0.0, -1.25]]))
    sde = m.sde()
    x = torch.tensor([[0.0], [1.0], [2.0]])
    torch.testing.assert_close(sde.drift(x), torch.tensor([[0.0], [0.0], [-24.0]]))
    torch.testing.assert_close(sde.diffusion(x), torch.tensor([[2.0], [2.75 ** 0.5], [0.0]]))  # max(p, 0)
    paths = fimcg.simulate(sde, torch.zeros(5, 1), dt=0.01, n_steps=100, seed=0)
    assert paths.shape == (5, 101, 1) and torch.isfinite(paths).all()
    np.testing.assert_allclose(m.drift(np.array([[0.5]])), [[4 * 0.5 - 4 * 0.125]])


def test_discover_from_coefficients_on_grid():
    x = np.linspace(-1.5, 1.5, 60)
    f = 4 * x - 4 * x ** 3 + 0.01 * np.sin(7 * x)  # a small non-polynomial wiggle must be thresholded away
    g = np.sqrt(4 - 1.25 * x ** 2)
    m = discover_from_coefficients(x, f[:, None], g[:, None], weights=np.exp(-x ** 2))
    c = m.coefficients()
    assert set(c["f"]) == {"x", "x^3"} and set(c["g2"]) == {"1", "x^2"}
    assert c["f"]["x^3"] == pytest.approx(-4.0, abs=0.05)
    assert c["g2"]["x^2"] == pytest.approx(-1.25, abs=0.01)


def test_discover_two_dimensional_names():
    gen = torch.Generator().manual_seed(0)
    sde = fimcg.SDE(lambda x: -x, lambda x: torch.ones_like(x), dim=2)
    paths = fimcg.simulate(sde, torch.randn(50, 2, generator=gen), dt=0.01, n_steps=2000, seed=1)
    m = discover(paths, 0.01, drift_degree=1, diffusion_degree=0)
    assert m.dim == 2
    np.testing.assert_allclose(m.drift_coef[0], [0.0, -1.0, 0.0], atol=0.15)
    np.testing.assert_allclose(m.drift_coef[1], [0.0, 0.0, -1.0], atol=0.15)
    assert "f_1(x) = " in str(m) and "x2" in str(m)


def test_switching_rate_of_reference_in_known_range(ref_paths):
    st = switching_statistics(ref_paths, 0.002, thresholds=(-0.5, 0.5))
    assert st.total_time == pytest.approx(400.0)
    # about 7 switches per 10 time units for the reference system (hysteresis at +-0.5)
    assert 0.5 < st.rate < 0.9
    assert 1.0 < st.mfpt < 2.0


def test_switching_counts_exactly_on_constructed_path():
    # low well, excursion to the barrier (not a switch), high well, low well again
    x = np.array([-1, -0.6, 0.0, 0.3, -0.7, 0.2, 0.8, 1.0, 0.1, -0.9, -1.0])
    st = switching_statistics(x[None, :, None], 0.5, thresholds=(-0.5, 0.5))
    assert st.n_switches == 2
    assert st.mfpt == pytest.approx((9 - 6) * 0.5)  # arrived high at index 6, low at index 9
    assert st.total_time == pytest.approx(5.0)
    # invariant under a monotone change of coordinates with the thresholds mapped alongside
    y = np.exp(x)
    st2 = switching_statistics(y[None, :, None], 0.5, thresholds=(np.exp(-0.5), np.exp(0.5)))
    assert st2.n_switches == st.n_switches and st2.mfpt == st.mfpt


def test_well_thresholds_of_double_well():
    lo, hi = well_thresholds(_reference().drift, -1.7, 1.7)
    assert lo == pytest.approx(-0.5, abs=0.01) and hi == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="stable fixed point"):
        well_thresholds(lambda x: -x, -2, 2)


def test_ks_distance_invariant_and_sensitive():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=3000), rng.normal(size=3000)
    assert ks_distance(a, b) < 0.05
    assert ks_distance(a, b + 0.5) > 0.15
    assert ks_distance(np.exp(a), np.exp(b)) == pytest.approx(ks_distance(a, b))


def test_stationary_density_matches_histogram(ref_paths):
    sde = _reference()
    grid = np.linspace(-1.78, 1.78, 400)
    p = stationary_density(sde, torch.as_tensor(grid)).numpy()  # numpy in, numpy out
    mean_x2 = np.trapezoid(grid ** 2 * p, grid)
    assert np.sqrt(mean_x2) == pytest.approx(0.96, abs=0.03)  # std(x) of the reference system


def test_validate_true_model_is_consistent(ref_paths):
    v = validate(_reference(), ref_paths[:, ::5], 0.01, duration=20.0, n_paths=100)
    assert v.ks < 0.1
    assert v.model.rate == pytest.approx(v.data.rate, rel=0.35)
    # a model with too little noise crosses the barrier far less often
    slow = fimcg.SDE(lambda x: 4 * x - 4 * x ** 3, lambda x: torch.sqrt(torch.clamp(1.6 - 0.5 * x ** 2, min=0)))
    v2 = validate(slow, ref_paths[:, ::5], 0.01, duration=20.0, n_paths=100, thresholds=(-0.5, 0.5))
    assert v2.model.rate < 0.6 * v2.data.rate
    assert "switches per unit t" in str(v)


def test_bad_input():
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        discover(torch.zeros(2, 10, 1) + torch.arange(10.0)[None, :, None], 0.0)
    with pytest.raises(ValueError, match="do not move"):
        discover(torch.zeros(2, 10, 1), 0.1)
    with pytest.raises(ValueError, match="paths contains 1 NaN"):
        discover(torch.tensor([[0.0, 1.0, float("nan")]]), 0.1)
    with pytest.raises(ValueError, match="drift_degree must be <= 8"):
        discover(torch.randn(2, 10, 1), 0.1, drift_degree=12)
    with pytest.raises(ValueError, match="thresholds must be finite with low < high"):
        switching_statistics(np.zeros((1, 5, 1)), 0.1, thresholds=(1.0, -1.0))
    with pytest.raises(ValueError, match="shape"):
        discover_from_coefficients(np.linspace(0, 1, 10), np.zeros(9), np.zeros(10))
    with pytest.raises(ValueError, match="weights"):
        discover_from_coefficients(np.linspace(0, 1, 10), np.zeros(10), np.ones(10), weights=-np.ones(10))


def test_the_library_is_the_estimators_monomial_basis():
    """One monomial basis for discovery and the estimators: same terms, same order, same bits."""
    from fimcg.analysis.discovery import polynomial_library
    from fimcg.estimators.bases import monomial_exponents, polynomial_features

    x = torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    exps = monomial_exponents(2, 4)
    assert exps[:4] == [(0, 0), (1, 0), (0, 1), (2, 0)] and len(exps) == 15
    np.testing.assert_array_equal(polynomial_library(x.numpy(), exps), polynomial_features(x, 4).numpy())
