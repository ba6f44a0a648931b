"""Frames in, estimators adapted: validated frames (in memory or streamed from files), the estimator protocol."""

from __future__ import annotations

import hashlib
import math
from typing import Any, Callable, Iterator
import numpy as np
import torch
from .._validation import as_tensor, check_finite, check_int


Estimator = Callable[[torch.Tensor, float, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


#: a path needs this many frames, and the data set this many transitions, to define a context
MIN_FRAMES_PER_PATH = 10


MIN_TRANSITIONS = 100


class FrameData:
    """Validated frames as the trainer reads them: ``n_paths`` paths of ``length`` frames each.

    Two kinds, one interface: frames held in memory (:class:`TensorFrames`) and frames streamed from
    a :class:`fimcg.io.Recording` (:class:`StreamedFrames`: files read a chunk at a time, never all
    in memory). The trainer fits the PCA on :meth:`rows` of a random subset and projects every frame
    through :meth:`blocks`, so both kinds give the same features for the same frames.

    Attributes:
        n_paths, length: paths and frames per path.
        frame_shape: (H, W) or (C, H, W).
        segments: for streamed frames, (file path index, first frame) of each path; None in memory.
    """

    n_paths: int
    length: int
    frame_shape: tuple[int, ...]
    segments: list[tuple[int, int]] | None = None

    @property
    def n_frames(self) -> int:
        return self.n_paths * self.length

    @property
    def groups(self) -> list[list[int]] | None:
        """For a collection of recordings: the paths of each; None for one recording."""
        return None

    @property
    def frame_size(self) -> int:
        return int(np.prod(self.frame_shape))

    def rows(self, flat_index: Any) -> torch.Tensor:
        """Flattened frames (m, C*H*W) float32 at flat indices ``p * length + t``, in the given order."""
        raise NotImplementedError

    def blocks(self, *, chunk_mb: float) -> Iterator[torch.Tensor]:
        """All flattened frames in flat order (path by path), as float32 blocks (n, C*H*W) of about
        ``chunk_mb`` megabytes at most."""
        raise NotImplementedError

    def fingerprint(self, dt: float) -> str:
        """A hash of the shape, ``dt`` and up to 64 evenly spaced frames (ties a checkpoint to its data)."""
        h = hashlib.sha256()
        h.update(repr((self.n_paths, self.length, tuple(self.frame_shape), float(dt))).encode())
        m = min(self.n_frames, 64)
        idx = np.arange(m, dtype=np.int64) * (self.n_frames - 1) // max(m - 1, 1)
        h.update(self.rows(idx).detach().cpu().double().numpy().tobytes())
        return h.hexdigest()[:16]

    def facts(self, dt: float) -> dict:
        """The data facts a run's config records (JSON-ready): sizes, ``dt``, the fingerprint and, for
        streamed frames, the files and where each path (segment) starts in them."""
        return {"n_paths": self.n_paths, "frames_per_path": self.length, "frame_shape": list(self.frame_shape),
                "dt": dt, "fingerprint": self.fingerprint(dt)}


class TensorFrames(FrameData):
    """Frames in memory, (n_paths, T, \\*frame_shape) float32/float64."""

    def __init__(self, frames: torch.Tensor) -> None:
        self.frames = frames
        self.n_paths, self.length = frames.shape[:2]
        self.frame_shape = tuple(frames.shape[2:])
        self.flat = frames.reshape(self.n_paths * self.length, -1)

    def rows(self, flat_index: Any) -> torch.Tensor:
        return self.flat[torch.as_tensor(flat_index, dtype=torch.int64, device=self.flat.device)].float()

    def blocks(self, *, chunk_mb: float) -> Iterator[torch.Tensor]:
        n = max(1, int(chunk_mb * 2 ** 20 // (4 * self.frame_size)))
        for a in range(0, self.flat.shape[0], n):
            yield self.flat[a:a + n].float()


class StreamedFrames(FrameData):
    """Frames of a :class:`~fimcg.io.Recording`, cut into paths (segments) of equal length.

    Files of different lengths are cut into segments of the shortest file's length (what is left of
    a longer file at its end is dropped and counted in ``dropped``). Frames are checked (finite, not
    constant) as they are read.
    """

    def __init__(self, recording: Any, *, name: str = "frames") -> None:
        self.recording, self.name = recording, name
        lengths = recording.lengths
        self.length = min(lengths)
        if self.length < MIN_FRAMES_PER_PATH:
            short = [f"{n} ({k} frames)" for n, k in zip(recording.names, lengths) if k < MIN_FRAMES_PER_PATH]
            raise ValueError(f"{name}: {', '.join(short)}: fewer than {MIN_FRAMES_PER_PATH} frames; every file "
                             "needs at least that many (after stride)")
        self.segments = [(p, a) for p, k in enumerate(lengths) for a in range(0, k - self.length + 1, self.length)]
        self.n_paths = len(self.segments)
        self.dropped = recording.n_frames - self.n_paths * self.length
        self.frame_shape = tuple(recording.frame_shape)
        if self.n_paths * (self.length - 1) < MIN_TRANSITIONS:
            raise ValueError(f"{name} holds {self.n_paths * (self.length - 1)} transitions ({self.n_paths} paths of "
                             f"{self.length} frames); the estimator needs a context of at least {MIN_TRANSITIONS}")

    @property
    def groups(self) -> list[list[int]] | None:
        """For a collection (:func:`fimcg.io.open_collection`): the paths (segments) of each
        recording; None for a single recording."""
        if self.recording.groups is None:
            return None
        owner = {p: k for k, paths in enumerate(self.recording.groups) for p in paths}
        out: list[list[int]] = [[] for _ in self.recording.groups]
        for i, (path, _) in enumerate(self.segments):
            out[owner[path]].append(i)
        return out

    def facts(self, dt: float) -> dict:
        rec = self.recording
        out = {**super().facts(dt), "recording": {
            "paths": list(rec.names), "frames": list(rec.lengths), "stride": rec.options.stride,
            "processing": {"grey": rec.options.grey, "crop": list(rec.options.crop) if rec.options.crop else None,
                           "downsample": rec.options.downsample, "stride": rec.options.stride},
            "segments": [list(s) for s in self.segments], "dropped_frames": self.dropped}}
        if rec.groups is not None:
            out["collection"] = {"names": list(rec.group_names), "paths": self.groups}
        return out

    def _check(self, block: torch.Tensor, path: int, frames: Any) -> None:
        """Raise if ``block`` (its rows: frames ``frames`` of ``path``, an array or the first of a run) is not finite."""
        if not bool(torch.isfinite(block).all()):
            bad = int((~torch.isfinite(block)).any(dim=1).nonzero()[0, 0])
            at = int(frames[bad]) if np.ndim(frames) else int(frames) + bad
            raise ValueError(f"{self.name}: {self.recording.names[path]} has NaN or infinite pixels (in frame {at} "
                             "after stride)")

    def rows(self, flat_index: Any) -> torch.Tensor:
        idx = np.asarray(flat_index, dtype=np.int64).reshape(-1)
        out = torch.empty(idx.size, self.frame_size)
        seg = idx // self.length
        paths = np.array([self.segments[s][0] for s in seg], dtype=np.int64)
        frame = np.array([self.segments[s][1] for s in seg], dtype=np.int64) + idx % self.length
        for path in np.unique(paths):  # one read per file path (a video is decoded once, not per segment)
            where = np.nonzero(paths == path)[0]
            block = torch.from_numpy(self.recording.take(int(path), frame[where]).reshape(where.size, -1))
            self._check(block, int(path), frame[where])
            out[torch.from_numpy(where)] = block
        return out

    def blocks(self, *, chunk_mb: float) -> Iterator[torch.Tensor]:
        scale, change = 0.0, 0.0
        for path, start in self.segments:
            prev, at = None, start
            for chunk in self.recording.chunks(path, start=start, stop=start + self.length, chunk_mb=chunk_mb):
                block = torch.from_numpy(chunk.reshape(chunk.shape[0], -1))
                self._check(block, path, at)
                both = block if prev is None else torch.cat([prev, block])
                if both.shape[0] > 1:
                    change = max(change, float((both[1:] - both[:-1]).abs().max()))
                scale = max(scale, float(block.abs().max()))
                prev, at = block[-1:], at + block.shape[0]
                yield block
        if change <= 1e-6 * max(scale, 1e-12):
            raise ValueError(f"{self.name} are constant: no pixel changes over time, so nothing moves and there is no "
                             "dynamics to coarse-grain")


def is_lazy_array(obj: Any) -> bool:
    """An array whose values are not (all) in memory: dask (has ``compute``), zarr, h5py, a memory map."""
    if isinstance(obj, np.memmap):
        return True
    module = type(obj).__module__.split(".")[0]
    return hasattr(obj, "shape") and (module in ("dask", "zarr", "h5py") or
                                      (hasattr(obj, "compute") and hasattr(obj, "chunks")))


def frames_tensor(frames: Any, *, name: str = "frames", device: Any = None) -> torch.Tensor:
    """Frames as a floating tensor; integer pixels scaled to [0, 1] by their type's maximum (uint8 by
    255), as :func:`fimcg.open_recording` reads files, so that the same frames mean the same in
    memory, streamed, in training and when encoded later."""
    raw = frames if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if isinstance(raw, torch.Tensor):
        integer = not raw.dtype.is_floating_point and raw.dtype != torch.bool
        top = torch.iinfo(raw.dtype).max if integer else 1
    else:
        integer = raw.dtype.kind in "iu"
        top = np.iinfo(raw.dtype).max if integer else 1
    t = as_tensor(raw, name=name, device=device)
    return t / float(top) if integer else t


def prepare_frames(frames: Any, *, name: str = "frames") -> FrameData:
    """Validate video: a :class:`~fimcg.io.Recording` (streamed, :class:`StreamedFrames`) or an
    array/tensor (n_paths, T, H, W) or (n_paths, T, C, H, W) of any image size, held in memory
    (float32 unless float64, :class:`TensorFrames`; integer pixels are scaled to [0, 1] by their type's
    maximum, as :func:`fimcg.open_recording` does).

    Arrays that live outside memory (a dask array, a zarr or h5py dataset, a numpy memory map) are
    streamed too, read as (n_paths, T, H, W) or (n_paths, T, C, H, W).

    Raises ``ValueError`` for a wrong rank, too few frames, NaN/inf, or frames that do not change
    (for a recording, NaN/inf and constant frames are found as the frames are read).
    """
    from ..io.recording import Recording, open_recording

    if is_lazy_array(frames) and getattr(frames, "ndim", len(getattr(frames, "shape", ()))) in (4, 5):
        frames = open_recording(frames, layout="PTHW" if len(frames.shape) == 4 else "PTCHW")
    if isinstance(frames, Recording):
        return StreamedFrames(frames, name=name)
    t = frames_tensor(frames, name=name)
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
    return TensorFrames(t)


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
        return call, {"name": "FIM", "max_dim": fim.config.max_dim, "trained_dims": fim.supported_dims}
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
