"""Sparse equation discovery for drift and squared diffusion, and coordinate-free validation.

Equations
---------
A discovered SDE is polynomial: for every state dimension i,

    f_i(x) = sum_m a_{i,m} x^m        g_i(x)^2 = sum_m b_{i,m} x^m

over a library of monomials ``x^m`` (all products of the coordinates up to ``drift_degree`` and
``diffusion_degree``; in 1-D simply 1, x, x^2, ...). Coefficients come from sequentially thresholded
least squares (STLSQ, the SINDy algorithm): fit, drop every term whose contribution to the fitted
function is below ``threshold`` times the function's size, refit on the remaining terms, repeat.
Two data sources are supported:

* :func:`discover` works on observed paths by Kramers-Moyal regression: ``Δx/dt`` regressed on the
  library at ``x_t`` gives f (on Euler-Maruyama data its conditional mean is exactly f), then
  ``(Δx - f dt)^2 / dt`` gives g^2 (the drift-corrected second moment, unbiased).
* :func:`discover_from_coefficients` fits drift and g^2 values given on a grid, e.g. what the FIM
  returned for a learned latent; weights let the well-visited region count most.

The result, :class:`PolynomialSDE`, prints as an equation (``f(x) = 3.98 x - 4.01 x^3``) and
converts to a :class:`fimcg.SDE` with ``g = sqrt(max(p(x), 0))`` that :func:`fimcg.simulate` runs.

Validation
----------
Statistics that survive a monotone change of coordinates, so a model found in a learned latent can
be checked against the data in the same latent:

* :func:`switching_statistics`: well switches counted with hysteresis thresholds (a switch is
  complete only when the path reaches the other well's threshold), their rate and the mean first
  passage time between wells;
* :func:`ks_distance`: the Kolmogorov-Smirnov distance between two samples (invariant under any
  monotone map applied to both), used for the stationary distribution;
* :func:`validate`: simulates a discovered SDE and compares both against the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence
import numpy as np
import torch
from .._validation import as_tensor, check_int, check_paths, check_positive, to_numpy
from ..estimators.bases import monomial_exponents, monomials
from ..sde.model import SDE


def polynomial_library(x: Any, exponents: Sequence[Sequence[int]]) -> np.ndarray:
    """Evaluate monomials (:func:`fimcg.estimators.bases.monomials`) at states ``x`` of shape (N, d)
    (or (N,)); returns (N, n_terms) float64."""
    xx = torch.as_tensor(to_numpy(x, dtype=np.float64))
    if xx.ndim == 1:
        xx = xx[:, None]
    return monomials(xx, exponents).numpy()


def stlsq(theta: np.ndarray, y: np.ndarray, *, threshold: float = 0.1, weights: np.ndarray | None = None,
          min_t: float | None = None, max_iter: int = 10, ridge: float = 1e-8) -> np.ndarray:
    """Sequentially thresholded least squares.

    Args:
        theta: library matrix (N, K); y: targets (N,); weights: optional non-negative (N,).
        threshold: a term is dropped when ``|c_k| * rms(theta_k) < threshold * rms(theta @ c)``,
            i.e. when it contributes less than that fraction of the fitted function's size.
        min_t: if given, a term is also dropped when its coefficient is not significant:
            ``|c_k| / se_k < min_t`` with heteroscedasticity-robust (sandwich) standard errors, for
            noisy targets such as Kramers-Moyal increments.
        ridge: tiny Tikhonov term on the column-normalised problem (numerical safety only).

    Returns:
        coefficients (K,), exactly zero for dropped terms.
    """
    n, k = theta.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    sw = np.sqrt(w / w.sum())
    A = theta * sw[:, None]
    b = y * sw
    norms = np.sqrt(np.sum(A ** 2, axis=0))
    norms[norms == 0] = 1.0
    An = A / norms
    active = np.ones(k, dtype=bool)
    cn = np.zeros(k)
    for _ in range(max_iter + 1):
        Aa = An[:, active]
        cn = np.zeros(k)
        gram_inv = np.linalg.inv(Aa.T @ Aa + ridge * np.eye(Aa.shape[1]))
        cn[active] = gram_inv @ (Aa.T @ b)
        fit_size = np.sqrt(np.sum((An @ cn) ** 2))
        keep = active & (np.abs(cn) >= threshold * fit_size)
        if min_t is not None:
            r = b - An @ cn  # weighted residuals
            meat = (Aa * r[:, None] ** 2).T @ Aa
            se = np.zeros(k)
            se[active] = np.sqrt(np.maximum(np.diag(gram_inv @ meat @ gram_inv), 0.0))
            keep &= np.abs(cn) >= min_t * se
        if not keep.any():  # keep the single largest term rather than returning nothing
            keep = np.zeros(k, dtype=bool)
            keep[np.argmax(np.abs(cn))] = True
        if np.array_equal(keep, active):
            break
        active = keep
    return cn / norms


def _fmt_term(coef: float, e: tuple[int, ...], names: Sequence[str], digits: int) -> str:
    mono = " ".join(n if p == 1 else f"{n}^{p}" for n, p in zip(names, e) if p > 0)
    mag = f"{abs(coef):.{digits}g}" if abs(coef) < 10 ** digits else f"{abs(coef):.{digits}e}"
    return mag if not mono else (mono if mag == "1" else f"{mag} {mono}")


def _fmt_poly(coefs: np.ndarray, exps: Sequence[tuple[int, ...]], names: Sequence[str], digits: int) -> str:
    parts = []
    for c, e in zip(coefs, exps):
        if c == 0:
            continue
        term = _fmt_term(float(c), e, names, digits)
        if not parts:
            parts.append(("-" if c < 0 else "") + term)
        else:
            parts.append(("- " if c < 0 else "+ ") + term)
    return " ".join(parts) if parts else "0"


@dataclass(frozen=True)
class PolynomialSDE:
    """A discovered SDE with polynomial drift and polynomial squared diffusion.

    Attributes:
        drift_exponents, diffusion_exponents: monomials of the two libraries (tuples of length d).
        drift_coef: (d, n_drift_terms); diffusion2_coef: (d, n_diffusion_terms), coefficients of g^2.
        names: coordinate names used when printing (default x or x1, x2, ...).
    """

    drift_exponents: tuple[tuple[int, ...], ...]
    diffusion_exponents: tuple[tuple[int, ...], ...]
    drift_coef: np.ndarray
    diffusion2_coef: np.ndarray
    names: tuple[str, ...] = ("x",)
    info: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return len(self.names)

    def _eval(self, x: Any, exps, coef) -> Any:
        if isinstance(x, torch.Tensor):
            xs = x if x.ndim > 1 else x[:, None]
            if self.dim == 1:  # Horner's scheme: few tensor operations per call (fast simulation)
                dense = np.zeros(max(e[0] for e in exps) + 1)
                for c, e in zip(coef[0], exps):
                    dense[e[0]] += c
                acc = torch.full_like(xs, float(dense[-1]))
                for c in dense[-2::-1]:
                    acc = acc * xs + float(c)
                return acc
            out = []
            for i in range(self.dim):
                acc = torch.zeros(xs.shape[:-1], dtype=xs.dtype, device=xs.device)
                for c, e in zip(coef[i], exps):
                    if c != 0:
                        term = torch.ones_like(acc)
                        for j, p in enumerate(e):
                            if p:
                                term = term * xs[..., j] ** p
                        acc = acc + float(c) * term
                out.append(acc)
            return torch.stack(out, dim=-1)
        xs = np.asarray(x, dtype=np.float64)
        squeeze = xs.ndim == 1
        if squeeze:
            xs = xs[:, None]
        lib = polynomial_library(xs.reshape(-1, self.dim), exps)
        res = (lib @ np.asarray(coef).T).reshape(xs.shape[:-1] + (self.dim,))
        return res

    def drift(self, x: Any) -> Any:
        """f at states (..., d) (numpy or torch; torch keeps device/dtype); returns (..., d)."""
        return self._eval(x, self.drift_exponents, self.drift_coef)

    def diffusion_squared(self, x: Any) -> Any:
        """The polynomial p = g^2 at states (..., d) (may be negative outside the data)."""
        return self._eval(x, self.diffusion_exponents, self.diffusion2_coef)

    def diffusion(self, x: Any) -> Any:
        """g = sqrt(max(p, 0)) at states (..., d)."""
        p = self.diffusion_squared(x)
        if isinstance(p, torch.Tensor):
            return torch.sqrt(torch.clamp(p, min=0.0))
        return np.sqrt(np.maximum(p, 0.0))

    def sde(self, *, name: str = "discovered") -> SDE:
        """The equation as a :class:`fimcg.SDE` (torch callables) for :func:`fimcg.simulate`."""
        return SDE(drift=self.drift, diffusion=self.diffusion, dim=self.dim, name=name,
                   params={"equation": self.equation()})

    def equation(self, *, digits: int = 3) -> str:
        """The equations as text, one line for f and one for g^2 per dimension."""
        lines = []
        arg = self.names[0] if self.dim == 1 else "x"
        for i in range(self.dim):
            sub = "" if self.dim == 1 else f"_{i + 1}"
            lines.append(f"f{sub}({arg}) = " + _fmt_poly(self.drift_coef[i], self.drift_exponents, self.names, digits))
            lines.append(f"g{sub}({arg})^2 = " + _fmt_poly(self.diffusion2_coef[i], self.diffusion_exponents,
                                                            self.names, digits))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.equation()

    def coefficients(self) -> dict:
        """Non-zero coefficients as {"f": {monomial: value}, "g2": {...}} (for JSON reports)."""
        def named(coef, exps):
            out = {}
            for c, e in zip(coef, exps):
                if c != 0:
                    key = " ".join(n if p == 1 else f"{n}^{p}" for n, p in zip(self.names, e) if p) or "1"
                    out[key] = float(c)
            return out
        if self.dim == 1:
            return {"f": named(self.drift_coef[0], self.drift_exponents),
                    "g2": named(self.diffusion2_coef[0], self.diffusion_exponents)}
        return {f"f_{i + 1}": named(self.drift_coef[i], self.drift_exponents) for i in range(self.dim)} | \
               {f"g2_{i + 1}": named(self.diffusion2_coef[i], self.diffusion_exponents) for i in range(self.dim)}


def _names(d: int) -> tuple[str, ...]:
    return ("x",) if d == 1 else tuple(f"x{i + 1}" for i in range(d))


def _check_degree(v: Any, name: str) -> int:
    v = check_int(v, name=name, minimum=0)
    if v > 8:
        raise ValueError(f"{name} must be <= 8 (a larger library is ill-conditioned), got {v}")
    return v


def discover(paths: Any, dt: float, *, drift_degree: int = 3, diffusion_degree: int = 2,
             threshold: float = 0.05, min_t: float | None = 3.0,
             names: Sequence[str] | None = None) -> PolynomialSDE:
    """Discover a sparse polynomial SDE from observed paths (Kramers-Moyal regression + STLSQ).

    Args:
        paths: observations (n_paths, T, d) (or (n_paths, T) / (T,) for d = 1), spacing ``dt``.
            Increments are taken within each path only (paths are never concatenated).
        dt: time between observations (> 0).
        drift_degree, diffusion_degree: largest total degree in the libraries for f and g^2.
        threshold: STLSQ threshold (relative contribution, see :func:`stlsq`).
        min_t: significance cut (see :func:`stlsq`): a term must be ``min_t`` standard errors away
            from zero to stay; ``None`` uses the contribution threshold only. ``threshold=0,
            min_t=None`` keeps all terms.
        names: coordinate names for printing.

    Returns:
        :class:`PolynomialSDE`.
    """
    p = to_numpy(check_paths(paths, name="paths", min_length=2), dtype=np.float64)
    dt = check_positive(dt, name="dt")
    drift_degree = _check_degree(drift_degree, "drift_degree")
    diffusion_degree = _check_degree(diffusion_degree, "diffusion_degree")
    threshold = float(threshold)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be finite and >= 0, got {threshold!r}")
    n, T, d = p.shape
    x = p[:, :-1].reshape(-1, d)
    dx = (p[:, 1:] - p[:, :-1]).reshape(-1, d)
    if np.all(dx == 0):
        raise ValueError("paths do not move (all increments are zero): nothing to discover")
    fe, ge = monomial_exponents(d, drift_degree), monomial_exponents(d, diffusion_degree)
    lib_f = polynomial_library(x, fe)
    lib_g = polynomial_library(x, ge)
    a = np.stack([stlsq(lib_f, dx[:, i] / dt, threshold=threshold, min_t=min_t) for i in range(d)])
    resid = dx - (lib_f @ a.T) * dt
    b = np.stack([stlsq(lib_g, resid[:, i] ** 2 / dt, threshold=threshold, min_t=min_t) for i in range(d)])
    return PolynomialSDE(tuple(fe), tuple(ge), a, b, tuple(names) if names else _names(d),
                         info={"source": "paths", "n_increments": int(x.shape[0]), "dt": dt,
                               "threshold": threshold})


def discover_from_coefficients(locations: Any, drift: Any, diffusion: Any, *, weights: Any = None,
                               drift_degree: int = 3, diffusion_degree: int = 2, threshold: float = 0.1,
                               names: Sequence[str] | None = None) -> PolynomialSDE:
    """Fit a sparse polynomial SDE to drift and diffusion values given at locations.

    Args:
        locations: (G, d) (or (G,) for d = 1), e.g. a grid over the occupied region of a latent.
        drift, diffusion: values f and g at the locations, shape (G, d); g^2 is fitted.
        weights: optional (G,) non-negative weights, e.g. the data density at each location.
        drift_degree, diffusion_degree, threshold, names: as in :func:`discover`.
    """
    loc = to_numpy(as_tensor(locations, name="locations"), dtype=np.float64)
    if loc.ndim == 1:
        loc = loc[:, None]
    G, d = loc.shape
    f = to_numpy(as_tensor(drift, name="drift"), dtype=np.float64)
    g = to_numpy(as_tensor(diffusion, name="diffusion"), dtype=np.float64)
    if f.size != G * d or g.size != G * d:
        raise ValueError(f"drift and diffusion must have shape (G={G}, d={d}) like locations; got "
                         f"{tuple(f.shape)} and {tuple(g.shape)}")
    f, g = f.reshape(G, d), g.reshape(G, d)
    for arr, nm in ((loc, "locations"), (f, "drift"), (g, "diffusion")):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{nm} contains NaN/inf values")
    drift_degree = _check_degree(drift_degree, "drift_degree")
    diffusion_degree = _check_degree(diffusion_degree, "diffusion_degree")
    w = None
    if weights is not None:
        w = to_numpy(weights, dtype=np.float64)
        w = w.reshape(-1)
        if w.shape != (G,) or np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
            raise ValueError(f"weights must be (G={G},) finite, non-negative, not all zero")
    n_f = len(monomial_exponents(d, drift_degree))
    if G < n_f:
        raise ValueError(f"need at least {n_f} locations for a degree-{drift_degree} drift library; got {G}")
    fe, ge = monomial_exponents(d, drift_degree), monomial_exponents(d, diffusion_degree)
    lib_f = polynomial_library(loc, fe)
    lib_g = polynomial_library(loc, ge)
    a = np.stack([stlsq(lib_f, f[:, i], threshold=threshold, weights=w) for i in range(d)])
    b = np.stack([stlsq(lib_g, g[:, i] ** 2, threshold=threshold, weights=w) for i in range(d)])
    return PolynomialSDE(tuple(fe), tuple(ge), a, b, tuple(names) if names else _names(d),
                         info={"source": "coefficients", "n_locations": G, "threshold": threshold})
