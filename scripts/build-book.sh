#!/usr/bin/env bash
# Build the fimcg website and check in a real (headless) browser that every figure renders.
#
#   scripts/build-book.sh                    # the documented command: normal settings
#   FIMCG_FAST=1 scripts/build-book.sh       # fast mode: small data, short training (CI)
#   BOOK_CHECK=0 scripts/build-book.sh       # skip the Chromium check
#
# Output: build/book/_build/html/index.html, screenshots in build/book/screenshots/.
# Every notebook is executed at build time (execute_notebooks: force); a failing cell or a Sphinx
# warning (e.g. a figure whose output format the page cannot show) fails the build.
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
start=$(date +%s)
"$PY" -c 'import sys; from jupyter_book.cli.main import main; sys.argv[0] = "jupyter-book"; main()' \
  build book --path-output "$out" --all -W --keep-going
echo "build-book: built in $(( $(date +%s) - start )) s (FIMCG_FAST=$FIMCG_FAST): $out/_build/html/index.html"

if [[ "${BOOK_CHECK:-1}" != "0" ]]; then
  "$PY" scripts/check-book.py "$out/_build/html" --toc book/_toc.yml --screenshots "$out/screenshots"
fi
