"""The FIM's configuration: the network's sizes (:class:`NetworkConfig`) and the settings of its
candidate estimates (:class:`CandidateConfig`), together a :class:`FIMConfig`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from .candidates import (CV_TEMPERATURE, FAMILIES, FAMILY_CENTRES, FAMILY_CUBIC_PENALTY, FAMILY_FREQUENCIES,
                         FAMILY_STEEPNESS, FAMILY_WIDTHS, FIT_BIN_WIDTH, GLOBAL_FIT_PRIOR_STD, POLYNOMIAL_PRIOR_STD)
from .library import (Candidate, ContextSummary, CrossValidatedAverage, FamilyFits, G2Averages, HighDegreeFits,
                      KernelMoments, LackOfFit, PolynomialFits, SplineFits, Zero)


@dataclass
class NetworkConfig:
    """Sizes of the network. The defaults are the shipped model's.

    Attributes:
        max_dim: largest state dimension the architecture accepts (states are zero-padded to it).
        d_model: width of every embedding.
        n_heads: attention heads.
        n_latents: learned summary vectors of the set encoder.
        n_encoder_blocks: (cross-attention + self-attention) blocks of the encoder.
        n_decoder_blocks: attention blocks of the query decoder over the latent summary.
        trained_dims: state dimensions the weights were trained on (others go to the model's
            companions, :attr:`FIM.companions`, or raise at inference).
    """

    max_dim: int = 3
    d_model: int = 64
    n_heads: int = 4
    n_latents: int = 32
    n_encoder_blocks: int = 2
    n_decoder_blocks: int = 1
    trained_dims: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        self.trained_dims = tuple(self.trained_dims)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")

    @property
    def token_features(self) -> int:
        """Inputs per transition token: x', asinh(Δx'/√Δt'), asinh(Δx'²/Δt') (each max_dim), log Δt', the mask."""
        return 4 * self.max_dim + 1


@dataclass
class CandidateConfig:
    """Statistical settings of the candidate estimates the FIM weighs. The defaults are the shipped model's.

    Attributes:
        bandwidths: kernel bandwidths of the kernel moments, in standardised state units.
        shrinkage: pseudo-count pulling local kernel moments towards global ones where data is scarce.
        polynomial_prior_std: prior standard deviation of the linear, cubic and quadratic fits'
            coefficients (:func:`polynomial_fits`).
        n_test_points: data quantiles at which the global lack-of-fit tests are evaluated (0: no
            tests, as in weights saved before they existed).
        cv_penalty: with a value, the drift options include a cross-validated model average (see
            :func:`cross_validated_average`) in which every kernel drift pays this penalty (in units
            of Akaike's information criterion) for its complexity; None: no such option (weights
            saved before it existed).
        cv_temperature: the average's weights are softmax(-cv_temperature Δ) (Akaike weights: 0.5).
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
        spline_segments: with a number, penalised splines on that many knot intervals
            (:func:`spline_fits`: GCV-chosen smoothness) give a drift option that enters the
            cross-validated average and four g'² options (raw and noise-robust splines, and their
            cross-validated averages with low-degree polynomials); None: no splines (weights saved before them).
        spline_penalty: the Δ (Akaike units) the spline drift pays in the cross-validated average.
        multivariate: the global fits (linear, cubic, quadratic g'², high degrees) are polynomials
            in all active coordinates, and the kernel drifts are cross-validated in any dimension
            and cross-validated g'² averages in all coordinates are added (:class:`G2Averages`): the
            library of multi-dimensional weights; False: the shipped 1-D model's per-coordinate fits.
            Needs ``families=()`` and ``spline_segments=None`` (one-dimensional candidates).
    """

    bandwidths: tuple[float, ...] = (0.05, 0.15, 0.25, 0.4)
    shrinkage: float = 5.0
    polynomial_prior_std: float = POLYNOMIAL_PRIOR_STD
    n_test_points: int = 16
    cv_penalty: float | None = 6.0
    cv_temperature: float = CV_TEMPERATURE
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
    spline_segments: int | None = None
    spline_penalty: float = 0.0
    multivariate: bool = False

    def __post_init__(self) -> None:
        for name in ("bandwidths", "high_degrees", "families", "family_steepness", "family_widths",
                     "family_frequencies"):
            setattr(self, name, tuple(getattr(self, name)))
        if not self.bandwidths or not all(math.isfinite(h) and h > 0 for h in self.bandwidths):
            raise ValueError(f"bandwidths must be a non-empty list of finite numbers > 0, got {list(self.bandwidths)}")
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
        if self.spline_segments is not None and self.spline_segments < 1:
            raise ValueError(f"spline_segments must be None or >= 1, got {self.spline_segments}")
        if not (math.isfinite(self.spline_penalty) and self.spline_penalty >= 0):
            raise ValueError(f"spline_penalty must be finite and >= 0, got {self.spline_penalty}")
        if self.multivariate and (self.families or self.spline_segments is not None):
            raise ValueError("multivariate candidates need families=() and spline_segments=None: the function "
                             "families and the splines are one-dimensional candidates")
        if self.family_centres < 1:
            raise ValueError(f"family_centres must be >= 1, got {self.family_centres}")
        if not (math.isfinite(self.family_cubic_penalty) and self.family_cubic_penalty >= 0):
            raise ValueError(f"family_cubic_penalty must be finite and >= 0, got {self.family_cubic_penalty}")
        for name in ("fit_bin_width", "global_fit_prior_std", "polynomial_prior_std", "cv_temperature"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be finite and > 0, got {getattr(self, name)}")

    def family_grid(self) -> dict:
        """The keyword arguments of :func:`family_fits` that set its grid of nonlinear parameters."""
        return {"steepness": self.family_steepness, "widths": self.family_widths,
                "frequencies": self.family_frequencies, "centres": self.family_centres}

    def build(self, max_dim: int) -> list[Candidate]:
        """The candidate list these settings make, in the decoder's order: the context summary,
        kernel moments, polynomial fits, lack-of-fit diagnostics, high-degree fits, family fits,
        the cross-validated average of all fits before it, zero. Empty settings drop a candidate
        (``high_degrees=()``, ``families=()``, ``cv_penalty=None``)."""
        mv = self.multivariate
        kernel = KernelMoments(self.bandwidths, self.shrinkage, max_dim, multivariate=mv)
        out: list[Candidate] = [ContextSummary(max_dim), kernel,
                                PolynomialFits(self.polynomial_prior_std, max_dim, multivariate=mv),
                                LackOfFit(list(zip(kernel.labels, kernel.local_linear)), self.n_test_points, max_dim)]
        if self.high_degrees:
            out.append(HighDegreeFits(self.high_degrees, self.high_degree_penalty, self.fit_bin_width,
                                      self.global_fit_prior_std, max_dim, multivariate=mv))
        if self.families:
            out.append(FamilyFits(self.families, self.family_penalty, self.family_grid(), self.family_cubic_penalty,
                                  self.fit_bin_width, self.global_fit_prior_std, max_dim))
        if self.spline_segments is not None:
            out.append(SplineFits(self.spline_segments, self.spline_penalty, max_dim))
        if mv:
            out.append(G2Averages(self.fit_bin_width, self.global_fit_prior_std, max_dim))
        if self.cv_penalty is not None:
            out.append(CrossValidatedAverage(out, self.cv_penalty, self.cv_temperature, max_dim))
        out.append(Zero())
        return out


def _from_dict(cls, d: dict, what: str):
    d = dict(d)
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {what} field(s) {', '.join(unknown)}")
    return cls(**d)


@dataclass
class FIMConfig:
    """A FIM's configuration: ``network`` (sizes) and ``candidates`` (statistical settings).

    The candidate list (:meth:`candidate_list`) and every name and count the network needs derive
    from it: the query features, the drift and diffusion options, the output head's size.
    """

    network: NetworkConfig = field(default_factory=NetworkConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)

    def __post_init__(self) -> None:
        if isinstance(self.network, dict):
            self.network = _from_dict(NetworkConfig, self.network, "NetworkConfig")
        if isinstance(self.candidates, dict):
            self.candidates = _from_dict(CandidateConfig, self.candidates, "CandidateConfig")

    @property
    def max_dim(self) -> int:
        """``network.max_dim``."""
        return self.network.max_dim

    @property
    def trained_dims(self) -> tuple[int, ...]:
        """``network.trained_dims``."""
        return self.network.trained_dims

    def candidate_list(self) -> list[Candidate]:
        """The candidates the decoder weighs, in order (:meth:`CandidateConfig.build`)."""
        return self.candidates.build(self.network.max_dim)

    def query_feature_names(self) -> list[str]:
        """Names of the decoder's query features, in input order: each candidate's query features,
        then its global features."""
        return [n for c in self.candidate_list() for n in c.query_feature_names + c.global_feature_names]

    @property
    def query_features(self) -> int:
        return len(self.query_feature_names())

    def drift_option_names(self) -> list[str]:
        """Names of the drift estimates the output gates mix, in gate order."""
        return [n for c in self.candidate_list() for n in c.drift_options]

    def diffusion_option_names(self) -> list[str]:
        """Names of the g'² estimates the output gates mix, in gate order."""
        return [n for c in self.candidate_list() for n in c.diffusion_options]

    @property
    def n_drift_options(self) -> int:
        return len(self.drift_option_names())

    @property
    def n_diffusion_options(self) -> int:
        return len(self.diffusion_option_names())

    @classmethod
    def from_dict(cls, d: dict) -> "FIMConfig":
        """Config from a dict (as :func:`dataclasses.asdict` writes it, or read from JSON):
        ``{"network": {...}, "candidates": {...}}``; missing fields take their defaults.

        Raises:
            ValueError: an unknown field, or the flat layout of configs saved before the split (such
                a file is converted once by ``fimcg convert``).
        """
        d = dict(d)
        if not set(d) <= {"network", "candidates"}:
            raise ValueError(f"a FIMConfig dict has the keys 'network' and 'candidates', got {sorted(d)}; a flat "
                             "config of an old weights file is brought up to date by `fimcg convert`")
        return cls(network=_from_dict(NetworkConfig, d.get("network", {}), "NetworkConfig"),
                   candidates=_from_dict(CandidateConfig, d.get("candidates", {}), "CandidateConfig"))
