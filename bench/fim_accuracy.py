"""Accuracy of the shipped FIM against classic estimators, on the same data and grids.

For every case and seed: simulate, optionally add observation noise, estimate drift and diffusion
with each method on a 100-point grid over the occupied region (2nd to 98th percentile of the data),
and record RMSE and relative RMSE (RMSE / RMS of the truth). Prints one table per case (means over
seeds) and a verdict on the targets of issue 5; writes everything to ``--json``.

    python bench/fim_accuracy.py                 # all cases, 5 seeds
    python bench/fim_accuracy.py --seeds 2 --quick
    python bench/fim_accuracy.py --only tanh,periodic --prior-datasets 0 --weights runs/x.safetensors --json /tmp/x.json

    python bench/fim_accuracy.py --section unseen --peers   # only the systems outside every named family
    python bench/fim_accuracy.py --section development      # the development suite (choosing settings)

Named systems (the targets of issue 5): the FIM (``fimcg.load_fim()``), binned Kramers-Moyal (30
bins), local-linear kernel regression (rule-of-thumb bandwidth), and the oracle: least squares in
the true function class.

Unseen systems (issue 18): six systems outside every function family the FIM names
(``bench.cases.benchmark_unseen_systems``) x three context shapes (many short paths, one long path,
2% observation noise). Peers, all in the same run: binned KM, local-linear with a cross-validated
bandwidth, a polynomial whose degree AIC picks, Gaussian-process regression (scikit-learn), the
oracle; with ``--peers`` also pysindy used as a Kramers-Moyal regression and StochasticForceInference
(preset "KM"), see ``bench/peers.py`` (``pip install pysindy==2.1.0 StochasticForceInference==2.0.4
scikit-learn``). The "best in hindsight" row is, per row, the smallest error among the simple peers
and the FIM, chosen with the truth: no estimator can choose like that, so its ratio to the oracle
says what even a perfect per-row choice among these five final estimates reaches (a location-wise
mixture, or other candidates, could do better: evidence, not a bound). The oracle is least squares
in the true basis on the observed (noisy) states: not noise-robust, so on noisy rows it can lose. ``--section development`` runs the same
on the development systems (``development_unseen_systems``), on which the FIM's settings are chosen;
the benchmark systems are an outcome only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if not __package__:  # run as a script (python bench/fim_accuracy.py): import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import math

import torch

from bench import cli
from bench.cases import (Case, accuracy_cases, add_observation_noise, benchmark_unseen_systems, case_data,
                         development_unseen_systems, prior_datasets, unseen_cases)
from bench.errors import errors, mean, median, relative_error
from fimcg import estimators

#: the simple peers of the unseen-systems section: what a user fits by hand
SIMPLE_PEERS = ("binned KM", "local-linear (CV)", "AIC polynomial", "GP regression")


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


def unseen_peers(case: Case, *, extras: bool = False) -> dict:
    """{name: estimator} of the unseen rows' peers: the :data:`SIMPLE_PEERS`, the oracle (least
    squares in the case's true bases) and, with ``extras``, pysindy and SFI."""
    from bench.peers import gp_regression

    methods = {
        "binned KM": lambda p, dt, x: estimators.binned_km(p, dt, x),
        "local-linear (CV)": lambda p, dt, x: estimators.local_linear(p, dt, x, bandwidth="cv"),
        "AIC polynomial": lambda p, dt, x: estimators.aic_polynomial(p, dt, x),
        "GP regression": gp_regression,
        "oracle LS": lambda p, dt, x: estimators.least_squares(p, dt, x, drift_basis=case.drift_basis,
                                                               diff2_basis=case.diff2_basis),
    }
    if extras:
        from bench.peers import pysindy_km, sfi_km

        methods.update({"pysindy KM": pysindy_km, "SFI (KM)": sfi_km})
    return methods


def run_unseen_case(case: Case, fim, seeds: int, peers: bool) -> dict:
    """The FIM, the simple peers, the oracle (and with ``peers`` SFI and pysindy) on one unseen
    case, observed with the case's own noise; means over seeds of (relative) RMSE and time."""
    methods = {"FIM": lambda p, dt, x: fim.estimate(p, dt, x, warn=False), **unseen_peers(case, extras=peers)}
    acc = {m: {"drift_rel": [], "diff_rel": [], "ms": []} for m in methods}
    for seed in range(seeds):
        paths, dt, x, f_true = case_data(case, seed, case.noise)
        g_true = case.sde.diffusion(x)
        for name, method in methods.items():
            t0 = time.perf_counter()
            with torch.no_grad():
                f, g = method(paths, dt, x)
            acc[name]["ms"].append(1000 * (time.perf_counter() - t0))
            acc[name]["drift_rel"].append(relative_error(f, f_true))
            acc[name]["diff_rel"].append(relative_error(g, g_true))
    return {m: {k: mean(v) for k, v in d.items()} for m, d in acc.items()}


def geometric_mean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values))


def unseen_section(fim, seeds: int, peers: bool, development: bool) -> tuple[dict, list]:
    """Run every unseen case, print its table, and return (results, verdicts)."""
    cases = unseen_cases(development_unseen_systems() if development else benchmark_unseen_systems())
    title = "development suite (settings are chosen here)" if development else "unseen systems (outcome only)"
    print(f"\n=== {title}: {len(cases)} rows, mean of {seeds} seeds; relative RMSE on the occupied grid ===")
    results, rows = {}, []
    for case in cases:
        r = run_unseen_case(case, fim, seeds, peers)
        results[case.name] = r
        print(f"\n{case.name}")
        print(f"  {'method':<18} {'drift rel':>9} {'g rel':>7} {'ms':>8}")
        for m, v in r.items():
            print(f"  {m:<18} {v['drift_rel']:>9.3f} {v['diff_rel']:>7.3f} {v['ms']:>8.1f}")
        rows.append((case, r))
    fim_f = [r["FIM"]["drift_rel"] / r["oracle LS"]["drift_rel"] for _, r in rows]
    best_peer_f = [min(r[m]["drift_rel"] for m in SIMPLE_PEERS) for _, r in rows]
    hindsight = [min(b, r["FIM"]["drift_rel"]) / r["oracle LS"]["drift_rel"] for b, (_, r) in zip(best_peer_f, rows)]
    wins = [r["FIM"]["drift_rel"] < b for b, (_, r) in zip(best_peer_f, rows)]
    g_ratio = [r["FIM"]["diff_rel"] / min(r[m]["diff_rel"] for m in SIMPLE_PEERS) for _, r in rows]
    # the simple peers are not noise-robust, the FIM is: the clean and noisy rows separately
    g_clean = [v for v, (c, _) in zip(g_ratio, rows) if c.noise == 0]
    g_noisy = [v for v, (c, _) in zip(g_ratio, rows) if c.noise > 0]
    summary = {
        "drift_gm_over_oracle": geometric_mean(fim_f),
        "drift_gm_over_best_peer": geometric_mean(r["FIM"]["drift_rel"] / b for b, (_, r) in zip(best_peer_f, rows)),
        "drift_rows_better_than_every_peer": sum(wins),
        "rows": len(rows),
        "hindsight_gm_over_oracle": geometric_mean(hindsight),
        "diffusion_gm_over_best_classic": geometric_mean(g_ratio),
        "diffusion_gm_over_best_classic_clean": geometric_mean(g_clean) if g_clean else math.nan,
        "diffusion_gm_over_best_classic_noisy": geometric_mean(g_noisy) if g_noisy else math.nan,
    }
    print(f"\nSummary ({title}):")
    print(f"  FIM drift / oracle, geometric mean:               {summary['drift_gm_over_oracle']:.2f}")
    print(f"  best in hindsight (peers and FIM) / oracle:       {summary['hindsight_gm_over_oracle']:.2f}")
    print(f"  FIM drift / best simple peer, geometric mean:     {summary['drift_gm_over_best_peer']:.2f}")
    print(f"  rows where the FIM drift beats every simple peer: {sum(wins)} of {len(rows)}")
    print(f"  FIM diffusion / best classic, geometric mean:     {summary['diffusion_gm_over_best_classic']:.2f} "
          f"(clean rows {summary['diffusion_gm_over_best_classic_clean']:.2f}, noisy rows "
          f"{summary['diffusion_gm_over_best_classic_noisy']:.2f}: the simple peers are not noise-robust)")
    for m in SIMPLE_PEERS + (("SFI (KM)", "pysindy KM") if peers else ()):
        gm = geometric_mean(r[m]["drift_rel"] / r["oracle LS"]["drift_rel"] for _, r in rows)
        print(f"  {m + ' drift / oracle:':<50s} {gm:.2f}")
    label = "development" if development else "unseen"
    verdicts = [(label, f"drift geometric mean <= 1.5x oracle ({summary['drift_gm_over_oracle']:.2f})",
                 summary["drift_gm_over_oracle"] <= 1.5),
                (label, f"drift better than every simple peer in every row ({sum(wins)} of {len(rows)})",
                 all(wins)),
                (label, f"diffusion geometric mean <= 1.0x the best classic ({summary['diffusion_gm_over_best_classic']:.2f})",
                 summary["diffusion_gm_over_best_classic"] <= 1.0)]
    if peers:
        noisy = [(c, r) for c, r in rows if c.noise > 0]
        ok = [r["FIM"]["diff_rel"] <= r["SFI (KM)"]["diff_rel"] for _, r in noisy]
        verdicts.append((label, f"noisy rows: diffusion no worse than SFI ({sum(ok)} of {len(ok)})", all(ok)))
    return {"rows": results, "summary": summary}, verdicts


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
    ap.add_argument("--section", choices=("all", "named", "unseen", "development"), default="all",
                    help="named systems, unseen systems, both (default), or the development suite alone")
    args = ap.parse_args()
    fim = cli.load_fim(args)
    results: dict = {"seeds": args.seeds, "noise": args.noise, "cases": {}}
    verdicts = []
    if args.section in ("unseen", "development"):
        out, verdicts = unseen_section(fim, args.seeds, args.peers, args.section == "development")
        results[args.section] = out
        print("\nTargets (issue 18):")
        for label, what, ok in verdicts:
            print(f"  [{'PASS' if ok else 'MISS'}] {label}: {what}")
        results["verdicts"] = [{"case": c, "target": w, "pass": ok} for c, w, ok in verdicts]
        cli.write_json(results, args.json, indent=2)
        return
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
    if args.section == "all":
        out, unseen_verdicts = unseen_section(fim, args.seeds, args.peers, development=False)
        results["unseen"] = out
        verdicts += unseen_verdicts
    print("\nTargets (issue 5; the unseen rows: issue 18):")
    for label, what, ok in verdicts:
        print(f"  [{'PASS' if ok else 'MISS'}] {label}: {what}")
    results["verdicts"] = [{"case": c, "target": w, "pass": ok} for c, w, ok in verdicts]
    cli.write_json(results, args.json, indent=2)


if __name__ == "__main__":
    main()
