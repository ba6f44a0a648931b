"""Chapter 11's widget: one recording's own and pooled SDE estimates, and the explorer driven headlessly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fimcg import widgets
from fimcg.coarse_graining.collection import Pooled
from fimcg.estimators.pooling import shrink


@pytest.fixture(scope="module")
def pooled():
    """Five made-up recordings on a grid: drifts a_k (z - z^3) plus noise of different sizes."""
    gen = torch.Generator().manual_seed(0)
    grid = torch.linspace(-1.5, 1.5, 30)[:, None]
    a = torch.tensor([2.0, 3.0, 4.0, 5.0, 6.0])[:, None, None]
    sd = torch.tensor([0.1, 2.0, 0.1, 2.0, 0.1])[:, None, None].expand(5, 30, 1)
    raw = a * (grid - grid ** 3) + sd * torch.randn(5, 30, 1, generator=gen)
    f, prior_f, w = shrink(raw, sd ** 2)
    g = torch.ones(5, 30, 1)
    g2, prior_g, _ = shrink(g ** 2, torch.full((5, 30, 1), 0.01))
    return Pooled(names=[f"r{k}" for k in range(5)], grid=grid, drift=f, diffusion=g2.sqrt(), raw_drift=raw,
                  raw_diffusion=g, drift_prior=prior_f, diffusion2_prior=prior_g, drift_weight=w)


def test_pooling_view_shows_noisy_recordings_pulled_in(pooled):
    precise, noisy = widgets.pooling_view(pooled, 0), widgets.pooling_view(pooled, 1)
    assert precise.weight.mean() > noisy.weight.mean()
    assert precise.grid.shape == (30,) and np.all(precise.prior_sd >= 0)
    # the noisy recording's pooled drift is closer to the collection mean than its own estimate
    assert np.abs(noisy.pooled_drift - noisy.prior_mean).mean() < np.abs(noisy.own_drift - noisy.prior_mean).mean()
    fig = widgets.pooling_figure(noisy)
    assert len(fig.data) == 7 and "r1" in fig.layout.title.text
    with pytest.raises(ValueError, match="index 0..4"):
        widgets.pooling_view(pooled, 5)


def test_pooling_explorer_headless(pooled):
    box = widgets.pooling_explorer(pooled)
    before = np.array(box.figure.data[2].y)
    box.controls["recording"].value = 3
    assert "r3" in box.figure.layout.title.text
    assert not np.allclose(before, np.array(box.figure.data[2].y))
    static = widgets.pooling_slider_figure(pooled, max_recordings=3)
    assert len(static.layout.sliders[0].steps) == 3
