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

import argparse
import itertools
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

import fimcg
from fimcg import estimators, systems
from fimcg.analysis.metrics import occupied_grid
from fimcg.fim.training.prior import PriorConfig, SyntheticPrior


def _poly_basis(deg: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: torch.cat([x ** k for k in range(deg + 1)], dim=-1)


def _cat(*fs):
    return lambda x: torch.cat([f(x) for f in fs], dim=-1)


@dataclass
class Case:
    name: str
    sde: fimcg.SDE | None
    dt: float
    n_paths: int
    n_steps: int
    drift_basis: Callable | int
    diff2_basis: Callable | int
    polynomial: bool
    clean_long: bool = False  # diffusion target (rel. RMSE <= 0.05) applies
    x0_std: float = 1.0
    substeps: int = 1
    irregular: bool = False  # observed after 1 to 7 steps of dt / 4 (mean dt), the same times for every path


def cases(quick: bool) -> list[Case]:
    dw = systems.double_well()
    soft = systems.double_well_soft()
    ou = systems.ornstein_uhlenbeck(theta=1.0, sigma=1.0)
    tanh = systems.tanh_double_well()
    per = systems.periodic_well()
    p3, p2 = _poly_basis(3), _poly_basis(2)
    out = [
        Case("double well, dt=0.002, 1 x 5000", dw, 0.002, 1, 5000, p3, p2, True, clean_long=True),
        Case("double well, dt=0.002, 20 x 250", dw, 0.002, 20, 250, p3, p2, True),
        Case("double well, dt=0.002, 5 x 100", dw, 0.002, 5, 100, p3, p2, True),
        Case("double well, irregular steps 0.0005-0.0035, 1 x 5000", dw, 0.002, 1, 5000, p3, p2, True,
             irregular=True),
        Case("soft double well, dt=0.01, 100 x 500", soft, 0.01, 100, 500, p3, p2, True, clean_long=True),
        Case("Ornstein-Uhlenbeck, dt=0.01, 20 x 500", ou, 0.01, 20, 500, _poly_basis(1), _poly_basis(0), True,
             clean_long=True),
        Case("tanh double well, dt=0.01, 20 x 500", tanh, 0.01, 20, 500,
             _cat(lambda x: torch.tanh(2.0 * x), lambda x: x), _poly_basis(0), False),
        Case("periodic well, dt=0.01, 20 x 500", per, 0.01, 20, 500,
             _cat(lambda x: x, lambda x: torch.sin(3.0 * x)),
             _cat(lambda x: torch.ones_like(x), lambda x: torch.cos(x), lambda x: torch.cos(x) ** 2), False),
    ]
    if quick:
        out = [c for c in out if c.name.startswith(("double well, dt=0.002, 1 x", "soft", "tanh"))]
    return out


def _noisy(paths: torch.Tensor, level: float, seed: int) -> torch.Tensor:
    if level == 0:
        return paths
    gen = torch.Generator().manual_seed(10_000 + seed)
    return paths + level * paths.std() * torch.randn(paths.shape, generator=gen)


def _errors(est: torch.Tensor, true: torch.Tensor) -> tuple[float, float]:
    rmse = float(((est - true) ** 2).mean().sqrt())
    return rmse, rmse / float((true ** 2).mean().sqrt())


def case_data(case: Case, seed: int, noise: float) -> tuple[torch.Tensor, float | torch.Tensor, torch.Tensor,
                                                            torch.Tensor]:
    """One seed of a case: the observed paths (with noise), their step (a float, or the (T - 1,)
    steps between observations), the grid over the occupied region of the clean paths (100 points)
    and the true drift there."""
    gen = torch.Generator().manual_seed(seed)
    x0 = case.x0_std * torch.randn(case.n_paths, 1, generator=gen)
    if case.irregular:
        gaps = torch.randint(1, 8, (case.n_steps,), generator=gen)
        idx = torch.cat([torch.zeros(1, dtype=torch.long), gaps.cumsum(0)])
        fine = fimcg.simulate(case.sde, x0, dt=case.dt / 4, n_steps=int(idx[-1]), seed=seed, substeps=case.substeps)
        clean, dt = fine[:, idx], gaps.to(torch.float32) * (case.dt / 4)
    else:
        clean = fimcg.simulate(case.sde, x0, dt=case.dt, n_steps=case.n_steps, seed=seed, substeps=case.substeps)
        dt = case.dt
    x = occupied_grid(clean, n=100)
    return _noisy(clean, noise, seed), dt, x, case.sde.drift(x)


def run_case(case: Case, fim, seeds: int, noise: float, peers: bool = False) -> dict:
    methods = {
        "FIM": lambda p, dt, x: fim.estimate(p, dt, x, warn=False),
        "binned KM": lambda p, dt, x: estimators.binned_km(p, dt, x),
        "local-linear": lambda p, dt, x: estimators.local_linear(p, dt, x),
        "oracle LS": lambda p, dt, x: estimators.least_squares(p, dt, x, drift_basis=case.drift_basis,
                                                               diff2_basis=case.diff2_basis),
    }
    if peers and not case.irregular:  # the peers take one regular step
        from peers import pysindy_km, sfi_km

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
            r, rr = _errors(f, f_true)
            acc[name]["drift_rmse"].append(r)
            acc[name]["drift_rel"].append(rr)
            r, rr = _errors(g, g_true)
            acc[name]["diff_rmse"].append(r)
            acc[name]["diff_rel"].append(rr)
    return {m: {k: sum(v) / len(v) for k, v in d.items()} for m, d in acc.items()}


def prior_datasets(*, seed: int = 424242, per_episode: int = 2):
    """Held-out prior data sets, endlessly: (clean paths, dt, sorted query points (G, 1), true drift,
    true diffusion there, transitions). The pretraining's validation seed is not used: a fresh one.

    At most ``per_episode`` data sets come from each episode (one sampling regime: step, number and
    length of paths), so that the data sets span many regimes, from 100 to 50,000 transitions.
    Data sets whose true drift or diffusion is identically zero are skipped (relative errors are
    undefined there).
    """
    prior = SyntheticPrior(PriorConfig(), seed=seed, tokens_per_batch=4000)
    while True:
        b = prior.episode()[0]
        for i in range(min(per_episode, b.paths.shape[0])):
            order = b.queries[i].argsort(dim=0)[:, 0]
            f_t, g_t = b.drift[i][order], b.diffusion[i][order]
            if float(f_t.abs().max()) < 1e-6 or float(g_t.abs().max()) < 1e-6:
                continue
            yield b.paths[i], b.dt, b.queries[i][order], f_t, g_t, b.paths.shape[1] * (b.paths.shape[2] - 1)


def noisy_prior_datasets(n: int, noise_levels, *, seed: int) -> dict[float, list[tuple]]:
    """The first ``n`` data sets of :func:`prior_datasets` (simulated once) at each observation-noise
    level: {level: [(observed paths, dt, query points, true drift), ...]}; data set k gets the noise
    of seed k at every level."""
    clean = list(itertools.islice(prior_datasets(seed=seed), n))
    return {level: [(_noisy(paths, level, k), dt, x, f_t) for k, (paths, dt, x, f_t, _, _) in enumerate(clean)]
            for level in noise_levels}


def run_prior_case(fim, n_datasets: int, noise: float) -> tuple[dict, dict]:
    """The FIM and the baselines on ``n_datasets`` held-out prior data sets (:func:`prior_datasets`);
    medians over data sets."""
    res = {m: {"drift_rel": [], "diff_rel": []} for m in ("FIM", "binned KM", "local-linear")}
    sizes, skipped = [], 0
    for clean, dt, x, f_t, g_t, n in prior_datasets():
        paths = _noisy(clean, noise, len(sizes))
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
            res[name]["drift_rel"].append(_errors(f, f_t)[1])
            res[name]["diff_rel"].append(_errors(g, g_t)[1])
        sizes.append(n)
        if len(sizes) == n_datasets:
            break
    med = lambda v: float(torch.tensor(v).median())
    out = {m: {"drift_rel": med(d["drift_rel"]), "diff_rel": med(d["diff_rel"])} for m, d in res.items()}
    n = torch.tensor(sizes, dtype=torch.float64)
    info = {"used": len(sizes), "skipped": skipped, "median_transitions": float(n.median()),
            "min_transitions": int(n.min()), "max_transitions": int(n.max())}
    return out, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--noise", type=float, default=0.02, help="observation noise std as a fraction of std(x)")
    ap.add_argument("--prior-datasets", type=int, default=300,
                    help="per noise level (medians over a few hundred data sets still move by a few percent)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weights", help="weights file (default: the shipped ones)")
    ap.add_argument("--quick", action="store_true", help="three cases only")
    ap.add_argument("--peers", action="store_true", help="also pysindy and StochasticForceInference (installed)")
    ap.add_argument("--only", help="comma-separated parts of case names: run only the cases that contain one")
    ap.add_argument("--json", default="bench/results/fim_accuracy.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    fim = fimcg.load_fim(args.weights)
    results: dict = {"seeds": args.seeds, "noise": args.noise, "cases": {}}
    verdicts = []
    chosen = cases(args.quick)
    if args.only:
        keys = [k.strip().lower() for k in args.only.split(",") if k.strip()]
        chosen = [c for c in chosen if any(k in c.name.lower() for k in keys)]
        if not chosen:
            ap.error(f"--only {args.only!r} matches no case; cases: {[c.name for c in cases(False)]}")
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
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
