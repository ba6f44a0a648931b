"""Classic estimators: recovery of known f and g, per-path increments, empty regions, gradients, bad input."""

from __future__ import annotations

import math

import pytest
import torch

import fimcg
from fimcg import estimators as E
from fimcg import simulate, systems
from fimcg.analysis.metrics import occupied_grid, sde_errors

ALL = [E.binned_km, E.local_linear, E.least_squares]


@pytest.fixture(scope="module")
def reference_estimates(reference_paths):
    grid = occupied_grid(reference_paths)
    return grid, {fn.__name__: fn(reference_paths, 0.002, grid) for fn in ALL}


@pytest.mark.parametrize("name, drift_tol, diff_tol", [
    ("binned_km", 0.25, 0.02), ("local_linear", 0.2, 0.02), ("least_squares", 0.15, 0.01)])
def test_recover_the_reference_double_well(reference_estimates, name, drift_tol, diff_tol):
    """400k increments (200 paths x T = 4): relative errors well below the functions' size.

    Measured on 5 seeds: drift 0.11-0.14 / 0.08-0.13 / 0.04-0.09, diffusion <= 0.006 (KM / LL / LS).
    """
    grid, est = reference_estimates
    drift, diffusion = est[name]
    assert drift.shape == grid.shape and diffusion.shape == grid.shape
    errs = sde_errors(systems.double_well(), grid, drift, diffusion)
    assert errs["drift_rel"] < drift_tol, errs
    assert errs["diffusion_rel"] < diff_tol, errs


@pytest.mark.parametrize("fn, drift_tol", [(E.binned_km, 0.4), (E.local_linear, 0.35), (E.least_squares, 0.15)])
def test_recover_ou_in_two_dimensions(fn, drift_tol):
    """Measured on 4 seeds: drift 0.28-0.31 / 0.21-0.25 / 0.06-0.08, diffusion < 0.021."""
    sde = systems.ornstein_uhlenbeck(theta=2.0, sigma=0.7, dim=2)
    paths = simulate(sde, 0.5 * torch.randn(200, 2), dt=0.01, n_steps=1000, seed=3)
    grid = occupied_grid(paths, n=6, lo=0.05, hi=0.95)
    drift, diffusion = fn(paths, 0.01, grid, **({"n_bins": 8} if fn is E.binned_km else {}))
    errs = sde_errors(sde, grid, drift, diffusion)
    assert errs["drift_rel"] < drift_tol, errs
    assert errs["diffusion_rel"] < 0.035, errs


@pytest.mark.parametrize("fn", ALL)
def test_increments_never_cross_path_boundaries(fn):
    """Many short OU paths from scattered starts: gluing them would create jumps of size ~1.

    The same data as one concatenated path gives a diffusion error orders of magnitude larger,
    which shows the check has teeth.
    """
    sde = systems.ornstein_uhlenbeck(theta=1.0, sigma=0.3)
    gen = torch.Generator().manual_seed(0)
    x0 = 4 * torch.rand(2000, 1, generator=gen) - 2
    paths = simulate(sde, x0, dt=0.01, n_steps=20, seed=1)
    grid = torch.linspace(-1.5, 1.5, 30)[:, None]
    kw = {"n_bins": 15} if fn is E.binned_km else {}
    drift, diffusion = fn(paths, 0.01, grid, **kw)
    errs = sde_errors(sde, grid, drift, diffusion)
    assert errs["diffusion_rel"] < 0.05, errs
    assert errs["drift_rel"] < 0.25, errs
    glued = paths.reshape(1, -1, 1)
    drift_g, diffusion_g = fn(glued, 0.01, grid, **kw)
    assert sde_errors(sde, grid, drift_g, diffusion_g)["diffusion_rel"] > 10 * errs["diffusion_rel"]


def test_increments_helper():
    paths = torch.tensor([[[0.0], [1.0], [3.0]], [[10.0], [10.5], [9.5]]])
    x, dx = E.increments(paths)
    assert x[:, 0].tolist() == [0.0, 1.0, 10.0, 10.5]
    assert dx[:, 0].tolist() == [1.0, 2.0, 0.5, -1.0]


def test_binned_km_matches_a_hand_computation():
    # 1 path, states in two bins of [0, 2): bin 0 holds x = 0.5 (twice), bin 1 holds x = 1.5 (twice)
    paths = torch.tensor([[[0.5], [1.5], [0.5], [1.5], [1.9]]], dtype=torch.float64)
    dt = 0.1
    loc = torch.tensor([[0.5], [1.5]], dtype=torch.float64)
    drift, diffusion = E.binned_km(paths, dt, loc, n_bins=2, bin_range=(0.0, 2.0), min_count=2)
    # bin 0 increments: +1, +1 -> mean 1, var 0; bin 1 increments: -1, +0.4 -> mean -0.3, var 0.98
    assert drift[:, 0].tolist() == pytest.approx([1.0 / dt, -0.3 / dt])
    assert diffusion[:, 0].tolist() == pytest.approx([0.0, math.sqrt(0.98 / dt)])
    # between the centres the 1-D estimate is interpolated linearly
    mid, _ = E.binned_km(paths, dt, torch.tensor([[1.0]], dtype=torch.float64), n_bins=2,
                         bin_range=(0.0, 2.0), min_count=2)
    assert float(mid) == pytest.approx((10.0 - 3.0) / 2)


def test_diffusion_is_drift_corrected():
    """Pure drift, no noise: the raw second moment is f^2 dt > 0, the estimators give g = 0."""
    sde = systems.ornstein_uhlenbeck(theta=2.0, sigma=1e-8)
    paths = simulate(sde, torch.linspace(-2, 2, 50)[:, None], dt=0.01, n_steps=50, seed=0)
    grid = torch.linspace(-1, 1, 11)[:, None]
    for fn in ALL:
        drift, diffusion = fn(paths, 0.01, grid)
        assert float(diffusion.max()) < 0.01, fn.__name__
        assert float((drift - sde.f(grid)).abs().max()) < 0.1, fn.__name__


# ---------------------------------------------------------------------------------------------------
# regions without data
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_clusters():
    """Narrow OU clusters at -1 and +1: nothing near 0 or beyond +-1.5."""
    a = simulate(systems.ornstein_uhlenbeck(theta=5.0, mu=-1.0, sigma=0.3), torch.full((20, 1), -1.0),
                 dt=0.01, n_steps=300, seed=0)
    b = simulate(systems.ornstein_uhlenbeck(theta=5.0, mu=1.0, sigma=0.3), torch.full((20, 1), 1.0),
                 dt=0.01, n_steps=300, seed=1)
    return torch.cat([a, b])


@pytest.mark.parametrize("fn, kw", [(E.binned_km, {"n_bins": 40}), (E.local_linear, {"bandwidth": 0.05})])
def test_empty_nan_marks_exactly_the_places_without_data(two_clusters, fn, kw):
    loc = torch.tensor([[-1.0], [0.0], [1.0], [5.0]])
    drift, diffusion = fn(two_clusters, 0.01, loc, empty="nan", **kw)
    assert torch.isnan(drift[[1, 3]]).all() and torch.isnan(diffusion[[1, 3]]).all()
    assert torch.isfinite(drift[[0, 2]]).all() and torch.isfinite(diffusion[[0, 2]]).all()
    # at the cluster centres the drift is ~ 0 and g ~ 0.3 in both modes
    assert float(diffusion[0]) == pytest.approx(0.3, rel=0.1)


@pytest.mark.parametrize("fn, kw", [(E.binned_km, {"n_bins": 40}), (E.local_linear, {"bandwidth": 0.05})])
def test_empty_fill_interpolates_between_supported_places(two_clusters, fn, kw):
    loc = torch.tensor([[-0.6], [0.0], [0.6], [5.0]])
    nan_d, nan_g = fn(two_clusters, 0.01, loc, empty="nan", **kw)
    drift, diffusion = fn(two_clusters, 0.01, loc, **kw)
    assert torch.isfinite(drift).all() and torch.isfinite(diffusion).all()
    if fn is E.local_linear:
        # fill uses the other query locations with data: 0 lies halfway between -0.6 and 0.6,
        # and 5.0 beyond the last one takes its value
        assert torch.isfinite(nan_d[[0, 2]]).all()
        assert float(drift[1]) == pytest.approx(float(nan_d[0] + nan_d[2]) / 2, rel=1e-5, abs=1e-5)
        assert float(drift[3]) == pytest.approx(float(nan_d[2]), rel=1e-6)
    else:
        # fill interpolates between the nearest populated bins: the value at 0 lies between
        # the estimates on both sides of the gap
        lo, hi = sorted([float(drift[0]), float(drift[2])])
        assert lo - 1e-6 <= float(drift[1]) <= hi + 1e-6


def test_no_supported_location_is_a_clear_error(two_clusters):
    with pytest.raises(ValueError, match="no query location has enough data nearby"):
        E.local_linear(two_clusters, 0.01, torch.tensor([[50.0]]), bandwidth=0.05)


# ---------------------------------------------------------------------------------------------------
# gradients, dtypes
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, kw", [(E.binned_km, {"bin_range": (-3.0, 3.0), "n_bins": 4, "min_count": 2}),
                                    (E.local_linear, {"bandwidth": 0.8, "min_count": 2}),
                                    (E.least_squares, {"drift_basis": 2, "diff2_basis": 1})])
def test_gradients_with_respect_to_paths(fn, kw):
    paths = (0.5 * torch.randn(3, 12, 1, dtype=torch.float64)).cumsum(1).clamp(-2.5, 2.5).requires_grad_(True)
    loc = torch.tensor([[-0.5], [0.2], [0.9]], dtype=torch.float64)

    def out(p):
        drift, diffusion = fn(p, 0.1, loc, **kw)
        return torch.cat([drift, diffusion], dim=1)

    assert torch.autograd.gradcheck(out, (paths,), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradients_are_finite_where_the_diffusion_is_zero():
    paths = torch.linspace(0, 1, 10)[None, :, None].repeat(2, 1, 1).requires_grad_(True)  # constant increments
    drift, diffusion = E.local_linear(paths, 0.1, torch.tensor([[0.5]]), bandwidth=0.3, min_count=2)
    assert float(diffusion.detach()) == pytest.approx(0.0, abs=1e-3)
    (drift.sum() + diffusion.sum()).backward()
    assert torch.isfinite(paths.grad).all()


@pytest.mark.parametrize("fn", ALL)
def test_dtype_and_flat_inputs(fn):
    paths = torch.randn(4, 50, dtype=torch.float64).cumsum(1) * 0.1  # (n_paths, T): 1-D states
    drift, diffusion = fn(paths, 0.01, torch.linspace(-0.2, 0.2, 5, dtype=torch.float64), min_count=1) \
        if fn is not E.least_squares else fn(paths, 0.01, torch.linspace(-0.2, 0.2, 5, dtype=torch.float64))
    assert drift.shape == (5, 1) and drift.dtype == torch.float64 and diffusion.dtype == torch.float64


def test_least_squares_with_a_callable_basis_is_exact_in_class():
    """Drift -x and g^2 = 0.5 from a linear basis: the fit is close to the truth everywhere."""
    sde = systems.ornstein_uhlenbeck(theta=1.0, sigma=math.sqrt(0.5))
    paths = simulate(sde, torch.randn(200, 1), dt=0.01, n_steps=500, seed=2)
    loc = torch.tensor([[-3.0], [0.0], [3.0]])  # far outside the data too: a parametric fit extrapolates
    drift, diffusion = E.least_squares(paths, 0.01, loc, drift_basis=lambda x: x,
                                       diff2_basis=lambda x: torch.ones_like(x))
    assert drift[:, 0].tolist() == pytest.approx([3.0, 0.0, -3.0], abs=0.25)
    assert diffusion[:, 0].tolist() == pytest.approx([math.sqrt(0.5)] * 3, rel=0.01)


def test_polynomial_features_order():
    x = torch.tensor([[2.0, 3.0]])
    assert E.polynomial_features(x, 2)[0].tolist() == [1.0, 2.0, 3.0, 4.0, 6.0, 9.0]
    assert E.polynomial_features(torch.tensor([[2.0]]), 3)[0].tolist() == [1.0, 2.0, 4.0, 8.0]


def test_default_bandwidth_follows_the_rule_of_thumb():
    x = torch.randn(100_000, 1, dtype=torch.float64)
    h = E.default_bandwidth(x)
    assert float(h) == pytest.approx(1.5 * 100_000 ** -0.2, rel=0.03)


def test_get_estimator():
    assert E.get_estimator("local_linear") is E.local_linear
    with pytest.raises(ValueError, match="unknown estimator 'kde'; valid: binned_km, local_linear, least_squares"):
        E.get_estimator("kde")


# ---------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------

GOOD = torch.zeros(2, 10, 1) + torch.linspace(0, 1, 10)[None, :, None]


@pytest.mark.parametrize("fn", ALL)
def test_common_bad_input(fn):
    loc = torch.zeros(3, 1)
    bad = GOOD.clone()
    bad[1, 4, 0] = math.nan
    with pytest.raises(ValueError, match=r"paths contains 1 NaN/inf value\(s\); first at index \(1, 4, 0\)"):
        fn(bad, 0.1, loc)
    with pytest.raises(ValueError, match=r"paths needs at least 2 observations per path; got T=1"):
        fn(GOOD[:, :1], 0.1, loc)
    with pytest.raises(ValueError, match="dt must be finite and > 0, got -0.1"):
        fn(GOOD, -0.1, loc)
    with pytest.raises(ValueError, match="dt must be finite and > 0, got 0"):
        fn(GOOD, 0, loc)
    with pytest.raises(ValueError, match=r"locations has d=2 but the paths have d=1"):
        fn(GOOD, 0.1, torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"locations contains 1 NaN/inf"):
        fn(GOOD, 0.1, torch.tensor([[0.0], [math.inf]]))
    with pytest.raises(ValueError, match=r"paths must have shape \(n_paths, T, d\); got 4 dimensions"):
        fn(torch.zeros(2, 3, 4, 1), 0.1, loc)
    # steps between observations
    with pytest.raises(ValueError, match=r"dt must be a number or the steps between observations, shape \(9,\) "
                                         r"or \(2, 9\) .*got shape \(2, 10\)"):
        fn(GOOD, torch.full((2, 10), 0.1), loc)
    steps = torch.full((2, 9), 0.1)
    steps[1, 3] = 0.0
    with pytest.raises(ValueError, match="dt must hold finite steps > 0"):
        fn(GOOD, steps, loc)


def _irregular(sde, n_paths: int, n_obs: int, *, fine_dt: float, seed: int, slow: bool = False):
    """Paths observed at irregular times: gaps of 1 to 7 fine steps (the same for every path), or
    with ``slow`` the second half of the paths observed 5x less often than the first."""
    gen = torch.Generator().manual_seed(seed)
    if slow:
        fine = simulate(sde, torch.randn(n_paths, 1, generator=gen), dt=fine_dt, n_steps=5 * (n_obs - 1), seed=seed)
        h = n_paths // 2
        paths = torch.cat([fine[:h, :n_obs], fine[h:, ::5]])
        steps = torch.cat([torch.full((h, n_obs - 1), fine_dt), torch.full((n_paths - h, n_obs - 1), 5 * fine_dt)])
        return paths, steps
    gaps = torch.randint(1, 8, (n_obs - 1,), generator=gen)
    idx = torch.cat([torch.zeros(1, dtype=torch.long), gaps.cumsum(0)])
    fine = simulate(sde, torch.randn(n_paths, 1, generator=gen), dt=fine_dt, n_steps=int(idx[-1]), seed=seed)
    return fine[:, idx], gaps.to(torch.float32) * fine_dt


@pytest.mark.parametrize("fn", ALL)
def test_equal_steps_give_the_regular_estimate(fn):
    paths = simulate(systems.double_well(), torch.zeros(3, 1), dt=0.01, n_steps=300, seed=2)
    loc = torch.linspace(-1, 1, 7)
    regular = fn(paths, 0.01, loc)
    for steps in (torch.full((300,), 0.01), torch.full((3, 300), 0.01)):
        for a, b in zip(fn(paths, steps, loc), regular):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fn, drift_tol", [(E.binned_km, 0.4), (E.local_linear, 0.4), (E.least_squares, 0.3)])
@pytest.mark.parametrize("slow", [False, True])
def test_irregular_steps_recover_drift_and_diffusion(fn, drift_tol, slow):
    """An Ornstein-Uhlenbeck process seen at irregular times (gaps of 1 to 7 fine steps, or half of
    the paths seen 5x less often). Measured on seeds 6-8: drift 0.09-0.35 (the least-squares fit
    is a cubic), diffusion <= 0.022."""
    sde = systems.ornstein_uhlenbeck(theta=1.0, sigma=0.8)
    paths, steps = _irregular(sde, 40, 400, fine_dt=0.004, seed=7, slow=slow)
    grid = occupied_grid(paths, n=12, lo=0.05, hi=0.95)
    errs = sde_errors(sde, grid, *fn(paths, steps, grid, **({"n_bins": 12} if fn is E.binned_km else {})))
    assert errs["drift_rel"] < drift_tol, errs
    assert errs["diffusion_rel"] < 0.04, errs


@pytest.mark.parametrize("fn, kw", [(E.binned_km, {"n_bins": 1}), (E.least_squares, {"drift_basis": 0, "diff2_basis": 0})])
def test_irregular_steps_weigh_increments_by_their_step(fn, kw):
    """One bin / a constant drift: f = sum dX / sum dt, g^2 = sum (dX - f dt)^2 / sum dt (times
    n / (n - 1) for the bin's unbiased variance)."""
    gen = torch.Generator().manual_seed(0)
    paths = torch.randn(2, 30, 1, generator=gen, dtype=torch.float64).cumsum(dim=1)
    steps = 0.01 + 0.05 * torch.rand(2, 29, generator=gen, dtype=torch.float64)
    dx = (paths[:, 1:] - paths[:, :-1])[..., 0]
    f = dx.sum() / steps.sum()
    g2 = ((dx - f * steps) ** 2).sum() / steps.sum() * (58 / 57 if fn is E.binned_km else 1.0)
    drift, diffusion = fn(paths, steps, torch.zeros(1, 1, dtype=torch.float64), **kw)
    assert float(drift) == pytest.approx(float(f), rel=1e-9)
    assert float(diffusion) ** 2 == pytest.approx(float(g2), rel=1e-9)


def test_estimator_specific_bad_input():
    loc = torch.zeros(3, 1)
    with pytest.raises(ValueError, match="n_bins must be >= 1, got 0"):
        E.binned_km(GOOD, 0.1, loc, n_bins=0)
    with pytest.raises(ValueError, match="bin_range must be finite with lo < hi"):
        E.binned_km(GOOD, 0.1, loc, bin_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="empty must be 'fill' or 'nan', got 'zero'"):
        E.binned_km(GOOD, 0.1, loc, empty="zero")
    with pytest.raises(ValueError, match="no bin holds 10 or more increments"):
        E.binned_km(GOOD, 0.1, loc, n_bins=50)
    with pytest.raises(ValueError, match="bandwidth must be a positive number or 1 positive numbers"):
        E.local_linear(GOOD, 0.1, loc, bandwidth=-0.1)
    with pytest.raises(ValueError, match="bandwidth must be a positive number or 1 positive numbers"):
        E.local_linear(GOOD, 0.1, loc, bandwidth=[0.1, 0.2])
    with pytest.raises(ValueError, match="min_count must be >= 1, got 0"):
        E.local_linear(GOOD, 0.1, loc, min_count=0)
    with pytest.raises(ValueError, match="drift_basis must be >= 0, got -1"):
        E.least_squares(GOOD, 0.1, loc, drift_basis=-1)
    with pytest.raises(TypeError, match="drift_basis must be a polynomial degree"):
        E.least_squares(GOOD, 0.1, loc, drift_basis="cubic")
    with pytest.raises(ValueError, match="drift_basis has 21 basis functions but only 18 increments"):
        E.least_squares(GOOD, 0.1, loc, drift_basis=20)


# --- shared building blocks (also used by the FIM) ----------------------------------------------


def test_shared_bases():
    from fimcg.estimators.bases import basis, legendre, polynomial_features

    x = torch.linspace(-1, 1, 7)[:, None]
    assert torch.equal(polynomial_features(x, 3), torch.cat([torch.ones_like(x), x, x * x, x * x * x], dim=1))
    assert E.polynomial_features is polynomial_features  # one implementation, re-exported
    assert torch.equal(basis(2)(x), polynomial_features(x, 2))
    with pytest.raises(TypeError, match="polynomial degree"):
        basis(1.5, "drift_basis")
    u = torch.linspace(-1, 1, 9)
    p = legendre(u, 3)
    torch.testing.assert_close(p[:, 2], 1.5 * u ** 2 - 0.5)
    torch.testing.assert_close(p[:, 3], 2.5 * u ** 3 - 1.5 * u)


def test_local_line_is_weighted_least_squares_and_shrinks_by_pseudo_counts():
    from fimcg.estimators.kernels import local_line

    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, generator=g, dtype=torch.float64)
    y = 0.3 + 2.0 * x + 0.1 * torch.randn(200, generator=g, dtype=torch.float64)
    w = torch.exp(-0.5 * ((x - 0.4) / 0.2) ** 2)
    sums = [w.sum(), (w * y).sum(), (w * x).sum(), (w * x * x).sum(), (w * x * y).sum()]
    nw, ll, _, _ = local_line(*sums, torch.tensor(0.4, dtype=torch.float64))
    A = torch.stack([torch.ones_like(x), x - 0.4], dim=1) * w.sqrt()[:, None]
    coef = torch.linalg.lstsq(A, (y * w.sqrt())[:, None]).solution[:, 0]
    torch.testing.assert_close(ll, coef[0])
    torch.testing.assert_close(nw, (w * y).sum() / w.sum())
    # many pseudo-observations at q carrying prior_y pull both estimates to it
    nw_s, ll_s, _, _ = local_line(*sums, torch.tensor(0.4, dtype=torch.float64), pseudo_count=1e9, prior_y=-1.0)
    assert abs(float(nw_s) + 1) < 1e-5 and abs(float(ll_s) + 1) < 1e-5


# --- estimators whose setting the data choose: P-splines (GCV), AIC polynomials, CV bandwidths ------

@pytest.fixture(scope="module")
def wells():
    """The reference double well and an Ornstein-Uhlenbeck process, 20 paths x 1000 steps each."""
    gen = torch.Generator().manual_seed(0)
    out = {}
    for name, sde, dt in (("double well", fimcg.systems.double_well(), 0.002),
                          ("OU", fimcg.systems.ornstein_uhlenbeck(theta=1.0, sigma=0.7), 0.01)):
        paths = fimcg.simulate(sde, torch.randn(20, 1, generator=gen), dt=dt, n_steps=1000, seed=1)
        out[name] = (sde, paths, dt, fimcg.occupied_grid(paths, n=50))
    return out


def test_penalised_spline_recovers_drift_and_diffusion(wells):
    sde, paths, dt, x = wells["double well"]
    f, g = E.penalised_spline(paths, dt, x)
    assert f.shape == g.shape == x.shape and (g >= 0).all()
    assert fimcg.relative_rmse(f, sde.drift(x)) < 0.25
    assert fimcg.relative_rmse(g, sde.diffusion(x)) < 0.05
    # beyond the data the fit continues along its tangent: linear in x
    far = torch.tensor([[5.0], [6.0], [7.0]])
    ff, _ = E.penalised_spline(paths, dt, far)
    torch.testing.assert_close(ff[2] - ff[1], ff[1] - ff[0], rtol=1e-4, atol=1e-4)


def test_gcv_makes_a_linear_drift_a_line_and_a_curved_one_flexible():
    """GCV chooses the smoothness: few effective parameters for a linear drift, many for a wiggly
    one (the fit's df is what the data support, not a fixed knot count)."""
    from fimcg.estimators.splines import fit_penalised, spline_sums

    gen = torch.Generator().manual_seed(3)
    x = torch.rand(20000, generator=gen, dtype=torch.float64) * 4 - 2
    noise = torch.randn(20000, generator=gen, dtype=torch.float64)
    lo, hi = torch.tensor(-2.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)
    dfs = []
    for truth in (lambda z: 1.5 * z, lambda z: torch.sin(3 * z)):
        y = truth(x) + 0.3 * noise
        fit = fit_penalised(*spline_sums(x, y, torch.ones_like(x), lo, hi, 20), 20000, lo, hi)
        q = torch.linspace(-1.9, 1.9, 50, dtype=torch.float64)
        assert float((fit(q) - truth(q)).abs().max()) < 0.1
        dfs.append(float(fit.df))
    assert dfs[0] < dfs[1] and dfs[1] > 12.0


def test_penalised_spline_noise_robust_diffusion():
    """White observation noise inflates the raw squared residuals by 2σ²/dt; the noise-robust g²
    removes that bias."""
    sde = fimcg.systems.ornstein_uhlenbeck(theta=1.0, sigma=0.5)
    clean = fimcg.simulate(sde, torch.zeros(50, 1), dt=0.01, n_steps=1000, seed=2)
    noisy = clean + 0.02 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(4))
    x = fimcg.occupied_grid(clean, n=30)
    _, g_raw = E.penalised_spline(noisy, 0.01, x)
    _, g_rob = E.penalised_spline(noisy, 0.01, x, observation_noise=True)
    truth = sde.diffusion(x)
    assert float(g_raw.mean()) > 1.1 * float(truth.mean())  # sqrt(0.25 + 0.08) ≈ 0.57 > 0.5
    assert abs(float(g_rob.mean()) / float(truth.mean()) - 1) < 0.05


def test_penalised_spline_rejects_bad_input(wells):
    _, paths, dt, x = wells["OU"]
    with pytest.raises(ValueError, match="one-dimensional"):
        E.penalised_spline(torch.randn(2, 50, 2), 0.01, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="at least 3 observations"):
        E.penalised_spline(paths[:, :2], dt, x)
    with pytest.raises(ValueError, match="move"):
        E.penalised_spline(torch.ones(3, 20, 1), 0.01, x)


def test_aic_polynomial_picks_the_true_degrees(wells):
    sde, paths, dt, x = wells["double well"]
    f, g = E.aic_polynomial(paths, dt, x)
    ls_f, ls_g = E.least_squares(paths, dt, x, drift_basis=3, diff2_basis=2)
    assert fimcg.relative_rmse(f, sde.drift(x)) < 1.5 * fimcg.relative_rmse(ls_f, sde.drift(x)) + 0.02
    assert fimcg.relative_rmse(g, sde.diffusion(x)) < 0.05
    sde, paths, dt, x = wells["OU"]
    f, g = E.aic_polynomial(paths, dt, x)
    assert float(g.std()) < 0.02 * float(g.mean())  # a constant g: degree 0 (or nearly)
    assert fimcg.relative_rmse(f, sde.drift(x)) < 0.3


def test_local_linear_cross_validated_bandwidth(wells):
    """CV picks a wide kernel for a linear drift (no curvature to resolve) and a narrower one for
    the double well; bandwidth='cv' runs the estimator at the chosen bandwidths."""
    sde, paths, dt, x = wells["OU"]
    h_ou, _ = E.cross_validated_bandwidth(paths, dt)
    sde_dw, paths_dw, dt_dw, x_dw = wells["double well"]
    h_dw, _ = E.cross_validated_bandwidth(paths_dw, dt_dw)
    base_ou, base_dw = E.default_bandwidth(paths[:, :-1].reshape(-1, 1)), E.default_bandwidth(
        paths_dw[:, :-1].reshape(-1, 1))
    assert float(h_ou / base_ou) > float(h_dw / base_dw)
    f, g = E.local_linear(paths_dw, dt_dw, x_dw, bandwidth="cv")
    assert fimcg.relative_rmse(f, sde_dw.drift(x_dw)) < 0.35 and fimcg.relative_rmse(g, sde_dw.diffusion(x_dw)) < 0.05
    with pytest.raises(ValueError, match="'cv'"):
        E.local_linear(paths, dt, x, bandwidth="silverman")
    with pytest.raises(ValueError, match="at least"):
        E.cross_validated_bandwidth(paths[:1, :5], dt)


def test_aic_polynomial_cannot_interpolate_short_data():
    """Ten observations: the corrected AIC and at most N - 2 coefficients keep the fit sane (an
    uncorrected AIC picks the interpolating polynomial, with drifts in the thousands)."""
    paths = fimcg.simulate(fimcg.systems.ornstein_uhlenbeck(theta=1.0, sigma=0.5), torch.zeros(1, 1), dt=0.01,
                           n_steps=9, seed=3)
    x = torch.linspace(float(paths.min()), float(paths.max()), 9)[:, None]
    f, g = E.aic_polynomial(paths, 0.01, x)
    rates = (paths[0, 1:, 0] - paths[0, :-1, 0]) / 0.01
    assert float(f.abs().max()) <= float(rates.abs().max()) and float(g.min()) > 0
    with pytest.raises(ValueError, match="at least 3"):
        E.aic_polynomial(paths[:, :3], 0.01, x)


def test_spline_is_unavailable_on_too_few_distinct_states():
    """States on two values support a handful of basis functions: GCV would interpolate them, so
    the fit is marked unavailable (infinite error) and the estimator says why."""
    from fimcg.estimators.splines import fit_penalised, spline_sums

    x = torch.tensor([0.0, 1.0] * 200, dtype=torch.float64)
    y = torch.randn(400, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lo, hi = torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    fit = fit_penalised(*spline_sums(x, y, torch.ones_like(x), lo, hi, 20), 400, lo, hi)
    assert torch.isinf(fit.error) and float(fit.df) == 0 and (fit.coef == 0).all()
    with pytest.raises(ValueError, match="no solvable smoothing"):
        E.penalised_spline(x.reshape(4, 100, 1).float(), 0.01, torch.zeros(3, 1))
