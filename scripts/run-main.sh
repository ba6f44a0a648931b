#!/usr/bin/env bash
# The main job, end to end, on a fresh machine (the README's first command):
#
#   bash scripts/run-main.sh                 # writes fimcg-report/report.html and results.json
#   bash scripts/run-main.sh --seed 3        # any `fimcg run` option is passed on
#   OUT=elsewhere bash scripts/run-main.sh   # another output folder
#
# Creates .venv (python3 -m venv) if it is missing, installs fimcg into it (pip install -e ., with
# torch pinned to 2.13.0 by constraints.txt), then runs `fimcg run`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_BIN=${PYTHON_BIN:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "run-main: creating .venv with $PYTHON_BIN"
  "$PYTHON_BIN" -m venv .venv
fi
PY=.venv/bin/python
echo "run-main: installing fimcg into .venv"
"$PY" -m pip install --quiet -c constraints.txt -e .
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec "$PY" -m fimcg run --out "${OUT:-fimcg-report}" "$@"
