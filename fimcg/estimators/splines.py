"""Penalised splines whose smoothness the data choose: a nonparametric estimate of drift and diffusion.

A P-spline (Eilers & Marx, 1996) is a cubic B-spline on many equally spaced knots with a penalty on
the second differences of neighbouring coefficients::

    minimise  Σ_n w_n (y_n - φ(x_n)ᵀc)²  +  λ cᵀ DᵀD c          (φ: the K B-splines)

The knots only set the finest detail the fit can have; λ sets how much of it the data support, and
is chosen per data set by generalised cross-validation (Craven & Wahba, 1979), the leave-one-out
error with every leverage replaced by the mean one,

    GCV(λ) = RSS(λ) / (N (1 - df(λ)/N)²),     df(λ) = tr((ΦᵀWΦ + λDᵀD)⁻¹ ΦᵀWΦ),

over a log grid of λ. As λ → ∞ the fit becomes the weighted least-squares line (second differences
vanish only on a line), so a P-spline never does worse than a linear fit by much, and as λ → 0 it
is an unpenalised cubic spline. Everything is computed from the sums ΦᵀWΦ, ΦᵀWy and Σ w y², which
the caller may take on a binning grid (:func:`spline_sums`); the same functions serve
:func:`penalised_spline` (the estimator) and the FIM's spline candidate (:mod:`fimcg.fim.library`).

Beyond the knots' range [lo, hi] a drift is continued by its tangent line at the boundary, a g²
by its boundary value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .._validation import check_int, check_locations
from .classic import transitions

__all__ = ["bspline_basis", "spline_design", "difference_penalty", "SplineFit", "fit_penalised", "spline_sums", "penalised_spline",
           "SPLINE_SEGMENTS", "LAMBDA_GRID"]


#: default number of knot intervals over the data range (the finest detail: 1/20 of the range)
SPLINE_SEGMENTS = 20


#: a fit needs data under at least this fraction of its basis functions (else it is unavailable)
MIN_OCCUPIED_FRACTION = 0.5


#: the smoothing parameters tried, relative to tr(ΦᵀWΦ) / tr(DᵀD): from almost none to a straight line
LAMBDA_GRID = tuple(10.0 ** (k / 2) for k in range(-12, 13))


def bspline_basis(u: torch.Tensor, n_segments: int, *, derivative: bool = False) -> torch.Tensor:
    """Cubic B-splines on ``n_segments`` equal intervals of [0, 1], at u (...,) clamped to [0, 1].

    Returns (..., n_segments + 3): the K = n_segments + 3 basis functions (they sum to 1), or with
    ``derivative`` their derivatives with respect to u.
    """
    n = check_int(n_segments, name="n_segments", minimum=1)
    s = u.clamp(0, 1) * n
    i = s.detach().floor().clamp(max=n - 1)
    t = s - i
    if derivative:
        parts = [-(1 - t) ** 2 / 2, (3 * t * t - 4 * t) / 2, (-3 * t * t + 2 * t + 1) / 2, t * t / 2]
        parts = [p * n for p in parts]
    else:
        parts = [(1 - t) ** 3 / 6, (3 * t ** 3 - 6 * t * t + 4) / 6, (-3 * t ** 3 + 3 * t * t + 3 * t + 1) / 6,
                 t ** 3 / 6]
    out = u.new_zeros(*u.shape, n + 3)
    idx = i.long()[..., None]
    for k, p in enumerate(parts):
        out = out.scatter_add(-1, idx + k, p[..., None])
    return out


def spline_design(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, n_segments: int, *,
                  tails: str = "constant") -> torch.Tensor:
    """The K = n_segments + 3 cubic B-splines of [lo, hi] (each (...,)) at x (..., M): (..., M, K).

    Beyond [lo, hi] each is held at its boundary value (``tails="constant"``) or continued by its
    tangent there (``"linear"``), so a fit continues the same way.
    """
    if tails not in ("constant", "linear"):
        raise ValueError(f"tails must be 'linear' or 'constant', got {tails!r}")
    u = (x - lo[..., None]) / (hi - lo)[..., None]
    inside = u.clamp(0, 1)
    design = bspline_basis(inside, n_segments)
    if tails == "constant":
        return design
    return design + (u - inside)[..., None] * bspline_basis(inside, n_segments, derivative=True)


def difference_penalty(n_basis: int, *, order: int = 2, dtype: torch.dtype = torch.float64,
                       device: torch.device | str | None = None) -> torch.Tensor:
    """DᵀD (n_basis, n_basis) for D the ``order``-th difference matrix of the coefficients."""
    d = torch.eye(n_basis, dtype=dtype, device=device)
    for _ in range(order):
        d = d[1:] - d[:-1]
    return d.T @ d


@dataclass
class SplineFit:
    """A penalised spline chosen by GCV, batched over leading dimensions (...).

    Attributes:
        coef: (..., K) B-spline coefficients.
        lo, hi: (...,) the knots' range, in the units of x.
        error: (...,) the GCV prediction error RSS / (N (1 - df/N)²) (units of y²).
        df: (...,) effective number of parameters of the chosen fit.
        lam: (...,) the chosen λ (relative to tr(ΦᵀWΦ) / tr(DᵀD)).
    """

    coef: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    error: torch.Tensor
    df: torch.Tensor
    lam: torch.Tensor

    @property
    def n_segments(self) -> int:
        return self.coef.shape[-1] - 3

    def __call__(self, x: torch.Tensor, *, tails: str = "linear") -> torch.Tensor:
        """The fit at x (..., G) (leading dimensions as the fit's): (..., G). Beyond [lo, hi] it is
        continued by its tangent (``tails="linear"``, for drifts) or by its boundary value
        (``"constant"``, for g², which must stay positive)."""
        return (spline_design(x, self.lo, self.hi, self.n_segments, tails=tails) * self.coef[..., None, :]).sum(-1)


def fit_penalised(s_pp: torch.Tensor, r: torch.Tensor, s_yy: torch.Tensor, n: float | torch.Tensor,
                  lo: torch.Tensor, hi: torch.Tensor, *, lambdas: tuple[float, ...] = LAMBDA_GRID) -> SplineFit:
    """The P-spline of smallest GCV error over ``lambdas``, from the weighted sums of a regression.

    Args:
        s_pp: (..., K, K) ΦᵀWΦ. r: (..., K) ΦᵀWy. s_yy: (...,) Σ w y².
        n: the number of observations N (a number or (...,)) whose weights are summed (weights are
            normalised so that they average 1 over the N observations).
        lo, hi: (...,) the range the basis spans.
        lambdas: smoothing parameters relative to tr(ΦᵀWΦ) / tr(DᵀD).

    Returns:
        The chosen :class:`SplineFit` per batch entry (selection is not differentiated through;
        the coefficients are, with respect to the sums). Solved in float64, returned in the sums'
        dtype. Unavailable (zero coefficients and df, infinite error) when no λ is solvable or the
        data lie under fewer than :data:`MIN_OCCUPIED_FRACTION` of the basis functions.
    """
    out_dtype = s_pp.dtype
    s_pp, r, s_yy = s_pp.double(), r.double(), s_yy.double()  # K x K solves: float64 costs nothing here
    K = s_pp.shape[-1]
    pen = difference_penalty(K, dtype=s_pp.dtype, device=s_pp.device)
    n_t = torch.as_tensor(n, dtype=s_pp.dtype, device=s_pp.device)
    scale = (torch.diagonal(s_pp, dim1=-2, dim2=-1).sum(-1) / torch.diagonal(pen).sum()).clamp_min(1e-30)
    lam = torch.as_tensor(lambdas, dtype=s_pp.dtype, device=s_pp.device)  # (L,)
    a = s_pp[..., None, :, :] + (lam[:, None, None] * scale[..., None, None, None]) * pen  # (..., L, K, K)
    a = a + 1e-10 * scale[..., None, None, None] * torch.eye(K, dtype=s_pp.dtype, device=s_pp.device)
    chol, info = torch.linalg.cholesky_ex(a)
    rhs = torch.cat([r[..., None, :, None].expand(*a.shape[:-1], 1), s_pp[..., None, :, :].expand_as(a)], dim=-1)
    sol = torch.cholesky_solve(rhs, chol)
    coef, hat = sol[..., 0], sol[..., 1:]
    df = torch.diagonal(hat, dim1=-2, dim2=-1).sum(-1)  # (..., L)
    quad = (torch.einsum("...kl,...ml->...mk", s_pp, coef) * coef).sum(-1)
    rss = (s_yy[..., None] - 2 * (coef * r[..., None, :]).sum(-1) + quad).clamp_min(0)
    n_b = n_t[..., None] if n_t.ndim else n_t
    gcv = rss / (n_b * (1 - df / n_b).clamp_min(0.05) ** 2)
    # data on too few distinct states support only a few basis functions: then GCV rewards
    # interpolating them (an error near 0 with wild values between), so the fit is unavailable
    diag = torch.diagonal(s_pp, dim1=-2, dim2=-1)
    occupied = (diag > 1e-6 * diag.amax(-1, keepdim=True)).sum(-1)  # (...,)
    usable = (occupied >= MIN_OCCUPIED_FRACTION * K)[..., None]
    gcv = torch.where((info == 0) & torch.isfinite(gcv) & usable, gcv, torch.full_like(gcv, float("inf")))
    best = gcv.detach().argmin(dim=-1)  # (...,)

    def pick(t: torch.Tensor) -> torch.Tensor:
        return t.gather(-1, best[..., None])[..., 0]

    chosen = coef.gather(-2, best[..., None, None].expand(*best.shape, 1, K))[..., 0, :]
    error = pick(gcv)
    # no usable λ (a degenerate system): zero coefficients and df, infinite error (the caller's "unavailable")
    ok = torch.isfinite(error)
    chosen = torch.where(ok[..., None], torch.nan_to_num(chosen), torch.zeros_like(chosen))
    df_b = torch.where(ok, torch.nan_to_num(pick(df)), torch.zeros_like(error))
    return SplineFit(coef=chosen.to(out_dtype), lo=lo, hi=hi, error=error.to(out_dtype), df=df_b.to(out_dtype),
                     lam=lam[best].to(out_dtype))


def spline_sums(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                n_segments: int, *, tails: str = "constant") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ΦᵀWΦ (..., K, K), ΦᵀWy (..., K), Σ w y² (...,)) of points x (..., M) with targets y and
    weights w (both (..., M)) on the B-splines of [lo, hi] (both (...,)), continued beyond it as
    :func:`spline_design`'s ``tails`` say."""
    phi = spline_design(x, lo, hi, n_segments, tails=tails)  # (..., M, K)
    pw = phi * w[..., None]
    return pw.transpose(-1, -2) @ phi, (pw * y[..., None]).sum(-2), (w * y * y).sum(-1)


def penalised_spline(paths: Any, dt: Any, locations: Any, *, n_segments: int = SPLINE_SEGMENTS,
                     observation_noise: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Drift and diffusion by penalised splines with GCV-chosen smoothness (one-dimensional states).

    The drift is the P-spline of the rates Δx/Δt on the start states, weighted by Δt (see the
    module docstring); the squared diffusion the P-spline of the squared residuals
    (Δx - f̂ Δt)²/Δt. With ``observation_noise`` the latter become noise-robust,
    ((Δx_t - f̂Δt)² + 2 (Δx_t - f̂Δt)(Δx_t+1 - f̂Δt))/Δt: white observation noise of variance σ² adds
    2σ² to the square and -σ² to the product of consecutive increments, so the sum is unbiased
    (and noisier; the last increment of each path is dropped).

    Args:
        paths: observed paths (n_paths, T, 1), T >= 3.
        dt: time between observations, or the steps between them ((T - 1,) or (n_paths, T - 1)).
        locations: query points (G, 1).
        n_segments: knot intervals over the data range (the finest detail the fits may have).
        observation_noise: use the noise-robust squared residuals for g².

    Returns:
        ``(drift, diffusion)``, each (G, 1), diffusion >= 0; beyond the data the drift is continued
        linearly, the diffusion by its value at the edge.

    Raises:
        ValueError: states of more than one dimension, or fewer than 3 observations per path.
    """
    p, x, dx, tau = transitions(paths, dt)
    if p.shape[-1] != 1:
        raise ValueError(f"penalised_spline takes one-dimensional paths (n_paths, T, 1); got d = {p.shape[-1]}")
    if p.shape[1] < 3:
        raise ValueError(f"penalised_spline needs at least 3 observations per path; got {p.shape[1]}")
    n_segments = check_int(n_segments, name="n_segments", minimum=1)
    loc = check_locations(locations, d=1).to(device=p.device, dtype=p.dtype)
    shape = (p.shape[0], p.shape[1] - 1)  # (n_paths, T - 1): consecutive increments of a path side by side
    x, dx, tau = (t.reshape(shape).double() for t in (x, dx, tau))
    lo, hi = x.detach().min(), x.detach().max()
    if not bool(hi > lo):
        raise ValueError("penalised_spline needs paths that move (all start states are equal)")
    w = tau / tau.mean()
    n = x.numel()

    def fit(xs: torch.Tensor, ys: torch.Tensor, ws: torch.Tensor, count: int) -> SplineFit:
        s_pp, r, s_yy = spline_sums(xs.reshape(-1), ys.reshape(-1), ws.reshape(-1), lo, hi, n_segments)
        out = fit_penalised(s_pp, r, s_yy, count, lo, hi)
        if not bool(torch.isfinite(out.error)):
            raise ValueError("penalised_spline found no solvable smoothing on these paths (non-finite values, or "
                             "too few distinct states for the knots: lower n_segments)")
        return out

    drift = fit(x, dx / tau, w, n)
    resid = dx - drift(x.reshape(-1)).reshape(x.shape) * tau
    if observation_noise:
        target = (resid[:, :-1] ** 2 + 2 * resid[:, :-1] * resid[:, 1:]) / tau[:, :-1]
        xs, ones = x[:, :-1], torch.ones_like(target)
    else:
        target, xs, ones = resid ** 2 / tau, x, torch.ones_like(resid)
    g2 = fit(xs, target, ones, target.numel())
    q = loc[:, 0].double()
    return drift(q)[:, None].to(p.dtype), g2(q, tails="constant").clamp_min(0).sqrt()[:, None].to(p.dtype)
