"""The options of :func:`fimcg.coarse_grain` and :func:`fimcg.joint_coarse_grain`, grouped by what they set.

Each group is a frozen dataclass whose defaults are the methods' defaults, validated when it is made
(a bad value raises ``ValueError``/``TypeError`` naming the field)::

    fimcg.coarse_grain(frames, 0.01, steps=50,
                       autoencoder=AutoencoderConfig(n_components=64),
                       init=InitConfig(steps=200),
                       likelihood=LikelihoodConfig(n_queries=256))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .._validation import check_int
from .data import MIN_TRANSITIONS

__all__ = ["AutoencoderConfig", "InitConfig", "LossWeights", "LikelihoodConfig", "INIT_METHODS", "JUDGES", "LIKELIHOOD_SPACES",
           "check_option_types"]

INIT_METHODS = ("isomap", "slow", "random")
#: how the "slow" initialisation ranks its candidates (see InitConfig.judge)
JUDGES = ("estimator", "slowness")
LIKELIHOOD_SPACES = ("frames", "latent")
#: PCA features of the frames by latent dimension (AutoencoderConfig.n_components=None)
DEFAULT_COMPONENTS = {1: 32, 2: 96, 3: 128}

def _weight(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class AutoencoderConfig:
    """The networks: PCA features of the frames, then MLPs (shared by both methods).

    Attributes:
        n_components: PCA features of the frames (the encoder's input, the decoder's output);
            default (None) :data:`DEFAULT_COMPONENTS` for the latent dimension: 32 for a 1-D latent,
            96 for a 2-D one (a blob that moves in the plane spans many more principal directions
            than one on a line; on the development scene, the 2-D double well, the Isomap
            initialisation recovers the second coordinate with R² 0.32 from 20 components, 0.96
            from 64 and 0.9995 from 96).
        hidden: width of the encoder and decoder MLPs.
        depth: hidden layers of each MLP.
    """

    n_components: int | None = None
    hidden: int = 64
    depth: int = 2

    def __post_init__(self) -> None:
        for name in ("n_components", "hidden", "depth"):
            if name == "n_components" and self.n_components is None:
                continue
            object.__setattr__(self, name, check_int(getattr(self, name), name=f"AutoencoderConfig.{name}", minimum=1))

    def as_dict(self, latent_dim: int = 1) -> dict:
        """The options with ``n_components`` resolved for a latent of dimension ``latent_dim``."""
        out = asdict(self)
        if out["n_components"] is None:
            out["n_components"] = DEFAULT_COMPONENTS.get(latent_dim, 32 * latent_dim)
        return out


@dataclass(frozen=True)
class InitConfig:
    """How the networks start (see the module doc of :mod:`fimcg.coarse_graining.decoupled`).

    Attributes:
        method: ``"isomap"`` (encoder and decoder fitted to an Isomap embedding of the PCA features),
            ``"slow"`` (fitted to the candidate coordinate whose SDE, as the frozen estimator infers
            it, best predicts the coordinate's own future; :mod:`fimcg.coarse_graining.slow`) or
            ``"random"`` (networks as constructed).
        steps: L-BFGS iterations that fit the encoder to the chosen coordinate (and Adam steps for an
            MLP decoder; the spline decoder of a 1-D latent is fitted exactly).
        points: frames the Isomap graphs are built on (a subsample).
        lag: with ``"slow"``, the TICA lag, in frames.
        components: with ``"slow"``, the slowest TICA components the candidates are built from.
        judge_lags: the lags (frames, sorted) at which a coordinate's predictions are scored: the
            ``"slow"`` candidates, and the ``"isomap"`` coordinate for its warning.
        predictive_lags: with ``"slow"``, one nonlinear candidate per lag (frames): an encoder trained
            to predict the frames' slow features that many frames ahead (a time-lagged autoencoder,
            :func:`fimcg.coarse_graining.slow.predictive_encoder`); ``()`` keeps the linear and
            geometric candidates only.
        predictive_steps: Adam steps of each predictive candidate.
        smoothing_windows: with ``"slow"``, after judging, the winner is averaged over time: one more
            candidate per half-width K (frames), an encoder regressed on the winner's mean over the
            frames t - K .. t + K (:func:`fimcg.coarse_graining.slow.smoothed_candidate`), judged like
            the others (by the estimator only: ``judge="slowness"`` skips it); ``()`` keeps the winner
            as it is. The default (5, 10) was chosen on the
            development scenes (seed 0), disjoint from the benchmark's seeds.
        smoothing_steps: Adam steps of each smoothed candidate (its target is noisier than a
            predictive one's, so it trains longer; the weights that predict a validation part best are kept).
        judge: with ``"slow"``, how the candidates are ranked: ``"estimator"`` (the frozen estimator's
            predictive information on held-out paths) or ``"slowness"`` (their autocorrelation at the
            longest judge lag; for comparison, it cannot tell a resolved coordinate from a saturated one).
    """

    method: str = "isomap"
    steps: int = 400
    points: int = 1000
    lag: int = 5
    components: int = 4
    judge_lags: tuple[int, ...] = (1, 5, 20)
    predictive_lags: tuple[int, ...] = (5, 20)
    predictive_steps: int = 600
    smoothing_windows: tuple[int, ...] = (5, 10)
    smoothing_steps: int = 2000
    judge: str = "estimator"

    def __post_init__(self) -> None:
        if self.method not in INIT_METHODS:
            raise ValueError(f"InitConfig.method must be one of {', '.join(INIT_METHODS)}, got {self.method!r}")
        object.__setattr__(self, "steps", check_int(self.steps, name="InitConfig.steps", minimum=0))
        object.__setattr__(self, "points", check_int(self.points, name="InitConfig.points", minimum=2))
        object.__setattr__(self, "lag", check_int(self.lag, name="InitConfig.lag", minimum=1))
        object.__setattr__(self, "components", check_int(self.components, name="InitConfig.components", minimum=1))
        lags = tuple(sorted({check_int(v, name="InitConfig.judge_lags", minimum=1) for v in self.judge_lags}))
        if not lags:
            raise ValueError("InitConfig.judge_lags must name at least one lag")
        object.__setattr__(self, "judge_lags", lags)
        object.__setattr__(self, "predictive_lags", tuple(sorted({check_int(v, name="InitConfig.predictive_lags",
                                                                            minimum=1) for v in self.predictive_lags})))
        object.__setattr__(self, "predictive_steps", check_int(self.predictive_steps, name="InitConfig.predictive_steps",
                                                               minimum=1))
        object.__setattr__(self, "smoothing_windows", tuple(sorted({check_int(v, name="InitConfig.smoothing_windows",
                                                                              minimum=1) for v in self.smoothing_windows})))
        object.__setattr__(self, "smoothing_steps", check_int(self.smoothing_steps, name="InitConfig.smoothing_steps",
                                                              minimum=1))
        if self.judge not in JUDGES:
            raise ValueError(f"InitConfig.judge must be one of {', '.join(JUDGES)}, got {self.judge!r}")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms: ``reconstruction · L_rec + likelihood · L_sim`` (both ≥ 0)."""

    reconstruction: float = 1.0
    likelihood: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "reconstruction", _weight(self.reconstruction, "LossWeights.reconstruction"))
        object.__setattr__(self, "likelihood", _weight(self.likelihood, "LossWeights.likelihood"))


@dataclass(frozen=True)
class LikelihoodConfig:
    """The likelihood term of :func:`fimcg.coarse_grain` (the frozen estimator's SDE scores the data).

    Attributes:
        space: ``"frames"`` (the observed frame increments through the decoder's Jacobian, invariant
            to re-parameterising the latent) or ``"latent"`` (the latent increments; kept for comparison).
        jacobian: with ``space="latent"``, add the decoder's log volume element.
        n_queries: transitions at which the likelihood is evaluated per step (a random subset).
        context_size: most transitions given to the estimator in one call (the shipped FIM was
            pretrained on up to 12,000); larger data sets use random subsets of whole paths per step
            and averaged estimates at the end.
    """

    space: str = "frames"
    jacobian: bool = True
    n_queries: int = 512
    context_size: int = 12000

    def __post_init__(self) -> None:
        if self.space not in LIKELIHOOD_SPACES:
            raise ValueError(f"LikelihoodConfig.space must be one of {', '.join(LIKELIHOOD_SPACES)}, got {self.space!r}")
        object.__setattr__(self, "jacobian", bool(self.jacobian))
        object.__setattr__(self, "n_queries", check_int(self.n_queries, name="LikelihoodConfig.n_queries", minimum=1))
        object.__setattr__(self, "context_size", check_int(self.context_size, name="LikelihoodConfig.context_size",
                                                           minimum=MIN_TRANSITIONS))


def check_option_types(**options: object) -> None:
    """Raise ``TypeError`` naming the option unless each keyword's value is an instance of the option
    class its name stands for (``autoencoder``, ``init``, ``weights``, ``likelihood``)."""
    kinds = {"autoencoder": AutoencoderConfig, "init": InitConfig, "weights": LossWeights,
             "likelihood": LikelihoodConfig}
    for name, value in options.items():
        if not isinstance(value, kinds[name]):
            raise TypeError(f"{name} must be of type {kinds[name].__name__}, got {type(value).__name__}")
