"""Figure builders: trace counts, data and validation (pure functions, no display)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import fimcg
from fimcg import render_video, systems
from fimcg.app import figures
from fimcg.sde.density import stationary_density


@pytest.fixture(scope="module")
def paths():
    gen = torch.Generator().manual_seed(0)
    return (0.05 * torch.randn(6, 400, 1, generator=gen)).cumsum(1).clamp(-1.7, 1.7)


def test_paths_figure(paths):
    fig = figures.paths_figure(paths, 0.01, n_show=4)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 4
    assert np.allclose(fig.data[2].y, paths[2, :, 0].numpy())
    assert fig.data[0].x[-1] == pytest.approx(3.99)
    thin = figures.paths_figure(paths, 0.01, n_show=1, max_points=100)
    assert len(thin.data[0].x) == 100


def test_density_figure_histogram_integrates_to_one_and_matches_theory(paths):
    sde = systems.double_well()
    fig = figures.density_figure(paths, sde, bins=30)
    assert [t.name for t in fig.data] == ["data", "stationary density"]
    bar, line = fig.data
    assert float(np.sum(np.asarray(bar.y) * np.asarray(bar.width))) == pytest.approx(1.0)
    xs = np.asarray(line.x)
    expected = stationary_density(sde, torch.as_tensor(xs, dtype=torch.float64)).numpy()
    assert np.allclose(line.y, expected)
    assert len(figures.density_figure(paths).data) == 1


def test_drift_diffusion_figure_traces():
    sde = systems.double_well()
    grid = torch.linspace(-1.5, 1.5, 21)[:, None]
    est = {"a": (sde.f(grid) + 1, sde.g(grid)), "b": (sde.f(grid), 2 * sde.g(grid))}
    fig = figures.drift_diffusion_figure(grid, est, sde=sde)
    assert len(fig.data) == 2 + 2 * 2
    names = [t.name for t in fig.data]
    assert names.count("truth") == 2 and names.count("a") == 2 and names.count("b") == 2
    a_drift = [t for t in fig.data if t.name == "a"][0]
    assert np.allclose(a_drift.y, sde.f(grid)[:, 0].numpy() + 1)
    # unsorted locations are sorted for plotting
    perm = torch.randperm(21)
    fig2 = figures.drift_diffusion_figure(grid[perm], {"a": (est["a"][0][perm], est["a"][1][perm])})
    assert np.all(np.diff(fig2.data[0].x) > 0)
    assert np.allclose(fig2.data[0].y, a_drift.y)


def test_drift_diffusion_figure_bad_input():
    grid = torch.linspace(-1, 1, 5)[:, None]
    with pytest.raises(ValueError, match=r"estimates\['x'\] drift must have shape \(G=5, d\); got \(4, 1\)"):
        figures.drift_diffusion_figure(grid, {"x": (torch.zeros(4, 1), torch.zeros(5, 1))})
    with pytest.raises(TypeError, match="estimates must be a mapping"):
        figures.drift_diffusion_figure(grid, [torch.zeros(5, 1)])


def test_video_figure_has_a_slider_over_frames():
    frames = render_video(torch.linspace(-1, 1, 30).reshape(1, 30, 1), size=16)
    fig = figures.video_figure(frames, max_frames=10, dt=0.01)
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Heatmap)
    assert len(fig.frames) == 10
    assert len(fig.layout.sliders[0].steps) == 10
    assert np.allclose(fig.frames[-1].data[0].z, frames[0, -1].numpy())
    assert fig.layout.sliders[0].steps[-1].label == "t=0.29"


def test_frame_strip_figure():
    frames = render_video(torch.linspace(-1, 1, 20).reshape(2, 10, 1), size=12)
    fig = figures.frame_strip_figure(frames, path_index=1, n_frames=4)
    assert len(fig.data) == 4
    assert np.allclose(fig.data[-1].z, frames[1, -1].numpy())
    with pytest.raises(ValueError, match=r"path_index must be in \[0, 1\], got 2"):
        figures.frame_strip_figure(frames, path_index=2)
    with pytest.raises(ValueError, match=r"frames must have shape \(n_paths, T, H, W\)"):
        figures.video_figure(torch.zeros(3, 3))


def test_latent_scatter_figure():
    a = torch.linspace(0, 1, 50)
    fig = figures.latent_scatter_figure(a, 2 * a)
    assert np.allclose(fig.data[0].y, 2 * a.numpy())
    with pytest.raises(ValueError, match="the same number of values; got 50 and 49"):
        figures.latent_scatter_figure(a, a[:-1])


def test_gates_figure_stacks_weights_that_sum_to_one():
    from fimcg.fim.model import FIM
    from fimcg.fim.config import FIMConfig, NetworkConfig

    torch.manual_seed(0)
    m = FIM(FIMConfig(NetworkConfig(d_model=16, n_heads=2, n_latents=4, n_encoder_blocks=1))).eval()
    with torch.no_grad():
        m.head[-1].weight.normal_(0, 0.5)
    sde = fimcg.systems.ornstein_uhlenbeck()
    p = fimcg.simulate(sde, torch.zeros(4, 1), dt=0.01, n_steps=300, seed=0)
    x = torch.linspace(-1, 1, 9)
    fig = figures.gates_figure(x, m.explain(p, 0.01, x), min_share=0.1)
    for panel in ("x", "x2"):
        traces = [t for t in fig.data if t.xaxis == panel]
        assert traces and all(t.stackgroup for t in traces)
        np.testing.assert_allclose(sum(np.asarray(t.y) for t in traces), 1.0, rtol=1e-5)
    # options below min_share are pooled, so fewer traces than options
    assert len(fig.data) < m.config.n_drift_options + m.config.n_diffusion_options
    with pytest.raises(ValueError, match="locations"):
        figures.gates_figure(x[:5], m.explain(p, 0.01, x))
    # an option keeps its colour whatever else is shown
    other = figures.gates_figure(x, m.explain(p[:2], 0.01, x), min_share=0.0)
    colours = {(t.xaxis, t.name): t.line.color for t in other.data}
    assert all(colours[(t.xaxis, t.name)] == t.line.color for t in fig.data if t.name != "other")
    assert len({c for (axis, _), c in colours.items() if axis == "x"}) == m.config.n_drift_options
