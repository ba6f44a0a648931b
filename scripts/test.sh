#!/usr/bin/env bash
# The whole test suite on a fresh machine (the README's second command; .ci/run calls it):
#
#   bash scripts/test.sh
#   FIMCG_TEST_STAGES="unit" bash scripts/test.sh      # only some stages: unit notebooks book
#
# 1. creates .venv if missing and installs fimcg with its test, book and bench extras;
#    installs Debian's chromium (for the book's browser check) when it is missing and we are root
#    with apt-get;
# 2. runs the stages, stopping at the first failure with a non-zero exit code:
#    unit       pytest tests (no test collected counts as a failure), then the committed benchmark
#               choices checked against the shipped weights (bench/fim_family_settings.py --check)
#    notebooks  scripts/test-notebooks.sh (every notebook through nbval, fast mode), if present
#    book       scripts/build-book.sh (the website, fast mode, checked in headless Chromium), if present
# and prints the time of each stage.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_BIN=${PYTHON_BIN:-python3}
STAGES=${FIMCG_TEST_STAGES:-unit notebooks book}
t_start=$(date +%s)

if [[ ! -x .venv/bin/python ]]; then
  echo "test: creating .venv with $PYTHON_BIN"
  "$PYTHON_BIN" -m venv .venv
fi
PY=.venv/bin/python
echo "test: installing fimcg[test,book,bench] into .venv"
"$PY" -m pip install --quiet -c constraints.txt -e ".[test,book,bench]"
if [[ " $STAGES " == *" book "* ]] && ! command -v chromium >/dev/null 2>&1 \
   && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing Debian's chromium for the book check"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
t_setup=$(( $(date +%s) - t_start ))
echo "test: setup took ${t_setup} s"

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export MPLBACKEND=Agg
declare -a summary=("setup ${t_setup}s")

run_stage() {  # run_stage NAME COMMAND...: time it, stop the script if it fails
  local name=$1; shift
  local t0 rc
  t0=$(date +%s)
  echo "test: ===== stage '$name': $* ====="
  set +e
  "$@"
  rc=$?
  set -e
  local secs=$(( $(date +%s) - t0 ))
  summary+=("$name ${secs}s")
  if [[ $rc -eq 5 && $name == unit ]]; then
    echo "test: stage '$name' collected no tests (pytest exit code 5): failing" >&2
    exit 1
  elif [[ $rc -ne 0 ]]; then
    echo "test: stage '$name' FAILED (exit code $rc) after ${secs} s" >&2
    exit "$rc"
  fi
  echo "test: stage '$name' passed in ${secs} s"
}

for stage in $STAGES; do
  case $stage in
    unit)
      run_stage unit "$PY" -m pytest tests -q -p no:cacheprovider
      run_stage bench-check "$PY" bench/fim_family_settings.py --check ;;
    notebooks)
      # hook for the notebooks: runs every notebook through nbval when the script exists
      if [[ -f scripts/test-notebooks.sh ]]; then
        run_stage notebooks env FIMCG_FAST="${FIMCG_FAST:-1}" PYTHON="$PY" bash scripts/test-notebooks.sh
      else
        echo "test: no scripts/test-notebooks.sh yet: notebooks stage skipped"
      fi ;;
    book)
      # hook for the website: builds the book (and checks it in Chromium) when the script exists
      if [[ -f scripts/build-book.sh ]]; then
        run_stage book env FIMCG_FAST="${FIMCG_FAST:-1}" PYTHON="$PY" bash scripts/build-book.sh
      else
        echo "test: no scripts/build-book.sh yet: book stage skipped"
      fi ;;
    *)
      echo "test: unknown stage '$stage' in FIMCG_TEST_STAGES (valid: unit notebooks book)" >&2
      exit 2 ;;
  esac
done
echo "test: all stages passed in $(( $(date +%s) - t_start )) s (${summary[*]})"
