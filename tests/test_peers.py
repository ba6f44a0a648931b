"""The optional peer estimators of the FIM benchmark (bench/peers.py); skipped when not installed."""

from __future__ import annotations

import pytest
import torch

import fimcg

peers = pytest.importorskip("bench.peers")  # the repository root is on pytest's path (pyproject.toml)


@pytest.fixture(scope="module")
def data():
    sde = fimcg.systems.double_well()
    paths = fimcg.simulate(sde, 0.5 * torch.randn(20, 1, generator=torch.Generator().manual_seed(0)), dt=0.002,
                           n_steps=500, seed=0)
    return sde, paths, fimcg.occupied_grid(paths, n=40)


@pytest.mark.parametrize("name, package", [("pysindy_km", "pysindy"), ("sfi_km", "SFI")])
def test_peer_recovers_the_double_well_like_least_squares(data, name, package):
    pytest.importorskip(package)
    sde, paths, x = data
    f, g = getattr(peers, name)(paths, 0.002, x)
    assert f.shape == g.shape == x.shape
    ls_f, ls_g = fimcg.least_squares(paths, 0.002, x, drift_basis=3, diff2_basis=2)
    # both peers are polynomial regressions of the increments: close to plain least squares
    assert fimcg.relative_rmse(f, ls_f) < 0.15
    assert fimcg.relative_rmse(g, sde.diffusion(x)) < 0.1


def test_peers_refuse_more_than_one_dimension():
    pytest.importorskip("pysindy")
    with pytest.raises(ValueError, match="one-dimensional"):
        peers.pysindy_km(torch.zeros(2, 10, 2), 0.01, torch.zeros(3, 2))


def test_gp_regression_peer_recovers_the_double_well(data):
    pytest.importorskip("sklearn")
    sde, paths, x = data
    f, g = peers.gp_regression(paths, 0.002, x)
    assert f.shape == g.shape == x.shape
    # 20 time units of data: every nonparametric drift is rough; the GP is as good as a kernel estimate
    ll_f, ll_g = fimcg.local_linear(paths, 0.002, x)
    assert fimcg.relative_rmse(f, sde.drift(x)) < 1.3 * fimcg.relative_rmse(ll_f, sde.drift(x))
    assert fimcg.relative_rmse(g, sde.diffusion(x)) < 0.05
