"""The FIM's candidate library: every classic estimate the decoder weighs is one object behind one protocol.

In the spirit of pysindy's ``SINDy(feature_library=..., optimizer=...)``, the :class:`FIM` is a
network wrapped around a list of candidates (:meth:`CandidateConfig.build` makes the list from a
config). Each :class:`Candidate` has a name, the names of the drift and diffusion options it offers
the output gates, the names of the query features and global features it gives the decoder, and,
called on a :class:`DecoderState`, it returns a :class:`CandidateOutput`: its options' values at
the query points, their uncertainty (log standard errors, cross-validation errors), its features and
its statistics for :meth:`FIM.explain`. The decoder loops over the list; every count and name (query
features, drift and diffusion options, the output head's size, the initial gate biases) derives
from it. A candidate that needs others' results (the cross-validated average, the lack-of-fit
tests) reads them from the state, where the earlier candidates of the list put their outputs.

All tensors are in the FIM's normalised units (:mod:`.normalise`): B datasets, G query locations,
G' = G + test points evaluated together, D = max_dim padded state dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence
import torch
from .candidates import (RegressionSums, cross_validated_average, family_fits, g2_averages, high_degree_fits,
                         kernel_cross_validation, kernel_cross_validation_nd, kernel_features, polynomial_fits,
                         regression_sums, spline_fits)
from .normalise import Normalised


@dataclass
class CandidateOutput:
    """What a candidate computed for a batch (normalised units; every field optional).

    Attributes:
        drift: (B, G, n_drift, D) its drift options at the queries, in ``drift_options`` order.
        g2: (B, G, n_diffusion, D) its estimates of g'² at the queries, in ``diffusion_options`` order.
        drift_at_points: (B, G', n_drift, D) the drift options at the queries and the test points.
        drift_log_se: (B, G', n_drift, D) their log standard errors there.
        cv_errors: (B, D, n_cv) estimated prediction errors of the options in ``cv_options`` order
            (inf: not available), when the state asks for cross-validation.
        query_features: (B, G, len(query_feature_names)) decoder inputs at each query.
        global_features: (B, len(global_feature_names)) decoder inputs shared by all queries.
        statistics: {name: (B, D)} diagnostics reported by :meth:`FIM.explain`.
    """

    drift: torch.Tensor | None = None
    g2: torch.Tensor | None = None
    drift_at_points: torch.Tensor | None = None
    drift_log_se: torch.Tensor | None = None
    cv_errors: torch.Tensor | None = None
    query_features: torch.Tensor | None = None
    global_features: torch.Tensor | None = None
    statistics: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class DecoderState:
    """What the candidates share during one decoder pass: the context, the points, earlier outputs.

    Attributes:
        norm: the normalised context (B datasets, N transitions, D dimensions).
        points: (B, G', D) the query locations, then the test points of the lack-of-fit tests.
        n_queries: G.
        cross_validate: whether candidates compute their options' cross-validation errors (some
            candidate of the list averages by them).
        results: {candidate name: its output}, filled in list order.
        providers: the candidates that have run, in list order.
        cache: intermediate results that several candidates use (the global fits' sums).
    """

    norm: Normalised
    points: torch.Tensor
    n_queries: int
    cross_validate: bool
    results: dict[str, CandidateOutput] = field(default_factory=dict)
    providers: list["Candidate"] = field(default_factory=list)
    cache: dict = field(default_factory=dict)

    def add(self, candidate: "Candidate", output: CandidateOutput) -> None:
        """Record a candidate's output for the candidates after it."""
        self.results[candidate.name] = output
        self.providers.append(candidate)

    def drift_option(self, name: str) -> tuple[CandidateOutput, int]:
        """The output of the earlier candidate that offers drift option ``name``, and the option's index."""
        for cand in self.providers:
            if name in cand.drift_options:
                return self.results[cand.name], cand.drift_options.index(name)
        raise KeyError(f"no earlier candidate offers the drift option {name!r}")

    @property
    def queries(self) -> torch.Tensor:
        """(B, G, D) the query locations."""
        return self.points[:, :self.n_queries]

    def regression_sums(self, bin_width: float, prior_std: float) -> RegressionSums:
        """The global fits' sums (:func:`regression_sums`), taken once per pass and setting."""
        key = ("regression_sums", bin_width, prior_std)
        if key not in self.cache:
            self.cache[key] = regression_sums(self.norm, bin_width, prior_std)
        return self.cache[key]


class Candidate:
    """The protocol of the FIM's candidates (subclasses set the names and implement ``__call__``).

    Attributes:
        name: unique within a list; the key of its output in :attr:`DecoderState.results`.
        drift_options, diffusion_options: names of the drift and g'² estimates it offers the gates.
        cv_options: (drift option, penalty) pairs of its options that enter a cross-validated
            average; penalty is the Δ the option pays there (None: the average's penalty for
            nonparametric estimates).
        query_feature_names, global_feature_names: names of its decoder inputs, in output order.
        statistic_names: names of the statistics it reports.
        test_points: how many data quantiles it needs the estimates evaluated at, beyond the queries.
        needs_cross_validation: it reads the cross-validation errors of earlier candidates.
        preferred_drift: the drift option an untrained model should choose (the last candidate of
            the list that names one wins), or None.
        preferred_diffusion: diffusion options an untrained model should prefer.
    """

    name: str = ""
    drift_options: tuple[str, ...] = ()
    diffusion_options: tuple[str, ...] = ()
    cv_options: tuple[tuple[str, float | None], ...] = ()
    query_feature_names: tuple[str, ...] = ()
    global_feature_names: tuple[str, ...] = ()
    statistic_names: tuple[str, ...] = ()
    test_points: int = 0
    needs_cross_validation: bool = False
    preferred_drift: str | None = None
    preferred_diffusion: tuple[str, ...] = ()

    def __call__(self, state: DecoderState) -> CandidateOutput:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _per_dim(names: Sequence[str], dims: int, sep: str = "") -> tuple[str, ...]:
    return tuple(f"{n}{sep}{i}" for n in names for i in range(dims))


class ContextSummary(Candidate):
    """No estimate: the query location and what describes the context as a whole.

    Query features: the normalised location q. Global features: the lag-1 correlation of
    consecutive increments, log N / :attr:`LOG_N_SCALE` and the mask of active dimensions.
    """

    #: log N is divided by this (a feature of order 1)
    LOG_N_SCALE = 10.0

    def __init__(self, max_dim: int) -> None:
        self.name = "context"
        self.query_feature_names = _per_dim(["q"], max_dim)
        self.global_feature_names = _per_dim(["lag1_"], max_dim) + ("log_n",) + _per_dim(["mask"], max_dim)

    def __call__(self, state: DecoderState) -> CandidateOutput:
        norm, q = state.norm, state.queries
        B = q.shape[0]
        log_n = torch.log(torch.tensor(float(norm.x.shape[1]), dtype=q.dtype, device=q.device))
        return CandidateOutput(query_features=q, global_features=torch.cat(
            [norm.lag1, (log_n / self.LOG_N_SCALE).expand(B, 1), norm.dim_mask], dim=-1))


class KernelMoments(Candidate):
    """Kernel estimates per bandwidth (:func:`kernel_features`): Nadaraya-Watson and local-linear
    drifts, raw and noise-robust second moments (g'²), with their standard errors; with
    cross-validation, the leave-out errors of the local-linear drifts (:func:`kernel_cross_validation`;
    with ``multivariate``, of multi-dimensional contexts too: :func:`kernel_cross_validation_nd`)."""

    def __init__(self, bandwidths: Sequence[float], shrinkage: float, max_dim: int, *,
                 multivariate: bool = False) -> None:
        self.name = "kernel moments"
        self.bandwidths, self.shrinkage, self.multivariate = tuple(bandwidths), shrinkage, multivariate
        self.labels = tuple(f"h{h:g}" for h in bandwidths)
        self.local_linear = tuple(f"ll {h}" for h in self.labels)
        self.drift_options = tuple(f"nw {h}" for h in self.labels) + self.local_linear
        self.diffusion_options = tuple(f"m2 {h}" for h in self.labels) + tuple(f"robust {h}" for h in self.labels)
        self.cv_options = tuple((n, None) for n in self.local_linear)
        self.query_feature_names = tuple(
            name for h in self.labels for name in (f"{h}:log_mass",) + _per_dim(
                [f"{h}:{part}" for part in ("nw", "ll", "m2", "robust", "log_se")], max_dim))

    def __call__(self, state: DecoderState) -> CandidateOutput:
        norm, G = state.norm, state.n_queries
        est = kernel_features(norm, state.points, self.bandwidths, self.shrinkage)
        out = CandidateOutput(drift=est.drift[:, :G], g2=est.g2[:, :G], drift_at_points=est.drift,
                              drift_log_se=est.drift_log_se, query_features=est.features[:, :G])
        if state.cross_validate:  # unscored dimensions stay infinite (unavailable): padding, and every
            # dimension of a multi-dimensional context unless ``multivariate``
            B, D, K = norm.x.shape[0], norm.x.shape[-1], len(self.bandwidths)
            errors = torch.full((B, D, K), math.inf, dtype=norm.x.dtype, device=norm.x.device)
            cv = kernel_cross_validation(norm, self.bandwidths, self.shrinkage)
            if cv is not None:
                errors[:, 0] = cv
            elif self.multivariate:
                cv = kernel_cross_validation_nd(norm, self.bandwidths, self.shrinkage)
                errors[:, :cv.shape[1]] = cv
            out.cv_errors = errors
        return out


class PolynomialFits(Candidate):
    """Global ridge fits (:func:`polynomial_fits`): the linear and cubic drifts, the quadratic raw
    and noise-robust g'² fits, the log standard errors of the drift fits and the cubic fit's F
    statistic (a global feature and a statistic). With ``multivariate``, polynomials in all active
    coordinates (same option and feature names: the multi-dimensional counterparts of the same fits)."""

    #: the log standard errors are divided by this, log(1 + F) by F_STAT_SCALE
    LOG_SE_SCALE = 5.0
    F_STAT_SCALE = 5.0

    def __init__(self, prior_std: float, max_dim: int, *, multivariate: bool = False) -> None:
        self.name = "polynomial fits"
        self.prior_std, self.multivariate = prior_std, multivariate
        self.drift_options = ("ls1", "ls3")
        self.diffusion_options = ("ls2", "ls2 robust")
        self.cv_options = (("ls1", 0.0), ("ls3", 0.0))
        self.query_feature_names = _per_dim(["ls1", "ls3", "g2_ls", "g2_ls_robust", "ls1_log_se", "ls3_log_se"],
                                            max_dim)
        self.global_feature_names = _per_dim(["f_stat"], max_dim)
        self.statistic_names = ("f_stat",)
        self.preferred_drift = "ls3"
        self.preferred_diffusion = self.diffusion_options

    def __call__(self, state: DecoderState) -> CandidateOutput:
        G = state.n_queries
        # (B, G', 4, D), (B, G', 2, D), (B, D) and, with cross-validation, (B, D, 2)
        fits, log_se, f_stat, *cv = polynomial_fits(state.norm, state.points, prior_std=self.prior_std,
                                                    with_cv=state.cross_validate, multivariate=self.multivariate)
        B = fits.shape[0]
        feats = torch.cat([torch.asinh(fits[:, :G].reshape(B, G, -1)),
                           log_se[:, :G].reshape(B, G, -1) / self.LOG_SE_SCALE], dim=-1)
        return CandidateOutput(drift=fits[:, :G, :2], g2=fits[:, :G, 2:], drift_at_points=fits[:, :, :2],
                               drift_log_se=log_se, cv_errors=cv[0] if cv else None, query_features=feats,
                               global_features=torch.log1p(f_stat) / self.F_STAT_SCALE, statistics={"f_stat": f_stat})


class LackOfFit(Candidate):
    """Diagnostics of the cubic fit: at every query, the misfit z of each local-linear drift against
    the cubic fit (in units of their joint standard error); with test points, two global tests
    (mean squared z over data quantiles; small when the cubic fit is right): is the drift
    non-polynomial (local-linear vs cubic fit, per bandwidth), is it linear (cubic vs linear fit, in
    units of the cubic fit's standard error). Reads those fits from earlier candidates by name."""

    #: log(1 + test) is divided by this
    TEST_SCALE = 3.0

    def __init__(self, local: Sequence[tuple[str, str]], n_test_points: int, max_dim: int, *,
                 cubic: str = "ls3", linear: str = "ls1") -> None:
        """``local``: (label, drift option) of each local-linear drift, e.g. ("h0.05", "ll h0.05")."""
        self.name = "lack of fit"
        self.local, self.cubic, self.linear, self.test_points = tuple(local), cubic, linear, n_test_points
        labels = [label for label, _ in self.local]
        self.query_feature_names = _per_dim([f"{h}:misfit" for h in labels], max_dim)
        if n_test_points:
            self.global_feature_names = (_per_dim([f"{h}:lack_of_fit" for h in labels], max_dim)
                                         + _per_dim(["linear_lack_of_fit"], max_dim))
            self.statistic_names = tuple(f"lack_of_fit {h}" for h in labels) + ("linear_lack_of_fit",)

    def _gather(self, state: DecoderState, names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, G', len(names), D) values and log standard errors of drift options at all points."""
        found = [state.drift_option(n) for n in names]
        out, first = found[0]
        if all(o is out and i == first + j for j, (o, i) in enumerate(found)):  # one candidate's consecutive options
            part = slice(first, first + len(names))
            return out.drift_at_points[:, :, part], out.drift_log_se[:, :, part]
        return (torch.cat([o.drift_at_points[:, :, i:i + 1] for o, i in found], dim=2),
                torch.cat([o.drift_log_se[:, :, i:i + 1] for o, i in found], dim=2))

    def __call__(self, state: DecoderState) -> CandidateOutput:
        G = state.n_queries
        ll, ll_se = self._gather(state, [name for _, name in self.local])
        cubic, cubic_se = self._gather(state, [self.cubic])
        misfit = (ll - cubic) / torch.sqrt(torch.exp(2 * ll_se) + torch.exp(2 * cubic_se))  # (B, G', K, D)
        B = misfit.shape[0]
        out = CandidateOutput(query_features=torch.asinh(misfit[:, :G].reshape(B, G, -1)))
        if self.test_points:
            lof_cubic = (misfit[:, G:] ** 2).mean(dim=1)  # (B, K, D)
            line = self._gather(state, [self.linear])[0][:, G:, 0]
            lof_linear = (((cubic[:, G:, 0] - line) / torch.exp(cubic_se[:, G:, 0])) ** 2).mean(dim=1)  # (B, D)
            out.statistics = {f"lack_of_fit {h}": lof_cubic[:, j] for j, (h, _) in enumerate(self.local)}
            out.statistics["linear_lack_of_fit"] = lof_linear
            out.global_features = torch.cat([torch.log1p(lof_cubic.reshape(B, -1)) / self.TEST_SCALE,
                                             torch.log1p(lof_linear) / self.TEST_SCALE], dim=-1)
        return out


class HighDegreeFits(Candidate):
    """Least-squares drift fits of higher degree (:func:`high_degree_fits`), each entering the
    cross-validated average with the Δ ``penalty`` (``multivariate``: polynomials in all active coordinates)."""

    def __init__(self, degrees: Sequence[int], penalty: float, bin_width: float, prior_std: float,
                 max_dim: int, *, multivariate: bool = False) -> None:
        self.name = "high-degree fits"
        self.degrees, self.bin_width, self.prior_std = tuple(degrees), bin_width, prior_std
        self.multivariate = multivariate
        self.drift_options = tuple(f"ls{p}" for p in self.degrees)
        self.cv_options = tuple((n, penalty) for n in self.drift_options)
        self.query_feature_names = _per_dim(self.drift_options, max_dim, "_")

    def __call__(self, state: DecoderState) -> CandidateOutput:
        q = state.queries
        fits, cv = high_degree_fits(state.norm, q, self.degrees, multivariate=self.multivariate,
                                    sums=state.regression_sums(self.bin_width, self.prior_std))
        return CandidateOutput(drift=fits, cv_errors=cv, query_features=torch.asinh(fits.reshape(*q.shape[:2], -1)))


class FamilyFits(Candidate):
    """Least-squares fits of a line or a cubic plus one non-polynomial term per function family
    (:func:`family_fits`), each entering the cross-validated average with the Δ ``penalty``."""

    def __init__(self, families: Sequence[str], penalty: float, grid: dict, cubic_penalty: float,
                 bin_width: float, prior_std: float, max_dim: int) -> None:
        self.name = "family fits"
        self.families, self.grid, self.cubic_penalty = tuple(families), dict(grid), cubic_penalty
        self.bin_width, self.prior_std = bin_width, prior_std
        self.drift_options = tuple(f"{f} fit" for f in self.families)
        self.cv_options = tuple((n, penalty) for n in self.drift_options)
        self.query_feature_names = _per_dim(self.drift_options, max_dim, "_")

    def __call__(self, state: DecoderState) -> CandidateOutput:
        q = state.queries
        fits, cv = family_fits(state.norm, q, self.families, sums=state.regression_sums(self.bin_width, self.prior_std),
                               cubic_penalty=self.cubic_penalty, **self.grid)
        return CandidateOutput(drift=fits, cv_errors=cv, query_features=torch.asinh(fits.reshape(*q.shape[:2], -1)))


class SplineFits(Candidate):
    """Penalised splines with GCV-chosen smoothness (:func:`spline_fits`): a drift that names no
    function family, entering the cross-validated average with the Δ ``penalty``; the raw and
    noise-robust g'² splines of its residuals and the cross-validated g'² averages of each (spline
    against low-degree polynomials). Query features: the five estimates (asinh);
    global feature: log of the drift spline's effective number of parameters."""

    #: log df is divided by this
    LOG_DF_SCALE = 3.0

    def __init__(self, n_segments: int, penalty: float, max_dim: int) -> None:
        self.name = "penalised splines"
        self.n_segments = n_segments
        self.drift_options = ("spline",)
        self.diffusion_options = ("spline g2", "spline g2 robust", "cv g2", "cv g2 robust")
        self.cv_options = (("spline", penalty),)
        self.query_feature_names = _per_dim(["spline", "spline_g2", "spline_g2_robust", "cv_g2", "cv_g2_robust"],
                                            max_dim)
        self.global_feature_names = _per_dim(["spline_log_df"], max_dim)
        self.statistic_names = ("spline_df",)

    def __call__(self, state: DecoderState) -> CandidateOutput:
        G = state.n_queries
        est = spline_fits(state.norm, state.points, n_segments=self.n_segments)
        B = est.drift.shape[0]
        feats = torch.asinh(torch.cat([est.drift[:, :G], est.g2[:, :G]], dim=2).reshape(B, G, -1))
        return CandidateOutput(drift=est.drift[:, :G], g2=est.g2[:, :G], cv_errors=est.cv, query_features=feats,
                               global_features=est.log_df / self.LOG_DF_SCALE,
                               statistics={"spline_df": torch.exp(est.log_df)})


class G2Averages(Candidate):
    """Cross-validated g'² averages in any dimension (:func:`g2_averages`): polynomials of several
    degrees in all active coordinates fitted to the raw and to the noise-robust squared residuals of
    the multivariate cubic drift, Akaike-weighted. The options and features have the names of the
    1-D model's spline-based averages (``"cv g2"``, ``"cv g2 robust"``), whose gates they inherit
    when multi-dimensional weights are warm-started from 1-D ones."""

    def __init__(self, bin_width: float, prior_std: float, max_dim: int) -> None:
        self.name = "g2 averages"
        self.bin_width, self.prior_std = bin_width, prior_std
        self.diffusion_options = ("cv g2", "cv g2 robust")
        self.query_feature_names = _per_dim(["cv_g2", "cv_g2_robust"], max_dim)
        self.preferred_diffusion = self.diffusion_options

    def __call__(self, state: DecoderState) -> CandidateOutput:
        G = state.n_queries
        g2 = g2_averages(state.norm, state.queries, sums=state.regression_sums(self.bin_width, self.prior_std))
        return CandidateOutput(g2=g2, query_features=torch.asinh(g2.reshape(g2.shape[0], G, -1)))


class CrossValidatedAverage(Candidate):
    """The model average of every earlier candidate's ``cv_options`` weighted by cross-validation
    (:func:`cross_validated_average`): the global fits in list order, then the nonparametric
    (kernel) drifts, which pay ``penalty``. Its Δ per option are global features and statistics."""

    #: log(1 + Δ) is divided by this
    DELTA_SCALE = 3.0

    def __init__(self, sources: Sequence[Candidate], penalty: float, temperature: float, max_dim: int, *,
                 reference: str = "ls3") -> None:
        self.name = "cross-validated average"
        self.penalty, self.temperature, self.reference = penalty, temperature, reference
        # (source, index among its drift options, index among its cv options, name, penalty)
        entries = [(c.name, c.drift_options.index(n), j, n, p) for c in sources for j, (n, p) in enumerate(c.cv_options)]
        # the global fits (their own penalties) first, then the nonparametric ones
        self.entries = [e for e in entries if e[4] is not None] + [e for e in entries if e[4] is None]
        self.option_names = tuple(e[3] for e in self.entries)
        if reference not in self.option_names:
            raise ValueError(f"the cross-validated average needs the {reference!r} fit, whose error sets its scale")
        self.drift_options = ("cv average",)
        self.global_feature_names = _per_dim([f"{o}:cv_delta" for o in self.option_names], max_dim)
        self.statistic_names = tuple(f"cv_delta {o}" for o in self.option_names)
        self.needs_cross_validation = True
        self.preferred_drift = "cv average"

    def __call__(self, state: DecoderState) -> CandidateOutput:
        drifts, errors, penalties = [], [], []
        for source, index, j, _, penalty in self.entries:
            out = state.results[source]
            drifts.append(out.drift[:, :, index])
            errors.append(out.cv_errors[..., j])
            penalties.append(self.penalty if penalty is None else penalty)
        drift, delta = cross_validated_average(
            torch.stack(drifts, dim=2), torch.stack(errors, dim=-1), state.norm.x.shape[1], penalties,
            reference=self.option_names.index(self.reference), temperature=self.temperature)
        B = delta.shape[0]
        return CandidateOutput(
            drift=drift[:, :, None], global_features=torch.log1p(delta).transpose(1, 2).reshape(B, -1) / self.DELTA_SCALE,
            statistics={f"cv_delta {n}": delta[..., j] for j, n in enumerate(self.option_names)})


class Zero(Candidate):
    """The zero drift (for contexts whose drift the data cannot pin down)."""

    def __init__(self) -> None:
        self.name = "zero"
        self.drift_options = ("zero",)

    def __call__(self, state: DecoderState) -> CandidateOutput:
        q = state.queries
        return CandidateOutput(drift=q.new_zeros(q.shape[0], q.shape[1], 1, q.shape[2]))
