"""Sphinx extension for the fimcg book: plotly figures that render offline.

* Before any notebook runs, the environment gets ``PLOTLY_RENDERER=notebook_connected`` (plotly >= 6
  otherwise emits only its JSON mimetype, which myst-nb drops) and ``FIMCG_STATIC=1`` (so
  :func:`fimcg.widgets.show` does not build ipywidgets whose multi-MB state no static page can
  use). The executing kernels inherit both.
* Docstrings are plain text: ``|x|`` is escaped so that RST does not read it as a substitution.
* Launch buttons: when ``FIMCG_REPOSITORY_URL`` is set (the public address of the repository the
  site is built from; ``FIMCG_REPOSITORY_BRANCH``, default ``main``), every chapter gets Binder and
  repository buttons; Binder builds the environment from ``environment.yml`` at the repository's
  root. Without it (local and CI builds) the site has no buttons that would point nowhere.
* Every page loads ``_static/plotly.min.js``, copied from the installed plotly package, before
  anything else. ``notebook_connected`` figures also ask the CDN for plotly.js; when the CDN is
  unreachable (offline machines, CI) the local copy has already defined ``window.Plotly``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def _plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the installed plotly package at {path}")
    return path


def _copy_plotly(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    tmp = static / "plotly.min.js.tmp"
    shutil.copyfile(_plotly_js(), tmp)
    os.replace(tmp, static / "plotly.min.js")


def _escape_bars(app, what, name, obj, options, lines) -> None:
    """fimcg docstrings are plain text: |x| means an absolute value, not an RST substitution."""
    lines[:] = [line.replace("|", r"\|") for line in lines]


def launch_options(env: dict[str, str] | None = None) -> dict:
    """The sphinx-book-theme options that add Binder/repository launch buttons, from
    ``FIMCG_REPOSITORY_URL`` / ``FIMCG_REPOSITORY_BRANCH`` in ``env`` (default ``os.environ``);
    empty when no repository address is set."""
    env = os.environ if env is None else env
    url = env.get("FIMCG_REPOSITORY_URL", "").strip()
    if not url:
        return {}
    return {"repository_url": url, "repository_branch": env.get("FIMCG_REPOSITORY_BRANCH", "main"),
            "path_to_docs": "book", "use_repository_button": True,
            "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"}}


def _add_launch_buttons(app, config) -> None:
    options = launch_options()
    if options:
        config.html_theme_options = {**(config.html_theme_options or {}), **options}


def setup(app):
    os.environ.setdefault("PLOTLY_RENDERER", "notebook_connected")
    os.environ["FIMCG_STATIC"] = "1"
    _plotly_js()  # fail early, not after executing every notebook
    # priority < 200: loaded before theme and myst-nb scripts (and before any require.js)
    app.add_js_file("plotly.min.js", priority=100)
    app.connect("build-finished", _copy_plotly)
    app.connect("config-inited", _add_launch_buttons)
    app.connect("autodoc-process-docstring", _escape_bars)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
