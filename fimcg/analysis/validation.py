"""Coordinate-free validation of an SDE against data: well switches, first passages, stationary distributions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable
import numpy as np
import torch
from .._validation import as_tensor, check_int, check_paths, check_positive, to_numpy
from ..sde.model import SDE
from ..sde.simulate import simulate
from .discovery import PolynomialSDE


@dataclass(frozen=True)
class SwitchingStatistics:
    """Well switches with hysteresis.

    Attributes:
        n_switches: completed switches (reaching the other well's threshold), all paths.
        total_time: observed time summed over paths (time units).
        rate: switches per unit time (n_switches / total_time).
        mfpt: mean first passage time between wells: the mean time from arriving in one well to
            arriving in the other (NaN when fewer than one complete passage was observed).
        thresholds: (low, high) thresholds used.
    """

    n_switches: int
    total_time: float
    rate: float
    mfpt: float
    thresholds: tuple[float, float]


def switching_statistics(paths: Any, dt: float, *, thresholds: tuple[float, float]) -> SwitchingStatistics:
    """Count well switches in 1-D paths (n_paths, T, 1) with hysteresis thresholds (low, high).

    A path is in the low well after it last reached ``x <= low`` and in the high well after it last
    reached ``x >= high``; a switch is a change of well. NaN observations (diverged simulations)
    end a path's record.
    """
    p = to_numpy(as_tensor(paths, name="paths"), dtype=np.float64)
    if p.ndim == 3 and p.shape[2] == 1:
        p = p[:, :, 0]
    elif p.ndim == 1:
        p = p[None]
    if p.ndim != 2:
        raise ValueError(f"paths must be one-dimensional, (n_paths, T, 1); got shape {tuple(np.shape(paths))}")
    dt = check_positive(dt, name="dt")
    lo, hi = (float(t) for t in thresholds)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"thresholds must be finite with low < high, got {thresholds!r}")
    n_sw, total, passages = 0, 0.0, []
    for x in p:
        ok = np.isfinite(x)
        if not ok.all():
            x = x[: int(np.argmin(ok))]
        if x.size < 2:
            continue
        total += (x.size - 1) * dt
        lab = np.where(x <= lo, -1, np.where(x >= hi, 1, 0))
        idx = np.maximum.accumulate(np.where(lab != 0, np.arange(x.size), 0))
        state = lab[idx]
        start = int(np.argmax(state != 0)) if (state != 0).any() else x.size
        s = state[start:]
        change = np.nonzero(s[1:] != s[:-1])[0] + 1 + start  # arrival times in the new well
        n_sw += change.size
        if change.size >= 2:
            passages.extend(np.diff(change) * dt)
    rate = n_sw / total if total > 0 else float("nan")
    mfpt = float(np.mean(passages)) if passages else float("nan")
    return SwitchingStatistics(int(n_sw), float(total), float(rate), mfpt, (lo, hi))


def well_thresholds(drift: Callable[[Any], Any], lo: float, hi: float, *, fraction: float = 0.5,
                    n_grid: int = 2001) -> tuple[float, float]:
    """Hysteresis thresholds between two wells from the zeros of a 1-D drift on [lo, hi].

    The two outermost stable fixed points a < b (f crosses zero downwards) and the unstable point c
    between them give thresholds ``c + fraction (a - c)`` and ``c + fraction (b - c)``. For the
    reference double well (a, c, b = -1, 0, 1) and ``fraction = 0.5`` these are -0.5 and 0.5.

    Raises ``ValueError`` when the drift does not show two wells on the interval.
    """
    xs = np.linspace(float(lo), float(hi), n_grid)
    fx = drift(torch.tensor(xs[:, None], dtype=torch.float64))
    fx = to_numpy(fx, dtype=np.float64).reshape(-1)
    s = np.sign(fx)
    down = np.nonzero((s[:-1] > 0) & (s[1:] <= 0))[0]
    up = np.nonzero((s[:-1] < 0) & (s[1:] >= 0))[0]
    if down.size < 2:
        raise ValueError(f"the drift has {down.size} stable fixed point(s) on [{lo:g}, {hi:g}]; two wells are "
                         "needed for switching statistics (pass thresholds explicitly)")
    a, b = xs[down[0]], xs[down[-1]]
    mids = [xs[i] for i in up if a < xs[i] < b]
    c = mids[len(mids) // 2] if mids else 0.5 * (a + b)
    return float(c + fraction * (a - c)), float(c + fraction * (b - c))


@dataclass(frozen=True)
class CoreStatistics:
    """Occupation of and switches between metastable cores in d dimensions (see :func:`core_statistics`).

    Attributes:
        centres: (K, d) the cores' centres. radius: the cores' radius (state units).
        occupation: (K,) share of the observations nearest to each centre (a Voronoi partition).
        n_switches: completed switches (arrival in a core other than the last one visited), all paths.
        total_time: observed time summed over paths. rate: n_switches / total_time.
    """

    centres: np.ndarray
    radius: float
    occupation: np.ndarray
    n_switches: int
    total_time: float
    rate: float


def attractors(drift: Callable[[Any], Any], starts: Any, *, n_steps: int = 3000, tol: float | None = None
               ) -> np.ndarray:
    """Stable fixed points of a drift field in d dimensions, found from ``starts`` (M, d).

    Every start follows the deterministic flow dx/dt = f(x) (explicit Euler, ``n_steps`` steps,
    each moving a point by at most 1% of the starts' spread: where the drift is larger than its
    median over the starts the step shrinks, near a fixed point it is 1% of the spread over that
    median drift); end points closer
    than ``tol`` (default 5% of the spread) are merged, and only end points where the flow has
    come to rest (|f| small against its typical size on the starts) count. Returns (K, d) centres,
    ordered by how many starts reach them (most first).
    """
    x = torch.as_tensor(to_numpy(starts, dtype=np.float64))
    if x.ndim != 2 or x.shape[0] < 1 or not bool(torch.isfinite(x).all()):
        raise ValueError(f"starts must be a finite (M, d) array with M >= 1; got shape {tuple(x.shape)}")
    n_steps = check_int(n_steps, name="n_steps", minimum=1)
    spread = float((x.max(0).values - x.min(0).values).max()) or 1.0
    tol = 0.05 * spread if tol is None else check_positive(tol, name="tol")

    def f(z):
        return torch.as_tensor(to_numpy(drift(z.float()), dtype=np.float64)).reshape(z.shape)
    typical = float(f(x).norm(dim=1).median()) or 1.0
    for _ in range(n_steps):
        v = f(x)
        h = 0.01 * spread / v.norm(dim=1, keepdim=True).clamp_min(typical)
        x = x + h * v
    v = f(x).norm(dim=1)
    rest = (v < 1e-2 * typical).numpy()
    ends = x.numpy()[rest & np.all(np.isfinite(x.numpy()), axis=1)]
    centres: list[np.ndarray] = []
    counts: list[int] = []
    for e in ends:
        for k, c in enumerate(centres):
            if np.linalg.norm(e - c) < tol:
                counts[k] += 1
                break
        else:
            centres.append(e)
            counts.append(1)
    order = np.argsort(counts)[::-1]
    return np.array([centres[k] for k in order]).reshape(-1, x.shape[1])


def core_statistics(paths: Any, dt: float, centres: Any, *, radius: float | None = None) -> CoreStatistics:
    """Core-to-core switches and core occupation of d-dimensional paths (n_paths, T, d).

    A path is in core k while within ``radius`` of centre k (default: a quarter of the smallest
    distance between two centres, the d-dimensional counterpart of the 1-D hysteresis thresholds
    halfway to the barrier); it stays assigned to the last core it visited in between, and a switch
    is the arrival in another core. The occupation counts every observation for its nearest centre.
    NaN observations (diverged simulations) end a path's record.
    """
    p = to_numpy(as_tensor(paths, name="paths"), dtype=np.float64)
    if p.ndim != 3:
        raise ValueError(f"paths must have shape (n_paths, T, d); got {p.shape}")
    dt = check_positive(dt, name="dt")
    c = to_numpy(centres, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != p.shape[2] or c.shape[0] < 1:
        raise ValueError(f"centres must have shape (K, {p.shape[2]}) with K >= 1; got {c.shape}")
    if radius is None:
        gaps = [np.linalg.norm(a - b) for i, a in enumerate(c) for b in c[i + 1:]]
        radius = 0.25 * min(gaps) if gaps else float("inf")
    radius = float(radius)
    if not (radius > 0):  # NaN or <= 0; inf (one centre) is fine
        raise ValueError(f"radius must be > 0, got {radius!r}")
    counts = np.zeros(c.shape[0])
    n_sw, total = 0, 0.0
    for x in p:
        ok = np.all(np.isfinite(x), axis=1)
        if not ok.all():
            x = x[: int(np.argmin(ok))]
        if x.shape[0] < 2:
            continue
        total += (x.shape[0] - 1) * dt
        dist = np.linalg.norm(x[:, None, :] - c[None], axis=-1)  # (T, K)
        near = dist.argmin(axis=1)
        counts += np.bincount(near, minlength=c.shape[0])
        lab = np.where(dist[np.arange(x.shape[0]), near] <= radius, near, -1)
        visited = lab[lab >= 0]
        n_sw += int(np.count_nonzero(visited[1:] != visited[:-1]))
    occ = counts / max(counts.sum(), 1.0)
    return CoreStatistics(c, radius, occ, n_sw, total, n_sw / total if total > 0 else float("nan"))


def occupation_distance(a: CoreStatistics, b: CoreStatistics) -> float:
    """Total variation distance ½ Σ_k |a_k - b_k| between two core occupations (same centres), in [0, 1]."""
    if a.occupation.shape != b.occupation.shape:
        raise ValueError("the two statistics must share their centres")
    return float(0.5 * np.abs(a.occupation - b.occupation).sum())


def ks_distance(a: Any, b: Any) -> float:
    """Two-sample Kolmogorov-Smirnov distance (max |F_a - F_b|), ignoring NaN; in [0, 1].

    Invariant under any increasing map applied to both samples, so stationary distributions can
    be compared in a learned latent.
    """
    def flat(v):
        v = to_numpy(v, dtype=np.float64).reshape(-1)
        return np.sort(v[np.isfinite(v)])
    x, y = flat(a), flat(b)
    if x.size == 0 or y.size == 0:
        raise ValueError("ks_distance needs two non-empty samples")
    grid = np.concatenate([x, y])
    fa = np.searchsorted(x, grid, side="right") / x.size
    fb = np.searchsorted(y, grid, side="right") / y.size
    return float(np.max(np.abs(fa - fb)))


@dataclass(frozen=True)
class Validation:
    """Data vs model statistics (both in the same coordinate)."""

    data: SwitchingStatistics
    model: SwitchingStatistics
    ks: float
    n_model_paths: int
    model_time: float

    def as_dict(self) -> dict:
        return {"switch_rate_data": self.data.rate, "switch_rate_model": self.model.rate,
                "mfpt_data": self.data.mfpt, "mfpt_model": self.model.mfpt, "ks_stationary": self.ks,
                "thresholds": list(self.data.thresholds), "n_switches_data": self.data.n_switches,
                "n_switches_model": self.model.n_switches}

    def __str__(self) -> str:
        d, m = self.data, self.model
        return (f"statistic              data      model\n"
                f"switches per unit t  {d.rate:8.3f}  {m.rate:8.3f}\n"
                f"mean first passage   {d.mfpt:8.3f}  {m.mfpt:8.3f}\n"
                f"KS distance of stationary distributions: {self.ks:.3f}\n"
                f"(thresholds {d.thresholds[0]:.3g} / {d.thresholds[1]:.3g}; model: {self.n_model_paths} paths x "
                f"{self.model_time:g} time units)")


@dataclass(frozen=True)
class CoreValidation:
    """Data vs model core statistics in d dimensions (both in the same coordinate, same cores)."""

    data: CoreStatistics
    model: CoreStatistics
    occupation_tv: float
    n_model_paths: int
    model_time: float

    def as_dict(self) -> dict:
        return {"switch_rate_data": self.data.rate, "switch_rate_model": self.model.rate,
                "occupation_data": self.data.occupation.tolist(), "occupation_model": self.model.occupation.tolist(),
                "occupation_tv": self.occupation_tv, "centres": self.data.centres.tolist(),
                "core_radius": self.data.radius, "n_switches_data": self.data.n_switches,
                "n_switches_model": self.model.n_switches}

    def __str__(self) -> str:
        d, m = self.data, self.model
        occ = lambda o: " ".join(f"{v:.3f}" for v in o)  # noqa: E731
        return (f"statistic                 data      model\n"
                f"switches per unit t  {d.rate:9.3f}  {m.rate:9.3f}\n"
                f"core occupation      {occ(d.occupation)}  |  {occ(m.occupation)}\n"
                f"total variation between the occupations: {self.occupation_tv:.3f}\n"
                f"({len(d.centres)} cores of radius {d.radius:.3g}; model: {self.n_model_paths} paths x "
                f"{self.model_time:g} time units)")


def _simulate_from_data(sde: SDE, x: torch.Tensor, dt: float, *, n_paths: int, duration: float, max_step: float,
                        seed: int) -> tuple[torch.Tensor, int]:
    """Model paths (n_paths, n_steps + 1, d) from initial states drawn from the data x (n, T, d), observed every dt."""
    duration = check_positive(duration, name="duration")
    substeps = max(1, math.ceil(dt / check_positive(max_step, name="max_step") - 1e-9))
    n_steps = max(1, int(round(duration / dt)))
    gen = np.random.default_rng(seed)
    flat = x.reshape(-1, x.shape[-1])
    x0 = flat[torch.as_tensor(gen.integers(0, flat.shape[0], n_paths))].float()
    bound = 10 * max(float(flat.abs().max()), 1.0)
    return simulate(sde, x0, dt=dt, n_steps=n_steps, substeps=substeps, seed=seed, on_divergence="nan",
                    bound=bound), n_steps


def validate_cores(model: PolynomialSDE | SDE, paths: Any, dt: float, *, centres: Any = None, n_paths: int = 100,
                   duration: float = 50.0, max_step: float = 0.002, seed: int = 0,
                   window: str = "data") -> CoreValidation:
    """Compare a d-dimensional SDE with observed paths (n_paths, T, d) by core statistics.

    The cores are the model drift's stable fixed points (:func:`attractors`, started from 400 data
    states) unless ``centres`` (K, d) are given, and the data's and the model's core occupations
    (total variation distance) and switching rates (:func:`core_statistics`) are compared in the
    same coordinate. How the model is simulated (Euler-Maruyama steps of at most ``max_step``,
    observed every ``dt``):

    - ``window="data"`` (default): from every observed path's first state, as long as the data
      (at least ``n_paths`` model paths: each start repeated), so the comparison is fair when the
      data have not reached their stationary distribution (paths started evenly in wells of unequal
      depth, as recordings often are);
    - ``window="stationary"``: as :func:`validate` does in 1-D, ``n_paths`` paths from random data
      states for ``duration`` time units, the first tenth dropped: the model's long-run statistics,
      a fair comparison only with data that are stationary themselves.

    Raises:
        ValueError: fewer than two cores (nothing to switch between), or an unknown ``window``.
    """
    if window not in ("data", "stationary"):
        raise ValueError(f"window must be 'data' or 'stationary', got {window!r}")
    data = check_paths(paths, name="paths", min_length=2)
    dt = check_positive(dt, name="dt")
    n_paths = check_int(n_paths, name="n_paths", minimum=1)
    sde = model.sde() if isinstance(model, PolynomialSDE) else model
    if not isinstance(sde, SDE):
        raise TypeError(f"model must be a PolynomialSDE or fimcg.SDE, got {type(model).__name__}")
    x = data.detach().cpu().double()
    if centres is None:
        flat = x.reshape(-1, x.shape[-1])
        centres = attractors(sde.drift, flat[torch.linspace(0, flat.shape[0] - 1, 400).long()])
    centres = to_numpy(centres, dtype=np.float64)
    if centres.ndim != 2 or centres.shape[0] < 2:
        raise ValueError(f"core statistics need at least two metastable states; found {centres.shape[0]} stable "
                         "fixed point(s) of the drift (pass centres explicitly)")
    st_data = core_statistics(x, dt, centres)
    if window == "stationary":
        sim, n_steps = _simulate_from_data(sde, x, dt, n_paths=n_paths, duration=duration, max_step=max_step, seed=seed)
        sim = sim[:, n_steps // 10:]
    else:
        reps = -(-n_paths // x.shape[0])  # ceil
        x0 = x[:, 0].repeat_interleave(reps, dim=0).float()
        n_steps = x.shape[1] - 1
        substeps = max(1, math.ceil(dt / check_positive(max_step, name="max_step") - 1e-9))
        sim = simulate(sde, x0, dt=dt, n_steps=n_steps, substeps=substeps, seed=seed, on_divergence="nan",
                       bound=10 * max(float(x.abs().max()), 1.0))
    st_model = core_statistics(sim, dt, centres, radius=st_data.radius)
    return CoreValidation(st_data, st_model, occupation_distance(st_data, st_model), sim.shape[0],
                          (sim.shape[1] - 1) * dt)


def validate(model: PolynomialSDE | SDE, paths: Any, dt: float, *, thresholds: tuple[float, float] | None = None,
             n_paths: int = 100, duration: float = 50.0, max_step: float = 0.002, seed: int = 0
             ) -> Validation | CoreValidation:
    """Compare a (discovered) 1-D SDE with observed paths by coordinate-free statistics
    (d-dimensional paths: :func:`validate_cores`).

    The model is simulated from initial states drawn from the data (``n_paths`` paths for
    ``duration`` time units, Euler-Maruyama steps of at most ``max_step``), observed every ``dt``.
    Switching statistics use ``thresholds`` (default: from the model drift's wells by
    :func:`well_thresholds` over the data range). The stationary distributions are compared by the
    KS distance between all data observations and the model's observations after a burn-in of one
    tenth of the duration. Model paths that diverge are dropped from the point they diverge.
    """
    data = check_paths(paths, name="paths", min_length=2)
    if data.shape[2] != 1:
        if thresholds is not None:
            raise ValueError("thresholds apply to 1-D paths; d-dimensional paths are compared by cores")
        return validate_cores(model, data, dt, n_paths=n_paths, duration=duration, max_step=max_step, seed=seed)
    dt = check_positive(dt, name="dt")
    n_paths = check_int(n_paths, name="n_paths", minimum=1)
    sde = model.sde() if isinstance(model, PolynomialSDE) else model
    if not isinstance(sde, SDE):
        raise TypeError(f"model must be a PolynomialSDE or fimcg.SDE, got {type(model).__name__}")
    x = data.detach().cpu().double()
    lo, hi = float(x.min()), float(x.max())
    if thresholds is None:
        thresholds = well_thresholds(sde.drift, lo, hi)
    sim, n_steps = _simulate_from_data(sde, x, dt, n_paths=n_paths, duration=duration, max_step=max_step, seed=seed)
    st_data = switching_statistics(x, dt, thresholds=thresholds)
    st_model = switching_statistics(sim, dt, thresholds=thresholds)
    ks = ks_distance(x, sim[:, n_steps // 10:])
    return Validation(st_data, st_model, ks, n_paths, n_steps * dt)
