"""Accuracy and speed of the FIM on two-dimensional systems, against classic estimators in the same run.

For every system, context shape and seed: simulate (``bench.cases.data_2d``), estimate the drift
vector field and the diagonal diffusion at 256 observed states (evenly spaced through the data: the
occupied region) with each method, and record relative RMSEs (RMSE over both coordinates / RMS of
the truth). Prints one table per system and shape (means over seeds), the targets of issue 19, and
the latency of ``fim.estimate`` at 5,000 observations and 256 queries; writes everything to ``--json``.

    python bench/fim_2d.py                         # the benchmark systems, 3 seeds
    python bench/fim_2d.py --section development   # the development systems (choosing the checkpoint)
    python bench/fim_2d.py --weights runs/fim-2d/best.safetensors --section development

Methods: the FIM (``fimcg.load_fim()``, whose 2-D companion answers 2-D contexts); binned
Kramers-Moyal on a square grid (the best of 8, 12 and 20 bins per axis, chosen per row with the truth:
a generous peer); local-linear regression with a product Gaussian kernel and a cross-validated
bandwidth; least squares on all monomials of degree <= 3 (drift) and <= 2 (g²), a generic polynomial;
and the oracle, least squares in the true basis (the true monomials, or for Müller-Brown the gradients
of its four Gaussian terms).

Targets (issue 19): FIM drift <= 1.5x the oracle and better than KM and local-linear (CV) in every
row; FIM diffusion no worse than the best classic estimate (KM, local-linear, cubic LS); latency
<= 100 ms at 5,000 observations, 256 queries.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

if not __package__:  # run as a script: import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import math

import torch

from bench import cli
from bench.cases import SHAPES_2D, benchmark_2d_systems, data_2d, development_2d_systems
from bench.errors import mean, relative_error
from fimcg import estimators

#: bins per axis of the binned Kramers-Moyal peer (the best per row is reported)
KM_BINS = (8, 12, 20)

#: the classic estimates the FIM's diffusion is compared with
CLASSIC = ("binned KM", "local-linear (CV)", "LS cubic")


def methods(fim, system) -> dict:
    def km(p, dt, q):
        return [estimators.binned_km(p, dt, q, n_bins=n) for n in KM_BINS]
    return {
        "FIM": lambda p, dt, q: fim.estimate(p, dt, q, warn=False),
        "binned KM": km,
        "local-linear (CV)": lambda p, dt, q: estimators.local_linear(p, dt, q, bandwidth="cv"),
        "LS cubic": lambda p, dt, q: estimators.least_squares(p, dt, q, drift_basis=3, diff2_basis=2),
        "oracle (true basis)": lambda p, dt, q: estimators.least_squares(p, dt, q, drift_basis=system.drift_basis,
                                                                         diff2_basis=system.diff2_basis),
    }


def run_row(fim, system, shape, seeds: int) -> dict:
    out: dict[str, dict[str, list]] = {}
    for seed in range(seeds):
        p, q = data_2d(system, shape, seed)
        f_t, g_t = system.sde.drift(q), system.sde.diffusion(q)
        for name, fn in methods(fim, system).items():
            with torch.no_grad():
                res = fn(p, system.dt, q)
            fits = res if isinstance(res, list) else [res]
            errs = [(relative_error(f, f_t), relative_error(g, g_t)) for f, g in fits]
            best = min(errs, key=lambda e: e[0])  # KM: the bin count with the best drift
            rec = out.setdefault(name, {"drift": [], "diffusion": []})
            rec["drift"].append(best[0])
            rec["diffusion"].append(best[1])
    return {name: {k: mean(v) for k, v in rec.items()} for name, rec in out.items()}


def latency(fim, repeats: int = 7) -> float:
    """Median ms of fim.estimate on one 2-D path of 5,000 observations, 256 queries."""
    system = benchmark_2d_systems()[0]
    p, _ = data_2d(system, SHAPES_2D[1], 0)
    p = p[:1]
    g = torch.linspace(-1.5, 1.5, 16)
    q = torch.stack(torch.meshgrid(g, g * 0.5, indexing="ij"), -1).reshape(-1, 2)
    times = []
    with torch.no_grad():
        fim.estimate(p, system.dt, q, warn=False)
        for _ in range(repeats):
            t0 = time.perf_counter()
            fim.estimate(p, system.dt, q, warn=False)
            times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def main() -> None:
    ap = cli.parser(__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--section", choices=("benchmark", "development"), default="benchmark")
    cli.add_fim_options(ap, json_default="bench/results/fim_2d.json")
    args = ap.parse_args()
    fim = cli.load_fim(args)
    systems_ = benchmark_2d_systems() if args.section == "benchmark" else development_2d_systems()
    rows = []
    for system in systems_:
        for shape in SHAPES_2D:
            t0 = time.perf_counter()
            res = run_row(fim, system, shape, args.seeds)
            print(f"\n{system.name} | {shape.name}  ({time.perf_counter() - t0:.0f} s, {args.seeds} seeds)")
            print(f"{'method':22s} {'drift rel':>10s} {'diffusion rel':>14s}")
            for name, r in res.items():
                print(f"{name:22s} {r['drift']:10.3f} {r['diffusion']:14.3f}")
            rows.append({"system": system.name, "shape": shape.name, "results": res})
    ratio_oracle = [r["results"]["FIM"]["drift"] / r["results"]["oracle (true basis)"]["drift"] for r in rows]
    beats = [r["results"]["FIM"]["drift"] < min(r["results"]["binned KM"]["drift"],
                                                 r["results"]["local-linear (CV)"]["drift"]) for r in rows]
    diff_ratio = [r["results"]["FIM"]["diffusion"] / min(r["results"][c]["diffusion"] for c in CLASSIC) for r in rows]
    geo = math.exp(sum(math.log(v) for v in ratio_oracle) / len(ratio_oracle))
    print(f"\n{'row':70s} {'drift/oracle':>12s} {'beats KM+LL':>11s} {'diff/best classic':>17s}")
    for r, a, b, c in zip(rows, ratio_oracle, beats, diff_ratio):
        print(f"{r['system'] + ' | ' + r['shape']:70s} {a:12.2f} {str(b):>11s} {c:17.2f}")
    print(f"geometric mean drift/oracle {geo:.2f}; rows <= 1.5x oracle: {sum(v <= 1.5 for v in ratio_oracle)}/"
          f"{len(rows)}; rows beating KM and local-linear: {sum(beats)}/{len(rows)}; rows with diffusion <= best "
          f"classic: {sum(v <= 1.0 for v in diff_ratio)}/{len(rows)}")
    ms = latency(fim)
    print(f"latency: {ms:.1f} ms at 5,000 observations, 256 queries ({args.threads} thread(s); target <= 100 ms)")
    cli.write_json({"section": args.section, "seeds": args.seeds, "weights": args.weights, "threads": args.threads,
                    "rows": rows,
                    "drift_over_oracle": ratio_oracle, "geometric_mean_drift_over_oracle": geo,
                    "beats_km_and_ll": beats, "diffusion_over_best_classic": diff_ratio, "latency_ms": ms},
                   args.json if args.section == "benchmark" or args.json != "bench/results/fim_2d.json"
                   else "bench/results/fim_2d_development.json")


if __name__ == "__main__":
    main()
