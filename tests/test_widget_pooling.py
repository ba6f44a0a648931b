"""Chapter 11's widget: one recording's own and pooled SDE estimates, and the explorer driven headlessly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fimcg import widgets
from fimcg.coarse_graining.collection import Pooled
from fimcg.estimators.pooling import learn_family


@pytest.fixture(scope="module")
def pooled():
    """Five made-up recordings on a grid: drifts a_k (z - z^3) plus noise, a family of rank 1 fitted to them."""
    gen = torch.Generator().manual_seed(0)
    grid = torch.linspace(-1.5, 1.5, 30)[:, None]
    a = torch.tensor([2.0, 3.0, 4.0, 5.0, 6.0])[:, None, None]
    raw = a * (grid - grid ** 3) + 0.5 * torch.randn(5, 30, 1, generator=gen)
    family = dataclasses.replace(learn_family(raw[..., 0], grid, rank=1), own_weight=0.2)
    coef = ((raw[..., 0].double() - family.mean) @ family.components.T) / (family.components ** 2).sum(1)
    centre = family.values(coef)[..., None].float()
    g = torch.ones(5, 30, 1)
    return Pooled(names=[f"r{k}" for k in range(5)], grid=grid, drift=centre + 0.2 * (raw - centre), diffusion=g,
                  raw_drift=raw, raw_diffusion=g, drift_family=family, diffusion2_family=learn_family(g[..., 0], grid, rank=0),
                  drift_coefficients=coef.float(), diffusion2_coefficients=torch.zeros(5, 0), drift_centre=centre)


def test_pooling_view_shows_a_recording_in_its_collection(pooled):
    v = widgets.pooling_view(pooled, 1)
    assert v.grid.shape == (30,) and np.all(v.collection_sd >= 0) and v.weight == pytest.approx(0.2)
    # the view cuts out recording 1 and summarises the whole collection
    np.testing.assert_allclose(v.own_drift, pooled.raw_drift[1, :, 0].numpy())
    np.testing.assert_allclose(v.family_fit, pooled.drift_centre[1, :, 0].numpy())
    np.testing.assert_allclose(v.collection_mean, pooled.drift[..., 0].double().mean(0).numpy(), rtol=1e-6)
    # the recordings' coordinates order them by their amplitude a_k
    assert np.all(np.diff(v.coordinates[:, 0]) > 0) or np.all(np.diff(v.coordinates[:, 0]) < 0)
    fig = widgets.pooling_figure(v)
    assert len(fig.data) == 8 and "r1" in fig.layout.title.text and "rank 1" in fig.layout.title.text
    assert list(fig.data[7].y) == [v.coordinates[1, 0]]  # the highlighted point is this recording
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
