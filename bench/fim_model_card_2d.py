"""Write ``fimcg/weights/MODEL_CARD_2D.md``, the model card of the shipped 2-D FIM weights.

Reads the weights' own metadata (training config, steps, wall time, the weights they started
from), the training log (``bench/results/pretrain_2d_log.json``, a copy of the run's log.json), the
checkpoint choice on the development systems (``bench/results/fim_2d_select.json``) and the
benchmark (``bench/results/fim_2d.json`` from ``python bench/fim_2d.py``).

    python bench/fim_model_card_2d.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if not __package__:  # run as a script: import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import fimcg
from bench import cli
from bench.fim_model_card import _cpu_name, _curve, _table
from fimcg.fim.weights import SHIPPED_WEIGHTS_2D
from fimcg.io.checkpoint import sha256_of

COMMAND = ("python -m fimcg.fim.training --config fimcg/weights/pretrain_2d_config.json --out runs/fim-2d "
           "--init fimcg/weights/fim_1d.safetensors")


def _rows(bench: dict) -> str:
    rows = []
    for r, a, b, c in zip(bench["rows"], bench["drift_over_oracle"], bench["beats_km_and_ll"],
                          bench["diffusion_over_best_classic"]):
        res = r["results"]
        rows.append([r["system"], r["shape"]] + [f"{v['drift']:.3f} / {v['diffusion']:.3f}" for v in res.values()]
                    + [f"{a:.2f}", "yes" if b else "no", f"{c:.2f}"])
    methods = list(bench["rows"][0]["results"])
    return _table(["system", "context"] + methods + ["FIM drift / oracle", "beats KM and LL", "FIM g / best classic"],
                  rows)


def _missed(bench: dict) -> str:
    """The rows that miss the drift targets, with their ratios (or "none")."""
    out = [f"{r['system']} | {r['shape']} ({a:.2f}x the oracle; local-linear {r['results']['local-linear (CV)']['drift']:.3f} "
           f"vs the FIM's {r['results']['FIM']['drift']:.3f})"
           for r, a, b in zip(bench["rows"], bench["drift_over_oracle"], bench["beats_km_and_ll"]) if a > 1.5 or not b]
    return "; ".join(out) if out else "none"


def _latency_rerun(bench: dict) -> str:
    """The separate latency measurement by thread count, if the results hold one."""
    by = bench.get("latency_ms_by_threads")
    if not by:
        return ""
    return "; measured again separately: " + ", ".join(f"{v:.0f} ms on {k} thread(s)" for k, v in by.items())


def _selection(sel: dict | None) -> str:
    if not sel:
        return "(bench/results/fim_2d_select.json not available)"
    rows = [[f"`{name}`", f"{r['geometric_mean_drift_over_oracle']:.3f}",
             f"{r['geometric_mean_diffusion_over_oracle']:.3f}", "**chosen**" if name == sel["chosen"] else ""]
            for name, r in sel["results"].items()]
    return _table(["checkpoint", "dev drift / oracle", "dev g / oracle", ""], rows) + f"\n\nRule: {sel['rule']}"


def main() -> None:
    ap = cli.parser(__doc__)
    ap.add_argument("--bench", default="bench/results/fim_2d.json")
    ap.add_argument("--log", default="bench/results/pretrain_2d_log.json")
    ap.add_argument("--select", default="bench/results/fim_2d_select.json")
    ap.add_argument("--out", default=str(SHIPPED_WEIGHTS_2D.parent / "MODEL_CARD_2D.md"))
    args = ap.parse_args()
    fim = fimcg.load_fim().companions[2]
    meta, mc = fim.meta, fim.config
    mn, mk = mc.network, mc.candidates
    cfg = meta["pretrain_config"]
    bench = json.loads(Path(args.bench).read_text())
    log = json.loads(Path(args.log).read_text()) if Path(args.log).is_file() else None
    sel = json.loads(Path(args.select).read_text()) if Path(args.select).is_file() else None
    n_params = sum(p.numel() for p in fim.parameters())
    size_kb = SHIPPED_WEIGHTS_2D.stat().st_size / 1024
    hardware = meta.get("hardware") or f"{_cpu_name()}, {cfg['threads']} torch thread(s), torch {torch.__version__}"
    n_ok = sum(v <= 1.5 for v in bench["drift_over_oracle"])
    n_rows = len(bench["rows"])
    card = f"""# Model card: fimcg FIM, 2-D (`fim_2d.safetensors`)

A Foundation Inference Model for two-dimensional SDEs dX = f(X) dt + g(X) dW with diagonal,
state-dependent g: a network that weighs classic and nonparametric estimates by the context. At
every query location it returns the drift vector as a mixture of estimates computed in the same
pass (Nadaraya-Watson and local-linear kernel moments with a 2-D Gaussian kernel, least-squares
polynomials in both coordinates of degree 1, 3, 5 and 7, a cross-validated average of those, zero)
and the diffusion as a gated geometric mean of estimates of g² (kernel second moments, raw and
noise-robust; quadratic least squares; cross-validated averages of polynomial g² fits of degree 0
to 4 in both coordinates). Unlike FIM-SDE it never outputs f or g directly. `fimcg.load_fim()`
returns the 1-D model with this one as its companion (`fim.companions[2]`): 2-D contexts go to it.
This file is generated by `bench/fim_model_card_2d.py`.

## Identity
| | |
|---|---|
| file | `fimcg/weights/fim_2d.safetensors` ({size_kb:.0f} KiB), SHA-256 `{sha256_of(SHIPPED_WEIGHTS_2D)}` |
| format | safetensors with config and provenance as JSON metadata; loading runs no code; checked against `fimcg.fim.SHIPPED_WEIGHTS_2D_SHA256` (held in the code) |
| parameters | {n_params:,} |
| architecture | as the 1-D model (d_model {mn.d_model}, {mn.n_heads} heads, {mn.n_latents} latents, {mn.n_encoder_blocks} encoder / {mn.n_decoder_blocks} decoder blocks); candidates `multivariate=True`: kernel bandwidths {list(mk.bandwidths)}, multivariate fits of degree 1, 3 and {', '.join(map(str, mk.high_degrees))}, cross-validated drift average (kernel penalty {mk.cv_penalty}; kernel drifts scored at 256 transitions), cross-validated g² averages; gates over {mc.n_drift_options} drift and {mc.n_diffusion_options} diffusion estimates |
| trained dimensions | d = {tuple(mc.trained_dims)} |

## Training
Warm-started from the shipped 1-D weights (the query features and gates of the same names carry
over: the multivariate fits have the 1-D fits' names) and fine-tuned on the 2-D prior
(`fimcg/fim/training/prior.py` with `dim=2`: the 1-D prior's terms per coordinate, weak linear
coupling, and with probability {cfg['prior'].get('p_coupled', 0)} each a landscape of Gaussian wells and hills
(gradient, non-polynomial), polynomial coupling (gradient) and a rotation (not a gradient); queries
at observed states).

| | |
|---|---|
| command | `{COMMAND}` (resumable; `scripts/pretrain-fim.sh` runs it after the 1-D stages) |
| config | `fimcg/weights/pretrain_2d_config.json` |
| seed | {cfg['seed']} |
| steps | {meta.get('step', '?'):,} ({meta.get('selected_by', 'best validation')}; the run stopped at {meta.get('stopped_at_step', meta.get('step', 0)):,}) |
| wall time | {meta.get('wall_time_s', float('nan')) / 60:.1f} min |
| hardware | {hardware} |

Validation (held-out 2-D prior; reference: the 2-D double well, 20 paths x 250 observations):

{_curve(log) if log else '(log not available)'}

The median relative error on the broad 2-D prior hardly moves (about 0.52): its median dataset is
short and its drift hard to pin down by any candidate (the best candidate per dataset, chosen with
the truth, has a median of about 0.49). The checkpoint is therefore chosen on the development
systems (`bench.cases.development_2d_systems`: three holes, a linear rotation, a sheared cubic with
state-dependent noise; never the benchmark's), by the geometric mean of the drift error over the
oracle's:

{_selection(sel)}

## Evaluation (`python bench/fim_2d.py`)
Relative RMSE (drift / diffusion, both coordinates) at 256 observed states, mean over {bench['seeds']}
seeds. KM: binned Kramers-Moyal, the best of 8, 12 and 20 bins per axis chosen with the truth;
LL: local-linear with a cross-validated bandwidth; LS cubic: all monomials of degree ≤ 3 / ≤ 2;
oracle: least squares in the true basis.

{_rows(bench)}

- FIM drift / oracle: geometric mean {bench['geometric_mean_drift_over_oracle']:.2f}; rows within 1.5x: {n_ok} of {n_rows} (target: all)
- rows where the FIM's drift beats KM and local-linear (CV): {sum(bench['beats_km_and_ll'])} of {n_rows} (target: all); rows
  missing a drift target: {_missed(bench)}
- rows where the FIM's diffusion is no worse than the best classic: {sum(v <= 1.0 for v in bench['diffusion_over_best_classic'])} of {n_rows} (target: all)
- latency at 5,000 observations and 256 queries (target ≤ 100 ms): {bench['latency_ms']:.0f} ms in the benchmark run
  ({bench.get('threads', '?')} torch threads){_latency_rerun(bench)}; the kernel moments take most of it (exact
  2-D kernel sums at the queries and at the 256 transitions of the kernel cross-validation)

## Limits
- Diagonal diffusion only: correlated noise (a non-diagonal diffusion matrix) is outside the model;
  in a coordinate that mixes the axes the noise of a diagonal system becomes correlated
  (`fimcg.analysis.alignment_nd` explains and measures it).
- No function-family or spline candidates in 2-D (they are one-dimensional); non-polynomial drifts
  rely on the kernel moments and the degree-5 and 7 fits.
- d = 3 is not trained (the architecture accepts it; `estimate` refuses 3-D data).
"""
    from fimcg.io import atomic_write_text
    atomic_write_text(card, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
