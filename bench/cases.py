"""Every data set the benchmarks run on, built in one place (same seeds, same tensors for every script).

- :func:`accuracy_cases` and :func:`case_data`: the systems and sampling regimes of
  ``bench/fim_accuracy.py`` (also scored by ``bench/fim_cv_penalties.py``);
- :func:`development_suite`: other systems and regimes, on which ``bench/fim_family_settings.py``
  chooses the FIM's family settings (never the benchmark's);
- :func:`prior_datasets` and :func:`noisy_prior_datasets`: held-out data sets of the FIM's
  synthetic prior;
- :data:`VIDEO_CASES` and :func:`video_data`: the rendered double well of ``bench/coarse_grain.py``;
- :func:`speed_context`: the contexts timed by ``bench/fim_speed.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

import fimcg
from fimcg import systems
from fimcg.analysis.metrics import occupied_grid
from fimcg.fim.training.prior import PriorConfig, SyntheticPrior
from fimcg.video import camera_range, render_video

# --- the accuracy benchmark ---------------------------------------------------------------------

def poly_basis(deg: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The monomials x^0 .. x^deg as columns (an oracle's least-squares basis)."""
    return lambda x: torch.cat([x ** k for k in range(deg + 1)], dim=-1)


def cat_basis(*fs: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The columns of several bases side by side."""
    return lambda x: torch.cat([f(x) for f in fs], dim=-1)


@dataclass
class Case:
    """One system observed in one sampling regime; the oracle's least squares uses the true function class."""

    name: str
    sde: fimcg.SDE | None
    dt: float
    n_paths: int
    n_steps: int
    drift_basis: Callable | int
    diff2_basis: Callable | int
    polynomial: bool
    clean_long: bool = False  # diffusion target (rel. RMSE <= 0.05) applies
    x0_std: float = 1.0
    substeps: int = 1
    irregular: bool = False  # observed after 1 to 7 steps of dt / 4 (mean dt), the same times for every path
    noise: float = 0.0  # observation noise of the unseen cases (x std(x)); the named cases get theirs from --noise
    x0_mean: float = 0.0


def accuracy_cases(*, quick: bool = False) -> list[Case]:
    """The cases of ``bench/fim_accuracy.py`` (``quick``: three of them)."""
    dw = systems.double_well()
    soft = systems.double_well_soft()
    ou = systems.ornstein_uhlenbeck(theta=1.0, sigma=1.0)
    tanh = systems.tanh_double_well()
    per = systems.periodic_well()
    p3, p2 = poly_basis(3), poly_basis(2)
    out = [
        Case("double well, dt=0.002, 1 x 5000", dw, 0.002, 1, 5000, p3, p2, True, clean_long=True),
        Case("double well, dt=0.002, 20 x 250", dw, 0.002, 20, 250, p3, p2, True),
        Case("double well, dt=0.002, 5 x 100", dw, 0.002, 5, 100, p3, p2, True),
        Case("double well, irregular steps 0.0005-0.0035, 1 x 5000", dw, 0.002, 1, 5000, p3, p2, True,
             irregular=True),
        Case("soft double well, dt=0.01, 100 x 500", soft, 0.01, 100, 500, p3, p2, True, clean_long=True),
        Case("Ornstein-Uhlenbeck, dt=0.01, 20 x 500", ou, 0.01, 20, 500, poly_basis(1), poly_basis(0), True,
             clean_long=True),
        Case("tanh double well, dt=0.01, 20 x 500", tanh, 0.01, 20, 500,
             cat_basis(lambda x: torch.tanh(2.0 * x), lambda x: x), poly_basis(0), False),
        Case("periodic well, dt=0.01, 20 x 500", per, 0.01, 20, 500,
             cat_basis(lambda x: x, lambda x: torch.sin(3.0 * x)),
             cat_basis(lambda x: torch.ones_like(x), lambda x: torch.cos(x), lambda x: torch.cos(x) ** 2), False),
    ]
    if quick:
        out = [c for c in out if c.name.startswith(("double well, dt=0.002, 1 x", "soft", "tanh"))]
    return out


def add_observation_noise(paths: torch.Tensor, level: float, seed: int) -> torch.Tensor:
    """``paths`` plus Gaussian noise of ``level`` x std(paths) (seed 10,000 + ``seed``); unchanged at level 0."""
    if level == 0:
        return paths
    gen = torch.Generator().manual_seed(10_000 + seed)
    return paths + level * paths.std() * torch.randn(paths.shape, generator=gen)


def case_data(case: Case, seed: int, noise: float) -> tuple[torch.Tensor, float | torch.Tensor, torch.Tensor,
                                                            torch.Tensor]:
    """One seed of a case: the observed paths (with noise), their step (a float, or the (T - 1,)
    steps between observations), the grid over the occupied region of the clean paths (100 points)
    and the true drift there."""
    gen = torch.Generator().manual_seed(seed)
    x0 = case.x0_mean + case.x0_std * torch.randn(case.n_paths, 1, generator=gen)
    if case.irregular:
        gaps = torch.randint(1, 8, (case.n_steps,), generator=gen)
        idx = torch.cat([torch.zeros(1, dtype=torch.long), gaps.cumsum(0)])
        fine = fimcg.simulate(case.sde, x0, dt=case.dt / 4, n_steps=int(idx[-1]), seed=seed, substeps=case.substeps)
        clean, dt = fine[:, idx], gaps.to(torch.float32) * (case.dt / 4)
    else:
        clean = fimcg.simulate(case.sde, x0, dt=case.dt, n_steps=case.n_steps, seed=seed, substeps=case.substeps)
        dt = case.dt
    x = occupied_grid(clean, n=100)
    return add_observation_noise(clean, noise, seed), dt, x, case.sde.drift(x)


# --- the development suite (choosing settings without the benchmark) ------------------------------

def rational_well(*, a: float = 3.0, sigma: float = 1.0) -> fimcg.SDE:
    """f(x) = a x / (1 + x²) - x, g = sigma: a double well with a rational force (a > 1)."""
    return fimcg.SDE(drift=lambda x: a * x / (1 + x * x) - x, diffusion=lambda x: sigma * torch.ones_like(x),
                     dim=1, name="rational_well", params={"a": a, "sigma": sigma})


def development_suite() -> list[Case]:
    """Systems and sampling regimes that the benchmark does not use (the oracle bases are unused here)."""
    return [
        Case("tanh well a=2 b=1, dt=0.01, 20 x 500", systems.tanh_double_well(a=2.0, b=1.0), 0.01, 20, 500, 3, 0,
             False),
        Case("tanh well a=1.2 b=3 c=0.6 sigma=0.8, dt=0.005, 10 x 1000",
             systems.tanh_double_well(a=1.2, b=3.0, c=0.6, sigma=0.8), 0.005, 10, 1000, 3, 0, False),
        Case("periodic well kappa=1 a=1.5 k=2, dt=0.01, 20 x 500", systems.periodic_well(kappa=1.0, a=1.5, k=2.0),
             0.01, 20, 500, 3, 0, False),
        Case("rational well a=3, dt=0.01, 20 x 500", rational_well(), 0.01, 20, 500, 3, 0, False),
        Case("tilted quartic, dt=0.005, 10 x 1000", systems.polynomial_potential(), 0.005, 10, 1000, 3, 0, True),
        Case("double well, constant g, dt=0.005, 5 x 2000", systems.double_well_constant(), 0.005, 5, 2000, 3, 0,
             True),
        Case("Ornstein-Uhlenbeck theta=2 sigma=0.5, dt=0.02, 50 x 200",
             systems.ornstein_uhlenbeck(theta=2.0, sigma=0.5), 0.02, 50, 200, 1, 0, True),
    ]


# --- unseen systems: outside every function family the FIM names -------------------------------
#
# The FIM's candidates name polynomials (up to degree 7) and the tanh, sine and rational families of
# its prior; its diffusion options, square roots of quadratics. In these systems the drift, the
# diffusion or both are none of those: the drifts are exponential, Gaussian, |x|-based or products of
# families (one, x - x^3, is the cubic itself: that row tests an unseen diffusion), and the diffusions
# are not square roots of quadratics. The benchmark's and the development suite's are disjoint (a test checks
# it); settings are chosen on the development suite only.

def _sde(name: str, drift: Callable, diffusion: Callable, **params) -> fimcg.SDE:
    return fimcg.SDE(drift=drift, diffusion=diffusion, dim=1, name=name, params=params)


def _ones(x: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(x)


@dataclass(frozen=True)
class UnseenSystem:
    """A system outside the FIM's named families, with the true drift and g² bases (the oracle's)."""

    name: str
    sde: fimcg.SDE
    drift_basis: Callable
    diff2_basis: Callable
    x0_mean: float = 0.0


@dataclass(frozen=True)
class ContextShape:
    """How an unseen system is observed: paths, their length, the step and the observation noise."""

    name: str
    n_paths: int
    n_steps: int
    dt: float
    noise: float = 0.0


UNSEEN_SHAPES = (
    ContextShape("many short paths (200 x 50)", 200, 50, 0.01),
    ContextShape("one long path (1 x 10000)", 1, 10000, 0.01),
    ContextShape("20 x 500, 2% observation noise", 20, 500, 0.01, noise=0.02),
)


def benchmark_unseen_systems() -> list[UnseenSystem]:
    """The unseen systems of ``bench/fim_accuracy.py --unseen`` (outcome only, never for choosing)."""
    sq = lambda v: torch.sqrt(torch.clamp(v, min=0.0))  # noqa: E731
    return [
        UnseenSystem("exponential wall: f = 1 - e^x, g = 0.6 + 0.3 exp(-x^2)",
                     _sde("exp_wall", lambda x: 1 - torch.exp(x), lambda x: 0.6 + 0.3 * torch.exp(-x * x)),
                     cat_basis(_ones, torch.exp), cat_basis(_ones, lambda x: torch.exp(-x * x), lambda x: torch.exp(-2 * x * x))),
        UnseenSystem("|x| double well: f = 2x - 1.5 x|x|, g = 0.5 + 0.2|x|",
                     _sde("abs_well", lambda x: 2 * x - 1.5 * x * x.abs(), lambda x: 0.5 + 0.2 * x.abs()),
                     cat_basis(lambda x: x, lambda x: x * x.abs()), cat_basis(_ones, torch.abs, lambda x: x * x)),
        UnseenSystem("Gaussian bump: f = -x + 3x exp(-x^2/2), g = sqrt(max(1 - x^2/9, 0)) + 0.2",
                     _sde("gauss_bump", lambda x: -x + 3 * x * torch.exp(-x * x / 2),
                          lambda x: sq(1 - x * x / 9) + 0.2),
                     cat_basis(lambda x: x, lambda x: x * torch.exp(-x * x / 2)),
                     cat_basis(_ones, lambda x: torch.clamp(1 - x * x / 9, min=0.0), lambda x: sq(1 - x * x / 9))),
        UnseenSystem("hyperbolic well: f = 1.5x - sinh(x), g = 0.7 exp(-x/4)",
                     _sde("sinh_well", lambda x: 1.5 * x - torch.sinh(x), lambda x: 0.7 * torch.exp(-x / 4)),
                     cat_basis(lambda x: x, torch.sinh), lambda x: torch.exp(-x / 2)),
        UnseenSystem("damped wave: f = -x + 2 sin(2x) exp(-x^2/4), g = 0.8/sqrt(1 + x^2) + 0.2",
                     _sde("damped_wave", lambda x: -x + 2 * torch.sin(2 * x) * torch.exp(-x * x / 4),
                          lambda x: 0.8 / torch.sqrt(1 + x * x) + 0.2),
                     cat_basis(lambda x: x, lambda x: torch.sin(2 * x) * torch.exp(-x * x / 4)),
                     cat_basis(_ones, lambda x: 1 / (1 + x * x), lambda x: 1 / torch.sqrt(1 + x * x))),
        UnseenSystem("cubic, semicircle diffusion with a floor: f = x - x^3, g = sqrt(max(1 - x^2/4, 0)) + 0.1",
                     _sde("cubic_semicircle", lambda x: x - x ** 3, lambda x: sq(1 - x * x / 4) + 0.1),
                     cat_basis(lambda x: x, lambda x: x ** 3),
                     cat_basis(_ones, lambda x: torch.clamp(1 - x * x / 4, min=0.0), lambda x: sq(1 - x * x / 4))),
    ]


def development_unseen_systems() -> list[UnseenSystem]:
    """Other systems outside the named families, on which settings are chosen (never the benchmark's)."""
    return [
        UnseenSystem("power-law well: f = 1.2x - sign(x)|x|^2.5, g = 0.6 + 0.25 x^2/(1 + x^2)",
                     _sde("power_well", lambda x: 1.2 * x - torch.sign(x) * x.abs() ** 2.5,
                          lambda x: 0.6 + 0.25 * x * x / (1 + x * x)),
                     cat_basis(lambda x: x, lambda x: torch.sign(x) * x.abs() ** 2.5),
                     cat_basis(_ones, lambda x: x * x / (1 + x * x), lambda x: (x * x / (1 + x * x)) ** 2)),
        UnseenSystem("Gaussian dip: f = -0.5x - 3(x - 0.7) exp(-(x - 0.7)^2), g = 0.7",
                     _sde("gauss_dip", lambda x: -0.5 * x - 3 * (x - 0.7) * torch.exp(-(x - 0.7) ** 2),
                          lambda x: 0.7 * torch.ones_like(x)),
                     cat_basis(lambda x: x, lambda x: (x - 0.7) * torch.exp(-(x - 0.7) ** 2)), _ones, x0_mean=0.5),
        UnseenSystem("stiffening well: f = 0.5 - x exp(x^2/8), g = 0.4 + 0.3 exp(-(x - 0.5)^2)",
                     _sde("stiffening", lambda x: 0.5 - x * torch.exp(x * x / 8),
                          lambda x: 0.4 + 0.3 * torch.exp(-(x - 0.5) ** 2)),
                     cat_basis(_ones, lambda x: x * torch.exp(x * x / 8)),
                     cat_basis(_ones, lambda x: torch.exp(-(x - 0.5) ** 2), lambda x: torch.exp(-2 * (x - 0.5) ** 2))),
        UnseenSystem("softplus tilt: f = 2 - 1.5 softplus(2x) - 0.5x, g = 0.5 sqrt(1 + softplus(x))",
                     _sde("softplus_tilt", lambda x: 2 - 1.5 * torch.nn.functional.softplus(2 * x) - 0.5 * x,
                          lambda x: 0.5 * torch.sqrt(1 + torch.nn.functional.softplus(x))),
                     cat_basis(_ones, lambda x: torch.nn.functional.softplus(2 * x), lambda x: x),
                     cat_basis(_ones, lambda x: torch.nn.functional.softplus(x))),
        UnseenSystem("wavy cubic: f = 0.5x - 0.5x^3 + cos(2x) exp(-x^2/3), g = 0.6 + 0.2 sin(x)^2",
                     _sde("wavy_cubic", lambda x: 0.5 * x - 0.5 * x ** 3 + torch.cos(2 * x) * torch.exp(-x * x / 3),
                          lambda x: 0.6 + 0.2 * torch.sin(x) ** 2),
                     cat_basis(lambda x: x, lambda x: x ** 3, lambda x: torch.cos(2 * x) * torch.exp(-x * x / 3)),
                     cat_basis(_ones, lambda x: torch.sin(x) ** 2, lambda x: torch.sin(x) ** 4)),
        UnseenSystem("quartic-root well: f = -x (1 + x^2)^0.5 + 1.5x exp(-x^2), g = 0.9 - 0.4 exp(-x^2)",
                     _sde("root_well", lambda x: -x * torch.sqrt(1 + x * x) + 1.5 * x * torch.exp(-x * x),
                          lambda x: 0.9 - 0.4 * torch.exp(-x * x)),
                     cat_basis(lambda x: x * torch.sqrt(1 + x * x), lambda x: x * torch.exp(-x * x)),
                     cat_basis(_ones, lambda x: torch.exp(-x * x), lambda x: torch.exp(-2 * x * x))),
    ]


def unseen_cases(systems_: list[UnseenSystem]) -> list[Case]:
    """Every system in every context shape of :data:`UNSEEN_SHAPES` (Euler-Maruyama with 10 substeps)."""
    return [Case(f"{s.name} | {shape.name}", s.sde, shape.dt, shape.n_paths, shape.n_steps, s.drift_basis,
                 s.diff2_basis, False, substeps=10, noise=shape.noise, x0_mean=s.x0_mean)
            for s in systems_ for shape in UNSEEN_SHAPES]


# --- two-dimensional systems (issue 19) -----------------------------------------------------------

def _monomials_2d(deg: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """All monomials of (x, y) of total degree <= deg as columns (an oracle's basis)."""
    from fimcg.estimators.bases import polynomial_features
    return lambda z: polynomial_features(z, deg)


def _mueller_brown_basis(z: torch.Tensor) -> torch.Tensor:
    """The gradients of the Müller-Brown potential's four Gaussian terms, (N, 8): the true drift's basis
    (the drift is a linear combination of these columns in each coordinate)."""
    from fimcg.sde import systems as sy
    t = lambda v: torch.tensor(v, dtype=z.dtype)  # noqa: E731
    x, y = z[..., 0:1], z[..., 1:2]
    dx, dy = x - t(sy._MB_x), y - t(sy._MB_y)
    e = torch.exp(t(sy._MB_a) * dx ** 2 + t(sy._MB_b) * dx * dy + t(sy._MB_c) * dy ** 2)
    gx = e * (2 * t(sy._MB_a) * dx + t(sy._MB_b) * dy)
    gy = e * (t(sy._MB_b) * dx + 2 * t(sy._MB_c) * dy)
    return torch.cat([gx, gy], dim=-1)


@dataclass(frozen=True)
class System2D:
    """A 2-D system with where its paths start, its simulation step and the oracle's bases.

    ``starts`` (K, 2): paths start at these states in turn (the wells), plus N(0, start_std²) noise.
    ``dt``: the observation step; ``substeps``: Euler-Maruyama steps per observation.
    """

    name: str
    sde: fimcg.SDE
    starts: tuple[tuple[float, float], ...]
    dt: float
    drift_basis: Callable | int
    diff2_basis: Callable | int
    substeps: int = 5
    start_std: float = 0.2


@dataclass(frozen=True)
class Shape2D:
    """How a 2-D system is observed: number of paths and observations per path."""

    name: str
    n_paths: int
    n_obs: int


SHAPES_2D = (Shape2D("many short paths (200 x 50)", 200, 50), Shape2D("few long paths (2 x 5000)", 2, 5000))


def benchmark_2d_systems() -> list[System2D]:
    """The 2-D systems of ``bench/fim_2d.py`` (issue 19's rows; outcome only, never for choosing)."""
    return [
        System2D("gradient double well with coupling", systems.double_well_2d(coupling=1.0),
                 ((-1.0, 0.25), (1.0, -0.25)), 0.01, 3, 0),
        System2D("Müller-Brown", systems.mueller_brown(), ((-0.56, 1.44), (0.62, 0.03), (-0.05, 0.47)), 0.002,
                 _mueller_brown_basis, 0, substeps=4, start_std=0.05),
        System2D("rotating ring, state-dependent noise", systems.rotating_ring(), ((1.0, 0.0), (-1.0, 0.0)),
                 0.01, 3, 2),
    ]


def development_2d_systems() -> list[System2D]:
    """Other 2-D systems, on which the 2-D FIM's checkpoint is chosen (never the benchmark's)."""
    sq = lambda v: torch.sqrt(torch.clamp(v, min=0.0))  # noqa: E731

    def three_hole_drift(z: torch.Tensor) -> torch.Tensor:  # -grad of three Gaussian holes in a quadratic bowl
        cs = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.3]], dtype=z.dtype)
        d = z[..., None, :] - cs
        e = torch.exp(-0.5 * (d * d).sum(-1, keepdim=True) / 0.4 ** 2)
        return -0.3 * z - (3.0 * e * d / 0.4 ** 2).sum(-2)

    def linear_rotation(z: torch.Tensor) -> torch.Tensor:
        a = torch.tensor([[-1.0, -1.5], [1.5, -0.5]], dtype=z.dtype)
        return z @ a.T

    def sheared_cubic(z: torch.Tensor) -> torch.Tensor:
        x, y = z[..., 0], z[..., 1]
        return torch.stack([x - x ** 3 + 0.5 * y, -y + 0.5 * x * x - 0.3], dim=-1)

    def sde2(name, drift, diffusion):
        return fimcg.SDE(drift=drift, diffusion=diffusion, dim=2, name=name)

    return [
        System2D("three holes (gradient, non-polynomial)",
                 sde2("three_holes", three_hole_drift, lambda z: 0.8 * torch.ones_like(z)),
                 ((-1.0, 0.0), (1.0, 0.0), (0.0, 1.3)), 0.005, _monomials_2d(5), 0, start_std=0.1),
        System2D("linear rotation (non-gradient)", sde2("linear_rotation", linear_rotation,
                                                        lambda z: 0.7 * torch.ones_like(z)),
                 ((0.0, 0.0),), 0.01, 1, 0),
        System2D("sheared cubic, state-dependent noise",
                 sde2("sheared_cubic", sheared_cubic, lambda z: sq(0.3 + 0.2 * z * z)),
                 ((-1.0, 0.0), (1.0, 0.0)), 0.01, 3, 2),
    ]


def data_2d(system: System2D, shape: Shape2D, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Paths (n_paths, n_obs, 2) of ``system`` observed every ``system.dt`` (after a burn-in of 20
    observations) and 256 evaluation states: observed states evenly spaced through the data."""
    gen = torch.Generator().manual_seed(5000 + seed)
    starts = torch.tensor(system.starts)
    x0 = starts[torch.arange(shape.n_paths) % len(starts)] + system.start_std * torch.randn(shape.n_paths, 2,
                                                                                            generator=gen)
    burn = 20
    p = fimcg.simulate(system.sde, x0, dt=system.dt, n_steps=shape.n_obs - 1 + burn, substeps=system.substeps,
                       seed=6000 + seed)[:, burn:]
    flat = p.reshape(-1, 2)
    return p, flat[torch.linspace(0, flat.shape[0] - 1, 256).long()]


@dataclass(frozen=True)
class Scene2D:
    """A particle moving in the plane, filmed at 32x32: ``n_paths`` paths of ``n_frames`` frames every
    ``dt`` (Euler-Maruyama with ``substeps`` per frame), a blob of ``blob_width`` px with pixel ``noise``,
    the camera's range the data's with a 10% margin.

    The scenes are sized (paths, frames, noise) so that the data hold some 40 to 60 switches between
    wells: a switching rate counted from n switches has a relative standard error of about 1/sqrt(n),
    so with the 10 to 30 switches of a smaller scene the data's own rate is too uncertain to test a
    model's rate to within 30%."""

    name: str
    sde: fimcg.SDE
    starts: tuple[tuple[float, float], ...]
    dt: float = 0.01
    substeps: int = 5
    n_paths: int = 32
    n_frames: int = 500
    noise: float = 0.02
    blob_width: float = 1.5


def benchmark_2d_scenes() -> list[Scene2D]:
    """The scenes of ``bench/coarse_grain_2d.py`` (issue 19; outcome only)."""
    return [Scene2D("coupled double well (coupling 1, noise 1.3)", systems.double_well_2d(coupling=1.0, sigma=1.3),
                    ((-1.0, 0.25), (1.0, -0.25))),
            Scene2D("Müller-Brown (scale 0.03)", systems.mueller_brown(scale=0.03),
                    ((-0.56, 1.44), (0.62, 0.03), (-0.05, 0.47)), dt=0.005, substeps=5)]


def development_2d_scenes() -> list[Scene2D]:
    """The scene on which the 2-D coarse-graining's settings are chosen (never the benchmark's)."""
    return [Scene2D("double well 2-D (uncoupled, noise 1.3)", systems.double_well_2d(sigma=1.3),
                    ((-1.0, 0.0), (1.0, 0.0)))]


def video_2d_data(scene: Scene2D, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """True states (n_paths, n_frames, 2) every scene.dt (after 50 frames of burn-in) and their video
    (n_paths, n_frames, 32, 32)."""
    gen = torch.Generator().manual_seed(7000 + seed)
    starts = torch.tensor(scene.starts)
    x0 = starts[torch.arange(scene.n_paths) % len(starts)] + 0.1 * torch.randn(scene.n_paths, 2, generator=gen)
    burn = 50
    x = fimcg.simulate(scene.sde, x0, dt=scene.dt, n_steps=scene.n_frames - 1 + burn, substeps=scene.substeps,
                       seed=8000 + seed)[:, burn:]
    frames = render_video(x, size=32, blob_width=scene.blob_width, noise=scene.noise, x_range=camera_range(x),
                          seed=9000 + seed)
    return x, frames


# --- held-out data of the FIM's prior -----------------------------------------------------------

def prior_datasets(*, seed: int = 424242, per_episode: int = 2) -> Iterator[tuple]:
    """Held-out prior data sets, endlessly: (clean paths, dt, sorted query points (G, 1), true drift,
    true diffusion there, transitions). The pretraining's validation seed is not used: a fresh one.

    At most ``per_episode`` data sets come from each episode (one sampling regime: step, number and
    length of paths), so that the data sets span many regimes, from 100 to 50,000 transitions.
    Data sets whose true drift or diffusion is identically zero are skipped (relative errors are
    undefined there).
    """
    prior = SyntheticPrior(PriorConfig(), seed=seed, tokens_per_batch=4000)
    while True:
        b = prior.episode()[0]
        for i in range(min(per_episode, b.paths.shape[0])):
            order = b.queries[i].argsort(dim=0)[:, 0]
            f_t, g_t = b.drift[i][order], b.diffusion[i][order]
            if float(f_t.abs().max()) < 1e-6 or float(g_t.abs().max()) < 1e-6:
                continue
            yield b.paths[i], b.dt, b.queries[i][order], f_t, g_t, b.paths.shape[1] * (b.paths.shape[2] - 1)


def noisy_prior_datasets(n: int, noise_levels, *, seed: int) -> dict[float, list[tuple]]:
    """The first ``n`` data sets of :func:`prior_datasets` (simulated once) at each observation-noise
    level: {level: [(observed paths, dt, query points, true drift), ...]}; data set k gets the noise
    of seed k at every level."""
    clean = list(itertools.islice(prior_datasets(seed=seed), n))
    return {level: [(add_observation_noise(paths, level, k), dt, x, f_t)
                    for k, (paths, dt, x, f_t, _, _) in enumerate(clean)]
            for level in noise_levels}


# --- coarse-graining from video -----------------------------------------------------------------

@dataclass(frozen=True)
class VideoCase:
    """The reference double well rendered at 32x32 along ``embedding``, with pixel noise, a frame every ``dt``."""

    name: str
    embedding: str
    noise: float
    dt: float
    reference: bool = False


VIDEO_CASES = [
    VideoCase("line, clean, dt=0.01", "line", 0.0, 0.01, reference=True),
    VideoCase("line, noise 0.02, dt=0.01", "line", 0.02, 0.01),
    VideoCase("arc, clean, dt=0.01", "arc", 0.0, 0.01),
    VideoCase("arc, noise 0.02, dt=0.01", "arc", 0.02, 0.01),
    VideoCase("line, clean, dt=0.002", "line", 0.0, 0.002),
    VideoCase("line, noise 0.02, dt=0.002", "line", 0.02, 0.002),
    VideoCase("arc, clean, dt=0.002", "arc", 0.0, 0.002),
    VideoCase("arc, noise 0.02, dt=0.002", "arc", 0.02, 0.002),
]


def video_data(case: VideoCase, seed: int, n_paths: int, n_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """True states (n_paths, n_frames, 1) every case.dt and their video (n_paths, n_frames, 32, 32).

    Paths start uniformly in [-1.5, 1.5] and run 1 time unit of burn-in first; Euler-Maruyama at
    the reference step 0.002 (every 5th step kept for dt = 0.01).
    """
    sde = systems.double_well()
    gen = torch.Generator().manual_seed(1000 + seed)
    x0 = torch.rand(n_paths, 1, generator=gen) * 3 - 1.5
    every = max(1, round(case.dt / 0.002))
    burn = round(1.0 / 0.002)
    x = fimcg.simulate(sde, x0, dt=0.002, n_steps=burn + (n_frames - 1) * every, seed=2000 + seed)
    x = x[:, burn::every][:, :n_frames]
    frames = render_video(x, size=32, embedding=case.embedding, noise=case.noise, seed=3000 + seed)
    return x, frames


# --- inference speed ----------------------------------------------------------------------------

def speed_context(n_obs: int) -> torch.Tensor:
    """One path of ``n_obs`` observations of the reference double well (dt = 0.002, from 0, seed 0)."""
    return fimcg.simulate(systems.double_well(), torch.zeros(1, 1), dt=0.002, n_steps=n_obs - 1, seed=0)
