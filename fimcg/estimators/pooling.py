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
   paths (or blocks of time) are dealt into :data:`FOLDS` folds; for every fold and rank the
   family is refined on the other folds and scored by the held-out transitions' weighted squared
   error (for the drift, their Gaussian likelihood up to constants). ``r = 0`` is the
   collection's mean alone. (Every fold's refinement starts from the principal directions of
   estimates made on all the data; the scores use only transitions that the fold's family and
   coefficients were not fitted to.)

What is kept of a recording's own estimate
------------------------------------------
A recording outside the family (an odd one out) should not be forced into it. Its pooled
estimate is ``centre_k + w (e_k - centre_k)``, its family fit plus a share ``w`` of the
difference to its own estimate, with one ``w`` in [0, 1] for the collection chosen by the same
cross-validation (:func:`select_family` with ``leave_out``): each fold's transitions score the
fold's family fit and the estimator's estimate made *without* that fold
(:func:`fold_estimates`), and the squared error is quadratic in ``w``, so the best ``w`` is a
ratio of sums. Measured on development collections (seeds 0-2 of ``bench/many_recordings.py``):
empirical Bayes with delete-one-path jackknife variances (James–Stein towards the family fit)
kept 10-30% of the own estimates and was worse than the family fit alone in every case; the
jackknife sees the estimate's variance, not its bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from .._validation import check_int, check_paths, check_positive
from .classic import interpolate_1d, transitions
from .splines import SPLINE_SEGMENTS, bspline_basis, difference_penalty, fit_penalised, spline_sums

__all__ = ["fold_estimates", "Family", "learn_family", "fit_family", "refine_family", "select_family",
           "split_pieces", "MAX_FAMILY_RANK", "FOLDS", "FAMILY_ITERATIONS"]

#: the largest family rank :func:`select_family` considers (fewer when the collection is small)
MAX_FAMILY_RANK = 6
#: the most alternations of :func:`refine_family`'s least squares
FAMILY_ITERATIONS = 50
#: folds of the cross-validation (a recording with fewer paths is cut into this many blocks of time)
FOLDS = 4


def split_pieces(paths: torch.Tensor, pieces: int = FOLDS, *, min_length: int = 10) -> torch.Tensor:
    """Paths (n, T, d) as at least ``pieces`` paths: with fewer, each is cut into k equal blocks of
    time (the transitions across the cuts and the last T mod k observations are lost), unless a
    block would be shorter than ``min_length``, in which case the paths are returned as they are."""
    n, T, d = paths.shape
    k = -(-pieces // n)
    if k > 1 and T // k >= min_length:
        L = T // k
        return paths[:, :L * k].reshape(n * k, L, d)
    return paths


def fold_estimates(estimator: Callable, paths: Any, dt: float, locations: Any, *, folds: int = FOLDS
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A recording's estimate from all its paths, and from all but each fold of them.

    The paths (n, T, d) are cut by :func:`split_pieces` (so that there are at least ``folds``
    pieces) and piece j belongs to fold ``j % folds``, as in :func:`select_family`.

    Args:
        estimator: ``(paths, dt, locations) -> (drift (G, d), diffusion (G, d))``.
        paths: (n, T, d). dt: time between observations. locations: (G, d).

    Returns:
        ``(drift (G, d), diffusion (G, d), drifts without each fold (F, G, d), diffusions² without each
        fold (F, G, d))``, F = min(folds, pieces).

    Raises:
        ValueError: a recording too short to cut into two pieces.
    """
    pieces = split_pieces(check_paths(paths), folds)
    n = pieces.shape[0]
    if n < 2:
        raise ValueError(f"a recording needs at least 2 paths, or one long enough to cut into {folds} blocks of "
                         f"10 observations; got {n} of {pieces.shape[1]}")
    f, g = estimator(pieces, dt, locations)
    outs = [estimator(pieces[[j for j in range(n) if j % folds != i]], dt, locations) for i in range(min(folds, n))]
    return f, g, torch.stack([o[0] for o in outs]), torch.stack([o[1] ** 2 for o in outs])


@dataclass(frozen=True)
class Family:
    """Functions of one kind learned from a collection (module doc), tabulated on a 1-D grid:
    ``h(x) = mean(x) + sum_j coefficients_j components_j(x)``.

    Attributes:
        grid: (G,) increasing locations. mean: (G,). components: (r, G), the principal directions
            scaled by the collection's spread along them (a coefficient of 1 is one standard deviation).
        tails: beyond the grid the functions continue along their end segments (``"linear"``, drifts:
            a wall keeps its slope) or are held (``"constant"``, g²).
        scores: the cross-validated error of each rank considered (:func:`select_family`; empty
            when the family was not cross-validated).
        own_weight: the share w of a recording's own estimate that its pooled estimate
            ``fit + w (own - fit)`` keeps, by cross-validation (:func:`select_family` with
            ``leave_out``); None when not cross-validated.
    """

    grid: torch.Tensor
    mean: torch.Tensor
    components: torch.Tensor
    tails: str = "linear"
    scores: tuple[float, ...] = ()
    own_weight: float | None = None

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
    if g.numel() < 2 or not bool((g[1:] > g[:-1]).all()):
        raise ValueError("grid must be increasing, with at least 2 points")
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
    if x.shape[1] != 1:
        raise ValueError(f"a family of functions of one variable needs 1-D paths; these have d={x.shape[1]}")
    x, dx, tau = x[:, 0].double(), dx[:, 0].double(), tau[:, 0].double()
    grid = family.grid
    g2 = torch.as_tensor(g2).double().reshape(-1)
    if g2.numel() != grid.numel() or not bool(torch.isfinite(g2).all()) or bool((g2 < 0).any()):
        raise ValueError(f"g2 must be {grid.numel()} finite values >= 0 on the family's grid, got {g2.numel()} "
                         f"(min {float(g2.min()) if g2.numel() else float('nan'):g})")
    floor = 1e-6 * float(g2.max().clamp_min(1e-12))
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
    if not bool(torch.isfinite(pooled.error)):
        raise ValueError("the collection's transitions support no smooth fit on the grid (too few distinct states "
                         "under it)")
    pen = difference_penalty(s_pp.shape[-1])
    scale = torch.diagonal(s_pp.sum(0)).sum() / torch.diagonal(pen).sum()
    penalty = float(pooled.lam) * float(scale) / s_pp.shape[0] * pen
    table = torch.cat([family.mean[:, None], family.components.T], dim=1)
    start = torch.linalg.lstsq(_grid_splines(family, n_segments), table).solution
    return _reduced_rank(s_pp, r, start, penalty, iterations=iterations)


def select_family(estimates: torch.Tensor, grid: torch.Tensor, paths: list[torch.Tensor], dt: Any, *,
                  g2: torch.Tensor, target: str = "drift", drift: torch.Tensor | None = None,
                  ranks: Sequence[int] | None = None, max_rank: int = MAX_FAMILY_RANK,
                  leave_out: list[torch.Tensor] | None = None, n_segments: int = SPLINE_SEGMENTS,
                  iterations: int = FAMILY_ITERATIONS) -> Family:
    """The collection's family, refined on its transitions, its rank and the share of the own
    estimates kept chosen by cross-validation on the collection (module doc).

    Every recording is cut into pieces (its paths; a recording of fewer than :data:`FOLDS` paths
    into blocks of time, :func:`split_pieces`), and piece j belongs to fold ``j % FOLDS``. For each
    fold and each candidate rank the family is started from the principal directions of
    ``estimates`` and refined (:func:`refine_family`) on the other folds of every recording, and
    the fold's transitions score it by the weighted squared error of :func:`fit_family`'s
    regression (for a drift: the Gaussian transition likelihood up to constants). The rank with the
    smallest total wins, and its family is refined on all the data. With ``leave_out`` the same
    folds choose ``own_weight``: the fold's transitions score ``fit + w (own - fit)``, the fit from
    the fold's family and the own estimate made without the fold; the error is quadratic in w, so
    the best w is a ratio of sums (clipped to [0, 1]).

    Args:
        estimates: (K, G) each recording's estimate on ``grid`` (G,) (drift, or g² for ``"diffusion2"``).
            They start every fold's refinement; the scores use only transitions the fold's family
            and coefficients were not fitted to.
        paths: the K recordings' paths, each (n_k, T_k, 1). dt: time between observations (> 0, one
            number for all).
        g2: (K, G) each recording's own g² (the weights). drift: (K, G) each recording's drift (for
            ``"diffusion2"``: the residuals' centre).
        ranks: the candidate ranks (each <= K - 1); default 0..min(``max_rank``, K - 1).
        leave_out: for each recording its estimates without each fold, (F_k, G)
            (:func:`fold_estimates`); None: ``own_weight`` stays None.

    Returns:
        The chosen :class:`Family` with its ``scores`` (the held-out error of each candidate rank,
        in the order of ``ranks``) and ``own_weight``.
    """
    e = torch.as_tensor(estimates).double()
    if e.ndim != 2:
        raise ValueError(f"estimates must have shape (K, G), got {tuple(e.shape)}")
    K = e.shape[0]
    dt = check_positive(dt, name="dt")
    g2 = torch.as_tensor(g2).double()
    if len(paths) != K or g2.shape != e.shape:
        raise ValueError(f"need one set of paths and one g² per estimate: {K} estimates, {len(paths)} path sets, "
                         f"g2 of shape {tuple(g2.shape)}")
    if target == "diffusion2" and (drift is None or torch.as_tensor(drift).shape != e.shape):
        raise ValueError("target='diffusion2' needs each recording's drift, shape (K, G)")
    if leave_out is not None and len(leave_out) != K:
        raise ValueError(f"leave_out needs one entry per recording ({K}), got {len(leave_out)}")
    if ranks is None:
        ranks = list(range(min(check_int(max_rank, name="max_rank", minimum=0), K - 1) + 1))
    ranks = [check_int(q, name="rank", minimum=0) for q in ranks]
    if not ranks or max(ranks) > K - 1:
        raise ValueError(f"ranks must be non-empty, each between 0 and {K - 1} (recordings - 1); got {ranks}")
    start = learn_family(e, grid, rank=max(ranks), tails="linear" if target == "drift" else "constant")
    drift_k = [None if drift is None else torch.as_tensor(drift[k]) for k in range(K)]
    per_fold = []  # [k][fold] = (training sums, held-out sums, held-out pieces)
    for k, p in enumerate(paths):
        pieces = split_pieces(check_paths(p), FOLDS)
        n = pieces.shape[0]
        if n < 2:
            raise ValueError(f"recording {k} is too short to cross-validate a family (one piece of "
                             f"{pieces.shape[1]} observations)")
        if leave_out is not None and torch.as_tensor(leave_out[k]).shape[0] != min(FOLDS, n):
            raise ValueError(f"leave_out[{k}] must hold {min(FOLDS, n)} estimates (one per fold), got "
                             f"{torch.as_tensor(leave_out[k]).shape[0]}")
        sums = [_regression_sums(start, pieces[j:j + 1], dt, g2[k], target, drift_k[k], n_segments) for j in range(n)]
        per_fold.append([(tuple(sum(t[m] for j, t in enumerate(sums) if j % FOLDS != i) for m in range(4)),
                          tuple(sum(t[m] for j, t in enumerate(sums) if j % FOLDS == i) for m in range(3)),
                          pieces[[j for j in range(n) if j % FOLDS == i]])
                         for i in range(min(FOLDS, n))])
    scores = {q: 0.0 for q in ranks}
    fits = {q: [] for q in ranks}  # per fold: (fold, its recordings' sums, A, C)
    for i in range(FOLDS):
        part = [(k, f[i]) for k, f in enumerate(per_fold) if i < len(f)]
        fit_sums = [t[0] for _, t in part]
        s_pp = torch.stack([t[0] for t in fit_sums])
        r = torch.stack([t[1] for t in fit_sums])
        s_yy = torch.stack([torch.as_tensor(t[2]) for t in fit_sums])
        for q in ranks:
            fam = Family(grid=start.grid, mean=start.mean, components=start.components[:q], tails=start.tails)
            A, C = _fit_reduced_rank(fam, s_pp, r, s_yy, sum(t[3] for t in fit_sums), n_segments=n_segments,
                                     iterations=iterations)
            for (_, (_, (h_pp, h_r, h_yy), _)), c in zip(part, C):
                a = A @ c
                scores[q] += float(0.5 * (h_yy - 2 * a @ h_r + a @ h_pp @ a))
            fits[q].append((i, part, A, C))
    best = min(ranks, key=lambda q: scores[q])
    weight = None
    if leave_out is not None:
        num = den = 0.0
        on_grid = _grid_splines(start, n_segments)
        for i, part, A, C in fits[best]:
            for (k, (_, _, held)), c in zip(part, C):
                fit = on_grid @ (A @ c)  # (G,) the fold's family member of recording k
                own = torch.as_tensor(leave_out[k]).double().reshape(-1, e.shape[1])[i]
                x, _, y, w = _targets(start, held, dt, g2[k], target, drift_k[k])
                c_x, d_x = _at(x, start.grid, torch.stack([fit, own - fit], 1), start.tails).unbind(1)
                num += float((w * (y - c_x) * d_x).sum())
                den += float((w * d_x ** 2).sum())
        weight = min(max(num / den, 0.0), 1.0) if den > 0 else 0.0
    chosen = refine_family(Family(grid=start.grid, mean=start.mean, components=start.components[:best],
                                  tails=start.tails), paths, dt, g2=g2, target=target, drift=drift,
                           n_segments=n_segments, iterations=iterations)
    return Family(grid=chosen.grid, mean=chosen.mean, components=chosen.components, tails=chosen.tails,
                  scores=tuple(scores[q] for q in ranks), own_weight=weight)
