#!/usr/bin/env bash
# Improve (or reproduce) the shipped FIM weights in one command:
#   bash scripts/pretrain-fim.sh [extra `fimcg pretrain` options, e.g. --device cuda --max-minutes 60]
# 1. pretrain (resumes from runs/fim/checkpoint.pt if present) and export the best checkpoint to
#    fimcg/weights/fim_1d.pt (+ .sha256);
# 2. run the accuracy and speed benchmarks; 3. regenerate fimcg/weights/MODEL_CARD.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -m fimcg pretrain --config fimcg/weights/pretrain_config.json --out runs/fim \
    --export fimcg/weights/fim_1d.pt "$@"
"$PY" bench/fim_accuracy.py
"$PY" bench/fim_speed.py
"$PY" bench/fim_model_card.py
echo "new weights: fimcg/weights/fim_1d.pt; card: fimcg/weights/MODEL_CARD.md"
