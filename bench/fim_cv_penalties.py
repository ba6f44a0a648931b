"""Are the penalties of the FIM's cross-validated drift average well chosen, and what can no penalty do?

The cross-validated average (``fimcg.fim.candidates.cross_validated_drift``, the drift option the shipped
gates trust most) weighs each candidate drift by softmax(-T (Δ + penalty)): Δ is the candidate's
cross-validation error relative to the best one in units of Akaike's criterion, the penalty its
price for flexibility (kernel drifts, degree-5/7 fits, the non-polynomial family fits) and T the
temperature (0.5: Akaike weights). This script takes the shipped model's own candidates and Δs
(``FIM.explain``) on

- held-out prior data sets (seed 777: neither the pretraining's validation seed nor the one of
  ``bench/fim_accuracy.py``), clean and with observation noise, where the penalties are judged, and
- the benchmark cases of ``bench/fim_accuracy.py`` (same seeds, grids and noise),

recomputes the average for every setting on a grid, and prints the shipped setting's errors, the
settings that are best on the prior data, and the best any setting reaches on each benchmark case.
Errors are relative drift RMSEs of the average alone (means over seeds; medians over prior data
sets); "FIM*" also swaps the recomputed average into the FIM's estimate with its gates kept as
they are (an approximation: the network reads the Δs too).

    python bench/fim_cv_penalties.py [--weights W] [--prior-datasets 200] [--seeds 5] [--json OUT]

(The same with the session-5 weights, family penalty 6 and plain Akaike weights inside the families:
``git show 14faa99:bench/results/fim_cv_penalties_session5.txt``.)

The JSON keeps the shipped setting, the 20 best on the prior data and the best for each case.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace
from pathlib import Path

if not __package__:  # run as a script (python bench/fim_cv_penalties.py): import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench import cli
from bench.cases import accuracy_cases, case_data, noisy_prior_datasets
from bench.errors import mean, median, relative_error
from fimcg import estimators
from fimcg.fim.config import CandidateConfig
from fimcg.fim.library import CrossValidatedAverage

GRID = {"kernel": (2.0, 4.0, 6.0, 8.0, 10.0, 14.0, 20.0), "high degree": (0.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0),
        "family": (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 14.0), "temperature": (0.25, 0.5, 1.0)}


def _average(cfg: CandidateConfig, max_dim: int) -> CrossValidatedAverage:
    """The cross-validated average among the candidates ``cfg`` builds."""
    return next(c for c in cfg.build(max_dim) if isinstance(c, CrossValidatedAverage))


def _record(fim, paths, dt, x, f_true) -> dict:
    """What the cross-validated average is made of on one data set, with the penalties taken out."""
    cfg = fim.config
    names = _average(cfg.candidates, cfg.max_dim).option_names
    with torch.no_grad():
        why = fim.explain(paths, dt, x)
        ll = estimators.local_linear(paths, dt, x)[0][:, 0]
    # the FIM's estimate is the gated sum of its options (FIM.explain): no second forward pass
    f = sum(why["drift_gates"][n][:, None] * option for n, option in why["drift_options"].items())[:, 0]
    delta = torch.stack([why["statistics"][f"cv_delta {n}"][0] for n in names]) - _penalty_vector(cfg.candidates, cfg.max_dim)
    return {"candidates": torch.stack([why["drift_options"][n][:, 0] for n in names]),  # (C, G)
            "delta": delta, "average": why["drift_options"]["cv average"][:, 0],
            "gate": why["drift_gates"]["cv average"], "fim": f, "local-linear": ll, "truth": f_true[:, 0]}


def _fmt(s: dict) -> str:
    """A setting of the grid, in words."""
    return f"kernel {s['kernel']:g}, degree 5/7 {s['high degree']:g}, family {s['family']:g}, T {s['temperature']:g}"


def _penalty_vector(cfg: CandidateConfig, max_dim: int) -> torch.Tensor:
    """The Δ each option of the cross-validated average pays, in its ``option_names`` order."""
    avg = _average(cfg, max_dim)
    return torch.tensor([avg.penalty if p is None else p for *_, p in avg.entries])


def _score(group: list[dict], penalty: torch.Tensor, temperature: float, by_median: bool) -> tuple[float, float]:
    """(error of the average alone, error of the FIM with it swapped in) over a group of data sets."""
    alone, fim = [], []
    for r in group:
        w = torch.softmax(-temperature * (r["delta"] + penalty).clamp(max=1e4), dim=0)
        avg = (w[:, None] * r["candidates"]).sum(0)
        alone.append(relative_error(avg, r["truth"]))
        fim.append(relative_error(r["fim"] + r["gate"] * (avg - r["average"]), r["truth"]))
    agg = median if by_median else mean
    return agg(alone), agg(fim)


def main() -> None:
    ap = cli.parser(__doc__)
    cli.add_data_options(ap, prior_datasets=200)
    cli.add_fim_options(ap, json_default="bench/results/fim_cv_penalties.json", threads=2)
    args = ap.parse_args()
    fim = cli.load_fim(args)
    cfg = fim.config
    groups: dict[str, list[dict]] = {}
    for case in accuracy_cases():
        for noise in (0.0, args.noise):
            label = f"{case.name}{'' if noise == 0 else ', noisy'}"
            for seed in range(args.seeds):
                paths, dt, x, f_true = case_data(case, seed, noise)
                groups.setdefault(label, []).append(_record(fim, paths, dt, x, f_true))
    for noise, data in noisy_prior_datasets(args.prior_datasets, (0.0, args.noise), seed=777).items():
        groups[f"held-out prior{'' if noise == 0 else ', noisy'}"] = [_record(fim, *d) for d in data]
    prior_labels = [g for g in groups if g.startswith("held-out prior")]
    cc = cfg.candidates
    shipped = (cc.cv_penalty, cc.high_degree_penalty, cc.family_penalty, cc.cv_temperature)
    rows = []
    for setting in itertools.product(*GRID.values()):
        kernel, high, family, temp = setting
        pen = _penalty_vector(replace(cc, cv_penalty=kernel, high_degree_penalty=high, family_penalty=family),
                              cfg.max_dim)
        scores = {g: _score(rs, pen, temp, by_median=g in prior_labels) for g, rs in groups.items()}
        prior = mean(scores[g][0] for g in prior_labels)
        prior_fim = mean(scores[g][1] for g in prior_labels)
        rows.append({"setting": dict(zip(GRID, setting)), "prior": prior, "prior_fim": prior_fim, "scores": scores,
                     "shipped": setting == shipped})
    rows.sort(key=lambda r: r["prior"])
    baseline = {g: mean(relative_error(r["local-linear"], r["truth"]) for r in rs)
                for g, rs in groups.items() if g not in prior_labels}
    print(f"{len(rows)} settings; held-out prior: {args.prior_datasets} data sets per noise level (median error); "
          f"benchmark cases: {args.seeds} seeds (mean)")
    print("\nheld-out prior score (mean of the clean and noisy medians) of the cross-validated average alone, "
          "ranked, and of FIM*:")
    rank = next(i for i, r in enumerate(rows) if r["shipped"])
    for r in rows[:5] + [rows[rank]] * (rank >= 5) + [rows[-1]]:
        tag = "  <- shipped" if r["shipped"] else ""
        print(f"  #{rows.index(r) + 1:<5} {r['prior']:.4f}  FIM* {r['prior_fim']:.4f}  {_fmt(r['setting'])}{tag}")
    spread = [r["prior_fim"] for r in rows]
    print(f"  FIM* over all settings: {min(spread):.4f} to {max(spread):.4f}")
    ship = rows[rank]
    print("\nper case: cross-validated average alone / FIM* with the shipped setting; the best any setting "
          "reaches (average alone); local-linear estimator")
    for g in groups:
        best = min(rows, key=lambda r: r["scores"][g][0])
        a, f = ship["scores"][g]
        ll = f"{baseline[g]:.3f}" if g in baseline else "   - "
        print(f"  {g:<58} {a:.3f} / {f:.3f}   best {best['scores'][g][0]:.3f} ({_fmt(best['setting'])})   LL {ll}")
    out = {"prior_datasets": args.prior_datasets, "seeds": args.seeds, "noise": args.noise, "grid": GRID,
           "local_linear": baseline, "shipped": ship, "best_by_prior": rows[:20],
           "best_per_case": {g: min(rows, key=lambda r: r["scores"][g][0]) for g in groups},
           "prior_fim_range": [min(spread), max(spread)]}
    cli.write_json(out, args.json, indent=1)


if __name__ == "__main__":
    main()
