"""The FIM: a set encoder over transitions and a decoder that weighs classic estimates by the context.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
import torch
import torch.nn.functional as F
from torch import nn
from .._validation import as_tensor, check_locations, check_paths
from ..sde.model import SDE, Tabulated
from .config import FIMConfig
from .normalise import Normalised, TIME_SCALE, TimeSteps, _concat_normalised, _steps, normalise, test_points
from .network import _Block, _mlp
from .candidates import _RegressionSums, _binning, cross_validated_drift, family_fits, high_degree_fits, kernel_cross_validation, kernel_features, polynomial_fits


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
