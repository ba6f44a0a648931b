"""Write fimcg/weights/MODEL_CARD.md from the shipped weights' metadata and the benchmark results.

    python bench/fim_model_card.py [--accuracy bench/results/fim_accuracy.json]
                                   [--speed bench/results/fim_speed.json] [--log runs/fim/log.json]

Run after ``bench/fim_accuracy.py`` and ``bench/fim_speed.py`` (``scripts/pretrain-fim.sh`` runs all
three after pretraining). Every section is generated from the weights and the results in
``bench/results/`` except the short history (:data:`HISTORY`), which is written by hand: add a few
lines (what changed, its measured effect, the commit) whenever the shipped model changes.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

if not __package__:  # run as a script (python bench/fim_model_card.py): import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import fimcg
from bench import cli
from fimcg.fim.weights import SHIPPED_WEIGHTS
from fimcg.io.checkpoint import sha256_of

COMMAND = "bash scripts/pretrain-fim.sh"

HISTORY = """\
Each stage or session in a few lines: what changed, its measured effect, and the commit that has it
(results of past experiments are in git history: `git show <commit>:<file>`).

- **Stage 1** (session 2; one H100, 7 min; `80335e4`): learned gates over kernel drifts
  (Nadaraya-Watson and local-linear at three bandwidths), the linear and cubic least-squares fits and
  zero; the drift loss weighted by each data set's drift signal-to-noise ratio (an earlier run without
  it learned to shrink every drift). Benchmark: 23 of 29 targets; it lost to the local-linear estimator
  on the tanh and periodic wells, and its gates hardly depended on the context (`FIM.explain`)
  (`3556ca4:bench/results/fim_accuracy_stage1.txt`).
- **Stage 2** (session 3; 2-core CPU, 40 min; `a705815`): lack-of-fit tests and cross-validation
  differences as query features, a fourth bandwidth (0.25) and the cross-validated drift average
  (Akaike weights, kernel penalty 6), warm-started from stage 1 and fine-tuned. Checkpoints 0, 2,400
  and 4,400 were within validation noise (0.628, 0.623, 0.619); step 2,400 ships, **chosen with
  benchmark data**. 25 of 29 targets (periodic well 0.81 -> 0.52); the diffusion under 2% observation
  noise got worse (double well 1 x 5000: 0.045 -> 0.055)
  (`a705815:bench/results/fim_accuracy_finetune_step0.txt`, `..._step4400.txt`;
  `8c3b35d:bench/results/fim_accuracy_stage2.txt`).
- **Stage 3** (session 4; `8c3b35d`): the cross-validated average also chooses among degree-5/7 fits
  and the prior's tanh, sine and rational families (binned sums); the stage-2 network with 0 training
  steps; inference takes 1.20-1.26x stage 2's time. The periodic well passed (0.45 vs 0.50); the tanh
  well still lost to the local-linear estimator (0.47 / 0.44 vs 0.43). Three GPU fine-tunes of this
  architecture were **not shipped**: the best was better on held-out prior data (median drift 0.283
  vs 0.310) but worse on the benchmark (21 of 27 case targets; its gates a fixed blend)
  (`8c3b35d:bench/results/fim_accuracy_stage3_gpu_experiment.txt`,
  `8c3b35d:bench/results/finetune_stage3_gpu_experiment_log.json`).
- **Session 5** (weights unchanged; `e034bd4`, `bc3ac61`, `6d09601`): the penalties of the
  cross-validated average checked on 1,029 settings (`bench/fim_cv_penalties.py`): the FIM with the
  average recomputed scores 0.251-0.267 on held-out prior data, 0.252 with the shipped penalties,
  which stay (`14faa99:bench/results/fim_cv_penalties_session5.txt`); no setting beats the local-linear
  estimator on the tanh well (0.433 vs 0.430). Irregular sampling: leave-one-out errors weighted by
  the steps (irregular double well 0.453 -> 0.401). Inference 15-30% faster, same outputs to rounding.
- **Session 6** (weights unchanged, two config settings; `14faa99`): `family_cubic_penalty` 16 and
  `family_penalty` 0, chosen by `bench/fim_family_settings.py` on a development suite and held-out
  prior data, not on the benchmark (whose tanh, periodic, double-well and Ornstein-Uhlenbeck cases had
  been run for a handful of settings before the rule was written; a first, median-based version of the
  rule chose the same setting): development score 0.754 -> 0.728, 14 of 14 groups won against the
  local-linear estimator, prior ratio 0.996. Benchmark: all targets met; tanh well 0.474 / 0.439 ->
  0.408 / 0.386, periodic well 0.451 / 0.446 -> 0.392 / 0.377; the cost is on the double well
  (1 x 5000: 0.376 -> 0.393). The held-out prior rows became medians over 300 data sets (was 100).
- **Session 7** (outputs bit-identical; `28a24bd`): the file moved from a torch pickle (`fim_1d.pt`)
  to safetensors + JSON (`fimcg convert`), its SHA-256 held in the code; checked on a fixed suite of
  six contexts (`tests/data/fim_reference_outputs.json`). Then the FIM became a composable model
  (`fimcg/fim/library.py`: one object per candidate, the decoder loops over the list; config split into
  `network` and `candidates`) and the file was re-exported once with the nested config: the query
  features are now ordered candidate by candidate, so the input columns of the query embedding's first
  layer were permuted by name (all other tensors unchanged); outputs equal to float rounding (largest
  relative deviation 4.3e-5, on near-zero values). The stage commands above are as they were run
  (`python -m fimcg.pretrain` is now `python -m fimcg.fim.training`, `.pt` is `.safetensors`).
- **Stage 4** (session 10; 2-core CPU, 35 min of training; this card's weights): the FIM was
  measured on systems outside every family it names (issue 18) and found to be no better than what a
  user fits by hand. Added candidates that name no family: penalised splines with GCV smoothness
  for the drift (entering the cross-validated average, penalty 16) and for g², and cross-validated
  g² averages (constant, line, quadratic, quartic and spline fits of the raw and of the noise-robust
  squared residuals, Akaike weights) that take over the gates of the quadratic g² fits; the prior
  widened by random Gaussian bumps in drift and log-diffusion; fine-tuned from stage 3 (the run hit
  singular family-fit systems twice, fixed in `c5fcbb3`, and resumed from its checkpoints). Every
  setting was chosen on the development suite and held-out prior data (`bench/fim_select.py`, table
  above): the best-validation checkpoint (step 1,400) won over the warm start (development
  diffusion / best classic 1.24 -> 1.10, drift / oracle 1.74 -> 1.71, held-out prior drift median
  0.270 -> 0.241). Measured on the old prior's held-out rows too (0.247 -> 0.235 drift, 0.082 ->
  0.071 g). The cost: the two named rows whose families the stage-3 candidates were matched to
  now lose narrowly to the local-linear estimator (tanh well 0.408 -> 0.445 vs 0.430; periodic well
  0.392 -> 0.510 vs 0.499): the fine-tuned gates trust the family fits less. Those two targets
  were not used to choose; they are reported as missed. Unseen systems (the table above, an
  outcome only): drift 1.68x the oracle (goal 1.5; even choosing per row, with the truth, the best
  of the FIM and the four simple peers reaches only 1.58: evidence that weighing these estimates
  will not get there, though not a bound), 0.99x the best simple peer, better than every peer in 7
  of 18 rows; diffusion 0.94x the best classic estimate (goal 1.0), but that average hides two
  halves: 1.19x on the 12 clean rows (stage 3: 1.36) and 0.59x on the 6 noisy rows (stage 3:
  0.98), where the simple peers are not noise-robust and the FIM's noise-robust averages are;
  under noise better than SFI in 5 of 6 rows. Caveat on independence: the benchmark systems and
  the bump prior were both written in this session (the benchmark first); the benchmark was run
  once, at the end, but its Gaussian-bump drift x·exp(-x²/2) and exponential-wall diffusion are
  close to shapes the bump prior draws. The stage-3 weights on the same benchmark (`bench/results/fim_accuracy_unseen_stage3.txt`, run
  afterwards for comparison): drift 1.71x the oracle, 1.01x the best peer, 8 of 18 rows; diffusion
  1.22x the best classic: the gain is in the diffusion. Latency at 5,000 observations 32.7 ms
  (stage 3: 37.1 ms in an earlier run of the same script).
"""


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _accuracy_table(acc: dict) -> str:
    rows = []
    for case, methods in acc["cases"].items():
        for m, v in methods.items():
            dr = f"{v['drift_rmse']:.4f}" if "drift_rmse" in v else "–"
            gr = f"{v['diff_rmse']:.4f}" if "diff_rmse" in v else "–"
            name = f"**{m}**" if m == "FIM" else m
            rows.append([case, name, dr, f"{v['drift_rel']:.3f}", gr, f"{v['diff_rel']:.3f}"])
    return _table(["case", "method", "drift RMSE", "drift rel.", "g RMSE", "g rel."], rows)


def _unseen_table(section: dict) -> str:
    """Drift and g relative errors of every method in every unseen row (drift / g)."""
    rows_in = section["rows"]
    methods = list(next(iter(rows_in.values())))
    rows = []
    for case, r in rows_in.items():
        system, shape = case.split(" | ")
        rows.append([system.split(":")[0].replace("|", "\\|"), shape] + [
            (f"**{v['drift_rel']:.3f} / {v['diff_rel']:.3f}**" if m == "FIM" else f"{v['drift_rel']:.3f} / {v['diff_rel']:.3f}")
            for m, v in r.items()])
    return _table(["system", "context"] + methods, rows)


def _unseen_summary(section: dict) -> str:
    s = section["summary"]
    return "\n".join([
        f"- FIM drift / oracle, geometric mean over rows: {s['drift_gm_over_oracle']:.2f} (target ≤ 1.5)",
        f"- best in hindsight (per row the closest of the FIM and the simple peers, chosen with the truth) / "
        f"oracle: {s['hindsight_gm_over_oracle']:.2f} (what a perfect per-row choice among these five final "
        f"estimates reaches; the oracle is not noise-robust, so on noisy rows it can lose)",
        f"- FIM drift / best simple peer, geometric mean: {s['drift_gm_over_best_peer']:.2f}; rows where it beats every "
        f"simple peer: {s['drift_rows_better_than_every_peer']} of {s['rows']}",
        f"- FIM diffusion / best classic estimate of the row, geometric mean: "
        f"{s['diffusion_gm_over_best_classic']:.2f} (target ≤ 1.0); clean rows {_clean_noisy(section)[0]:.2f}, "
        f"noisy rows {_clean_noisy(section)[1]:.2f} (the simple peers are not noise-robust)"])


def _clean_noisy(section: dict) -> tuple[float, float]:
    """FIM diffusion / best simple peer, geometric means over the clean and the noisy rows."""
    import math

    peers = ("binned KM", "local-linear (CV)", "AIC polynomial", "GP regression")
    out = []
    for noisy in (False, True):
        v = [r["FIM"]["diff_rel"] / min(r[m]["diff_rel"] for m in peers)
             for k, r in section["rows"].items() if ("noise" in k) == noisy]
        out.append(math.exp(sum(math.log(x) for x in v) / len(v)) if v else math.nan)
    return out[0], out[1]


def _selection(sel: dict | None) -> str:
    if not sel:
        return "(bench/results/fim_select.json not available)"
    rows = [[f"`{p}`", f"{r['drift_gm_over_oracle']:.3f}", f"{r['diffusion_gm_over_best_classic']:.3f}",
             f"{r['score']:.4f}", f"{r['prior_drift_median']:.3f}", f"{r['prior_diffusion_median']:.3f}",
             "**chosen**" if p == sel["chosen"] else ""] for p, r in sel["results"].items()]
    return _table(["weights", "dev drift / oracle", "dev g / best classic", "dev score", "prior drift (median)",
                   "prior g (median)", ""], rows)


def _verdicts(acc: dict) -> str:
    return "\n".join(f"- {'PASS' if v['pass'] else 'MISS'}: {v['case']}: {v['target']}"
                     for v in acc.get("verdicts", []))


def _speed_table(speed: dict) -> str:
    rows = [[f"{r['observations']:,}", f"{r['ms']:.1f}", f"{r['fastest_ms']:.1f}" if "fastest_ms" in r else "–",
             f"{r['peak_extra_mb']:.1f}"] for r in speed["rows"]]
    return _table(["observations", "ms (256 queries, median)", "fastest call (ms)", "peak extra memory (MB)"], rows)


def _curve(log: dict) -> str:
    rows = [[str(r["step"]), f"{r['elapsed_s'] / 60:.1f}", f"{r['val_drift_rel']:.3f}",
             f"{r['val_diffusion_rel']:.3f}", f"{r['ref_drift_rel']:.3f}", f"{r['ref_diffusion_rel']:.3f}"]
            for r in log["history"] if "val_drift_rel" in r]
    return _table(["step", "minutes", "val drift rel.", "val g rel.", "ref. drift rel.", "ref. g rel."], rows)


def _stage_rows(stages: list[tuple[str, dict]]) -> str:
    rows = []
    for name, m in stages:
        cfg = m["pretrain_config"]
        steps = (f"{m['step']:,} ({m.get('selected_by', 'best validation')}; the run stopped at "
                 f"{m.get('stopped_at_step', m['step']):,})")
        wall = (f"{m.get('wall_time_s', float('nan')) / 60:.1f} min (best checkpoint after "
                f"{m.get('best_checkpoint_at_s', float('nan')) / 60:.1f} min)")
        hardware = m.get("hardware") or f"{_cpu_name()}, {cfg['threads']} torch thread(s), torch {torch.__version__}"
        rows.append([name, f"`{m.get('command', COMMAND)}`", str(cfg["seed"]), steps, wall, hardware])
    return _table(["stage", "command", "seed", "steps", "wall time", "hardware"], rows)


def main() -> None:
    ap = cli.parser(__doc__)
    ap.add_argument("--accuracy", default="bench/results/fim_accuracy.json")
    ap.add_argument("--speed", default="bench/results/fim_speed.json")
    ap.add_argument("--log", default="bench/results/pretrain_log.json", help="stage 1's log.json (from runs/fim)")
    ap.add_argument("--finetune-log", default="bench/results/finetune_log.json",
                    help="stage 2's log.json (from runs/fim-ft)")
    ap.add_argument("--stage3-log", default="bench/results/finetune_stage3_log.json",
                    help="stage 3's log.json (from runs/fim-s3)")
    ap.add_argument("--stage4-log", default="bench/results/finetune_stage4_log.json",
                    help="stage 4's log.json (from runs/fim-s4)")
    ap.add_argument("--select", default="bench/results/fim_select.json",
                    help="bench/fim_select.py's choice of the stage-4 checkpoint")
    ap.add_argument("--out", default=str(SHIPPED_WEIGHTS.parent / "MODEL_CARD.md"))
    args = ap.parse_args()
    fim = fimcg.load_fim()
    meta = fim.meta
    chain = [meta]  # the shipped weights, the weights they started from, ...
    while "init" in chain[0]:
        chain.insert(0, chain[0]["init"])
    names = ["1: pretraining", "2: fine-tuning", "3: wider cross-validated average (no training)",
             "4: splines, cross-validated g², broader prior (fine-tuning)"]
    stages = list(zip(names, chain))
    acc = json.loads(Path(args.accuracy).read_text())
    speed = json.loads(Path(args.speed).read_text())
    logs = [json.loads(Path(f).read_text()) if Path(f).is_file() else None
            for f in (args.log, args.finetune_log, args.stage3_log, args.stage4_log)]
    sel = json.loads(Path(args.select).read_text()) if Path(args.select).is_file() else None
    curves = "\n\n".join(f"Stage {i + 1} (validation every {st[1]['pretrain_config']['val_every']} steps):\n\n"
                          + (_curve(log) if log else "(log not available)")
                          for i, (st, log) in enumerate(zip(stages, logs)))
    n_params = sum(p.numel() for p in fim.parameters())
    size_kb = SHIPPED_WEIGHTS.stat().st_size / 1024
    mc = fim.config
    mn, mk = mc.network, mc.candidates
    card = f"""# Model card: fimcg FIM, 1-D (`fim_1d.safetensors`)

A Foundation Inference Model for one-dimensional SDEs dX = f(X) dt + g(X) dW: a network, pretrained
on synthetic SDEs, that reads observed paths and returns the drift f and the diffusion g at any query
location in one forward pass, as a location-wise mixture of classic and nonparametric estimates
(kernel moments, least-squares and function-family fits, penalised splines, cross-validated averages, computed in the
same pass) weighed by the context. Unlike FIM-SDE, it never outputs f or g directly. Architecture and prior: `fimcg/fim/` and `fimcg/fim/training/prior.py` (their docstrings
are the full description). This file is generated by `bench/fim_model_card.py`.

## Identity
| | |
|---|---|
| file | `fimcg/weights/fim_1d.safetensors` ({size_kb:.0f} KiB), SHA-256 `{sha256_of(SHIPPED_WEIGHTS)}` |
| format | safetensors (tensors) with the config and provenance as JSON in its metadata (`fimcg.io.checkpoint`): loading runs no code; `load_fim()` checks the file against the SHA-256 held in the code (`fimcg.fim.SHIPPED_WEIGHTS_SHA256`) and refuses any other file |
| parameters | {n_params:,} |
| architecture | d_model {mn.d_model}, {mn.n_heads} heads, {mn.n_latents} latents, {mn.n_encoder_blocks} encoder / {mn.n_decoder_blocks} decoder blocks, kernel bandwidths {list(mk.bandwidths)}, lack-of-fit tests at {mk.n_test_points} data quantiles, global fits of degree {', '.join(map(str, mk.high_degrees))} (penalty {mk.high_degree_penalty}) and of the {', '.join(mk.families)} families (penalty {mk.family_penalty}, their members on the cubic {mk.family_cubic_penalty} more; grids of {len(mk.family_steepness)} steepnesses, {len(mk.family_widths)} widths and {len(mk.family_frequencies)} frequencies, {mk.family_centres} centres; sums binned at {mk.fit_bin_width:g}), penalised splines on {mk.spline_segments} knot intervals (GCV smoothness; drift penalty {mk.spline_penalty} in the average) and cross-validated g² averages, cross-validated drift average (kernel penalty {mk.cv_penalty}); outputs: gates over {mc.n_drift_options} drift and {mc.n_diffusion_options} diffusion estimates |
| trained dimensions | d = {tuple(mc.trained_dims)} (the architecture accepts d ≤ {mc.max_dim}) |
| fimcg version | {fimcg.__version__} |

## Training
`bash scripts/pretrain-fim.sh [--device cuda]` reproduces all stages, the benchmarks and this card.

{_stage_rows(stages)}

Configs: stage 1 `fimcg/weights/pretrain_config.json`, stage 2 `fimcg/weights/finetune_config.json`,
stage 3 `fimcg/weights/finetune_stage3_config.json`, stage 4 `fimcg/weights/finetune_stage4_config.json`
(resolved configs below). Data: fresh synthetic
equations every step (no data set is stored), up to {chain[0]['pretrain_config']['tokens_per_batch']:,}
observed transitions per step in stage 1.

Final validation record: `{json.dumps(meta.get('record', {}))}`

<details><summary>Resolved configs</summary>

```json
{json.dumps({name: st["pretrain_config"] for name, st in stages}, indent=2)}
```
</details>

## Evaluation (`python bench/fim_accuracy.py`)
Relative RMSE = RMSE / RMS of the truth, on 100 grid points over the 2nd–98th percentile of the
data, mean over {acc['seeds']} seeds; "noise" adds Gaussian observation noise of {acc['noise']:g} × std(x).
Held-out prior rows are medians over datasets. Oracle LS = least squares in the true function class.

{_accuracy_table(acc)}

### Systems outside every named family (issue 18)
Six systems whose drift or diffusion no candidate names, each observed as many short paths
(200 × 50, dt 0.01), one long path (1 × 10,000) and 20 × 500 with 2% observation noise; mean of
{acc['seeds']} seeds. Each cell: drift rel. / g rel. Simple peers: binned KM, local-linear with a
cross-validated bandwidth, AIC polynomial, Gaussian-process regression; SFI and pysindy with `--peers`.

{_unseen_table(acc['unseen']) if 'unseen' in acc else '(not run)'}

{_unseen_summary(acc['unseen']) if 'unseen' in acc else ''}

### How the settings were chosen
Nothing above was used to choose anything. On the development suite
(`bench.cases.development_unseen_systems`: six other systems outside the named families, in the
same three shapes; `tests/test_bench_cases.py` keeps it disjoint from the benchmark), with the
stage-3 network warm-started into the new architecture, were chosen: the spline's penalty in the
drift average (0, 4, 8, 16 and "not in the average" tried: drift / oracle 1.78, 1.76, 1.74, 1.736,
1.735; 16 kept, as good as leaving it out while still offering the option), that the g² averages
take over the quadratic fits' gates (diffusion / best of KM, CV local-linear and AIC 1.37 -> 1.18; hand-over drop 6 and 30
alike), and raw and noise-robust averages both (standalone on the development rows: raw 1.08,
noise-robust 1.44, so the gates choose). Set a priori and not tuned: 20 knot intervals, the Akaike
temperature 0.5 of the drift average, the g² degrees (0, 1, 2, 4), the bump prior. The stage-4
checkpoint was then chosen by `bench/fim_select.py` on the development suite and on held-out data
sets of the broadened prior, by a rule written before the results were seen:

{_selection(sel)}

Targets (issue 5: named systems; issue 18: unseen systems):

{_verdicts(acc)}

## Speed (`python bench/fim_speed.py`, {speed['threads']} thread)
{_speed_table(speed)}

## Training curves
{curves}

## History (what training did)
{HISTORY}
## Intended use and limits
- One-dimensional, time-homogeneous SDEs with diagonal diffusion, observed at a regular step between
  about 0.001 and 0.1 time units, or at irregular times (the classic estimates weigh each increment
  by its step; the prior itself samples regular steps) (after rescaling, any unit works: the estimate is equivariant to
  the unit of time and to the offset and scale of the state).
- Trained on contexts of 100 to 50,000 transitions (1 to 100 paths); longer contexts work (the
  kernel features and attention are averages) but were not seen in training.
- Observation noise up to 5% of std(x) was in the prior; much larger noise biases the diffusion.
- On systems outside every function family it names, the drift is about as good as the best of
  the simple estimators a user would try (local-linear with a cross-validated bandwidth, an AIC
  polynomial, a GP), not better in every case, and well above an oracle that knows the family; the
  diffusion is about as good as the best classic estimate on clean data (1.19x its error on
  average) and clearly better under observation noise (see "Systems outside every named family").
- Outside the observed range the estimates are extrapolations: `estimate` warns (ExtrapolationWarning).
- Not trained for d > 1: `estimate` refuses 2-D or 3-D data with these weights.
"""
    Path(args.out).write_text(card)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
