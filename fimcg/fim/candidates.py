"""The classic estimates the FIM weighs: kernel moments, polynomial least squares, higher degrees, function families, a cross-validated average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence
import torch
import torch.nn.functional as F
from ..estimators.bases import legendre, monomial_exponents, polynomial_features
from ..estimators.kernels import local_line
from ..estimators.splines import fit_penalised, spline_sums
from .normalise import Normalised, active_dims, time_weights


#: prior standard deviation of the Legendre coefficients of :func:`high_degree_fits` and
#: :func:`family_fits` (normalised units): weak, so that steep drifts are not shrunk
GLOBAL_FIT_PRIOR_STD = 50.0


#: nonlinear parameters of :func:`family_fits`, in standardised state units x' = (x - mean) / std:
#: tanh steepness k and rational width r (both with centres c on a uniform grid over the data's 5th
#: to 95th percentile), sine frequency ω (any phase)
FAMILY_STEEPNESS = tuple(round(0.4 * 1.6 ** i, 3) for i in range(8))  # 0.4 to 10.7


FAMILY_WIDTHS = (0.1, 0.3, 1.0, 3.0, 10.0)


FAMILY_FREQUENCIES = tuple(round(0.4 * 1.1 ** i, 3) for i in range(34))  # 0.4 to 9.2


FAMILY_CENTRES = 15


#: the Δ (Akaike units) a family member built on the cubic pays against those built on a line
FAMILY_CUBIC_PENALTY = 16.0


#: grid spacing (standardised units) of the linear binning behind the global fits: the error of a
#: binned sum is below ~3% for the steepest family member and far less for the rest
FIT_BIN_WIDTH = 0.04


FAMILIES = ("tanh", "sine", "rational")


#: prior standard deviation of the coefficients of the linear and cubic drift fits and the
#: quadratic g² fits of :func:`polynomial_fits` (normalised units): a real prior, which shrinks
#: short contexts towards zero drift (the global fits beyond use the weak :data:`GLOBAL_FIT_PRIOR_STD`)
POLYNOMIAL_PRIOR_STD = 2.0


#: the cross-validated average's weights are softmax(-temperature Δ): Akaike weights for 0.5
CV_TEMPERATURE = 0.5


#: Δ of the cross-validated average are capped here (unavailable candidates sit at the cap)
CV_DELTA_CAP = 1e4


#: ridge added to the local variance of x in every local line, as a fraction of the squared bandwidth
LOCAL_LINE_RIDGE = 0.05


#: the floor of the noise-robust estimates of g'², as a fraction of the raw ones (kernel second
#: moments) or of the dataset's mean second moment (quadratic fits): they are noisier and can dip below 0
G2_FLOOR = 0.05


#: the floor of the denominator 1 - leverage of a leave-one-out residual
LEVERAGE_FLOOR = 0.05


#: floor of a variance before its logarithm is taken (log standard errors, log g'²)
LOG_FLOOR = 1e-8


#: floor of the kernel mass per transition before its logarithm (a query far from the data)
LOG_MASS_FLOOR = 1e-6


#: floor of variances and mean squared errors that are divided by (a context with no spread)
VARIANCE_FLOOR = 1e-12


#: floor of the data-dependent ridge penalties λ of the least-squares fits (and of the data range's radius)
RIDGE_FLOOR = 1e-6


#: kernel exponents below this are clamped: denormal floats are very slow on CPUs
KERNEL_EXPONENT_FLOOR = -60.0


#: entries of the (B, K, G, N) kernel matrix computed at once by the exact kernel sums
KERNEL_CHUNK = 1 << 24


#: grid points of the binned kernel sums per smallest bandwidth
KERNEL_BINS_PER_BANDWIDTH = 4


#: the centres of the tanh and rational family terms span these quantiles of the data
FAMILY_CENTRE_QUANTILES = (0.05, 0.95)


def _gaussian_weights(d2: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Kernel weights exp(coef_k d²) (B, K, ...) of squared distances d2 (B, ...) for K coefficients."""
    # clamping the exponent avoids denormal floats, which are very slow on CPUs
    c = coef.reshape((1, -1) + (1,) * (d2.ndim - 1))
    return torch.exp((d2[:, None] * c).clamp_(min=KERNEL_EXPONENT_FLOOR))


def _kernel_sums(x: torch.Tensor, vals: torch.Tensor, q: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Exact Gaussian-kernel sums Σ_n exp(coef_k |q_g - x_n|²) vals_n: (B, K, G, C).

    x (B, N, D), vals (B, N, C), q (B, G, D), coef (K,) negative. Queries are processed in chunks so
    the (B, K, G, N) kernel matrix stays below ~16M entries.
    """
    B, N, _ = x.shape
    K = coef.shape[0]
    step = max(1, KERNEL_CHUNK // max(1, B * K * N))
    sums = []
    for g0 in range(0, q.shape[1], step):
        d2 = torch.cdist(q[:, g0:g0 + step], x).square()  # (B, g, N); not in place: cdist needs its output for backward
        w = _gaussian_weights(d2, coef)  # (B, K, g, N)
        sums.append(torch.bmm(w.reshape(B, -1, N), vals).reshape(B, K, -1, vals.shape[-1]))
    return torch.cat(sums, dim=2)


def _linearcontext_binning(x: torch.Tensor, vals: torch.Tensor, bin_width: float, n_bins: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear binning: each of the N values (B, N, V) at x (B, N) is split between the two nearest
    of ``n_bins`` grid points (spacing ``bin_width``, from the smallest x). Returns the grid sums
    (B, M, V) and the grid points (B, M); Σ_n f(x_n) v_n ≈ Σ_m f(c_m) V_m with an error of order
    bin_width² f''. Differentiable in ``x`` and ``vals``."""
    B, N = x.shape
    lo = x.detach().min(dim=1, keepdim=True).values  # (B, 1)
    u = (x - lo) / bin_width
    i = u.detach().floor().clamp_(0, n_bins - 2)
    frac = (u - i)[..., None]
    i = i.long()[..., None].expand(B, N, vals.shape[-1])
    grid_vals = torch.zeros(B, n_bins, vals.shape[-1], dtype=vals.dtype, device=vals.device)
    grid_vals = grid_vals.scatter_add(1, i, vals * (1 - frac)).scatter_add(1, i + 1, vals * frac)
    return grid_vals, lo + bin_width * torch.arange(n_bins, dtype=x.dtype, device=x.device)


def _binned_kernel_sums(x: torch.Tensor, vals: torch.Tensor, q: torch.Tensor, coef: torch.Tensor,
                        bin_width: float, n_bins: int) -> torch.Tensor:
    """The same sums as :func:`_kernel_sums` for one-dimensional states, through linear binning.

    Each transition's values are split between the two nearest of ``n_bins`` grid points (spacing
    ``bin_width``) and the kernel is evaluated between queries and grid points: cost O(N + G M)
    instead of O(N G). With ``bin_width`` a quarter of the smallest bandwidth the relative error
    of the kernel weights is below 1%. Differentiable in ``x`` and ``vals``.

    x (B, N) and q (B, G): the active coordinate; vals (B, N, C).
    """
    B = x.shape[0]
    grid_vals, centres = _linearcontext_binning(x, vals, bin_width, n_bins)
    w = _gaussian_weights((q[:, :, None] - centres[:, None, :]).square(), coef)  # (B, K, G, M)
    K, G = coef.shape[0], q.shape[1]
    return torch.bmm(w.reshape(B, K * G, n_bins), grid_vals).reshape(B, K, G, -1)


def _kernel_values(ctx: Normalised, da: int) -> torch.Tensor:
    """Per-transition values whose kernel sums give every local estimate, for the first ``da``
    dimensions: (B, N, 1 + 6 da), see :func:`_pad_moments`."""
    x, dx, lagprod = ctx.x[..., :da], ctx.dx[..., :da], ctx.lagprod[..., :da]
    y1 = dx / ctx.dt
    vals = torch.cat([torch.ones_like(ctx.dt), y1, dx ** 2 / ctx.dt, lagprod / ctx.dt, x, x ** 2, x * y1], dim=-1)
    omega = time_weights(ctx)
    return vals if omega is None else vals * omega


def _pad_moments(m: torch.Tensor, da: int, D: int) -> torch.Tensor:
    """Moments (..., 1 + 6 da) of :func:`_kernel_values` padded to D dimensions, (..., 1 + 6 D): the
    padding dimensions' moments are exactly zero (their states and increments are), so they are
    filled in instead of summed."""
    if da == D:
        return m
    blocks = m[..., 1:].unflatten(-1, (6, da))
    return torch.cat([m[..., :1], F.pad(blocks, (0, D - da)).flatten(-2)], dim=-1)


def _kernel_bin_width(bandwidths: Sequence[float]) -> float:
    """Grid spacing of the binned kernel sums: a fraction (:data:`KERNEL_BINS_PER_BANDWIDTH`) of the
    smallest bandwidth."""
    return min(bandwidths) / KERNEL_BINS_PER_BANDWIDTH


def context_binning(ctx: Normalised, bin_width: float) -> tuple[bool, float, int]:
    """(one-dimensional states?, bin width, number of bins) of the linear binning of a context on a
    grid of spacing ``bin_width`` (standardised units)."""
    one_dim = bool((ctx.dim_mask.sum(dim=1) == 1).all()) and bool((ctx.dim_mask[:, 0] == 1).all())
    span = float((ctx.x[..., 0].detach().amax(dim=1) - ctx.x[..., 0].detach().amin(dim=1)).max()) if one_dim else 0.0
    return one_dim, bin_width, int(math.ceil(span / bin_width)) + 2


def kernel_cross_validation(ctx: Normalised, bandwidths: Sequence[float], shrinkage: float) -> torch.Tensor | None:
    """Leave-out cross-validation error of the local-linear drift at every bandwidth, (B, K).

    For every transition n, the local-linear drift at x'_n is computed without transitions n - 1,
    n and n + 1 (leaving the neighbours out too keeps the negative correlation of consecutive
    increments under observation noise from rewarding small bandwidths), and the squared error
    against Δx'_n/Δt'_n is averaged over n. Under irregular sampling the local lines are the
    weighted ones of :func:`kernel_features` and the average is weighted too, by the
    :func:`time_weights` (the squared error of a transition has variance ∝ 1/Δt'). The kernel sums
    at the data come from the binning grid (interpolated linearly), so the cost is O(N + M²) per
    bandwidth. One-dimensional states only: returns None otherwise.
    """
    one_dim, bin_width, n_bins = context_binning(ctx, _kernel_bin_width(bandwidths))
    if not one_dim:
        return None
    B, N, _ = ctx.x.shape
    x, y = ctx.x[..., 0], ctx.dx[..., 0] / ctx.dt[..., 0]
    # what a local line needs, time-weighted as in kernel_features: 1, y, x, x², x y (B, N, 5)
    vals = _kernel_values(ctx, 1)[..., [0, 1, 4, 5, 6]]
    omega = time_weights(ctx)
    glob = vals.mean(dim=1)[:, None, None]  # (B, 1, 1, 5)
    coef = torch.tensor([-0.5 / (h * h) for h in bandwidths], dtype=x.dtype, device=x.device)
    lo = x.detach().min(dim=1, keepdim=True).values
    nodes = lo + bin_width * torch.arange(n_bins, dtype=x.dtype, device=x.device)  # (B, M)
    at_nodes = _binned_kernel_sums(x, vals, nodes, coef, bin_width, n_bins)  # (B, K, M, 5)
    u = ((x - lo) / bin_width).detach()
    i = u.floor().clamp(0, n_bins - 2).long()
    frac = (u - i)[:, None, :, None]
    K = coef.shape[0]
    idx = i[:, None, :, None].expand(B, K, N, 5)
    agg = (1 - frac) * at_nodes.gather(2, idx) + frac * at_nodes.gather(2, idx + 1)  # (B, K, N, 5) at x_n
    for shift in (-1, 0, 1):  # leave out the transition and its two neighbours
        w = _gaussian_weights((torch.roll(x, shift, dims=1) - x).square(), coef)  # (B, K, N)
        agg = agg - w[..., None] * torch.roll(vals, shift, dims=1)[:, None]
    # the local line at x_n, with the same shrinkage and ridge as kernel_features
    h2 = torch.tensor([h * h for h in bandwidths], dtype=x.dtype, device=x.device)[None, :, None]
    mass, sum_y, sum_x, sum_xx, sum_xy = agg.unbind(-1)
    ll = local_line(mass, sum_y, sum_x, sum_xx, sum_xy, x[:, None], pseudo_count=shrinkage, prior_y=glob[..., 1],
                    ridge=LOCAL_LINE_RIDGE * h2)[1]  # (B, K, N)
    err = (y[:, None] - ll).square()
    return (err if omega is None else err * omega[:, None, :, 0]).mean(dim=2)


#: transitions (evenly spaced in the data's order) at which :func:`kernel_cross_validation_nd`
#: scores the leave-out local lines of a multi-dimensional context
KERNEL_CV_POINTS = 256


def kernel_cross_validation_nd(ctx: Normalised, bandwidths: Sequence[float], shrinkage: float) -> torch.Tensor:
    """Leave-out cross-validation errors of the local-linear drifts of a context in any dimension, (B, da, K).

    The same estimate as :func:`kernel_cross_validation` (transitions n - 1, n and n + 1 left out,
    time-weighted), per active dimension i for the local line of Δx'_i/Δt' along x'_i with the
    multivariate Gaussian kernel of :func:`kernel_features`, scored at :data:`KERNEL_CV_POINTS`
    transitions spread evenly over the data (exact kernel sums: cost O(N K min(N, 256)) instead of
    the binning grid of one-dimensional states).
    """
    B, N, D = ctx.x.shape
    da = active_dims(ctx)
    M = min(N, KERNEL_CV_POINTS)
    idx = torch.linspace(0, N - 1, M, device=ctx.x.device).round().long()
    vals = _kernel_values(ctx, da)  # (B, N, 1 + 6 da): 1, y, m2, lag, x, x², x y
    cols = [0] + [1 + j * da + i for j in (0, 3, 4, 5) for i in range(da)]
    vals = vals[..., cols]  # (B, N, 1 + 4 da): 1, y, x, x², x y
    glob = vals.mean(dim=1)[:, None, None]  # (B, 1, 1, 1 + 4 da)
    coef = torch.tensor([-0.5 / (h * h) for h in bandwidths], dtype=ctx.x.dtype, device=ctx.x.device)
    xq = ctx.x[:, idx]  # (B, M, D)
    agg = _kernel_sums(ctx.x, vals, xq, coef)  # (B, K, M, 1 + 4 da)
    for shift in (-1, 0, 1):  # leave out the transition and its two neighbours
        j = (idx + shift) % N
        w = _gaussian_weights((ctx.x[:, j] - xq).square().sum(-1), coef)  # (B, K, M)
        agg = agg - w[..., None] * vals[:, j][:, None]
    h2 = torch.tensor([h * h for h in bandwidths], dtype=xq.dtype, device=xq.device)[None, :, None, None]
    part = lambda k: agg[..., 1 + k * da:1 + (k + 1) * da]  # noqa: E731
    ll = local_line(agg[..., :1], part(0), part(1), part(2), part(3), xq[:, None, :, :da],
                    pseudo_count=shrinkage, prior_y=glob[..., 1:1 + da], ridge=LOCAL_LINE_RIDGE * h2)[1]  # (B, K, M, da)
    y = (ctx.dx / ctx.dt)[:, idx, :da]  # (B, M, da)
    err = (y[:, None] - ll).square()
    omega = time_weights(ctx)
    if omega is not None:
        err = err * omega[:, idx][:, None]
    return err.mean(dim=2).transpose(1, 2)  # (B, da, K)


def cross_validated_average(drifts: torch.Tensor, cv: torch.Tensor, n: int, penalties: Sequence[float], *,
                            reference: int, temperature: float = CV_TEMPERATURE, cap: float = CV_DELTA_CAP
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """A model average of J drift estimates, weighted by their cross-validation errors.

    Each candidate j has a leave-out prediction error CV_j; Δ_j = n (CV_j - min CV) / σ² with σ² the
    error of the ``reference`` candidate is, for large n, the candidate's Akaike information
    criterion relative to the best (Stone, 1977). Each candidate pays its ``penalties[j]`` on top
    (a preference for simple global fits unless the data clearly contradict them), and the weights
    are softmax(-temperature Δ) (Akaike weights for 0.5).

    Args:
        drifts: (B, G, J, D) the candidates' drifts at the queries.
        cv: (B, D, J) their CV errors (inf: unavailable; such a candidate sits at the cap).
        n: transitions per dataset. penalties: (J,) Δ added to each candidate.
        reference: the index of the candidate whose CV error sets the scale σ².

    Returns:
        ``(drift, delta)``: drift (B, G, D) and Δ (B, D, J), capped at ``cap``.
    """
    sigma2 = cv[..., reference:reference + 1].clamp_min(VARIANCE_FLOOR)
    delta = n * (cv - cv.min(dim=-1, keepdim=True).values) / sigma2
    extra = torch.as_tensor(penalties, dtype=drifts.dtype, device=drifts.device)
    delta = (delta + extra).clamp(max=cap)
    w = torch.softmax(-temperature * delta, dim=-1)  # (B, D, J)
    return torch.einsum("bdj,bgjd->bgd", w, drifts), delta


def cross_validated_drift(ls_fits: torch.Tensor, ll: torch.Tensor, cv_poly: torch.Tensor,
                          cv_kernel: torch.Tensor | None, n: int, penalty: float, *,
                          poly_penalty: Sequence[float] | None = None, temperature: float = CV_TEMPERATURE,
                          cap: float = CV_DELTA_CAP) -> tuple[torch.Tensor, torch.Tensor]:
    """A model average of the least-squares and local-linear drifts, weighted by cross-validation.

    Each candidate j (linear fit, cubic fit, higher-degree and family fits, local-linear drift at
    each bandwidth) gets Δ_j as in :func:`cross_validated_average` with the cubic fit's error as
    the scale. Kernel drifts pay ``penalty`` on top and polynomial fits their ``poly_penalty``. So
    a linear drift gets the linear fit, a polynomial one the cubic fit, and a drift that no cubic
    explains a higher-degree fit or the kernel drift at the bandwidth that predicts best.

    Args:
        ls_fits: (B, G, P, D) least-squares drifts at the queries: linear, cubic, then any others.
        ll: (B, G, K, D) local-linear drifts at the queries, one per bandwidth.
        cv_poly: (B, D, P) their CV errors (:func:`polynomial_fits` with ``with_cv``,
            :func:`high_degree_fits`, :func:`family_fits`).
        cv_kernel: (B, K) CV errors of the local-linear drifts in dimension 0
            (:func:`kernel_cross_validation`), or None (least-squares candidates only).
        n: transitions per dataset. penalty: Δ added to every kernel candidate.
        poly_penalty: (P,) Δ added to each least-squares candidate (default: none).

    Returns:
        ``(drift, delta)``: drift (B, G, D) and Δ (B, D, P + K), capped at ``cap`` (unavailable
        candidates sit at the cap).
    """
    B, G, K, D = ll.shape
    P = ls_fits.shape[2]
    kern = torch.full((B, D, K), math.inf, dtype=ll.dtype, device=ll.device)
    if cv_kernel is not None:
        kern[:, 0] = cv_kernel
    penalties = list(poly_penalty if poly_penalty is not None else [0.0] * P) + [penalty] * K
    return cross_validated_average(torch.cat([ls_fits, ll], dim=2), torch.cat([cv_poly, kern], dim=-1), n, penalties,
                                   reference=1, temperature=temperature, cap=cap)


@dataclass
class LocalEstimates:
    """Kernel estimates at the query locations (normalised units), see :func:`kernel_features`.

    Attributes:
        features: (B, G, K (1 + 5 D)) per bandwidth: log kernel mass per transition, the
            Nadaraya-Watson and local-linear drifts, the raw and noise-robust second moments and
            the log standard error of the Nadaraya-Watson drift.
        drift: (B, G, 2 K, D) Nadaraya-Watson drifts (one per bandwidth), then local-linear ones.
        drift_log_se: (B, G, 2 K, D) log standard errors of those drift estimates.
        g2: (B, G, 2 K, D) raw second moments, then noise-robust ones: estimates of g'².
    """

    features: torch.Tensor
    drift: torch.Tensor
    drift_log_se: torch.Tensor
    g2: torch.Tensor

    def queries(self, n: int) -> "LocalEstimates":
        """The estimates at the first ``n`` query locations only."""
        return LocalEstimates(self.features[:, :n], self.drift[:, :n], self.drift_log_se[:, :n], self.g2[:, :n])


def kernel_features(ctx: Normalised, q: torch.Tensor, bandwidths: Sequence[float], shrinkage: float,
                    *, binned: bool | None = None) -> LocalEstimates:
    """Smoothed Kramers–Moyal estimates at normalised query locations.

    For every Gaussian kernel bandwidth h (standardised units), with kernel weights w_n(q):
    the Nadaraya–Watson (local-constant) drift E_w[Δx'/Δt'], the local-linear drift (a weighted
    straight-line fit of Δx'/Δt' against x' around q: no bias from the density's slope), the raw
    second moment E_w[Δx'²]/Δt' and a noise-robust one (E_w[Δx'²] + 2 E_w[Δx'_t Δx'_t+1])/Δt', which
    cancels white observation noise. ``shrinkage`` pseudo-transitions placed at q with the dataset's
    mean values pull every estimate towards global values where the data are scarce. The standard
    error of the drift estimates, sqrt(E_w[Δx'²]/Δt'² / n_eff), tells the decoder how far to trust them.

    Args:
        ctx: the normalised context (B datasets, N transitions, D padded dimensions).
        q: (B, G, D) normalised query locations (padding dims 0).
        bandwidths: kernel widths h_k, in standardised units.
        shrinkage: pseudo-count towards the dataset-wide moments.
        binned: use linear binning (one-dimensional states only, cost O(N + G M)); default: when the
            states are one-dimensional and binning is cheaper than the exact sums.

    Returns:
        :class:`LocalEstimates`. Cost O(N G K) exact, O(N + G M K) binned.
    """
    B, N, D = ctx.x.shape
    G, K = q.shape[1], len(bandwidths)
    dt = ctx.dt.mean(dim=1, keepdim=True)  # (B, 1, 1): the (mean) rescaled step of each dataset
    da = active_dims(ctx)
    vals = _kernel_values(ctx, da)  # (B, N, 1 + 6 da): the padding dimensions' sums are zero
    glob = _pad_moments(vals.mean(dim=1), da, D)[:, None, None]  # (B, 1, 1, 1 + 6D)
    coef = torch.tensor([-0.5 / (h * h) for h in bandwidths], dtype=q.dtype, device=q.device)
    one_dim, bin_width, n_bins = context_binning(ctx, _kernel_bin_width(bandwidths))
    if binned is None:
        binned = one_dim and n_bins * 2 < N
    if binned:
        if not one_dim:
            raise ValueError("binned kernel sums need one-dimensional states")
        agg = _binned_kernel_sums(ctx.x[..., 0], vals, q[..., 0], coef, bin_width, n_bins)
    else:
        agg = _kernel_sums(ctx.x, vals, q, coef)
    agg = _pad_moments(agg, da, D)  # (B, K, G, 1 + 6D)
    mass = agg[..., :1]
    s = shrinkage
    qk = q[:, None]  # (B, 1, G, D)
    h2 = torch.tensor([h * h for h in bandwidths], dtype=q.dtype, device=q.device)[None, :, None, None]
    # the local lines: shrunk towards the dataset's mean drift by s pseudo-transitions at q, and a
    # small ridge keeps sparse slopes tame
    m1, ll, ex, var = local_line(agg[..., :1], agg[..., 1:1 + D], agg[..., 1 + 3 * D:1 + 4 * D],
                                 agg[..., 1 + 4 * D:1 + 5 * D], agg[..., 1 + 5 * D:], qk, pseudo_count=s,
                                 prior_y=glob[..., 1:1 + D], ridge=LOCAL_LINE_RIDGE * h2)
    # second moments with the same pseudo-transitions
    m2 = (agg[..., 1 + D:1 + 2 * D] + s * glob[..., 1 + D:1 + 2 * D]) / (mass + s)
    mlag = (agg[..., 1 + 2 * D:1 + 3 * D] + s * glob[..., 1 + 2 * D:1 + 3 * D]) / (mass + s)
    # noise-robust second moment: it is noisier and can dip below zero, so it is floored at G2_FLOOR of the raw one
    robust = torch.maximum(m2 + 2 * mlag, G2_FLOOR * m2)
    log_se = 0.5 * (torch.log(m2.clamp_min(LOG_FLOOR)) - torch.log(dt[:, None]) - torch.log(mass + s))
    log_se_ll = log_se + 0.5 * torch.log1p((qk - ex) ** 2 / var)
    log_mass = torch.log(mass / N + LOG_MASS_FLOOR)
    feats = torch.cat([log_mass, torch.asinh(m1), torch.asinh(ll), torch.asinh(m2), torch.asinh(robust), log_se],
                      dim=-1)  # (B, K, G, 1 + 5D)

    def per_query(t: torch.Tensor) -> torch.Tensor:  # (B, K, G, D) x parts -> (B, G, K * parts, D)
        return t.permute(0, 2, 1, 3)

    return LocalEstimates(
        features=feats.permute(0, 2, 1, 3).reshape(B, G, -1),
        drift=torch.cat([per_query(m1), per_query(ll)], dim=2),
        drift_log_se=torch.cat([per_query(log_se), per_query(log_se_ll)], dim=2),
        g2=torch.cat([per_query(m2), per_query(robust)], dim=2),
    )


def polynomial_fits(ctx: Normalised, q: torch.Tensor, *, prior_std: float = POLYNOMIAL_PRIOR_STD, with_cv: bool = False,
                    multivariate: bool = False) -> tuple[torch.Tensor, ...]:
    """Global Bayesian least-squares polynomial estimates at normalised query locations.

    Per dataset and dimension (each in its own coordinate), the posterior mean of polynomial
    coefficients with a N(0, prior_std²) prior, i.e. ridge regression with the data-dependent
    penalty λ = Var(Δx'/Δt') / (N prior_std²): drift Δx'/Δt' on {1, x} and on {1, x, x², x³};
    squared diffusion on {1, x, x²} from the squared residuals (Δx' - f̂ Δt')²/Δt', once raw and
    once noise-robust (plus twice the covariance of consecutive increments). Short contexts are
    shrunk towards zero drift, long ones approach ordinary least squares (the oracle for
    polynomial systems); the network decides where to trust them. Cost O(N) per dataset.

    With ``multivariate``, every dimension's fits use all active coordinates: the monomials of
    total degree ≤ 1, 3 and 2 of (x'_1, ..., x'_da) (:func:`fimcg.estimators.bases.polynomial_features`),
    so a coupled drift such as f_1 = x_1 - x_1³ - x_2 is in the cubic fit's class (for one-dimensional
    contexts the same fits as without it).

    Args:
        ctx: normalised context (B, N, D). q: (B, G, D) normalised queries.

    Returns:
        ``(fits, log_se, f_stat)``: ``fits`` (B, G, 4, D) holds the drift of degree 1, the drift of
        degree 3, g'² raw and g'² noise-robust (both floored at 5% of the dataset's mean second
        moment); ``log_se`` (B, G, 2, D) the log standard errors of the two drift fits at the
        queries; ``f_stat`` (B, D) the F statistic of the cubic drift fit (its identifiability).
        With ``with_cv``, a fourth item: (B, D, 2) the leave-one-out cross-validation errors of the
        linear and the cubic drift fit, mean of (residual / (1 - leverage))² (exact for ridge fits),
        weighted by the :func:`time_weights` under irregular sampling (as the fits are).
        Padding dimensions are not fitted: they get what the fits give on their all-zero data (zero
        fits, F statistic and CV errors; the log standard error of a ridge fit to zeros).
    """
    D, da = ctx.x.shape[-1], active_dims(ctx)
    x, dt, dx, lagprod, q = ctx.x[..., :da], ctx.dt, ctx.dx[..., :da], ctx.lagprod[..., :da], q[..., :da]
    B, N, _ = x.shape

    joint = multivariate and da > 1
    # the fits of degree p use the first size[p] columns (constant first, then by total degree)
    size = {p: len(monomial_exponents(da, p)) for p in (1, 2, 3)} if joint else {p: p + 1 for p in (1, 2, 3)}

    def powers(z: torch.Tensor) -> torch.Tensor:  # (..., da) -> (..., da, K): one basis per output dimension
        if joint:  # the monomials of all coordinates, shared by every dimension
            return polynomial_features(z, 3)[..., None, :].expand(*z.shape, size[3])
        return polynomial_features(z[..., None], 3)  # 1, z, z², z³ per coordinate

    phi = powers(x)  # (B, N, da, K), computed once
    omega = time_weights(ctx)
    phi_w = phi if omega is None else phi * omega[..., None]  # weighted least squares for irregular steps
    gram_all = torch.einsum("bndk,bndl->bdkl", phi_w, phi) / N  # every fit's Gram matrix is a corner of it
    eye = torch.eye(size[3], dtype=x.dtype, device=x.device)
    phi_q = powers(q).permute(0, 2, 3, 1)  # (B, da, K, G)
    lam_floor, var_floor = RIDGE_FLOOR, VARIANCE_FLOOR  # of the ridge penalty and of Var(y)

    def fit(degree: int, y: torch.Tensor, *, with_se: bool = False):
        k = size[degree]
        var_y = y.var(dim=1)  # (B, da)
        lam = (var_y / (N * prior_std ** 2)).clamp_min(lam_floor)
        gram = gram_all[..., :k, :k] + lam[..., None, None] * eye[:k, :k]
        rhs = torch.einsum("bndk,bnd->bdk", phi_w[..., :k], y) / N
        coef = torch.linalg.solve(gram, rhs[..., None])[..., 0]  # (B, da, k)
        if not with_se:
            return coef
        # posterior variance of the fit at q: Var(y) / N · φ(q)ᵀ (Gram + λ)⁻¹ φ(q)
        lev = (phi_q[:, :, :k] * torch.linalg.solve(gram, phi_q[:, :, :k])).sum(dim=2)  # (B, da, G)
        log_se = 0.5 * (torch.log(var_y.clamp_min(var_floor) / N)[..., None] + torch.log(lev.clamp_min(VARIANCE_FLOOR)))
        if not with_cv:
            return coef, log_se.transpose(1, 2)  # (B, G, da)
        # leave-one-out: residual / (1 - h_n), h_n = ω_n φ_nᵀ (N (Gram + λ))⁻¹ φ_n
        phi_k = phi[..., :k].permute(0, 2, 3, 1)  # (B, da, k, N)
        h = (phi_w[..., :k].permute(0, 2, 3, 1) * torch.linalg.solve(gram, phi_k)).sum(dim=2) / N  # (B, da, N)
        loo = (y - at(coef, x)) / (1 - h.transpose(1, 2)).clamp_min(LEVERAGE_FLOOR)  # (B, N, da)
        cv = (loo.square() if omega is None else omega * loo.square()).mean(dim=1)  # (B, da)
        return coef, log_se.transpose(1, 2), cv

    def at(coef: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if joint:
            return (powers(z)[..., :coef.shape[-1]] * coef[:, None]).sum(-1)
        out = coef[:, None, :, -1]
        for j in range(coef.shape[-1] - 2, -1, -1):  # Horner's scheme
            out = out * z + coef[:, None, :, j]
        return out

    y1 = dx / dt
    (c1, se1, *cv1), (c3, se3, *cv3) = fit(1, y1, with_se=True), fit(3, y1, with_se=True)
    resid2 = (dx - at(c3, x) * dt) ** 2 / dt
    floor = G2_FLOOR * (dx ** 2 / dt).mean(dim=1, keepdim=True)  # (B, 1, da)
    g2 = at(fit(2, resid2), q).clamp_min(0) + floor
    g2r = at(fit(2, resid2 + 2 * lagprod / dt), q).clamp_min(0) + floor
    # identifiability of the drift: the F statistic of the cubic fit, (mean fitted f'²) / (its
    # estimation variance), large when the data pin the drift down, about 1 when they do not
    signal = (torch.einsum("bdk,bdkl->bdl", c3, gram_all) * c3).sum(-1)
    f_stat = signal / (size[3] * y1.var(dim=1) / N).clamp_min(VARIANCE_FLOOR)  # per fitted coefficient
    fits, log_se = torch.stack([at(c1, q), at(c3, q), g2, g2r], dim=2), torch.stack([se1, se3], dim=2)
    cv = torch.stack([cv1[0], cv3[0]], dim=-1) if with_cv else None  # (B, da, 2)
    if da < D:
        # a ridge fit to zeros: Gram matrix diag(mean ω = 1, 0, ...), λ and Var(y) at their floors
        pad = D - da
        fits, f_stat = F.pad(fits, (0, pad)), F.pad(f_stat, (0, pad))
        log_se = F.pad(log_se, (0, pad), value=0.5 * (math.log(var_floor / N) - math.log(1 + lam_floor)))
        cv = None if cv is None else F.pad(cv, (0, 0, 0, pad))
    return (fits, log_se, f_stat) if cv is None else (fits, log_se, f_stat, cv)


def regression_sums(ctx: Normalised, bin_width: float, prior_std: float) -> "RegressionSums":
    """The sums of the global least-squares fits of a context: on a linear binning grid of spacing
    ``bin_width`` when the states are one-dimensional and the grid has fewer than half as many
    points as there are transitions, else exact; ``prior_std`` as for :func:`high_degree_fits`."""
    one_dim, width, n_bins = context_binning(ctx, bin_width)
    binning = (width, n_bins) if one_dim and 2 * n_bins < ctx.x.shape[1] else None
    return RegressionSums.of(ctx, binning, prior_std)


@dataclass
class RegressionSums:
    """What a global least-squares drift fit needs from a context, for its active dimensions.

    The sums over transitions run over points z (B, M, da) with weights wz and weighted targets wy
    (both (B, M, da)): the data themselves (M = N), or the nodes of a linear binning grid, which
    gives the same sums to order bin_width² for a cost O(M) per regressor. Targets are y = Δx'/Δt'
    (weighted by :func:`time_weights` for irregular sampling).
    """

    z: torch.Tensor
    wz: torch.Tensor
    wy: torch.Tensor
    s_yy: torch.Tensor  # (B, da) Σ w y²
    n: int  # transitions N
    lam: torch.Tensor  # (B, da) ridge penalty
    centre: torch.Tensor  # (B, 1, da): the data range is centre ± radius
    radius: torch.Tensor
    da: int

    @classmethod
    def of(cls, ctx: Normalised, binning: tuple[float, int] | None, prior_std: float) -> "RegressionSums":
        B, N, D = ctx.x.shape
        da = active_dims(ctx)
        x, y = ctx.x[..., :da], (ctx.dx / ctx.dt)[..., :da]
        omega = time_weights(ctx)
        w = torch.ones_like(y) if omega is None else omega.expand_as(y)
        lo, hi = x.detach().amin(dim=1, keepdim=True), x.detach().amax(dim=1, keepdim=True)
        if binning is not None and da == 1:
            sums, nodes = _linearcontext_binning(x[..., 0], torch.stack([w[..., 0], (w * y)[..., 0]], dim=-1), *binning)
            z, wz, wy = nodes[..., None], sums[..., :1], sums[..., 1:]
        else:
            z, wz, wy = x, w, w * y
        return cls(z=z, wz=wz, wy=wy, s_yy=(w * y * y).sum(dim=1), n=N,
                   lam=(y.var(dim=1) / (N * prior_std ** 2)).clamp_min(RIDGE_FLOOR), centre=(hi + lo) / 2,
                   radius=((hi - lo) / 2).clamp_min(RIDGE_FLOOR), da=da)

    def legendre(self, z: torch.Tensor, degree: int, *, clamp: bool = False) -> torch.Tensor:
        """Legendre polynomials P0..P_degree of u = (z - centre) / radius (clamped to the data range
        [-1, 1] with ``clamp``), (..., degree + 1): well conditioned up to high degree."""
        u = (z - self.centre) / self.radius
        return legendre(u.clamp(-1, 1) if clamp else u, degree)

    def legendre_products(self, z: torch.Tensor, degree: int, *, clamp: bool = False) -> torch.Tensor:
        """Products Π_i P_{e_i}(u_i) of the Legendre polynomials of every coordinate, one per
        exponent tuple e of total degree ≤ ``degree`` (:func:`monomial_exponents` order: constant
        first, then by total degree), shared by every output dimension: (..., da, K)."""
        leg = self.legendre(z, degree, clamp=clamp)  # (..., da, degree + 1)
        cols = []
        for e in monomial_exponents(self.da, degree):
            term = leg[..., 0, e[0]]
            for i in range(1, self.da):
                term = term * leg[..., i, e[i]]
            cols.append(term)
        out = torch.stack(cols, dim=-1)
        return out[..., None, :].expand(*out.shape[:-1], self.da, out.shape[-1])

    def solve(self, poly: torch.Tensor, extra: torch.Tensor | None = None, *, leading: Sequence[int] | None = None,
              n_extra: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Ridge fits of y on shared regressors poly (B, M, da, kp) plus, for each of C candidates,
        its own columns extra (B, M, da, C, e) (None: one candidate, poly alone), at the points.

        ``leading`` lists how many leading columns of poly to use, one fit each (default: all kp);
        the sums are taken once for all of them. ``n_extra`` (C,): how many of a candidate's e
        columns are real (the rest are zero padding, which gets a zero coefficient and does not
        count as a fitted coefficient); default all e.

        Returns, per entry of ``leading``, coefficients (B, da, C, k) (k = used poly columns + e,
        poly's first) and each fit's estimated prediction error (B, da, C): the residual mean
        square inflated for its k coefficients, RSS / (N (1 - k/N)²), which is the leave-one-out
        error of a fit whose leverages are all k/N (asymptotically Akaike's criterion); infinite
        (unavailable) for a fit with as many coefficients as transitions or more.
        """
        N = self.n
        pw = poly * self.wz[..., None]
        s_pp = torch.einsum("bmdk,bmdl->bdkl", pw, poly)[:, :, None]  # (B, da, 1, kp, kp), shared
        r_p = torch.einsum("bmdk,bmd->bdk", poly, self.wy)[:, :, None]
        if extra is not None:  # the blocks of [poly, extra]ᵀ W [poly, extra], member by member
            C = extra.shape[3]
            s_pe = torch.einsum("bmdk,bmdce->bdcke", pw, extra)
            s_ee = torch.einsum("bmdce,bmdcf->bdcef", extra * self.wz[..., None, None], extra)
            s_pp = torch.cat([torch.cat([s_pp.expand(-1, -1, C, -1, -1), s_pe], dim=-1),
                              torch.cat([s_pe.transpose(-1, -2), s_ee], dim=-1)], dim=-2)
            r_p = torch.cat([r_p.expand(-1, -1, C, -1), torch.einsum("bmdce,bmd->bdce", extra, self.wy)], dim=-1)
        kp, k_all = poly.shape[-1], s_pp.shape[-1]
        out = []
        for used in leading or [kp]:
            idx = torch.tensor(list(range(used)) + list(range(kp, k_all)), device=poly.device)
            s, rhs = s_pp[..., idx[:, None], idx], r_p[..., idx]
            k = idx.numel()
            eye = torch.eye(k, dtype=poly.dtype, device=poly.device)
            n_coef = k if n_extra is None else (used + n_extra).to(poly.dtype)  # (C,) or a number
            # a member whose system is singular (data bunched at a few points, a steep member on a
            # narrow range) gets zero coefficients and an infinite error: it drops out of every average
            coef, info = torch.linalg.solve_ex(s / N + self.lam[..., None, None, None] * eye, rhs[..., None] / N)
            coef = torch.nan_to_num(coef[..., 0]) * (info == 0)[..., None]
            # Σ w (y - φᵀc)² = Σ w y² - 2 cᵀ r + cᵀ S c, from the sums alone
            quad = (torch.einsum("bdckl,bdcl->bdck", s, coef) * coef).sum(-1)  # cᵀ S c
            rss = self.s_yy[..., None] - 2 * (coef * rhs).sum(-1) + quad
            err = rss.clamp_min(0) / (N * (1 - n_coef / N) ** 2)
            # as many coefficients as transitions: the fit interpolates, its error says nothing
            err = torch.where(torch.as_tensor(n_coef, device=err.device) < N, err, torch.full_like(err, math.inf))
            out.append((coef, torch.where(info == 0, err, torch.full_like(err, math.inf))))
        return out


def high_degree_fits(ctx: Normalised, q: torch.Tensor, degrees: Sequence[int], *,
                     prior_std: float = GLOBAL_FIT_PRIOR_STD, binning: tuple[float, int] | None = None,
                     sums: "RegressionSums | None" = None, multivariate: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares drift fits of higher degree, with their estimated prediction errors.

    Per dataset and dimension, Δx'/Δt' is regressed on Legendre polynomials of u = (x' - c)/r, where
    c ± r spans the data (well conditioned up to high degree in single precision), with the ridge
    penalty λ = Var(Δx'/Δt') / (N prior_std²) on the Legendre coefficients, weak by default
    (:data:`GLOBAL_FIT_PRIOR_STD`: a steep drift has Legendre coefficients in the tens over a
    data range of a few standard deviations; the ridge only keeps near-collinear bases solvable).
    A polynomial of high degree swings wildly beyond the data, so outside the data range each fit
    is continued by the cubic fit of the same basis: p_k(q) = p_k(u*) + p_3(u) - p_3(u*) with
    u* = clamp(u, -1, 1).
    Padding dimensions are skipped (zeros). With ``multivariate``, each dimension is regressed on
    the products of the coordinates' Legendre polynomials of total degree ≤ p
    (:meth:`RegressionSums.legendre_products`; the continuation beyond the data uses the
    multivariate cubic), i.e. a polynomial of degree p in all active coordinates.

    Args:
        ctx: normalised context (B, N, D). q: (B, G, D) normalised queries.
        degrees: the degrees to fit (each ≥ 4).
        binning: (bin width, number of bins) of a linear binning grid for the sums (one-dimensional
            states, see :func:`context_binning`); None: exact sums over the transitions.
        sums: the context's sums, when already taken (then ``prior_std`` and ``binning`` are theirs).

    Returns:
        ``(fits, cv)``: fits (B, G, P, D) at the queries, one per degree, and cv (B, D, P) their
        estimated prediction errors (see :meth:`RegressionSums.solve`).
    """
    B, N, D = ctx.x.shape
    G = q.shape[1]
    if any(p < 4 for p in degrees):
        raise ValueError(f"high_degree_fits takes degrees >= 4 (the cubic is in polynomial_fits), got {list(degrees)}")
    fits, cv = q.new_zeros(B, G, len(degrees), D), q.new_zeros(B, D, len(degrees))
    if not degrees:
        return fits, cv
    sums = sums or RegressionSums.of(ctx, binning, prior_std)
    da, top = sums.da, max(degrees)
    qa = q[..., :da]
    basis = sums.legendre_products if multivariate and da > 1 else sums.legendre
    size = (lambda p: len(monomial_exponents(da, p))) if multivariate and da > 1 else (lambda p: p + 1)
    inside, outside = basis(qa, top, clamp=True), basis(qa, top)  # (B, G, da, K)
    phi = basis(sums.z, top)  # (B, M, da, K)
    (c3, _), *high = sums.solve(phi, leading=[size(3)] + [size(p) for p in degrees])
    # the cubic continues every fit outside the data
    k3 = size(3)
    beyond = ((outside[..., :k3] - inside[..., :k3]) * c3[:, None, :, 0]).sum(-1)  # (B, G, da)
    for j, (p, (coef, err)) in enumerate(zip(degrees, high)):
        fits[:, :, j, :da] = (inside[..., :size(p)] * coef[:, None, :, 0]).sum(-1) + beyond
        cv[:, :da, j] = err[..., 0]
    return fits, cv


def _family_columns(family: str, z: torch.Tensor, centres: torch.Tensor, params: Sequence[float]) -> torch.Tensor:
    """Extra regressors of one family at states z (B, M, D): (B, M, D, C, e), C grid members with e
    columns each (centres (B, n_c, D); ``params`` the family's steepnesses, widths or frequencies)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown function family {family!r}; known: {list(FAMILIES)}")
    p = torch.tensor(params, dtype=z.dtype, device=z.device)
    if family == "sine":
        arg = z[..., None] * p  # (B, M, D, C)
        return torch.stack([torch.sin(arg), torch.cos(arg)], dim=-1)
    shift = (z[:, :, None, :] - centres[:, None]).permute(0, 1, 3, 2)[..., None, :]  # (B, M, D, 1, n_c)
    p = p[:, None]  # (n_p, 1)
    cols = torch.tanh(p * shift) if family == "tanh" else shift / (1 + p * shift * shift)
    return cols.flatten(-2)[..., None]  # (B, M, D, n_p n_c, 1)


def family_fits(ctx: Normalised, q: torch.Tensor, families: Sequence[str], *,
                steepness: Sequence[float] = FAMILY_STEEPNESS, widths: Sequence[float] = FAMILY_WIDTHS,
                frequencies: Sequence[float] = FAMILY_FREQUENCIES, centres: int = FAMILY_CENTRES,
                prior_std: float = GLOBAL_FIT_PRIOR_STD, binning: tuple[float, int] | None = None,
                sums: "RegressionSums | None" = None, cubic_penalty: float = FAMILY_CUBIC_PENALTY
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares drift fits of a line or a cubic plus one non-polynomial term: the prior's families.

    For each family (``"tanh"``: tanh(k (x' - c)); ``"sine"``: sin(ω x') and cos(ω x'), i.e. any
    phase; ``"rational"``: (x' - c) / (1 + r (x' - c)²)) and each member of a grid of its nonlinear
    parameters (``steepness`` k, ``frequencies`` ω, ``widths`` r; ``centres`` centres c spread
    evenly over the data's 5th to 95th percentile; defaults :data:`FAMILY_STEEPNESS` etc.),
    Δx'/Δt' is regressed on a straight line and, separately, on a cubic (Legendre polynomials, as
    in :func:`high_degree_fits`) plus the family's columns. The family's fit is the Akaike-weighted
    average of its members, softmax(-Δ_m / 2) with Δ_m = N (err_m - min err) / min err (+
    ``cubic_penalty`` for the members on the cubic) over their estimated prediction errors
    (:meth:`RegressionSums.solve`): neighbours on the grid share the weight, which is steadier than
    picking one member. Padding dimensions are skipped (zeros).

    Args:
        ctx: normalised context (B, N, D). q: (B, G, D) normalised queries.
        families: names from :data:`FAMILIES`.
        binning, sums: as for :func:`high_degree_fits`.
        cubic_penalty: the Δ (Akaike units, ≥ 0; default the shipped model's) the members on the
            cubic pay on top of their estimated error: Akaike's criterion alone often prefers the
            cubic's two extra coefficients on noisy data, which then bend the fit where data are
            sparse. 0: Akaike weights alone.

    Returns:
        ``(fits, cv)``: fits (B, G, F, D) at the queries, one per family, and cv (B, D, F) the
        weighted prediction errors of their members.
    """
    if not (math.isfinite(cubic_penalty) and cubic_penalty >= 0):
        raise ValueError(f"cubic_penalty must be finite and >= 0, got {cubic_penalty}")
    B, N, D = ctx.x.shape
    G = q.shape[1]
    fits, cv = q.new_zeros(B, G, len(families), D), q.new_zeros(B, D, len(families))
    if not families:
        return fits, cv
    sums = sums or RegressionSums.of(ctx, binning, prior_std)
    da = sums.da
    qa = q[..., :da]
    xa = ctx.x[..., :da].detach()
    lo_level, hi_level = FAMILY_CENTRE_QUANTILES
    p5 = xa.kthvalue(max(1, round(lo_level * N)), dim=1).values  # (B, da)
    p95 = xa.kthvalue(max(1, round(hi_level * N)), dim=1).values
    grid = torch.linspace(0, 1, centres, dtype=q.dtype, device=q.device)[None, :, None]
    centre_points = p5[:, None] + grid * (p95 - p5)[:, None]  # (B, n_c, da)
    params = {"tanh": steepness, "rational": widths, "sine": frequencies}
    base, base_q = sums.legendre(sums.z, 3), sums.legendre(qa, 3)

    def together(cols: list[torch.Tensor]) -> torch.Tensor:  # all members of all families, two columns each
        return torch.cat([F.pad(c, (0, 2 - c.shape[-1])) for c in cols], dim=3)  # a second column of zeros if needed

    cols = [_family_columns(f, sums.z, centre_points, params.get(f, ())) for f in families]  # each (B, M, da, C_f, e_f)
    sizes = [c.shape[3] for c in cols]
    width = torch.tensor([c.shape[4] for c in cols for _ in range(c.shape[3])], device=q.device)
    # every member on a straight line (few coefficients) and on a cubic, all solved at once
    fitted = sums.solve(base, together(cols), leading=[2, 4], n_extra=width)
    extra_q = together([_family_columns(f, qa, centre_points, params.get(f, ())) for f in families])  # (B, G, da, C, 2)
    offset = 0
    for j, size in enumerate(sizes):
        part = slice(offset, offset + size)
        offset += size
        err = torch.cat([e[..., part] for _, e in fitted], dim=-1)  # (B, da, 2 size): line members, cubic ones
        best = err.min(dim=-1, keepdim=True).values
        score = (N * (err - best) / best.clamp_min(VARIANCE_FLOOR)).nan_to_num(nan=CV_DELTA_CAP, posinf=CV_DELTA_CAP)
        score = score + F.pad(score.new_full((size,), cubic_penalty), (size, 0))
        weight = torch.softmax(-CV_TEMPERATURE * score, dim=-1).detach()  # Akaike weights
        # infinite errors (singular members) weigh nothing; a family with no solvable member is unavailable
        cv[:, :da, j] = torch.where(torch.isfinite(best[..., 0]), (weight * err.nan_to_num(posinf=0.0)).sum(-1),
                                    best[..., 0])
        fit = 0
        for w_deg, (coef, _) in zip(weight.chunk(2, dim=-1), fitted):
            c = w_deg[..., None] * coef[:, :, part]  # (B, da, size, k) weighted coefficients
            kp = coef.shape[-1] - 2  # the polynomial part: one weighted coefficient vector
            fit = fit + (base_q[..., :kp] * c[..., :kp].sum(2)[:, None]).sum(-1)
            fit = fit + torch.einsum("bgdce,bdce->bgd", extra_q[:, :, :, part], c[..., kp:])
        fits[:, :, j, :da] = fit
    return fits, cv


#: the polynomial degrees of g'² that compete with its spline in the cross-validated g'² average
G2_DEGREES = (0, 1, 2, 4)


#: ridge of those polynomial fits, relative to the mean diagonal of their Gram matrix (keeps data
#: bunched at a few points solvable; negligible for data spread over their range)
G2_RIDGE = 1e-4


@dataclass
class SplineEstimates:
    """Penalised-spline estimates of a context (:func:`spline_fits`), normalised units.

    Attributes:
        drift: (B, G', 1, D) the drift P-spline at the points.
        g2: (B, G', 4, D) estimates of g'² at the points: the P-splines of the raw and of the
            noise-robust squared residuals, then the cross-validated averages of each (spline and
            polynomial fits of :data:`G2_DEGREES`).
        cv: (B, D, 1) the drift spline's GCV prediction error (inf where unavailable).
        log_df: (B, D) log of its effective number of parameters (0 where unavailable).
        g2_weights: (B, 2, len(G2_DEGREES) + 1) the weights of the two g'² averages (polynomial
            degrees, then the spline).
    """

    drift: torch.Tensor
    g2: torch.Tensor
    cv: torch.Tensor
    log_df: torch.Tensor
    g2_weights: torch.Tensor


def _g2_average(x: torch.Tensor, target: torch.Tensor, spline, points: torch.Tensor, lo: torch.Tensor,
                hi: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The Akaike-weighted average of the spline ``spline`` of ``target`` (B, N) and least-squares
    polynomials of the degrees :data:`G2_DEGREES` (Legendre over [lo, hi], constant beyond), by
    their GCV errors: (values at points (B, G'), weights (B, len(G2_DEGREES) + 1))."""
    top = max(G2_DEGREES)
    centre, radius = ((hi + lo) / 2)[:, None], ((hi - lo) / 2)[:, None]
    phi = legendre((x - centre) / radius, top)  # (B, N, top + 1)
    phi_q = legendre(((points - centre) / radius).clamp(-1, 1), top)
    return akaike_average(phi, phi_q, [deg + 1 for deg in G2_DEGREES], target, temperature,
                          extra=(spline(points, tails="constant"), spline.error))


def akaike_average(phi: torch.Tensor, phi_q: torch.Tensor, sizes: Sequence[int], target: torch.Tensor,
                   temperature: float, *, extra: tuple[torch.Tensor, torch.Tensor] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The Akaike-weighted average of least-squares fits of ``target`` (B, N) on the leading
    ``sizes[j]`` columns of ``phi`` (B, N, K) (and of an ``extra`` estimate: (values at the points
    (B, G'), its prediction error (B,))), by their GCV errors RSS / (N (1 - k/N)²); the fits are
    evaluated with ``phi_q`` (B, G', K). Each fit is a relative ridge solve in float64 (data bunched at
    a few points leave the Gram matrix singular in single precision; a fit that still fails counts as
    unavailable). Returns (values (B, G'), weights (B, len(sizes) [+ 1])), softmax(-temperature Δ)."""
    B, N, _ = phi.shape
    gram, rhs, s_yy = phi.transpose(1, 2) @ phi, (phi * target[..., None]).sum(1), (target * target).sum(1)
    values, errors = [], []
    for k in sizes:
        g_k = gram[:, :k, :k]
        ridge = G2_RIDGE * torch.diagonal(g_k, dim1=-2, dim2=-1).mean(-1).clamp_min(VARIANCE_FLOOR)
        a = (g_k + ridge[:, None, None] * torch.eye(k, dtype=phi.dtype, device=phi.device)).double()
        sol, info = torch.linalg.solve_ex(a, rhs[:, :k, None].double())
        coef = torch.nan_to_num(sol[..., 0].to(phi.dtype))
        rss = (s_yy - 2 * (coef * rhs[:, :k]).sum(-1) + (coef[:, None, :] @ g_k @ coef[..., None])[:, 0, 0])
        err = rss.clamp_min(0) / (N * (1 - k / N) ** 2) if k < N else torch.full_like(rss, math.inf)
        errors.append(torch.where(info == 0, err, torch.full_like(err, math.inf)))
        values.append((phi_q[..., :k] * coef[:, None]).sum(-1))
    if extra is not None:
        values.append(extra[0])
        errors.append(extra[1])
    err = torch.stack(errors, dim=-1)  # (B, J); inf: a fit that failed
    best = err.min(dim=-1, keepdim=True).values
    delta = (N * (err - best) / best.clamp_min(VARIANCE_FLOOR)).nan_to_num(nan=CV_DELTA_CAP).clamp(max=CV_DELTA_CAP)
    weight = torch.softmax(-temperature * delta, dim=-1).detach()
    return (torch.stack(values, dim=-1).nan_to_num() * weight[:, None]).sum(-1), weight


def g2_averages(ctx: Normalised, points: torch.Tensor, *, sums: RegressionSums,
                temperature: float = CV_TEMPERATURE) -> torch.Tensor:
    """Cross-validated g'² averages of a context in any dimension: (B, G', 2, D), raw then noise-robust.

    The multi-dimensional counterpart of the g'² averages of :func:`spline_fits`: the residuals
    r = Δx' - f̂(x') Δt' of the multivariate cubic drift fit (:meth:`RegressionSums.legendre_products`
    of all active coordinates), squared, r² / Δt', and noise-robust, (r_t² + 2 r_t r_t+1) / Δt', are
    each regressed per dimension on polynomials in all active coordinates of the total degrees
    :data:`G2_DEGREES` (products of Legendre polynomials over the data's bounding box, constant
    beyond it), and averaged with Akaike weights (:func:`akaike_average`). Floored at
    :data:`G2_FLOOR` of the dataset's mean second moment; padding dimensions are zero.
    """
    B, N, D = ctx.x.shape
    da = sums.da
    x, dt, dx = ctx.x[..., :da], ctx.dt, ctx.dx[..., :da]
    k3, top = len(monomial_exponents(da, 3)), max(3, *G2_DEGREES)
    phi_x = sums.legendre_products(x, top)  # (B, N, da, K): degree <= 3 first, then the rest
    (c3, _), = sums.solve(sums.legendre_products(sums.z, 3), leading=[k3])
    r = dx - (phi_x[..., :k3] * c3[:, None, :, 0]).sum(-1) * dt  # (B, N, da)
    has_next = (ctx.lagprod[..., :da] != 0).to(x.dtype)
    raw = r * r / dt
    robust = raw + 2 * r * torch.roll(r, -1, dims=1) * has_next / dt
    sizes = [len(monomial_exponents(da, deg)) for deg in G2_DEGREES]
    phi = phi_x[..., 0, :]  # (B, N, K): shared by every dimension
    phi_q = sums.legendre_products(points[..., :da], top, clamp=True)[..., 0, :]
    out = points.new_zeros(B, points.shape[1], 2, D)
    for i in range(da):
        floor = G2_FLOOR * raw[..., i].detach().mean(dim=1, keepdim=True)
        for j, target in enumerate((raw[..., i], robust[..., i])):
            values, _ = akaike_average(phi, phi_q, sizes, target, temperature)
            out[:, :, j, i] = torch.maximum(values, floor)
    return out


def spline_fits(ctx: Normalised, points: torch.Tensor, *, n_segments: int,
                temperature: float = CV_TEMPERATURE) -> SplineEstimates:
    """Drift and g'² by penalised splines with GCV-chosen smoothness (:mod:`fimcg.estimators.splines`).

    The drift P-spline of Δx'/Δt' on x' (weighted by :func:`time_weights`) is a nonparametric
    candidate that names no function family; its GCV error enters the cross-validated average like
    the global fits' errors. The squared residuals r² / Δt' of that drift, and their noise-robust
    version (r_t² + 2 r_t r_t+1) / Δt' (consecutive residuals of one path; white observation noise
    adds 2σ² to r_t² and -σ² to r_t r_t+1), are each smoothed the same way, and each also enters a
    cross-validated g'² average: the Akaike weights softmax(-temperature Δ) of its spline and of
    least-squares polynomials of :data:`G2_DEGREES`, Δ_j = N (GCV_j - min GCV) / min GCV, so a
    constant or quadratic g'² gets its few-parameter fit and any other shape the spline. Every g'²
    estimate is floored at :data:`G2_FLOOR` of the dataset's mean second moment. One-dimensional
    contexts only: otherwise every estimate is zero and the GCV error infinite (unavailable).
    """
    B, N, D = ctx.x.shape
    Gp = points.shape[1]
    drift, g2 = points.new_zeros(B, Gp, 1, D), points.new_zeros(B, Gp, 4, D)
    cv, log_df = points.new_full((B, D, 1), math.inf), points.new_zeros(B, D)
    weights = points.new_zeros(B, 2, len(G2_DEGREES) + 1)
    one_dim = context_binning(ctx, 1.0)[0]
    if not one_dim or N < 4 * (n_segments + 3):
        return SplineEstimates(drift, g2, cv, log_df, weights)
    x, dt, dx = ctx.x[..., 0], ctx.dt[..., 0], ctx.dx[..., 0]
    omega = time_weights(ctx)
    w = torch.ones_like(x) if omega is None else omega[..., 0]
    lo, hi = x.detach().amin(dim=1), x.detach().amax(dim=1)
    hi = torch.maximum(hi, lo + RIDGE_FLOOR)
    fit = fit_penalised(*spline_sums(x, dx / dt, w, lo, hi, n_segments), N, lo, hi)
    resid = dx - fit(x) * dt
    has_next = (ctx.lagprod[..., 0] != 0).to(x.dtype)
    raw = resid * resid / dt
    robust = raw + 2 * resid * torch.roll(resid, -1, dims=1) * has_next / dt
    ones = torch.ones_like(x)
    floor = G2_FLOOR * raw.detach().mean(dim=1, keepdim=True)
    q = points[..., 0]
    drift[..., 0, 0] = fit(q)
    for j, target in enumerate((raw, robust)):
        spline = fit_penalised(*spline_sums(x, target, ones, lo, hi, n_segments), N, lo, hi)
        g2[..., j, 0] = torch.maximum(spline(q, tails="constant"), floor)
        average, weights[:, j] = _g2_average(x, target, spline, q, lo, hi, temperature)
        g2[..., 2 + j, 0] = torch.maximum(average, floor)
    cv[:, 0, 0] = fit.error
    log_df[:, 0] = torch.log(fit.df.clamp_min(1.0))
    return SplineEstimates(drift, g2, cv, log_df, weights)
