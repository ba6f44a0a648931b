"""Identifiability in d dimensions: align a learned latent z ∈ R^d to the true state x before comparing SDEs.

A d-dimensional latent is defined only up to a smooth invertible map. To compare an SDE inferred in
z with the true SDE in x we

1. fit a smooth map ``x = h(z)``: a polynomial of total degree p in the standardised latent
   coordinates, by least squares (:func:`fit_polynomial_map`; its R² per coordinate says whether x
   is a function of z, and the R² of the reverse fit ``z = k(x)`` whether z is a function of x:
   both near 1 means a smooth invertible re-parameterisation);
2. move the inferred coefficients to x with Itô's formula (:func:`ito_transform_nd`), at every
   latent location z with Jacobian J = ∂h/∂z and Hessians H_i = ∂²h_i/∂z²::

       f_x,i = Σ_j J_ij f_z,j + ½ Σ_j H_i,jj g_z,j²          (diagonal latent noise)
       Σ_x   = J diag(g_z²) Jᵀ                                 (the diffusion matrix in x)

What a diagonal-diffusion model can and cannot represent: the latent SDE has independent noise in
each latent coordinate, Σ_z = diag(g_z²). After a change of coordinates the noise covariance is
``J Σ_z Jᵀ``, which is diagonal only when the map keeps the noise directions apart. A latent that is
a rotation of x by 45° sees isotropic noise (g_x constant and equal in both coordinates) as
isotropic again, which the diagonal model represents exactly; but anisotropic noise (g_x,1 ≠ g_x,2)
seen in rotated or sheared coordinates has correlated components, which a diagonal model cannot
hold: it keeps the variances and drops the correlation. :class:`ComparisonND` therefore compares
``sqrt(diag Σ_x)`` with the true g and reports the off-diagonal share of Σ_x separately.

Numpy in, numpy out (torch tensors are accepted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .._validation import check_int, to_numpy
from ..estimators.bases import monomial_exponents, monomials

__all__ = ["PolynomialMap", "fit_polynomial_map", "ito_transform_nd", "ComparisonND", "compare_to_truth_nd"]


#: total degree of the polynomial alignment by default (chosen on the development scene, the 2-D double well)
ALIGNMENT_DEGREE = 5


def _rows(a: Any, *, name: str, d: int | None = None) -> np.ndarray:
    """(..., d) array-like -> (N, d) float64, checked finite."""
    arr = to_numpy(a, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have shape (..., d) with d >= 1 coordinates; got shape {arr.shape}")
    arr = arr.reshape(-1, arr.shape[-1])
    if d is not None and arr.shape[1] != d:
        raise ValueError(f"{name} must have {d} coordinates in its last axis; got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values")
    return arr


def _monomials(u: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """Π_k u_k^e_k for every exponent row of exps (K, d): (N, d) -> (N, K) (:func:`fimcg.estimators.bases.monomials`)."""
    import torch

    return monomials(torch.from_numpy(np.ascontiguousarray(u, dtype=np.float64)), exps.tolist()).numpy()


@dataclass(frozen=True)
class PolynomialMap:
    """A polynomial map ``x = h(z)`` of total degree ``degree`` in standardised latent coordinates.

    Attributes:
        coef: (K, d_x) coefficients of the monomials of u = (z - mean) / scale.
        exponents: (K, d_z) their exponents (constant first, then by total degree).
        mean, scale: (d_z,) the standardisation of z.
        r2: (d_x,) R² of each coordinate of x explained by the map (1: x is a function of z).
        inverse_r2: (d_z,) R² of each latent coordinate explained by the reverse polynomial map
            z = k(x) of the same degree (1: z is a function of x, i.e. the map is invertible on the data).
        residual_std: (d_x,) standard deviation of x - h(z).
    """

    coef: np.ndarray
    exponents: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    r2: np.ndarray
    inverse_r2: np.ndarray
    residual_std: np.ndarray

    @property
    def degree(self) -> int:
        return int(self.exponents.sum(axis=1).max())

    def _u(self, z: Any) -> np.ndarray:
        return (_rows(z, name="z", d=self.mean.size) - self.mean) / self.scale

    def __call__(self, z: Any) -> np.ndarray:
        """h at latent points z (G, d_z): (G, d_x)."""
        return _monomials(self._u(z), self.exponents) @ self.coef

    def jacobian(self, z: Any) -> np.ndarray:
        """∂h_i/∂z_j at z (G, d_z): (G, d_x, d_z)."""
        u = self._u(z)
        out = np.zeros((u.shape[0], self.coef.shape[1], u.shape[1]))
        for j in range(u.shape[1]):
            e = self.exponents.copy()
            factor = e[:, j].astype(np.float64)
            e[:, j] = np.maximum(e[:, j] - 1, 0)
            out[:, :, j] = (_monomials(u, e) * factor) @ self.coef / self.scale[j]
        return out

    def hessian(self, z: Any) -> np.ndarray:
        """∂²h_i/∂z_j∂z_k at z (G, d_z): (G, d_x, d_z, d_z)."""
        u = self._u(z)
        d = u.shape[1]
        out = np.zeros((u.shape[0], self.coef.shape[1], d, d))
        for j in range(d):
            for k in range(d):
                e = self.exponents.copy()
                factor = e[:, j].astype(np.float64)
                e[:, j] = np.maximum(e[:, j] - 1, 0)
                factor = factor * e[:, k]
                e[:, k] = np.maximum(e[:, k] - 1, 0)
                out[:, :, j, k] = (_monomials(u, e) * factor) @ self.coef / (self.scale[j] * self.scale[k])
        return out


def _lstsq_r2(phi: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(phi, y, rcond=None)
    resid = y - phi @ coef
    var = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    r2 = 1 - (resid ** 2).sum(axis=0) / np.maximum(var, 1e-300)
    return coef, r2, resid.std(axis=0)


def fit_polynomial_map(z: Any, x: Any, *, degree: int = ALIGNMENT_DEGREE) -> PolynomialMap:
    """Least-squares polynomial map ``x = h(z)`` of total degree ``degree`` (and the reverse fit's R²).

    Args:
        z: learned latents (..., d_z), e.g. (n_paths, T, 2). x: the true states (..., d_x) at the
            same observations.
        degree: total degree of the polynomial (>= 1).

    Raises:
        ValueError: mismatched sizes, NaN/inf, a constant latent coordinate, or fewer observations
            than coefficients.
    """
    degree = check_int(degree, name="degree", minimum=1)
    zz, xx = _rows(z, name="z"), _rows(x, name="x")
    if zz.shape[0] != xx.shape[0]:
        raise ValueError(f"z and x must hold the same number of observations; got {zz.shape[0]} and {xx.shape[0]}")
    mean, scale = zz.mean(axis=0), zz.std(axis=0)
    if np.any(scale <= 1e-12 * (1 + np.abs(mean))):
        raise ValueError("a latent coordinate is constant: it cannot be aligned to the truth")
    exps = np.array(monomial_exponents(zz.shape[1], degree))
    if zz.shape[0] <= exps.shape[0]:
        raise ValueError(f"a degree-{degree} map needs more than {exps.shape[0]} observations; got {zz.shape[0]}")
    coef, r2, res = _lstsq_r2(_monomials((zz - zz.mean(0)) / scale, exps), xx)
    xs = (xx - xx.mean(axis=0)) / np.maximum(xx.std(axis=0), 1e-300)
    _, inv_r2, _ = _lstsq_r2(_monomials(xs, np.array(monomial_exponents(xx.shape[1], degree))), zz)
    return PolynomialMap(coef, exps, mean, scale, r2, inv_r2, res)


def ito_transform_nd(jac: Any, hess: Any, drift_z: Any, diffusion_z: Any) -> tuple[np.ndarray, np.ndarray]:
    """Itô's formula for ``x = h(z)`` with diagonal latent noise (module doc).

    Args:
        jac: (G, d_x, d_z) ∂h/∂z. hess: (G, d_x, d_z, d_z) ∂²h/∂z².
        drift_z, diffusion_z: (G, d_z) f_z and g_z at the same points.

    Returns:
        ``(f_x, cov_x)``: drift (G, d_x) and diffusion matrix Σ_x = J diag(g_z²) Jᵀ (G, d_x, d_x).
    """
    J, H = to_numpy(jac, dtype=np.float64), to_numpy(hess, dtype=np.float64)
    f, g = to_numpy(drift_z, dtype=np.float64), to_numpy(diffusion_z, dtype=np.float64)
    if J.ndim != 3 or H.shape != J.shape + (J.shape[-1],) or f.shape != (J.shape[0], J.shape[2]) or g.shape != f.shape:
        raise ValueError(f"shapes must be jac (G, dx, dz), hess (G, dx, dz, dz), drift_z and diffusion_z (G, dz); got "
                         f"{J.shape}, {H.shape}, {f.shape}, {g.shape}")
    g2 = g * g
    fx = np.einsum("gij,gj->gi", J, f) + 0.5 * np.einsum("gijj,gj->gi", H, g2)
    cov = np.einsum("gij,gj,gkj->gik", J, g2, J)
    return fx, cov


@dataclass(frozen=True)
class ComparisonND:
    """A d-dimensional latent SDE compared with the true one after alignment (:func:`compare_to_truth_nd`).

    Attributes:
        alignment: the fitted map ``x = h(z)``.
        points: (G, d) the true-space locations h(z) of the evaluation points (observed latents).
        drift: (G, d) the latent drift moved to x. covariance: (G, d, d) the latent noise moved to x.
        drift_true, diffusion_true: (G, d) the truth at ``points``.
        drift_rel: RMSE of the drift vectors / RMS of the true drift vectors.
        diffusion_rel: the same for sqrt(diag Σ_x) against the true diagonal diffusion.
        off_diagonal: RMS of the off-diagonal entries of Σ_x / RMS of its diagonal (0: the moved
            noise is diagonal, as the true one is).
    """

    alignment: PolynomialMap
    points: np.ndarray
    drift: np.ndarray
    covariance: np.ndarray
    drift_true: np.ndarray
    diffusion_true: np.ndarray
    drift_rel: float
    diffusion_rel: float
    off_diagonal: float

    @property
    def r2(self) -> float:
        """The smallest R² over the true coordinates."""
        return float(self.alignment.r2.min())

    def as_dict(self) -> dict:
        return {"r2": self.r2, "r2_per_coordinate": self.alignment.r2.tolist(),
                "inverse_r2": self.alignment.inverse_r2.tolist(), "drift_rel": self.drift_rel,
                "diffusion_rel": self.diffusion_rel, "off_diagonal": self.off_diagonal}


def compare_to_truth_nd(latents: Any, x: Any, coefficients: Callable[[Any], tuple[Any, Any]], sde: Any, *,
                        degree: int = ALIGNMENT_DEGREE, n_points: int = 400,
                        alignment: PolynomialMap | None = None) -> ComparisonND:
    """Align a d-dimensional latent to the true states and compare its SDE with the true one.

    The comparison runs at ``n_points`` observed latents (evenly spaced through the data, so the
    occupied region is covered as the data cover it): each latent z_n is mapped to x = h(z_n), and
    the inferred coefficients at z_n are moved there by :func:`ito_transform_nd`.

    Args:
        latents: learned latents (n_paths, T, d) (or (N, d)). x: the true states at the same observations.
        coefficients: latent locations, a float32 torch tensor (G, d) -> (drift, diffusion) (G, d)
            (e.g. ``result.coefficients``).
        sde: the true :class:`fimcg.SDE` (d-dimensional, diagonal diffusion).
        degree: total degree of the alignment (:func:`fit_polynomial_map`).
        alignment: a map fitted before; by default fitted to ``latents`` and ``x``.
    """
    import torch

    zz = _rows(latents, name="latents")
    xx = _rows(x, name="x")
    n_points = check_int(n_points, name="n_points", minimum=2)
    m = fit_polynomial_map(zz, xx, degree=degree) if alignment is None else alignment
    idx = np.linspace(0, zz.shape[0] - 1, min(n_points, zz.shape[0])).round().astype(int)
    zq = zz[idx]
    f_z, g_z = coefficients(torch.as_tensor(zq, dtype=torch.float32))
    f_z, g_z = to_numpy(f_z, dtype=np.float64), to_numpy(g_z, dtype=np.float64)
    f_x, cov = ito_transform_nd(m.jacobian(zq), m.hessian(zq), f_z, g_z)
    pts = m(zq)
    with torch.no_grad():
        xt = torch.as_tensor(pts, dtype=torch.float64)
        ft = to_numpy(sde.drift(xt), dtype=np.float64).reshape(pts.shape)
        gt = to_numpy(sde.diffusion(xt), dtype=np.float64).reshape(pts.shape)
    diag = np.sqrt(np.clip(np.einsum("gii->gi", cov), 0, None))
    rel = lambda a, b: float(np.sqrt(np.mean(np.sum((a - b) ** 2, -1))) / np.sqrt(np.mean(np.sum(b ** 2, -1))))  # noqa: E731
    off = cov - np.einsum("gi,ij->gij", np.einsum("gii->gi", cov), np.eye(cov.shape[1]))
    off_share = float(np.sqrt(np.mean(off ** 2) * cov.shape[1] / max(cov.shape[1] - 1, 1))
                      / np.sqrt(np.mean(np.einsum("gii->gi", cov) ** 2)))
    return ComparisonND(m, pts, f_x, cov, ft, gt, rel(f_x, ft), rel(diag, gt), off_share)
