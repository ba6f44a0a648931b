#!/usr/bin/env python
"""Check in headless Chromium that every plotly figure and equation of the built book really renders.

    python scripts/check-book.py build/book/_build/html --toc book/_toc.yml \
        --screenshots build/book/screenshots

For every page in the table of contents the script serves the site on 127.0.0.1 (a private
``http.server``), lets Chromium load the page and run its JavaScript (``--dump-dom``), and counts

* ``static``: plotly figure containers in the HTML file (``div.plotly-graph-div``), and
* ``rendered``: containers that plotly.js turned into a plot (class ``js-plotly-plot`` with an
  ``svg.main-svg`` inside and at least one drawn trace).

It also saves a screenshot of each page. It fails (exit 1) when a notebook page has no rendered
figure or an exercise without a solution (a "Solution" dropdown), when any page has a figure
container that did not render (plotly.js missing, a script error, an output the page cannot
show), or when a page has equations and MathJax typeset none of them. Exit 2: bad arguments or no Chromium.

Chromium runs with networking features off and every host except 127.0.0.1 unresolvable, so
the check holds offline: pages must not depend on a CDN (the book ships plotly.js and MathJax in
``_static``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio",
    # every host but the local server fails to resolve: the check proves that pages render offline
    # (on a machine with internet a CDN could otherwise hide a missing local plotly.js), and fast
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
         "track", "wbr"}


@dataclass
class FigureCount:
    """Figures on one page: containers in the HTML, and those plotly.js turned into plots."""

    static: int
    rendered: int


class _FigureParser(HTMLParser):
    """Count plotly graph divs, and those that contain a main svg and a drawn trace."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int | None]] = []  # (tag, index of enclosing figure)
        self.figures: list[dict] = []

    def _current(self) -> int | None:
        return self.stack[-1][1] if self.stack else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        fig = self._current()
        if tag == "div" and "plotly-graph-div" in classes:
            self.figures.append({"plotted": "js-plotly-plot" in classes, "svg": False, "traces": 0})
            fig = len(self.figures) - 1
        elif fig is not None:
            if tag == "svg" and "main-svg" in classes:
                self.figures[fig]["svg"] = True
            # scatter/bar/... traces are <g class="trace ...">, heatmaps <g class="hm">
            if tag == "g" and ({"trace", "hm"} & classes or any(c.startswith("trace") for c in classes)):
                self.figures[fig]["traces"] += 1
        if tag not in _VOID:
            self.stack.append((tag, fig))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # self-closing: count it, but do not push
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        # pop up to the matching tag (tolerates sloppy HTML)
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


def count_figures(html: str) -> FigureCount:
    """Count plotly figure containers in ``html`` and how many of them were rendered.

    A container counts as rendered when plotly.js has marked it ``js-plotly-plot`` and drawn an
    ``svg.main-svg`` with at least one trace inside it. On an HTML file before any JavaScript has
    run, ``rendered`` is 0.
    """
    parser = _FigureParser()
    parser.feed(html)
    parser.close()
    rendered = sum(1 for f in parser.figures if f["plotted"] and f["svg"] and f["traces"] > 0)
    return FigureCount(static=len(parser.figures), rendered=rendered)


def count_math(html: str) -> int:
    """Equations Sphinx wrote into a page (``<span class="math ...">`` / ``<div class="math ...">``)."""
    return len(re.findall(r'<(?:span|div)[^>]*class="math[ "]', html))


def count_typeset(dom: str) -> int:
    """Equations MathJax 3 typeset in a rendered page (``<mjx-container>`` elements)."""
    return dom.count("<mjx-container")


def count_exercises(html: str) -> tuple[int, int]:
    """(exercises, solutions) on a page: ``<strong>Exercise N.</strong>`` paragraphs, and MyST
    dropdowns (``<details ...>``) whose summary says "Solution"."""
    exercises = len(re.findall(r"<strong>Exercise \d+\.</strong>", html))
    solutions = len(re.findall(r"<details[^>]*>\s*<summary[^>]*>(?:(?!</summary>).)*Solution", html, flags=re.S))
    return exercises, solutions


def pages_from_toc(toc: Path) -> list[str]:
    """The document names listed in a Jupyter Book ``_toc.yml`` (root first), e.g. ``notebooks/01_x``."""
    import yaml

    data = yaml.safe_load(Path(toc).read_text())
    if not isinstance(data, dict) or "root" not in data:
        raise ValueError(f"{toc} is not a Jupyter Book table of contents (no 'root' key)")
    pages = [str(data["root"])]

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                pages.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(data)
    return [p.removesuffix(".md").removesuffix(".ipynb").removesuffix(".py") for p in pages]


def expects_figures(page: str) -> bool:
    """Pages that must show figures: every notebook chapter."""
    return page.startswith("notebooks/")


def find_chromium() -> str | None:
    """Path of a Chromium binary (``$CHROMIUM``, then chromium / chromium-browser / google-chrome)."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _chromium(binary: str, args: list[str], *, timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="fimcg-chromium-") as profile:
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def render_dom(binary: str, url: str, *, budget_ms: int = 20000, timeout: float = 180) -> str:
    """The page's DOM after its scripts ran (Chromium ``--dump-dom``)."""
    proc = _chromium(binary, [f"--virtual-time-budget={budget_ms}", "--dump-dom", url], timeout=timeout)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"chromium --dump-dom {url} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def screenshot(binary: str, url: str, path: Path, *, width: int = 1280, height: int = 3000,
               budget_ms: int = 20000, timeout: float = 180) -> None:
    """Save a PNG of the top ``width`` x ``height`` pixels of the page after its scripts ran."""
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = _chromium(binary, [f"--virtual-time-budget={budget_ms}", f"--window-size={width},{height}",
                              f"--screenshot={path}", url], timeout=timeout)
    if proc.returncode != 0 or not path.is_file():
        raise RuntimeError(f"chromium --screenshot {url} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")


class _Server:
    """A quiet static file server for ``root`` on 127.0.0.1 (a free port), as a context manager."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 (signature from the base class)
        pass


def check_site(html_dir: Path, pages: list[str], *, screenshots: Path | None, chromium: str,
               budget_ms: int = 20000, height: int = 3000) -> list[tuple[str, FigureCount, str]]:
    """Load each page in Chromium; return (page, counts, problem or "") per page."""
    results = []
    with _Server(html_dir) as server:
        for page in pages:
            file = html_dir / f"{page}.html"
            if not file.is_file():
                results.append((page, FigureCount(0, 0), f"missing page {file}"))
                continue
            html = file.read_text(encoding="utf-8")
            url = f"{server.url}/{page}.html"
            dom = render_dom(chromium, url, budget_ms=budget_ms)
            count = FigureCount(static=count_figures(html).static, rendered=count_figures(dom).rendered)
            problem = ""
            n_math = count_math(html)
            n_ex, n_sol = count_exercises(html)
            if expects_figures(page) and (n_ex == 0 or n_sol < n_ex):
                problem = (f"{n_ex} exercise(s) but {n_sol} solution(s): every chapter has exercises, each with a "
                           "solution")
            elif n_math and not count_typeset(dom):
                problem = f"{n_math} equation(s) not typeset (MathJax missing?)"
            elif expects_figures(page) and count.rendered == 0:
                problem = "no rendered figure on a notebook page"
            elif count.rendered < count.static:
                problem = f"{count.static - count.rendered} figure(s) did not render"
            if screenshots is not None:
                screenshot(chromium, url, screenshots / (page.replace("/", "__") + ".png"),
                           budget_ms=budget_ms, height=height)
            results.append((page, count, problem))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that every plotly figure of the built book renders "
                                                 "in headless Chromium.")
    parser.add_argument("html_dir", type=Path, help="the built site, e.g. build/book/_build/html")
    parser.add_argument("--toc", type=Path, default=Path("book/_toc.yml"), help="the book's _toc.yml")
    parser.add_argument("--screenshots", type=Path, default=None, help="folder for one PNG per page")
    parser.add_argument("--budget-ms", type=int, default=20000, help="virtual time each page gets to run JS")
    parser.add_argument("--height", type=int, default=3000, help="screenshot height in pixels")
    args = parser.parse_args(argv)
    if not (args.html_dir / "index.html").is_file():
        print(f"check-book: {args.html_dir} has no index.html; build the book first (scripts/build-book.sh)",
              file=sys.stderr)
        return 2
    if not args.toc.is_file():
        print(f"check-book: table of contents {args.toc} not found", file=sys.stderr)
        return 2
    chromium = find_chromium()
    if chromium is None:
        print("check-book: no chromium found; install it with `apt-get install -y chromium` (as root)",
              file=sys.stderr)
        return 2
    pages = pages_from_toc(args.toc)
    results = check_site(args.html_dir, pages, screenshots=args.screenshots, chromium=chromium,
                         budget_ms=args.budget_ms, height=args.height)
    print(f"{'page':<44} {'figures':>8} {'rendered':>9}  status")
    for page, count, problem in results:
        print(f"{page:<44} {count.static:>8} {count.rendered:>9}  {problem or 'ok'}")
    bad = [r for r in results if r[2]]
    if args.screenshots is not None:
        print(f"screenshots: {args.screenshots}/")
    if bad:
        print(f"check-book: FAILED on {len(bad)} page(s)", file=sys.stderr)
        return 1
    print(f"check-book: all {len(results)} pages ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
