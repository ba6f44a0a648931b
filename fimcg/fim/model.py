"""The FIM: a set encoder over transitions and a decoder that weighs classic estimates by the context.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
import torch
import torch.nn.functional as F
from torch import nn
from .._validation import as_tensor, check_locations, check_paths
from ..sde.model import SDE, tabulated_sde
from .config import FIMConfig
from .normalise import Normalised, TIME_SCALE, TimeSteps, concat_normalised, group_steps, normalise, test_points
from .network import Block, mlp
from .candidates import LOG_FLOOR
from .library import Candidate, DecoderState


#: initial logit of the drift option the untrained model prefers (the last candidate's preferred_drift)
PREFERRED_DRIFT_LOGIT = 3.0


#: initial logit of each diffusion option the untrained model prefers
PREFERRED_DIFFUSION_LOGIT = 2.0


#: standard deviation of the initial latent summary vectors
LATENT_INIT_STD = 0.1


#: locations further than this fraction of the data range outside it raise an ExtrapolationWarning
EXTRAPOLATION_MARGIN = 0.1


#: relative spread below which a dimension of the observations counts as constant
CONSTANT_TOLERANCE = 1e-8


class ExtrapolationWarning(UserWarning):
    """Issued when query locations lie outside the region covered by the observed data."""


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

    A network that weighs classic and nonparametric estimates by the context: a set encoder
    summarises the observed transitions, and a decoder, given the query features of a list of
    candidate estimates (:mod:`.library`: kernel moments, polynomial, higher-degree and
    function-family least squares, a cross-validated average, lack-of-fit diagnostics), outputs at
    each location softmax gates over the candidates' drift and diffusion options. Every drift it
    returns is a location-wise mixture of those estimates (and zero); every diffusion a gated
    geometric mean of estimates of g².

    One set of weights serves the state dimensions it was trained on (``config.trained_dims``);
    weights for other dimensions ride along as :attr:`companions` (the shipped 1-D model carries
    the shipped 2-D one), and every public method hands a context of such a dimension to its
    companion, so ``fim(paths, dt, locations)`` has one call shape for d = 1 and d = 2.

    Use :func:`load_fim` for the shipped, pretrained model. Calling the model,
    ``fim(paths, dt, locations)``, has the call shape of the classic estimators
    (:mod:`fimcg.estimators`) and is :meth:`estimate`; :meth:`sde` gives the inferred SDE as a
    :class:`fimcg.SDE`, :meth:`encode` / :meth:`evaluate` encode a context once and evaluate it at
    many locations, :meth:`explain` reports the gates. :meth:`predict_normalised` is the batched
    pass in normalised units that pretraining uses.

    Attributes:
        config: the :class:`FIMConfig`.
        candidates: the candidate list (from ``config.candidates``), in the decoder's order.
        companions: {state dimension: the FIM for contexts of that dimension} (not part of this
            model's parameters or state dict, but ``.to()``, ``.train()`` and ``requires_grad_``
            reach them; :func:`load_fim` fills it).
    """

    def __init__(self, config: FIMConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FIMConfig()
        self.candidates: list[Candidate] = cfg.candidate_list()
        self.companions: dict[int, FIM] = {}
        names = [c.name for c in self.candidates]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names must be unique, got {names}")
        net, H = cfg.network, cfg.network.d_model
        self.drift_option_names = [n for c in self.candidates for n in c.drift_options]
        self.diffusion_option_names = [n for c in self.candidates for n in c.diffusion_options]
        n_features = sum(len(c.query_feature_names) + len(c.global_feature_names) for c in self.candidates)
        self.token_embed = mlp(net.token_features, H, H)
        self.latents = nn.Parameter(torch.randn(net.n_latents, H) * LATENT_INIT_STD)
        self.enc_cross = nn.ModuleList([Block(H, net.n_heads) for _ in range(net.n_encoder_blocks)])
        self.enc_self = nn.ModuleList([Block(H, net.n_heads) for _ in range(net.n_encoder_blocks)])
        self.query_embed = mlp(n_features, H, H)
        self.decoder = nn.ModuleList([Block(H, net.n_heads) for _ in range(net.n_decoder_blocks)])
        # outputs: drift gates, then diffusion gates (softmax weights over the candidates' options)
        self.head = nn.Sequential(nn.LayerNorm(H), nn.Linear(H, H), nn.GELU(),
                                  nn.Linear(H, len(self.drift_option_names) + len(self.diffusion_option_names)))
        self.scale_head = nn.Sequential(nn.LayerNorm(H), nn.Linear(H, 1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        with torch.no_grad():  # start from the preferred options (the cross-validated drift, the quadratic g² fits)
            preferred = [c.preferred_drift for c in self.candidates if c.preferred_drift is not None]
            if preferred:
                self.head[-1].bias[self.drift_option_names.index(preferred[-1])] = PREFERRED_DRIFT_LOGIT
            nf = len(self.drift_option_names)
            for name in (n for c in self.candidates for n in c.preferred_diffusion):
                self.head[-1].bias[nf + self.diffusion_option_names.index(name)] = PREFERRED_DIFFUSION_LOGIT

    def _apply(self, fn, recurse: bool = True):
        """Apply ``fn`` to this model's tensors and to its companions' (``.to()``, ``.double()``, ...)."""
        super()._apply(fn, recurse)
        for other in self.companions.values():
            other._apply(fn, recurse)
        return self

    def train(self, mode: bool = True) -> "FIM":
        """Set training (``mode=True``) or evaluation mode, here and in the companions; returns self."""
        super().train(mode)
        for other in getattr(self, "companions", {}).values():
            other.train(mode)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "FIM":
        """Switch gradients of every parameter on or off, here and in the companions; returns self."""
        super().requires_grad_(requires_grad)
        for other in self.companions.values():
            other.requires_grad_(requires_grad)
        return self

    @property
    def supported_dims(self) -> tuple[int, ...]:
        """The state dimensions this model or one of its :attr:`companions` was trained for."""
        return tuple(sorted(set(self.config.trained_dims) | set(self.companions)))

    def for_dim(self, d: int) -> "FIM":
        """The model that handles contexts of state dimension ``d``: this one or a companion.

        Raises:
            ValueError: no model for ``d``.
        """
        if d in self.config.trained_dims:
            return self
        if d in self.companions:
            return self.companions[d]
        if d > self.config.network.max_dim:
            raise ValueError(f"paths have d={d}; this FIM supports d <= {self.config.network.max_dim}")
        raise ValueError(f"these FIM weights were trained for d in {self.supported_dims}; got d={d}")

    def with_candidate_settings(self, **settings) -> "FIM":
        """This model with other statistical settings of its candidates (e.g. ``family_penalty=2.0``):
        the same network weights, a candidate list rebuilt from ``replace(config.candidates, **settings)``.

        Only settings that keep every option and feature name are allowed (penalties, grids,
        temperatures; not bandwidths, degrees or families, which change what the network reads).

        Raises:
            ValueError: a setting changes the names of the options or features.
        """
        new = FIMConfig(network=self.config.network, candidates=replace(self.config.candidates, **settings))
        if new.query_feature_names() != self.config.query_feature_names() or \
                new.drift_option_names() != self.drift_option_names or \
                new.diffusion_option_names() != self.diffusion_option_names:
            raise ValueError(f"the settings {settings} change the options or features the network reads; "
                             "build a new FIM and warm-start it instead (fimcg.fim.training.warm_start)")
        model = FIM(new).to(self.latents.device)
        model.load_state_dict(self.state_dict())
        model.train(self.training)
        model.requires_grad_(any(p.requires_grad for p in self.parameters()))
        model.meta = getattr(self, "meta", {})
        model.companions = dict(self.companions)
        return model

    def feature_layer(self) -> nn.Linear:
        """The first layer of the query embedding: input column j reads query feature j
        (:meth:`FIMConfig.query_feature_names`)."""
        return self.query_embed[0]

    def gate_layer(self) -> nn.Linear:
        """The output layer of the gates: rows are the drift options, then the diffusion options
        (:attr:`drift_option_names`, :attr:`diffusion_option_names`)."""
        return self.head[-1]

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
        tokens = self.token_embed(feats.to(self.latents.dtype))  # float64 data meets float32 weights
        lat = self.latents[None].expand(B, -1, -1)
        for cross, self_ in zip(self.enc_cross, self.enc_self):
            lat = self_(cross(lat, tokens))
        return lat

    def decode_normalised(self, norm: Normalised, latents: torch.Tensor, q: torch.Tensor) -> Prediction:
        """Decode normalised query locations q (B, G, D) into normalised drift and diffusion.

        Every candidate of :attr:`candidates` runs in order on a shared :class:`DecoderState` (the
        queries and, when a candidate asks for them, test points at data quantiles); their query
        and global features go into the decoder, whose output gates mix their options.
        """
        B, G, D = q.shape
        n_test = max(c.test_points for c in self.candidates)
        points = torch.cat([q, test_points(norm, n_test)], dim=1) if n_test else q
        state = DecoderState(norm=norm, points=points, n_queries=G,
                             cross_validate=any(c.needs_cross_validation for c in self.candidates))
        feats, drifts, g2s, stats = [], [], [], {}
        for cand in self.candidates:
            out = cand(state)
            state.add(cand, out)
            if out.query_features is not None:
                feats.append(out.query_features)
            if out.global_features is not None:
                feats.append(out.global_features[:, None, :].expand(B, G, out.global_features.shape[-1]))
            if out.drift is not None:
                drifts.append(out.drift)
            if out.g2 is not None:
                g2s.append(out.g2)
            stats.update(out.statistics)
        h = self.query_embed(torch.cat(feats, dim=-1).to(self.latents.dtype))
        for block in self.decoder:
            h = block(h, latents)
        out = self.head(h)
        nf = len(self.drift_option_names)
        # drift: a location-wise mixture of the candidates' drifts
        gate_f = torch.softmax(out[..., :nf], dim=-1)  # (B, G, n_drift_options)
        options = torch.cat(drifts, dim=2) * norm.dim_mask[:, None, None, :]  # (B, G, n_drift_options, D)
        drift = (gate_f[..., None] * options).sum(dim=2)  # (B, G, D)
        # diffusion: a gated geometric mean of consistent estimators of g'² (raw for clean data,
        # noise-robust for noisy data): the network chooses the estimator per location and
        # context but cannot bias the result as a whole
        gate_g = torch.softmax(out[..., nf:], dim=-1)  # (B, G, n_diffusion_options)
        g2 = torch.cat(g2s, dim=2)  # (B, G, n_diffusion_options, D)
        log_g = 0.5 * (gate_g[..., None] * torch.log(g2.clamp_min(LOG_FLOOR))).sum(dim=2)
        diffusion = torch.exp(log_g) * norm.dim_mask[:, None, :]
        log_scale = self.scale_head(h.detach()).squeeze(-1)
        return Prediction(drift=drift, diffusion=diffusion, log_scale=log_scale, drift_gates=gate_f,
                          drift_options=options, diffusion_gates=gate_g, statistics=stats)

    def predict_normalised(self, paths: torch.Tensor, dt: torch.Tensor | float, q: torch.Tensor) -> Prediction:
        """Batched pass in normalised output units (pretraining's).

        Args:
            paths: (B, P, T, d) B datasets of P paths (original units).
            dt: float or (B,) observation steps (original time units).
            q: (B, G, d) query locations in original units.
        Returns:
            :class:`Prediction` of f', g' (normalised units, (B, G, max_dim)) at the queries.
        """
        max_dim = self.config.network.max_dim
        norm = normalise(paths, dt, max_dim=max_dim)
        lat = self.encode_normalised(norm)
        d = paths.shape[-1]
        qn = (q - norm.mean[:, None, :d]) / norm.std[:, None, :d]
        qn = F.pad(qn, (0, max_dim - d))
        return self.decode_normalised(norm, lat, qn)

    def forward(self, paths, dt: TimeSteps, locations, *, warn: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``fim(paths, dt, locations)``: the estimator call shape, i.e. :meth:`estimate`.

        Args:
            paths: (n_paths, T, d) observations (see :meth:`estimate`). dt: the time step(s).
            locations: (G, d) query states.
        Returns:
            drift (G, d) and diffusion (G, d) in the units of ``paths`` and ``dt``.
        """
        return self.estimate(paths, dt, locations, warn=warn)

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
                return groups, [group_steps(s, g, name=f"dt[{i}]") for i, (s, g) in enumerate(zip(dt, groups))]
            return groups, [group_steps(dt, g, name="dt") for g in groups]
        group = check_paths(as_tensor(paths, name="paths", device=self._device()))[None]
        return [group], [group_steps(dt, group, name="dt")]

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
        if self.for_dim(d) is not self:
            return self.for_dim(d).encode(paths, dt)
        dtype = torch.float32 if groups[0].dtype != torch.float64 else torch.float64
        groups = [g.to(dtype) for g in groups]
        # one dataset: normalise all groups together (tokens of all paths share one set)
        allobs = torch.cat([g.reshape(-1, d) for g in groups])
        mean, std = allobs.mean(dim=0), allobs.std(dim=0)
        if bool((std.detach() <= CONSTANT_TOLERANCE * (1 + mean.detach().abs())).any()):
            raise ValueError("paths are constant (zero variance) in at least one dimension: nothing moves, "
                             "so drift and diffusion cannot be inferred")
        a = None  # regular sampling: normalise() rescales time by 0.01 / dt
        if any(isinstance(s, torch.Tensor) for s in steps):  # irregular: one rescaling for the whole dataset
            steps = [s.to(dtype) if isinstance(s, torch.Tensor) else torch.full((1, g.shape[1], g.shape[2] - 1), s,
                                                                                  dtype=dtype, device=g.device)
                     for s, g in zip(steps, groups)]
            log_steps = torch.cat([torch.log(s).reshape(-1) for s in steps])
            a = TIME_SCALE / torch.exp(log_steps.mean())[None]  # 0.01 / geometric mean step
        parts = [normalise(g, s, max_dim=self.config.network.max_dim, mean=mean[None], std=std[None], time_factor=a)
                 for g, s in zip(groups, steps)]
        norm = concat_normalised(parts)
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
        if self.for_dim(d) is not self:
            return self.for_dim(d).evaluate(ctx, locations, warn=warn)
        loc = check_locations(locations, d=d).to(ctx.latents.device, ctx.latents.dtype)
        if warn:
            span = ctx.data_max[0] - ctx.data_min[0]
            lo, hi = ctx.data_min[0] - EXTRAPOLATION_MARGIN * span, ctx.data_max[0] + EXTRAPOLATION_MARGIN * span
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
        return F.pad(qn, (0, self.config.network.max_dim - d))

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
        model = self.for_dim(d)  # this model or the companion that encoded the context
        loc = check_locations(locations, d=d).to(ctx.latents.device, ctx.latents.dtype)
        with torch.no_grad():
            pred = model.decode_normalised(ctx.norm, ctx.latents, model._normalised_locations(ctx, loc))
        units = ctx.norm.time_factor[0] * ctx.norm.std[0, :d]  # normalised drift -> original units
        return {
            "drift_gates": {n: pred.drift_gates[0, :, i] for i, n in enumerate(model.drift_option_names)},
            "drift_options": {n: pred.drift_options[0, :, i, :d] * units
                              for i, n in enumerate(model.drift_option_names)},
            "diffusion_gates": {n: pred.diffusion_gates[0, :, i] for i, n in enumerate(model.diffusion_option_names)},
            "statistics": {n: v[0, :d] for n, v in pred.statistics.items()},
        }

    def sde(self, paths, dt: TimeSteps, *, grid_size: int | None = None, margin: float = 0.2,
            name: str = "FIM estimate") -> SDE:
        """The inferred SDE as a :class:`fimcg.SDE` that :func:`fimcg.simulate` runs.

        Drift and diffusion are tabulated once on a grid spanning the data range widened by
        ``margin`` (fraction of the range) on each side, ``grid_size`` points per axis (default
        512 in 1-D, 64 per axis in 2-D), and interpolated (:func:`fimcg.sde.model.tabulated_sde`);
        beyond the grid the drift continues linearly and the diffusion is held constant.
        """
        with torch.no_grad():
            ctx = self.encode(paths, dt)

            def coefficients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                return self.evaluate(ctx, x.to(ctx.latents.dtype), warn=False)
            return tabulated_sde(coefficients, ctx.data_min[0], ctx.data_max[0], grid_size=grid_size, margin=margin,
                                 name=name)
