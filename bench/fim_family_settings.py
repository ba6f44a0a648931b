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
    python bench/fim_family_settings.py --check      # the shipped config carries the committed choice

``--check`` runs no model: it reads the committed result (``--json``) and fails (exit status 1) unless
that result follows the rule and the weights' config (``--weights``, default the shipped one) has the
setting it chose. Run it whenever the shipped config changes.

``bench/results/fim_family_settings.*`` is the run that chose the shipped settings: ``--weights`` the
session-5 file (``git show 7b253cf:fimcg/weights/fim_1d.pt``, a pickle of the former format: convert it
first with ``fimcg convert``, which prints the hash to pass as ``--sha256``), whose setting (0 and 6) is
"current" there. On the shipped weights the development scores are the same and the
prior ratios are relative to their setting (16 and 0).
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
from pathlib import Path

if not __package__:  # run as a script (python bench/fim_family_settings.py): import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import fimcg
from bench import cli
from bench.cases import case_data, development_suite, noisy_prior_datasets
from bench.errors import fim_drift_error, mean, relative_error
from fimcg import estimators

GRID = {"family_cubic_penalty": (0.0, 4.0, 8.0, 12.0, 16.0), "family_penalty": (0.0, 2.0, 4.0, 6.0, 8.0)}


def check(*, result_file: str | Path, weights: str | None = None) -> list[str]:
    """What is wrong with the shipped family settings against the committed choice (empty: nothing).

    The committed result (``result_file``, written by this script) must follow its own rule (the
    chosen setting has a prior ratio within the tolerance and the best development score of those
    that do), and the FIM of ``weights`` (default: the shipped one) must carry the chosen setting.
    A config changed without re-running the choice fails here.
    """
    result = json.loads(Path(result_file).read_text())
    limit = 1 + result["prior_tolerance"]
    chosen = result["chosen"]
    problems = []
    if chosen["prior_ratio"] > limit:
        problems.append(f"the chosen setting's prior ratio {chosen['prior_ratio']:.4f} exceeds {limit:g}")
    best = min(r["dev_ratio"] for r in result["rows"] if r["prior_ratio"] <= limit)
    if chosen["dev_ratio"] != best:
        problems.append(f"the chosen setting's development score {chosen['dev_ratio']:.4f} is not the best allowed "
                        f"({best:.4f})")
    config = fimcg.load_fim(weights).config.candidates
    for key, value in chosen["setting"].items():
        if getattr(config, key) != value:
            problems.append(f"{key}: the weights have {getattr(config, key)!r}, {result_file} chose {value!r}")
    return problems


def main() -> None:
    ap = cli.parser(__doc__)
    cli.add_data_options(ap, prior_datasets=300)
    ap.add_argument("--prior-tolerance", type=float, default=0.01,
                    help="how much worse than the current setting's the prior errors may be (a ratio - 1)")
    cli.add_fim_options(ap, json_default="bench/results/fim_family_settings.json", threads=2)
    ap.add_argument("--check", action="store_true",
                    help="run nothing: check that the weights carry the setting chosen in --json (exit 1 if not)")
    args = ap.parse_args()
    if args.check:
        cli.set_up(args)
        problems = check(result_file=args.json, weights=args.weights)
        for p in problems:
            print(f"MISMATCH: {p}")
        if problems:
            raise SystemExit(1)
        print(f"ok: the weights carry the family settings chosen in {args.json}")
        return
    fim = cli.load_fim(args)
    shipped = fim.config.candidates
    if not all(getattr(shipped, k) in v for k, v in GRID.items()):
        raise SystemExit(f"the weights' setting { {k: getattr(shipped, k) for k in GRID} } is not on the grid")
    groups: dict[str, list[tuple]] = {}
    baseline: dict[str, float] = {}
    for case in development_suite():
        for noise in (0.0, args.noise):
            label = f"{case.name}{'' if noise == 0 else ', noisy'}"
            groups[label] = [case_data(case, 100 + seed, noise) for seed in range(args.seeds)]
            baseline[label] = mean(relative_error(estimators.local_linear(p, dt, x)[0], f)
                                   for p, dt, x, f in groups[label])
    prior = [d for data in noisy_prior_datasets(args.prior_datasets, (0.0, args.noise), seed=777).values()
             for d in data]
    rows = []
    t0 = time.perf_counter()
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values))
        model = fim.with_candidate_settings(**setting)
        dev = {g: mean(fim_drift_error(model, *d) for d in data) for g, data in groups.items()}
        ratios = [dev[g] / baseline[g] for g in groups]
        rows.append({"setting": setting, "dev_ratio": mean(ratios), "dev": dev,
                     "wins": sum(r < 1 for r in ratios), "prior_errors": [fim_drift_error(model, *d) for d in prior]})
        print(f"  {setting}: development {rows[-1]['dev_ratio']:.4f} ({rows[-1]['wins']}/{len(groups)} won) "
              f"[{time.perf_counter() - t0:.0f} s]", flush=True)
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
    cli.write_json(out, args.json, indent=1)


if __name__ == "__main__":
    main()
