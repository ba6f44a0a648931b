"""Shared pytest setup: one torch thread (other jobs share the CPU), a fixed seed, small helpers."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than ~10 s (still runs in CI)")


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same global torch seed, so results do not depend on test order."""
    torch.manual_seed(12345)
    yield


@pytest.fixture(scope="session")
def reference_paths() -> torch.Tensor:
    """200 paths x 2000 steps (T = 4) of the reference double well at dt = 0.002, fixed seed."""
    from fimcg import simulate, systems

    gen = torch.Generator().manual_seed(7)
    x0 = torch.where(torch.rand(200, 1, generator=gen) < 0.5, -1.0, 1.0) + 0.3 * torch.randn(200, 1, generator=gen)
    return simulate(systems.double_well(), x0, dt=0.002, n_steps=2000, seed=8)
