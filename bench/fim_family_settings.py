"""Choose the FIM's family-fit settings on data that is neither the benchmark nor the training data.

Two settings of the global drift fits decide how much the FIM trusts a non-polynomial shape, and
neither changes a network weight (``fimcg.fim.FIMConfig``):

- ``family_cubic_penalty`` (γ): within each function family (tanh, sine, rational), the members built
  on the cubic pay γ (Akaike units) against those built on a straight line;
- ``family_penalty``: what each family fit pays in the cross-validated drift average.

Every setting of a grid runs the network of a weights file (default: the shipped one; its weights
unchanged, the settings swapped into its config) on

- a development suite: systems of the catalogue with other parameters, steps and path counts than
  the benchmark's (``bench/fim_accuracy.py``), and seeds 100-104 (the benchmark uses 0-4), clean
  and with observation noise; scored by the mean over its groups of the FIM's drift error divided
  by the local-linear estimator's, and how many groups the FIM wins;
- held-out prior data sets (seed 777, as ``bench/fim_cv_penalties.py``), 300 clean and 300 noisy:
  scored against the current setting data set by data set, by the geometric mean of the ratio of
  the relative drift errors (paired: a median over a few hundred such different data sets moves by
  more than the settings differ).

The rule: among the settings whose prior ratio is at most 1 + ``--prior-tolerance`` (the prior
does not get worse), the one with the best development score. The benchmark is not looked at;
``bench/fim_accuracy.py`` then checks the chosen setting.

    python bench/fim_family_settings.py [--weights W] [--seeds 5] [--prior-datasets 300]

``bench/results/fim_family_settings.*`` is the run that chose the shipped settings: ``--weights`` the
session-5 file (``git show 7b253cf:fimcg/weights/fim_1d.pt``, and its ``.sha256``), whose setting
(0 and 6) is "current" there. On the shipped weights the development scores are the same and the
prior ratios are relative to their setting (16 and 0).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

import fimcg
from fim_accuracy import Case, _errors, case_data, noisy_prior_datasets
from fimcg import estimators, systems

GRID = {"family_cubic_penalty": (0.0, 4.0, 8.0, 12.0, 16.0), "family_penalty": (0.0, 2.0, 4.0, 6.0, 8.0)}


def rational_well(*, a: float = 3.0, sigma: float = 1.0) -> fimcg.SDE:
    """f(x) = a x / (1 + x²) - x, g = sigma: a double well with a rational force (a > 1)."""
    return fimcg.SDE(drift=lambda x: a * x / (1 + x * x) - x, diffusion=lambda x: sigma * torch.ones_like(x),
                     dim=1, name="rational_well", params={"a": a, "sigma": sigma})


def development_suite() -> list[Case]:
    """Systems and sampling regimes that the benchmark does not use (the oracle bases are unused here)."""
    return [
        Case("tanh well a=2 b=1, dt=0.01, 20 x 500", systems.tanh_double_well(a=2.0, b=1.0), 0.01, 20, 500, 3, 0,
             False),
        Case("tanh well a=1.2 b=3 c=0.6 sigma=0.8, dt=0.005, 10 x 1000",
             systems.tanh_double_well(a=1.2, b=3.0, c=0.6, sigma=0.8), 0.005, 10, 1000, 3, 0, False),
        Case("periodic well kappa=1 a=1.5 k=2, dt=0.01, 20 x 500", systems.periodic_well(kappa=1.0, a=1.5, k=2.0),
             0.01, 20, 500, 3, 0, False),
        Case("rational well a=3, dt=0.01, 20 x 500", rational_well(), 0.01, 20, 500, 3, 0, False),
        Case("tilted quartic, dt=0.005, 10 x 1000", systems.polynomial_potential(), 0.005, 10, 1000, 3, 0, True),
        Case("double well, constant g, dt=0.005, 5 x 2000", systems.double_well_constant(), 0.005, 5, 2000, 3, 0,
             True),
        Case("Ornstein-Uhlenbeck theta=2 sigma=0.5, dt=0.02, 50 x 200",
             systems.ornstein_uhlenbeck(theta=2.0, sigma=0.5), 0.02, 50, 200, 1, 0, True),
    ]


def _drift_error(fim, paths, dt, x, f_true) -> float:
    with torch.no_grad():
        f, _ = fim.estimate(paths, dt, x, warn=False)
    return _errors(f, f_true)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--prior-datasets", type=int, default=300, help="per noise level")
    ap.add_argument("--noise", type=float, default=0.02, help="observation noise std as a fraction of std(x)")
    ap.add_argument("--prior-tolerance", type=float, default=0.01,
                    help="how much worse than the current setting's the prior errors may be (a ratio - 1)")
    ap.add_argument("--weights", default=None, help="weights file (default: the shipped ones)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="bench/results/fim_family_settings.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    fim = fimcg.load_fim(args.weights)
    shipped = fim.config
    if not all(getattr(shipped, k) in v for k, v in GRID.items()):
        raise SystemExit(f"the weights' setting { {k: getattr(shipped, k) for k in GRID} } is not on the grid")
    groups: dict[str, list[tuple]] = {}
    baseline: dict[str, float] = {}
    for case in development_suite():
        for noise in (0.0, args.noise):
            label = f"{case.name}{'' if noise == 0 else ', noisy'}"
            groups[label] = [case_data(case, 100 + seed, noise) for seed in range(args.seeds)]
            ll = [_errors(estimators.local_linear(p, dt, x)[0], f)[1] for p, dt, x, f in groups[label]]
            baseline[label] = sum(ll) / len(ll)
    prior = [d for data in noisy_prior_datasets(args.prior_datasets, (0.0, args.noise), seed=777).values()
             for d in data]
    rows = []
    t0 = time.perf_counter()
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values))
        fim.config = replace(shipped, **setting)
        dev = {g: sum(_drift_error(fim, *d) for d in data) / len(data) for g, data in groups.items()}
        ratios = [dev[g] / baseline[g] for g in groups]
        rows.append({"setting": setting, "dev_ratio": sum(ratios) / len(ratios), "dev": dev,
                     "wins": sum(r < 1 for r in ratios), "prior_errors": [_drift_error(fim, *d) for d in prior]})
        print(f"  {setting}: development {rows[-1]['dev_ratio']:.4f} ({rows[-1]['wins']}/{len(groups)} won) "
              f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    fim.config = shipped
    current = next(r for r in rows if all(r["setting"][k] == getattr(shipped, k) for k in GRID))
    reference = torch.tensor(current["prior_errors"]).clamp_min(1e-6)
    for r in rows:  # the prior score: paired with the current setting, data set by data set
        log_ratio = torch.log(torch.tensor(r.pop("prior_errors")).clamp_min(1e-6) / reference)
        r["prior_ratio"] = math.exp(float(log_ratio.mean()))
        r["prior_ratio_se"] = float(log_ratio.std() / math.sqrt(len(log_ratio)))  # of the log
    allowed = [r for r in rows if r["prior_ratio"] <= 1 + args.prior_tolerance]
    chosen = min(allowed, key=lambda r: r["dev_ratio"])

    def line(r: dict) -> str:
        s = r["setting"]
        return (f"cubic members {s['family_cubic_penalty']:>4g}, family {s['family_penalty']:>3g}:  development "
                f"{r['dev_ratio']:.4f} ({r['wins']:>2}/{len(groups)} won)   prior {r['prior_ratio']:.4f} "
                f"(+-{r['prior_ratio_se']:.4f})")

    print(f"\n{len(rows)} settings; development suite: {len(groups)} groups x {args.seeds} seeds (FIM drift error / "
          f"local-linear's, mean over groups); held-out prior: {args.prior_datasets} data sets per noise level "
          f"(geometric mean over data sets of the drift error / the current setting's; +- standard error of its log)")
    for r in sorted(rows, key=lambda r: r["dev_ratio"]):
        tag = "  <- current" if r is current else ("  <- chosen" if r is chosen else "")
        tag += "" if r in allowed else "  (prior worse)"
        print("  " + line(r) + tag)
    print(f"\nrule: best development score among the settings with prior ratio <= 1 + {args.prior_tolerance:g}")
    print("chosen: " + line(chosen))
    print("\nper group (relative drift RMSE, mean over seeds): current / chosen / local-linear")
    for g in groups:
        print(f"  {g:<62} {current['dev'][g]:.3f} / {chosen['dev'][g]:.3f} / {baseline[g]:.3f}")
    out = {"seeds": args.seeds, "prior_datasets": args.prior_datasets, "noise": args.noise, "grid": GRID,
           "prior_tolerance": args.prior_tolerance, "local_linear": baseline, "current": current,
           "chosen": chosen, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
