"""Tests of the book tooling: the Chromium figure check (scripts/check-book.py), the table of
contents, and the Sphinx extension that ships plotly.js with the site."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


check_book = _load("check_book", ROOT / "scripts" / "check-book.py")
fimcg_book = _load("fimcg_book", ROOT / "book" / "_ext" / "fimcg_book.py")


# ---------------------------------------------------------------------------------------------
# counting figures in HTML
# ---------------------------------------------------------------------------------------------

STATIC = """<html><body>
<div class="cell_output"><div><div id="a" class="plotly-graph-div" style="height:100%"></div>
<script>Plotly.newPlot("a", [])</script></div></div>
<p>text</p><img src="x.png"><br>
<div><div id="b" class="plotly-graph-div"></div></div>
</body></html>"""

RENDERED = """<html><body>
<div id="a" class="plotly-graph-div js-plotly-plot"><div class="plot-container plotly">
<svg class="main-svg"><g class="cartesianlayer"><g class="subplot xy"><g class="plot">
<g class="scatterlayer mlayer"><g class="trace scatter trace12ab"><path d="M0,0"/></g></g></g></g></g></svg>
</div></div>
<div id="b" class="plotly-graph-div js-plotly-plot"><svg class="main-svg"><g class="heatmaplayer mlayer">
<g class="hm"><image/></g></g></svg></div>
<div id="c" class="plotly-graph-div js-plotly-plot"><svg class="main-svg"><g class="cartesianlayer"></g></svg></div>
<div id="d" class="plotly-graph-div"></div>
<svg class="main-svg"><g class="trace scatter"></g></svg>
</body></html>"""


def test_count_figures_static_html():
    assert check_book.count_figures(STATIC) == check_book.FigureCount(static=2, rendered=0)


def test_count_figures_rendered_dom():
    # a: scatter trace drawn; b: heatmap drawn; c: plotted but empty; d: never plotted;
    # the stray svg outside any figure does not count
    assert check_book.count_figures(RENDERED) == check_book.FigureCount(static=4, rendered=2)


def test_count_figures_no_figures():
    assert check_book.count_figures("<html><body><p>hi</p></body></html>") == check_book.FigureCount(0, 0)


# ---------------------------------------------------------------------------------------------
# table of contents
# ---------------------------------------------------------------------------------------------

def test_pages_from_toc_walks_parts_chapters_sections(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n"
                   "      - file: notebooks/01_a\n        sections:\n          - file: notebooks/01b.ipynb\n"
                   "      - file: api.md\n")
    assert check_book.pages_from_toc(toc) == ["intro", "notebooks/01_a", "notebooks/01b", "api"]
    bad = tmp_path / "bad.yml"
    bad.write_text("- just a list\n")
    with pytest.raises(ValueError, match="no 'root' key"):
        check_book.pages_from_toc(bad)


def test_expects_figures_on_notebook_pages_only():
    assert check_book.expects_figures("notebooks/01_sdes_and_potentials")
    assert not check_book.expects_figures("api")
    assert not check_book.expects_figures("intro")


def test_book_toc_matches_notebooks():
    """Every page in the toc exists, and every notebook in notebooks/ is in the toc."""
    pages = check_book.pages_from_toc(ROOT / "book" / "_toc.yml")
    for page in pages:
        candidates = [ROOT / "book" / f"{page}{ext}" for ext in (".md", ".py", ".ipynb")]
        assert any(c.is_file() for c in candidates), f"toc page {page!r} has no source file"
    notebooks = {f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("[0-9]*.py")}
    assert notebooks, "no notebooks found"
    assert notebooks <= set(pages), f"notebooks missing from book/_toc.yml: {sorted(notebooks - set(pages))}"


def test_book_notebooks_link_points_to_notebooks():
    link = ROOT / "book" / "notebooks"
    assert link.is_symlink() and link.resolve() == (ROOT / "notebooks").resolve()


def test_book_config_executes_and_fails_on_errors():
    import yaml

    cfg = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "force"
    assert cfg["only_build_toc_files"] is True
    sphinx = cfg["sphinx"]["config"]
    assert sphinx["nb_execution_raise_on_error"] is True
    assert sphinx["nb_custom_formats"][".py"][1] == {"fmt": "py:percent"}
    assert (ROOT / "book" / cfg["bibtex_bibfiles"][0]).is_file()


def test_bibliography_has_the_papers():
    bib = (ROOT / "book" / "references.bib").read_text()
    for needle in ("2510.12618", "2502.19049", "Approaching complexity by stochastic methods",
                   "Analysis of data sets of stochastic systems", "Learning Force Fields", "sparse identification"):
        assert needle in bib


# ---------------------------------------------------------------------------------------------
# the Sphinx extension
# ---------------------------------------------------------------------------------------------

class _FakeApp:
    def __init__(self, outdir):
        self.outdir = outdir
        self.js = []
        self.handlers = {}
        self.builder = type("B", (), {"format": "html"})()

    def add_js_file(self, name, **kwargs):
        self.js.append((name, kwargs))

    def connect(self, event, handler):
        self.handlers[event] = handler


def test_extension_sets_renderer_and_ships_plotly(tmp_path, monkeypatch):
    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)
    monkeypatch.delenv("FIMCG_STATIC", raising=False)
    app = _FakeApp(tmp_path)
    meta = fimcg_book.setup(app)
    assert meta["parallel_read_safe"]
    import os

    assert os.environ["PLOTLY_RENDERER"] == "notebook_connected"
    assert os.environ["FIMCG_STATIC"] == "1"
    assert app.js == [("plotly.min.js", {"priority": 100})]
    lines = ["max |F_a - F_b| over x", "no bars"]
    app.handlers["autodoc-process-docstring"](app, "function", "f", None, {}, lines)
    assert lines == [r"max \|F_a - F_b\| over x", "no bars"]
    app.handlers["build-finished"](app, None)
    shipped = tmp_path / "_static" / "plotly.min.js"
    assert shipped.stat().st_size > 1_000_000 and shipped.read_bytes()[:200].count(b"plotly") > 0
    # a failed build copies nothing
    shipped.unlink()
    app.handlers["build-finished"](app, RuntimeError("boom"))
    assert not shipped.exists()


def test_extension_keeps_a_chosen_renderer(tmp_path, monkeypatch):
    monkeypatch.setenv("PLOTLY_RENDERER", "notebook")
    monkeypatch.delenv("FIMCG_STATIC", raising=False)
    fimcg_book.setup(_FakeApp(tmp_path))
    import os

    assert os.environ["PLOTLY_RENDERER"] == "notebook"


# ---------------------------------------------------------------------------------------------
# the real browser
# ---------------------------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(check_book.find_chromium() is None,
                                    reason="chromium not installed (apt-get install -y chromium)")


def _site(tmp_path: Path, *, ship_plotly: bool) -> Path:
    """A two-page site: a 'notebook' page with two plotly figures and an 'api' page without."""
    import shutil

    import plotly.graph_objects as go
    import plotly.io as pio

    site = tmp_path / "html"
    (site / "notebooks").mkdir(parents=True)
    (site / "_static").mkdir()
    if ship_plotly:
        shutil.copy(fimcg_book._plotly_js(), site / "_static" / "plotly.min.js")
    renderer = pio.renderers["notebook_connected"]
    figs = "".join(renderer.to_mimebundle(f.to_dict())["text/html"]
                   for f in (go.Figure(go.Scatter(y=[1, 3, 2])), go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]))))
    head = '<script src="../_static/plotly.min.js"></script>'
    exercise = ('<p><strong>Exercise 1.</strong> Try it.</p><details class="sd-dropdown"><summary '
                'class="sd-summary-title"><span class="sd-summary-text">Solution</span></summary><p>Done.</p></details>')
    (site / "notebooks" / "01_demo.html").write_text(f"<html><head>{head}</head><body>{figs}{exercise}</body></html>")
    (site / "api.html").write_text("<html><body><p>no figures</p></body></html>")
    (site / "index.html").write_text("<html><body>home</body></html>")
    return site


@needs_chromium
def test_chromium_renders_figures_with_local_plotly(tmp_path):
    site = _site(tmp_path, ship_plotly=True)
    results = check_book.check_site(site, ["notebooks/01_demo", "api"], screenshots=tmp_path / "shots",
                                    chromium=check_book.find_chromium(), budget_ms=3000, height=800)
    assert [(p, c.static, c.rendered, problem) for p, c, problem in results] == [
        ("notebooks/01_demo", 2, 2, ""), ("api", 0, 0, "")]
    assert (tmp_path / "shots" / "notebooks__01_demo.png").stat().st_size > 5000


@needs_chromium
def test_chromium_check_fails_on_an_exercise_without_solution(tmp_path):
    site = _site(tmp_path, ship_plotly=True)
    page = site / "notebooks" / "01_demo.html"
    page.write_text(page.read_text().replace("</body>", "<p><strong>Exercise 2.</strong> Alone.</p></body>"))
    (result,) = check_book.check_site(site, ["notebooks/01_demo"], screenshots=None,
                                      chromium=check_book.find_chromium(), budget_ms=3000)
    assert result[2].startswith("2 exercise(s) but 1 solution(s)")


@needs_chromium
def test_chromium_check_fails_without_plotly(tmp_path):
    """Offline and without the shipped plotly.js nothing renders, and the check says so."""
    site = _site(tmp_path, ship_plotly=False)
    results = check_book.check_site(site, ["notebooks/01_demo", "missing"], screenshots=None,
                                    chromium=check_book.find_chromium(), budget_ms=3000)
    (page, count, problem), (page2, _, problem2) = results
    assert count == check_book.FigureCount(static=2, rendered=0)
    assert problem == "no rendered figure on a notebook page"
    assert page2 == "missing" and problem2.startswith("missing page")
    rc = check_book.main([str(site), "--toc", str(_toc(tmp_path)), "--budget-ms", "3000"])
    assert rc == 1


def _toc(tmp_path: Path) -> Path:
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: index\nchapters:\n  - file: notebooks/01_demo\n")
    return toc


def test_main_reports_missing_build(tmp_path, capsys):
    assert check_book.main([str(tmp_path), "--toc", str(_toc(tmp_path))]) == 2
    assert "has no index.html" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# the shape of every notebook (STYLE.md): goals, checks, widget, exercises
# ---------------------------------------------------------------------------------------------

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_shape(path):
    import jupytext

    nb = jupytext.read(path)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "starts with a title"
    assert "**What you will learn**" in md and md.count("\n- ") >= 3, "three learning goals"
    assert "$$" in md, "the key equation"
    assert "\nassert " in "\n" + code, "an assert cell states what must hold"
    assert "## Exercises" in md and "## Where next" in md
    assert "import fimcg" in code
    if not path.stem.startswith("00_"):  # the quick start has no widget
        assert "show(" in code, "a widget (through fimcg.widgets.show)"
    exercises = re.findall(r"\*\*Exercise (\d+)\.\*\*", md)
    assert len(exercises) >= 3, "at least three exercises, each '**Exercise N.**'"
    assert exercises == [str(i) for i in range(1, len(exercises) + 1)], "exercises numbered 1, 2, ..."
    assert md.count(":::{dropdown} Solution") == len(exercises), "every exercise has a solution dropdown"
    assert re.search(r"^\*About \d+ minutes\. Prerequisites: .+\*$", nb.cells[0].source, flags=re.M), \
        "the first cell states the time and the prerequisites"
    # fast mode is read through the helper, never from the environment directly
    assert "os.environ" not in code and "FIMCG_FAST" not in code


def _math_site(tmp_path: Path, *, ship_mathjax: bool) -> Path:
    """A one-page site with an equation as Sphinx writes it, with or without a local MathJax."""
    import importlib
    import shutil

    site = tmp_path / "html"
    (site / "_static").mkdir(parents=True)
    head = ""
    if ship_mathjax:
        pkg = Path(importlib.import_module("sphinx-mathjax-offline").__file__).parent
        shutil.copytree(pkg / "static" / "mathjax", site / "_static" / "mathjax")
        head = '<script defer src="_static/mathjax/tex-chtml.js"></script>'
    body = r'<p>drift <span class="math notranslate nohighlight">\(f(x) = 4x - 4x^3\)</span></p>'
    (site / "api.html").write_text(f"<html><head>{head}</head><body>{body}</body></html>")
    return site


def test_count_math_in_static_html():
    html = '<span class="math notranslate nohighlight">\\(x\\)</span><div class="math notranslate">y</div>'
    assert check_book.count_math(html) == 2 and check_book.count_math("<p>mathematics</p>") == 0
    assert check_book.count_typeset('<mjx-container class="MathJax"></mjx-container>') == 1


@needs_chromium
@pytest.mark.parametrize("ship", [True, False])
def test_chromium_checks_equations_are_typeset_offline(tmp_path, ship):
    site = _math_site(tmp_path, ship_mathjax=ship)
    [(page, _, problem)] = check_book.check_site(site, ["api"], screenshots=None,
                                                 chromium=check_book.find_chromium(), budget_ms=5000)
    assert problem == ("" if ship else "1 equation(s) not typeset (MathJax missing?)")


def test_book_config_typesets_math_offline():
    import yaml

    cfg = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert "sphinx-mathjax-offline" in cfg["sphinx"]["extra_extensions"]


def test_count_exercises_and_solutions():
    page = ('<p><strong>Exercise 1.</strong> Do it.</p><details class="sd-dropdown"><summary class="sd-summary-title">'
            '<span>Solution</span></summary><p>Done.</p></details><p><strong>Exercise 2.</strong> Again.</p>')
    assert check_book.count_exercises(page) == (2, 1)
    assert check_book.count_exercises("<p>no exercises</p>") == (0, 0)


def test_launch_buttons_only_with_a_repository_address():
    ext = _load("fimcg_book", ROOT / "book" / "_ext" / "fimcg_book.py")
    assert ext.launch_options({}) == {}
    opts = ext.launch_options({"FIMCG_REPOSITORY_URL": "https://example.org/fimcg"})
    assert opts["repository_url"] == "https://example.org/fimcg" and opts["repository_branch"] == "main"
    assert opts["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    env = (ROOT / "environment.yml").read_text()
    assert "-e ." in env  # Binder builds from environment.yml, which installs fimcg itself
