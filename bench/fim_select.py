"""Choose among FIM weights (checkpoints of a fine-tune, settings) on the development suite and
held-out prior data, never on the benchmark.

    python bench/fim_select.py --weights runs/fim-s4/step0.safetensors runs/fim-s4/best.safetensors \
        runs/fim-s4/checkpoint.safetensors [--seeds 2] [--prior-datasets 300]

For each weights file: the development systems (``bench.cases.development_unseen_systems``, disjoint
from the benchmark's unseen systems; a test checks it) in the three context shapes, scored as the
benchmark scores the unseen rows (drift: geometric mean of FIM / oracle; diffusion: geometric mean of
FIM / the best classic peer of the row), and the median relative drift and diffusion errors on
held-out data sets of the broadened prior (a seed that no training used). The peers are computed
once for all weights.

The rule (stated before the results were seen): the smallest development score, log(drift GM) +
log(diffusion GM); a file whose held-out prior drift median is more than 2% worse than the first
file's (the starting point) is not eligible. Prints a table and the choice; writes ``--json``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

if not __package__:  # run as a script: import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import fimcg
from bench import cli
from bench.cases import add_observation_noise, case_data, development_unseen_systems, unseen_cases
from bench.errors import median, relative_error
from bench.fim_accuracy import SIMPLE_PEERS, geometric_mean, unseen_peers
from fimcg.fim.training.prior import PriorConfig, SyntheticPrior

#: a file whose held-out prior drift median exceeds the first file's by more than this is not eligible
PRIOR_TOLERANCE = 1.02

#: the held-out prior: the broadened prior of stage 4, a seed no training used
PRIOR_SEED = 777_001


def peer_errors(seeds: int) -> list[tuple]:
    """[(case, seed, paths, dt, x, f_true, g_true, {peer: (drift rel, g rel)})] on the development rows."""
    rows = []
    for case in unseen_cases(development_unseen_systems()):
        peers = unseen_peers(case)
        for seed in range(seeds):
            paths, dt, x, f_true = case_data(case, seed, case.noise)
            g_true = case.sde.diffusion(x)
            errs = {}
            for name, fn in peers.items():
                f, g = fn(paths, dt, x)
                errs[name] = (relative_error(f, f_true), relative_error(g, g_true))
            rows.append((case, seed, paths, dt, x, f_true, g_true, errs))
    return rows


def development_score(fim, rows: list[tuple]) -> dict:
    by_case: dict[str, list] = {}
    for case, _, paths, dt, x, f_true, g_true, errs in rows:
        with torch.no_grad():
            f, g = fim.estimate(paths, dt, x, warn=False)
        by_case.setdefault(case.name, []).append((relative_error(f, f_true), relative_error(g, g_true), errs))
    drift, diff = [], []
    for items in by_case.values():
        n = len(items)
        f = sum(i[0] for i in items) / n
        g = sum(i[1] for i in items) / n
        oracle = sum(i[2]["oracle LS"][0] for i in items) / n
        best_g = min(sum(i[2][m][1] for i in items) / n for m in SIMPLE_PEERS)
        drift.append(f / oracle)
        diff.append(g / best_g)
    d, g = geometric_mean(drift), geometric_mean(diff)
    return {"drift_gm_over_oracle": d, "diffusion_gm_over_best_classic": g, "score": math.log(d) + math.log(g)}


def prior_data(n: int) -> list[tuple]:
    """``n`` held-out data sets of the broadened prior (2% observation noise on every other one)."""
    prior = SyntheticPrior(PriorConfig(p_nonpolynomial=0.6, p_smooth=0.4, p_smooth_diffusion=0.35),
                           seed=PRIOR_SEED, tokens_per_batch=4000)
    out = []
    while len(out) < n:
        b = prior.episode()[0]
        for i in range(min(2, b.paths.shape[0])):
            f_t, g_t = b.drift[i], b.diffusion[i]
            if float(f_t.abs().max()) < 1e-6 or float(g_t.abs().max()) < 1e-6:
                continue
            paths = add_observation_noise(b.paths[i], 0.02 * (len(out) % 2), len(out))
            out.append((paths, b.dt, b.queries[i], f_t, g_t))
    return out[:n]


def prior_score(fim, data: list[tuple]) -> dict:
    f_err, g_err = [], []
    for paths, dt, x, f_t, g_t in data:
        with torch.no_grad():
            f, g = fim.estimate(paths, dt, x, warn=False)
        f_err.append(relative_error(f, f_t))
        g_err.append(relative_error(g, g_t))
    return {"prior_drift_median": median(f_err), "prior_diffusion_median": median(g_err)}


def main() -> None:
    ap = cli.parser(__doc__)
    ap.add_argument("--weights", nargs="+", required=True, help="weights files; the first is the starting point")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--prior-datasets", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="bench/results/fim_select.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cli.set_up(args)
    t0 = time.time()
    rows = peer_errors(args.seeds)
    data = prior_data(args.prior_datasets)
    print(f"development rows and held-out prior data ready ({time.time() - t0:.0f} s)")
    results = {}
    for path in args.weights:
        fim = fimcg.load_fim(path)
        r = development_score(fim, rows) | prior_score(fim, data)
        results[path] = r
        print(f"{path}: dev drift/oracle {r['drift_gm_over_oracle']:.3f}, dev g/best classic "
              f"{r['diffusion_gm_over_best_classic']:.3f}, score {r['score']:.4f}; held-out prior drift "
              f"{r['prior_drift_median']:.3f}, g {r['prior_diffusion_median']:.3f}", flush=True)
    first = results[args.weights[0]]["prior_drift_median"]
    eligible = [p for p in args.weights if results[p]["prior_drift_median"] <= PRIOR_TOLERANCE * first]
    choice = min(eligible, key=lambda p: results[p]["score"])
    print(f"\nchosen: {choice} (eligible: {eligible})")
    cli.write_json({"seeds": args.seeds, "prior_datasets": args.prior_datasets, "results": results,
                    "chosen": choice, "rule": "min dev score among files within 2% of the first's prior drift"},
                   args.json)


if __name__ == "__main__":
    main()
