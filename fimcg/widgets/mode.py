"""Fast mode, static mode and :func:`show`: how a notebook adapts to where it runs.

See the package docstring of :mod:`fimcg.widgets` for the environment variables.
"""

from __future__ import annotations

import os
from typing import Any, Callable, TypeVar

__all__ = ["fast_mode", "static_mode", "pick", "show"]

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"environment variable {name} must be one of 1/0/true/false/yes/no/on/off, got {raw!r}")


def fast_mode() -> bool:
    """True when the environment variable ``FIMCG_FAST`` is set to 1/true/yes/on.

    Raises:
        ValueError: ``FIMCG_FAST`` holds something else (a typo should not silently run the
            slow mode for an hour).
    """
    return _flag("FIMCG_FAST")


def static_mode() -> bool:
    """True while a notebook runs for the static website (``FIMCG_STATIC``, set by the book build)."""
    return _flag("FIMCG_STATIC")


def pick(normal: T, fast: T) -> T:
    """Return ``fast`` in fast mode (see :func:`fast_mode`), else ``normal``.

    Example: ``n_paths = pick(200, 20)``.
    """
    return fast if fast_mode() else normal


def show(builder: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Build a widget with ``builder(*args, **kwargs)`` and return it for display.

    In static mode (the book build) nothing is built and a short note is returned instead: a
    static page has no kernel to answer the sliders. Use it as the last line of a cell, e.g.
    ``show(potential_explorer, n_paths=50)``.
    """
    if not callable(builder):
        raise TypeError(f"builder must be a callable returning a widget, got {type(builder).__name__}")
    if static_mode():
        return _StaticNote(getattr(builder, "__name__", "widget"))
    return builder(*args, **kwargs)


class _StaticNote:
    """What :func:`show` displays on the static website instead of a live widget."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _repr_markdown_(self) -> str:
        return (f"*Interactive widget `{self.name}`: open this notebook in JupyterLab to use the "
                "sliders. A figure with plotly's own slider on this page shows the same idea.*")

    def __repr__(self) -> str:
        return f"<widget {self.name}: live only in Jupyter>"
