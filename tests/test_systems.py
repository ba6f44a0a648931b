"""The systems catalogue: formulas, potentials, registry, stationary densities, bad parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from fimcg import SDE, simulate, systems
from fimcg.sde.systems import get_system, list_systems
from fimcg.sde.density import stationary_density

REQUIRED = {"double_well", "double_well_constant", "double_well_soft", "ornstein_uhlenbeck",
            "polynomial_potential", "tanh_double_well", "periodic_well", "double_well_2d", "mueller_brown"}


def test_registry_lists_every_system_sorted():
    names = list_systems()
    assert names == sorted(names)
    assert REQUIRED <= set(names)


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_system_maps_batches_to_batches(name, dtype):
    sde = get_system(name)
    assert isinstance(sde, SDE) and sde.name == name
    x = 0.4 * torch.randn(7, sde.dim, dtype=dtype)
    f, g = sde.f(x), sde.g(x)
    assert f.shape == x.shape and g.shape == x.shape
    assert f.dtype == dtype and g.dtype == dtype
    assert torch.isfinite(f).all() and (g >= 0).all()
    # (..., d) inputs: an extra leading axis works too
    assert sde.f(x[None]).shape == (1, 7, sde.dim)
    # the recorded params rebuild the same system
    again = get_system(name, **sde.params)
    assert torch.allclose(again.f(x), f) and torch.allclose(again.g(x), g)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_drift_is_minus_the_gradient_of_the_potential(name):
    sde = get_system(name)
    assert sde.potential is not None
    x = (0.5 * torch.randn(11, sde.dim, dtype=torch.float64)).requires_grad_(True)
    u = sde.potential(x)
    assert u.shape == (11,)
    (grad,) = torch.autograd.grad(u.sum(), x)
    assert torch.allclose(sde.f(x.detach()), -grad, atol=1e-8, rtol=1e-8)


def test_reference_double_well_formulas():
    sde = systems.double_well()
    assert sde.params == {"alpha": 4.0, "beta": 4.0, "g1": 4.0, "g2": 1.25}
    x = torch.tensor([[0.0], [0.5], [1.0], [-1.0], [math.sqrt(4 / 1.25)], [2.0]], dtype=torch.float64)
    assert torch.allclose(sde.f(x)[:, 0], 4 * x[:, 0] - 4 * x[:, 0] ** 3)
    assert sde.f(x)[2, 0] == 0 and sde.f(x)[3, 0] == 0  # wells at +-1
    g = sde.g(x)[:, 0]
    assert g[0] == pytest.approx(2.0)
    assert g[1] == pytest.approx(math.sqrt(4 - 1.25 * 0.25))
    assert g[4] == pytest.approx(0.0, abs=1e-7) and g[5] == 0.0  # zero at and beyond |x| = 1.789


def test_soft_double_well_formulas():
    sde = systems.double_well_soft()
    x = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    assert sde.f(x)[:, 0].tolist() == pytest.approx([0.0, 0.0, 3 - 27])
    assert sde.g(x)[:, 0].tolist() == pytest.approx([1.1, math.sqrt(0.75) + 0.1, 0.1])


def test_non_polynomial_systems():
    t = systems.tanh_double_well(a=1.5, b=2.0, c=1.0, sigma=0.7)
    x = torch.tensor([[0.3]], dtype=torch.float64)
    assert float(t.f(x)) == pytest.approx(1.5 * math.tanh(0.6) - 0.3)
    assert float(t.g(x)) == pytest.approx(0.7)
    p = systems.periodic_well(kappa=0.5, a=1.0, k=3.0, sigma=1.0, modulation=0.5)
    assert float(p.f(x)) == pytest.approx(-0.15 - math.sin(0.9))
    assert float(p.g(x)) == pytest.approx(1 + 0.5 * math.cos(0.3))


def test_polynomial_potential_tilt_and_semicircle():
    sde = systems.polynomial_potential(coeffs=(0, 0, -2, 0, 1), tilt=0.3)
    x = torch.tensor([[0.7]], dtype=torch.float64)
    assert float(sde.f(x)) == pytest.approx(-(4 * 0.7 ** 3 - 4 * 0.7) + 0.3)
    semi = systems.polynomial_potential(semicircle=(4.0, 1.25))
    assert float(semi.g(torch.tensor([[0.0]]))) == pytest.approx(2.0)
    assert semi.params["semicircle"] == [4.0, 1.25]


def test_mueller_brown_has_its_classic_minimum():
    sde = systems.mueller_brown(scale=1.0)
    x = torch.tensor([[-0.558, 1.442]], dtype=torch.float64)
    assert float(sde.potential(x)) == pytest.approx(-146.70, abs=0.05)
    # a local minimum: the drift nearly vanishes there (the quoted coordinates have 3 decimals)
    assert float(sde.f(x).norm()) < 1.0
    assert float(systems.mueller_brown(scale=0.05).potential(x)) == pytest.approx(-146.70 * 0.05, abs=0.01)


# ---------------------------------------------------------------------------------------------------
# stationary density
# ---------------------------------------------------------------------------------------------------

def test_ou_stationary_density_is_gaussian():
    sde = systems.ornstein_uhlenbeck(theta=2.0, mu=0.5, sigma=0.6)
    x = torch.linspace(-1.0, 2.0, 31, dtype=torch.float64)
    var = 0.36 / 4
    exact = torch.exp(-(x - 0.5) ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)
    assert torch.allclose(stationary_density(sde, x), exact, rtol=1e-4, atol=1e-7)


def test_constant_diffusion_double_well_density_is_boltzmann():
    sde = systems.double_well_constant(alpha=4.0, beta=4.0, sigma=1.2)
    u = lambda x: x ** 4 - 2 * x ** 2  # noqa: E731
    z, _ = integrate.quad(lambda x: math.exp(-2 * u(x) / 1.44), -5, 5)
    x = np.linspace(-2, 2, 21)
    exact = np.exp(-2 * u(x) / 1.44) / z
    got = stationary_density(sde, torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, exact, rtol=1e-4, atol=1e-8)


def test_semicircle_density_is_normalised_symmetric_and_zero_outside_the_support():
    sde = systems.double_well()
    edge = math.sqrt(4 / 1.25)
    x = torch.linspace(-2.5, 2.5, 50001, dtype=torch.float64)
    p = stationary_density(sde, x)
    assert float(torch.trapezoid(p, x)) == pytest.approx(1.0, abs=1e-4)
    assert torch.allclose(p, p.flip(0), atol=1e-6)
    assert (p[x.abs() > edge] == 0).all()
    assert (p >= 0).all()
    # maxima near the wells at +-1 (g^2 shifts them slightly outwards), minimum at the barrier
    xm = float(x[int(torch.argmax(p))])
    assert 0.9 < abs(xm) < 1.2
    assert float(stationary_density(sde, torch.tensor([0.0]))) < float(p.max()) / 2


def test_semicircle_density_matches_the_formula_inside_the_support():
    sde = systems.double_well()
    # p ∝ exp(∫ 2f/g^2) / g^2 with f = 4x - 4x^3, g^2 = 4 - 1.25 x^2, integrated by quad from 0
    def unnorm(x):
        phi, _ = integrate.quad(lambda y: 2 * (4 * y - 4 * y ** 3) / (4 - 1.25 * y ** 2), 0, x)
        return math.exp(phi) / (4 - 1.25 * x ** 2)
    z, _ = integrate.quad(unnorm, -1.78, 1.78, limit=200)
    xs = np.array([-1.5, -1.0, -0.3, 0.0, 0.8, 1.6])
    exact = np.array([unnorm(v) for v in xs]) / z
    np.testing.assert_allclose(stationary_density(sde, torch.as_tensor(xs)).numpy(), exact, rtol=2e-3)


def test_tilted_polynomial_potential_puts_more_mass_in_the_deeper_well():
    sde = systems.polynomial_potential(coeffs=(0, 0, -2, 0, 1), tilt=0.3, sigma=1.0)
    x = torch.linspace(-3, 3, 6001, dtype=torch.float64)
    p = stationary_density(sde, x)
    right = float(torch.trapezoid(p[x > 0], x[x > 0]))
    assert right > 0.6


def test_method_shorthand_and_shapes():
    sde = systems.double_well_soft()
    x = torch.linspace(-2, 2, 9)
    a = sde.stationary_density(x)
    b = stationary_density(sde, x[:, None])
    assert a.shape == (9,) and a.dtype == torch.float32
    assert torch.equal(a, b)


def test_explicit_domain():
    sde = systems.ornstein_uhlenbeck()
    x = torch.tensor([0.0], dtype=torch.float64)
    auto = stationary_density(sde, x)
    manual = stationary_density(sde, x, domain=(-10, 10), n_grid=40001)
    assert float(auto) == pytest.approx(float(manual), rel=1e-5)
    assert float(auto) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-5)


def test_narrow_and_wide_densities_are_resolved():
    narrow = systems.ornstein_uhlenbeck(theta=1.0, sigma=0.01)  # std 0.007
    wide = systems.ornstein_uhlenbeck(theta=0.01, sigma=1.0)  # std 7.07
    for sde, std in ((narrow, 0.01 / math.sqrt(2)), (wide, 1 / math.sqrt(0.02))):
        x = torch.tensor([0.0, std], dtype=torch.float64)
        p = stationary_density(sde, x)
        peak = 1 / (math.sqrt(2 * math.pi) * std)
        assert p.tolist() == pytest.approx([peak, peak * math.exp(-0.5)], rel=1e-4)


# ---------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------

def test_unknown_system_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown system 'double_wel'; valid names: double_well, "):
        get_system("double_wel")


def test_unknown_parameter_lists_valid_parameters():
    with pytest.raises(ValueError, match=r"system 'double_well' has no parameter\(s\) 'sigma'; "
                                         r"its parameters are: alpha, beta, g1, g2"):
        get_system("double_well", sigma=1.0)


@pytest.mark.parametrize("factory, kwargs, match", [
    (systems.double_well, {"g1": 0.0}, "g1 must be finite and > 0"),
    (systems.double_well, {"g2": -1.0}, "g2 must be >= 0"),
    (systems.double_well, {"alpha": math.nan}, "alpha must be finite"),
    (systems.double_well_constant, {"sigma": -1.0}, "sigma must be finite and > 0"),
    (systems.ornstein_uhlenbeck, {"theta": 0.0}, "theta must be finite and > 0"),
    (systems.ornstein_uhlenbeck, {"dim": 4}, "dim must be 1, 2 or 3, got 4"),
    (systems.polynomial_potential, {"coeffs": (1.0,)}, "coeffs must hold at least 2 finite numbers"),
    (systems.polynomial_potential, {"coeffs": (0.0, math.inf)}, "coeffs must hold at least 2 finite numbers"),
    (systems.polynomial_potential, {"semicircle": (4.0, -1.0)}, r"semicircle\[1\] \(g2\) must be >= 0"),
    (systems.periodic_well, {"modulation": 1.0}, r"modulation must be in \[0, 1\)"),
    (systems.tanh_double_well, {"b": 0.0}, "b must be finite and > 0"),
    (systems.double_well_2d, {"sigma": (1.0, 2.0, 3.0)}, "sigma must be a number or a pair"),
    (systems.mueller_brown, {"scale": -0.1}, "scale must be finite and > 0"),
])
def test_bad_parameters(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_bad_parameter_type():
    with pytest.raises(TypeError, match="alpha must be a number, got 'four'"):
        systems.double_well(alpha="four")


def test_stationary_density_bad_input():
    with pytest.raises(ValueError, match="needs a 1-D SDE; 'double_well_2d' has dim=2"):
        stationary_density(systems.double_well_2d(), torch.zeros(3))
    with pytest.raises(ValueError, match=r"x contains 1 NaN/inf"):
        stationary_density(systems.double_well(), torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match=r"x must have shape \(G,\) or \(G, 1\)"):
        stationary_density(systems.double_well(), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="domain must be finite with lo < hi"):
        stationary_density(systems.double_well(), torch.zeros(3), domain=(1.0, -1.0))
    with pytest.raises(TypeError, match="sde must be a fimcg.SDE"):
        stationary_density("double_well", torch.zeros(3))


def test_stationary_density_of_a_free_particle_is_not_normalisable():
    free = SDE(drift=lambda x: torch.zeros_like(x), diffusion=lambda x: torch.ones_like(x), name="free")
    with pytest.raises(ValueError, match="does not decay within"):
        stationary_density(free, torch.zeros(3))


def test_paths_from_wells_start_alternately_in_the_wells():
    sde = systems.double_well()
    paths = systems.paths_from_wells(sde, n_paths=5, n_obs=30, dt=0.01, substeps=5, seed=3)
    assert paths.shape == (5, 30, 1) and paths.dtype == torch.float32
    torch.testing.assert_close(paths[:, 0, 0], torch.tensor([-1.0, 1.0, -1.0, 1.0, -1.0]))
    x0 = torch.tensor([[-1.0], [1.0], [-1.0], [1.0], [-1.0]])
    again = simulate(sde, x0, dt=0.01, n_steps=29, substeps=5, seed=3)
    assert torch.equal(paths, again)  # exactly fimcg.simulate from those starts
    with pytest.raises(ValueError, match="n_obs must be >= 2"):
        systems.paths_from_wells(sde, n_paths=2, n_obs=1, dt=0.01)
    with pytest.raises(ValueError, match="n_paths must be >= 1"):
        systems.paths_from_wells(sde, n_paths=0, n_obs=10, dt=0.01)
