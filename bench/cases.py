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
from fimcg.video import render_video

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
    x0 = case.x0_std * torch.randn(case.n_paths, 1, generator=gen)
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
