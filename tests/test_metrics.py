"""Metrics: the occupied grid, RMSE and relative RMSE, errors against a known SDE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fimcg import systems
from fimcg.analysis.metrics import occupied_grid, relative_rmse, rmse, sde_errors


def test_occupied_grid_spans_the_percentiles():
    x = torch.arange(1001, dtype=torch.float64).reshape(1, -1, 1)  # 0..1000
    grid = occupied_grid(x, n=11)
    assert grid.shape == (11, 1) and grid.dtype == torch.float64
    assert float(grid[0]) == pytest.approx(20.0) and float(grid[-1]) == pytest.approx(980.0)
    assert torch.allclose(grid[:, 0].diff(), torch.full((10,), 96.0, dtype=torch.float64))
    custom = occupied_grid(x, n=3, lo=0.0, hi=0.5)
    assert custom[:, 0].tolist() == pytest.approx([0.0, 250.0, 500.0])


def test_occupied_grid_pools_all_paths():
    a = torch.zeros(1, 100, 1)
    b = torch.ones(1, 100, 1)
    grid = occupied_grid(torch.cat([a, b]), n=5, lo=0.0, hi=1.0)
    assert float(grid[0]) == 0.0 and float(grid[-1]) == 1.0


def test_occupied_grid_in_two_dimensions_is_a_product_grid():
    gen = torch.Generator().manual_seed(0)
    paths = torch.stack([torch.rand(4, 500, generator=gen), 10 * torch.rand(4, 500, generator=gen)], dim=-1)
    grid = occupied_grid(paths, n=4)
    assert grid.shape == (16, 2)
    # first coordinate varies fastest
    assert grid[:4, 1].unique().numel() == 1 and grid[:4, 0].unique().numel() == 4
    q = np.quantile(paths.reshape(-1, 2).numpy(), [0.02, 0.98], axis=0)
    assert grid.min(0).values.tolist() == pytest.approx(q[0].tolist(), rel=1e-5)
    assert grid.max(0).values.tolist() == pytest.approx(q[1].tolist(), rel=1e-5)


def test_occupied_grid_of_the_reference_system(reference_paths):
    grid = occupied_grid(reference_paths)
    assert grid.shape == (100, 1)
    assert -1.75 < float(grid[0]) < -1.3 and 1.3 < float(grid[-1]) < 1.75


def test_occupied_grid_bad_input():
    with pytest.raises(ValueError, match=r"need 0 <= lo < hi <= 1, got lo=0.9, hi=0.1"):
        occupied_grid(torch.randn(2, 10), lo=0.9, hi=0.1)
    with pytest.raises(ValueError, match="n must be >= 2, got 1"):
        occupied_grid(torch.randn(2, 10), n=1)
    with pytest.raises(ValueError, match="paths contains 1 NaN/inf"):
        occupied_grid(torch.tensor([[0.0, math.nan, 1.0]]))
    with pytest.raises(ValueError, match="the paths do not spread between"):
        occupied_grid(torch.ones(3, 10))


def test_rmse_and_relative_rmse():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    b = torch.tensor([1.0, 2.0, 3.0, 6.0])
    assert rmse(a, b) == pytest.approx(1.0)
    assert rmse(b, a) == pytest.approx(1.0)
    assert relative_rmse(b, a) == pytest.approx(1.0 / math.sqrt(30 / 4))
    assert relative_rmse(a, a) == 0.0
    assert isinstance(rmse(a, b), float)
    # works on arrays and (G, d) shapes
    assert rmse(np.zeros((3, 2)), np.ones((3, 2))) == pytest.approx(1.0)


def test_metric_bad_input():
    with pytest.raises(ValueError, match=r"a and b must have the same shape; got \(3,\) and \(3, 1\)"):
        rmse(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="est contains 1 NaN/inf"):
        relative_rmse(torch.tensor([math.nan, 1.0]), torch.ones(2))
    with pytest.raises(ValueError, match="relative_rmse is undefined: true is identically zero"):
        relative_rmse(torch.ones(3), torch.zeros(3))
    with pytest.raises(ValueError, match="are empty"):
        rmse(torch.zeros(0), torch.zeros(0))


def test_sde_errors_against_the_truth():
    sde = systems.double_well()
    grid = torch.linspace(-1.5, 1.5, 31)[:, None]
    perfect = sde_errors(sde, grid, sde.f(grid), sde.g(grid))
    assert perfect == {"drift_rmse": 0.0, "drift_rel": 0.0, "diffusion_rmse": 0.0, "diffusion_rel": 0.0}
    off = sde_errors(sde, grid, sde.f(grid) + 0.5, 1.1 * sde.g(grid))
    assert off["drift_rmse"] == pytest.approx(0.5, rel=1e-5)
    assert off["diffusion_rel"] == pytest.approx(0.1, rel=1e-4)
    with pytest.raises(ValueError, match=r"drift and true drift at locations must have the same shape; "
                                         r"got \(5, 1\) and \(31, 1\)"):
        sde_errors(sde, grid, torch.zeros(5, 1), sde.g(grid))
    with pytest.raises(ValueError, match="diffusion contains 1 NaN/inf"):
        sde_errors(sde, grid, sde.f(grid), torch.full((31, 1), math.nan).index_fill(0, torch.arange(1, 31), 1.0))
