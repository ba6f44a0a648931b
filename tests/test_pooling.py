"""Pooling estimates across recordings: estimates without each fold, a family of functions learned from the collection (fimcg.estimators.pooling)."""

from __future__ import annotations

import pytest
import torch

import fimcg
from fimcg.estimators.pooling import fit_family, fold_estimates, learn_family, refine_family, select_family


def test_fold_estimates_leave_out_each_fold():
    """The estimator 'mean of each path's mean increment': without fold i it averages the other paths."""
    torch.manual_seed(0)
    paths = torch.randn(8, 50, 1).cumsum(1)

    def est(p, dt, loc):
        per_path = (p[:, 1:] - p[:, :-1]).mean(dim=(1, 2))
        return per_path.mean().expand(loc.shape[0], 1), torch.ones(loc.shape[0], 1)
    f, g, f_out, g2_out = fold_estimates(est, paths, 0.1, torch.zeros(3, 1))
    per_path = (paths[:, 1:] - paths[:, :-1]).mean(dim=(1, 2))
    assert f_out.shape == (4, 3, 1) and g2_out.shape == (4, 3, 1)  # 8 paths, 4 folds: paths i and i + 4 out
    torch.testing.assert_close(f_out[1], per_path[[0, 2, 3, 4, 6, 7]].mean().expand(3, 1))
    torch.testing.assert_close(f, per_path.mean().expand(3, 1))
    one = fold_estimates(est, paths[:1], 0.1, torch.zeros(3, 1))  # one path: cut into 4 blocks of time
    assert one[2].shape == (4, 3, 1)
    with pytest.raises(ValueError, match="at least 2 paths"):
        fold_estimates(est, paths[:1, :12], 0.1, torch.zeros(3, 1))


# -- a family learned from the collection -------------------------------------------------------------------------

def _double_wells(barriers, *, seed, n_paths=4, n_frames=400, noise=2.0):
    """True-state paths of double wells f = 4 b (x - x³) (one per barrier b), observed at dt = 0.01."""
    out = []
    for k, b in enumerate(barriers):
        sde = fimcg.systems.landscape_sde(barrier=float(b), noise=noise)
        start = torch.tensor([[-1.0], [1.0]] * (n_paths // 2))
        out.append((sde, fimcg.simulate(sde, start, dt=0.002, n_steps=5 * (n_frames - 1), seed=seed + k)[:, ::5]))
    return out


def test_learn_family_spans_a_low_rank_collection_and_fit_family_reads_its_coefficients():
    grid = torch.linspace(-1.4, 1.4, 50)
    shape = 4 * (grid - grid ** 3)
    barriers = torch.tensor([0.6, 0.9, 1.2, 1.5, 1.8])
    family = learn_family(barriers[:, None] * shape, grid, rank=1)
    assert family.rank == 1
    # every member of the collection is the mean plus a multiple of the one component
    c = ((barriers[:, None] * shape - family.mean) @ family.components[0]) / (family.components[0] ** 2).sum()
    torch.testing.assert_close(family.values(c[:, None]), (barriers[:, None] * shape).double())
    # a new recording's coefficient, by least squares on its transitions, gives back its barrier
    (sde, x), = _double_wells([1.1], seed=7, n_paths=8, n_frames=1000)
    coef = fit_family(family, x, 0.01, g2=sde.g(grid[:, None])[:, 0] ** 2)
    member = family.values(coef)
    b_hat = float((member * shape).sum() / (shape ** 2).sum())
    assert b_hat == pytest.approx(1.1, rel=0.1)
    # rank 0: no coefficients, the mean itself
    assert fit_family(learn_family(barriers[:, None] * shape, grid, rank=0), x, 0.01,
                      g2=torch.ones(50)).numel() == 0


def test_select_family_finds_the_parameter_of_a_collection_and_its_fits_beat_each_own_estimate():
    """Eight recordings whose drifts differ by their barrier: cross-validation keeps at least the
    one direction in which they differ, and each recording's fit in the family, from its own
    transitions, is closer to its true drift than the FIM's own estimate. (With short recordings
    it may keep none: a drift difference of order 1 is worth about a nat per 400 transitions at
    dt = 0.01, too little to tell a direction from noise.)"""
    fim = fimcg.load_fim()
    grid = torch.linspace(-1.3, 1.3, 40)
    data = _double_wells(torch.linspace(0.5, 2.5, 8), seed=0, n_frames=2000)
    fg = [fim.estimate(x, 0.01, grid[:, None], warn=False) for _, x in data]
    f = torch.stack([a[:, 0] for a, _ in fg]).double()
    g2 = torch.stack([b[:, 0] ** 2 for _, b in fg]).double()
    family = select_family(f, grid, [x for _, x in data], 0.01, g2=g2, max_rank=4)
    assert family.rank >= 1 and len(family.scores) == 5
    assert family.scores[family.rank] == min(family.scores) < family.scores[0]
    truth = torch.stack([sde.f(grid[:, None])[:, 0] for sde, _ in data]).double()
    fits = torch.stack([family.values(fit_family(family, x, 0.01, g2=g2[k])) for k, (_, x) in enumerate(data)])
    err = lambda e: ((e - truth) ** 2).mean(1).sqrt() / (truth ** 2).mean(1).sqrt()  # noqa: E731
    assert float(err(fits).median()) < float(err(f).median())


def test_family_bad_input():
    grid = torch.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="needs at least 3 estimates"):
        learn_family(torch.zeros(2, 5), grid, rank=2)
    with pytest.raises(ValueError, match="grid has 4 points"):
        learn_family(torch.zeros(3, 5), grid[:4], rank=1)
    with pytest.raises(ValueError, match="target must be"):
        fit_family(learn_family(torch.randn(3, 5), grid, rank=1), torch.randn(2, 20, 1), 0.1, g2=torch.ones(5),
                   target="g")
    with pytest.raises(ValueError, match="needs the recording's drift"):
        fit_family(learn_family(torch.randn(3, 5), grid, rank=1), torch.randn(2, 20, 1), 0.1, g2=torch.ones(5),
                   target="diffusion2")
    with pytest.raises(ValueError, match="one set of paths"):
        select_family(torch.zeros(3, 5), grid, [torch.zeros(2, 20, 1)] * 2, 0.1, g2=torch.ones(3, 5))
    with pytest.raises(ValueError, match="too short to cross-validate"):
        select_family(torch.randn(3, 5), grid, [torch.zeros(1, 12, 1)] * 3, 0.1, g2=torch.ones(3, 5))
    with pytest.raises(ValueError, match="dt"):
        select_family(torch.randn(3, 5), grid, [torch.zeros(4, 30, 1)] * 3, -0.1, g2=torch.ones(3, 5))
    with pytest.raises(ValueError, match="increasing"):
        learn_family(torch.zeros(3, 5), grid.flip(0), rank=1)
    fam = learn_family(torch.randn(3, 5), grid, rank=1)
    with pytest.raises(ValueError, match="needs 1-D paths"):
        fit_family(fam, torch.randn(2, 20, 2), 0.1, g2=torch.ones(5))
    with pytest.raises(ValueError, match="5 finite values >= 0"):
        fit_family(fam, torch.randn(2, 20, 1), 0.1, g2=torch.ones(6))
    with pytest.raises(ValueError, match="5 finite values >= 0"):
        fit_family(fam, torch.randn(2, 20, 1), 0.1, g2=-torch.ones(5))


def test_refining_a_family_on_the_transitions_removes_the_estimates_common_error():
    """Estimates that share one error (a bias every recording's estimator makes) span a family
    that keeps it; refined on the recordings' transitions the family loses it."""
    data = _double_wells(torch.linspace(0.6, 1.8, 6), seed=11, n_frames=1500)
    grid = torch.linspace(-1.3, 1.3, 40)
    truth = torch.stack([sde.f(grid[:, None])[:, 0] for sde, _ in data]).double()
    g2 = torch.stack([sde.g(grid[:, None])[:, 0] ** 2 for sde, _ in data]).double()
    biased = truth + 1.5 * torch.sin(3 * grid).double()  # the same error in every estimate
    start = learn_family(biased, grid, rank=1)
    refined = refine_family(start, [x for _, x in data], 0.01, g2=g2)
    assert refined.rank == 1
    inside = [(grid >= x.quantile(0.02)) & (grid <= x.quantile(0.98)) for _, x in data]  # where each one has data

    def err(fam):
        e = [fam.values(fit_family(fam, x, 0.01, g2=g2[k]))[inside[k]] - truth[k][inside[k]] for k, (_, x) in enumerate(data)]
        return float(torch.stack([(d ** 2).mean().sqrt() / (truth[k][inside[k]] ** 2).mean().sqrt()
                                  for k, d in enumerate(e)]).median())
    assert err(refined) < 0.5 * err(start)


def test_own_weight_keeps_an_estimate_the_family_cannot_hold():
    """A family of rank 0 (one mean) and recordings that differ: own estimates that are exact,
    even made without the scored fold, predict it better than the mean, and cross-validation keeps
    most of them; own estimates of pure noise it keeps little of."""
    data = _double_wells(torch.tensor([0.6, 1.0, 1.4, 1.8]), seed=21, n_frames=1500)
    grid = torch.linspace(-1.3, 1.3, 40)
    truth = torch.stack([sde.f(grid[:, None])[:, 0] for sde, _ in data]).double()
    g2 = torch.stack([sde.g(grid[:, None])[:, 0] ** 2 for sde, _ in data]).double()
    paths = [x for _, x in data]
    exact = [truth[k].expand(4, -1) for k in range(4)]  # 4 paths: 4 folds, the truth without each
    fam = select_family(truth, grid, paths, 0.01, g2=g2, ranks=[0], leave_out=exact)
    assert fam.rank == 0 and fam.own_weight > 0.7
    gen = torch.Generator().manual_seed(0)
    noise = [truth.mean(0) + 20 * torch.randn(4, 40, generator=gen, dtype=torch.float64) for _ in range(4)]
    assert select_family(truth, grid, paths, 0.01, g2=g2, ranks=[0], leave_out=noise).own_weight < 0.2
    assert select_family(truth, grid, paths, 0.01, g2=g2, ranks=[0]).own_weight is None
    with pytest.raises(ValueError, match="one entry per recording"):
        select_family(truth, grid, paths, 0.01, g2=g2, ranks=[0], leave_out=exact[:3])
    with pytest.raises(ValueError, match="each between 0 and 3"):
        select_family(truth, grid, paths, 0.01, g2=g2, ranks=[4])


def test_pooling_helps_the_fim_on_short_recordings_of_a_family():
    """Twelve short recordings (4 x 300 steps) of double wells with different barriers, read by the
    FIM: pooling them in the collection's family lowers the median drift error a lot (the point of
    pooling), and a new recording of the family gains as much."""
    from fimcg.coarse_graining.collection import infer_recording, pool

    fim = fimcg.load_fim()
    data = _double_wells(0.6 + 0.1 * torch.arange(13), seed=40, n_frames=300)
    x = torch.cat([p for _, p in data[:12]])
    pooled = pool(x, [list(range(4 * k, 4 * k + 4)) for k in range(12)], [f"r{k}" for k in range(12)], 0.01, fim)
    assert pooled.drift_family.rank >= 1 and 0 <= pooled.drift_weight <= 1
    assert len(pooled.drift_family.scores) == min(6, 11) + 1
    grid = pooled.grid
    truth = torch.stack([sde.f(grid)[:, 0] for sde, _ in data]).float()
    rel = lambda e, t: ((e - t) ** 2).mean(-1).sqrt() / (t ** 2).mean(-1).sqrt()  # noqa: E731
    own = rel(pooled.raw_drift[..., 0], truth[:12]).median()
    assert float(rel(pooled.drift[..., 0], truth[:12]).median()) < 0.7 * float(own)
    new = infer_recording(data[12][1], 0.01, fim, pooled)
    assert float(rel(new.drift[:, 0], truth[12])) < float(rel(new.raw_drift[:, 0], truth[12]))
