"""Coarse-graining video around a frozen estimator (by default the pretrained FIM).

``coarse_grain(frames, dt)`` learns an encoder from frames to a low-dimensional latent ``z`` and a
decoder back, such that the latent paths are well described by the SDE that a *frozen* estimator
infers from them: ``dZ = f̂(Z) dt + ĝ(Z) dW`` with ``(f̂, ĝ) = estimator(latent paths, dt, locations)``.
Only the encoder and decoder are trained; gradients flow through the frozen estimator into the
encoder.

The loss
--------
For frames ``y[p, t]`` (path p, time t), PCA features ``u = P(y)`` (a fixed linear projection),
latents ``z = N(E(u))`` (``E`` an MLP, ``N`` the anchoring normalisation) and the decoder ``D``::

    L = w_rec · L_rec + w_sim · L_sim

    L_rec = sum |D(z) - u|^2 / sum |u|^2                     (relative reconstruction error)

    L_sim = mean over sampled transitions (p, t) of                        (sim_space="frames")
            1/2 [ (δ - f̂(z_t) dt)^T (ĝ(z_t)^2 dt)^-1 (δ - f̂(z_t) dt) + log det(2π ĝ(z_t)^2 dt) ]
            + 1/2 log det(J^T J)
       with J = ∂D/∂z at z_t, δ = (J^T J)^-1 J^T (u[p, t+1] - u[p, t]),
       and (f̂, ĝ) = estimator(z, dt, {z_t}) on the encoded paths (the frozen FIM by default).

* ``L_sim`` is the Euler-Maruyama likelihood of the *observed frame increments* under the latent
  SDE the frozen estimator reads off the encoded paths, pushed into frame space through the decoder's
  local linearisation: δ is the latent step the frames imply, J the decoder's Jacobian, and the
  log-volume term makes it the density of the frames' displacement along the learned manifold.
  It is invariant under a smooth re-parameterisation of the latent (f̂, ĝ, δ and J transform
  together), so it cannot be lowered by squashing the latent; it is lowered when the estimator's SDE
  describes how the frames actually move, and it rises with encoder noise (noisy latents give the
  estimator a larger ĝ). Gradients reach the encoder through the estimator (its context is the
  encoded paths) and through the query points z_t.
* ``sim_space="latent"`` instead scores the latent increments Δz themselves (the naive choice). With a
  standardised latent that likelihood can be lowered by distorting the coordinate ("sticky" latents,
  flat inside the wells, steep at the barrier, have small local diffusion), and we measured that it
  does so; it is kept for comparison.
* Anchoring: ``N`` standardises the latent to zero mean and unit variance over the whole data set
  at every step (batch normalisation without the affine part, computed on all frames), so the
  offset and scale cannot collapse or drift. The FIM is equivariant to them, the likelihood is not.
* Initialisation (before the first step): the encoder is fitted to Isomap coordinates of the PCA
  features (:func:`fimcg.autoencoder.isomap_coordinates`), the arc length along the frames' curve,
  and the decoder (a cubic spline curve in PCA space for a 1-D latent) to invert it by exact least
  squares. The decoder is then frozen: it fixes the parameterisation, and the refinement adjusts the
  encoder only, with few Adam steps at a small learning rate.
* What the refinement does (bench/coarse_grain.py): on noisy frames it makes the latent less noisy
  and the diffusion more accurate (e.g. diffusion relative RMSE 0.10 -> 0.07 at pixel noise 0.02);
  on clean frames the Isomap latent is already precise to ~1e-3 and the refinement costs a little
  diffusion accuracy (0.012 -> 0.03). ``steps=0`` gives the initialised encoder with the zero-shot
  estimate.

Encoder precision: latent noise of standard deviation s adds about ``2 s^2 / dt`` to an estimated
g^2. :meth:`CoarseGrainResult.precision` estimates s from the data alone (negative lag-1
autocovariance of the drift-corrected increments) and reports the implied g^2 inflation.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch
from torch import nn

from ._validation import as_tensor, check_finite, check_int, check_positive
from .autoencoder import Decoder, Encoder, FramePCA, SplineDecoder, isomap_coordinates
from .checkpoint import load_checkpoint, save_checkpoint
from .sde import SDE, Tabulated

__all__ = ["coarse_grain", "CoarseGrainResult", "TrainingDiverged", "CheckpointMismatch", "prepare_frames",
           "as_estimator", "Tabulated", "run_pipeline", "pipeline_stage", "MIN_FRAMES_PER_PATH", "MIN_TRANSITIONS"]

Estimator = Callable[[torch.Tensor, float, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
R = TypeVar("R", bound="CoarseGrainResult")  # the result type a training run returns

#: a path needs this many frames, and the data set this many transitions, to define a context
MIN_FRAMES_PER_PATH = 10
MIN_TRANSITIONS = 100


class TrainingDiverged(RuntimeError):
    """Raised when the training loss becomes NaN/inf; the last good checkpoint is kept."""


class CheckpointMismatch(ValueError):
    """Raised when ``resume`` finds a checkpoint written for other data, options or another method."""


# ----------------------------------------------------------------------------------------------
# input checks


def prepare_frames(frames: Any, *, name: str = "frames") -> tuple[torch.Tensor, tuple[int, ...]]:
    """Validate video and return it as float32 (n_paths, T, *frame_shape) plus the frame shape.

    Accepts (n_paths, T, H, W) or (n_paths, T, C, H, W) arrays or tensors of any image size.
    Raises ``ValueError`` for a wrong rank, too few frames, NaN/inf, or frames that do not change.
    """
    t = as_tensor(frames, name=name)
    if t.ndim not in (4, 5):
        raise ValueError(f"{name} must have shape (n_paths, T, H, W) or (n_paths, T, C, H, W); got "
                         f"{t.ndim} dimensions {tuple(t.shape)}")
    if t.dtype != torch.float32 and t.dtype != torch.float64:
        t = t.float()
    n_paths, length = t.shape[:2]
    if n_paths < 1 or min(t.shape[2:]) < 1:
        raise ValueError(f"{name} is empty: shape {tuple(t.shape)}")
    if length < MIN_FRAMES_PER_PATH:
        raise ValueError(f"{name} has T={length} frames per path; at least {MIN_FRAMES_PER_PATH} are needed "
                         f"(shape {tuple(t.shape)})")
    if n_paths * (length - 1) < MIN_TRANSITIONS:
        raise ValueError(f"{name} holds {n_paths * (length - 1)} transitions (n_paths={n_paths}, T={length}); "
                         f"the estimator needs a context of at least {MIN_TRANSITIONS}")
    check_finite(t, name=name)
    flat = t.reshape(n_paths, length, -1)
    change = (flat[:, 1:] - flat[:, :-1]).abs().max()  # largest frame-to-frame change of any pixel
    scale = flat.abs().max().clamp_min(1e-12)
    if float(change) <= 1e-6 * float(scale) or float(change) == 0.0:
        raise ValueError(f"{name} are constant: no pixel changes over time, so nothing moves and there is no "
                         "dynamics to coarse-grain")
    return t, tuple(t.shape[2:])


def as_estimator(estimator: Any) -> tuple[Estimator, dict]:
    """Wrap ``estimator`` into a callable ``(paths, dt, locations) -> (drift, diffusion)``.

    Accepts a :class:`fimcg.fim.FIM` (its ``estimate`` is used, without extrapolation warnings) or any
    callable with that signature. Returns the callable and a description {"name", "max_dim",
    "trained_dims"}.
    """
    from .fim import FIM

    if isinstance(estimator, FIM):
        fim = estimator

        def call(paths, dt, locations):
            f, g = fim.estimate(paths, dt, locations, warn=False)
            dev = paths.device if isinstance(paths, torch.Tensor) else f.device
            return f.to(dev), g.to(dev)
        return call, {"name": "FIM", "max_dim": fim.config.max_dim, "trained_dims": tuple(fim.config.trained_dims)}
    if not callable(estimator):
        raise TypeError(f"estimator must be a FIM or a callable (paths, dt, locations) -> (drift, diffusion), "
                        f"got {type(estimator).__name__}")
    name = getattr(estimator, "__name__", type(estimator).__name__)
    return estimator, {"name": name, "max_dim": 3, "trained_dims": (1, 2, 3)}


def _check_latent_dim(latent_dim: Any, info: dict) -> int:
    latent_dim = check_int(latent_dim, name="latent_dim", minimum=1)
    if latent_dim > info["max_dim"]:
        raise ValueError(f"latent_dim={latent_dim} is larger than the estimator {info['name']} supports "
                         f"(d <= {info['max_dim']})")
    if latent_dim not in info["trained_dims"]:
        raise ValueError(f"latent_dim={latent_dim}: the estimator {info['name']} was trained for d in "
                         f"{info['trained_dims']} only")
    return latent_dim


def _fingerprint(frames: torch.Tensor, dt: float) -> str:
    h = hashlib.sha256()
    h.update(repr((tuple(frames.shape), float(dt))).encode())
    flat = frames.reshape(-1)
    m = min(flat.numel(), 100_000)
    idx = torch.arange(m, dtype=torch.int64) * (flat.numel() - 1) // max(m - 1, 1)
    h.update(flat[idx].detach().cpu().double().numpy().tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# the estimate on the encoded data


def _estimate(estimator: Estimator, z: torch.Tensor, dt: float, loc: torch.Tensor, context_size: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimator on latent paths z (n_paths, T, d), split into contexts of at most ``context_size``
    transitions (whole paths); drift and squared diffusion are averaged over the contexts."""
    n_paths, T, _ = z.shape
    per = max(1, context_size // max(T - 1, 1))
    if per >= n_paths:
        return estimator(z, dt, loc)
    n_chunks = math.ceil(n_paths / per)
    bounds = np.linspace(0, n_paths, n_chunks + 1).round().astype(int)
    fs, g2s, ws = [], [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        f, g = estimator(z[a:b], dt, loc)
        fs.append(f * (b - a))
        g2s.append(g ** 2 * (b - a))
        ws.append(b - a)
    total = float(sum(ws))
    return sum(fs) / total, torch.sqrt(sum(g2s) / total)


# ----------------------------------------------------------------------------------------------
# the result


@dataclass
class CoarseGrainResult:
    """A fitted coarse-graining: encoder, decoder, latent SDE and training history.

    Attributes:
        encoder, decoder: the trained networks (eval mode).
        dt: time between frames.
        latents: encoded training frames (n_paths, T, latent_dim), detached.
        history: one dict per training step (``step``, ``loss``, ``rec``, ``sim``, ``time_s``).
        config: the options ``coarse_grain`` was called with (and data facts).
        estimator: the frozen estimator used for drift and diffusion (not saved with the result).
    """

    encoder: Encoder
    decoder: nn.Module  # SplineDecoder (1-D latent) or Decoder
    dt: float
    latents: torch.Tensor
    history: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    estimator: Estimator | None = None

    @property
    def latent_dim(self) -> int:
        return self.latents.shape[-1]

    def _device(self) -> torch.device:
        return self.encoder.pca.mean.device

    def encode(self, frames: Any, *, batch: int = 8192) -> torch.Tensor:
        """Frames (..., *frame_shape) -> latents (..., latent_dim) (no gradient)."""
        t = as_tensor(frames, name="frames", device=self._device()).float()
        check_finite(t, name="frames")
        flat = self.encoder.pca.flatten(t)
        lead = flat.shape[:-1]
        flat = flat.reshape(-1, flat.shape[-1])
        with torch.no_grad():
            out = torch.cat([self.encoder(flat[i:i + batch].reshape(-1, *self.encoder.pca.frame_shape))
                             for i in range(0, flat.shape[0], batch)]) if flat.shape[0] else \
                torch.zeros(0, self.latent_dim)
        return out.reshape(*lead, self.latent_dim)

    def decode(self, latents: Any) -> torch.Tensor:
        """Latents (..., latent_dim) -> frames (..., *frame_shape) (no gradient)."""
        z = as_tensor(latents, name="latents", device=self._device()).float()
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"latents must have a last axis of size latent_dim={self.latent_dim}; got shape "
                             f"{tuple(z.shape)}")
        check_finite(z, name="latents")
        with torch.no_grad():
            return self.decoder(z)

    def _require_estimator(self) -> Estimator:
        if self.estimator is None:
            raise RuntimeError("this result has no estimator attached; pass estimator= to CoarseGrainResult.load")
        return self.estimator

    def coefficients(self, locations: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Drift (G, d) and diffusion (G, d) at latent ``locations`` (G, d), from the frozen estimator
        with the encoded training data as context."""
        from ._validation import check_locations

        loc = check_locations(locations, d=self.latent_dim).to(self.latents.device, self.latents.dtype)
        with torch.no_grad():
            return _estimate(self._require_estimator(), self.latents, self.dt, loc,
                             self.config.get("context_size", 12000))

    def drift(self, locations: Any) -> torch.Tensor:
        """Inferred latent drift at ``locations`` (G, d); returns (G, d) (latent units per time unit)."""
        return self.coefficients(locations)[0]

    def diffusion(self, locations: Any) -> torch.Tensor:
        """Inferred latent diffusion at ``locations`` (G, d); returns (G, d)."""
        return self.coefficients(locations)[1]

    def sde(self, *, grid_size: int = 256, margin: float = 0.1, name: str = "latent SDE") -> SDE:
        """The latent SDE as a :class:`fimcg.SDE` for :func:`fimcg.simulate`.

        1-D: drift and diffusion are tabulated once on ``grid_size`` points over the latent range
        widened by ``margin`` (fraction of the range) and linearly interpolated (drift continues
        linearly beyond, diffusion is held). d > 1: the estimator is called at every step (slow).
        """
        if self.latent_dim == 1:
            lo, hi = float(self.latents.min()), float(self.latents.max())
            span = hi - lo
            grid = torch.linspace(lo - margin * span, hi + margin * span, grid_size)
            f, g = self.coefficients(grid[:, None])
            return SDE(Tabulated(grid, f[:, 0], extrapolate=True), Tabulated(grid, g[:, 0], extrapolate=False),
                       dim=1, name=name, params={"latent_range": [lo, hi]})

        def drift(x):
            return self.coefficients(x.reshape(-1, x.shape[-1]))[0].reshape(x.shape)

        def diffusion(x):
            return self.coefficients(x.reshape(-1, x.shape[-1]))[1].reshape(x.shape)
        return SDE(drift, diffusion, dim=self.latent_dim, name=name)

    def precision(self) -> dict:
        """Encoder precision estimated from the latent paths alone.

        White encoder noise of standard deviation s makes consecutive increments covary by -s^2.
        With r_t = Δz_t - f̂(z_t) dt, ``s^2 ≈ max(0, -mean(r_t r_{t+1}))`` per dimension. Returns
        {"noise_std": s (latent units), "g2_inflation": 2 s^2 / dt, "g2_inflation_rel": that divided
        by the mean estimated g^2 over the data}. A residual O(dt^2) correlation of the diffusion
        itself sets a floor on the detectable s.
        """
        z = self.latents
        d = z.shape[-1]
        x = z[:, :-1].reshape(-1, d)
        m = min(x.shape[0], 512)
        idx = torch.arange(m, dtype=torch.int64) * (x.shape[0] - 1) // max(m - 1, 1)
        loc = x[idx]
        f, g = self.coefficients(loc)
        if d == 1:  # drift at every start state by interpolation between the sampled ones
            order = torch.argsort(loc[:, 0])
            fz = torch.from_numpy(np.interp(z[:, :-1].reshape(-1).cpu().double().numpy(),
                                            loc[order, 0].cpu().double().numpy(),
                                            f[order, 0].cpu().double().numpy()))
            fz = fz.to(z.dtype).reshape(z[:, :-1].shape).to(z.device)
        else:
            fz = torch.zeros_like(z[:, :-1])
        r = (z[:, 1:] - z[:, :-1]) - fz * self.dt
        cov = -(r[:, 1:] * r[:, :-1]).mean(dim=(0, 1))
        s2 = cov.clamp_min(0.0)
        infl = 2 * s2 / self.dt
        mean_g2 = (g ** 2).mean(dim=0)
        return {"noise_std": s2.sqrt().tolist(), "g2_inflation": infl.tolist(),
                "g2_inflation_rel": (infl / mean_g2.clamp_min(1e-12)).tolist()}

    # -- persistence ------------------------------------------------------------------------------

    FORMAT = "fimcg-coarse-grain-1"

    def state(self) -> dict:
        """Everything needed to rebuild the result (a dict of tensors and plain values)."""
        return {"format": self.FORMAT, "frame_shape": self.encoder.pca.frame_shape,
                "n_components": self.encoder.pca.n_components, "latent_dim": self.latent_dim,
                "hidden": self.config.get("hidden", 64), "depth": self.config.get("depth", 2),
                "encoder": self.encoder.state_dict(), "decoder": self.decoder.state_dict(), "dt": self.dt,
                "latents": self.latents.detach().cpu(), "history": self.history, "config": self.config}

    def save(self, path: str | Path) -> Path:
        """Save atomically (the estimator is not saved: the FIM ships with fimcg)."""
        return save_checkpoint(self.state(), path)

    @classmethod
    def from_state(cls, blob: dict, *, estimator: Any = None, device: str | torch.device = "cpu"
                   ) -> "CoarseGrainResult":
        """Rebuild a result from :meth:`state` (``estimator`` as in :meth:`load`)."""
        if not isinstance(blob, dict) or blob.get("format") != cls.FORMAT:
            found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
            raise RuntimeError(f"not a saved {cls.__name__} (format {found!r}, expected {cls.FORMAT!r})")
        enc, dec = _build_networks(tuple(blob["frame_shape"]), blob["n_components"], blob["latent_dim"],
                                   blob["hidden"], blob["depth"])
        enc.load_state_dict(blob["encoder"])
        dec.load_state_dict(blob["decoder"])
        enc.to(device).eval()
        dec.to(device).eval()
        est = as_estimator(estimator)[0] if estimator is not None else None
        res = cls(enc, dec, float(blob["dt"]), blob["latents"].to(device), list(blob["history"]),
                  dict(blob["config"]), est)
        res._restore_extra(blob, device)
        return res

    def _restore_extra(self, blob: dict, device) -> None:
        """Hook for subclasses that save more than the autoencoder."""

    @classmethod
    def load(cls, path: str | Path, *, estimator: Any = "fim", device: str | torch.device = "cpu"
             ) -> "CoarseGrainResult":
        """Load a saved result. ``estimator="fim"`` attaches the shipped FIM when the result was made
        with the FIM (otherwise pass the estimator it was trained with, or None)."""
        blob = load_checkpoint(path)
        if isinstance(estimator, str) and estimator == "fim":
            if isinstance(blob, dict) and blob.get("config", {}).get("estimator") == "FIM":
                from .fim import load_fim
                estimator = load_fim(device=device)
            else:
                estimator = None
        return cls.from_state(blob, estimator=estimator, device=device)


def _build_networks(frame_shape, n_components, latent_dim, hidden, depth) -> tuple[Encoder, nn.Module]:
    """Encoder and decoder sharing one PCA; the decoder is a spline curve for a 1-D latent."""
    pca = FramePCA(frame_shape, n_components)
    dec = SplineDecoder(pca) if latent_dim == 1 else Decoder(pca, latent_dim, hidden=hidden, depth=depth)
    return Encoder(pca, latent_dim, hidden=hidden, depth=depth), dec


# ----------------------------------------------------------------------------------------------
# training


def _decoder_jacobian(dec: Decoder, z: torch.Tensor, h: float = 1e-2) -> torch.Tensor:
    """Jacobian J = dD/dz of the decoder D: z -> PCA features, by central differences of step ``h``
    (latent units) at latents z (B, d); returns (B, k, d). The decoder is frozen in coarse_grain:
    gradients reach z only."""
    d = z.shape[-1]
    net = dec.coefficients
    cols = []
    for i in range(d):
        e = torch.zeros(d, dtype=z.dtype, device=z.device)
        e[i] = h
        cols.append((net(z + e) - net(z - e)) / (2 * h))
    return torch.stack(cols, dim=-1)


def _decoder_log_volume(dec: Decoder, z: torch.Tensor, h: float = 1e-2) -> torch.Tensor:
    """log of the volume element sqrt(det(J^T J)) of the decoder D: z -> PCA features at z (B, d),
    J = dD/dz by central differences; returns (B,)."""
    d = z.shape[-1]
    J = _decoder_jacobian(dec, z, h)  # (B, k, d)
    gram = J.transpose(1, 2) @ J  # (B, d, d)
    return 0.5 * torch.logdet(gram + 1e-8 * torch.eye(d, dtype=z.dtype, device=z.device))


def _sample_transitions(n_paths: int, T: int, gen: torch.Generator, n_queries: int, context_size: int,
                        device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor]:
    """This step's random context and query transitions (see the module doc).

    Returns ``(sel, q)``: ``sel`` (P,) indices of a random subset of whole paths holding at most
    ``context_size`` transitions, or None when all ``n_paths`` paths fit; ``q`` (B,) indices of at
    most ``n_queries`` transitions among the P * (T - 1) of the context, flattened path by path.
    """
    per = max(1, context_size // max(T - 1, 1))
    sel = None
    if per < n_paths:  # a random subset of whole paths as this step's context
        sel = torch.randperm(n_paths, generator=gen)[:per].to(device)
        n_paths = sel.shape[0]
    q = torch.randperm(n_paths * (T - 1), generator=gen)[:n_queries].to(device)
    return sel, q


def _em_step_nll(dz: torch.Tensor, f: torch.Tensor, var: torch.Tensor, dt: float) -> torch.Tensor:
    """Gaussian NLL of steps dz (B, d) over a time dt under the Euler-Maruyama step law
    N(f dt, var) (drift f and variance var, each (B, d)), summed over d; returns (B,)."""
    return 0.5 * (((dz - f * dt) ** 2) / var + torch.log(2 * math.pi * var)).sum(-1)


def _transition_nll(dz: torch.Tensor, f: torch.Tensor, g: torch.Tensor, dt: float) -> torch.Tensor:
    """Euler-Maruyama NLL of latent steps dz (B, d) under drift f (B, d) and diffusion g (B, d)
    over a time step dt, summed over d; the variance g^2 dt gets a floor of 1e-3 of its mean
    (not differentiated) so that a vanishing estimated diffusion cannot blow up. Returns (B,)."""
    var = g ** 2 * dt
    return _em_step_nll(dz, f, var + 1e-3 * var.detach().mean() + 1e-12, dt)


def _sim_nll(z: torch.Tensor, dt: float, estimator: Estimator, gen: torch.Generator, n_queries: int,
             context_size: int, dec: Decoder | None = None) -> torch.Tensor:
    """One-step Gaussian NLL of sampled latent increments (sim_space="latent", see module doc)."""
    n_paths, T, d = z.shape
    sel, q = _sample_transitions(n_paths, T, gen, n_queries, context_size, z.device)
    if sel is not None:
        z = z[sel]
    x0 = z[:, :-1].reshape(-1, d)[q]
    dz = (z[:, 1:] - z[:, :-1]).reshape(-1, d)[q]
    f, g = estimator(z, dt, x0)
    nll = _transition_nll(dz, f, g, dt)
    if dec is not None:
        nll = nll + _decoder_log_volume(dec, x0)
    return nll.mean()


def _sim_nll_frames(z: torch.Tensor, feats: torch.Tensor, dt: float, estimator: Estimator, dec: Decoder,
                    gen: torch.Generator, n_queries: int, context_size: int, h: float = 1e-2) -> torch.Tensor:
    """One-step Gaussian NLL of the frame increments under the estimator's latent SDE (module doc).

    z: latents (n_paths, T, d) with graph; feats: PCA features (n_paths * T, k) of the frames.
    """
    n_paths, T, d = z.shape
    u = feats.reshape(n_paths, T, -1)
    sel, q = _sample_transitions(n_paths, T, gen, n_queries, context_size, z.device)
    if sel is not None:
        z, u = z[sel], u[sel]
    z0 = z[:, :-1].reshape(-1, d)[q]
    du = (u[:, 1:] - u[:, :-1]).reshape(-1, u.shape[-1])[q]  # observed frame increments (B, k)
    J = _decoder_jacobian(dec, z0, h)  # (B, k, d) decoder Jacobian at z_t
    gram = J.transpose(1, 2) @ J + 1e-8 * torch.eye(d, dtype=z.dtype, device=z.device)
    dz_obs = torch.linalg.solve(gram, (J.transpose(1, 2) @ du[:, :, None]))[:, :, 0]  # (B, d)
    f, g = estimator(z, dt, z0)
    nll = _transition_nll(dz_obs, f, g, dt)
    return (nll + 0.5 * torch.logdet(gram)).mean()


def _init_autoencoder(enc: Encoder, dec: nn.Module, feats: torch.Tensor, latent_dim: int, *, seed: int,
                      init_steps: int, lr: float, max_points: int, batch: int = 4096) -> dict:
    """Initialise: encoder regressed on Isomap coordinates of a subsample (L-BFGS), then the decoder
    fitted on all frames to invert the encoder (exact least squares for the spline decoder, Adam
    for the MLP decoder); see the module doc."""
    idx, coords = isomap_coordinates(feats, latent_dim, seed=seed, max_points=max_points)
    idx = idx.to(feats.device)
    coords = coords.to(feats.device)
    x_sub = feats[idx]
    loss_e = torch.zeros(())
    if init_steps > 0:
        opt = torch.optim.LBFGS(enc.net.parameters(), lr=1.0, max_iter=init_steps, history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-14)

        def closure():
            opt.zero_grad()
            loss = ((enc.net(x_sub) - coords) ** 2).mean()
            loss.backward()
            return loss
        opt.step(closure)
        with torch.no_grad():
            loss_e = ((enc.net(x_sub) - coords) ** 2).mean()
    with torch.no_grad():
        enc.train()
        z = enc.from_features(feats)  # sets the anchoring statistics
    if isinstance(dec, SplineDecoder):
        loss_d = torch.tensor(dec.fit(z, feats))
    else:
        gen = torch.Generator().manual_seed(seed + 1)
        opt = torch.optim.Adam(dec.net.parameters(), lr=lr)
        power = (feats ** 2).sum(-1).mean()
        loss_d = torch.zeros(())
        for _ in range(init_steps):
            b = torch.randint(0, feats.shape[0], (min(batch, feats.shape[0]),), generator=gen).to(feats.device)
            loss_d = ((dec.net(z[b]) - feats[b]) ** 2).sum(-1).mean() / power
            opt.zero_grad()
            loss_d.backward()
            opt.step()
    return {"init_encoder_mse": float(loss_e.detach()), "init_decoder_rel": float(loss_d.detach()),
            "isomap_points": int(idx.numel())}


class _Run:
    """Machinery shared by :func:`coarse_grain` and :func:`fimcg.joint.joint_coarse_grain`.

    Builds the networks, restores a checkpoint of the same data and options (or fits the PCA and
    initialises), then runs an optimisation loop with progress bar, gradient clipping, NaN guard,
    atomic checkpoints and an optional evaluation callback whose time is not counted.
    """

    def __init__(self, frames_t: torch.Tensor, frame_shape: tuple[int, ...], dt: float, config: dict, *,
                 fmt: str, device: torch.device, checkpoint: str | Path | None, resume: bool,
                 extra: dict[str, nn.Module] | None = None) -> None:
        c = config
        self.config, self.fmt, self.dt, self.device = config, fmt, dt, device
        self.n_paths, self.length = frames_t.shape[:2]
        self.latent_dim = c["latent_dim"]
        torch.manual_seed(c["seed"])
        self.gen = torch.Generator().manual_seed(c["seed"])
        self.enc, self.dec = _build_networks(frame_shape, c["n_components"], c["latent_dim"], c["hidden"], c["depth"])
        self.extra = extra or {}
        for m in [self.enc, self.dec, *self.extra.values()]:
            m.to(device)
        self.t_start = time.perf_counter()
        self.paused = 0.0
        self.history: list[dict] = []
        self.start_step = 0
        self.ckpt_path = Path(checkpoint) if checkpoint is not None else None
        self.blob = None
        flat = frames_t.to(device=device, dtype=torch.float32).reshape(self.n_paths * self.length, -1)
        if self.ckpt_path is not None and resume and self.ckpt_path.is_file():
            blob = load_checkpoint(self.ckpt_path, map_location=device)
            old = blob.get("config", {}) if isinstance(blob, dict) else {}
            keys = [k for k in config if k not in ("steps", "init")]
            if not isinstance(blob, dict) or blob.get("format") != fmt or any(old.get(k) != config[k] for k in keys):
                raise CheckpointMismatch(f"checkpoint {self.ckpt_path} belongs to other data or options; delete it "
                                         "or pass resume=False to start over")
            self.enc.load_state_dict(blob["encoder"])
            self.dec.load_state_dict(blob["decoder"])
            for k, m in self.extra.items():
                m.load_state_dict(blob["extra"][k])
            self.history = list(blob["history"])
            self.start_step = int(blob["step"])
            self.gen.set_state(blob["generator"])
            config["init"] = old.get("init", {})
            self.blob = blob
            self.t_start -= self.history[-1]["time_s"] if self.history else config["init"].get("time_s", 0.0)
        else:
            with torch.no_grad():
                self.enc.pca.fit(flat, seed=c["seed"])
        self.feats = self.enc.pca.project(flat).detach()  # (N, k), fixed
        self.feat_power = (self.feats ** 2).sum(-1).mean()
        self.resumed = self.blob is not None

    def initialise(self, how: str) -> None:
        """``"isomap"``: the initialisation of the module doc; ``"random"``: networks as constructed."""
        if self.resumed:
            return
        c = self.config
        if how == "isomap":
            c["init"] = _init_autoencoder(self.enc, self.dec, self.feats, self.latent_dim, seed=c["seed"],
                                          init_steps=c["init_steps"], lr=3e-3, max_points=c["isomap_points"])
        else:
            c["init"] = {}
        c["init"]["method"] = how
        c["init"]["time_s"] = time.perf_counter() - self.t_start

    def latents(self) -> torch.Tensor:
        """Encode all frames (with gradient): (n_paths, T, latent_dim)."""
        return self.enc.from_features(self.feats).reshape(self.n_paths, self.length, self.latent_dim)

    def reconstruction(self, z: torch.Tensor) -> torch.Tensor:
        """Relative reconstruction error of all frames from latents z (n_paths, T, d)."""
        return ((self.dec.coefficients(z.reshape(-1, self.latent_dim)) - self.feats) ** 2).sum(-1).mean() / self.feat_power

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start - self.paused

    def save(self, step: int, opt: torch.optim.Optimizer) -> None:
        if self.ckpt_path is None:
            return
        save_checkpoint({"format": self.fmt, "config": self.config, "step": step, "encoder": self.enc.state_dict(),
                         "decoder": self.dec.state_dict(), "optimizer": opt.state_dict(),
                         "extra": {k: m.state_dict() for k, m in self.extra.items()},
                         "history": self.history, "generator": self.gen.get_state()}, self.ckpt_path)

    def loop(self, params: list[nn.Parameter], step_fn: Callable[[int], tuple[torch.Tensor, dict]], *, steps: int,
             lr: float, checkpoint_every: int, progress: bool, desc: str,
             callback: Callable[[int, Any], Any] | None = None, eval_every: int = 0,
             snapshot: Callable[[], Any] | None = None) -> None:
        opt = torch.optim.Adam(params, lr=lr)
        if self.blob is not None and "optimizer" in self.blob:
            opt.load_state_dict(self.blob["optimizer"])
        if not self.resumed:
            self.save(0, opt)
        if callback is not None and eval_every and self.start_step == 0:
            self._callback(callback, 0, snapshot)
        bar = None
        if progress and steps > self.start_step:
            from tqdm.auto import tqdm
            bar = tqdm(total=steps, initial=self.start_step, desc=desc, unit="step")
        last_good = self.start_step
        try:
            for step in range(self.start_step, steps):
                loss, parts = step_fn(step)
                if not bool(torch.isfinite(loss.detach())):
                    where = (f"the last good checkpoint (step {last_good}) is kept at {self.ckpt_path}"
                             if self.ckpt_path is not None else "no checkpoint was requested")
                    terms = ", ".join(f"{k} {float(v):.4g}" for k, v in parts.items())
                    raise TrainingDiverged(f"training diverged: the loss became {float(loss.detach())} at step "
                                           f"{step + 1} ({terms}); {where}. Try a smaller lr or a larger rec_weight.")
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 10.0)
                opt.step()
                rec = {"step": step + 1, "loss": float(loss.detach())}
                rec.update({k: float(v) for k, v in parts.items()})
                rec["time_s"] = self.elapsed()
                self.history.append(rec)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{float(v):.3g}" for k, v in parts.items()})
                if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
                    self.save(step + 1, opt)
                    last_good = step + 1
                if callback is not None and eval_every and ((step + 1) % eval_every == 0 or step + 1 == steps):
                    self._callback(callback, step + 1, snapshot)
        finally:
            if bar is not None:
                bar.close()

    def _callback(self, callback, step: int, snapshot) -> None:
        t0 = time.perf_counter()
        was = self.enc.training
        try:
            callback(step, snapshot() if snapshot is not None else None)
        finally:
            self.enc.train(was)
            self.paused += time.perf_counter() - t0

    def final_latents(self) -> torch.Tensor:
        """Exact standardisation over all frames, then frozen (eval mode) for encoding new frames."""
        self.enc.train()
        with torch.no_grad():
            z = self.latents()
        self.enc.eval()
        self.dec.eval()
        for m in self.extra.values():
            m.eval()
        self.config["train_time_s"] = self.elapsed()
        return z.detach()


def _check_loss_weights(rec_weight: Any, sim_weight: Any) -> None:
    """Raise ``ValueError`` unless both loss weights are finite numbers >= 0."""
    for nm, w in (("rec_weight", rec_weight), ("sim_weight", sim_weight)):
        if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
            raise ValueError(f"{nm} must be a finite number >= 0, got {w!r}")


def _train_autoencoder(frames_t: torch.Tensor, frame_shape: tuple[int, ...], dt: float, config: dict, *,
                       fmt: str, device: torch.device, checkpoint: str | Path | None, resume: bool, init: str,
                       train_decoder: bool, sim_loss: Callable[[_Run, torch.Tensor], torch.Tensor],
                       make_result: Callable[[_Run, torch.Tensor, list[dict], dict], R],
                       extra: dict[str, nn.Module] | None = None, checkpoint_every: int, progress: bool, desc: str,
                       callback: Callable[[int, R], Any] | None, eval_every: int) -> R:
    """The training shared by :func:`coarse_grain` and :func:`fimcg.joint.joint_coarse_grain`.

    Sets up a :class:`_Run` (restoring a checkpoint or initialising with ``init``), then minimises
    ``rec_weight * L_rec + sim_weight * sim_loss`` with Adam for ``config["steps"]`` steps at
    ``config["lr"]`` (weights from ``config``; see the module doc for ``L_rec``).

    Args:
        frames_t, frame_shape: validated frames (n_paths, T, *frame_shape), see :func:`prepare_frames`.
        dt: time between frames. config: the run's options and data facts (saved with checkpoints
            and the result; it receives ``init`` and ``train_time_s``).
        fmt: checkpoint format tag. device, checkpoint, resume: as in :func:`coarse_grain`.
        init: ``"isomap"`` or ``"random"`` (see :meth:`_Run.initialise`).
        train_decoder: train the decoder too; if False it is frozen after the initialisation.
        sim_loss: ``(run, z) -> scalar`` dynamics term of the loss for latents z (n_paths, T, d)
            carrying their graph.
        make_result: ``(run, latents (n_paths, T, d) detached, history, config) -> result``.
        extra: more trained modules (e.g. the joint model's head), checkpointed with the networks.
        checkpoint_every, progress, desc, callback, eval_every: as in :meth:`_Run.loop`.

    Returns:
        ``make_result`` of the trained networks, the final latents, the history and ``config``.
    """
    run = _Run(frames_t, frame_shape, dt, config, fmt=fmt, device=device, checkpoint=checkpoint, resume=resume,
               extra=extra)
    run.initialise(init)
    if not train_decoder:
        run.dec.requires_grad_(False)
    run.enc.train()
    rec_weight, sim_weight = config["rec_weight"], config["sim_weight"]

    def step_fn(step: int) -> tuple[torch.Tensor, dict]:
        z = run.latents()
        rec = run.reconstruction(z)
        sim = sim_loss(run, z)
        return rec_weight * rec + sim_weight * sim, {"rec": rec.detach(), "sim": sim.detach()}

    def snapshot() -> R:
        run.enc.train()
        with torch.no_grad():
            z = run.latents()
        return make_result(run, z.detach(), list(run.history), dict(config))

    params = list(run.enc.net.parameters())
    if train_decoder:
        params += list(run.dec.parameters())
    params += [p for m in run.extra.values() for p in m.parameters()]
    run.loop(params, step_fn, steps=config["steps"], lr=config["lr"], checkpoint_every=checkpoint_every,
             progress=progress, desc=desc, callback=callback, eval_every=eval_every, snapshot=snapshot)
    z = run.final_latents()
    return make_result(run, z, run.history, config)


def coarse_grain(
    frames: Any,
    dt: float,
    *,
    latent_dim: int = 1,
    estimator: Any = None,
    steps: int = 20,
    lr: float = 1e-4,
    rec_weight: float = 1.0,
    sim_weight: float = 1.0,
    sim_space: str = "frames",
    jacobian: bool = True,
    n_components: int = 32,
    hidden: int = 64,
    depth: int = 2,
    n_queries: int = 512,
    context_size: int = 12000,
    init_steps: int = 400,
    isomap_points: int = 1000,
    seed: int = 0,
    device: str | torch.device = "cpu",
    checkpoint: str | Path | None = None,
    resume: bool = True,
    checkpoint_every: int = 10,
    progress: bool = True,
    callback: Callable[[int, "CoarseGrainResult"], Any] | None = None,
    eval_every: int = 0,
) -> CoarseGrainResult:
    """Learn a latent coordinate from video and its SDE from a frozen estimator.

    Args:
        frames: video, (n_paths, T, H, W) or (n_paths, T, C, H, W), any image size, finite; each path
            needs at least 10 frames and the whole set at least 100 transitions.
        dt: time between consecutive frames (> 0).
        latent_dim: dimension of the latent (the shipped FIM supports 1).
        estimator: frozen ``(paths, dt, locations) -> (drift, diffusion)`` differentiable in ``paths``,
            or a :class:`fimcg.fim.FIM`; default :func:`fimcg.load_fim` (the shipped weights).
        steps: optimisation steps after the initialisation (each: one estimator call on the latent
            paths, forward and backward). ``0`` returns the initialised autoencoder.
        lr: Adam learning rate of the refinement.
        rec_weight, sim_weight: weights of the reconstruction and likelihood terms (module doc).
        sim_space: ``"frames"`` (default) or ``"latent"``: where the likelihood is measured (module doc).
        jacobian: with ``sim_space="latent"``, add the decoder's log volume element.
        n_components: PCA features of the frames (encoder input, decoder output).
        hidden, depth: width and number of hidden layers of the encoder and decoder MLPs.
        n_queries: transitions at which the likelihood is evaluated per step (random subset).
        context_size: most transitions given to the estimator in one call (the shipped FIM was
            pretrained on up to 12,000); larger data sets use random subsets of paths per step and
            averaged estimates at the end.
        init_steps, isomap_points: initialisation effort (see module doc).
        seed: seeds the networks, the subsamples and the query sampling.
        device: where to train ("cpu", "cuda", ...).
        checkpoint: file for atomic training checkpoints (every ``checkpoint_every`` steps and at
            the end); with ``resume=True`` an existing checkpoint of the same data and options is
            continued instead of starting over.
        progress: show a tqdm progress bar.
        callback, eval_every: if given, ``callback(step, result)`` is called after the
            initialisation and every ``eval_every`` steps with a provisional result (sharing the live
            networks: use it at once, do not keep it); its time is excluded from ``history``.

    Returns:
        :class:`CoarseGrainResult`.

    Raises:
        ValueError: bad frames (rank, NaN/inf, too few, constant), ``dt <= 0``, or a ``latent_dim``
            the estimator does not support.
        CheckpointMismatch: ``resume`` found a checkpoint of other data or options (a ValueError).
        TrainingDiverged: the loss became NaN/inf (the last good checkpoint is kept).
    """
    frames_t, frame_shape = prepare_frames(frames)
    dt = check_positive(dt, name="dt")
    steps = check_int(steps, name="steps", minimum=0)
    init_steps = check_int(init_steps, name="init_steps", minimum=0)
    n_components = check_int(n_components, name="n_components", minimum=1)
    n_queries = check_int(n_queries, name="n_queries", minimum=1)
    context_size = check_int(context_size, name="context_size", minimum=MIN_TRANSITIONS)
    checkpoint_every = check_int(checkpoint_every, name="checkpoint_every", minimum=1)
    eval_every = check_int(eval_every, name="eval_every", minimum=0)
    lr = check_positive(lr, name="lr")
    _check_loss_weights(rec_weight, sim_weight)
    if sim_space not in ("frames", "latent"):
        raise ValueError(f"sim_space must be 'frames' or 'latent', got {sim_space!r}")
    device = torch.device(device)
    if estimator is None:
        from .fim import load_fim
        estimator = load_fim(device=device)
    est, info = as_estimator(estimator)
    latent_dim = _check_latent_dim(latent_dim, info)
    n_paths, length = frames_t.shape[:2]
    config = {"method": "coarse_grain", "latent_dim": latent_dim, "estimator": info["name"], "steps": steps,
              "lr": lr, "rec_weight": float(rec_weight), "sim_weight": float(sim_weight), "jacobian": bool(jacobian),
              "sim_space": sim_space, "n_components": n_components, "hidden": hidden, "depth": depth, "n_queries": n_queries,
              "context_size": context_size, "init_steps": init_steps, "isomap_points": isomap_points,
              "seed": seed, "n_paths": n_paths, "frames_per_path": length, "frame_shape": list(frame_shape),
              "dt": dt, "fingerprint": _fingerprint(frames_t, dt)}

    def sim_loss(run: _Run, z: torch.Tensor) -> torch.Tensor:
        if sim_weight == 0:
            return torch.zeros((), device=z.device)
        if sim_space == "frames":
            return _sim_nll_frames(z, run.feats, dt, est, run.dec, run.gen, n_queries, context_size)
        return _sim_nll(z, dt, est, run.gen, n_queries, context_size, run.dec if jacobian else None)

    def make_result(run: _Run, z: torch.Tensor, history: list[dict], cfg: dict) -> CoarseGrainResult:
        return CoarseGrainResult(run.enc, run.dec, dt, z, history, cfg, est)

    # the decoder is frozen after the initialisation: it pins the parameterisation of the latent, so
    # the likelihood can refine the encoder but cannot re-parameterise the latent
    return _train_autoencoder(frames_t, frame_shape, dt, config, fmt="fimcg-coarse-grain-train-1", device=device,
                              checkpoint=checkpoint, resume=resume, init="isomap", train_decoder=False,
                              sim_loss=sim_loss, make_result=make_result, checkpoint_every=checkpoint_every,
                              progress=progress, desc="coarse-graining", callback=callback, eval_every=eval_every)


# ----------------------------------------------------------------------------------------------
# the main job: video -> latent SDE -> equation -> validation (a stage of ``fimcg run``)

#: frames coarse-grained by the main job (a subset of paths of the rendered data set)
PIPELINE_FRAMES = 24_000


def run_pipeline(paths: torch.Tensor, dt: float, sde: SDE | None = None, *, size: int = 32, blob_width: float = 1.5,
                 noise: float = 0.0, embedding: str = "line", x_range: Any = (-2.0, 2.0), seed: int = 0,
                 max_frames: int = PIPELINE_FRAMES, estimator: Any = None, steps: int = 20,
                 checkpoint: str | Path | None = None, progress: bool = True) -> dict:
    """Coarse-grain video of ``paths`` end to end and return numbers and objects for a report.

    Renders the paths (as many whole paths as fit in ``max_frames`` frames), runs
    :func:`coarse_grain` with the frozen FIM (or ``estimator``), aligns the latent to the truth
    (when ``sde`` is given), discovers sparse equations in the latent and in x, and validates the
    latent equation against the encoded data by switching statistics and the stationary distribution.

    Args:
        paths: true states (n_paths, T, 1) observed every ``dt`` (the frame step).
        sde: the true system, for the comparison (optional).
        size, blob_width, noise, embedding, x_range, seed: rendering (see :func:`fimcg.render_video`).

    Returns:
        dict with ``result`` (:class:`CoarseGrainResult`), ``numbers`` (JSON-ready), ``comparison``
        (or None), ``equation_latent``, ``equation_x`` (:class:`fimcg.discovery.PolynomialSDE` or None),
        ``validation``, ``x`` (the true states used) and ``frames_first`` (frames of the first path).
    """
    from .alignment import compare_to_truth
    from .discovery import discover_from_coefficients, validate
    from .video import render_video

    n_paths, length = paths.shape[:2]
    use = max(1, min(n_paths, max_frames // length))
    x = paths[:use]
    frames = render_video(x, size=size, blob_width=blob_width, noise=noise, embedding=embedding, x_range=x_range,
                          seed=seed + 7)
    t0 = time.perf_counter()
    try:  # an existing checkpoint of the same run is continued (or reused when finished)
        res = coarse_grain(frames, dt, estimator=estimator, steps=steps, seed=seed, checkpoint=checkpoint,
                           progress=progress)
    except CheckpointMismatch:  # left by a run on other data or options: start over
        res = coarse_grain(frames, dt, estimator=estimator, steps=steps, seed=seed, checkpoint=checkpoint,
                           resume=False, progress=progress)
    cg_seconds = time.perf_counter() - t0
    prec = res.precision()
    numbers: dict[str, Any] = {
        "n_paths": int(use), "frames_per_path": int(length), "n_frames": int(use * length), "dt": dt,
        "estimator": res.config["estimator"], "steps": steps, "seconds": cg_seconds,
        "init_seconds": res.config["init"]["time_s"], "final_reconstruction": res.history[-1]["rec"] if res.history
        else None, "noise_std_latent": prec["noise_std"][0], "g2_inflation_rel": prec["g2_inflation_rel"][0]}
    comparison = None
    if sde is not None:
        comparison = compare_to_truth(res.latents, x, res.coefficients, sde)
        numbers.update({"latent_r2": comparison.r2, "precision_x": comparison.alignment.residual_std,
                        "g2_inflation_from_precision": 2 * comparison.alignment.residual_std ** 2 / dt,
                        "drift_rel_rmse": comparison.drift_rel, "diffusion_rel_rmse": comparison.diffusion_rel})
    # equations: in the latent (what a user without ground truth gets) and, with the truth, in x
    z = res.latents
    zg = torch.linspace(float(torch.quantile(z, 0.02)), float(torch.quantile(z, 0.98)), 100)[:, None]
    fz, gz = res.coefficients(zg)
    hist = torch.histc(z.reshape(-1), bins=100, min=float(zg[0]), max=float(zg[-1]))
    eq_z = discover_from_coefficients(zg, fz, gz, weights=hist + 1e-3 * hist.max(), names=("z",))
    numbers["equation_latent"] = eq_z.equation()
    numbers["coefficients_latent"] = eq_z.coefficients()
    eq_x = None
    if comparison is not None:
        xs = torch.as_tensor(comparison.grid)[:, None]
        eq_x = discover_from_coefficients(xs, torch.as_tensor(comparison.drift)[:, None],
                                          torch.as_tensor(comparison.diffusion)[:, None])
        numbers["equation_x"] = eq_x.equation()
        numbers["coefficients_x"] = eq_x.coefficients()
    try:
        val = validate(eq_z, z, dt, seed=seed)
        numbers["validation"] = val.as_dict()
    except (ValueError, RuntimeError) as exc:  # e.g. a discovered drift without two wells
        val = None
        numbers["validation"] = {"skipped": str(exc)}
    return {"result": res, "numbers": numbers, "comparison": comparison, "equation_latent": eq_z,
            "equation_x": eq_x, "validation": val, "x": x, "frames_first": frames[0]}


def pipeline_stage(ctx: Any) -> None:
    """The coarse-graining stage of ``fimcg run`` (see :mod:`fimcg.report`): needs the ``render``
    stage's ``frame_paths``/``dt_frames``; adds ``results["coarse_grain"]`` and report sections."""
    from . import figures

    c = ctx.config
    rep = ctx.report
    rep.heading("Coarse-graining with the FIM")
    try:
        from .fim import load_fim
        fim = load_fim()
    except (FileNotFoundError, RuntimeError) as exc:
        rep.text(f"Skipped: the pretrained FIM could not be loaded ({exc}).")
        ctx.results["coarse_grain"] = {"skipped": str(exc)}
        return
    out = run_pipeline(ctx.data["frame_paths"], ctx.data["dt_frames"], ctx.data.get("sde"), size=c.size,
                       blob_width=c.blob_width, noise=c.noise, embedding=c.embedding,
                       x_range=ctx.results.get("video", {}).get("x_range", (-2.0, 2.0)), seed=c.seed, estimator=fim,
                       checkpoint=Path(ctx.out) / "coarse_grain_checkpoint.safetensors", progress=ctx.progress)
    n = out["numbers"]
    ctx.results["coarse_grain"] = n
    res, cmp = out["result"], out["comparison"]
    rep.text(f"An encoder (PCA features + MLP, initialised by Isomap) maps each frame to a 1-D latent z; the "
             f"frozen FIM infers dz = f(z) dt + g(z) dW from the encoded paths, and {n['steps']} steps refine the "
             f"encoder with reconstruction + the Euler-Maruyama likelihood of the observed frame increments under "
             f"the FIM's SDE (see fimcg.coarse_grain). "
             f"{n['n_frames']} frames ({n['n_paths']} paths x {n['frames_per_path']}), {n['seconds']:.1f} s "
             f"(initialisation {n['init_seconds']:.1f} s).")
    rows = [{"quantity": "latent R² (monotone fit to x)", "value": n.get("latent_r2", float("nan"))},
            {"quantity": "encoder precision (x units)", "value": n.get("precision_x", float("nan"))},
            {"quantity": "implied g² inflation 2s²/dt", "value": n.get("g2_inflation_from_precision", float("nan"))},
            {"quantity": "latent noise from increments (z units)", "value": n["noise_std_latent"]},
            {"quantity": "drift relative RMSE (aligned)", "value": n.get("drift_rel_rmse", float("nan"))},
            {"quantity": "diffusion relative RMSE (aligned)", "value": n.get("diffusion_rel_rmse", float("nan"))}]
    rep.table(rows)
    if res.history:
        rep.figure(figures.history_figure(res.history, keys=["rec", "sim"], title="training loss terms"))
    if cmp is not None:
        rep.figure(figures.latent_scatter_figure(out["x"], torch.as_tensor(cmp.alignment(res.latents.reshape(-1))),
                                                 title="learned latent h(z) vs true x"))
        grid = torch.as_tensor(cmp.grid)[:, None]
        est = {"FIM on learned latent (aligned)": (torch.as_tensor(cmp.drift)[:, None],
                                                   torch.as_tensor(cmp.diffusion)[:, None])}
        if out["equation_x"] is not None:
            eq = out["equation_x"]
            est["discovered equation"] = (eq.drift(grid.double()), eq.diffusion(grid.double()))
        rep.figure(figures.drift_diffusion_figure(grid, est, sde=ctx.data.get("sde"),
                                                  title="drift and diffusion from video vs truth"))
    rep.heading("Discovered equations")
    rep.text("In the learned latent z: " + n["equation_latent"].replace("\n", ";  "))
    if "equation_x" in n:
        rep.text("Moved to x by the alignment and Itô's formula: " + n["equation_x"].replace("\n", ";  ")
                 + f"  (truth, the simulated {ctx.data['sde'].name}: {ctx.data['sde'].describe()})")
    if out["validation"] is not None:
        v = out["validation"]
        rep.text("Validation in the latent (coordinate-free statistics, discovered SDE simulated vs encoded data):")
        rep.table([{"statistic": "well switches per unit time", "data": v.data.rate, "model": v.model.rate},
                   {"statistic": "mean first passage time", "data": v.data.mfpt, "model": v.model.mfpt}])
        rep.text(f"Kolmogorov-Smirnov distance between the stationary distributions of data and model: {v.ks:.3f} "
                 f"(hysteresis thresholds {v.data.thresholds[0]:.3g} / {v.data.thresholds[1]:.3g} in z, from the "
                 "discovered drift's wells).")
    else:
        rep.text(f"Validation skipped: {n['validation'].get('skipped')}")
