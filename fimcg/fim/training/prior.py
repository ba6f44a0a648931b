"""The synthetic prior the FIM is pretrained on: random SDEs and their observed paths.

An equation is drawn per state dimension i as::

    f_i(x) = S · [ a0 + a1 x_i + a2 x_i² + a3 x_i³            (sparse polynomial, degree ≤ 3)
                   + b_t tanh(k_t (x_i − c_t))                (saturating)
                   + b_s sin(ω x_i + φ)                       (periodic)
                   + b_r x_i / (1 + r x_i²)                   (rational)
                   + Σ_k a_k exp(-(x_i - c_k)² / 2w_k²) ]      (smooth bumps)
             + Σ_{j≠i} κ_ij x_j                               (weak linear coupling, d > 1)

and, for d > 1 with probability ``p_coupled`` each, terms that couple the coordinates (PriorConfig
defaults 0: the prior of the 1-D stages)::

    f(x) += -∇ Σ_k a_k exp(-|x - c_k|² / 2w_k²)              (a landscape of 1-4 Gaussian wells and hills)
          + (-γ_ij x_i x_j²)_i                                 (gradient of -Σ γ_ij x_i² x_j² / 2: polynomial coupling)
          + ω exp(-|x|² / 2r²) (-x_2, x_1, 0, ...)             (a rotation: a non-gradient drift)

    g_i(x) = σ · sqrt(max(c0 + c1 x_i + c2 x_i², 0)) · (1 + e_t tanh(k_g x_i) + e_s sin(ω_g x_i + φ_g))
                 · exp(Σ_k e_k exp(-(x_i - c'_k)² / 2w'_k²))

with random sparsity: each equation keeps a random subset of the polynomial degrees and, with
probability ``p_nonpolynomial``, one non-polynomial drift term; the diffusion is constant,
sqrt-quadratic (including "semicircle" shapes that vanish at the edges) or modulated. This is
FIM-SDE's polynomial prior (drift degree ≤ 3, diffusion sqrt of a degree-≤2 polynomial) widened with
smooth non-polynomial families. With ``p_smooth`` (default 0: the prior of the shipped stages 1-3)
the drift of a dimension also gets 1 to 4 Gaussian bumps of random heights, centres and widths, and
with ``p_smooth_diffusion`` g gets a log-modulation by such bumps: random smooth functions of no
named family (a sum of radial basis functions, like a sample of a Gaussian process), which teach the
gates to weigh estimates for shapes that no candidate names.

Observations: sampling step dt log-uniform in ``dt_range`` (0.001 to 0.1 time units), simulated by
Euler–Maruyama with ``ceil(dt / max_step)`` substeps (at most ``max_substeps``); 1 to 100 paths of
10 to 5000 observations (at most ``max_iterations`` integration steps per path, so coarse sampling
steps come with more, shorter paths); x0 ~ N(0, s0²) with s0 random; paths leaving |x| < 100 or becoming
NaN are rejected; with probability ``p_noise`` additive Gaussian observation noise of standard
deviation u · std(x), u ~ U(0, ``max_noise``).

Everything is vectorised over equations: one call to :func:`fimcg.simulate` integrates a whole
pool of equations (each row of the batch has its own coefficients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch

from ...sde.model import SDE
from ...sde.simulate import simulate

__all__ = ["PriorConfig", "EquationBatch", "TrainingBatch", "sample_equations", "SyntheticPrior"]


@dataclass
class PriorConfig:
    """Knobs of the synthetic prior (defaults: the shipped FIM's)."""

    dim: int = 1
    dt_range: tuple[float, float] = (0.001, 0.1)
    max_step: float = 0.004
    max_substeps: int = 25
    max_iterations: int = 5000  # Euler-Maruyama steps per simulated path (observations x substeps)
    n_paths_range: tuple[int, int] = (1, 100)
    transitions_range: tuple[int, int] = (100, 50000)  # per equation
    min_length: int = 10
    n_queries: int = 32
    p_nonpolynomial: float = 0.5
    p_noise: float = 0.35
    max_noise: float = 0.05
    bound: float = 100.0
    p_smooth: float = 0.0
    p_smooth_diffusion: float = 0.0
    p_coupled: float = 0.0
    queries_at_data: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "PriorConfig":
        d = dict(d)
        for key in ("dt_range", "n_paths_range", "transitions_range"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _uniform(n, lo, hi, gen):
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def _log_uniform(n, lo, hi, gen):
    return torch.exp(_uniform(n, math.log(lo), math.log(hi), gen))


@dataclass
class EquationBatch:
    """Coefficients of B random equations in d dimensions; each tensor has leading shape (B, d).

    ``drift(x)`` and ``diffusion(x)`` take states (B, ..., d) (row b uses equation b).
    """

    poly: torch.Tensor  # (B, d, 4) a0..a3 (already multiplied by the drift scale)
    tanh: torch.Tensor  # (B, d, 3) amplitude, steepness, centre
    sine: torch.Tensor  # (B, d, 3) amplitude, frequency, phase
    rational: torch.Tensor  # (B, d, 2) amplitude, r
    coupling: torch.Tensor  # (B, d, d) linear coupling (zero diagonal)
    diff_poly: torch.Tensor  # (B, d, 3) c0, c1, c2 (sigma² folded in)
    diff_mod: torch.Tensor  # (B, d, 5) e_t, k_g, e_s, w_g, phi_g
    bumps: torch.Tensor | None = None  # (B, d, K, 3) height, centre, width of the drift's Gaussian bumps
    diff_bumps: torch.Tensor | None = None  # (B, d, K, 3) the same for log g
    wells: torch.Tensor | None = None  # (B, K, 2 + d) height a, width w, centre c of a landscape's Gaussians
    cross: torch.Tensor | None = None  # (B, d, d) γ of the polynomial coupling (symmetric, zero diagonal)
    rotation: torch.Tensor | None = None  # (B, 2) ω, r of the rotational drift

    @property
    def n(self) -> int:
        return self.poly.shape[0]

    @property
    def dim(self) -> int:
        return self.poly.shape[1]

    def _coef(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # (B, d, k) -> broadcastable against x (B, ..., d) with a trailing k axis
        shape = (t.shape[0],) + (1,) * (x.ndim - 2) + t.shape[1:]
        return t.reshape(shape).to(x.dtype)

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) for states x of shape (B, ..., d); returns (B, ..., d)."""
        p, th, sn, ra = (self._coef(t, x) for t in (self.poly, self.tanh, self.sine, self.rational))
        f = p[..., 0] + x * (p[..., 1] + x * (p[..., 2] + x * p[..., 3]))
        f = f + th[..., 0] * torch.tanh(th[..., 1] * (x - th[..., 2]))
        f = f + sn[..., 0] * torch.sin(sn[..., 1] * x + sn[..., 2])
        f = f + ra[..., 0] * x / (1 + ra[..., 1] * x * x)
        if self.bumps is not None:
            f = f + self._bumps(self.bumps, x)
        if self.dim > 1:
            c = self.coupling.to(x.dtype).reshape((x.shape[0],) + (1,) * (x.ndim - 2) + self.coupling.shape[1:])
            f = f + (c * x[..., None, :]).sum(-1)
            f = f + self._coupled(x)
        return f

    def _coupled(self, x: torch.Tensor) -> torch.Tensor:
        """The coupled drift terms (module docstring) at states x (B, ..., d), (B, ..., d)."""
        out = torch.zeros_like(x)
        lead = (x.shape[0],) + (1,) * (x.ndim - 2)
        if self.wells is not None:
            w = self.wells.to(x.dtype).reshape(lead + self.wells.shape[1:])  # (B, ..., K, 2 + d)
            diff = x[..., None, :] - w[..., 2:]  # (B, ..., K, d)
            width2 = w[..., 1:2] ** 2
            e = w[..., 0:1] * torch.exp(-0.5 * (diff * diff).sum(-1, keepdim=True) / width2)
            out = out + (e * diff / width2).sum(-2)  # -∇ of Σ a exp(-|x - c|² / 2w²)
        if self.cross is not None:
            g = self.cross.to(x.dtype).reshape(lead + self.cross.shape[1:])  # (B, ..., d, d)
            out = out - x * (g * (x * x)[..., None, :]).sum(-1)
        if self.rotation is not None:
            r = self.rotation.to(x.dtype).reshape(lead + (2,))
            radial = r[..., 0] * torch.exp(-0.5 * (x * x).sum(-1) / r[..., 1] ** 2)
            turn = torch.zeros_like(x)
            turn[..., 0], turn[..., 1] = -x[..., 1], x[..., 0]
            out = out + radial[..., None] * turn
        return out

    def diffusion(self, x: torch.Tensor) -> torch.Tensor:
        """g(x) >= 0 for states x of shape (B, ..., d); returns (B, ..., d)."""
        c, m = self._coef(self.diff_poly, x), self._coef(self.diff_mod, x)
        g2 = c[..., 0] + x * (c[..., 1] + x * c[..., 2])
        mod = 1 + m[..., 0] * torch.tanh(m[..., 1] * x) + m[..., 2] * torch.sin(m[..., 3] * x + m[..., 4])
        if self.diff_bumps is not None:
            mod = mod * torch.exp(self._bumps(self.diff_bumps, x))
        return torch.sqrt(g2.clamp_min(0)) * mod

    def _bumps(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Σ_k height_k exp(-(x - centre_k)² / 2 width_k²) for states x (B, ..., d) and t (B, d, K, 3)."""
        c = t.reshape((t.shape[0],) + (1,) * (x.ndim - 2) + t.shape[1:]).to(x.dtype)  # (B, ..., d, K, 3)
        z = (x[..., None] - c[..., 1]) / c[..., 2]
        return (c[..., 0] * torch.exp(-0.5 * z * z)).sum(-1)

    def repeat(self, n_paths: int) -> "EquationBatch":
        """The same equations with every row repeated ``n_paths`` times (row b·P + p)."""
        return EquationBatch(**{k: None if v is None else v.repeat_interleave(n_paths, dim=0)
                                for k, v in self.__dict__.items()})

    def select(self, idx: torch.Tensor) -> "EquationBatch":
        return EquationBatch(**{k: None if v is None else v[idx] for k, v in self.__dict__.items()})

    def as_sde(self, n_paths: int = 1) -> SDE:
        """An :class:`~fimcg.SDE` over B·n_paths rows (row b·n_paths + p follows equation b)."""
        rep = self.repeat(n_paths)

        def drift(x):
            return rep.drift(x)

        def diffusion(x):
            return rep.diffusion(x)

        return SDE(drift, diffusion, dim=self.dim, name="prior sample")

    def describe(self, b: int) -> str:
        """A readable formula of equation ``b`` (1-D view of every dimension)."""
        out = []
        for i in range(self.dim):
            terms = [f"{float(c):+.3g}·x^{k}" for k, c in enumerate(self.poly[b, i]) if float(c) != 0]
            a, k, c = (float(v) for v in self.tanh[b, i])
            if a:
                terms.append(f"{a:+.3g}·tanh({k:.3g}(x{-c:+.3g}))")
            a, w, ph = (float(v) for v in self.sine[b, i])
            if a:
                terms.append(f"{a:+.3g}·sin({w:.3g}x{ph:+.3g})")
            a, r = (float(v) for v in self.rational[b, i])
            if a:
                terms.append(f"{a:+.3g}·x/(1+{r:.3g}x²)")
            if self.bumps is not None:
                terms += [f"{float(a):+.3g}·exp(-(x{-float(c):+.3g})²/(2·{float(w):.3g}²))"
                          for a, c, w in self.bumps[b, i] if float(a) != 0]
            c0, c1, c2 = (float(v) for v in self.diff_poly[b, i])
            out.append(f"f{i}(x) = {' '.join(terms) or '0'};  g{i}(x)² ∝ max({c0:.3g}{c1:+.3g}x{c2:+.3g}x², 0)")
        if self.dim > 1:
            extra = []
            if self.wells is not None and bool((self.wells[b, :, 0] != 0).any()):
                extra.append(f"{int((self.wells[b, :, 0] != 0).sum())} Gaussian well(s)/hill(s) (-grad)")
            if self.cross is not None and bool((self.cross[b] != 0).any()):
                extra.append("polynomial coupling -γ x_i x_j²")
            if self.rotation is not None and float(self.rotation[b, 0]) != 0:
                extra.append(f"rotation ω = {float(self.rotation[b, 0]):.3g}")
            out.append("coupled terms: " + (", ".join(extra) if extra else "none") + "; linear coupling κ")
        return "\n".join(out)


#: most Gaussian bumps per drift or log-diffusion of a dimension (``p_smooth``)
MAX_BUMPS = 4


def sample_equations(n: int, *, dim: int = 1, p_nonpolynomial: float = 0.5, p_smooth: float = 0.0,
                     p_smooth_diffusion: float = 0.0, p_coupled: float = 0.0,
                     generator: torch.Generator | None = None) -> EquationBatch:
    """Draw ``n`` random equations from the prior (see the module docstring). With ``p_smooth``,
    ``p_smooth_diffusion`` and ``p_coupled`` at 0 no bumps or coupled terms are drawn, and the
    equations of a seed are those of the prior without them."""
    gen = generator
    B, d = n, dim
    shape = (B, d)

    def rn(*s):
        return torch.randn(*s, generator=gen)

    def ru(*s):
        return torch.rand(*s, generator=gen)

    # sparse polynomial: random subset of degrees, coefficients N(0, 1), cubic usually confining
    poly = rn(B, d, 4)
    keep = ru(B, d, 4) < ru(B, d, 1).clamp(0.25, 1.0)
    poly = poly * keep
    confine = ru(B, d) < 0.85
    poly[..., 3] = torch.where(confine, -poly[..., 3].abs(), poly[..., 3])
    # non-polynomial terms: at most one per dimension
    kind = torch.randint(0, 3, shape, generator=gen)
    on = ru(*shape) < p_nonpolynomial
    tanh = torch.stack([rn(*shape) * 2, _log_uniform(B * d, 0.5, 4, gen).reshape(shape), rn(*shape) * 0.5], -1)
    sine = torch.stack([rn(*shape) * 2, _log_uniform(B * d, 0.5, 5, gen).reshape(shape), ru(*shape) * 2 * math.pi], -1)
    rational = torch.stack([rn(*shape) * 2, _log_uniform(B * d, 0.3, 3, gen).reshape(shape)], -1)
    tanh = tanh * (on & (kind == 0))[..., None]
    sine = sine * (on & (kind == 1))[..., None]
    rational = rational * (on & (kind == 2))[..., None]
    scale = _log_uniform(B * d, 0.3, 5.0, gen).reshape(shape)
    poly = poly * scale[..., None]
    tanh[..., 0] *= scale
    sine[..., 0] *= scale
    rational[..., 0] *= scale
    coupling = torch.zeros(B, d, d)
    if d > 1:
        coupling = rn(B, d, d) * 0.3 * (ru(B, 1, 1) < 0.5)
        coupling = coupling * (1 - torch.eye(d))
    # diffusion: constant (30%), sqrt-quadratic (45%), modulated (25%)
    mode = ru(*shape)
    sigma2 = _log_uniform(B * d, 0.1, 2.0, gen).reshape(shape) ** 2
    c0 = _uniform(B * d, 0.3, 1.5, gen).reshape(shape)
    quad = (mode >= 0.3) & (mode < 0.75)
    c1 = rn(*shape) * 0.5 * quad
    c2 = rn(*shape) * 0.5 * quad
    diff_poly = torch.stack([c0, c1, c2], -1) * sigma2[..., None]
    modulated = mode >= 0.75
    e_t = _uniform(B * d, -0.6, 0.6, gen).reshape(shape) * modulated
    e_s = _uniform(B * d, -0.3, 0.3, gen).reshape(shape) * modulated
    diff_mod = torch.stack([e_t, _log_uniform(B * d, 0.5, 3, gen).reshape(shape), e_s,
                            _log_uniform(B * d, 0.5, 5, gen).reshape(shape), ru(*shape) * 2 * math.pi], -1)
    bumps = diff_bumps = None
    if p_smooth > 0 or p_smooth_diffusion > 0:  # drawn last, so that the draws above stay those of a seed

        def bump_set(p: float, height: torch.Tensor) -> torch.Tensor:
            count = torch.randint(1, MAX_BUMPS + 1, (B, d, 1), generator=gen)
            used = (torch.arange(MAX_BUMPS)[None, None] < count) & (ru(B, d, 1) < p)
            return torch.stack([height * used, _uniform(B * d * MAX_BUMPS, -2.0, 2.0, gen).reshape(B, d, MAX_BUMPS),
                                _log_uniform(B * d * MAX_BUMPS, 0.2, 1.5, gen).reshape(B, d, MAX_BUMPS)], -1)

        bumps = bump_set(p_smooth, rn(B, d, MAX_BUMPS) * 1.5 * scale[..., None])
        diff_bumps = bump_set(p_smooth_diffusion, _uniform(B * d * MAX_BUMPS, -0.6, 0.6, gen).reshape(B, d, MAX_BUMPS))
    wells = cross = rotation = None
    if d > 1 and p_coupled > 0:  # drawn last, as the bumps
        size = scale.mean(dim=1)  # (B,) the equation's drift scale
        count = torch.randint(1, MAX_BUMPS + 1, (B, 1), generator=gen)
        used = (torch.arange(MAX_BUMPS)[None] < count) & (ru(B, 1) < p_coupled)
        width = _log_uniform(B * MAX_BUMPS, 0.3, 1.5, gen).reshape(B, MAX_BUMPS)
        height = rn(B, MAX_BUMPS) * 1.5 * size[:, None] * width ** 2 * used  # largest force ∝ height / width ∝ width
        wells = torch.cat([height[..., None], width[..., None], _uniform(B * MAX_BUMPS * d, -1.5, 1.5, gen)
                           .reshape(B, MAX_BUMPS, d)], dim=-1)
        gamma = ru(B, d, d) * size[:, None, None] * (ru(B, 1, 1) < p_coupled)
        cross = torch.triu(gamma, diagonal=1)
        cross = cross + cross.transpose(1, 2)
        rotation = torch.stack([rn(B) * 2 * size * (ru(B) < p_coupled), _log_uniform(B, 0.5, 3.0, gen)], dim=-1)
    return EquationBatch(poly=poly, tanh=tanh, sine=sine, rational=rational, coupling=coupling,
                         diff_poly=diff_poly, diff_mod=diff_mod, bumps=bumps, diff_bumps=diff_bumps,
                         wells=wells, cross=cross, rotation=rotation)


@dataclass
class TrainingBatch:
    """B datasets ready for the FIM loss.

    Attributes:
        paths: (B, P, T, d) observed (possibly noisy) paths.
        dt: observation step (time units), shared by the batch.
        queries: (B, G, d) query locations inside the occupied region.
        drift: (B, G, d) true f at the queries.
        diffusion: (B, G, d) true g at the queries.
        noise: (B,) observation-noise standard deviation (0 if clean).
    """

    paths: torch.Tensor
    dt: float
    queries: torch.Tensor
    drift: torch.Tensor
    diffusion: torch.Tensor
    noise: torch.Tensor

    def to(self, device) -> "TrainingBatch":
        return TrainingBatch(self.paths.to(device), self.dt, self.queries.to(device), self.drift.to(device),
                             self.diffusion.to(device), self.noise.to(device))


class SyntheticPrior:
    """Endless stream of :class:`TrainingBatch` es drawn from the prior.

    Each *episode* draws one sampling regime (dt, substeps, number and length of paths), simulates a
    pool of equations at once, rejects diverged ones, and cuts the pool into batches whose total
    token count is about ``tokens_per_batch``. Iteration shuffles batches of several episodes
    through a buffer so that consecutive training steps see different regimes.

    Args:
        config: the prior's knobs.
        seed: seed of the private generator (episodes are reproducible).
        tokens_per_batch: target number of transitions per batch (sets the batch size B).
        min_rows: simulate at least this many paths per episode (a long episode is cut into up to
            16 batches: the integrator's per-step cost hardly depends on the number of paths).
        max_batch: largest number of equations in one batch.
        buffer: batches held for shuffling.
    """

    def __init__(self, config: PriorConfig | None = None, *, seed: int = 0, tokens_per_batch: int = 24000,
                 min_rows: int = 1024, max_batch: int = 32, buffer: int = 24) -> None:
        self.config = config or PriorConfig()
        self.gen = torch.Generator().manual_seed(int(seed))
        self.tokens_per_batch = tokens_per_batch
        self.min_rows = min_rows
        self.max_batch = max_batch
        self.buffer = buffer

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])

    def _regime(self) -> tuple[float, int, int, int]:
        c, gen = self.config, self.gen
        dt = float(_log_uniform(1, *c.dt_range, gen))
        substeps = int(min(c.max_substeps, max(1, math.ceil(dt / c.max_step))))
        n_tok = int(_log_uniform(1, *c.transitions_range, gen))
        max_len = max(c.min_length, c.max_iterations // substeps)
        p_lo = max(c.n_paths_range[0], math.ceil(n_tok / (max_len - 1)))
        p_hi = max(p_lo, min(c.n_paths_range[1], n_tok // (c.min_length - 1)))
        n_paths = int(_log_uniform(1, p_lo, p_hi + 0.999, gen).floor().clamp(p_lo, p_hi))
        length = int(min(max_len, max(c.min_length, n_tok // n_paths + 1)))
        return dt, substeps, n_paths, length

    def episode(self) -> list[TrainingBatch]:
        """Simulate one pool and return its batches (possibly fewer if many equations diverged)."""
        c, gen = self.config, self.gen
        dt, substeps, P, T = self._regime()
        B = int(max(1, min(self.max_batch, self.tokens_per_batch // (P * (T - 1)))))
        n_batches = int(min(16, max(4, math.ceil(self.min_rows / (B * P)))))
        pool = B * n_batches
        eqs = sample_equations(pool, dim=c.dim, p_nonpolynomial=c.p_nonpolynomial, p_smooth=c.p_smooth,
                               p_smooth_diffusion=c.p_smooth_diffusion, p_coupled=c.p_coupled, generator=gen)
        x0 = torch.randn(pool * P, c.dim, generator=gen) * _log_uniform(pool, 0.3, 2.0, gen).repeat_interleave(P)[:, None]
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        paths = simulate(eqs.as_sde(P), x0, dt=dt, n_steps=T - 1, substeps=substeps, seed=seed,
                         bound=c.bound, on_divergence="nan").reshape(pool, P, T, c.dim)
        ok = torch.isfinite(paths).flatten(1).all(dim=1)
        std = paths.nan_to_num(0).flatten(1, 2).std(dim=1).min(dim=1).values
        ok &= std > 1e-3
        idx = torch.nonzero(ok).flatten()
        if len(idx) == 0:
            return []
        eqs, paths = eqs.select(idx), paths[idx]
        n = len(idx)
        flat = paths.flatten(1, 2)  # (n, P*T, d)
        if c.queries_at_data:  # observed states (in d > 1 the box of percentiles has empty corners)
            pick = torch.randint(0, flat.shape[1], (n, c.n_queries), generator=gen)
            queries = flat.gather(1, pick[..., None].expand(-1, -1, c.dim))
        else:  # uniform over the 2nd..98th percentile box of each dataset
            lo = torch.quantile(flat, 0.02, dim=1)
            hi = torch.quantile(flat, 0.98, dim=1)
            u = torch.rand(n, c.n_queries, c.dim, generator=gen)
            queries = lo[:, None] + u * (hi - lo)[:, None]
        drift, diffusion = eqs.drift(queries), eqs.diffusion(queries)
        # observation noise on a random subset
        noisy = torch.rand(n, generator=gen) < c.p_noise
        noise = noisy * torch.rand(n, generator=gen) * c.max_noise * flat.std(dim=1).mean(dim=1)
        paths = paths + noise[:, None, None, None] * torch.randn(paths.shape, generator=gen)
        batches = []
        for s in range(0, n, B):
            sl = slice(s, min(n, s + B))
            batches.append(TrainingBatch(paths[sl], dt, queries[sl], drift[sl], diffusion[sl], noise[sl]))
        return batches

    def __iter__(self) -> Iterator[TrainingBatch]:
        held: list[TrainingBatch] = []
        while True:
            while len(held) < self.buffer:
                held.extend(self.episode())
            i = int(torch.randint(0, len(held), (1,), generator=self.gen))
            yield held.pop(i)
