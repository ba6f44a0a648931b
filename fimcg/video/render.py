"""Synthetic video of a latent process: a Gaussian blob whose image position is a function of the state.

The geometry is a pure function, :func:`latent_to_pixel`, mapping latent states to pixel coordinates
through a fixed ``x_range`` (so every path of a data set shares one camera). :func:`render_video`
draws the blob at those coordinates, adds pixel noise and clips to [0, 1]. :func:`pixel_to_latent`
inverts the geometry and :func:`frame_centroids` locates the blob in frames, which together give the
hand-made "centroid" coordinate that learned encoders are compared with.

Pixel coordinates are ``(column, row)`` in pixel units, pixel centres at 0, 1, ..., size - 1,
rows counted from the top.

Embeddings (``embedding=``):

* ``"line"`` (default): d = 1: a horizontal line through the image centre, position linear in x;
  d = 2: the plane, (x1, x2) -> (column, row) linearly (x2 grows upwards).
* ``"warped"``: like ``"line"`` but each coordinate passes through a tanh warp first, so the
  particle moves fast in the middle of the range and slowly near its ends (a monotone nonlinear map).
* ``"arc"`` (d = 1): the particle runs along a 240-degree circular arc around the image centre.
* ``"spiral"`` (d = 1): 1.5 turns of an Archimedean spiral; the radius grows linearly with x.
* ``"swirl"`` (d = 2): the plane of ``"line"``, shrunk by sqrt(2) so that the corners of the range
  stay in the image, twisted about the image centre: each point turned by an angle that grows with
  the square of its distance from the centre (a quarter turn at the corners): a curved, smooth and
  invertible map of the plane, so straight lines in the latent become curves in the image.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._validation import as_tensor, check_finite, check_int, check_paths, check_positive

__all__ = ["EMBEDDINGS", "latent_to_pixel", "pixel_to_latent", "render_video", "frame_centroids", "frame_pca",
           "camera_range"]

#: embedding name -> supported latent dimensions
EMBEDDINGS: dict[str, tuple[int, ...]] = {"line": (1, 2), "warped": (1, 2), "arc": (1,), "spiral": (1,),
                                          "swirl": (2,)}

_DEFAULT_RANGE = (-2.0, 2.0)
_WARP = 2.0  # tanh steepness of the "warped" embedding
_ARC_START, _ARC_SPAN = 7 * math.pi / 6, 4 * math.pi / 3  # 210 deg -> -30 deg, through the top
_SPIRAL_TURNS, _SPIRAL_R0 = 1.5, 0.25  # turns, inner radius as a fraction of the outer one
_SWIRL = math.pi / 2  # the "swirl" embedding's turn at unit distance from the centre (radians)


def _check_embedding(embedding: str, d: int) -> None:
    if embedding not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {embedding!r}; valid: {', '.join(EMBEDDINGS)}")
    if d not in EMBEDDINGS[embedding]:
        raise ValueError(f"embedding {embedding!r} supports latent dimension(s) {EMBEDDINGS[embedding]}, "
                         f"got d={d}")


def _ranges(x_range: Any, d: int) -> list[tuple[float, float]]:
    """Normalise x_range to one (lo, hi) per latent dimension."""
    if x_range is None:
        x_range = _DEFAULT_RANGE
    try:
        arr = np.asarray(x_range, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"x_range must be (lo, hi) or one (lo, hi) per dimension, got {x_range!r}") from exc
    if arr.shape == (2,):
        arr = np.tile(arr, (d, 1))
    if arr.shape != (d, 2):
        raise ValueError(f"x_range must be (lo, hi) or one (lo, hi) per latent dimension (d={d}), "
                         f"got {x_range!r}")
    if not np.isfinite(arr).all() or not (arr[:, 0] < arr[:, 1]).all():
        raise ValueError(f"x_range must be finite with lo < hi, got {x_range!r}")
    return [(float(lo), float(hi)) for lo, hi in arr]


def _nonneg_float(value: Any, *, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number >= 0, got {value!r}") from exc
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def _geometry(size: int) -> tuple[float, float, float]:
    """(centre, half-extent, margin) in pixels: the latent range maps to [margin, size-1-margin]."""
    margin = max(1.0, 0.1 * (size - 1))
    centre = (size - 1) / 2
    return centre, centre - margin, margin


def camera_range(paths: Any, *, margin: float = 0.1) -> list[tuple[float, float]]:
    """One ``(lo, hi)`` per dimension: the data's range widened by ``margin`` of it on each side (an
    ``x_range`` that keeps every state of ``paths`` (..., d) in view).

    Raises:
        ValueError: non-finite states, a negative margin, or a dimension that does not move.
    """
    p = as_tensor(paths, name="paths")
    flat = p.reshape(-1, p.shape[-1]).double()
    check_finite(flat, name="paths")
    margin = _nonneg_float(margin, name="margin")
    lo, hi = flat.min(0).values, flat.max(0).values
    if not bool((hi > lo).all()):
        raise ValueError("paths do not move in at least one dimension: no range to film")
    return [(float(a - margin * (b - a)), float(b + margin * (b - a))) for a, b in zip(lo, hi)]


def latent_to_pixel(x: Any, *, size: int = 32, embedding: str = "line", x_range: Any = None) -> torch.Tensor:
    """Pixel coordinates of the particle for latent states ``x``.

    Args:
        x: latent states, shape (..., d) with d = 1 or 2.
        size: image side in pixels (>= 4).
        embedding: geometry name (see the module docstring).
        x_range: ``(lo, hi)`` (all dimensions) or one pair per dimension; the latent interval mapped
            onto the image (default (-2, 2), which holds the reference double well). States outside
            it continue the geometry and may leave the image.

    Returns:
        Tensor (..., 2): (column, row) in pixels, same dtype/device as ``x``; differentiable.
    """
    xt = as_tensor(x, name="x")
    if xt.ndim < 1:
        raise ValueError("x must have shape (..., d); got a scalar")
    d = xt.shape[-1]
    size = check_int(size, name="size", minimum=4)
    _check_embedding(embedding, d)
    pairs = _ranges(x_range, d)
    lo = torch.tensor([p[0] for p in pairs], dtype=xt.dtype, device=xt.device)
    hi = torch.tensor([p[1] for p in pairs], dtype=xt.dtype, device=xt.device)
    u = 2 * (xt - lo) / (hi - lo) - 1  # [-1, 1] over x_range
    centre, half, _ = _geometry(size)
    if embedding in ("line", "warped"):
        if embedding == "warped":
            u = torch.tanh(_WARP * u) / math.tanh(_WARP)
        col = centre + half * u[..., 0]
        row = centre - half * u[..., 1] if d == 2 else torch.full_like(col, centre)
    elif embedding == "swirl":
        u = u / math.sqrt(2)  # the range's corners stay in the image (turning keeps their distance from the centre)
        phi = _SWIRL * (u * u).sum(-1)  # the turn grows with the squared distance from the centre
        a, b = u[..., 0] * torch.cos(phi) - u[..., 1] * torch.sin(phi), u[..., 0] * torch.sin(phi) + u[..., 1] * torch.cos(phi)
        col, row = centre + half * a, centre - half * b
    elif embedding == "arc":
        theta = _ARC_START - _ARC_SPAN * (u[..., 0] + 1) / 2
        col = centre + half * torch.cos(theta)
        row = centre - half * torch.sin(theta)
    else:  # spiral
        s = (u[..., 0] + 1) / 2
        radius = half * (_SPIRAL_R0 + (1 - _SPIRAL_R0) * s)
        theta = 2 * math.pi * _SPIRAL_TURNS * s
        col = centre + radius * torch.cos(theta)
        row = centre - radius * torch.sin(theta)
    return torch.stack([col, row], dim=-1)


def pixel_to_latent(coords: Any, *, size: int = 32, embedding: str = "line", x_range: Any = None,
                    d: int = 1) -> torch.Tensor:
    """Invert :func:`latent_to_pixel`: pixel coordinates (..., 2) -> latent states (..., d).

    Points off the curve are projected: ``"line"``/``"warped"`` (d = 1) use the column only,
    ``"arc"`` the polar angle around the image centre, ``"spiral"`` the distance from the centre.
    """
    c = as_tensor(coords, name="coords")
    if c.ndim < 1 or c.shape[-1] != 2:
        raise ValueError(f"coords must have shape (..., 2) (column, row); got shape {tuple(c.shape)}")
    size = check_int(size, name="size", minimum=4)
    _check_embedding(embedding, d)
    pairs = _ranges(x_range, d)
    lo = torch.tensor([p[0] for p in pairs], dtype=c.dtype, device=c.device)
    hi = torch.tensor([p[1] for p in pairs], dtype=c.dtype, device=c.device)
    centre, half, _ = _geometry(size)
    col, row = c[..., 0], c[..., 1]
    if embedding in ("line", "warped"):
        u = ((col - centre) / half)[..., None]
        if d == 2:
            u = torch.stack([(col - centre) / half, (centre - row) / half], dim=-1)
        if embedding == "warped":
            u = torch.atanh(torch.clamp(u * math.tanh(_WARP), -1 + 1e-6, 1 - 1e-6)) / _WARP
    elif embedding == "swirl":  # turning keeps the distance from the centre: undo the turn it implies
        a, b = (col - centre) / half, (centre - row) / half
        phi = -_SWIRL * (a * a + b * b)
        u = math.sqrt(2) * torch.stack([a * torch.cos(phi) - b * torch.sin(phi), a * torch.sin(phi) + b * torch.cos(phi)],
                                       dim=-1)
    elif embedding == "arc":
        theta = torch.atan2(centre - row, col - centre)  # (-pi, pi]
        # unwrap to the arc's parameterisation (theta from _ARC_START down to _ARC_START - span):
        # cut the circle in the middle of the gap the arc leaves open
        gap_mid = _ARC_START - _ARC_SPAN - (2 * math.pi - _ARC_SPAN) / 2
        theta = torch.where(theta < gap_mid, theta + 2 * math.pi, theta)
        u = (2 * (_ARC_START - theta) / _ARC_SPAN - 1)[..., None]
    else:  # spiral
        radius = torch.sqrt((col - centre) ** 2 + (row - centre) ** 2)
        s = (radius / half - _SPIRAL_R0) / (1 - _SPIRAL_R0)
        u = (2 * s - 1)[..., None]
    return lo + (u + 1) * (hi - lo) / 2


def render_video(paths: Any, *, size: int = 32, blob_width: float = 1.5, noise: float = 0.0,
                 embedding: str = "line", x_range: Any = None, intensity: float = 1.0,
                 seed: int | None = None, chunk_frames: int = 8192) -> torch.Tensor:
    """Render latent paths as video of a Gaussian blob.

    Each frame is ``intensity * exp(-|p - c(x)|^2 / (2 blob_width^2))`` over the pixel centres p,
    with c(x) from :func:`latent_to_pixel`, plus i.i.d. Gaussian pixel noise of std ``noise``,
    clipped to [0, 1].

    Args:
        paths: latent paths (n_paths, T, d) with d = 1 or 2 ((n_paths, T) or (T,) for d = 1).
        size: image side in pixels (>= 4).
        blob_width: standard deviation of the blob in pixels (> 0).
        noise: standard deviation of the pixel noise (>= 0).
        embedding: geometry of the embedding, see the module docstring.
        x_range: latent interval mapped onto the image, see :func:`latent_to_pixel`.
        intensity: peak brightness of the blob, in (0, 1].
        seed: seed of the pixel noise (``None``: torch's global generator).
        chunk_frames: frames rendered at once (bounds the temporary memory).

    Returns:
        Frames, float32 tensor (n_paths, T, size, size) in [0, 1], on the device of ``paths``.
        Memory is n_paths * T * size^2 * 4 bytes (100 x 500 frames at 32x32: 205 MB).
    """
    x = check_paths(paths, min_length=1)
    size = check_int(size, name="size", minimum=4)
    blob_width = check_positive(blob_width, name="blob_width")
    noise = _nonneg_float(noise, name="noise")
    intensity = check_positive(intensity, name="intensity")
    if intensity > 1:
        raise ValueError(f"intensity must be in (0, 1], got {intensity!r}")
    chunk_frames = check_int(chunk_frames, name="chunk_frames", minimum=1)
    n_paths, length, d = x.shape
    _check_embedding(embedding, d)
    pos = latent_to_pixel(x.detach().to(torch.float32), size=size, embedding=embedding,
                          x_range=x_range).reshape(-1, 2)  # (N, 2)
    grid = torch.arange(size, dtype=torch.float32, device=x.device)
    inv = -1.0 / (2 * blob_width ** 2)
    gen = None
    if seed is not None and noise > 0:
        gen = torch.Generator(device=x.device)
        gen.manual_seed(int(seed))
    out = torch.empty(n_paths * length, size, size, dtype=torch.float32, device=x.device)
    for start in range(0, pos.shape[0], chunk_frames):
        p = pos[start:start + chunk_frames]
        gx = torch.exp(inv * (grid[None, :] - p[:, 0:1]) ** 2)  # (n, W) over columns
        gy = torch.exp(inv * (grid[None, :] - p[:, 1:2]) ** 2)  # (n, H) over rows
        blk = out[start:start + p.shape[0]]
        torch.mul(gy[:, :, None], gx[:, None, :], out=blk)  # separable Gaussian: (n, H, W)
        if intensity != 1.0:
            blk.mul_(intensity)
        if noise > 0:
            blk.add_(torch.randn(blk.shape, generator=gen, device=x.device, dtype=torch.float32), alpha=noise)
            blk.clamp_(0.0, 1.0)
    return out.reshape(n_paths, length, size, size)


def frame_centroids(frames: Any, *, threshold: float = 0.1) -> torch.Tensor:
    """Brightness-weighted centroid of each frame, ignoring pixels below ``threshold``.

    Args:
        frames: (..., H, W) images.
        threshold: brightness subtracted before weighting (pixels below it get weight 0), which
            removes the bias that clipped pixel noise would otherwise add towards the image centre.

    Returns:
        (..., 2) centroid (column, row) in pixels; NaN for a frame with no pixel above ``threshold``.
    """
    f = as_tensor(frames, name="frames")
    if f.ndim < 2:
        raise ValueError(f"frames must have shape (..., H, W); got shape {tuple(f.shape)}")
    check_finite(f, name="frames")
    threshold = _nonneg_float(threshold, name="threshold")
    h, w = f.shape[-2:]
    wgt = torch.clamp(f - threshold, min=0.0)
    mass = wgt.sum(dim=(-2, -1))
    cols = torch.arange(w, dtype=f.dtype, device=f.device)
    rows = torch.arange(h, dtype=f.dtype, device=f.device)
    col = (wgt.sum(dim=-2) * cols).sum(-1) / mass
    row = (wgt.sum(dim=-1) * rows).sum(-1) / mass
    return torch.stack([col, row], dim=-1)


def frame_pca(frames: Any, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of frames seen as vectors of pixels.

    Args:
        frames: (..., H, W) images; all leading axes are flattened into N frames (keep N a few
            thousand: the SVD costs O(N * (H W)^2)).
        k: number of components (1..min(N, H*W)).

    Returns:
        ``(explained, scores)``: the fraction of the pixel variance each of the first ``k``
        components explains (k,), and the frames' coordinates on them (N, k), frames in the
        order of ``frames.reshape(-1, H, W)``.
    """
    f = as_tensor(frames, name="frames")
    if f.ndim < 3:
        raise ValueError(f"frames must have shape (..., H, W) with at least one frame axis; got {tuple(f.shape)}")
    check_finite(f, name="frames")
    x = f.reshape(-1, f.shape[-2] * f.shape[-1]).double()
    k = check_int(k, name="k", minimum=1)
    if k > min(x.shape):
        raise ValueError(f"k must be <= min(frames, pixels) = {min(x.shape)}, got {k}")
    x = x - x.mean(0)
    _, s, vt = torch.linalg.svd(x, full_matrices=False)
    var = s ** 2
    explained = (var[:k] / var.sum()).numpy()
    scores = (x @ vt[:k].T).numpy()
    return explained, scores
