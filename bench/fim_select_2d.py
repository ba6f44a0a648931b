"""Choose the shipped 2-D FIM weights among candidate checkpoints, on the development systems only.

For each weights file: the development systems (``bench.cases.development_2d_systems``, disjoint
from the benchmark's) in both context shapes, ``--seeds`` seeds; the FIM's relative drift and
diffusion errors over the oracle's (least squares in the true basis), geometric means over rows.
Rule, fixed before any result was seen: the lowest drift geometric mean wins; weights within 2% of
it are tied and the lowest diffusion geometric mean among them wins.

    python bench/fim_select_2d.py --weights runs/fim-2d/step0.safetensors runs/fim-2d/best_validation.safetensors \\
        runs/fim-2d/last.safetensors --json bench/results/fim_2d_select.json
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

if not __package__:  # run as a script: import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import warnings

import torch

from bench import cli
from bench.cases import SHAPES_2D, data_2d, development_2d_systems
from bench.errors import relative_error
from fimcg import estimators
from fimcg.fim.weights import load_fim

#: weights whose drift score is within this factor of the best are tied (then the diffusion decides)
TIE = 1.02


def score(path: str, seeds: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fim = load_fim(path)
    rows = []
    for system in development_2d_systems():
        for shape in SHAPES_2D:
            for seed in range(seeds):
                p, q = data_2d(system, shape, seed)
                f_t, g_t = system.sde.drift(q), system.sde.diffusion(q)
                with torch.no_grad():
                    f, g = fim.estimate(p, system.dt, q, warn=False)
                fo, go = estimators.least_squares(p, system.dt, q, drift_basis=system.drift_basis,
                                                  diff2_basis=system.diff2_basis)
                rows.append((relative_error(f, f_t) / relative_error(fo, f_t),
                             relative_error(g, g_t) / relative_error(go, g_t)))
    geo = lambda v: math.exp(sum(math.log(x) for x in v) / len(v))  # noqa: E731
    return {"geometric_mean_drift_over_oracle": geo([r[0] for r in rows]),
            "geometric_mean_diffusion_over_oracle": geo([r[1] for r in rows]), "rows": rows}


def main() -> None:
    ap = cli.parser(__doc__)
    ap.add_argument("--weights", nargs="+", required=True)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="bench/results/fim_2d_select.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {w: score(w, args.seeds) for w in args.weights}
    best = min(r["geometric_mean_drift_over_oracle"] for r in results.values())
    tied = [w for w, r in results.items() if r["geometric_mean_drift_over_oracle"] <= TIE * best]
    chosen = min(tied, key=lambda w: results[w]["geometric_mean_diffusion_over_oracle"])
    print(f"{'weights':60s} {'drift/oracle':>12s} {'g/oracle':>9s}")
    for w, r in results.items():
        print(f"{w:60s} {r['geometric_mean_drift_over_oracle']:12.3f} {r['geometric_mean_diffusion_over_oracle']:9.3f}"
              + ("   <- chosen" if w == chosen else ""))
    cli.write_json({"seeds": args.seeds, "rule": __doc__.split("Rule, ")[1].split("\n\n")[0], "chosen": chosen,
                    "results": results}, args.json)


if __name__ == "__main__":
    main()
