"""Argument checks shared by every public entry point.

Each check raises at the boundary with the argument's name and the offending value in the message,
so a user sees *what* was wrong, not a stack trace from deep inside a tensor operation.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

__all__ = [
    "to_numpy",
    "as_tensor",
    "check_finite",
    "check_positive",
    "check_int",
    "check_interval",
    "check_paths",
    "check_locations",
    "check_steps",
]


def to_numpy(value: Any, *, dtype: Any = None) -> np.ndarray:
    """A tensor or array-like as a numpy array (the one tensor-to-numpy conversion of the package).

    A tensor is detached and moved to the CPU first; ``dtype`` (e.g. ``np.float64``) converts the
    values, ``None`` keeps the input's dtype. The shape is unchanged.
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def as_tensor(value: Any, *, name: str, dtype: torch.dtype | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
    """Convert an array-like to a floating tensor (float32 unless it already is floating).

    Tensors keep their device (and autograd graph) unless ``device`` is given.
    """
    if isinstance(value, torch.Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be an array or tensor of numbers, got {type(value).__name__}") from exc
    if dtype is not None:
        t = t.to(dtype)
    elif not torch.is_floating_point(t):
        t = t.to(torch.float32)
    if device is not None:
        t = t.to(device)
    return t


def check_finite(t: torch.Tensor, *, name: str) -> None:
    """Raise ``ValueError`` if ``t`` holds NaN or inf, saying how many and where the first one is."""
    bad = ~torch.isfinite(t.detach())
    if bool(bad.any()):
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(f"{name} contains {int(bad.sum())} NaN/inf value(s); first at index {idx}")


def check_number(value: Any, *, name: str) -> float:
    """Return ``value`` as a float, raising ``TypeError`` if it is not a number and ``ValueError``
    unless it is finite."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_positive(value: Any, *, name: str) -> float:
    """Return ``value`` as a float, raising ``ValueError`` unless it is finite and > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a positive number, got {value!r}") from exc
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return v


def check_int(value: Any, *, name: str, minimum: int) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_interval(value: Any, *, name: str) -> tuple[float, float]:
    """``value`` as a pair of finite floats ``(lo, hi)`` with lo < hi; ``TypeError`` (not a pair) or
    ``ValueError`` (not finite, not increasing) naming ``name``."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a pair (lo, hi), got {value!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with lo < hi, got {value!r}")
    return lo, hi


def check_paths(paths: Any, *, name: str = "paths", min_length: int = 2,
                max_dim: int | None = None) -> torch.Tensor:
    """Validate observed paths and return them as a tensor of shape (n_paths, T, d).

    Accepts (n_paths, T, d), or (T,) / (n_paths, T) for one-dimensional states (a trailing axis is
    added). Raises on wrong rank, too few observations, NaN/inf, or ``d > max_dim``.
    """
    t = as_tensor(paths, name=name)
    if t.ndim == 1:
        t = t[None, :, None]
    elif t.ndim == 2:
        t = t[:, :, None]
    elif t.ndim != 3:
        raise ValueError(f"{name} must have shape (n_paths, T, d); got {t.ndim} dimensions {tuple(t.shape)}")
    n_paths, length, d = t.shape
    if n_paths < 1 or d < 1:
        raise ValueError(f"{name} must have at least one path and one dimension; got shape {tuple(t.shape)}")
    if length < min_length:
        raise ValueError(f"{name} needs at least {min_length} observations per path; got T={length} "
                         f"(shape {tuple(t.shape)})")
    if max_dim is not None and d > max_dim:
        raise ValueError(f"{name} has state dimension d={d}; at most {max_dim} is supported")
    check_finite(t, name=name)
    return t


def check_locations(locations: Any, *, d: int, name: str = "locations") -> torch.Tensor:
    """Validate query locations and return a tensor of shape (G, d).

    For d = 1 a flat (G,) array is accepted. Raises when the last axis does not match ``d``.
    """
    t = as_tensor(locations, name=name)
    if t.ndim == 1 and d == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise ValueError(f"{name} must have shape (G, d={d}); got shape {tuple(t.shape)}")
    if t.shape[1] != d:
        raise ValueError(f"{name} has d={t.shape[1]} but the paths have d={d} (shape {tuple(t.shape)})")
    if t.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one location; got shape {tuple(t.shape)}")
    check_finite(t, name=name)
    return t


def check_steps(dt: Any, *, n_paths: int, length: int, name: str = "dt",
                device: torch.device | str | None = None) -> float | torch.Tensor:
    """Validate the time step of ``n_paths`` paths of ``length`` observations each.

    ``dt`` is a positive number (regular sampling), returned as a float, or the steps between
    consecutive observations, shape (length - 1,) (the same for every path) or (n_paths, length - 1),
    returned as an (n_paths, length - 1) tensor (detached: steps are data, not parameters). Raises
    on another shape, or on steps that are not finite and > 0 (observation times must increase).
    """
    if isinstance(dt, numbers.Real) or getattr(dt, "ndim", None) == 0:
        return check_positive(dt, name=name)
    t = as_tensor(dt, name=name, device=device).detach()
    if t.shape not in ((length - 1,), (n_paths, length - 1)):
        raise ValueError(f"{name} must be a number or the steps between observations, shape ({length - 1},) or "
                         f"({n_paths}, {length - 1}) for {n_paths} path(s) of {length} observations; "
                         f"got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()) or not bool((t > 0).all()):
        raise ValueError(f"{name} must hold finite steps > 0 (observation times must increase); "
                         f"got min {float(t.min()):g}")
    return t.expand(n_paths, length - 1)
