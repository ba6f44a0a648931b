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


def validate(model: PolynomialSDE | SDE, paths: Any, dt: float, *, thresholds: tuple[float, float] | None = None,
             n_paths: int = 100, duration: float = 50.0, max_step: float = 0.002, seed: int = 0) -> Validation:
    """Compare a (discovered) 1-D SDE with observed paths by coordinate-free statistics.

    The model is simulated from initial states drawn from the data (``n_paths`` paths for
    ``duration`` time units, Euler-Maruyama steps of at most ``max_step``), observed every ``dt``.
    Switching statistics use ``thresholds`` (default: from the model drift's wells by
    :func:`well_thresholds` over the data range). The stationary distributions are compared by the
    KS distance between all data observations and the model's observations after a burn-in of one
    tenth of the duration. Model paths that diverge are dropped from the point they diverge.
    """
    data = check_paths(paths, name="paths", min_length=2)
    if data.shape[2] != 1:
        raise ValueError(f"validate supports one-dimensional paths; got d={data.shape[2]}")
    dt = check_positive(dt, name="dt")
    n_paths = check_int(n_paths, name="n_paths", minimum=1)
    sde = model.sde() if isinstance(model, PolynomialSDE) else model
    if not isinstance(sde, SDE):
        raise TypeError(f"model must be a PolynomialSDE or fimcg.SDE, got {type(model).__name__}")
    x = data.detach().cpu().double()
    lo, hi = float(x.min()), float(x.max())
    if thresholds is None:
        thresholds = well_thresholds(sde.drift, lo, hi)
    duration = check_positive(duration, name="duration")
    substeps = max(1, math.ceil(dt / check_positive(max_step, name="max_step") - 1e-9))
    n_steps = max(1, int(round(duration / dt)))
    gen = np.random.default_rng(seed)
    x0 = x.reshape(-1)[torch.as_tensor(gen.integers(0, x.numel(), n_paths))][:, None].float()
    sim = simulate(sde, x0, dt=dt, n_steps=n_steps, substeps=substeps, seed=seed, on_divergence="nan",
                   bound=10 * max(abs(lo), abs(hi), 1.0))
    st_data = switching_statistics(x, dt, thresholds=thresholds)
    st_model = switching_statistics(sim, dt, thresholds=thresholds)
    ks = ks_distance(x, sim[:, n_steps // 10:])
    return Validation(st_data, st_model, ks, n_paths, n_steps * dt)
