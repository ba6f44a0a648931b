"""Accuracy of the shipped FIM against classic estimators, on the same data and grids.

For every case and seed: simulate, optionally add observation noise, estimate drift and diffusion
with each method on a 100-point grid over the occupied region (2nd to 98th percentile of the data),
and record RMSE and relative RMSE (RMSE / RMS of the truth). Prints one table per case (means over
seeds) and a verdict on the targets of issue 5; writes everything to ``--json``.

    python bench/fim_accuracy.py                 # all cases, 5 seeds
    python bench/fim_accuracy.py --seeds 2 --quick
    python bench/fim_accuracy.py --only tanh,periodic --prior-datasets 0 --weights runs/x.safetensors --json /tmp/x.json

Methods: the FIM (``fimcg.load_fim()``), binned Kramers-Moyal (30 bins), local-linear kernel
regression (rule-of-thumb bandwidth), and the oracle: least squares in the true function class.
With ``--peers`` also pysindy used as a Kramers-Moyal regression and StochasticForceInference
(preset "KM"), see ``bench/peers.py`` (``pip install pysindy==2.1.0 StochasticForceInference==2.0.4``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if not __package__:  # run as a script (python bench/fim_accuracy.py): import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench import cli
from bench.cases import Case, accuracy_cases, add_observation_noise, case_data, prior_datasets
from bench.errors import errors, mean, median, relative_error
from fimcg import estimators


def run_case(case: Case, fim, seeds: int, noise: float, peers: bool = False) -> dict:
    methods = {
        "FIM": lambda p, dt, x: fim.estimate(p, dt, x, warn=False),
        "binned KM": lambda p, dt, x: estimators.binned_km(p, dt, x),
        "local-linear": lambda p, dt, x: estimators.local_linear(p, dt, x),
        "oracle LS": lambda p, dt, x: estimators.least_squares(p, dt, x, drift_basis=case.drift_basis,
                                                               diff2_basis=case.diff2_basis),
    }
    if peers and not case.irregular:  # the peers take one regular step
        from bench.peers import pysindy_km, sfi_km

        methods.update({"pysindy KM": pysindy_km, "SFI (KM)": sfi_km})
    acc = {m: {"drift_rmse": [], "drift_rel": [], "diff_rmse": [], "diff_rel": [], "ms": []} for m in methods}
    for seed in range(seeds):
        paths, dt, x, f_true = case_data(case, seed, noise)
        g_true = case.sde.diffusion(x)
        for name, method in methods.items():
            t0 = time.perf_counter()
            with torch.no_grad():
                f, g = method(paths, dt, x)
            acc[name]["ms"].append(1000 * (time.perf_counter() - t0))
            r, rr = errors(f, f_true)
            acc[name]["drift_rmse"].append(r)
            acc[name]["drift_rel"].append(rr)
            r, rr = errors(g, g_true)
            acc[name]["diff_rmse"].append(r)
            acc[name]["diff_rel"].append(rr)
    return {m: {k: mean(v) for k, v in d.items()} for m, d in acc.items()}


def run_prior_case(fim, n_datasets: int, noise: float) -> tuple[dict, dict]:
    """The FIM and the baselines on ``n_datasets`` held-out prior data sets (:func:`prior_datasets`);
    medians over data sets."""
    res = {m: {"drift_rel": [], "diff_rel": []} for m in ("FIM", "binned KM", "local-linear")}
    sizes, skipped = [], 0
    for clean, dt, x, f_t, g_t, n in prior_datasets():
        paths = add_observation_noise(clean, noise, len(sizes))
        out = {}
        try:
            for name, fn in (("FIM", lambda p, x: fim.estimate(p, dt, x, warn=False)),
                             ("binned KM", lambda p, x: estimators.binned_km(p, dt, x)),
                             ("local-linear", lambda p, x: estimators.local_linear(p, dt, x))):
                with torch.no_grad():
                    out[name] = fn(paths, x)
        except ValueError:  # a baseline has no estimate anywhere (too little data): skip the data set
            skipped += 1
            continue
        for name, (f, g) in out.items():
            res[name]["drift_rel"].append(relative_error(f, f_t))
            res[name]["diff_rel"].append(relative_error(g, g_t))
        sizes.append(n)
        if len(sizes) == n_datasets:
            break
    out = {m: {"drift_rel": median(d["drift_rel"]), "diff_rel": median(d["diff_rel"])} for m, d in res.items()}
    n = torch.tensor(sizes, dtype=torch.float64)
    info = {"used": len(sizes), "skipped": skipped, "median_transitions": float(n.median()),
            "min_transitions": int(n.min()), "max_transitions": int(n.max())}
    return out, info


def main() -> None:
    ap = cli.parser(__doc__)
    cli.add_data_options(ap, prior_datasets=300, prior_help="per noise level (medians over a few hundred "
                                                            "data sets still move by a few percent)")
    cli.add_fim_options(ap, json_default="bench/results/fim_accuracy.json")
    ap.add_argument("--quick", action="store_true", help="three cases only")
    ap.add_argument("--peers", action="store_true", help="also pysindy and StochasticForceInference (installed)")
    ap.add_argument("--only", help="comma-separated parts of case names: run only the cases that contain one")
    args = ap.parse_args()
    fim = cli.load_fim(args)
    results: dict = {"seeds": args.seeds, "noise": args.noise, "cases": {}}
    verdicts = []
    chosen = accuracy_cases(quick=args.quick)
    if args.only:
        keys = [k.strip().lower() for k in args.only.split(",") if k.strip()]
        chosen = [c for c in chosen if any(k in c.name.lower() for k in keys)]
        if not chosen:
            ap.error(f"--only {args.only!r} matches no case; cases: {[c.name for c in accuracy_cases()]}")
    for case in chosen:
        for noise in (0.0, args.noise):
            label = f"{case.name}{'' if noise == 0 else f', noise {noise:g} std'}"
            r = run_case(case, fim, args.seeds, noise, peers=args.peers)
            results["cases"][label] = r
            print(f"\n{label}  (mean of {args.seeds} seeds; grid over 2nd-98th percentile)")
            print(f"  {'method':<13} {'drift RMSE':>10} {'drift rel':>9} {'g RMSE':>8} {'g rel':>7} {'ms':>7}")
            for m, v in r.items():
                print(f"  {m:<13} {v['drift_rmse']:>10.4f} {v['drift_rel']:>9.3f} {v['diff_rmse']:>8.4f} "
                      f"{v['diff_rel']:>7.3f} {v['ms']:>7.1f}")
            fim_f = r["FIM"]["drift_rel"]
            beats = fim_f < r["binned KM"]["drift_rel"] and fim_f < r["local-linear"]["drift_rel"]
            verdicts.append((label, "FIM drift beats KM and local-linear", beats))
            if case.polynomial:
                ratio = fim_f / r["oracle LS"]["drift_rel"]
                verdicts.append((label, f"FIM drift within 1.5x oracle (ratio {ratio:.2f})", ratio <= 1.5))
            if case.clean_long and noise == 0:
                verdicts.append((label, f"FIM diffusion rel <= 0.05 ({r['FIM']['diff_rel']:.3f})",
                                 r["FIM"]["diff_rel"] <= 0.05))
    for noise in ((0.0, args.noise) if args.prior_datasets > 0 else ()):
        label = f"held-out prior samples ({args.prior_datasets}){'' if noise == 0 else f', noise {noise:g} std'}"
        r, info = run_prior_case(fim, args.prior_datasets, noise)
        results["cases"][label] = r
        results.setdefault("prior_datasets", {})[label] = info
        print(f"\n{label}  (median relative RMSE over datasets, at the prior's query points; "
              f"{info['used']} data sets of {info['min_transitions']} to {info['max_transitions']} transitions, "
              f"median {info['median_transitions']:.0f}; {info['skipped']} skipped: a baseline had no estimate)")
        print(f"  {'method':<13} {'drift rel':>9} {'g rel':>7}")
        for m, v in r.items():
            print(f"  {m:<13} {v['drift_rel']:>9.3f} {v['diff_rel']:>7.3f}")
        beats = r["FIM"]["drift_rel"] < min(r["binned KM"]["drift_rel"], r["local-linear"]["drift_rel"])
        verdicts.append((label, "FIM drift beats KM and local-linear", beats))
    print("\nTargets (issue 5):")
    for label, what, ok in verdicts:
        print(f"  [{'PASS' if ok else 'MISS'}] {label}: {what}")
    results["verdicts"] = [{"case": c, "target": w, "pass": ok} for c, w, ok in verdicts]
    cli.write_json(results, args.json, indent=2)


if __name__ == "__main__":
    main()
