"""The Foundation Inference Model (FIM): drift and diffusion of an SDE, zero-shot, in one forward pass.

The whole model lives in this file. Reading order: :class:`FIMConfig` (sizes), :func:`normalise`
(per-dataset standardisation and time rescaling), :func:`kernel_features` (local moment estimates at
the query locations), :class:`FIM` (the network and its public inference API), :func:`load_fim`
(shipped weights).

Design (in the style of FIM-SDE, arXiv:2502.19049, made small enough to train and run on a CPU):

1. **Normalisation.** For a dataset of observations x (all paths, shape (n_paths, T, d)) with steps
   Δt, states are standardised per dimension, x' = (x - m)/s, and time is rescaled by
   a = 0.01 / exp(mean log Δt), so the typical step becomes Δt' = 0.01. Itô's formula and the time
   change give f' = f / (a s) and g' = g / (s √a); the network predicts f', g' and :meth:`FIM.estimate`
   maps them back exactly: f = a s f', g = √a s g'. The estimate is therefore equivariant to any
   offset and scale of the latent and to the unit of time.
2. **Tokens.** One token per observed transition (x_t → x_{t+Δt}) with features
   (x', Δx'/√Δt', Δx'²/Δt', log(Δt'/0.01), active-dimension mask); paths of any number and length
   are just more tokens (no positional encoding: the context is a set). States are zero-padded to
   ``max_dim`` = 3 dimensions.
3. **Encoder.** A Perceiver-style set encoder: ``n_latents`` learned vectors cross-attend to all
   tokens, then attend to each other. Cost O(N · n_latents · d_model): linear in the context size N.
4. **Query features.** At every query location q the model also sees classic estimates and how
   far to trust them: for a few Gaussian kernel bandwidths, the Nadaraya–Watson and local-linear
   drifts, the raw and a noise-robust second moment of the increments (the robust one adds twice the
   covariance of consecutive increments, which cancels white observation noise) and the standard
   error of the kernel drift (:func:`kernel_features`); global Bayesian polynomial least-squares fits
   of the drift (degree 1 and 3, with their standard errors at q) and of g² (:func:`polynomial_fits`);
   the misfit of each local-linear drift against the cubic fit in units of their joint standard
   error (large where the drift is not a cubic); and global statistics: the F statistic of the cubic
   drift fit (is the drift identifiable from this context?), the lag-1 correlation of consecutive
   increments (observation noise of variance σ² gives increments a covariance of -σ²), log N, and
   two global lack-of-fit tests, the mean squared misfit z at ``n_test_points`` data quantiles of
   each local-linear drift against the cubic fit (does the context contradict a cubic?) and of the
   cubic against the linear fit (is the drift linear?): one query location alone sees too little
   of the data to tell a non-polynomial drift from noise, the whole data set often can.
   Global fits beyond the cubic: least-squares polynomials of degree 5 and 7
   (:func:`high_degree_fits`) and the prior's non-polynomial families, a line or a cubic plus one
   tanh, sine or rational term with its nonlinear parameters averaged over a grid by their
   prediction errors (:func:`family_fits`). Finally a cross-validated model average
   (:func:`cross_validated_drift`): the prediction errors of all these fits and of the
   local-linear drift at every bandwidth (:func:`polynomial_fits`, :func:`kernel_cross_validation`)
   become Akaike-style weights, with complexity penalties for everything more flexible than a
   cubic; the differences in these scores are features too. For one-dimensional states the kernel
   sums use linear binning on a grid a quarter of the smallest bandwidth wide, the global fits one
   0.04 standard deviations wide: cost O(N + G M) instead of O(N G).
5. **Decoder.** Each query embedding attends to the latent summary; an MLP head returns gates: the
   drift is a location-wise softmax mixture of the classic drift estimates (the cross-validated
   average among them) and zero, the diffusion a
   gated geometric mean of the raw and noise-robust kernel second moments and the quadratic fits of
   g² (so ĝ' > 0). There is no free output: the network learns, from the context, which classic
   estimate to trust where and how far to shrink it, but it cannot invent a drift or bias the
   diffusion as a whole (earlier versions with a free correction learned to shrink every estimate).
   A separate head gives a log loss-scale (a per-location uncertainty, trained as in FIM-SDE with
   inputs detached). :meth:`FIM.explain` shows the gates and the global tests for a context.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import as_tensor, check_locations, check_paths, check_steps
from .checkpoint import load_checkpoint, sha256_of
from .sde import SDE, Tabulated

__all__ = [
    "FIMConfig",
    "FIM",
    "EncodedContext",
    "ExtrapolationWarning",
    "load_fim",
    "normalise",
    "kernel_features",
    "polynomial_fits",
    "test_points",
    "time_weights",
    "kernel_cross_validation",
    "cross_validated_drift",
    "high_degree_fits",
    "family_fits",
    "SHIPPED_WEIGHTS",
    "SHIPPED_WEIGHTS_SHA256",
    "UnverifiedWeightsWarning",
]

SHIPPED_WEIGHTS = Path(__file__).parent / "weights" / "fim_1d.safetensors"
#: SHA-256 of the shipped weights, held in the code (not beside the file): a swapped file is refused
SHIPPED_WEIGHTS_SHA256 = "5783c6a466215f136caeced4c48296e1fd967afffbe9f4f5c149619032c26186"
TIME_SCALE = 0.01  # the normalised typical step Δt'
TimeSteps = "float | torch.Tensor | Sequence"  # a regular step, or the steps between observations


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


class ExtrapolationWarning(UserWarning):
    """Issued when query locations lie outside the region covered by the observed data."""


@dataclass
class FIMConfig:
    """Sizes of the network. The defaults are the shipped model's.

    Attributes:
        max_dim: largest state dimension the architecture accepts (states are zero-padded to it).
        d_model: width of every embedding.
        n_heads: attention heads.
        n_latents: learned summary vectors of the set encoder.
        n_encoder_blocks: (cross-attention + self-attention) blocks of the encoder.
        n_decoder_blocks: attention blocks of the query decoder over the latent summary.
        bandwidths: kernel bandwidths of the query features, in standardised state units.
        shrinkage: pseudo-count pulling local kernel moments towards global ones where data is scarce.
        n_test_points: data quantiles at which the global lack-of-fit tests are evaluated (0: no
            tests, as in weights saved before they existed).
        cv_penalty: with a value, the drift options include a cross-validated model average (see
            :func:`cross_validated_drift`) in which every kernel drift pays this penalty (in units
            of Akaike's information criterion) for its complexity; None: no such option (weights
            saved before it existed).
        high_degrees: degrees of further least-squares drift fits (Legendre polynomials over the
            data range, :func:`high_degree_fits`): drift options, query features and candidates of
            the cross-validated average (() in weights saved before they existed).
        high_degree_penalty: the Δ (Akaike units) that each high-degree fit pays in the
            cross-validated average on top of its cross-validation score.
        families: non-polynomial function families fitted on top of the cubic (the prior's:
            "tanh", "sine", "rational"; :func:`family_fits`): drift options, query features and
            candidates of the cross-validated average (() in weights saved before they existed).
        family_penalty: the Δ each family fit pays in the cross-validated average (its nonlinear
            parameters are chosen from a grid by the same cross-validation).
        family_cubic_penalty: the Δ a family member built on the cubic pays, within its family's
            average, against the members built on a straight line (two more coefficients; 0: Akaike
            weights alone, as in weights saved before it existed). See :func:`family_fits`.
        family_steepness, family_widths, family_frequencies, family_centres: that grid (standardised
            state units): tanh steepnesses, rational widths, sine frequencies, and how many centres
            the tanh and rational terms take between the data's 5th and 95th percentiles.
        fit_bin_width: grid spacing (standardised units) of the linear binning behind the global
            fits' sums (one-dimensional states).
        global_fit_prior_std: prior standard deviation of the global fits' Legendre coefficients.
        trained_dims: state dimensions the weights were trained on (others raise at inference).
    """

    max_dim: int = 3
    d_model: int = 64
    n_heads: int = 4
    n_latents: int = 32
    n_encoder_blocks: int = 2
    n_decoder_blocks: int = 1
    bandwidths: tuple[float, ...] = (0.05, 0.15, 0.25, 0.4)
    shrinkage: float = 5.0
    n_test_points: int = 16
    cv_penalty: float | None = 6.0
    high_degrees: tuple[int, ...] = (5, 7)
    high_degree_penalty: float = 4.0
    families: tuple[str, ...] = ("tanh", "sine", "rational")
    family_penalty: float = 0.0
    family_cubic_penalty: float = FAMILY_CUBIC_PENALTY
    family_steepness: tuple[float, ...] = FAMILY_STEEPNESS
    family_widths: tuple[float, ...] = FAMILY_WIDTHS
    family_frequencies: tuple[float, ...] = FAMILY_FREQUENCIES
    family_centres: int = FAMILY_CENTRES
    fit_bin_width: float = FIT_BIN_WIDTH
    global_fit_prior_std: float = GLOBAL_FIT_PRIOR_STD
    trained_dims: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown function families {unknown}; known: {list(FAMILIES)}")
        if any(p < 4 for p in self.high_degrees):
            raise ValueError(f"high_degrees must be >= 4 (degrees 1 and 3 are always fitted), "
                             f"got {list(self.high_degrees)}")
        for name in ("family_steepness", "family_widths", "family_frequencies"):
            values = getattr(self, name)
            if not values or not all(math.isfinite(v) and v > 0 for v in values):
                raise ValueError(f"{name} must be a non-empty list of finite numbers > 0, got {list(values)}")
        if self.family_centres < 1:
            raise ValueError(f"family_centres must be >= 1, got {self.family_centres}")
        if not (math.isfinite(self.family_cubic_penalty) and self.family_cubic_penalty >= 0):
            raise ValueError(f"family_cubic_penalty must be finite and >= 0, got {self.family_cubic_penalty}")
        for name in ("fit_bin_width", "global_fit_prior_std"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be finite and > 0, got {getattr(self, name)}")

    @property
    def token_features(self) -> int:
        return 4 * self.max_dim + 1

    @property
    def query_features(self) -> int:
        k, D = len(self.bandwidths), self.max_dim
        # location, kernel features, polynomial fits and their standard errors, misfit of the
        # local-linear drifts against the cubic fit, global statistics, global lack-of-fit tests
        n_cv = len(self.cv_candidate_names()) if self.cv_penalty is not None else 0
        return (D + k * (1 + 5 * D) + 6 * D + k * D + 3 * D + 1 + (k + 1) * D * (self.n_test_points > 0)
                + n_cv * D + (len(self.global_fit_names()) - 2) * D)

    def query_feature_names(self) -> list[str]:
        """Names of the decoder's query features, in input order (``len == query_features``)."""
        D, hs = range(self.max_dim), [f"h{h:g}" for h in self.bandwidths]
        names = [f"q{i}" for i in D]
        for h in hs:
            names += [f"{h}:log_mass"] + [f"{h}:{part}{i}" for part in ("nw", "ll", "m2", "robust", "log_se")
                                          for i in D]
        names += [f"{fit}{i}" for fit in ("ls1", "ls3", "g2_ls", "g2_ls_robust", "ls1_log_se", "ls3_log_se")
                  for i in D]
        names += [f"{h}:misfit{i}" for h in hs for i in D]
        names += [f"lag1_{i}" for i in D] + [f"f_stat{i}" for i in D] + ["log_n"] + [f"mask{i}" for i in D]
        if self.n_test_points > 0:
            names += [f"{h}:lack_of_fit{i}" for h in hs for i in D] + [f"linear_lack_of_fit{i}" for i in D]
        if self.cv_penalty is not None:
            names += [f"{o}:cv_delta{i}" for o in self.cv_candidate_names() for i in D]
        names += [f"{fit}_{i}" for fit in self.global_fit_names()[2:] for i in D]
        return names

    def cv_candidate_names(self) -> list[str]:
        """The candidate drifts of the cross-validated average, in order (:func:`cross_validated_drift`)."""
        return self.global_fit_names() + [f"ll h{h:g}" for h in self.bandwidths]

    def global_fit_names(self) -> list[str]:
        """Names of the global least-squares drift fits: by degree, then the function families."""
        return ["ls1", "ls3"] + [f"ls{p}" for p in self.high_degrees] + [f"{f} fit" for f in self.families]

    def family_grid(self) -> dict:
        """The keyword arguments of :func:`family_fits` that set its grid of nonlinear parameters."""
        return {"steepness": self.family_steepness, "widths": self.family_widths,
                "frequencies": self.family_frequencies, "centres": self.family_centres}

    def global_fit_penalties(self) -> list[float]:
        """The Δ each global fit pays in the cross-validated average, in :meth:`global_fit_names` order."""
        return ([0.0, 0.0] + [self.high_degree_penalty] * len(self.high_degrees)
                + [self.family_penalty] * len(self.families))

    def drift_option_names(self) -> list[str]:
        """Names of the drift estimates the output gates mix, in gate order."""
        return ([f"nw h{h:g}" for h in self.bandwidths] + [f"ll h{h:g}" for h in self.bandwidths]
                + self.global_fit_names() + (["cv average"] if self.cv_penalty is not None else []) + ["zero"])

    def diffusion_option_names(self) -> list[str]:
        """Names of the g² estimates the output gates mix, in gate order."""
        return ([f"m2 h{h:g}" for h in self.bandwidths] + [f"robust h{h:g}" for h in self.bandwidths]
                + ["ls2", "ls2 robust"])

    @property
    def n_drift_options(self) -> int:
        """Nadaraya-Watson and local-linear drifts per bandwidth, the global fits (degree 1, 3 and
        ``high_degrees``, the ``families``), the cross-validated average (when ``cv_penalty`` is
        set), zero."""
        return 2 * len(self.bandwidths) + 1 + len(self.global_fit_names()) + (self.cv_penalty is not None)

    @property
    def n_diffusion_options(self) -> int:
        """Raw and noise-robust kernel second moments per bandwidth, raw and robust quadratic fits."""
        return 2 * len(self.bandwidths) + 2

    @classmethod
    def from_dict(cls, d: dict) -> "FIMConfig":
        """Config from a dict (as :func:`dataclasses.asdict` writes it, or read from JSON)."""
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown FIMConfig field(s) {', '.join(unknown)}")
        for key in ("bandwidths", "trained_dims", "high_degrees", "families", "family_steepness", "family_widths",
                    "family_frequencies"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


# ----------------------------------------------------------------------------------------------
# Context preparation
# ----------------------------------------------------------------------------------------------


@dataclass
class Normalised:
    """A batch of B datasets in normalised units, each with N transitions.

    Attributes:
        x: (B, N, D) standardised start states of the transitions (zero-padded to D = max_dim).
        dx: (B, N, D) standardised increments.
        dt: (B, N, 1) rescaled time steps (typical value 0.01).
        mean, std: (B, D) the per-dimension standardisation (padding dims: 0 and 1).
        time_factor: (B,) a, with Δt' = a Δt.
        dim_mask: (B, D) 1.0 on active dimensions.
        lag1: (B, D) lag-1 correlation of consecutive increments within paths.
        lagprod: (B, N, D) product of each increment with the next one of the same path (0 for
            the last increment of a path). White observation noise of variance σ² gives it a
            mean of -σ², which makes noise-robust second moments possible.
    """

    x: torch.Tensor
    dx: torch.Tensor
    dt: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    time_factor: torch.Tensor
    dim_mask: torch.Tensor
    lag1: torch.Tensor
    lagprod: torch.Tensor


def normalise(paths: torch.Tensor, dt: torch.Tensor | float, *, max_dim: int = 3,
              mean: torch.Tensor | None = None, std: torch.Tensor | None = None,
              time_factor: torch.Tensor | None = None) -> Normalised:
    """Standardise a batch of datasets and rescale time.

    Args:
        paths: (B, P, T, d) observed states: B datasets of P paths with T observations each.
        dt: observation step (time units): a float or a tensor broadcastable to (B,) for regular
            sampling, or (B, P, T - 1) steps between consecutive observations (irregular sampling).
        max_dim: pad states to this many dimensions.
        mean, std: (B, d) standardisation to use instead of the batch's own (for a dataset split
            into groups of paths of different lengths).
        time_factor: (B,) time rescaling a to use instead of 0.01 / (geometric mean of the steps).

    Returns:
        :class:`Normalised` with N = P (T - 1) transitions per dataset. Differentiable in ``paths``.
    """
    B, P, T, d = paths.shape
    dtype, device = paths.dtype, paths.device
    dt = torch.as_tensor(dt, dtype=dtype, device=device)
    if dt.ndim == 3:  # irregular sampling: one step per transition
        steps = dt.expand(B, P, T - 1)
        typical = torch.exp(torch.log(steps).mean(dim=(1, 2)))  # geometric mean step (B,)
    else:
        typical = dt.reshape(-1).expand(B)
        steps = typical[:, None, None].expand(B, P, T - 1)
    flat = paths.reshape(B, P * T, d)
    mean = flat.mean(dim=1) if mean is None else mean
    std = (flat.std(dim=1) if std is None else std).clamp_min(1e-12)
    z = (paths - mean[:, None, None, :]) / std[:, None, None, :]
    a = TIME_SCALE / typical if time_factor is None else time_factor  # (B,)
    x = z[:, :, :-1].reshape(B, P * (T - 1), d)
    dx = (z[:, :, 1:] - z[:, :, :-1]).reshape(B, P * (T - 1), d)
    dtn = (a[:, None, None] * steps).reshape(B, P * (T - 1), 1)
    # lag-1 correlation of consecutive increments within each path
    inc = z[:, :, 1:] - z[:, :, :-1]  # (B, P, T-1, d)
    if T >= 3:
        num = (inc[:, :, 1:] * inc[:, :, :-1]).sum(dim=(1, 2))
        den = (inc ** 2).sum(dim=(1, 2)).clamp_min(1e-12)
        lag1 = num / den
    else:
        lag1 = torch.zeros(B, d, dtype=dtype, device=device)
    lagprod = F.pad(inc[:, :, 1:] * inc[:, :, :-1], (0, 0, 0, 1)).reshape(B, P * (T - 1), d)
    pad = max_dim - d
    dim_mask = torch.zeros(B, max_dim, dtype=dtype, device=device)
    dim_mask[:, :d] = 1.0
    if pad:
        x, dx, lagprod = F.pad(x, (0, pad)), F.pad(dx, (0, pad)), F.pad(lagprod, (0, pad))
        mean, lag1 = F.pad(mean, (0, pad)), F.pad(lag1, (0, pad))
        std = F.pad(std, (0, pad), value=1.0)
    return Normalised(x=x, dx=dx, dt=dtn, mean=mean, std=std, time_factor=a, dim_mask=dim_mask, lag1=lag1,
                      lagprod=lagprod)


def _gaussian_weights(d2: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Kernel weights exp(coef_k d²) (B, K, ...) of squared distances d2 (B, ...) for K coefficients."""
    # clamping the exponent avoids denormal floats, which are very slow on CPUs
    c = coef.reshape((1, -1) + (1,) * (d2.ndim - 1))
    return torch.exp((d2[:, None] * c).clamp_(min=-60.0))


def _kernel_sums(x: torch.Tensor, vals: torch.Tensor, q: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Exact Gaussian-kernel sums Σ_n exp(coef_k |q_g - x_n|²) vals_n: (B, K, G, C).

    x (B, N, D), vals (B, N, C), q (B, G, D), coef (K,) negative. Queries are processed in chunks so
    the (B, K, G, N) kernel matrix stays below ~16M entries.
    """
    B, N, _ = x.shape
    K = coef.shape[0]
    step = max(1, (1 << 24) // max(1, B * K * N))
    sums = []
    for g0 in range(0, q.shape[1], step):
        d2 = torch.cdist(q[:, g0:g0 + step], x).square()  # (B, g, N); not in place: cdist needs its output for backward
        w = _gaussian_weights(d2, coef)  # (B, K, g, N)
        sums.append(torch.bmm(w.reshape(B, -1, N), vals).reshape(B, K, -1, vals.shape[-1]))
    return torch.cat(sums, dim=2)


def _linear_binning(x: torch.Tensor, vals: torch.Tensor, bin_width: float, n_bins: int
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
    grid_vals, centres = _linear_binning(x, vals, bin_width, n_bins)
    w = _gaussian_weights((q[:, :, None] - centres[:, None, :]).square(), coef)  # (B, K, G, M)
    K, G = coef.shape[0], q.shape[1]
    return torch.bmm(w.reshape(B, K * G, n_bins), grid_vals).reshape(B, K, G, -1)


def _local_line(mass: torch.Tensor, sum_y: torch.Tensor, sum_x: torch.Tensor, sum_xx: torch.Tensor,
                sum_xy: torch.Tensor, mean_y: torch.Tensor, q: torch.Tensor, s: float, h2: torch.Tensor):
    """Nadaraya-Watson and local-linear fits of y at q from kernel sums (all broadcastable).

    ``s`` pseudo-transitions at x' = q carrying the dataset's mean ``mean_y`` are added to every
    sum (shrinkage where data are scarce), and the local variance of x gets a ridge of 5% of the
    squared bandwidth ``h2``. Returns ``(nw, ll, ex, var)``: the local mean of y, the local line at
    q, the local mean of x and the (ridged) local variance of x.
    """
    den = mass + s
    nw = (sum_y + s * mean_y) / den
    ex = (sum_x + s * q) / den
    exx = (sum_xx + s * q * q) / den
    exy = (sum_xy + s * q * mean_y) / den
    var = (exx - ex ** 2).clamp_min(0) + 0.05 * h2  # a small ridge keeps sparse slopes tame
    return nw, nw + (exy - ex * nw) / var * (q - ex), ex, var


def _active_dims(ctx: Normalised) -> int:
    """How many leading state dimensions are active in some dataset of the batch (the rest is zero padding)."""
    return int(ctx.dim_mask.sum(dim=1).max())


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
    """Grid spacing of the binned kernel sums: a quarter of the smallest bandwidth."""
    return min(bandwidths) / 4


def _binning(ctx: Normalised, bin_width: float) -> tuple[bool, float, int]:
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
    one_dim, bin_width, n_bins = _binning(ctx, _kernel_bin_width(bandwidths))
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
    ll = _local_line(*agg.unbind(-1), glob[..., 1], x[:, None], shrinkage, h2)[1]  # (B, K, N)
    err = (y[:, None] - ll).square()
    return (err if omega is None else err * omega[:, None, :, 0]).mean(dim=2)


def cross_validated_drift(ls_fits: torch.Tensor, ll: torch.Tensor, cv_poly: torch.Tensor,
                          cv_kernel: torch.Tensor | None, n: int, penalty: float, *,
                          poly_penalty: Sequence[float] | None = None, temperature: float = 0.5,
                          cap: float = 1e4) -> tuple[torch.Tensor, torch.Tensor]:
    """A model average of the least-squares and local-linear drifts, weighted by cross-validation.

    Each candidate j (linear fit, cubic fit, higher-degree and family fits, local-linear drift at
    each bandwidth) has a leave-out prediction error CV_j; Δ_j = n (CV_j - min CV) / σ² with σ² the
    cubic fit's CV error is, for large n, the candidate's Akaike information criterion relative to
    the best (Stone, 1977). Kernel drifts pay ``penalty`` on top and polynomial fits their
    ``poly_penalty`` (a preference for the simple global fit unless the data clearly contradict
    it), and the weights are softmax(-temperature Δ) (Akaike weights for 0.5). So a linear drift
    gets the linear fit, a polynomial one the cubic fit, and a drift that no cubic explains a
    higher-degree fit or the kernel drift at the bandwidth that predicts best.

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
    cv = torch.cat([cv_poly, kern], dim=-1)  # (B, D, P + K)
    sigma2 = cv_poly[..., 1:2].clamp_min(1e-12)
    delta = n * (cv - cv.min(dim=-1, keepdim=True).values) / sigma2
    extra = torch.zeros(P, dtype=ll.dtype, device=ll.device) if poly_penalty is None else torch.as_tensor(
        poly_penalty, dtype=ll.dtype, device=ll.device)
    delta = torch.cat([delta[..., :P] + extra, delta[..., P:] + penalty], dim=-1).clamp(max=cap)
    w = torch.softmax(-temperature * delta, dim=-1)  # (B, D, P + K)
    drift = torch.einsum("bdj,bgjd->bgd", w, torch.cat([ls_fits, ll], dim=2))
    return drift, delta


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


def test_points(ctx: Normalised, n: int) -> torch.Tensor:
    """``n`` data quantiles per dataset and dimension (levels 5% to 95%), normalised units (B, n, D).

    The points where :class:`FIM` evaluates its global lack-of-fit tests; spaced by the data's
    density, so that the tests weigh misfit where the data are.
    """
    B, N, D = ctx.x.shape
    levels = torch.linspace(0.05, 0.95, n, dtype=ctx.x.dtype, device=ctx.x.device)
    idx = (levels * (N - 1)).round().long()
    return ctx.x.detach().sort(dim=1).values[:, idx]


def time_weights(ctx: Normalised) -> torch.Tensor | None:
    """Weights (B, N, 1) ∝ Δt' of the transitions of irregularly sampled datasets (mean 1), or None.

    With them every average of Δx'/Δt' becomes Σ Δx' / Σ Δt' (and of Δx'²/Δt', Σ Δx'² / Σ Δt'):
    the efficient combination of increments over unequal steps (the variance of Δx'/Δt' is g'²/Δt').
    For regular sampling all weights are 1 and None is returned.
    """
    if bool((ctx.dt == ctx.dt[:, :1]).all()):
        return None
    return ctx.dt / ctx.dt.mean(dim=1, keepdim=True)


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
    da = _active_dims(ctx)
    vals = _kernel_values(ctx, da)  # (B, N, 1 + 6 da): the padding dimensions' sums are zero
    glob = _pad_moments(vals.mean(dim=1), da, D)[:, None, None]  # (B, 1, 1, 1 + 6D)
    coef = torch.tensor([-0.5 / (h * h) for h in bandwidths], dtype=q.dtype, device=q.device)
    one_dim, bin_width, n_bins = _binning(ctx, _kernel_bin_width(bandwidths))
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
    m1, ll, ex, var = _local_line(agg[..., :1], agg[..., 1:1 + D], agg[..., 1 + 3 * D:1 + 4 * D],
                                  agg[..., 1 + 4 * D:1 + 5 * D], agg[..., 1 + 5 * D:], glob[..., 1:1 + D], qk, s, h2)
    # second moments with the same pseudo-transitions
    m2 = (agg[..., 1 + D:1 + 2 * D] + s * glob[..., 1 + D:1 + 2 * D]) / (mass + s)
    mlag = (agg[..., 1 + 2 * D:1 + 3 * D] + s * glob[..., 1 + 2 * D:1 + 3 * D]) / (mass + s)
    # noise-robust second moment: it is noisier and can dip below zero, so it is floored at 5% of the raw one
    robust = torch.maximum(m2 + 2 * mlag, 0.05 * m2)
    log_se = 0.5 * (torch.log(m2.clamp_min(1e-8)) - torch.log(dt[:, None]) - torch.log(mass + s))
    log_se_ll = log_se + 0.5 * torch.log1p((qk - ex) ** 2 / var)
    log_mass = torch.log(mass / N + 1e-6)
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


def polynomial_fits(ctx: Normalised, q: torch.Tensor, *, prior_std: float = 2.0, with_cv: bool = False
                    ) -> tuple[torch.Tensor, ...]:
    """Global Bayesian least-squares polynomial estimates at normalised query locations.

    Per dataset and dimension (each in its own coordinate), the posterior mean of polynomial
    coefficients with a N(0, prior_std²) prior, i.e. ridge regression with the data-dependent
    penalty λ = Var(Δx'/Δt') / (N prior_std²): drift Δx'/Δt' on {1, x} and on {1, x, x², x³};
    squared diffusion on {1, x, x²} from the squared residuals (Δx' - f̂ Δt')²/Δt', once raw and
    once noise-robust (plus twice the covariance of consecutive increments). Short contexts are
    shrunk towards zero drift, long ones approach ordinary least squares (the oracle for
    polynomial systems); the network decides where to trust them. Cost O(N) per dataset.

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
    D, da = ctx.x.shape[-1], _active_dims(ctx)
    x, dt, dx, lagprod, q = ctx.x[..., :da], ctx.dt, ctx.dx[..., :da], ctx.lagprod[..., :da], q[..., :da]
    B, N, _ = x.shape

    def powers(z: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.ones_like(z), z, z * z, z * z * z], dim=-1)

    phi = powers(x)  # (B, N, da, 4), computed once
    omega = time_weights(ctx)
    phi_w = phi if omega is None else phi * omega[..., None]  # weighted least squares for irregular steps
    gram_all = torch.einsum("bndk,bndl->bdkl", phi_w, phi) / N  # every fit's Gram matrix is a corner of it
    eye = torch.eye(4, dtype=x.dtype, device=x.device)
    phi_q = powers(q).permute(0, 2, 3, 1)  # (B, da, 4, G)
    lam_floor, var_floor = 1e-6, 1e-12  # of the ridge penalty and of Var(y)

    def fit(degree: int, y: torch.Tensor, *, with_se: bool = False):
        k = degree + 1
        var_y = y.var(dim=1)  # (B, da)
        lam = (var_y / (N * prior_std ** 2)).clamp_min(lam_floor)
        gram = gram_all[..., :k, :k] + lam[..., None, None] * eye[:k, :k]
        rhs = torch.einsum("bndk,bnd->bdk", phi_w[..., :k], y) / N
        coef = torch.linalg.solve(gram, rhs[..., None])[..., 0]  # (B, da, k)
        if not with_se:
            return coef
        # posterior variance of the fit at q: Var(y) / N · φ(q)ᵀ (Gram + λ)⁻¹ φ(q)
        lev = (phi_q[:, :, :k] * torch.linalg.solve(gram, phi_q[:, :, :k])).sum(dim=2)  # (B, da, G)
        log_se = 0.5 * (torch.log(var_y.clamp_min(var_floor) / N)[..., None] + torch.log(lev.clamp_min(1e-12)))
        if not with_cv:
            return coef, log_se.transpose(1, 2)  # (B, G, da)
        # leave-one-out: residual / (1 - h_n), h_n = ω_n φ_nᵀ (N (Gram + λ))⁻¹ φ_n
        phi_k = phi[..., :k].permute(0, 2, 3, 1)  # (B, da, k, N)
        h = (phi_w[..., :k].permute(0, 2, 3, 1) * torch.linalg.solve(gram, phi_k)).sum(dim=2) / N  # (B, da, N)
        loo = (y - at(coef, x)) / (1 - h.transpose(1, 2)).clamp_min(0.05)  # (B, N, da)
        cv = (loo.square() if omega is None else omega * loo.square()).mean(dim=1)  # (B, da)
        return coef, log_se.transpose(1, 2), cv

    def at(coef: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = coef[:, None, :, -1]
        for j in range(coef.shape[-1] - 2, -1, -1):  # Horner's scheme
            out = out * z + coef[:, None, :, j]
        return out

    y1 = dx / dt
    (c1, se1, *cv1), (c3, se3, *cv3) = fit(1, y1, with_se=True), fit(3, y1, with_se=True)
    resid2 = (dx - at(c3, x) * dt) ** 2 / dt
    floor = 0.05 * (dx ** 2 / dt).mean(dim=1, keepdim=True)  # (B, 1, da)
    g2 = at(fit(2, resid2), q).clamp_min(0) + floor
    g2r = at(fit(2, resid2 + 2 * lagprod / dt), q).clamp_min(0) + floor
    # identifiability of the drift: the F statistic of the cubic fit, (mean fitted f'²) / (its
    # estimation variance), large when the data pin the drift down, about 1 when they do not
    signal = (torch.einsum("bdk,bdkl->bdl", c3, gram_all) * c3).sum(-1)
    f_stat = signal / (4 * y1.var(dim=1) / N).clamp_min(1e-12)
    fits, log_se = torch.stack([at(c1, q), at(c3, q), g2, g2r], dim=2), torch.stack([se1, se3], dim=2)
    cv = torch.stack([cv1[0], cv3[0]], dim=-1) if with_cv else None  # (B, da, 2)
    if da < D:
        # a ridge fit to zeros: Gram matrix diag(mean ω = 1, 0, ...), λ and Var(y) at their floors
        pad = D - da
        fits, f_stat = F.pad(fits, (0, pad)), F.pad(f_stat, (0, pad))
        log_se = F.pad(log_se, (0, pad), value=0.5 * (math.log(var_floor / N) - math.log(1 + lam_floor)))
        cv = None if cv is None else F.pad(cv, (0, 0, 0, pad))
    return (fits, log_se, f_stat) if cv is None else (fits, log_se, f_stat, cv)


@dataclass
class _RegressionSums:
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
    def of(cls, ctx: Normalised, binning: tuple[float, int] | None, prior_std: float) -> "_RegressionSums":
        B, N, D = ctx.x.shape
        da = _active_dims(ctx)
        x, y = ctx.x[..., :da], (ctx.dx / ctx.dt)[..., :da]
        omega = time_weights(ctx)
        w = torch.ones_like(y) if omega is None else omega.expand_as(y)
        lo, hi = x.detach().amin(dim=1, keepdim=True), x.detach().amax(dim=1, keepdim=True)
        if binning is not None and da == 1:
            sums, nodes = _linear_binning(x[..., 0], torch.stack([w[..., 0], (w * y)[..., 0]], dim=-1), *binning)
            z, wz, wy = nodes[..., None], sums[..., :1], sums[..., 1:]
        else:
            z, wz, wy = x, w, w * y
        return cls(z=z, wz=wz, wy=wy, s_yy=(w * y * y).sum(dim=1), n=N,
                   lam=(y.var(dim=1) / (N * prior_std ** 2)).clamp_min(1e-6), centre=(hi + lo) / 2,
                   radius=((hi - lo) / 2).clamp_min(1e-6), da=da)

    def legendre(self, z: torch.Tensor, degree: int, *, clamp: bool = False) -> torch.Tensor:
        """Legendre polynomials P0..P_degree of u = (z - centre) / radius (clamped to the data range
        [-1, 1] with ``clamp``), (..., degree + 1): well conditioned up to high degree."""
        u = (z - self.centre) / self.radius
        u = u.clamp(-1, 1) if clamp else u
        out = [torch.ones_like(u), u]
        for m in range(1, degree):  # Bonnet's recursion
            out.append(((2 * m + 1) * u * out[m] - m * out[m - 1]) / (m + 1))
        return torch.stack(out[:degree + 1], dim=-1)

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
        error of a fit whose leverages are all k/N (asymptotically Akaike's criterion).
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
            coef = torch.linalg.solve(s / N + self.lam[..., None, None, None] * eye, rhs[..., None] / N)[..., 0]
            # Σ w (y - φᵀc)² = Σ w y² - 2 cᵀ r + cᵀ S c, from the sums alone
            quad = (torch.einsum("bdckl,bdcl->bdck", s, coef) * coef).sum(-1)  # cᵀ S c
            rss = self.s_yy[..., None] - 2 * (coef * rhs).sum(-1) + quad
            out.append((coef, rss.clamp_min(0) / (N * (1 - n_coef / N) ** 2)))
        return out


def high_degree_fits(ctx: Normalised, q: torch.Tensor, degrees: Sequence[int], *,
                     prior_std: float = GLOBAL_FIT_PRIOR_STD, binning: tuple[float, int] | None = None,
                     sums: "_RegressionSums | None" = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares drift fits of higher degree, with their estimated prediction errors.

    Per dataset and dimension, Δx'/Δt' is regressed on Legendre polynomials of u = (x' - c)/r, where
    c ± r spans the data (well conditioned up to high degree in single precision), with the ridge
    penalty λ = Var(Δx'/Δt') / (N prior_std²) on the Legendre coefficients, weak by default
    (:data:`GLOBAL_FIT_PRIOR_STD`: a steep drift has Legendre coefficients in the tens over a
    data range of a few standard deviations; the ridge only keeps near-collinear bases solvable).
    A polynomial of high degree swings wildly beyond the data, so outside the data range each fit
    is continued by the cubic fit of the same basis: p_k(q) = p_k(u*) + p_3(u) - p_3(u*) with
    u* = clamp(u, -1, 1).
    Padding dimensions are skipped (zeros).

    Args:
        ctx: normalised context (B, N, D). q: (B, G, D) normalised queries.
        degrees: the degrees to fit (each ≥ 4).
        binning: (bin width, number of bins) of a linear binning grid for the sums (one-dimensional
            states, see :func:`_binning`); None: exact sums over the transitions.
        sums: the context's sums, when already taken (then ``prior_std`` and ``binning`` are theirs).

    Returns:
        ``(fits, cv)``: fits (B, G, P, D) at the queries, one per degree, and cv (B, D, P) their
        estimated prediction errors (see :meth:`_RegressionSums.solve`).
    """
    B, N, D = ctx.x.shape
    G = q.shape[1]
    if any(p < 4 for p in degrees):
        raise ValueError(f"high_degree_fits takes degrees >= 4 (the cubic is in polynomial_fits), got {list(degrees)}")
    fits, cv = q.new_zeros(B, G, len(degrees), D), q.new_zeros(B, D, len(degrees))
    if not degrees:
        return fits, cv
    sums = sums or _RegressionSums.of(ctx, binning, prior_std)
    da, top = sums.da, max(degrees)
    qa = q[..., :da]
    inside, outside = sums.legendre(qa, top, clamp=True), sums.legendre(qa, top)  # (B, G, da, top + 1)
    phi = sums.legendre(sums.z, top)  # (B, M, da, top + 1)
    (c3, _), *high = sums.solve(phi, leading=[4] + [p + 1 for p in degrees])
    # the cubic continues every fit outside the data
    beyond = ((outside[..., :4] - inside[..., :4]) * c3[:, None, :, 0]).sum(-1)  # (B, G, da)
    for j, (p, (coef, err)) in enumerate(zip(degrees, high)):
        fits[:, :, j, :da] = (inside[..., :p + 1] * coef[:, None, :, 0]).sum(-1) + beyond
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
                sums: "_RegressionSums | None" = None, cubic_penalty: float = FAMILY_CUBIC_PENALTY
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
    (:meth:`_RegressionSums.solve`): neighbours on the grid share the weight, which is steadier than
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
    sums = sums or _RegressionSums.of(ctx, binning, prior_std)
    da = sums.da
    qa = q[..., :da]
    xa = ctx.x[..., :da].detach()
    p5 = xa.kthvalue(max(1, round(0.05 * N)), dim=1).values  # (B, da)
    p95 = xa.kthvalue(max(1, round(0.95 * N)), dim=1).values
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
        score = N * (err - best) / best.clamp_min(1e-12)
        score = score + F.pad(score.new_full((size,), cubic_penalty), (size, 0))
        weight = torch.softmax(-0.5 * score, dim=-1).detach()
        cv[:, :da, j] = (weight * err).sum(-1)
        fit = 0
        for w_deg, (coef, _) in zip(weight.chunk(2, dim=-1), fitted):
            c = w_deg[..., None] * coef[:, :, part]  # (B, da, size, k) weighted coefficients
            kp = coef.shape[-1] - 2  # the polynomial part: one weighted coefficient vector
            fit = fit + (base_q[..., :kp] * c[..., :kp].sum(2)[:, None]).sum(-1)
            fit = fit + torch.einsum("bgdce,bdce->bgd", extra_q[:, :, :, part], c[..., kp:])
        fits[:, :, j, :da] = fit
    return fits, cv


# ----------------------------------------------------------------------------------------------
# Network
# ----------------------------------------------------------------------------------------------


class _Attention(nn.Module):
    """Multi-head attention of queries (B, Lq, H) over keys/values (B, Lk, H)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        B, Lq, H = x.shape
        h = self.heads
        q = self.q(x).reshape(B, Lq, h, H // h).transpose(1, 2)
        k, v = self.kv(ctx).reshape(B, ctx.shape[1], 2, h, H // h).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(B, Lq, H))


class _Block(nn.Module):
    """Pre-norm residual block: attention of x over a context, then an MLP."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(dim)
        self.norm_c = nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads)
        self.norm_m = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        c = self.norm_c(x if ctx is None else ctx)
        x = x + self.attn(self.norm_x(x), c)
        return x + self.mlp(self.norm_m(x))


def _mlp(n_in: int, dim: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, dim), nn.GELU(), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, n_out))


@dataclass
class EncodedContext:
    """A context passed once through the encoder, reusable for any number of query batches."""

    norm: Normalised
    latents: torch.Tensor  # (B, L, H) encoder summary
    data_min: torch.Tensor  # (B, d) range of the observations (original units)
    data_max: torch.Tensor
    dim: int


@dataclass
class Prediction:
    """Normalised-unit outputs of the decoder for (B, G) queries."""

    drift: torch.Tensor  # (B, G, D) f'
    diffusion: torch.Tensor  # (B, G, D) g' > 0
    log_scale: torch.Tensor  # (B, G) learned log loss-scale (uncertainty)
    drift_gates: torch.Tensor | None = None  # (B, G, n_drift_options) mixture weights, sum 1
    drift_options: torch.Tensor | None = None  # (B, G, n_drift_options, D) the drifts they mix (the last: zero)
    diffusion_gates: torch.Tensor | None = None  # (B, G, n_diffusion_options)
    statistics: dict[str, torch.Tensor] = field(default_factory=dict)  # global tests, each (B, D)


class FIM(nn.Module):
    """Foundation Inference Model for SDEs with diagonal, state-dependent diffusion.

    Use :func:`load_fim` for the shipped, pretrained model. The public methods are
    :meth:`estimate` (drift and diffusion at locations, original units), :meth:`sde` (the inferred
    SDE as a :class:`fimcg.SDE`) and :meth:`encode` / :meth:`evaluate` (encode a context once,
    evaluate it at many locations).
    """

    def __init__(self, config: FIMConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FIMConfig()
        H = cfg.d_model
        if H % cfg.n_heads:
            raise ValueError(f"d_model={H} must be divisible by n_heads={cfg.n_heads}")
        self.token_embed = _mlp(cfg.token_features, H, H)
        self.latents = nn.Parameter(torch.randn(cfg.n_latents, H) * 0.1)
        self.enc_cross = nn.ModuleList([_Block(H, cfg.n_heads) for _ in range(cfg.n_encoder_blocks)])
        self.enc_self = nn.ModuleList([_Block(H, cfg.n_heads) for _ in range(cfg.n_encoder_blocks)])
        self.query_embed = _mlp(cfg.query_features, H, H)
        self.decoder = nn.ModuleList([_Block(H, cfg.n_heads) for _ in range(cfg.n_decoder_blocks)])
        # outputs: drift gates, then diffusion gates (softmax weights over the classic estimates)
        self.head = nn.Sequential(nn.LayerNorm(H), nn.Linear(H, H), nn.GELU(),
                                  nn.Linear(H, cfg.n_drift_options + cfg.n_diffusion_options))
        self.scale_head = nn.Sequential(nn.LayerNorm(H), nn.Linear(H, 1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        with torch.no_grad():  # start from the cross-validated (else cubic) drift and the quadratic g² fits
            nf, k = cfg.n_drift_options, len(cfg.bandwidths)
            start = "cv average" if cfg.cv_penalty is not None else "ls3"
            self.head[-1].bias[cfg.drift_option_names().index(start)] = 3.0
            self.head[-1].bias[nf + 2 * k:nf + 2 * k + 2] = 2.0

    # -- batched core (used by pretraining) -----------------------------------------------------

    def encode_normalised(self, norm: Normalised) -> torch.Tensor:
        """Latent summary (B, L, H) of a normalised batch (its N tokens embedded and attended to)."""
        B, N, D = norm.x.shape
        # asinh compresses the heavy tails of increments (jumps, coarse sampling) into a range the
        # embedding handles well; it is odd and monotone, so no information is lost
        feats = torch.cat([
            norm.x,
            torch.asinh(norm.dx / norm.dt.sqrt()),
            torch.asinh(norm.dx ** 2 / norm.dt),
            torch.log(norm.dt / TIME_SCALE),
            norm.dim_mask[:, None, :].expand(B, N, D),
        ], dim=-1)
        tokens = self.token_embed(feats)
        lat = self.latents[None].expand(B, -1, -1)
        for cross, self_ in zip(self.enc_cross, self.enc_self):
            lat = self_(cross(lat, tokens))
        return lat

    def decode_normalised(self, norm: Normalised, latents: torch.Tensor, q: torch.Tensor) -> Prediction:
        """Decode normalised query locations q (B, G, D) into normalised drift and diffusion."""
        cfg = self.config
        B, G, D = q.shape
        # the queries and the test points of the lack-of-fit tests go through the estimators together
        q_all = torch.cat([q, test_points(norm, cfg.n_test_points)], dim=1) if cfg.n_test_points else q
        loc_all = kernel_features(norm, q_all, cfg.bandwidths, cfg.shrinkage)
        with_cv = cfg.cv_penalty is not None
        # (B, G', 4, D), (B, G', 2, D), (B, D) and, with_cv, (B, D, 2)
        poly_all, se_all, f_stat, *cv_poly = polynomial_fits(norm, q_all, with_cv=with_cv)
        # misfit of each local-linear drift against the cubic fit, in units of their joint standard error
        k = len(cfg.bandwidths)
        ll, ll_se = loc_all.drift[:, :, k:], loc_all.drift_log_se[:, :, k:]
        misfit_all = (ll - poly_all[:, :, 1:2]) / torch.sqrt(torch.exp(2 * ll_se) + torch.exp(2 * se_all[:, :, 1:2]))
        log_n = torch.log(torch.tensor(float(norm.x.shape[1]), dtype=q.dtype, device=q.device))
        glob = [norm.lag1, torch.log1p(f_stat) / 5.0, (log_n / 10.0).expand(B, 1), norm.dim_mask]
        stats = {"f_stat": f_stat}
        if cfg.n_test_points:
            # global lack-of-fit tests over the data (mean squared z at the test points; small when the
            # cubic fit is right): is the drift non-polynomial (local-linear vs cubic fit), is it
            # linear (cubic vs linear fit, in units of the cubic fit's standard error)
            lof_cubic = (misfit_all[:, G:] ** 2).mean(dim=1)  # (B, K, D)
            ls3, ls1, se3 = poly_all[:, G:, 1], poly_all[:, G:, 0], torch.exp(se_all[:, G:, 1])
            lof_linear = (((ls3 - ls1) / se3) ** 2).mean(dim=1)  # (B, D)
            stats.update({f"lack_of_fit h{h:g}": lof_cubic[:, j] for j, h in enumerate(cfg.bandwidths)})
            stats["linear_lack_of_fit"] = lof_linear
            glob += [torch.log1p(lof_cubic.reshape(B, -1)) / 3.0, torch.log1p(lof_linear) / 3.0]
        loc, poly, poly_log_se, misfit = loc_all.queries(G), poly_all[:, :G], se_all[:, :G], misfit_all[:, :G]
        # the global fits' sums on a binning grid (one-dimensional states)
        one_dim, bin_width, n_bins = _binning(norm, cfg.fit_bin_width)
        binning = (bin_width, n_bins) if one_dim and 2 * n_bins < norm.x.shape[1] else None
        sums = _RegressionSums.of(norm, binning, cfg.global_fit_prior_std)
        high, cv_high = high_degree_fits(norm, q, cfg.high_degrees, sums=sums)  # (B, G, P, D), (B, D, P)
        fam, cv_fam = family_fits(norm, q, cfg.families, sums=sums, cubic_penalty=cfg.family_cubic_penalty,
                                  **cfg.family_grid())  # (B, G, F, D), (B, D, F)
        high = torch.cat([high, fam], dim=2)  # the global fits beyond the linear and cubic ones
        ls_fits = torch.cat([poly[:, :, :2], high], dim=2)
        drifts = [loc.drift, ls_fits]  # the classic drift estimates the gates mix
        if with_cv:
            cv_kernel = kernel_cross_validation(norm, cfg.bandwidths, cfg.shrinkage)
            cv_all = torch.cat([cv_poly[0], cv_high, cv_fam], dim=-1)
            cv_drift, delta = cross_validated_drift(ls_fits, loc.drift[:, :, k:], cv_all, cv_kernel, norm.x.shape[1],
                                                    cfg.cv_penalty, poly_penalty=cfg.global_fit_penalties())
            drifts.append(cv_drift[:, :, None])
            stats.update({f"cv_delta {n}": delta[..., j] for j, n in enumerate(cfg.cv_candidate_names())})
            glob.append(torch.log1p(delta).transpose(1, 2).reshape(B, -1) / 3.0)
        glob = torch.cat(glob, dim=-1)
        feats = torch.cat([q, loc.features, torch.asinh(poly.reshape(B, G, -1)), poly_log_se.reshape(B, G, -1) / 5.0,
                           torch.asinh(misfit.reshape(B, G, -1)), glob[:, None, :].expand(B, G, glob.shape[-1]),
                           torch.asinh(high.reshape(B, G, -1))], dim=-1)
        h = self.query_embed(feats)
        for block in self.decoder:
            h = block(h, latents)
        out = self.head(h)
        nf = cfg.n_drift_options
        # drift: a location-wise mixture of classic estimates: kernel (Nadaraya-Watson and
        # local-linear) drifts, the least-squares fits of every degree, their cross-validated
        # average, and zero (the last gate)
        gate_f = torch.softmax(out[..., :nf], dim=-1)  # (B, G, n_drift_options)
        options = F.pad(torch.cat(drifts, dim=2) * norm.dim_mask[:, None, None, :], (0, 0, 0, 1))  # and zero
        drift = (gate_f[..., None] * options).sum(dim=2)  # (B, G, D)
        # diffusion: a gated geometric mean of consistent estimators of g'² (raw for clean data,
        # noise-robust for noisy data): the network chooses the estimator per location and
        # context but cannot bias the result as a whole
        gate_g = torch.softmax(out[..., nf:], dim=-1)  # (B, G, 2K + 2)
        m2 = torch.cat([loc.g2, poly[:, :, 2:]], dim=2)  # (B, G, 2K + 2, D)
        log_g = 0.5 * (gate_g[..., None] * torch.log(m2.clamp_min(1e-8))).sum(dim=2)
        diffusion = torch.exp(log_g) * norm.dim_mask[:, None, :]
        log_scale = self.scale_head(h.detach()).squeeze(-1)
        return Prediction(drift=drift, diffusion=diffusion, log_scale=log_scale, drift_gates=gate_f,
                          drift_options=options, diffusion_gates=gate_g, statistics=stats)

    def forward(self, paths: torch.Tensor, dt: torch.Tensor | float, q: torch.Tensor) -> Prediction:
        """Batched forward pass in normalised output units.

        Args:
            paths: (B, P, T, d) B datasets. dt: float or (B,) observation steps.
            q: (B, G, d) query locations in original units.
        Returns:
            :class:`Prediction` of f', g' (normalised units) at the queries.
        """
        norm = normalise(paths, dt, max_dim=self.config.max_dim)
        lat = self.encode_normalised(norm)
        d = paths.shape[-1]
        qn = (q - norm.mean[:, None, :d]) / norm.std[:, None, :d]
        qn = F.pad(qn, (0, self.config.max_dim - d))
        return self.decode_normalised(norm, lat, qn)

    # -- public inference API -------------------------------------------------------------------

    def _context(self, paths, dt) -> tuple[list[torch.Tensor], list[float | torch.Tensor]]:
        """Validate a user context; return groups of equal-length paths, each (1, P, T, d), and the
        time step of each group: a float, or (1, P, T - 1) steps for irregular sampling."""
        if isinstance(paths, (list, tuple)):
            if len(paths) == 0:
                raise ValueError("paths is an empty list; give at least one path of shape (T, d)")
            groups = []
            for i, p in enumerate(paths):
                t = as_tensor(p, name=f"paths[{i}]", device=self._device())
                groups.append(check_paths(t if t.ndim != 2 else t[None], name=f"paths[{i}]")[None])
            if isinstance(dt, (list, tuple)):
                if len(dt) != len(groups):
                    raise ValueError(f"dt is a list of {len(dt)} step arrays but there are {len(groups)} paths")
                return groups, [_steps(s, g, name=f"dt[{i}]") for i, (s, g) in enumerate(zip(dt, groups))]
            return groups, [_steps(dt, g, name="dt") for g in groups]
        group = check_paths(as_tensor(paths, name="paths", device=self._device()))[None]
        return [group], [_steps(dt, group, name="dt")]

    def _device(self) -> torch.device:
        return self.latents.device

    def encode(self, paths, dt: TimeSteps) -> EncodedContext:
        """Encode an observed context once.

        Args:
            paths: (n_paths, T, d) tensor/array (or (n_paths, T) for d = 1), or a list of paths of
                shapes (T_i, d) with different lengths. Differentiable with respect to ``paths``.
            dt: time between consecutive observations (> 0), or, for irregular sampling, the steps
                between consecutive observations: shape (T - 1,) (shared by all paths) or
                (n_paths, T - 1), or, for a list of paths, a list of (T_i - 1,) arrays.
        """
        groups, steps = self._context(paths, dt)
        d = groups[0].shape[-1]
        if any(g.shape[-1] != d for g in groups):
            raise ValueError(f"all paths must have the same state dimension; got {[g.shape[-1] for g in groups]}")
        if d > self.config.max_dim:
            raise ValueError(f"paths have d={d}; this FIM supports d <= {self.config.max_dim}")
        if d not in self.config.trained_dims:
            raise ValueError(f"these FIM weights were trained for d in {self.config.trained_dims}; got d={d}")
        dtype = torch.float32 if groups[0].dtype != torch.float64 else torch.float64
        groups = [g.to(dtype) for g in groups]
        # one dataset: normalise all groups together (tokens of all paths share one set)
        allobs = torch.cat([g.reshape(-1, d) for g in groups])
        mean, std = allobs.mean(dim=0), allobs.std(dim=0)
        if bool((std.detach() <= 1e-8 * (1 + mean.detach().abs())).any()):
            raise ValueError("paths are constant (zero variance) in at least one dimension: nothing moves, "
                             "so drift and diffusion cannot be inferred")
        a = None  # regular sampling: normalise() rescales time by 0.01 / dt
        if any(isinstance(s, torch.Tensor) for s in steps):  # irregular: one rescaling for the whole dataset
            steps = [s.to(dtype) if isinstance(s, torch.Tensor) else torch.full((1, g.shape[1], g.shape[2] - 1), s,
                                                                                  dtype=dtype, device=g.device)
                     for s, g in zip(steps, groups)]
            log_steps = torch.cat([torch.log(s).reshape(-1) for s in steps])
            a = TIME_SCALE / torch.exp(log_steps.mean())[None]  # 0.01 / geometric mean step
        parts = [normalise(g, s, max_dim=self.config.max_dim, mean=mean[None], std=std[None], time_factor=a)
                 for g, s in zip(groups, steps)]
        norm = _concat_normalised(parts)
        lat = self.encode_normalised(norm)
        return EncodedContext(norm=norm, latents=lat, data_min=allobs.min(dim=0).values[None],
                              data_max=allobs.max(dim=0).values[None], dim=d)

    def evaluate(self, ctx: EncodedContext, locations, *, warn: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Drift and diffusion of an encoded context at ``locations`` (G, d), original units.

        Returns:
            drift (G, d) in state units per time unit and diffusion (G, d) in state units per
            sqrt(time unit). Warns with :class:`ExtrapolationWarning` for locations outside the data
            range widened by 10% on each side.
        """
        d = ctx.dim
        loc = check_locations(locations, d=d).to(ctx.latents.device, ctx.latents.dtype)
        if warn:
            span = ctx.data_max[0] - ctx.data_min[0]
            lo, hi = ctx.data_min[0] - 0.1 * span, ctx.data_max[0] + 0.1 * span
            outside = ((loc < lo) | (loc > hi)).any(dim=1)
            if bool(outside.any()):
                warnings.warn(f"{int(outside.sum())} of {len(loc)} locations lie outside the observed data range "
                              f"[{lo.tolist()}, {hi.tolist()}] (+-10%): drift and diffusion there are extrapolated "
                              "and unreliable", ExtrapolationWarning, stacklevel=2)
        norm = ctx.norm
        pred = self.decode_normalised(norm, ctx.latents, self._normalised_locations(ctx, loc))
        a, s = norm.time_factor[0], norm.std[0, :d]
        drift = pred.drift[0, :, :d] * a * s
        diffusion = pred.diffusion[0, :, :d] * a.sqrt() * s
        return drift, diffusion

    def _normalised_locations(self, ctx: EncodedContext, loc: torch.Tensor) -> torch.Tensor:
        """Locations (G, d), original units -> (1, G, max_dim) in the context's normalised units."""
        d = ctx.dim
        qn = (loc[None] - ctx.norm.mean[:, None, :d]) / ctx.norm.std[:, None, :d]
        return F.pad(qn, (0, self.config.max_dim - d))

    def estimate(self, paths, dt: TimeSteps, locations, *, warn: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero-shot drift and diffusion from observed paths.

        Args:
            paths: (n_paths, T, d) observations (or (n_paths, T) for d = 1, or a list of (T_i, d)
                paths of different lengths), observed every ``dt``. Differentiable w.r.t. ``paths``.
            dt: time between observations (> 0), or the steps between consecutive observations
                for irregular sampling (see :meth:`encode`).
            locations: (G, d) query states (or (G,) for d = 1).
            warn: warn about locations outside the data (see :meth:`evaluate`).

        Returns:
            drift (G, d) and diffusion (G, d) in the units of ``paths`` and ``dt``.
        """
        return self.evaluate(self.encode(paths, dt), locations, warn=warn)

    def explain(self, paths, dt: TimeSteps, locations) -> dict:
        """How the FIM built its estimate: the weight of every classic estimate, and the global tests.

        Args: as for :meth:`estimate`.

        Returns:
            A dict with ``drift_gates`` and ``diffusion_gates`` ({option name: (G,) weights}; the
            weights of the options sum to 1 at every location, see
            :meth:`FIMConfig.drift_option_names`), ``drift_options`` ({option name: (G, d) drift in
            original units}: the classic estimates the drift gates mix, so that the estimate is
            Σ gate × option) and ``statistics`` ({name: (d,) value}: the F statistic of the cubic
            drift fit, the global lack-of-fit tests (a test well above 1 says the data contradict
            the cubic (or the linear) fit) and each candidate's Δ in the cross-validated average).
        """
        ctx = self.encode(paths, dt)
        d = ctx.dim
        loc = check_locations(locations, d=d).to(ctx.latents.device, ctx.latents.dtype)
        with torch.no_grad():
            pred = self.decode_normalised(ctx.norm, ctx.latents, self._normalised_locations(ctx, loc))
        cfg = self.config
        units = ctx.norm.time_factor[0] * ctx.norm.std[0, :d]  # normalised drift -> original units
        return {
            "drift_gates": {n: pred.drift_gates[0, :, i] for i, n in enumerate(cfg.drift_option_names())},
            "drift_options": {n: pred.drift_options[0, :, i, :d] * units
                              for i, n in enumerate(cfg.drift_option_names())},
            "diffusion_gates": {n: pred.diffusion_gates[0, :, i] for i, n in enumerate(cfg.diffusion_option_names())},
            "statistics": {n: v[0, :d] for n, v in pred.statistics.items()},
        }

    def sde(self, paths, dt: TimeSteps, *, grid_size: int = 512, margin: float = 0.2, name: str = "FIM estimate") -> SDE:
        """The inferred SDE as a :class:`fimcg.SDE` that :func:`fimcg.simulate` runs.

        For d = 1 the drift and diffusion are tabulated once on ``grid_size`` points spanning the
        data range widened by ``margin`` (fraction of the range) on each side and linearly
        interpolated; beyond the grid the drift continues linearly and the diffusion is held
        constant. For d > 1 the model is evaluated directly at every call.
        """
        with torch.no_grad():
            ctx = self.encode(paths, dt)
            if ctx.dim != 1:
                def drift(x):
                    return self.evaluate(ctx, x.reshape(-1, ctx.dim), warn=False)[0].reshape(x.shape)

                def diffusion(x):
                    return self.evaluate(ctx, x.reshape(-1, ctx.dim), warn=False)[1].reshape(x.shape)
                return SDE(drift, diffusion, dim=ctx.dim, name=name)
            lo, hi = float(ctx.data_min), float(ctx.data_max)
            span = hi - lo
            grid = torch.linspace(lo - margin * span, hi + margin * span, grid_size, dtype=ctx.latents.dtype)
            f, g = self.evaluate(ctx, grid[:, None], warn=False)
        return SDE(Tabulated(grid, f[:, 0], extrapolate=True), Tabulated(grid, g[:, 0], extrapolate=False),
                   dim=1, name=name, params={"grid": [grid[0].item(), grid[-1].item(), grid_size]})


def _steps(dt, group: torch.Tensor, *, name: str) -> float | torch.Tensor:
    """The time step of a group of paths (1, P, T, d), checked (:func:`check_steps`): a float, or a
    (1, P, T - 1) tensor of steps."""
    t = check_steps(dt, n_paths=group.shape[1], length=group.shape[2], name=name, device=group.device)
    return t if isinstance(t, float) else t[None]


def _concat_normalised(parts: list[Normalised]) -> Normalised:
    """One dataset from groups of paths normalised with the same mean and std."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    x, dx, dt, lagprod = (torch.cat([getattr(p, k) for p in parts], 1) for k in ("x", "dx", "dt", "lagprod"))
    lag1 = lagprod.sum(dim=1) / (dx ** 2).sum(dim=1).clamp_min(1e-12)  # as normalise() computes it
    return Normalised(x=x, dx=dx, dt=dt, mean=first.mean, std=first.std, time_factor=first.time_factor,
                      dim_mask=first.dim_mask, lag1=lag1, lagprod=lagprod)


# ----------------------------------------------------------------------------------------------
# Shipped weights
# ----------------------------------------------------------------------------------------------


class UnverifiedWeightsWarning(UserWarning):
    """Weights that are not the ones shipped with fimcg were loaded without a known checksum."""


def save_weights(model: FIM, path: str | Path, *, meta: dict | None = None) -> str:
    """Write ``model``'s weights and config to ``path`` (safetensors + JSON, see
    :mod:`fimcg.checkpoint`) and return the file's SHA-256 (to publish beside it, for
    ``load_fim(path, sha256=...)``)."""
    from .checkpoint import save_checkpoint

    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    save_checkpoint({"format": "fimcg-fim-1", "config": asdict(model.config), "state_dict": state,
                     "meta": meta or {}}, path)
    return sha256_of(path)


def load_fim(path: str | Path | None = None, *, device: str | torch.device = "cpu",
             sha256: str | None = None) -> FIM:
    """Load a pretrained FIM, frozen (eval mode, ``requires_grad=False``).

    Loading never runs code (see :mod:`fimcg.checkpoint`). The shipped weights are checked against
    :data:`SHIPPED_WEIGHTS_SHA256`, which is part of the code, so a swapped or damaged file is refused.
    Other weights are checked against ``sha256`` when it is given; without it they load with an
    :class:`UnverifiedWeightsWarning`.

    Args:
        path: a weights file written by :func:`save_weights`; default the weights shipped with fimcg.
        device: where to put the model.
        sha256: the expected hex SHA-256 of ``path`` (from a source you trust).

    Raises:
        FileNotFoundError: the weights are missing.
        RuntimeError: the checksum does not match, or the file is not a fimcg FIM weights file (a file
            of the former pickle format is refused with a message that says how to convert it).
    """
    shipped = path is None or Path(path).resolve() == SHIPPED_WEIGHTS.resolve()
    path = Path(path) if path is not None else SHIPPED_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"FIM weights not found at {path}; reinstall fimcg or pretrain with "
                                "`fimcg pretrain` (see fimcg/weights/MODEL_CARD.md)")
    expected = SHIPPED_WEIGHTS_SHA256 if shipped else sha256
    if expected is not None:
        actual = sha256_of(path)
        if actual != expected.strip().lower():
            what = "the weights shipped with fimcg" if shipped else "the expected checksum"
            raise RuntimeError(f"FIM weights {path} are corrupt or were replaced: SHA-256 {actual[:16]}... does not "
                               f"match {what} ({expected[:16]}...)" + ("; reinstall fimcg" if shipped else ""))
    blob = load_checkpoint(path)
    if not isinstance(blob, dict) or blob.get("format") != "fimcg-fim-1":
        raise RuntimeError(f"{path} is not a fimcg FIM weights file")
    if expected is None:
        warnings.warn(f"{path} is not the FIM shipped with fimcg and no sha256 was given: loaded unverified "
                      "(pass load_fim(path, sha256=...) with the checksum printed when the weights were saved)",
                      UnverifiedWeightsWarning, stacklevel=2)
    model = FIM(FIMConfig.from_dict(blob["config"]))
    model.load_state_dict(blob["state_dict"])
    model.meta = blob.get("meta", {})
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
