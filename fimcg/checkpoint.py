"""Atomic checkpoint files: a killed job never leaves a half-written checkpoint behind.

Every long job in fimcg (FIM pretraining, coarse-graining) saves through :func:`save_checkpoint`, which
writes to a temporary file in the target folder, flushes it to disk, and renames it over the old file
(``os.replace`` is atomic on POSIX and Windows). A reader therefore sees either the previous complete
checkpoint or the new complete one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["save_checkpoint", "load_checkpoint", "atomic_write_text", "atomic_write_json", "sha256_of"]


_UMASK = os.umask(0)
os.umask(_UMASK)


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


def save_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """Save ``obj`` (anything ``torch.save`` accepts) to ``path`` atomically and return the path."""
    path = Path(path)
    _atomic_replace(path, lambda fh: torch.save(obj, fh))
    return path


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Raises ``FileNotFoundError`` naming the path when it does not exist, and ``RuntimeError`` naming
    the path when the file cannot be read as a checkpoint (truncated or corrupt).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises several types for corrupt files
        raise RuntimeError(f"checkpoint {path} is corrupt or not a torch checkpoint: {exc}") from exc


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (used for JSON logs and reports)."""
    path = Path(path)
    _atomic_replace(path, lambda fh: fh.write(text.encode("utf-8")))
    return path


def atomic_write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
