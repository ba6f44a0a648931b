#!/usr/bin/env bash
# Improve (or reproduce) the shipped FIM weights in one command (the shipped run: one H100, 7 min):
#   bash scripts/pretrain-fim.sh --device cuda [--max-minutes 30]
# On a CPU-only machine add --workers 1 (the config asks for 12 prior-simulation processes) and
# expect hours; fine-tune instead with --init fimcg/weights/fim_1d.pt --config fimcg/weights/finetune_config.json.
# 1. pretrain (resumes from runs/fim/checkpoint.pt if present) and export the best checkpoint to
#    fimcg/weights/fim_1d.pt (+ .sha256);
# 2. run the accuracy and speed benchmarks; 3. regenerate fimcg/weights/MODEL_CARD.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -m fimcg.pretrain --config fimcg/weights/pretrain_config.json --out runs/fim \
    --export fimcg/weights/fim_1d.pt "$@"
"$PY" bench/fim_accuracy.py
"$PY" bench/fim_speed.py
"$PY" bench/fim_model_card.py
echo "new weights: fimcg/weights/fim_1d.pt; card: fimcg/weights/MODEL_CARD.md"
