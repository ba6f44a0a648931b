"""The result of a coarse-graining: encoder, decoder, latents, and the SDE the estimator infers on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import numpy as np
import torch
from torch import nn
from .._validation import as_tensor, check_finite
from .autoencoder import Decoder, Encoder, FramePCA, SplineDecoder
from ..io.checkpoint import load_checkpoint, save_checkpoint
from ..sde.model import SDE, tabulated_sde
from .data import Estimator, estimate_in_contexts, as_estimator, frames_tensor


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
        """Frames (..., \\*frame_shape) -> latents (..., latent_dim) (no gradient). A
        :class:`fimcg.io.Recording` (or a dask/zarr/h5py array) is streamed a chunk at a time and cut
        into paths of its shortest file's length, as in training: latents (n_paths, T, latent_dim)."""
        from ..io.recording import Recording
        from .data import is_lazy_array, prepare_frames

        if isinstance(frames, Recording) or is_lazy_array(frames):
            data = prepare_frames(frames)
            if tuple(data.frame_shape) != tuple(self.encoder.pca.frame_shape):
                raise ValueError(f"the recording's frames have shape {tuple(data.frame_shape)}; this model was "
                                 f"fitted on frames of shape {tuple(self.encoder.pca.frame_shape)} (crop, downsample "
                                 "and colour as in training)")
            with torch.no_grad():
                z = torch.cat([self.encoder(block.to(self._device()).reshape(-1, *self.encoder.pca.frame_shape))
                               for block in data.blocks(chunk_mb=64.0)])
            return z.reshape(data.n_paths, data.length, self.latent_dim)
        t = frames_tensor(frames, name="frames", device=self._device()).float()
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
        """Latents (..., latent_dim) -> frames (..., \\*frame_shape) (no gradient)."""
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

    def coefficients(self, locations: Any, *, recording: int | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Drift (G, d) and diffusion (G, d) at latent ``locations`` (G, d), from the frozen estimator
        with the encoded training data as context: all of it, or, for a collection, the paths of
        one ``recording`` (its index or name; its own estimate, not pooled: see :meth:`pooled`)."""
        from .._validation import check_locations

        loc = check_locations(locations, d=self.latent_dim).to(self.latents.device, self.latents.dtype)
        z = self.latents if recording is None else self.latents[torch.as_tensor(self._group(recording))]
        with torch.no_grad():
            return estimate_in_contexts(self._require_estimator(), z, self.dt, loc,
                                        self.config.get("context_size", 12000))

    # -- collections of recordings -------------------------------------------------------------

    @property
    def recordings(self) -> list[str] | None:
        """The names of the recordings of a collection (:func:`fimcg.io.open_collection`); None otherwise."""
        c = self.config.get("collection")
        return list(c["names"]) if c else None

    def _group(self, recording: int | str) -> list[int]:
        names = self.recordings
        if names is None:
            raise ValueError("this result was trained on one recording, not a collection: omit recording=")
        if isinstance(recording, str):
            if recording not in names:
                raise ValueError(f"no recording {recording!r}; the collection has {names}")
            recording = names.index(recording)
        if isinstance(recording, bool) or not isinstance(recording, (int, np.integer)) or \
                not 0 <= int(recording) < len(names):
            raise ValueError(f"recording must be a name or an index 0..{len(names) - 1}, got {recording!r}")
        return list(self.config["collection"]["paths"][int(recording)])

    def pooled(self, *, grid_points: int | None = None, rank: int | None = None):
        """Every recording's SDE on a common latent grid, its own estimate and pooled across the
        collection: each recording's fit in the family of functions the collection spans, plus the
        share of its own estimate that cross-validation keeps
        (:class:`fimcg.coarse_graining.collection.Pooled`; computed once and kept).

        Args:
            grid_points: points of the latent grid (default :data:`~fimcg.coarse_graining.collection.GRID_POINTS`).
            rank: the families' rank; default chosen by cross-validation on the collection; 0: the
                collection's mean alone.
        """
        from .collection import GRID_POINTS, pool

        names = self.recordings
        if names is None:
            raise ValueError("pooled() needs a collection of recordings (fimcg.io.open_collection)")
        key = (grid_points or GRID_POINTS, rank)
        cache = self.__dict__.setdefault("_pooled", {})
        if key not in cache:
            cache[key] = pool(self.latents, [self._group(k) for k in range(len(names))], names, self.dt,
                              self._require_estimator(), grid_points=key[0], rank=rank)
        return cache[key]

    def infer(self, frames: Any, dt: float | None = None, *, rank: int | None = None):
        """The SDE of a *new* recording without training: its frames encoded by the trained encoder,
        the frozen estimator run on its latent paths, and (for a collection) the estimate pooled
        with the collection's (:class:`fimcg.coarse_graining.collection.RecordingSDE`; for a result of
        one recording, nothing is pooled).

        Args:
            frames: (n_paths, T, \\*frame_shape) frames of the recording (paths of at least 10 frames),
                or a :class:`fimcg.io.Recording` of its files (streamed), processed as the training
                frames were (crop, downsample, colour: the same frame shape; the same stride for dt).
            dt: time between its frames (default: the training recordings' dt).
            rank: the rank of the collection's families it is pooled in (:meth:`pooled`).
        """
        from .._validation import check_positive
        from .collection import collection_grid, infer_recording

        dt = self.dt if dt is None else check_positive(dt, name="dt")
        z = self.encode(frames)
        if z.ndim != 3 or z.shape[1] < 10:
            raise ValueError(f"frames must be (n_paths, T, *frame_shape) with paths of at least 10 frames; encoded to "
                             f"shape {tuple(z.shape)}")
        if self.recordings is None:  # one recording: its own estimate on a grid over the training latents
            return infer_recording(z, dt, self._require_estimator(), None, grid=collection_grid(self.latents))
        return infer_recording(z, dt, self._require_estimator(), self.pooled(rank=rank))

    def drift(self, locations: Any) -> torch.Tensor:
        """Inferred latent drift at ``locations`` (G, d); returns (G, d) (latent units per time unit)."""
        return self.coefficients(locations)[0]

    def diffusion(self, locations: Any) -> torch.Tensor:
        """Inferred latent diffusion at ``locations`` (G, d); returns (G, d)."""
        return self.coefficients(locations)[1]

    def sde(self, *, grid_size: int | None = None, margin: float = 0.1, name: str = "latent SDE") -> SDE:
        """The latent SDE as a :class:`fimcg.SDE` for :func:`fimcg.simulate`.

        Drift and diffusion are tabulated once on a grid over the latent range widened by ``margin``
        (fraction of the range), ``grid_size`` points per axis (default 256 in 1-D, 64 per axis in
        2-D), and interpolated (drift continues linearly beyond, diffusion is held):
        :func:`fimcg.sde.model.tabulated_sde`.
        """
        z = self.latents.reshape(-1, self.latent_dim)
        lo, hi = z.min(dim=0).values, z.max(dim=0).values
        grid_size = grid_size or (256 if self.latent_dim == 1 else None)
        return tabulated_sde(self.coefficients, lo, hi, grid_size=grid_size, margin=margin, name=name,
                             params={"latent_range": [lo.tolist(), hi.tolist()] if self.latent_dim > 1
                                     else [float(lo), float(hi)]})

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
        enc, dec = build_networks(tuple(blob["frame_shape"]), blob["n_components"], blob["latent_dim"],
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
                from ..fim.weights import load_fim
                estimator = load_fim(device=device)
            else:
                estimator = None
        return cls.from_state(blob, estimator=estimator, device=device)


def build_networks(frame_shape, n_components, latent_dim, hidden, depth) -> tuple[Encoder, nn.Module]:
    """Encoder and decoder sharing one PCA; the decoder is a spline curve for a 1-D latent."""
    pca = FramePCA(frame_shape, n_components)
    dec = SplineDecoder(pca) if latent_dim == 1 else Decoder(pca, latent_dim, hidden=hidden, depth=depth)
    return Encoder(pca, latent_dim, hidden=hidden, depth=depth), dec
