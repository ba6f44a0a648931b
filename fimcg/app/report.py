"""An HTML report assembled from text, tables and plotly figures (self-contained: opens offline).
"""

from __future__ import annotations

import html
import os
import platform
from pathlib import Path
from typing import Any
import plotly
import torch
import plotly.graph_objects as go
import plotly.offline
from .. import __version__
from ..io.checkpoint import atomic_write_text


def output_folder(out: str | Path) -> Path:
    """``out`` as a Path, refused when it names an existing file (a job's outputs go into a folder)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a folder, but {str(out)!r} is a file")
    return out


def environment() -> dict:
    """The versions and threads a report records (JSON-ready)."""
    return {"fimcg": __version__, "torch": torch.__version__, "plotly": plotly.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads()}


class Report:
    """An HTML report assembled from sections of text, tables and plotly figures."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = []
        self.n_figures = 0

    def heading(self, text: str) -> None:
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str) -> None:
        """A paragraph (plain text, escaped)."""
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, rows: list[dict[str, Any]], *, floatfmt: str = ".4g") -> None:
        """A table from a list of dicts sharing their keys (the header)."""
        if not rows:
            return
        keys = list(rows[0])
        cell = lambda v: format(v, floatfmt) if isinstance(v, float) else str(v)  # noqa: E731
        head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(r.get(k, '')))}</td>" for k in keys) + "</tr>"
                       for r in rows)
        self._parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def figure(self, fig: go.Figure, caption: str | None = None) -> None:
        """A plotly figure (plotly.js itself is embedded once, in the page head)."""
        self.n_figures += 1
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig{self.n_figures}",
                          config={"displaylogo": False})
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(f"<figure>{div}{cap}</figure>")

    def to_html(self) -> str:
        style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
                 "color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
                 "padding:3px 8px;text-align:right}th{background:#f3f3f3}figure{margin:1em 0}"
                 "figcaption{color:#555;font-size:90%}")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{style}</style>"
                f"<script type=\"text/javascript\">{plotly.offline.get_plotlyjs()}</script></head><body>"
                f"<h1>{html.escape(self.title)}</h1>\n" + "\n".join(self._parts) + "\n</body></html>\n")

    def write(self, path: str | Path) -> Path:
        """Write the page atomically (readable by all, like any web page) and return its path."""
        path = atomic_write_text(self.to_html(), path)
        os.chmod(path, 0o644)
        return path
