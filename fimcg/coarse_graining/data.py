"""Frames in, estimators adapted: validation of video data, the estimator protocol, data fingerprints.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Callable
import numpy as np
import torch
from .._validation import as_tensor, check_finite, check_int


Estimator = Callable[[torch.Tensor, float, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


#: a path needs this many frames, and the data set this many transitions, to define a context
MIN_FRAMES_PER_PATH = 10


MIN_TRANSITIONS = 100


def prepare_frames(frames: Any, *, name: str = "frames") -> tuple[torch.Tensor, tuple[int, ...]]:
    """Validate video and return it as float32 (n_paths, T, \\*frame_shape) plus the frame shape.

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
    from ..fim.model import FIM

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


def check_latent_dim(latent_dim: Any, info: dict) -> int:
    latent_dim = check_int(latent_dim, name="latent_dim", minimum=1)
    if latent_dim > info["max_dim"]:
        raise ValueError(f"latent_dim={latent_dim} is larger than the estimator {info['name']} supports "
                         f"(d <= {info['max_dim']})")
    if latent_dim not in info["trained_dims"]:
        raise ValueError(f"latent_dim={latent_dim}: the estimator {info['name']} was trained for d in "
                         f"{info['trained_dims']} only")
    return latent_dim


def fingerprint(frames: torch.Tensor, dt: float) -> str:
    h = hashlib.sha256()
    h.update(repr((tuple(frames.shape), float(dt))).encode())
    flat = frames.reshape(-1)
    m = min(flat.numel(), 100_000)
    idx = torch.arange(m, dtype=torch.int64) * (flat.numel() - 1) // max(m - 1, 1)
    h.update(flat[idx].detach().cpu().double().numpy().tobytes())
    return h.hexdigest()[:16]


def estimate_in_contexts(estimator: Estimator, z: torch.Tensor, dt: float, loc: torch.Tensor, context_size: int
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
