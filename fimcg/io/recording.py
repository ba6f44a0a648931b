"""A user's recording as a lazy set of frames: video files, image stacks and arrays, read in chunks.

:func:`open_recording` reads headers and the first frame of every path (and decodes each video
once, to count its frames: containers' frame counts are estimates): it returns a
:class:`Recording` that knows how many paths (one per file, or a stack's path axis), how many
frames each has and what a frame looks like, and reads frames only when asked, a chunk at a time. :func:`fimcg.coarse_grain` accepts a
Recording wherever it accepts a frames tensor and streams it (see
:mod:`fimcg.coarse_graining.data`), so the frames are never all in memory.

What is read, and by which library (none of them is a hand-written decoder):

=============================  =====================================================  ========================
file                           read as                                                library
=============================  =====================================================  ========================
``.mp4 .avi .mov .mkv .webm``  one path; frames decoded in order, rate from the file  imageio + imageio-ffmpeg
``.gif``                       one path                                               imageio (pillow)
``.tif .tiff``                 one path (a multi-page stack, or a (T, H, W) series)   tifffile
a folder of images             one path, the images in name order                     imageio
``.npy``                       memory-mapped; layout from ``layout`` (below)          numpy
``.zarr``                      a zarr array (``file.zarr`` or ``file.zarr:/name``)    zarr
``.h5 .hdf5``                  a dataset, ``file.h5:/dataset``                        h5py
an array in Python             numpy arrays, memory maps, dask/zarr/h5py arrays       (slicing)
=============================  =====================================================  ========================

Array layouts name their axes with the letters P (paths), T (frames), C (channels), H, W: the
default is ``"THW"`` for 3 axes, ``"PTHW"`` for 4 and ``"PTCHW"`` for 5; colour arrays saved as
(T, H, W, 3) need ``layout="THWC"``. Integer pixels are scaled to [0, 1] by their type's maximum
(uint8 by 255); float pixels are kept as they are.

Per-frame processing (:func:`transform_frames`, in this order): colour to grey (ITU-R BT.601 luma
weights) or kept as channels; ``crop=(top, bottom, left, right)`` in pixels of the file; spatial
``downsample`` by the mean of k x k blocks; and, along time, ``stride`` keeps every stride-th frame.

Errors name the file and the problem (:class:`RecordingError`, a ``ValueError``): a missing or
unreadable file, a truncated video, a missing dataset, mixed frame sizes, an empty video.
"""

from __future__ import annotations

import math
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = ["Recording", "RecordingError", "FrameOptions", "open_recording", "open_collection", "transform_frames",
           "VIDEO_SUFFIXES", "DEFAULT_CHUNK_MB"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".gif")
TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
#: frames read at a time (megabytes of float32 frames after processing)
DEFAULT_CHUNK_MB = 128.0
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601


class RecordingError(ValueError):
    """A recording that cannot be read as frames; the message names the file and the problem."""


def _reason(exc: BaseException) -> str:
    """An exception as one short line: its type and the last line of its message (decoders print
    pages of diagnostics; the last line says what went wrong)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[-1] if lines else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _need(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - the extras are installed in the tests
        raise RecordingError(f"reading {what} needs the package {module!r}: pip install 'fimcg[io]'") from exc


# --------------------------------------------------------------------------------------------------
# per-frame processing


@dataclass(frozen=True)
class FrameOptions:
    """How raw frames become the frames fimcg sees.

    Attributes:
        grey: colour frames to one grey channel (True), or keep the channels as (C, H, W) (False).
        crop: ``(top, bottom, left, right)`` pixel bounds in the file's frames (Python slice
            semantics, negative values count from the far edge), or None.
        downsample: mean over ``downsample x downsample`` blocks (edges that do not fill a block are
            dropped).
        stride: keep every ``stride``-th frame (the time step grows by the same factor).
    """

    grey: bool = True
    crop: tuple[int, int, int, int] | None = None
    downsample: int = 1
    stride: int = 1

    def __post_init__(self) -> None:
        for name in ("downsample", "stride"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.crop is not None:
            c = tuple(self.crop)
            if len(c) != 4 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in c):
                raise ValueError(f"crop must be four integers (top, bottom, left, right), got {self.crop!r}")
            object.__setattr__(self, "crop", tuple(int(v) for v in c))


def transform_frames(raw: np.ndarray, options: FrameOptions = FrameOptions()) -> np.ndarray:
    """Raw frames (n, H, W) or (n, H, W, C) of any dtype -> float32 frames (n, H', W') (grey) or
    (n, C, H', W'), processed as the module doc says.

    Raises ``ValueError`` when the crop or the downsampling leaves no pixel.
    """
    a = np.asarray(raw)
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4:
        raise ValueError(f"frames must have shape (n, H, W) or (n, H, W, C); got {a.shape}")
    a = np.moveaxis(a, -1, 1)  # (n, C, H, W)
    scale = float(np.iinfo(a.dtype).max) if np.issubdtype(a.dtype, np.integer) else 1.0
    if a.dtype == np.bool_:
        scale = 1.0
    if options.crop is not None:
        top, bottom, left, right = options.crop
        a = a[:, :, top:bottom, left:right]
        if a.shape[2] == 0 or a.shape[3] == 0:
            raise ValueError(f"crop={options.crop} leaves no pixels of frames of size {raw.shape[1:3]}")
    a = a.astype(np.float32, copy=False)
    if scale != 1.0:
        a = a / np.float32(scale)
    if options.grey and a.shape[1] > 1:
        c = a.shape[1]
        if c in (3, 4):  # RGB or RGBA (alpha ignored)
            a = np.tensordot(_LUMA.astype(np.float32), a[:, :3], axes=([0], [1]))[:, None]
        else:
            a = a.mean(axis=1, keepdims=True)
    k = options.downsample
    if k > 1:
        n, c, h, w = a.shape
        if h < k or w < k:
            raise ValueError(f"downsample={k} is larger than the frames ({h} x {w} pixels)")
        a = a[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))
    if a.shape[1] == 1:
        a = a[:, 0]
    return np.ascontiguousarray(a, dtype=np.float32)


# --------------------------------------------------------------------------------------------------
# sources: one file (or one array) holding one or more paths


class _Source:
    """One file or array. ``lengths[p]`` raw frames in path p; ``read(p, a, b, step)`` -> raw frames
    a, a + step, ... < b of path p, (n, H, W, C) of the file's dtype."""

    name: str
    lengths: list[int]
    fps: float | None = None
    sequential = False  # True: reading frame a means decoding every frame before it (see iterate)

    def read(self, p: int, a: int, b: int, step: int = 1) -> np.ndarray:
        raise NotImplementedError

    #: bytes of raw frames one read of :meth:`take` may cover (bounds its memory, whatever the path's length)
    TAKE_BYTES = 32 * 2 ** 20

    def frame_bytes(self) -> int:
        """Bytes of one raw frame (an estimate is enough: it bounds the reads of :meth:`take`)."""
        return 1

    def take(self, p: int, idx: np.ndarray) -> np.ndarray:
        """Raw frames at sorted, distinct indices ``idx`` of path p: nearby indices are read as one
        slice of at most :attr:`TAKE_BYTES` (and at most 4 frames read per frame wanted)."""
        idx = np.asarray(idx, dtype=np.int64)
        if not len(idx):
            return self.read(p, 0, 0)
        span = max(1, self.TAKE_BYTES // max(self.frame_bytes(), 1))
        parts, i = [], 0
        while i < len(idx):
            j = i + 1
            while j < len(idx) and idx[j] - idx[i] < span and idx[j] - idx[i] < 4 * (j - i + 1):
                j += 1
            a, b = int(idx[i]), int(idx[j - 1]) + 1
            parts.append(self.read(p, a, b)[idx[i:j] - a])
            i = j
        return np.concatenate(parts)

    def close(self) -> None:
        """Release the file (a no-op for sources that open it per read)."""


LAYOUTS = {3: "THW", 4: "PTHW", 5: "PTCHW"}
_VALID_LAYOUTS = {"".join(sorted(x)) for x in ("THW", "THWC", "PTHW", "PTHWC")}


class _ArraySource(_Source):
    """An array-like (numpy array, zarr/h5py dataset, dask array) sliced lazily: ``getter(index)``
    (default ``array[index]``) returns the slice, as an array or something with ``compute()``."""

    def __init__(self, array: Any, name: str, layout: str | None, *, shape: tuple[int, ...] | None = None,
                 getter: Any = None) -> None:
        self.name = name
        shape = tuple(int(s) for s in (shape if shape is not None else getattr(array, "shape", ())))
        layout = (layout or LAYOUTS.get(len(shape), "")).upper()
        if "".join(sorted(layout)) not in _VALID_LAYOUTS or len(layout) != len(shape):
            raise RecordingError(f"{name}: an array of shape {shape} with layout {layout!r}: the layout must name "
                                 "each axis once with the letters P (paths, optional), T, H, W and C (optional), "
                                 "e.g. 'THW', 'PTHW', 'THWC', 'PTCHW'")
        if any(s == 0 for s in shape):
            raise RecordingError(f"{name}: the array of shape {shape} is empty")
        self.get = getter if getter is not None else array.__getitem__
        self.layout, self.shape = layout, shape
        self.itemsize = np.dtype(getattr(array, "dtype", np.float32)).itemsize if array is not None else 4
        self.handle = None  # an open file to close (HDF5)
        n_paths = shape[layout.index("P")] if "P" in layout else 1
        self.lengths = [shape[layout.index("T")]] * n_paths

    def read(self, p: int, a: int, b: int, step: int = 1) -> np.ndarray:
        index, have = [], ""
        for ax in self.layout:
            if ax == "P":
                index.append(p)
            else:
                index.append(slice(a, b, step) if ax == "T" else slice(None))
                have += ax
        try:
            block = self.get(tuple(index))
            arr = np.asarray(block.compute() if hasattr(block, "compute") else block)
        except RecordingError:
            raise
        except Exception as exc:  # a corrupt chunk, a missing compression filter, a file that vanished
            raise RecordingError(f"{self.name}: frames {a}..{b - 1} of path {p} cannot be read "
                                 f"({_reason(exc)})") from exc
        want = "THWC" if "C" in have else "THW"
        arr = np.transpose(arr, [have.index(ax) for ax in want])
        return arr if "C" in have else arr[..., None]


    def frame_bytes(self) -> int:
        return int(np.prod([n for ax, n in zip(self.layout, self.shape) if ax in "HWC"])) * self.itemsize

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class _NpySource(_ArraySource):
    """A ``.npy`` file, memory-mapped afresh for every read of a block of rows, and unmapped after
    the copy: pages read once do not stay in the process's resident memory."""

    def __init__(self, path: Path, layout: str | None) -> None:
        fmt = np.lib.format
        try:
            with open(path, "rb") as fh:
                version = fmt.read_magic(fh)
                read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, fortran, dtype = read_header(fh)
                self.offset = fh.tell()
        except (OSError, ValueError) as exc:
            raise RecordingError(f"{path}: not a readable .npy file ({exc})") from exc
        if dtype.hasobject:
            raise RecordingError(f"{path}: holds Python objects; only numeric arrays are read (loading objects "
                                 "would unpickle, which can run code)")
        if fortran:
            raise RecordingError(f"{path}: a Fortran-ordered array; save it in C order (np.ascontiguousarray)")
        need = self.offset + int(np.prod(shape)) * dtype.itemsize
        if os.path.getsize(path) < need:
            raise RecordingError(f"{path}: truncated: the header promises {need} bytes, the file has "
                                 f"{os.path.getsize(path)}")
        self._attach(path, self.offset, tuple(shape), dtype, layout, str(path))

    def _attach(self, path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype, layout: str | None,
                name: str) -> None:
        self.path, self.offset, self.np_shape, self.np_dtype = path, offset, shape, dtype
        super().__init__(None, name, layout, shape=shape, getter=self._map)
        self.itemsize = dtype.itemsize

    @classmethod
    def of_memmap(cls, mm: np.memmap, layout: str | None) -> "_NpySource":
        """Read the file behind a C-ordered numpy memory map the same way (not through the map itself,
        whose pages would stay resident once touched)."""
        src = cls.__new__(cls)
        src._attach(Path(mm.filename), int(mm.offset), tuple(mm.shape), mm.dtype, layout,
                    f"memory map of {mm.filename}")
        return src

    def _map(self, index: tuple) -> np.ndarray:
        """Map only the rows of the first axis that ``index`` touches, copy the slice out, unmap."""
        first = index[0]
        if isinstance(first, slice):
            lo, hi, step = first.indices(self.np_shape[0])
            rest: tuple = (slice(None, None, step),) + index[1:]
        else:
            lo, hi, rest = int(first), int(first) + 1, (0,) + index[1:]
        hi = max(hi, lo)
        row = int(np.prod(self.np_shape[1:])) * self.np_dtype.itemsize
        if hi == lo:
            return np.zeros((0,) + self.np_shape[1:], self.np_dtype)[rest]
        mm = np.memmap(self.path, dtype=self.np_dtype, mode="r", offset=self.offset + lo * row,
                       shape=(hi - lo,) + self.np_shape[1:])
        try:
            return np.array(mm[rest])
        finally:
            mm._mmap.close()  # noqa: SLF001 - unmap now rather than at garbage collection
            del mm


class _VideoSource(_Source):
    """A video file decoded with imageio (ffmpeg for mp4/avi/mov/..., pillow for gif), in order."""

    sequential = True

    def __init__(self, path: Path) -> None:
        iio = _need("imageio.v3", f"video file {path}")
        self.name, self.path, self.iio = str(path), path, iio
        try:
            meta = iio.immeta(path)
        except Exception as exc:  # imageio raises many kinds for a file it cannot open
            raise RecordingError(f"{path}: cannot be read as a video: not a video, or truncated "
                                 f"({_reason(exc)})") from exc
        fps = meta.get("fps")
        if fps is None and meta.get("duration") and path.suffix.lower() == ".gif":
            fps = 1000.0 / float(meta["duration"])  # pillow gives a gif's frame duration in ms
        self.fps = float(fps) if fps and math.isfinite(float(fps)) and float(fps) > 0 else None
        n, shape = 0, None
        try:  # count the frames: decoding is the only reliable way (containers' counts are estimates)
            for frame in iio.imiter(path):
                shape = shape or frame.shape
                n += 1
        except Exception as exc:
            raise RecordingError(f"{path}: the video is corrupt or truncated after {n} frames "
                                 f"({_reason(exc)})") from exc
        if n == 0:
            raise RecordingError(f"{path}: the video holds no frames")
        self.lengths, self.raw_shape = [n], shape

    def iterate(self, a: int, b: int) -> Iterator[np.ndarray]:
        """Raw frames a..b-1, (H, W, C) each, decoded in order."""
        try:
            for i, frame in enumerate(self.iio.imiter(self.path)):
                if i >= b:
                    break
                if i >= a:
                    yield frame if frame.ndim == 3 else frame[..., None]
        except Exception as exc:  # the file changed since it was opened
            raise RecordingError(f"{self.path}: decoding failed ({_reason(exc)})") from exc

    def read(self, p: int, a: int, b: int, step: int = 1) -> np.ndarray:
        frames = list(self.iterate(a, b))[::step]
        h, w = self.raw_shape[:2]
        return np.stack(frames) if frames else np.zeros((0, h, w, 1), np.uint8)

    def take(self, p: int, idx: np.ndarray) -> np.ndarray:
        if not len(idx):
            return self.read(p, 0, 0)
        want = set(int(i) for i in idx)
        return np.stack([f for i, f in enumerate(self.iterate(0, int(idx[-1]) + 1)) if i in want])


class _TiffSource(_Source):
    """A multi-page TIFF (one frame per page, read page by page), or a single page holding a
    (T, H, W[, S]) series (read whole at every access: save long recordings one frame per page)."""

    def __init__(self, path: Path) -> None:
        self.tifffile = _need("tifffile", f"TIFF file {path}")
        self.name, self.path = str(path), path
        try:
            with self.tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                shape, axes, n_pages = tuple(series.shape), series.axes, len(tif.pages)
                page_shapes = {tuple(pg.shape) for pg in tif.pages}
        except Exception as exc:
            raise RecordingError(f"{path}: cannot be read as a TIFF ({_reason(exc)})") from exc
        if len(page_shapes) > 1:
            raise RecordingError(f"{path}: the pages have different sizes ({sorted(page_shapes)}); a recording's "
                                 "frames must share one size")
        self.samples = "S" in axes  # a colour (sample) axis last
        self.frame_ndim = 3 if self.samples else 2
        self.per_page = n_pages > 1
        n = n_pages if self.per_page else int(np.prod(shape[:len(shape) - self.frame_ndim]))
        self.lengths = [max(n, 1)]

    def _frames(self, keys: list[int]) -> np.ndarray:
        try:
            if self.per_page:
                arr = self.tifffile.imread(self.path, key=keys)
                arr = arr[None] if len(keys) == 1 else arr
            else:
                whole = self.tifffile.imread(self.path)
                arr = whole.reshape((-1,) + whole.shape[whole.ndim - self.frame_ndim:])[keys]
        except Exception as exc:
            raise RecordingError(f"{self.path}: frames {keys[0]}..{keys[-1]} cannot be read "
                                 f"({_reason(exc)})") from exc
        return arr if arr.ndim == 4 else arr[..., None]

    def read(self, p: int, a: int, b: int, step: int = 1) -> np.ndarray:
        keys = list(range(a, min(b, self.lengths[0]), step))
        return self._frames(keys) if keys else self._frames([0])[:0]

    def take(self, p: int, idx: np.ndarray) -> np.ndarray:
        return self._frames([int(i) for i in idx]) if len(idx) else self.read(p, 0, 0)


class _FolderSource(_Source):
    """A folder of images (png, jpg, bmp, tif), one frame each, in name order; all of one size."""

    def __init__(self, path: Path) -> None:
        self.iio = _need("imageio.v3", f"image folder {path}")
        self.name = str(path)
        self.files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise RecordingError(f"{path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.lengths = [len(self.files)]
        self.shape = self._image(self.files[0]).shape

    def _image(self, f: Path) -> np.ndarray:
        try:
            im = self.iio.imread(f)
        except Exception as exc:
            raise RecordingError(f"{f}: cannot be read as an image ({_reason(exc)})") from exc
        im = im if im.ndim == 3 else im[..., None]
        if hasattr(self, "shape") and im.shape != self.shape:
            raise RecordingError(f"{f}: an image of shape {im.shape}, but {self.files[0].name} has {self.shape}; the "
                                 "images of a folder must share one size")
        return im

    def read(self, p: int, a: int, b: int, step: int = 1) -> np.ndarray:
        frames = [self._image(f) for f in self.files[a:b:step]]
        return np.stack(frames) if frames else np.zeros((0, *self.shape), np.float32)

    def take(self, p: int, idx: np.ndarray) -> np.ndarray:
        return np.stack([self._image(self.files[int(i)]) for i in idx]) if len(idx) else self.read(p, 0, 0)


def _split_dataset(spec: str) -> tuple[str, str | None]:
    """'file.h5:/group/data' -> ('file.h5', '/group/data'); a Windows drive letter is not a dataset."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and len(head) > 1 and not tail.startswith("\\"):
        return head, tail
    return spec, None


def _open_source(spec: Any, *, layout: str | None, dataset: str | None) -> _Source:
    if not isinstance(spec, (str, os.PathLike)):
        name = f"array {type(spec).__name__}{tuple(getattr(spec, 'shape', ()))}"
        if not hasattr(spec, "shape"):
            raise RecordingError(f"{name}: not a file name or an array (it has no shape)")
        import torch

        if isinstance(spec, np.memmap) and spec.filename and spec.flags.c_contiguous and spec.base is not None \
                and isinstance(spec.base, mmap.mmap):
            return _NpySource.of_memmap(spec, layout)
        if isinstance(spec, torch.Tensor):
            spec = spec.detach().cpu().numpy()
        return _ArraySource(spec, name, layout)
    text = str(spec)
    file, inner = (text, None) if Path(text).exists() else _split_dataset(text)
    inner = inner or dataset
    path = Path(file)
    suffix = path.suffix.lower()
    if not path.exists():
        raise RecordingError(f"{path}: no such file or folder")
    if suffix == ".zarr":
        zarr = _need("zarr", f"zarr store {path}")
        try:
            node = zarr.open(str(path), mode="r")
            if inner:
                node = node[inner.strip("/")]
        except KeyError as exc:
            raise RecordingError(f"{path}: no array {inner!r} in the zarr store") from exc
        except Exception as exc:
            raise RecordingError(f"{path}: cannot be read as zarr ({_reason(exc)})") from exc
        if not hasattr(node, "shape"):
            raise RecordingError(f"{path}: {inner or '/'} is a zarr group, not an array; name the array as "
                                 f"{path}:/NAME (it holds {sorted(node.array_keys())})")
        return _ArraySource(node, f"{path}:{inner}" if inner else str(path), layout)
    if path.is_dir():
        return _FolderSource(path)
    if suffix in HDF5_SUFFIXES:
        h5py = _need("h5py", f"HDF5 file {path}")
        if not inner:
            raise RecordingError(f"{path}: name the dataset to read, as {path}:/DATASET")
        try:
            fh = h5py.File(path, "r")
        except Exception as exc:
            raise RecordingError(f"{path}: cannot be read as HDF5 ({_reason(exc)})") from exc
        if inner not in fh or not isinstance(fh[inner], h5py.Dataset):
            names: list[str] = []
            fh.visit(lambda n: names.append("/" + n) if isinstance(fh[n], h5py.Dataset) else None)
            what = "a group, not a dataset" if inner in fh else "no such dataset"
            fh.close()
            raise RecordingError(f"{path}: no dataset {inner!r} ({what}); the file holds {names}")
        try:
            src = _ArraySource(fh[inner], f"{path}:{inner}", layout)
        except RecordingError:
            fh.close()
            raise
        src.handle = fh
        return src
    if suffix == ".npy":
        return _NpySource(path, layout)
    if suffix in TIFF_SUFFIXES:
        return _TiffSource(path)
    if suffix in VIDEO_SUFFIXES:
        return _VideoSource(path)
    raise RecordingError(f"{path}: unknown kind of file {suffix!r}; fimcg reads videos ({', '.join(VIDEO_SUFFIXES)}), "
                         f"TIFF, image folders, .npy, .zarr and HDF5 ({', '.join(HDF5_SUFFIXES)}) files")


# --------------------------------------------------------------------------------------------------
# the recording


class Recording:
    """Frames of one or more paths, read lazily (see the module doc; made by :func:`open_recording`).

    Attributes:
        n_paths: number of paths (files, or a stack's path axis).
        lengths: frames per path, after ``stride``.
        frame_shape: (H, W) (grey) or (C, H, W) after processing.
        fps: frames per second of the files (after ``stride``), when they all state the same one.
        names: for each path, ``"file"`` or ``"file[p]"`` (used in error messages).
    """

    def __init__(self, sources: Sequence[_Source], options: FrameOptions) -> None:
        self.sources, self.options = list(sources), options
        self._paths = [(s, p) for s in self.sources for p in range(len(s.lengths))]
        self.names = [s.name if len(s.lengths) == 1 else f"{s.name}[{p}]" for s, p in self._paths]
        k = options.stride
        self.lengths = [-(-s.lengths[p] // k) for s, p in self._paths]
        shapes = {}
        for (s, p), name in zip(self._paths, self.names):
            first = s.read(p, 0, 1)
            try:
                shapes[name] = transform_frames(first, options).shape[1:]
            except ValueError as exc:
                raise RecordingError(f"{name}: {exc}") from exc
        distinct = sorted(set(shapes.values()))
        if len(distinct) > 1:
            listing = "; ".join(f"{n}: {sh}" for n, sh in shapes.items())
            raise RecordingError(f"the files have frames of different sizes after processing ({listing}); crop or "
                                 "downsample them to one size")
        self.frame_shape: tuple[int, ...] = tuple(distinct[0])
        rates = {s.fps for s in self.sources}
        self.fps = (rates.pop() / k) if len(rates) == 1 and None not in rates else None
        self.groups: list[list[int]] | None = None  # a collection: the paths of each recording
        self.group_names: list[str] | None = None

    @classmethod
    def concat(cls, recordings: Sequence["Recording"], *, names: Sequence[str] | None = None) -> "Recording":
        """Several recordings as one *collection* (:func:`open_collection`): the paths of all of
        them, and ``groups[k]``, the path indices of recording ``k`` (named ``group_names[k]``).

        Raises :class:`RecordingError` when the recordings were processed differently (crop,
        downsample, stride, colour) or have frames of different sizes."""
        recs = list(recordings)
        if len(recs) < 2:
            raise RecordingError(f"a collection needs at least two recordings, got {len(recs)}; one recording is "
                                 "opened with open_recording")
        options = {r.options for r in recs}
        if len(options) > 1:
            raise RecordingError(f"the recordings of a collection must be processed alike (crop, downsample, stride, "
                                 f"colour); got {sorted(map(repr, options))}")
        names = [f"recording {k}" for k in range(len(recs))] if names is None else [str(n) for n in names]
        if len(names) != len(recs) or len(set(names)) != len(names):
            raise RecordingError(f"names must be {len(recs)} distinct names, one per recording; got {names}")
        out = cls([src for r in recs for src in r.sources], recs[0].options)
        starts = np.cumsum([0] + [r.n_paths for r in recs])
        out.groups = [list(range(int(a), int(b))) for a, b in zip(starts[:-1], starts[1:])]
        out.group_names = names
        out.names = [f"{n}: {path}" for n, r in zip(names, recs) for path in r.names]
        return out

    @property
    def n_paths(self) -> int:
        return len(self._paths)

    @property
    def n_frames(self) -> int:
        return int(sum(self.lengths))

    @property
    def frame_size(self) -> int:
        """Values per frame (C * H * W)."""
        return int(np.prod(self.frame_shape))

    def chunk_frames(self, chunk_mb: float = DEFAULT_CHUNK_MB) -> int:
        """Frames per chunk so that a chunk of float32 frames takes about ``chunk_mb`` megabytes."""
        return max(1, int(chunk_mb * 2 ** 20 // (4 * self.frame_size)))

    def _process(self, raw: np.ndarray) -> np.ndarray:
        return transform_frames(raw, self.options)

    def chunks(self, path: int, *, start: int = 0, stop: int | None = None, chunk_mb: float = DEFAULT_CHUNK_MB
               ) -> Iterator[np.ndarray]:
        """Frames ``start:stop`` of one path (after stride) in chunks, each float32 (n, \\*frame_shape)."""
        s, p = self._paths[path]
        stop = self.lengths[path] if stop is None else min(stop, self.lengths[path])
        k, n = self.options.stride, self.chunk_frames(chunk_mb)
        if s.sequential:  # decode once, in order
            buf: list[np.ndarray] = []
            for i, frame in enumerate(s.iterate(start * k, stop * k)):  # type: ignore[attr-defined]
                if i % k == 0:
                    buf.append(frame)
                if len(buf) == n:
                    yield self._process(np.stack(buf))
                    buf = []
            if buf:
                yield self._process(np.stack(buf))
            return
        for a in range(start, stop, n):
            b = min(a + n, stop)
            yield self._process(s.read(p, a * k, (b - 1) * k + 1, k))

    def take(self, path: int, indices: Any) -> np.ndarray:
        """Frames at ``indices`` (after stride) of one path: float32 (m, \\*frame_shape), in the given order."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.lengths[path]):
            raise IndexError(f"frame index out of range 0..{self.lengths[path] - 1} of {self.names[path]}")
        s, p = self._paths[path]
        order = np.argsort(idx, kind="stable")
        uniq, inverse = np.unique(idx[order], return_inverse=True)
        raw = s.take(p, uniq * self.options.stride)
        frames = self._process(raw)[inverse]
        out = np.empty_like(frames)
        out[order] = frames
        return out

    def to_numpy(self) -> np.ndarray:
        """All frames in memory, (n_paths, T, \\*frame_shape) float32 (paths must have equal lengths)."""
        if len(set(self.lengths)) != 1:
            raise ValueError(f"the paths have different lengths {self.lengths}; read them one by one with chunks()")
        return np.stack([np.concatenate(list(self.chunks(p))) for p in range(self.n_paths)])

    def close(self) -> None:
        """Close the files the recording keeps open (HDF5); reading again afterwards fails."""
        for s in self.sources:
            s.close()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Recording({self.n_paths} paths, {self.n_frames} frames of shape {self.frame_shape}"
                + (f", {self.fps:g} frames/s" if self.fps else "") + ")")


def open_collection(*recordings: Any, names: Sequence[str] | None = None, **options: Any) -> Recording:
    """Several recordings of one kind of system, each with its own paths (and its own SDE), as one
    collection for :func:`fimcg.coarse_grain`, which then learns one encoder for all of them.

    Args:
        recordings: each a :class:`Recording`, an array (n_paths, T, H, W) or (n_paths, T, C, H, W)
            (numpy, torch, dask, zarr, h5py), or a list of files/arrays opened together by
            :func:`open_recording` (one recording of several paths).
        names: one distinct name per recording (default ``"recording k"``).
        options: :func:`open_recording`'s keywords for the items that are not yet Recordings
            (``layout`` defaults to ``"PTHW"`` / ``"PTCHW"`` for arrays).

    Raises:
        RecordingError: a recording that cannot be read, recordings processed differently, or
            frames of different sizes.
    """
    if len(recordings) < 2:
        raise RecordingError(f"a collection needs two or more recordings (arrays, files or Recordings), got "
                             f"{len(recordings)}")
    recs = []
    for item in recordings:
        if isinstance(item, Recording):
            recs.append(item)
        elif isinstance(item, (list, tuple)):
            recs.append(open_recording(*item, **options))
        else:
            ndim = len(getattr(item, "shape", ()))
            layout = options.get("layout") or {4: "PTHW", 5: "PTCHW"}.get(ndim)
            recs.append(open_recording(item, **{**options, "layout": layout}))
    return Recording.concat(recs, names=names)


def open_recording(*files: Any, layout: str | None = None, dataset: str | None = None, grey: bool = True,
                   crop: tuple[int, int, int, int] | None = None, downsample: int = 1, stride: int = 1
                   ) -> Recording:
    """Open video files, image stacks or arrays as one lazy :class:`Recording` (see the module doc).

    Args:
        files: file names (``"a.mp4"``, ``"stack.tif"``, ``"frames/"``, ``"x.npy"``, ``"x.zarr"``,
            ``"x.h5:/frames"``) or arrays (numpy, memory maps, zarr/h5py datasets, dask, torch); each
            gives one path, or several along a P axis of its layout.
        layout: axis letters of arrays (``"THW"``, ``"PTHW"``, ``"THWC"``, ...; default by their rank).
        dataset: the dataset of HDF5 files / the array of zarr groups, when not given as ``file:/name``.
        grey, crop, downsample, stride: the per-frame processing (:class:`FrameOptions`).

    Raises:
        RecordingError: a missing, unreadable, truncated or empty file, a missing dataset, or frames
            of different sizes (the message names the file).
    """
    if not files:
        raise RecordingError("no recording given: pass one or more files or arrays")
    options = FrameOptions(grey=grey, crop=crop, downsample=downsample, stride=stride)
    return Recording([_open_source(f, layout=layout, dataset=dataset) for f in files], options)
