"""The FIM's configuration: network sizes and the settings of its classic candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from .candidates import FAMILIES, FAMILY_CENTRES, FAMILY_CUBIC_PENALTY, FAMILY_FREQUENCIES, FAMILY_STEEPNESS, FAMILY_WIDTHS, FIT_BIN_WIDTH, GLOBAL_FIT_PRIOR_STD


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
