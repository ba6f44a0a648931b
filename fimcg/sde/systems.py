"""The catalogue of systems: named SDEs with documented parameters (``get_system``, ``list_systems``).
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Sequence
import numpy as np
import torch
from .._validation import check_int, check_number, check_positive
from .model import SDE
from .simulate import simulate

__all__ = [
    "double_well",
    "double_well_constant",
    "double_well_soft",
    "ornstein_uhlenbeck",
    "polynomial_potential",
    "landscape_sde",
    "REFERENCE_WIDTH",
    "tanh_double_well",
    "periodic_well",
    "double_well_2d",
    "mueller_brown",
    "paths_from_wells",
    "get_system",
    "list_systems",
]


def _nonneg(value: Any, *, name: str) -> float:
    v = check_number(value, name=name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def _semicircle(g1: float, g2: float, g0: float = 0.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """g(x) = sqrt(max(g1 - g2 x^2, 0)) + g0, elementwise."""

    def diffusion(x: torch.Tensor) -> torch.Tensor:
        g = torch.sqrt(torch.clamp(g1 - g2 * x * x, min=0.0))
        return g + g0 if g0 else g

    return diffusion


def _constant(sigma: float | Sequence[float], dim: int = 1) -> Callable[[torch.Tensor], torch.Tensor]:
    values = [float(sigma)] * dim if np.isscalar(sigma) else [float(s) for s in sigma]

    if len(set(values)) == 1:
        v = values[0]

        def diffusion(x: torch.Tensor) -> torch.Tensor:
            return torch.full_like(x, v)
    else:
        def diffusion(x: torch.Tensor) -> torch.Tensor:
            return torch.ones_like(x) * torch.tensor(values, dtype=x.dtype, device=x.device)

    return diffusion


def double_well(*, alpha: float = 4.0, beta: float = 4.0, g1: float = 4.0, g2: float = 1.25) -> SDE:
    """The reference system: a symmetric double well with "semicircle" diffusion.

    f(x) = alpha x - beta x^3 (wells at +-sqrt(alpha/beta)), g(x) = sqrt(max(g1 - g2 x^2, 0)),
    potential U(x) = beta x^4 / 4 - alpha x^2 / 2. With the defaults the diffusion vanishes at
    |x| = sqrt(g1/g2) = 1.789, so paths stay inside (-1.79, 1.79).

    Args:
        alpha, beta: drift coefficients (beta > 0 confines the particle).
        g1: g^2 at x = 0 (> 0); g2: curvature of g^2 (>= 0; 0 gives constant sqrt(g1)).
    """
    alpha = check_number(alpha, name="alpha")
    beta = check_number(beta, name="beta")
    g1 = check_positive(g1, name="g1")
    g2 = _nonneg(g2, name="g2")
    return SDE(
        drift=lambda x: alpha * x - beta * x ** 3,
        diffusion=_semicircle(g1, g2),
        dim=1,
        name="double_well",
        potential=lambda x: (beta * x ** 4 / 4 - alpha * x ** 2 / 2).sum(-1),
        params={"alpha": alpha, "beta": beta, "g1": g1, "g2": g2},
        formula=f"f(x) = {alpha:g} x - {beta:g} x^3, g(x) = sqrt(max({g1:g} - {g2:g} x^2, 0))",
    )


def double_well_constant(*, alpha: float = 4.0, beta: float = 4.0, sigma: float = 1.0) -> SDE:
    """The double well f(x) = alpha x - beta x^3 with constant diffusion g(x) = sigma.

    The stationary density is p(x) ∝ exp(-2 U(x) / sigma^2), U(x) = beta x^4/4 - alpha x^2/2.
    """
    alpha = check_number(alpha, name="alpha")
    beta = check_number(beta, name="beta")
    sigma = check_positive(sigma, name="sigma")
    return SDE(
        drift=lambda x: alpha * x - beta * x ** 3,
        diffusion=_constant(sigma),
        dim=1,
        name="double_well_constant",
        potential=lambda x: (beta * x ** 4 / 4 - alpha * x ** 2 / 2).sum(-1),
        params={"alpha": alpha, "beta": beta, "sigma": sigma},
        formula=f"f(x) = {alpha:g} x - {beta:g} x^3, g(x) = {sigma:g}",
    )


def double_well_soft(*, alpha: float = 1.0, beta: float = 1.0, g1: float = 1.0, g2: float = 0.25,
                     g0: float = 0.1) -> SDE:
    """The FIM evaluation system: f(x) = alpha x - beta x^3, g(x) = sqrt(max(g1 - g2 x^2, 0)) + g0.

    Defaults give f = x - x^3 and g = sqrt(max(1 - x^2/4, 0)) + 0.1 (never zero, so no hard wall).
    """
    alpha = check_number(alpha, name="alpha")
    beta = check_number(beta, name="beta")
    g1 = check_positive(g1, name="g1")
    g2 = _nonneg(g2, name="g2")
    g0 = _nonneg(g0, name="g0")
    return SDE(
        drift=lambda x: alpha * x - beta * x ** 3,
        diffusion=_semicircle(g1, g2, g0),
        dim=1,
        name="double_well_soft",
        potential=lambda x: (beta * x ** 4 / 4 - alpha * x ** 2 / 2).sum(-1),
        params={"alpha": alpha, "beta": beta, "g1": g1, "g2": g2, "g0": g0},
        formula=f"f(x) = {alpha:g} x - {beta:g} x^3, g(x) = sqrt(max({g1:g} - {g2:g} x^2, 0)) + {g0:g}",
    )


def ornstein_uhlenbeck(*, theta: float = 1.0, mu: float = 0.0, sigma: float = 1.0, dim: int = 1) -> SDE:
    """Ornstein-Uhlenbeck process f(x) = theta (mu - x), g(x) = sigma, in every dimension.

    Closed forms (per dimension): E[X_t] = mu + (x0 - mu) e^{-theta t},
    Var[X_t] = sigma^2 / (2 theta) (1 - e^{-2 theta t}); stationary law N(mu, sigma^2 / (2 theta)).

    Args:
        theta: mean-reversion rate (> 0). mu: mean. sigma: noise amplitude (> 0).
        dim: state dimension (1, 2 or 3); the coordinates are independent copies.
    """
    theta = check_positive(theta, name="theta")
    mu = check_number(mu, name="mu")
    sigma = check_positive(sigma, name="sigma")
    dim = check_int(dim, name="dim", minimum=1)
    if dim > 3:
        raise ValueError(f"dim must be 1, 2 or 3, got {dim}")
    return SDE(
        drift=lambda x: theta * (mu - x),
        diffusion=_constant(sigma, dim),
        dim=dim,
        name="ornstein_uhlenbeck",
        potential=lambda x: (theta * (x - mu) ** 2 / 2).sum(-1),
        params={"theta": theta, "mu": mu, "sigma": sigma, "dim": dim},
        formula=f"f(x) = {theta:g} ({mu:g} - x), g(x) = {sigma:g}" + (f", in each of {dim} coordinates" if dim > 1 else ""),
    )


def polynomial_potential(*, coeffs: Sequence[float] = (0.0, 0.0, -2.0, 0.0, 1.0), tilt: float = 0.3,
                         sigma: float = 1.0, semicircle: tuple[float, float] | None = None) -> SDE:
    """A particle in a polynomial potential U(x) = sum_k coeffs[k] x^k - tilt x; f = -U'.

    The defaults U(x) = x^4 - 2 x^2 - 0.3 x give two wells of different depth (the right one
    deeper). The potential confines the particle only if its leading coefficient has even degree
    and is positive; this is not enforced (an unconfined potential simply has no stationary density).

    Args:
        coeffs: polynomial coefficients of U, lowest degree first (at least 2 entries).
        tilt: a constant force added to the drift (tilts the landscape towards +x when > 0).
        sigma: constant diffusion (> 0), used when ``semicircle`` is None.
        semicircle: ``(g1, g2)`` for the state-dependent g(x) = sqrt(max(g1 - g2 x^2, 0)) instead.
    """
    try:
        c = [float(v) for v in coeffs]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"coeffs must be a sequence of numbers, got {coeffs!r}") from exc
    if len(c) < 2 or not all(math.isfinite(v) for v in c):
        raise ValueError(f"coeffs must hold at least 2 finite numbers (U = c0 + c1 x + ...), got {coeffs!r}")
    tilt = check_number(tilt, name="tilt")
    dc = [k * c[k] for k in range(1, len(c))]  # U'(x) coefficients, lowest degree first

    def drift(x: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(x, -dc[-1])
        for a in reversed(dc[:-1]):  # Horner's scheme for -U'(x)
            out = out * x - a
        return out + tilt

    def potential(x: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(x, c[-1])
        for a in reversed(c[:-1]):
            out = out * x + a
        return (out - tilt * x).sum(-1)

    params: dict[str, Any] = {"coeffs": c, "tilt": tilt}
    if semicircle is None:
        sigma = check_positive(sigma, name="sigma")
        diffusion = _constant(sigma)
        params["sigma"] = sigma
    else:
        try:
            g1, g2 = (float(v) for v in semicircle)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"semicircle must be a pair (g1, g2), got {semicircle!r}") from exc
        g1 = check_positive(g1, name="semicircle[0] (g1)")
        g2 = _nonneg(g2, name="semicircle[1] (g2)")
        diffusion = _semicircle(g1, g2)
        params["semicircle"] = [g1, g2]
    u = " + ".join(f"{v:g} x^{k}" if k > 1 else (f"{v:g} x" if k == 1 else f"{v:g}") for k, v in enumerate(c) if v)
    g_text = f"{params['sigma']:g}" if semicircle is None else f"sqrt(max({g1:g} - {g2:g} x^2, 0))"
    return SDE(drift=drift, diffusion=diffusion, dim=1, name="polynomial_potential",
               potential=potential, params=params,
               formula=f"f(x) = -U'(x) + {tilt:g} with U(x) = {u or '0'}, g(x) = {g_text}")


#: where the reference diffusion sqrt(4 - 1.25 x^2) vanishes
REFERENCE_WIDTH = math.sqrt(4.0 / 1.25)


def landscape_sde(*, barrier: float = 1.0, well: float = 1.0, tilt: float = 0.0, noise: float = 2.0,
                  width: float = REFERENCE_WIDTH, state_dependent: bool = True) -> SDE:
    """A double well described by what one sees in its picture, as a :class:`fimcg.SDE` (a :func:`polynomial_potential`).

    Potential and drift (f = -U')::

        U(x) = barrier * ((x / well)^2 - 1)^2 - tilt * x

    so without tilt the wells sit at x = +-well and the barrier between them is ``barrier`` high.
    Diffusion: ``noise * sqrt(max(1 - x^2 / width^2, 0))`` (a semicircle of half-width ``width``)
    when ``state_dependent``, else the constant ``noise``. The defaults are the reference system
    f(x) = 4x - 4x^3, g(x) = sqrt(max(4 - 1.25 x^2, 0)).

    Args:
        barrier: height of the barrier at x = 0 above the wells (> 0).
        well: position of the wells (> 0).
        tilt: constant force towards +x (any sign); it deepens the right well.
        noise: g(0), the noise amplitude in the middle (> 0).
        width: where the semicircle diffusion vanishes (> well, so the particle is confined by the
            drift before the noise switches off); ignored for constant diffusion.
        state_dependent: semicircle (True) or constant (False) diffusion.

    Raises:
        ValueError: a non-positive barrier, well, noise or width, or ``width <= well``.
    """
    barrier = check_positive(barrier, name="barrier")
    well = check_positive(well, name="well")
    noise = check_positive(noise, name="noise")
    tilt = float(tilt)
    if not math.isfinite(tilt):
        raise ValueError(f"tilt must be finite, got {tilt!r}")
    coeffs = (barrier, 0.0, -2.0 * barrier / well ** 2, 0.0, barrier / well ** 4)
    if state_dependent:
        width = check_positive(width, name="width")
        if width <= well:
            raise ValueError(f"width must exceed well (the noise must not vanish before the wells); "
                             f"got width={width!r}, well={well!r}")
        return polynomial_potential(coeffs=coeffs, tilt=tilt, semicircle=(noise ** 2, noise ** 2 / width ** 2))
    return polynomial_potential(coeffs=coeffs, tilt=tilt, sigma=noise)


def tanh_double_well(*, a: float = 1.5, b: float = 2.0, c: float = 1.0, sigma: float = 1.0) -> SDE:
    """A non-polynomial double well with a saturating force: f(x) = a tanh(b x) - c x, g = sigma.

    Potential U(x) = c x^2 / 2 - (a / b) log cosh(b x). With the defaults the wells sit near
    x = +-1.49 and the barrier is about 0.6 high.
    """
    a = check_number(a, name="a")
    b = check_positive(b, name="b")
    c = check_positive(c, name="c")
    sigma = check_positive(sigma, name="sigma")

    def potential(x: torch.Tensor) -> torch.Tensor:
        bx = b * x
        logcosh = bx.abs() + torch.log1p(torch.exp(-2 * bx.abs())) - math.log(2.0)
        return (c * x ** 2 / 2 - (a / b) * logcosh).sum(-1)

    return SDE(
        drift=lambda x: a * torch.tanh(b * x) - c * x,
        diffusion=_constant(sigma),
        dim=1,
        name="tanh_double_well",
        potential=potential,
        params={"a": a, "b": b, "c": c, "sigma": sigma},
        formula=f"f(x) = {a:g} tanh({b:g} x) - {c:g} x, g(x) = {sigma:g}",
    )


def periodic_well(*, kappa: float = 0.5, a: float = 1.0, k: float = 3.0, sigma: float = 1.0,
                  modulation: float = 0.5) -> SDE:
    """A corrugated well with periodic, state-dependent noise (non-polynomial drift and diffusion).

    f(x) = -kappa x - a sin(k x), g(x) = sigma (1 + modulation cos(x)); potential
    U(x) = kappa x^2 / 2 - (a / k) cos(k x). Needs 0 <= modulation < 1 so that g > 0.
    """
    kappa = check_positive(kappa, name="kappa")
    a = check_number(a, name="a")
    k = check_positive(k, name="k")
    sigma = check_positive(sigma, name="sigma")
    modulation = _nonneg(modulation, name="modulation")
    if modulation >= 1:
        raise ValueError(f"modulation must be in [0, 1) so that g > 0, got {modulation!r}")
    return SDE(
        drift=lambda x: -kappa * x - a * torch.sin(k * x),
        diffusion=lambda x: sigma * (1 + modulation * torch.cos(x)),
        dim=1,
        name="periodic_well",
        potential=lambda x: (kappa * x ** 2 / 2 - (a / k) * torch.cos(k * x)).sum(-1),
        params={"kappa": kappa, "a": a, "k": k, "sigma": sigma, "modulation": modulation},
        formula=f"f(x) = -{kappa:g} x - {a:g} sin({k:g} x), g(x) = {sigma:g} (1 + {modulation:g} cos(x))",
    )


def double_well_2d(*, alpha: float = 4.0, beta: float = 4.0, kappa: float = 4.0, coupling: float = 0.0,
                   sigma: float | tuple[float, float] = 1.0) -> SDE:
    """A 2-D double well: U(x, y) = beta x^4/4 - alpha x^2/2 + kappa y^2/2 + coupling x y, f = -grad U.

    Without coupling: wells at (+-sqrt(alpha/beta), 0), a saddle at the origin; the coupling tilts
    the wells' axis (the origin stays a saddle: the Hessian there has determinant -alpha kappa - coupling^2). ``sigma`` is a
    constant diffusion, one number for both coordinates or a pair (sigma_x, sigma_y).
    """
    alpha = check_number(alpha, name="alpha")
    beta = check_number(beta, name="beta")
    kappa = check_positive(kappa, name="kappa")
    coupling = check_number(coupling, name="coupling")
    sig = (sigma, sigma) if np.isscalar(sigma) else tuple(sigma)
    if len(sig) != 2:
        raise ValueError(f"sigma must be a number or a pair, got {sigma!r}")
    sig = tuple(check_positive(s, name="sigma") for s in sig)

    def drift(z: torch.Tensor) -> torch.Tensor:
        x, y = z[..., 0], z[..., 1]
        return torch.stack([alpha * x - beta * x ** 3 - coupling * y, -kappa * y - coupling * x], dim=-1)

    def potential(z: torch.Tensor) -> torch.Tensor:
        x, y = z[..., 0], z[..., 1]
        return beta * x ** 4 / 4 - alpha * x ** 2 / 2 + kappa * y ** 2 / 2 + coupling * x * y

    c = f" - {coupling:g} y" if coupling else ""
    cy = f" - {coupling:g} x" if coupling else ""
    return SDE(drift=drift, diffusion=_constant(sig, 2), dim=2, name="double_well_2d",
               potential=potential,
               params={"alpha": alpha, "beta": beta, "kappa": kappa, "coupling": coupling, "sigma": list(sig)},
               formula=f"f(x, y) = ({alpha:g} x - {beta:g} x^3{c}, -{kappa:g} y{cy}), g = ({sig[0]:g}, {sig[1]:g})")


def rotating_ring(*, omega: float = 2.0, radius: float = 1.0, stiffness: float = 2.0, sigma: float = 0.5,
                  sigma_slope: float = 0.5) -> SDE:
    """A noisy limit cycle: a ring-shaped well with a rotation, f = -grad U + omega (-y, x), not a gradient.

    U(x, y) = stiffness (r^2 - radius^2)^2 / (4 radius^2) with r^2 = x^2 + y^2 pulls the state onto the
    circle of ``radius``; the rotation ``omega`` (radians per time unit) drives it around. The
    diffusion is diagonal and state dependent: g_i(x) = sigma sqrt(1 + sigma_slope x_i^2).
    """
    omega = check_number(omega, name="omega")
    radius = check_positive(radius, name="radius")
    stiffness = check_positive(stiffness, name="stiffness")
    sigma = check_positive(sigma, name="sigma")
    sigma_slope = _nonneg(sigma_slope, name="sigma_slope")

    def drift(z: torch.Tensor) -> torch.Tensor:
        x, y = z[..., 0], z[..., 1]
        pull = -stiffness * (x * x + y * y - radius ** 2) / radius ** 2
        return torch.stack([pull * x - omega * y, pull * y + omega * x], dim=-1)

    def diffusion(z: torch.Tensor) -> torch.Tensor:
        return sigma * torch.sqrt(1 + sigma_slope * z * z)

    return SDE(drift=drift, diffusion=diffusion, dim=2, name="rotating_ring",
               params={"omega": omega, "radius": radius, "stiffness": stiffness, "sigma": sigma,
                       "sigma_slope": sigma_slope},
               formula=f"f = -{stiffness:g} (r^2/{radius ** 2:g} - 1) (x, y) + {omega:g} (-y, x), "
                       f"g_i = {sigma:g} sqrt(1 + {sigma_slope:g} x_i^2)")


# Müller-Brown potential: sum_i A_i exp(a_i (x - x_i)^2 + b_i (x - x_i)(y - y_i) + c_i (y - y_i)^2)
_MB_A = (-200.0, -100.0, -170.0, 15.0)


_MB_a = (-1.0, -1.0, -6.5, 0.7)


_MB_b = (0.0, 0.0, 11.0, 0.6)


_MB_c = (-10.0, -10.0, -6.5, 0.7)


_MB_x = (1.0, 0.0, -0.5, -1.0)


_MB_y = (0.0, 0.5, 1.5, 1.0)


def mueller_brown(*, scale: float = 0.05, sigma: float = 1.0) -> SDE:
    """The Müller-Brown potential (three minima, two saddles), scaled: U = scale * U_MB, f = -grad U.

    Minima of U_MB near (-0.56, 1.44), (0.62, 0.03) and (-0.05, 0.47). Forces are large (|f| up to
    ~ scale * 10^3 outside the basins), so use a small step (dt ~ 1e-3 with the defaults) and start
    paths in a basin.

    Args:
        scale: factor on the classic potential (> 0); it sets the barriers relative to sigma^2/2.
        sigma: constant diffusion in both coordinates (> 0).
    """
    scale = check_positive(scale, name="scale")
    sigma = check_positive(sigma, name="sigma")

    def _terms(z: torch.Tensor):
        x, y = z[..., 0:1], z[..., 1:2]  # (..., 1)
        t = lambda v: torch.tensor(v, dtype=z.dtype, device=z.device)  # noqa: E731
        dx, dy = x - t(_MB_x), y - t(_MB_y)  # (..., 4)
        e = t(_MB_A) * torch.exp(t(_MB_a) * dx ** 2 + t(_MB_b) * dx * dy + t(_MB_c) * dy ** 2)
        return e, dx, dy, t

    def potential(z: torch.Tensor) -> torch.Tensor:
        e, _, _, _ = _terms(z)
        return scale * e.sum(-1)

    def drift(z: torch.Tensor) -> torch.Tensor:
        e, dx, dy, t = _terms(z)
        gx = (e * (2 * t(_MB_a) * dx + t(_MB_b) * dy)).sum(-1)
        gy = (e * (t(_MB_b) * dx + 2 * t(_MB_c) * dy)).sum(-1)
        return -scale * torch.stack([gx, gy], dim=-1)

    return SDE(drift=drift, diffusion=_constant(sigma, 2), dim=2, name="mueller_brown",
               potential=potential, params={"scale": scale, "sigma": sigma},
               formula=f"f = -grad({scale:g} U) with U the Müller-Brown potential, g = ({sigma:g}, {sigma:g})")


def paths_from_wells(sde: SDE, *, n_paths: int, n_obs: int, dt: float, substeps: int = 1,
                     seed: int | None = None) -> torch.Tensor:
    """Simulate paths of a 1-D ``sde`` that start alternately in the wells x = -1 and x = +1.

    The data set of the notebooks and widgets: path i starts at -1 for even i and at +1 for odd i
    (the wells of the reference :func:`double_well`), and :func:`fimcg.simulate` integrates it.

    Args:
        sde: a 1-D system, e.g. :func:`double_well`.
        n_paths: number of paths (>= 1). n_obs: observations per path, the start included (>= 2).
        dt: time between two observations (> 0), in the system's time unit.
        substeps: Euler-Maruyama steps per observation (>= 1); the integration step is dt / substeps.
        seed: seed of the simulation's private generator (``None``: torch's global generator).

    Returns:
        Tensor (n_paths, n_obs, 1) of states, float32.
    """
    n_paths = check_int(n_paths, name="n_paths", minimum=1)
    n_obs = check_int(n_obs, name="n_obs", minimum=2)
    x0 = torch.tensor([-1.0, 1.0]).repeat((n_paths + 1) // 2)[:n_paths, None]
    return simulate(sde, x0, dt=dt, n_steps=n_obs - 1, substeps=substeps, seed=seed)


_REGISTRY: dict[str, Callable[..., SDE]] = {
    "double_well": double_well,
    "double_well_constant": double_well_constant,
    "double_well_soft": double_well_soft,
    "ornstein_uhlenbeck": ornstein_uhlenbeck,
    "polynomial_potential": polynomial_potential,
    "tanh_double_well": tanh_double_well,
    "periodic_well": periodic_well,
    "double_well_2d": double_well_2d,
    "mueller_brown": mueller_brown,
    "rotating_ring": rotating_ring,
}


def list_systems() -> list[str]:
    """Names accepted by :func:`get_system`, sorted."""
    return sorted(_REGISTRY)


def get_system(name: str, **params: Any) -> SDE:
    """Build a catalogue system by name, e.g. ``get_system("double_well", g2=1.0)``.

    Raises:
        ValueError: an unknown name (the message lists the valid names) or a parameter the
            system does not take (the message lists its parameters).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown system {name!r}; valid names: {', '.join(list_systems())}")
    factory = _REGISTRY[name]
    valid = list(inspect.signature(factory).parameters)
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise ValueError(f"system {name!r} has no parameter(s) {', '.join(map(repr, unknown))}; "
                         f"its parameters are: {', '.join(valid)}")
    return factory(**params)
