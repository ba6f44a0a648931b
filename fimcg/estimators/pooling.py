"""Pooling estimates across recordings: a family of functions learned from the collection.

Many short recordings of one kind of system (the same double well with a different barrier in
each, say) each give a rough estimate of their drift and diffusion. What the collection knows
better than any one recording is *which functions* its members are made of: recordings of one
kind of system differ by a few parameters (a barrier height, a noise level, a tilt), so their
drifts lie near a low-dimensional family

    f_k(x) = m(x) + sum_{j<=r} c_kj phi_j(x).

Given the family, a recording needs only its ``r`` coefficients, and its transitions determine
those far better than a whole function. With Euler-Maruyama increments dX (time step tau) at
states x,

    dX / tau = f(x) + noise of variance g(x)² / tau     ->  c_k = weighted least squares of
    dX / tau - m(x) on phi(x), weights tau / g(x)²        (:func:`fit_family`, ``target="drift"``)

and likewise ``(dX - f(x) tau)² / tau = g²(x) + noise of variance 2 g(x)⁴`` for a family of g²
(``target="diffusion2"``). This is least squares in a known basis, the classic estimator that is
best when its basis is right, with the basis learned from the collection instead of assumed.

Learning the family
-------------------
1. **Start**: the mean and the leading principal directions of the recordings' own estimates on a
   grid (:func:`learn_family`, functional PCA). The FIM reads each recording in one pass, so this
   costs nothing; but every estimate carries the estimator's own errors, and a family spanned by
   them keeps those errors (measured: least squares in such a family is barely better than the
   recordings' own estimates).
2. **Refine on the data** (:func:`refine_family`): reduced-rank regression. The mean and the
   components become cubic P-splines, and they and every recording's coefficients minimise the
   weighted squared error of the regression above summed over *all* the collection's transitions
   (alternating least squares from the start), with a second-difference penalty on every
   recording's member whose size generalised cross-validation picks for the collection's pooled
   mean (:func:`fimcg.estimators.splines.fit_penalised`). Thousands of transitions per function
   instead of one recording's.
3. **The rank** (:func:`select_family`): cross-validation on the collection. Each recording's
   paths (or blocks of time) are dealt into :data:`JACKKNIFE_PIECES` folds; for every fold and
   rank the family is refined on the other folds and scored by the held-out transitions' weighted
   squared error (for the drift, their Gaussian likelihood up to constants). ``r = 0`` is the
   collection's mean alone.

What is kept of a recording's own estimate
------------------------------------------
A recording outside the family (an odd one out) should not be forced into it. Its pooled
estimate is ``centre_k + w (e_k - centre_k)``, its family fit plus a share ``w`` of the
difference to its own estimate, with one ``w`` in [0, 1] for the collection chosen by
cross-validation (:func:`own_weight`): each path's transitions score the family fit and the
estimator's estimate made *without* that path (the delete-one-path estimates of
:func:`jackknife`), and the squared error is quadratic in ``w``, so the best ``w`` is a ratio of
sums. Measured on development collections (seeds 0-2 of ``bench/many_recordings.py``): empirical
Bayes with jackknife variances (James–Stein towards the family fit) kept 10-30% of the own
estimates and was worse than the family fit alone in every case; the jackknife sees the
estimate's variance, not its bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from .._validation import check_int, check_paths, check_positive
from .classic import interpolate_1d, transitions
from .splines import SPLINE_SEGMENTS, bspline_basis, difference_penalty, fit_penalised, spline_sums

__all__ = ["jackknife", "Family", "learn_family", "fit_family", "refine_family", "select_family", "own_weight",
           "split_pieces", "MAX_FAMILY_RANK", "JACKKNIFE_PIECES", "FAMILY_ITERATIONS"]

#: the largest family rank :func:`select_family` considers (fewer when the collection is small)
MAX_FAMILY_RANK = 6
#: the most alternations of :func:`refine_family`'s least squares
FAMILY_ITERATIONS = 50
#: a recording with fewer paths is cut into this many pieces (blocks of time) for the jackknife and
#: for cross-validating a family's rank
JACKKNIFE_PIECES = 4


def split_pieces(paths: torch.Tensor, pieces: int = JACKKNIFE_PIECES, *, min_length: int = 10) -> torch.Tensor:
    """Paths (n, T, d) as at least ``pieces`` paths: with fewer, each is cut into equal blocks of
    time (only the transitions across the cuts are lost), unless a block would be shorter than
    ``min_length``, in which case the paths are returned as they are."""
    n, T, d = paths.shape
    k = -(-pieces // n)
    if k > 1 and T // k >= min_length:
        L = T // k
        return paths[:, :L * k].reshape(n * k, L, d)
    return paths


def jackknife(estimator: Callable, paths: Any, dt: Any, locations: Any, *, min_groups: int = 2,
              leave_out: bool = False) -> tuple[torch.Tensor, ...]:
    """Estimate on all ``paths`` (n_paths, T, d) and the delete-one-path jackknife variances.

    With ``n`` paths the estimator is rerun ``n`` times, each time without one path (``n - 1`` paths
    of the same recording), and ``var = (n - 1)/n * sum_i (e_(i) - mean_i e_(i))²``: the variance of
    the estimate from all ``n`` paths, without assuming anything about the estimator.

    Returns:
        ``(drift (G, d), diffusion (G, d), drift variance (G, d), variance of diffusion² (G, d))``,
        and with ``leave_out`` also the delete-one-path estimates ``(drifts (n, G, d), diffusions²
        (n, G, d))`` (estimate i made without path i).

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
    return (f, g, var_f, var_g2, fs_t, g2s_t) if leave_out else (f, g, var_f, var_g2)


@dataclass(frozen=True)
class Family:
    """Functions of one kind learned from a collection (module doc), tabulated on a 1-D grid:
    ``h(x) = mean(x) + sum_j coefficients_j components_j(x)``.

    Attributes:
        grid: (G,) increasing locations. mean: (G,). components: (r, G), the principal directions
            scaled by the collection's spread along them (a coefficient of 1 is one standard deviation).
        tails: beyond the grid the functions continue along their end segments (``"linear"``, drifts:
            a wall keeps its slope) or are held (``"constant"``, g²).
        scores: the cross-validated error of each rank 0..max considered (:func:`select_family`;
            empty when the rank was given).
    """

    grid: torch.Tensor
    mean: torch.Tensor
    components: torch.Tensor
    tails: str = "linear"
    scores: tuple[float, ...] = ()

    @property
    def rank(self) -> int:
        return int(self.components.shape[0])

    def values(self, coefficients: torch.Tensor) -> torch.Tensor:
        """The family's member with ``coefficients`` (..., r) on the grid: (..., G)."""
        c = torch.as_tensor(coefficients, dtype=self.mean.dtype)
        return self.mean + c @ self.components if self.rank else self.mean.expand(*c.shape[:-1], -1).clone()

    def at(self, x: torch.Tensor) -> torch.Tensor:
        """Mean and components at states x (N,), linear between grid points and continued beyond the
        grid as ``tails`` says: (N, 1 + r)."""
        return _at(x, self.grid, torch.cat([self.mean[:, None], self.components.T], dim=1), self.tails)


def _at(x: torch.Tensor, grid: torch.Tensor, table: torch.Tensor, tails: str) -> torch.Tensor:
    """Columns of ``table`` (G, m) tabulated on ``grid`` (G,) at x (N,): (N, m), linear between grid
    points; beyond the grid held (``"constant"``) or continued along the end segments (``"linear"``)."""
    x = x.to(table.dtype)
    grid = grid.to(table.dtype)
    out = interpolate_1d(x, grid, table)
    if tails == "linear":
        low = (table[1] - table[0]) / (grid[1] - grid[0])
        high = (table[-1] - table[-2]) / (grid[-1] - grid[-2])
        out = out + (x - grid[0]).clamp_max(0)[:, None] * low + (x - grid[-1]).clamp_min(0)[:, None] * high
    return out


def learn_family(estimates: torch.Tensor, grid: torch.Tensor, *, rank: int, tails: str = "linear") -> Family:
    """The mean and the ``rank`` leading principal directions of K estimates (K, G) on ``grid`` (G,)
    or (G, 1) (functional PCA; ``rank <= K - 1``); ``tails`` as in :class:`Family` ("linear" for
    drifts, "constant" for g²)."""
    if tails not in ("linear", "constant"):
        raise ValueError(f"tails must be 'linear' or 'constant', got {tails!r}")
    e = torch.as_tensor(estimates).double()
    if e.ndim != 2 or not bool(torch.isfinite(e).all()):
        raise ValueError(f"estimates must be finite, shape (K, G); got {tuple(e.shape)}")
    g = torch.as_tensor(grid).double().reshape(-1)
    if g.numel() != e.shape[1]:
        raise ValueError(f"grid has {g.numel()} points, the estimates {e.shape[1]}")
    rank = check_int(rank, name="rank", minimum=0)
    if rank > e.shape[0] - 1:
        raise ValueError(f"a family of rank {rank} needs at least {rank + 1} estimates, got {e.shape[0]}")
    mean = e.mean(0)
    if rank == 0:
        return Family(grid=g, mean=mean, components=e.new_zeros(0, e.shape[1]), tails=tails)
    _, s, vh = torch.linalg.svd(e - mean, full_matrices=False)
    return Family(grid=g, mean=mean, components=vh[:rank] * (s[:rank, None] / max(e.shape[0] - 1, 1) ** 0.5),
                  tails=tails)


def _targets(family: Family, paths: Any, dt: Any, g2: torch.Tensor, target: str, drift: torch.Tensor | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Regression data of one recording for :func:`fit_family`: the start states x (N,), the
    family there (N, 1 + r), the target y (N,) and the weights (N,) (inverse noise variances).
    Beyond the grid the family, the recording's g² and (for g²) its drift continue as the
    family's and a drift's and a g²'s tails do (:class:`Family`)."""
    if target not in ("drift", "diffusion2"):
        raise ValueError(f"target must be 'drift' or 'diffusion2', got {target!r}")
    if target == "diffusion2" and drift is None:
        raise ValueError("target='diffusion2' needs the recording's drift on the grid")
    _, x, dx, tau = transitions(paths, dt)
    x, dx, tau = x[:, 0].double(), dx[:, 0].double(), tau[:, 0].double()
    grid = family.grid
    floor = 1e-6 * float(g2.abs().max().clamp_min(1e-12))
    g2x = _at(x, grid, g2.double().reshape(-1, 1), "constant")[:, 0].clamp_min(floor)
    if target == "drift":
        return x, family.at(x), dx / tau, tau / g2x
    fx = _at(x, grid, drift.double().reshape(-1, 1), "linear")[:, 0]
    return x, family.at(x), (dx - fx * tau) ** 2 / tau, 1.0 / (2 * g2x ** 2)


def fit_family(family: Family, paths: Any, dt: Any, *, g2: torch.Tensor, target: str = "drift",
               drift: torch.Tensor | None = None) -> torch.Tensor:
    """One recording's coefficients (r,) in ``family``, by weighted least squares on its transitions.

    Args:
        family: the collection's :class:`Family` (of the drift or of g²).
        paths: (n_paths, T, 1) the recording's paths (latent units). dt: time between observations.
        g2: (G,) the recording's own g² on the family's grid: the noise variance of each transition
            (the weights; module doc).
        target: ``"drift"`` (the family is of f) or ``"diffusion2"`` (of g²).
        drift: (G,) the recording's drift on the grid (for ``"diffusion2"``: the residuals' centre).

    Returns:
        Float64 coefficients (r,); empty for a rank-0 family. Directions the data do not determine
        (no transitions where a component lives) get the minimum-norm solution, i.e. 0.
    """
    if family.rank == 0:
        return family.mean.new_zeros(0)
    _, at, y, w = _targets(family, paths, dt, torch.as_tensor(g2), target, drift)
    if y.numel() == 0:
        return family.mean.new_zeros(family.rank)
    sw = w.sqrt()
    sol = torch.linalg.lstsq((at[:, 1:] * sw[:, None]), ((y - at[:, 0]) * sw)[:, None], driver="gelsd")
    return sol.solution[:, 0]


def _regression_sums(family: Family, paths: Any, dt: Any, g2: torch.Tensor, target: str,
                     drift: torch.Tensor | None, n_segments: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(ΦᵀWΦ (nb, nb), ΦᵀWy (nb,), Σ w y², N) of one set of paths' regression (:func:`fit_family`'s
    targets and weights) on the cubic B-splines of the family's grid range (nb = n_segments + 3;
    beyond the range they continue as the family's ``tails`` say)."""
    x, _, y, w = _targets(family, paths, dt, g2, target, drift)
    grid = family.grid
    s_pp, r, s_yy = spline_sums(x, y, w, grid[0], grid[-1], n_segments, tails=family.tails)
    return s_pp, r, s_yy, int(y.numel())


def _reduced_rank(s_pp: torch.Tensor, r: torch.Tensor, start: torch.Tensor, penalty: torch.Tensor, *,
                  iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Alternating least squares for K recordings' members a_0 + B c_k (module doc).

    Args:
        s_pp: (K, nb, nb) each recording's ΦᵀWΦ, r: (K, nb) its ΦᵀWy. start: (nb, 1 + rank) the spline
            coefficients of the mean and the components to start from. penalty: (nb, nb) λ DᵀD,
            charged on every recording's member (so the factorisation's scale does not matter).

    Returns:
        ``(A (nb, 1 + rank), C (K, 1 + rank))``: the coefficients of mean and components, and each
        recording's (1, c_k).
    """
    A = start.clone()
    K, nb, _ = s_pp.shape
    q = A.shape[1]
    sp = s_pp + penalty
    ridge = 1e-10 * torch.diagonal(sp, dim1=-2, dim2=-1).sum(-1).mean()
    C = torch.ones(K, 1, dtype=A.dtype)
    for _ in range(iterations):
        if q > 1:
            B = A[:, 1:]
            M = B.T @ sp @ B + ridge * torch.eye(q - 1, dtype=A.dtype)
            b = B.T @ (r - sp @ A[:, 0])[..., None]
            C = torch.cat([torch.ones(K, 1, dtype=A.dtype), torch.linalg.solve(M, b)[..., 0]], dim=1)
        big = torch.einsum("ka,kb,kij->aibj", C, C, sp).reshape(q * nb, q * nb)
        rhs = torch.einsum("ka,ki->ai", C, r).reshape(q * nb)
        new = torch.linalg.solve(big + ridge * torch.eye(q * nb, dtype=A.dtype), rhs).reshape(q, nb).T
        done = float((new - A).norm()) <= 1e-8 * float(new.norm().clamp_min(1e-30))
        A = new
        if done or q == 1:
            break
    return A, C


def refine_family(family: Family, paths: list[torch.Tensor], dt: Any, *, g2: torch.Tensor, target: str = "drift",
                  drift: torch.Tensor | None = None, n_segments: int = SPLINE_SEGMENTS,
                  iterations: int = FAMILY_ITERATIONS) -> Family:
    """The family of the same rank that best fits all the collection's transitions (module doc).

    Reduced-rank regression: the mean and the components, each a cubic P-spline on ``n_segments``
    intervals of the family's grid range, and every recording's coefficients minimise the weighted
    squared error of :func:`fit_family`'s regression summed over the K recordings, plus a
    second-difference penalty on every recording's member; alternating least squares from
    ``family`` (the principal directions of the recordings' estimates). The penalty is the one
    generalised cross-validation picks for the collection's pooled mean
    (:func:`fimcg.estimators.splines.fit_penalised`), shared out over the K members.

    Args:
        family: the start (e.g. :func:`learn_family` of the recordings' FIM estimates).
        paths: the K recordings' paths, each (n_k, T_k, 1). dt: time between observations.
        g2: (K, G) each recording's g² on the grid (the weights). target, drift: as in :func:`fit_family`
            (drift: (K, G)).
        iterations: the most alternations (fewer when the fit stops changing).

    Returns:
        The refined :class:`Family` on the same grid: the mean and principal directions of the K
        fitted members (so its components are orthogonal and scaled like :func:`learn_family`'s).
    """
    K = len(paths)
    sums = [_regression_sums(family, p, dt, torch.as_tensor(g2[k]), target,
                             None if drift is None else torch.as_tensor(drift[k]), n_segments) for k, p in enumerate(paths)]
    s_pp = torch.stack([t[0] for t in sums])
    r = torch.stack([t[1] for t in sums])
    A, C = _fit_reduced_rank(family, s_pp, r, torch.stack([t[2] for t in sums]), sum(t[3] for t in sums),
                             n_segments=n_segments, iterations=iterations)
    members = (C @ A.T) @ _grid_splines(family, n_segments).T  # (K, G)
    return learn_family(members, family.grid, rank=family.rank, tails=family.tails)


def _grid_splines(family: Family, n_segments: int) -> torch.Tensor:
    """The B-splines (G, nb) of the family's grid range at its grid points."""
    g = family.grid
    return bspline_basis((g - g[0]) / (g[-1] - g[0]), n_segments)


def _fit_reduced_rank(family: Family, s_pp: torch.Tensor, r: torch.Tensor, s_yy: torch.Tensor, n: int, *,
                      n_segments: int, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_reduced_rank` from ``family``'s tabulated functions, with the GCV penalty of the pooled mean."""
    g = family.grid
    pooled = fit_penalised(s_pp.sum(0), r.sum(0), s_yy.sum(), float(n), g[0], g[-1])
    pen = difference_penalty(s_pp.shape[-1])
    scale = torch.diagonal(s_pp.sum(0)).sum() / torch.diagonal(pen).sum()
    penalty = float(pooled.lam) * float(scale) / s_pp.shape[0] * pen
    table = torch.cat([family.mean[:, None], family.components.T], dim=1)
    start = torch.linalg.lstsq(_grid_splines(family, n_segments), table).solution
    return _reduced_rank(s_pp, r, start, penalty, iterations=iterations)


def select_family(estimates: torch.Tensor, grid: torch.Tensor, paths: list[torch.Tensor], dt: Any, *,
                  g2: torch.Tensor, target: str = "drift", drift: torch.Tensor | None = None,
                  max_rank: int = MAX_FAMILY_RANK, n_segments: int = SPLINE_SEGMENTS,
                  iterations: int = FAMILY_ITERATIONS) -> Family:
    """The collection's family, refined on its transitions, its rank chosen by cross-validation
    on the collection (module doc).

    Every recording is cut into pieces (its paths; a recording of fewer than
    :data:`JACKKNIFE_PIECES` paths into blocks of time), and the pieces are dealt into
    :data:`JACKKNIFE_PIECES` folds. For each fold and each rank r <= ``max_rank`` (at most K - 1):
    the family of rank r is started from the principal directions of ``estimates`` and refined
    (:func:`refine_family`) on every recording's other pieces, and the held-out pieces' weighted
    squared error (for a drift: their Gaussian transition likelihood, up to constants) is added to
    r's score. The rank with the smallest total wins; its family is refined on all the data.

    Args:
        estimates: (K, G) each recording's estimate on ``grid`` (G,) (drift, or g² for ``"diffusion2"``).
        paths: the K recordings' paths, each (n_k, T_k, 1). dt: time between observations (> 0, one
            number for all).
        g2: (K, G) each recording's own g² (the weights). drift: (K, G) each recording's drift (for
            ``"diffusion2"``: the residuals' centre).
        max_rank: the largest rank considered.

    Returns:
        The chosen :class:`Family`, its ``scores`` the held-out error of every rank considered.
    """
    e = torch.as_tensor(estimates).double()
    K = e.shape[0]
    dt = check_positive(dt, name="dt")
    if len(paths) != K or torch.as_tensor(g2).shape != e.shape:
        raise ValueError(f"need one set of paths and one g² per estimate: {K} estimates, {len(paths)} path sets, "
                         f"g2 of shape {tuple(torch.as_tensor(g2).shape)}")
    if target == "diffusion2" and (drift is None or torch.as_tensor(drift).shape != e.shape):
        raise ValueError("target='diffusion2' needs each recording's drift, shape (K, G)")
    top = min(check_int(max_rank, name="max_rank", minimum=0), K - 1)
    start = learn_family(e, grid, rank=top, tails="linear" if target == "drift" else "constant")
    folds = JACKKNIFE_PIECES
    per_fold = []  # [fold][k] = (training sums, held-out sums)
    for k, p in enumerate(paths):
        pieces = split_pieces(check_paths(p), folds)
        if pieces.shape[0] < 2:
            raise ValueError(f"recording {k} is too short to cross-validate a family (one piece of "
                             f"{pieces.shape[1]} observations)")
        sums = [_regression_sums(start, pieces[j:j + 1], dt, torch.as_tensor(g2[k]), target,
                                 None if drift is None else torch.as_tensor(drift[k]), n_segments)
                for j in range(pieces.shape[0])]
        per_fold.append([(tuple(sum(t[m] for j, t in enumerate(sums) if j % folds != i) for m in range(4)),
                          tuple(sum(t[m] for j, t in enumerate(sums) if j % folds == i) for m in range(3)))
                         for i in range(min(folds, pieces.shape[0]))])
    scores = [0.0] * (top + 1)
    for i in range(folds):
        part = [(k, f[i]) for k, f in enumerate(per_fold) if i < len(f)]
        fit_sums = [t[0] for _, t in part]
        s_pp = torch.stack([t[0] for t in fit_sums])
        r = torch.stack([t[1] for t in fit_sums])
        s_yy = torch.stack([torch.as_tensor(t[2]) for t in fit_sums])
        for rank in range(top + 1):
            fam = Family(grid=start.grid, mean=start.mean, components=start.components[:rank], tails=start.tails)
            A, C = _fit_reduced_rank(fam, s_pp, r, s_yy, sum(t[3] for t in fit_sums), n_segments=n_segments,
                                     iterations=iterations)
            for (k, (_, (h_pp, h_r, h_yy))), c in zip(part, C):
                a = A @ c
                scores[rank] += float(0.5 * (h_yy - 2 * a @ h_r + a @ h_pp @ a))
    best = min(range(top + 1), key=lambda q: scores[q])
    chosen = refine_family(Family(grid=start.grid, mean=start.mean, components=start.components[:best],
                                  tails=start.tails), paths, dt, g2=g2, target=target, drift=drift,
                           n_segments=n_segments, iterations=iterations)
    return Family(grid=chosen.grid, mean=chosen.mean, components=chosen.components, tails=chosen.tails,
                  scores=tuple(scores))


def own_weight(family: Family, pieces: list[torch.Tensor], dt: Any, leave_out: list[torch.Tensor], *,
               g2: torch.Tensor, target: str = "drift", drift: torch.Tensor | None = None) -> float:
    """The share ``w`` in [0, 1] of its own estimate that a recording's pooled estimate keeps,
    ``centre + w (own - centre)``, by cross-validation over the collection (module doc).

    For every recording k and every piece i of it: the centre is k's fit in ``family`` on its other
    pieces, the own estimate is the estimator's estimate without piece i (``leave_out[k][i]``), and
    piece i's transitions score ``centre + w (own - centre)`` by :func:`fit_family`'s weighted squared
    error. The error is quadratic in w, so the best w is a ratio of sums (clipped to [0, 1]).

    Args:
        family: the collection's :class:`Family`.
        pieces: the K recordings' pieces, each (n_k, T_k, 1), as the estimator's jackknife cut them.
        dt: time between observations. leave_out: (n_k, G) for each recording: the estimate without
            each piece (drift, or g² for ``"diffusion2"``).
        g2: (K, G) each recording's g² (the weights). target, drift: as in :func:`fit_family`
            (drift: (K, G)).

    Returns:
        w (1.0 when no piece has transitions where own and centre differ).
    """
    num = den = 0.0
    for k, p in enumerate(pieces):
        n = p.shape[0]
        lo = torch.as_tensor(leave_out[k]).double().reshape(n, -1)
        d_k = None if drift is None else torch.as_tensor(drift[k])
        for i in range(n):
            rest = p[[j for j in range(n) if j != i]]
            centre = family.values(fit_family(family, rest, dt, g2=torch.as_tensor(g2[k]), target=target, drift=d_k))
            x, _, y, w = _targets(family, p[i:i + 1], dt, torch.as_tensor(g2[k]), target, d_k)
            table = torch.stack([centre, lo[i] - centre], dim=1)
            c_x, diff_x = _at(x, family.grid, table, family.tails).unbind(1)
            num += float((w * (y - c_x) * diff_x).sum())
            den += float((w * diff_x ** 2).sum())
    if den <= 0:
        return 1.0
    return min(max(num / den, 0.0), 1.0)
