"""Classic estimators of drift and diffusion from observed paths (the baselines of every comparison).

All estimators share the FIM's call shape::

    drift, diffusion = estimator(paths, dt, locations)
    # paths (n_paths, T, d), dt > 0, locations (G, d)  ->  drift (G, d), diffusion (G, d)

and rest on the same facts about Euler-Maruyama data with increments dX = X_{t+dt} - X_t:

    E[dX | X = x] / dt = f(x),     Var[dX | X = x] / dt = E[(dX - f dt)^2 | x] / dt = g(x)^2.

``dt`` may also be the steps between consecutive observations (irregular sampling), shape (T - 1,)
for all paths or (n_paths, T - 1). Every average of dX / dt then weighs each increment by its step,
i.e. becomes sum dX / sum dt (the variance of dX / dt is g^2 / dt, so this is the efficient
combination); for a regular step the formulas are the usual ones.

Increments are formed inside each path (never across the end of one path and the start of the
next), so many short paths are as good as one long one with the same number of increments. The
estimates are torch expressions of the paths, differentiable with respect to them (bin assignment
is piecewise constant, so for :func:`binned_km` gradients flow through the increments' values only).
They run on the paths' device and return the paths' floating dtype.

Where there is no data
----------------------
A bin with fewer than ``min_count`` increments, or a local-linear location whose effective number of
observations is below ``min_count``, has no estimate of its own. With ``empty="fill"`` (default) the
value is filled from the nearest supported places (1-D: linear interpolation between them, constant
beyond the outermost one; d > 1: the nearest supported one), so the output is always finite and the
caller should restrict comparisons to the visited region (see :func:`fimcg.analysis.metrics.occupied_grid`).
With ``empty="nan"`` those locations are NaN instead, which makes "no data here" explicit.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

import torch

from .._validation import check_int, check_interval, check_locations, check_paths, check_steps
from .bases import basis, polynomial_features

__all__ = ["increments", "binned_km", "local_linear", "default_bandwidth", "least_squares", "polynomial_features",
           "interpolate_1d", "transitions"]

Empty = Literal["fill", "nan"]
_EXP_FLOOR = math.exp(-80.0)


def increments(paths: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Start states and increments of every transition inside each path.

    Args:
        paths: (n_paths, T, d) (or (n_paths, T) / (T,) for d = 1), T >= 2, finite.

    Returns:
        ``(x, dx)``, each (n_paths * (T - 1), d): ``x`` the state before a step, ``dx`` the step.
    """
    p = check_paths(paths)
    d = p.shape[-1]
    return p[:, :-1].reshape(-1, d), (p[:, 1:] - p[:, :-1]).reshape(-1, d)


def transitions(paths: Any, dt: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Checked paths and every transition inside each path, with its time step.

    Args:
        paths: (n_paths, T, d) (or (n_paths, T) / (T,) for d = 1), T >= 2, finite.
        dt: time between observations, or the steps between them ((T - 1,) or (n_paths, T - 1)).

    Returns:
        ``(paths, x, dx, tau)``: the checked paths (n_paths, T, d), start states x and increments
        dx, each (n_paths * (T - 1), d), and their steps tau (n_paths * (T - 1), 1), all in the
        paths' dtype.
    """
    p = check_paths(paths)
    steps = check_steps(dt, n_paths=p.shape[0], length=p.shape[1], device=p.device)
    d = p.shape[-1]
    x = p[:, :-1].reshape(-1, d)
    dx = (p[:, 1:] - p[:, :-1]).reshape(-1, d)
    if isinstance(steps, float):
        tau = torch.full((x.shape[0], 1), steps, dtype=p.dtype, device=p.device)
    else:
        tau = steps.to(p.dtype).reshape(-1, 1)
    return p, x, dx, tau


def _prepare(paths: Any, dt: Any, locations: Any, empty: str, min_count: Any):
    """Checked inputs as start states x (N, d), increments dx (N, d), their steps (N, 1), locations
    (G, d) and min_count."""
    p, x, dx, tau = transitions(paths, dt)
    loc = check_locations(locations, d=p.shape[-1]).to(device=p.device, dtype=p.dtype)
    if empty not in ("fill", "nan"):
        raise ValueError(f"empty must be 'fill' or 'nan', got {empty!r}")
    min_count = check_int(min_count, name="min_count", minimum=1)
    return x, dx, tau, loc, min_count


def _safe_sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt(max(v, 0)) with finite gradients everywhere (0 where v <= 0, NaN where v is NaN)."""
    pos = v > 0
    out = torch.where(pos, torch.sqrt(torch.where(pos, v, torch.ones_like(v))), torch.zeros_like(v))
    return torch.where(torch.isnan(v), v, out)  # NaN ("no data here") stays NaN


def interpolate_1d(xq: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of fp (K, d) given at sorted xp (K,) to xq (G,); constant outside."""
    if xp.numel() == 1:
        return fp[:1].expand(xq.shape[0], -1)
    xq_c = torch.clamp(xq, xp[0], xp[-1])
    hi = torch.clamp(torch.searchsorted(xp, xq_c), 1, xp.numel() - 1)
    lo = hi - 1
    w = ((xq_c - xp[lo]) / (xp[hi] - xp[lo]))[:, None]
    return fp[lo] * (1 - w) + fp[hi] * w


def _nearest(xq: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Value of fp (K, d) at the point of xp (K, d) nearest to each xq (G, d), distances / scale."""
    dist = torch.cdist(xq / scale, xp / scale)
    return fp[dist.argmin(dim=1)]


def _fill(loc: torch.Tensor, values: list[torch.Tensor], supported: torch.Tensor,
          empty: str, what: str) -> list[torch.Tensor]:
    """Replace values at unsupported query locations (see the module docstring)."""
    if bool(supported.all()):
        return values
    if empty == "nan":
        return [torch.where(supported[:, None], v, torch.full_like(v, math.nan)) for v in values]
    if not bool(supported.any()):
        raise ValueError(f"no query location has enough data nearby for the {what} estimate; "
                         "query inside the visited region (fimcg.analysis.metrics.occupied_grid)")
    ls, out = loc[supported], []
    for v in values:
        vs = v[supported]
        if loc.shape[1] == 1:
            order = torch.argsort(ls[:, 0])
            filled = interpolate_1d(loc[:, 0], ls[order, 0], vs[order])
        else:
            filled = _nearest(loc, ls, vs, torch.ones(loc.shape[1], dtype=loc.dtype, device=loc.device))
        out.append(torch.where(supported[:, None], v, filled))
    return out


# --------------------------------------------------------------------------------------------------
# Binned Kramers-Moyal
# --------------------------------------------------------------------------------------------------

def binned_km(paths: Any, dt: Any, locations: Any, *, n_bins: int = 30,
              bin_range: tuple[float, float] | None = None, min_count: int = 10,
              empty: Empty = "fill") -> tuple[torch.Tensor, torch.Tensor]:
    """Binned Kramers-Moyal estimates of drift and diffusion.

    The start states are binned on a regular grid (``n_bins`` per dimension over the range of the
    data, or ``bin_range``); in each bin the drift is the mean increment / dt (sum dX / sum dt) and
    the squared diffusion the drift-corrected second moment, i.e. the unbiased sample variance of
    the increments / dt (the raw second moment would be biased by f^2 dt). In 1-D the bin values are
    linearly interpolated between bin centres to the query locations; in d > 1 a location takes its
    bin's value.

    Args:
        paths: observed paths (n_paths, T, d), T >= 2, d = 1..3.
        dt: time between observations (> 0), or the steps between them, (T - 1,) or (n_paths, T - 1).
        locations: query points (G, d) (or (G,) for d = 1).
        n_bins: bins per dimension (>= 1).
        bin_range: ``(lo, hi)`` of the bins (all dimensions); default: the data's range.
            Increments starting outside it are ignored.
        min_count: bins with fewer increments (or fewer than 2) count as empty.
        empty: ``"fill"`` or ``"nan"``, see "Where there is no data" in the module docstring.

    Returns:
        ``(drift, diffusion)``, each (G, d), diffusion >= 0.
    """
    x, dx, tau, loc, min_count = _prepare(paths, dt, locations, empty, min_count)
    n_bins = check_int(n_bins, name="n_bins", minimum=1)
    n, d = x.shape
    xd = x.detach()
    if bin_range is None:
        lo, hi = xd.min(dim=0).values, xd.max(dim=0).values
        span = hi - lo
        pad = torch.where(span > 0, 1e-6 * span, torch.full_like(span, 1e-6))
        lo, hi = lo - pad, hi + pad
    else:
        r0, r1 = check_interval(bin_range, name="bin_range")
        lo = torch.full((d,), r0, dtype=x.dtype, device=x.device)
        hi = torch.full((d,), r1, dtype=x.dtype, device=x.device)
    width = (hi - lo) / n_bins
    idx_d = torch.floor((xd - lo) / width).long()  # (N, d)
    inside = ((idx_d >= 0) & (idx_d < n_bins)).all(dim=1)
    strides = torch.tensor([n_bins ** k for k in range(d)], device=x.device)
    flat = (idx_d.clamp(0, n_bins - 1) * strides).sum(dim=1)
    flat, x_in, dx_in, tau_in = flat[inside], x[inside], dx[inside], tau[inside]
    n_cells = n_bins ** d
    counts = torch.bincount(flat, minlength=n_cells).to(x.dtype)
    sums = torch.zeros(n_cells, d, dtype=x.dtype, device=x.device).index_add(0, flat, dx_in)
    time = torch.zeros(n_cells, 1, dtype=x.dtype, device=x.device).index_add(0, flat, tau_in)
    time = time.clamp(min=float(tau.min()))  # empty bins: no division by zero
    drift_bins = sums / time  # sum dX / sum dt
    resid = dx_in - drift_bins[flat] * tau_in
    ss = torch.zeros(n_cells, d, dtype=x.dtype, device=x.device).index_add(0, flat, resid * resid)
    # sum (dX - f dt)^2 / sum dt, with the n / (n - 1) of an unbiased variance
    g2_bins = ss / time * (counts / (counts - 1).clamp(min=1))[:, None]
    populated = counts >= max(min_count, 2)
    if not bool(populated.any()):
        raise ValueError(f"no bin holds {max(min_count, 2)} or more increments ({n} increments in "
                         f"{n_cells} bins); use fewer bins or a smaller min_count")

    # centres of all cells, (n_cells, d)
    centres_1d = [lo[k] + width[k] * (torch.arange(n_bins, device=x.device, dtype=x.dtype) + 0.5)
                  for k in range(d)]
    grids = torch.meshgrid(*centres_1d[::-1], indexing="ij") if d > 1 else (centres_1d[0],)
    centres = torch.stack([g.reshape(-1) for g in grids[::-1]], dim=-1) if d > 1 else centres_1d[0][:, None]

    pc, pf, pg = centres[populated], drift_bins[populated], g2_bins[populated]
    if d == 1:
        drift = interpolate_1d(loc[:, 0], pc[:, 0], pf)
        g2 = interpolate_1d(loc[:, 0], pc[:, 0], pg)
    else:
        drift = _nearest(loc, pc, pf, width)
        g2 = _nearest(loc, pc, pg, width)
    # support of a query: its own bin is populated (and inside the bin range)
    q_idx = torch.floor((loc.detach() - lo) / width).long()
    q_in = ((q_idx >= 0) & (q_idx < n_bins)).all(dim=1)
    q_flat = (q_idx.clamp(0, n_bins - 1) * strides).sum(dim=1)
    supported = q_in & populated[q_flat]
    if empty == "nan":
        drift, g2 = _fill(loc, [drift, g2], supported, "nan", "binned Kramers-Moyal")
    return drift, _safe_sqrt(g2)


# --------------------------------------------------------------------------------------------------
# Local-linear kernel regression
# --------------------------------------------------------------------------------------------------

def default_bandwidth(x: torch.Tensor) -> torch.Tensor:
    """Rule-of-thumb bandwidth per dimension for :func:`local_linear`, shape (d,).

    h = 1.5 * s * N^(-1/5) with s = min(std, IQR / 1.349) of the start states and N their number
    (Silverman's scaling; the factor 1.5 > 1.06 because increments are far noisier than the states
    they are regressed on).
    """
    xd = x.detach()
    n = xd.shape[0]
    std = xd.std(dim=0) if n > 1 else torch.ones(xd.shape[1], dtype=xd.dtype, device=xd.device)
    sample = xd if n <= 1_000_000 else xd[torch.linspace(0, n - 1, 1_000_000, device=xd.device).long()]
    q = torch.quantile(sample.float(), torch.tensor([0.25, 0.75], device=xd.device), dim=0).to(xd.dtype)
    iqr = (q[1] - q[0]) / 1.349
    s = torch.where(iqr > 0, torch.minimum(std, iqr), std)
    s = torch.where(s > 0, s, torch.ones_like(s))
    return 1.5 * s * n ** (-0.2)


def local_linear(paths: Any, dt: Any, locations: Any, *, bandwidth: float | Any | None = None,
                 min_count: int = 10, empty: Empty = "fill",
                 chunk: int = 1 << 22) -> tuple[torch.Tensor, torch.Tensor]:
    """Local-linear (Gaussian-kernel) regression of the increments and squared increments.

    At each query x0 the rates dX / dt are fitted by ``a + b·(X - x0)`` with weights
    ``K((X - x0) / h) dt``, K a Gaussian (a product over dimensions; the factor dt is the same for
    every increment under regular sampling); the intercept ``a`` estimates the drift, and the same
    fit of ``dX^2 / dt`` estimates E[dX^2 / dt | x0] = g^2 + f^2 dt. Then ``g^2`` is that minus
    ``(a^2 + c) dt̄``, clamped at 0, with dt̄ the window's weighted mean step and ``c`` what the
    variation of the drift across the kernel window, ``(a + b·z)^2``, contributes to the fitted
    second moment (computed from the same weights). The correction is exact for a drift that is
    linear over the window and a regular step, so g is not inflated by steep drifts (without it the
    bias would be about h^2 f'(x)^2 dt). Local-linear fits have no first-order bias at the edges of
    the data, unlike bin averages.

    Args:
        paths: observed paths (n_paths, T, d), T >= 2.
        dt: time between observations (> 0), or the steps between them, (T - 1,) or (n_paths, T - 1).
        locations: query points (G, d) (or (G,) for d = 1).
        bandwidth: kernel width in state units: a number (all dimensions), a (d,) sequence,
            ``None`` for the rule of thumb :func:`default_bandwidth`, or ``"cv"``: one bandwidth
            for the drift and one for g², each chosen by cross-validation
            (:func:`fimcg.estimators.selection.cross_validated_bandwidth`).
        min_count: a location whose effective number of observations (sum w)^2 / sum w^2 is below
            this has no estimate of its own (see ``empty``).
        empty: ``"fill"`` or ``"nan"``, see "Where there is no data" in the module docstring.
        chunk: kernel-matrix entries (G x increments) computed at once (memory bound).

    Returns:
        ``(drift, diffusion)``, each (G, d), diffusion >= 0. Cost O(G * n_paths * T * d^2).
    """
    if isinstance(bandwidth, str):
        if bandwidth != "cv":
            raise ValueError(f"bandwidth must be a number, a sequence, None or 'cv'; got {bandwidth!r}")
        from .selection import cross_validated_bandwidth  # selection builds on this function

        h_f, h_g = cross_validated_bandwidth(paths, dt)
        opts = dict(min_count=min_count, empty=empty, chunk=chunk)
        drift = local_linear(paths, dt, locations, bandwidth=h_f, **opts)[0]
        return drift, local_linear(paths, dt, locations, bandwidth=h_g, **opts)[1]
    x, dx, tau, loc, min_count = _prepare(paths, dt, locations, empty, min_count)
    chunk = check_int(chunk, name="chunk", minimum=1)
    n, d = x.shape
    g = loc.shape[0]
    if bandwidth is None:
        h = default_bandwidth(x)
    else:
        ht = torch.as_tensor(bandwidth, dtype=x.dtype).reshape(-1).to(x.device)
        if ht.numel() == 1:
            ht = ht.expand(d)
        if ht.numel() != d or not bool(torch.isfinite(ht).all()) or not bool((ht > 0).all()):
            raise ValueError(f"bandwidth must be a positive number or {d} positive numbers, got {bandwidth!r}")
        h = ht.clone()
    # Every sum the fits need is a kernel-weighted moment of a few per-increment features, so one
    # matrix product W (G, n) @ F (n, K) per chunk does all the work. States are centred on their
    # mean first; products are expanded around each query afterwards (in float64).
    c = x.detach().mean(dim=0)
    v, v0 = x - c, loc - c  # (N, d), (G, d)
    pairs = [(j, k) for j in range(d) for k in range(j, d)]
    triples = [(j, k, l) for j in range(d) for k in range(j, d) for l in range(k, d)]

    def features(vc: torch.Tensor, dxc: torch.Tensor, tc: torch.Tensor) -> torch.Tensor:
        """(n, K) per-increment features, K = 1 + d + d(d+1)/2 + 2d + 2d^2 + #triples + 1: the
        moments of the states carry the step dt (the regression weight), those of the increments
        do not (weight dt times rate dX / dt), and dt^2 gives the window's mean step."""
        feats = [tc, vc * tc, torch.stack([vc[:, j] * vc[:, k] for j, k in pairs], dim=1) * tc, dxc, dxc * dxc]
        feats += [vc[:, j:j + 1] * dxc for j in range(d)] + [vc[:, j:j + 1] * dxc * dxc for j in range(d)]
        feats += [torch.stack([vc[:, j] * vc[:, k] * vc[:, l] for j, k, l in triples], dim=1) * tc, tc * tc]
        return torch.cat(feats, dim=1).double()

    n_feat = 1 + d + len(pairs) + 2 * d + 2 * d * d + len(triples) + 1
    mom = torch.zeros(g, n_feat, dtype=torch.float64, device=x.device)
    sw2 = torch.zeros(g, dtype=torch.float64, device=x.device)
    step = max(1, chunk // max(g, 1))
    for start in range(0, n, step):  # features are built per chunk: memory O(chunk), not O(N)
        xc = x[start:start + step]
        arg = sum(-0.5 * ((xc[None, :, j] - loc[:, j:j + 1]) / h[j]) ** 2 for j in range(d))  # (G, n)
        # weights below e^-80 are set to exactly 0: no subnormal floats (slow) and far data weigh nothing
        w = (torch.exp(arg.clamp(min=-80.0)) - _EXP_FLOOR).double()  # (G, n)
        tc = tau[start:start + step]
        mom = mom + w @ features(v[start:start + step], dx[start:start + step], tc)
        sw2 = sw2 + torch.linalg.vector_norm(w.detach() * tc[:, 0].double(), dim=1) ** 2
    # unpack the raw moments: M1 = sum w dt, Mv_j = sum w dt v_j, Mvv_jk, R1_m = sum w dx_m, R2_m = sum w dx_m^2,
    # Rv1_jm = sum w v_j dx_m, Rv2_jm = sum w v_j dx_m^2, Mvvv_jkl = sum w dt v_j v_k v_l, T2 = sum w dt^2
    o = 0
    m1 = mom[:, 0]; o = 1
    mv = mom[:, o:o + d]; o += d
    mvv_flat = mom[:, o:o + len(pairs)]; o += len(pairs)
    r1 = mom[:, o:o + d]; o += d
    r2 = mom[:, o:o + d]; o += d
    rv1 = mom[:, o:o + d * d].reshape(g, d, d); o += d * d
    rv2 = mom[:, o:o + d * d].reshape(g, d, d); o += d * d
    mvvv_flat = mom[:, o:o + len(triples)]; o += len(triples)
    mean_step = mom[:, o] / m1.clamp(min=1e-300)  # (G,) the window's mean step, weighted by w dt
    mvv = torch.zeros(g, d, d, dtype=torch.float64, device=x.device)
    for col, (j, k) in enumerate(pairs):
        mvv[:, j, k] = mvv_flat[:, col]
        mvv[:, k, j] = mvv_flat[:, col]
    a0, hh = v0.double(), h.double()
    # moments of z = (v - v0) / h:  S = [[sum w, sum w z^T], [sum w z, sum w z z^T]]
    sz = (mv - a0 * m1[:, None]) / hh  # (G, d)
    szz = (mvv - a0[:, :, None] * mv[:, None, :] - mv[:, :, None] * a0[:, None, :]
           + a0[:, :, None] * a0[:, None, :] * m1[:, None, None]) / (hh[:, None] * hh[None, :])
    s_mat = torch.zeros(g, d + 1, d + 1, dtype=torch.float64, device=x.device)
    s_mat[:, 0, 0] = m1
    s_mat[:, 0, 1:] = sz
    s_mat[:, 1:, 0] = sz
    s_mat[:, 1:, 1:] = szz
    rhs1 = torch.cat([r1[:, None, :], (rv1 - a0[:, :, None] * r1[:, None, :]) / hh[None, :, None]], dim=1)
    rhs2 = torch.cat([r2[:, None, :], (rv2 - a0[:, :, None] * r2[:, None, :]) / hh[None, :, None]], dim=1)
    acc = torch.float64
    # third moments of z (for the drift correction of the second moment, below)
    mvvv = torch.zeros(g, d, d, d, dtype=torch.float64, device=x.device)
    for col, (j, k, l) in enumerate(triples):
        for a_, b_, c_ in {(j, k, l), (j, l, k), (k, j, l), (k, l, j), (l, j, k), (l, k, j)}:
            mvvv[:, a_, b_, c_] = mvvv_flat[:, col]
    mv_d, mvv_d, m1_d, a_d = mv, mvv, m1, a0
    c3 = (mvvv
          - torch.einsum("gj,gkl->gjkl", a_d, mvv_d) - torch.einsum("gk,gjl->gjkl", a_d, mvv_d)
          - torch.einsum("gl,gjk->gjkl", a_d, mvv_d)
          + torch.einsum("gj,gk,gl->gjkl", a_d, a_d, mv_d) + torch.einsum("gj,gl,gk->gjkl", a_d, a_d, mv_d)
          + torch.einsum("gk,gl,gj->gjkl", a_d, a_d, mv_d)
          - torch.einsum("gj,gk,gl,g->gjkl", a_d, a_d, a_d, m1_d))
    hd = hh
    szzz = c3 / (hd[:, None, None] * hd[None, :, None] * hd[None, None, :])  # (G, d, d, d)
    sw = m1.detach()
    _ = s_mat[:, 0, 0].detach()
    n_eff = torch.where(sw2 > 0, sw * sw / sw2.clamp(min=1e-300), torch.zeros_like(sw))
    supported = n_eff >= min_count
    # tiny ridge on the slope block keeps the solve well-posed when data lie on one side / one point
    ridge = torch.zeros(d + 1, d + 1, dtype=acc, device=x.device)
    ridge[1:, 1:] = torch.eye(d, dtype=acc, device=x.device)
    eps = 1e-6 * sw.clamp(min=1e-30)
    s_reg = s_mat + eps[:, None, None] * ridge
    s_reg = torch.where(supported[:, None, None], s_reg, torch.eye(d + 1, dtype=acc, device=x.device))
    beta1 = torch.linalg.solve(s_reg, rhs1)
    beta2 = torch.linalg.solve(s_reg, rhs2)
    # The local-linear intercept of dX^2 estimates g^2 dt + (f dt)^2 smoothed over the window, and the
    # smoothing of (f dt)^2 = (a + b.z)^2 adds b^T L b, L_jk = intercept of the same fit applied to
    # z_j z_k. Subtracting it makes the second moment exactly drift-corrected for a locally linear f.
    zz_rhs = torch.cat([s_mat[:, 1:, 1:].reshape(g, 1, d * d), szzz.reshape(g, d, d * d)], dim=1)
    lmat = torch.linalg.solve(s_reg, zz_rhs)[:, 0, :].reshape(g, d, d)
    slope = beta1[:, 1:, :]  # (G, d, d_out)
    curv = torch.einsum("gjm,gjk,gkm->gm", slope, lmat, slope)
    e1, e2 = beta1[:, 0, :], beta2[:, 0, :]  # f(x0), E[dX^2 / dt | x0]
    drift = e1.to(x.dtype)
    g2 = (e2 - (e1 * e1 + curv) * mean_step[:, None]).to(x.dtype)
    drift, g2 = _fill(loc, [drift, g2], supported, empty, "local-linear")
    return drift, _safe_sqrt(g2)


# --------------------------------------------------------------------------------------------------
# Least squares in a known function class (the oracle)
# --------------------------------------------------------------------------------------------------

def _ls_solve(phi: torch.Tensor, y: torch.Tensor, name: str) -> torch.Tensor:
    """Least-squares coefficients (K, d) of y (N, d) on features phi (N, K), in float64."""
    n, k = phi.shape
    if n < k:
        raise ValueError(f"{name} has {k} basis functions but only {n} increments; use a smaller basis")
    a = phi.T @ phi
    b = phi.T @ y
    scale = torch.diagonal(a).mean().clamp(min=1e-300)
    a = a + 1e-12 * scale * torch.eye(k, dtype=a.dtype, device=a.device)
    return torch.linalg.solve(a, b)


def least_squares(paths: Any, dt: Any, locations: Any, *, drift_basis: int | Callable = 3,
                  diff2_basis: int | Callable = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares fit of drift and squared diffusion in a given function class (the oracle).

    The drift is ``f(x) = sum_k c_k phi_k(x)`` fitted by least squares of dX / dt on the features at
    the start states; the squared diffusion ``g^2(x) = sum_k e_k psi_k(x)`` by least squares of the
    squared drift-corrected residuals (dX - f dt)^2 / dt; ``g = sqrt(max(g^2, 0))``. Both fits weigh
    each increment by its step (ordinary least squares for regular sampling).
    States are standardised (mean/std of the data) before the features are formed, for conditioning;
    the fitted functions are the same. Each output dimension is fitted separately on the same basis.

    Args:
        paths: observed paths (n_paths, T, d), T >= 2.
        dt: time between observations (> 0), or the steps between them, (T - 1,) or (n_paths, T - 1).
        locations: query points (G, d).
        drift_basis, diff2_basis: a polynomial degree (all monomials up to that total degree) or
            a callable mapping (..., d) states to (..., K) features.

    Returns:
        ``(drift, diffusion)``, each (G, d). With the true class (degree 3 / 2 for the reference
        double well) this is the best a parametric method can do on the data.
    """
    x, dx, tau, loc, _ = _prepare(paths, dt, locations, "fill", 1)
    phi_f, phi_g = basis(drift_basis, "drift_basis"), basis(diff2_basis, "diff2_basis")
    callable_basis = callable(drift_basis) or callable(diff2_basis)
    x64, dx64, loc64 = x.double(), dx.double(), loc.double()
    if callable_basis:
        # a user basis is defined in the original units: do not standardise
        zx, zl = x64, loc64
    else:
        mu, sd = x64.detach().mean(dim=0), x64.detach().std(dim=0)
        sd = torch.where(sd > 0, sd, torch.ones_like(sd))
        zx, zl = (x64 - mu) / sd, (loc64 - mu) / sd
    fx = phi_f(zx)
    if fx.ndim != 2 or fx.shape[0] != x.shape[0]:
        raise ValueError(f"drift_basis must map (N, d) states to (N, K) features; got shape {tuple(fx.shape)}")
    t64 = tau.double()
    root = t64.sqrt()  # weighted least squares (weights dt) as ordinary least squares on rows scaled by sqrt(dt)
    coef_f = _ls_solve(fx * root, dx64 / t64 * root, "drift_basis")  # (K, d)
    resid = dx64 - (fx @ coef_f) * t64
    gx = phi_g(zx)
    if gx.ndim != 2 or gx.shape[0] != x.shape[0]:
        raise ValueError(f"diff2_basis must map (N, d) states to (N, K) features; got shape {tuple(gx.shape)}")
    coef_g = _ls_solve(gx * root, resid * resid / t64 * root, "diff2_basis")
    drift = phi_f(zl) @ coef_f
    g2 = phi_g(zl) @ coef_g
    return drift.to(x.dtype), _safe_sqrt(g2).to(x.dtype)

