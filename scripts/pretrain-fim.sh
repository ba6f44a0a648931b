#!/usr/bin/env bash
# Reproduce (or improve) the shipped FIM weights in one command. Four stages, as the shipped weights
# were made:
#   1. pretraining from the initial gates (fimcg/weights/pretrain_config.json; the shipped run: one
#      H100, 7 min) -> runs/fim, exported to runs/fim/stage1.safetensors;
#   2. fine-tuning of the grown model (lack-of-fit tests, a fourth bandwidth, the cross-validated
#      drift average, which takes over the cubic fit's gate; fimcg/weights/finetune_config.json;
#      the shipped run: 40 min on 2 CPU cores) -> runs/fim-ft, its best-validation checkpoint exported to
#      runs/fim-ft/stage2.safetensors (the shipped stage 2 is step 2,400 of that run, chosen with benchmark data
#      among checkpoints within validation noise of each other: see the model card);
#   3. the stage-2 network in the architecture with the wider cross-validated average (degree-5 and
#      7 fits, the tanh, sine and rational families, whose settings bench/fim_family_settings.py
#      chose; fimcg/weights/finetune_stage3_config.json): 0 training steps, exported to
#      runs/fim-s3/stage3.safetensors;
#   4. splines and cross-validated g² averages (the latter take over the quadratic g² fits' gates),
#      fine-tuned on the broader prior (random Gaussian bumps; fimcg/weights/finetune_stage4_config.json;
#      the shipped run: 35 min on 2 CPU cores) -> runs/fim-s4; its step-0 warm start, best-validation
#      and last checkpoints are compared by bench/fim_select.py on the development suite and held-out
#      prior data (never the benchmark), and the chosen one is exported to runs/fim-s4/fim_1d.safetensors;
# then the accuracy and speed benchmarks of the new weights. The shipped file is checked against the
# SHA-256 held in fimcg/fim/weights.py, so new weights ship by copying the file to
# fimcg/weights/fim_1d.safetensors, setting SHIPPED_WEIGHTS_SHA256 to the hash printed at the end,
# and regenerating the model card (python bench/fim_model_card.py).
#   bash scripts/pretrain-fim.sh --device cuda            # on a GPU
#   bash scripts/pretrain-fim.sh --workers 1              # CPU only: expect hours for stage 1
# Extra options go to every stage. Each resumes from its checkpoints when run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -m fimcg.fim.training --config fimcg/weights/pretrain_config.json --out runs/fim \
    --export runs/fim/stage1.safetensors "$@"
"$PY" -m fimcg.fim.training --config fimcg/weights/finetune_config.json --out runs/fim-ft \
    --init runs/fim/stage1.safetensors --export runs/fim-ft/stage2.safetensors "$@"
"$PY" -m fimcg.fim.training --config fimcg/weights/finetune_stage3_config.json --out runs/fim-s3 \
    --init runs/fim-ft/stage2.safetensors --export runs/fim-s3/stage3.safetensors "$@"
"$PY" -m fimcg.fim.training --config fimcg/weights/finetune_stage4_config.json --out runs/fim-s4-step0 \
    --init runs/fim-s3/stage3.safetensors --steps 0 --export runs/fim-s4/step0.safetensors "$@"
"$PY" -m fimcg.fim.training --config fimcg/weights/finetune_stage4_config.json --out runs/fim-s4 \
    --init runs/fim-s3/stage3.safetensors --export runs/fim-s4/best_validation.safetensors "$@"
"$PY" -c "from fimcg.fim.training.loop import export_weights as e; e('runs/fim-s4/checkpoint.safetensors', 'runs/fim-s4/last.safetensors')"
"$PY" bench/fim_select.py --weights runs/fim-s4/step0.safetensors runs/fim-s4/best_validation.safetensors \
    runs/fim-s4/last.safetensors --json bench/results/fim_select.json
CHOSEN=$("$PY" -c "import json; print(json.load(open('bench/results/fim_select.json'))['chosen'])")
cp "$CHOSEN" runs/fim-s4/fim_1d.safetensors
cp runs/fim/log.json bench/results/pretrain_log.json   # the training logs the model card reads
cp runs/fim-ft/log.json bench/results/finetune_log.json
cp runs/fim-s3/log.json bench/results/finetune_stage3_log.json
cp runs/fim-s4/log.json bench/results/finetune_stage4_log.json
NEW=runs/fim-s4/fim_1d.safetensors
"$PY" bench/fim_family_settings.py --check --weights "$NEW"   # the family settings are still the committed choice
"$PY" bench/fim_accuracy.py --weights "$NEW"
"$PY" bench/fim_speed.py --weights "$NEW"
# 5. the 2-D weights: warm-started from the new 1-D ones, fine-tuned on the 2-D prior
#    (fimcg/weights/pretrain_2d_config.json; the shipped run: 45 min on 2 CPU cores); its step-0 warm
#    start, best-validation and last checkpoints are compared on the development systems by
#    bench/fim_select_2d.py, and the chosen one is exported to runs/fim-2d/fim_2d.safetensors
"$PY" -m fimcg.fim.training --config fimcg/weights/pretrain_2d_config.json --out runs/fim-2d-step0 \
    --init "$NEW" --steps 0 --export runs/fim-2d/step0.safetensors "$@"
"$PY" -m fimcg.fim.training --config fimcg/weights/pretrain_2d_config.json --out runs/fim-2d \
    --init "$NEW" --export runs/fim-2d/best_validation.safetensors "$@"
"$PY" -c "from fimcg.fim.training.loop import export_weights as e; e('runs/fim-2d/checkpoint.safetensors', 'runs/fim-2d/last.safetensors')"
"$PY" bench/fim_select_2d.py --weights runs/fim-2d/step0.safetensors runs/fim-2d/best_validation.safetensors \
    runs/fim-2d/last.safetensors --json bench/results/fim_2d_select.json
CHOSEN2=$("$PY" -c "import json; print(json.load(open('bench/results/fim_2d_select.json'))['chosen'])")
cp "$CHOSEN2" runs/fim-2d/fim_2d.safetensors
cp runs/fim-2d/log.json bench/results/pretrain_2d_log.json
"$PY" bench/fim_2d.py --weights runs/fim-2d/fim_2d.safetensors
echo "new weights: $NEW, SHA-256 $(sha256sum "$NEW" | cut -d' ' -f1)"
echo "new 2-D weights: runs/fim-2d/fim_2d.safetensors, SHA-256 $(sha256sum runs/fim-2d/fim_2d.safetensors | cut -d' ' -f1)"
echo "to ship them: copy to fimcg/weights/fim_1d.safetensors and fim_2d.safetensors, set SHIPPED_WEIGHTS_SHA256 and"
echo "SHIPPED_WEIGHTS_2D_SHA256 in fimcg/fim/weights.py, then python bench/fim_model_card.py and bench/fim_model_card_2d.py"
