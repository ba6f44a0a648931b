#!/usr/bin/env bash
# Build the fimcg website and check in a real (headless) browser that every figure renders.
#
#   scripts/build-book.sh                    # the documented command: normal settings
#   FIMCG_FAST=1 scripts/build-book.sh       # fast mode: small data, short training (CI)
#   BOOK_CHECK=0 scripts/build-book.sh       # skip the Chromium check
#
# Output: build/book/_build/html/index.html, screenshots in build/book/screenshots/.
# Every notebook is executed at build time (execute_notebooks: force); a failing cell fails the
# build, and so does any Sphinx warning about the book's own pages (book/*.md, the notebooks: e.g. a
# figure whose output format the page cannot show, a missing citation). Warnings about docstring
# formatting in fimcg/*.py (the API page) are listed for their owners but do not fail the build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if [[ -x .venv/bin/python && -z "${PYTHON:-}" ]]; then PY=.venv/bin/python; fi
export FIMCG_FAST=${FIMCG_FAST:-0}
# plotly >= 6 only emits its JSON mimetype by default, which myst-nb drops: ask for HTML output.
# The page loads plotly.js from the site itself (book/_ext/fimcg_book.py), so it also works offline.
export PLOTLY_RENDERER=${PLOTLY_RENDERER:-notebook_connected}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

out=build/book
rm -rf "$out/_build"
mkdir -p "$out"
log="$out/build.log"
start=$(date +%s)
"$PY" -c 'import sys; from jupyter_book.cli.main import main; sys.argv[0] = "jupyter-book"; main()' \
  build book --path-output "$out" --all --keep-going 2>&1 | tee "$log"
echo "build-book: built in $(( $(date +%s) - start )) s (FIMCG_FAST=$FIMCG_FAST): $out/_build/html/index.html"

# warnings: strip colour codes, then split into the book's own pages and the API docstrings
clean=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E "(WARNING|ERROR|CRITICAL):" || true)
docstrings=$(grep -E "fimcg/[A-Za-z_]+\.py:docstring" <<<"$clean" || true)
own=$(grep -vE "fimcg/[A-Za-z_]+\.py:docstring" <<<"$clean" || true)
if [[ -n "$docstrings" ]]; then
  echo "build-book: docstring formatting warnings on the API page (not fatal; for the modules' owners):"
  echo "$docstrings" | sed 's/^/  /'
fi
if [[ -n "$own" ]]; then
  echo "build-book: FAILED: warnings about the book's pages:" >&2
  echo "$own" | sed 's/^/  /' >&2
  exit 1
fi

if [[ "${BOOK_CHECK:-1}" != "0" ]]; then
  "$PY" scripts/check-book.py "$out/_build/html" --toc book/_toc.yml --screenshots "$out/screenshots"
fi
