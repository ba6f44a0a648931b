"""fimcg's file format: tensors in safetensors, everything else as JSON; atomic writes.

Every file fimcg writes that holds tensors (the FIM's weights, a saved coarse-graining result,
training checkpoints) is one `safetensors <https://huggingface.co/docs/safetensors>`_ file. Its
tensors are stored as tensors; the rest of the saved object (a tree of dicts, lists, tuples,
strings, numbers, booleans and None) is stored as JSON in the file's metadata, with each tensor
replaced by a reference ``{"__tensor__": name}``. Reading such a file parses a length-prefixed JSON
header and copies raw bytes: **loading a file never runs code**, whatever the file holds. Files in
fimcg's former format (pickles written by ``torch.save``) are refused with an error that names
:func:`convert_legacy` / ``fimcg convert``; nothing is ever unpickled implicitly.

Writes are atomic: :func:`save_checkpoint` writes to a temporary file in the target folder, flushes
it to disk, and renames it over the old file (``os.replace`` is atomic on POSIX and Windows). A
reader therefore sees either the previous complete file or the new complete one, and a job killed
at any moment (even by SIGKILL) leaves its last checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["save_checkpoint", "load_checkpoint", "convert_legacy", "LegacyFormatError", "UnsafeFileError",
           "atomic_write_text", "atomic_write_json", "atomic_write_array", "sha256_of", "FILE_FORMAT"]

FILE_FORMAT = "fimcg-safetensors-1"  # the container; what the tree means is the tree's own "format" field

_TENSOR, _NDARRAY, _TUPLE, _DICT = "__tensor__", "__ndarray__", "__tuple__", "__dict__"
_MARKERS = {_TENSOR, _NDARRAY, _TUPLE, _DICT}
_MAX_HEADER = 100_000_000  # safetensors' own limit on the header (bytes)

_UMASK = os.umask(0)
os.umask(_UMASK)


class UnsafeFileError(RuntimeError):
    """A file that is not a fimcg safetensors file (corrupt, truncated, or of another kind)."""


class LegacyFormatError(UnsafeFileError):
    """A file in fimcg's former, pickle-based format: it is refused, because unpickling runs code."""


def _atomic_replace(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions of a new file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------------------------
# the tree <-> (JSON, tensors) encoding


def _store(tensor: torch.Tensor, tensors: dict[str, torch.Tensor], where: str, marker: str) -> dict:
    """Put ``tensor`` into ``tensors`` under its path (made unique) and return the reference to it."""
    name = where or "tensor"
    while name in tensors:  # paths are unique, but "a.b" the key and a -> b could collide
        name += "'"
    # own, contiguous storage on the CPU (safetensors refuses tensors that share memory)
    tensors[name] = tensor.detach().to("cpu").contiguous().clone()
    return {marker: name}


def _encode(obj: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    """JSON-ready copy of ``obj`` with its tensors moved into ``tensors`` (named by their path)."""
    if isinstance(obj, torch.Tensor):
        return _store(obj, tensors, where, _TENSOR)
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError(f"cannot save {where or 'the object'}: a numpy array of Python objects")
        return _store(torch.from_numpy(np.ascontiguousarray(obj)), tensors, where, _NDARRAY)
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj  # json writes nan/inf as NaN/Infinity and reads them back
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not (_MARKERS & set(obj)):
            return {k: _encode(v, tensors, f"{where}.{k}" if where else k) for k, v in obj.items()}
        pairs = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"cannot save {where or 'the object'}: dict key {k!r} of type {type(k).__name__}")
            pairs.append([k, _encode(v, tensors, f"{where}.{k}" if where else str(k))])
        return {_DICT: pairs}
    if isinstance(obj, tuple):  # torch.Size too
        return {_TUPLE: [_encode(v, tensors, f"{where}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{where}.{i}") for i, v in enumerate(obj)]
    raise TypeError(f"cannot save {where or 'the object'}: values of type {type(obj).__name__} are not "
                    "storable (tensors, arrays, dicts, lists, tuples, str, numbers, bool, None are)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor], path: Path) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors, path) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (key, value), = obj.items()
        if key in (_TENSOR, _NDARRAY):
            if not isinstance(value, str) or value not in tensors:
                raise UnsafeFileError(f"{path} is corrupt: it refers to a tensor {value!r} it does not hold")
            t = tensors[value]
            return t if key == _TENSOR else t.cpu().numpy()
        if key == _TUPLE and isinstance(value, list):
            return tuple(_decode(v, tensors, path) for v in value)
        if key == _DICT and isinstance(value, list):
            if not all(isinstance(p, list) and len(p) == 2 and (p[0] is None or isinstance(p[0], (bool, int, float, str)))
                       for p in value):
                raise UnsafeFileError(f"{path} is corrupt: a malformed dict entry")
            return {k: _decode(v, tensors, path) for k, v in value}
    return {k: _decode(v, tensors, path) for k, v in obj.items()}


# ----------------------------------------------------------------------------------------------
# files


def save_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """Save ``obj`` to ``path`` atomically as a safetensors file and return the path.

    ``obj`` is a tree of dicts (any str/int/float/bool/None keys), lists, tuples, tensors, numpy
    arrays, strings, numbers, booleans and None; :func:`load_checkpoint` returns an equal tree
    (tensors on the CPU unless asked otherwise). Anything else raises ``TypeError`` naming where in
    the tree it sits, and the previous file at ``path`` is kept.
    """
    from safetensors.torch import save

    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    tree = json.dumps(_encode(obj, tensors, ""), allow_nan=True)
    data = save(tensors, metadata={"format": FILE_FORMAT, "tree": tree})
    _atomic_replace(path, lambda fh: fh.write(data))
    return path


def _check_header(path: Path) -> None:
    """Raise :class:`LegacyFormatError` / :class:`UnsafeFileError` unless ``path`` starts like a
    safetensors file (an 8-byte little-endian header length, then a JSON object that fits the file)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) == 9:
        n = struct.unpack("<Q", head[:8])[0]
        if head[8:9] == b"{" and n <= _MAX_HEADER and 8 + n <= size:
            return
    if head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05"):
        # torch.save's zip archive, or a raw pickle (protocol 2-5)
        raise LegacyFormatError(
            f"{path} is in fimcg's former pickle-based format, which can run code when loaded; fimcg never "
            f"unpickles a file. If you made this file yourself (or trust whoever did), convert it once with "
            f"`fimcg convert {path} NEW.safetensors` (or fimcg.io.checkpoint.convert_legacy) and load the new file.")
    if len(head) < 9:
        raise UnsafeFileError(f"{path} is corrupt or not a fimcg file: only {size} bytes")
    raise UnsafeFileError(f"{path} is corrupt or not a fimcg file (not a safetensors file, or truncated)")


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Any:
    """Load a file written by :func:`save_checkpoint` (tensors moved to ``map_location``).

    Never runs code: the file is parsed as safetensors (JSON header + raw tensor bytes).

    Raises:
        FileNotFoundError: naming the path, when it does not exist.
        LegacyFormatError: the file is a pickle (fimcg's former format); the message says how to
            convert it knowingly.
        UnsafeFileError: the file is truncated, corrupt, or not a fimcg file (both are RuntimeErrors).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    _check_header(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise UnsafeFileError(f"{path} is corrupt or not a fimcg file: {exc}") from exc
    if meta.get("format") != FILE_FORMAT or "tree" not in meta:
        raise UnsafeFileError(f"{path} is a safetensors file but not one written by fimcg (format "
                              f"{meta.get('format')!r}, expected {FILE_FORMAT!r})")
    try:
        tree = json.loads(meta["tree"])
    except (ValueError, RecursionError) as exc:
        raise UnsafeFileError(f"{path} is corrupt: its metadata is not valid JSON ({type(exc).__name__})") from exc
    if str(map_location) != "cpu":
        tensors = {k: t.to(map_location) for k, t in tensors.items()}
    try:
        return _decode(tree, tensors, path)
    except RecursionError as exc:
        raise UnsafeFileError(f"{path} is corrupt: its metadata nests too deeply") from exc


def convert_legacy(src: str | os.PathLike, dest: str | os.PathLike, *, trust: bool = False,
                   upgrade: Callable[[Any], Any] | None = None) -> Path:
    """Convert a file of fimcg's former pickle-based format to the current format; return ``dest``.

    This is the **only** place where fimcg unpickles, and only when called explicitly. The file is
    first read with torch's restricted unpickler (``weights_only=True``: tensors, dicts, lists and
    plain values only, no arbitrary code), which suffices for files fimcg wrote. With ``trust=True``
    a file that the restricted reader refuses is unpickled in full, which runs whatever code the file
    holds: do that only for a file you made yourself. ``upgrade`` maps the old tree to the current
    layout before it is written (``fimcg convert`` passes :func:`fimcg.fim.weights.upgrade_legacy`,
    which brings FIM configurations up to date).

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: ``src`` is already in the current format, or the restricted reader refused it and
            ``trust`` is False (the message says so).
    """
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise FileNotFoundError(f"file to convert not found: {src}")
    try:
        _check_header(src)
    except LegacyFormatError:
        pass
    except UnsafeFileError:
        raise ValueError(f"{src} is neither a legacy fimcg file (a torch pickle) nor a fimcg file") from None
    else:
        raise ValueError(f"{src} is already in the current format ({FILE_FORMAT}); nothing to convert")
    warnings.warn(f"convert_legacy unpickles {src} (restricted to tensors and plain values"
                  f"{'' if not trust else ', then in full if needed: that runs any code the file holds'})",
                  stacklevel=2)
    try:
        blob = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:
        if not trust:
            raise ValueError(f"{src} holds more than tensors and plain values, so the restricted reader refused "
                             f"it ({type(exc).__name__}); convert it with trust=True (`fimcg convert --trust`) only if "
                             "you made the file yourself: a full unpickle runs any code the file holds") from exc
        blob = torch.load(src, map_location="cpu", weights_only=False)
    return save_checkpoint(blob if upgrade is None else upgrade(blob), dest)


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (used for JSON logs and reports)."""
    path = Path(path)
    _atomic_replace(path, lambda fh: fh.write(text.encode("utf-8")))
    return path


def atomic_write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def atomic_write_array(array: Any, path: str | os.PathLike) -> Path:
    """Write a numeric array as a ``.npy`` file atomically (never with pickled objects)."""
    arr = np.asarray(array.detach().cpu() if isinstance(array, torch.Tensor) else array)
    if arr.dtype.hasobject:
        raise TypeError("atomic_write_array writes numeric arrays only, not Python objects")
    path = Path(path)
    _atomic_replace(path, lambda fh: np.save(fh, arr, allow_pickle=False))
    return path


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
