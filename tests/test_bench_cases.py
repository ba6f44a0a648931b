"""The benchmark's data sets: the suites on which settings are chosen are disjoint from the benchmark's."""

from __future__ import annotations

import pytest
import torch

cases = pytest.importorskip("bench.cases")  # the repository root is on pytest's path (pyproject.toml)


def _differs(a, b, x: torch.Tensor) -> bool:
    """Two SDEs differ somewhere on x in drift or diffusion by more than 0.05."""
    return bool(((a.drift(x) - b.drift(x)).abs().max() > 0.05) or ((a.diffusion(x) - b.diffusion(x)).abs().max() > 0.05))


def test_development_suite_and_unseen_benchmark_are_disjoint():
    dev, bench = cases.development_unseen_systems(), cases.benchmark_unseen_systems()
    assert len(bench) >= 6 and len(dev) >= 6
    assert not {s.name for s in dev} & {s.name for s in bench}
    assert not {s.sde.name for s in dev} & {s.sde.name for s in bench}
    x = torch.linspace(-2.5, 2.5, 201)[:, None]
    for d in dev:
        for b in bench:
            assert _differs(d.sde, b.sde, x), f"{d.name} is a benchmark system ({b.name})"


def test_named_development_suite_is_disjoint_from_the_named_benchmark():
    x = torch.linspace(-2.5, 2.5, 201)[:, None]
    named = {c.name.split(",")[0]: c.sde for c in cases.accuracy_cases()}
    for case in cases.development_suite():
        for name, sde in named.items():
            assert _differs(case.sde, sde, x), f"{case.name} is the benchmark's {name}"


def test_unseen_rows_cover_every_system_in_three_shapes_with_their_noise():
    rows = cases.unseen_cases(cases.benchmark_unseen_systems())
    assert len(rows) == 3 * len(cases.benchmark_unseen_systems())
    assert {r.noise for r in rows} == {0.0, 0.02}
    paths, dt, x, f = cases.case_data(rows[2], 0, rows[2].noise)
    clean, *_ = cases.case_data(rows[2], 0, 0.0)
    assert paths.shape == clean.shape and not torch.equal(paths, clean)  # the noisy shape adds noise
    assert torch.isfinite(f).all() and x.shape == f.shape


def test_oracle_bases_hold_the_true_functions():
    """Least squares in each system's oracle basis reproduces its drift and g² (the oracle is exact)."""
    x = torch.linspace(-2.0, 2.0, 101)[:, None]
    for s in cases.benchmark_unseen_systems() + cases.development_unseen_systems():
        for basis, target in ((s.drift_basis, s.sde.drift(x)), (s.diff2_basis, s.sde.diffusion(x) ** 2)):
            phi = basis(x)
            coef = torch.linalg.lstsq(phi.double(), target.double()).solution
            assert float((phi.double() @ coef - target).abs().max()) < 1e-4 * (1 + float(target.abs().max())), s.name
