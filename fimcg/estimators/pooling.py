"""Pooling estimates across recordings: jackknife variances and empirical-Bayes shrinkage.

Many short recordings of one kind of system (the same double well with a different barrier in
each, say) each give a rough estimate of their drift and diffusion. Treating the recordings as
draws from a population gives a better estimate of each (James–Stein / empirical Bayes): at every
location ``x`` of a grid, with ``K`` per-recording estimates ``e_k(x)`` and their sampling
variances ``v_k(x)``,

    mean      m(x)   = (1/K) sum_k e_k(x)
    spread    tau²(x) = max(0, var_k e_k(x) - mean_k v_k(x))       (the population's own variance)
    shrunk    e_k*(x) = m(x) + w_k(x) (e_k(x) - m(x)),   w_k(x) = tau²(x) / (tau²(x) + v_k(x)).

A recording whose estimate is precise (small ``v_k``) keeps it; a noisy one moves towards the
collection; where the recordings genuinely differ (large ``tau²``) little is pooled. A new
recording is shrunk towards the same ``m`` with the same ``tau²`` (:func:`shrink` with ``prior=``).
The sampling variance of one recording's estimate comes from the recording itself, by the
delete-one-path jackknife (:func:`jackknife`), so nothing here assumes a model of the estimator's
error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from .._validation import check_paths

__all__ = ["jackknife", "Prior", "shrink"]


def jackknife(estimator: Callable, paths: Any, dt: Any, locations: Any, *, min_groups: int = 2
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Estimate on all ``paths`` (n_paths, T, d) and the delete-one-path jackknife variances.

    With ``n`` paths the estimator is rerun ``n`` times, each time without one path (``n - 1`` paths
    of the same recording), and ``var = (n - 1)/n * sum_i (e_(i) - mean_i e_(i))²``: the variance of
    the estimate from all ``n`` paths, without assuming anything about the estimator.

    Returns:
        ``(drift (G, d), diffusion (G, d), drift variance (G, d), variance of diffusion² (G, d))``.

    Raises:
        ValueError: fewer than ``min_groups`` paths (a single path has no jackknife).
    """
    p = check_paths(paths)
    n = p.shape[0]
    if n < min_groups:
        raise ValueError(f"the jackknife needs at least {min_groups} paths per recording, got {n}")
    f, g = estimator(p, dt, locations)
    fs, g2s = [], []
    for i in range(n):
        keep = [j for j in range(n) if j != i]
        step = dt[keep] if isinstance(dt, torch.Tensor) and dt.ndim == 2 else dt
        fi, gi = estimator(p[keep], step, locations)
        fs.append(fi)
        g2s.append(gi ** 2)
    fs_t, g2s_t = torch.stack(fs), torch.stack(g2s)
    scale = (n - 1) / n
    var_f = scale * ((fs_t - fs_t.mean(0)) ** 2).sum(0)
    var_g2 = scale * ((g2s_t - g2s_t.mean(0)) ** 2).sum(0)
    return f, g, var_f, var_g2


@dataclass(frozen=True)
class Prior:
    """What a collection says about its members at each grid location: the population ``mean``
    and ``spread`` (tau², the variance of the members' true values), each (G, d)."""

    mean: torch.Tensor
    spread: torch.Tensor


def shrink(estimates: torch.Tensor, variances: torch.Tensor, *, prior: Prior | None = None
           ) -> tuple[torch.Tensor, Prior, torch.Tensor]:
    """Empirical-Bayes shrinkage of per-recording estimates (module doc).

    Args:
        estimates: (K, G, d) one estimate per recording at G locations.
        variances: (K, G, d) their sampling variances (e.g. from :func:`jackknife`), >= 0.
        prior: the collection's :class:`Prior` to shrink towards (for recordings outside it); by
            default it is estimated from ``estimates`` themselves (needs K >= 2).

    Returns:
        ``(shrunk (K, G, d), the prior used, weights w (K, G, d) in [0, 1] given to each recording's own
        estimate)``.
    """
    e = torch.as_tensor(estimates)
    v = torch.as_tensor(variances, dtype=e.dtype)
    if e.ndim != 3 or v.shape != e.shape:
        raise ValueError(f"estimates and variances must both have shape (K, G, d); got {tuple(e.shape)} and "
                         f"{tuple(v.shape)}")
    if bool((v < 0).any()) or not bool(torch.isfinite(v).all()) or not bool(torch.isfinite(e).all()):
        raise ValueError("estimates must be finite and variances finite and >= 0")
    if prior is None:
        if e.shape[0] < 2:
            raise ValueError("estimating the collection's prior needs at least 2 recordings")
        mean = e.mean(0)
        spread = (e.var(0, unbiased=True) - v.mean(0)).clamp_min(0.0)
        prior = Prior(mean=mean, spread=spread)
    w = prior.spread / (prior.spread + v).clamp_min(torch.finfo(e.dtype).tiny)
    w = torch.where(prior.spread + v > 0, w, torch.ones_like(w))
    return prior.mean + w * (e - prior.mean), prior, w
