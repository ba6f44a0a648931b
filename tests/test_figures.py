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


# --------------------------------------------------------------------------------------------------
# two-dimensional figures
# --------------------------------------------------------------------------------------------------

def _field_2d(nx=7, ny=5):
    gx, gy = np.linspace(-2.0, 2.0, nx), np.linspace(-1.0, 1.0, ny)   # cells 2/3 and 1/2: the cell is 0.5
    X, Y = np.meshgrid(gx, gy)
    potential = (X ** 2 - 1) ** 2 + Y ** 2
    drift = np.stack([-4 * X * (X ** 2 - 1), -2 * Y], axis=-1)          # -grad U, shape (ny, nx, 2)
    return gx, gy, drift, potential


def _arrow_shafts(trace):
    """(n_arrows, 2) tails and tips from an arrow trace (7 entries per arrow)."""
    x = np.asarray(trace.x, dtype=float).reshape(-1, 7)
    y = np.asarray(trace.y, dtype=float).reshape(-1, 7)
    assert np.isnan(x[:, [2, 6]]).all() and np.isnan(y[:, [2, 6]]).all()   # gaps between arrows
    return np.stack([x[:, 0], y[:, 0]], 1), np.stack([x[:, 1], y[:, 1]], 1)


def test_vector_field_figure_arrows_scaled_to_grid_cell():
    gx, gy, drift, _ = _field_2d()
    fig = figures.vector_field_figure(gx, gy, torch.as_tensor(drift))
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Scatter) and fig.data[0].name == "drift"
    tails, tips = _arrow_shafts(fig.data[0])
    assert tails.shape == (gx.size * gy.size, 2)
    X, Y = np.meshgrid(gx, gy)
    np.testing.assert_allclose(tails, np.stack([X.ravel(), Y.ravel()], 1))          # row-major over (ny, nx)
    lengths = np.linalg.norm(tips - tails, axis=1)
    assert lengths.max() == pytest.approx(0.9 * 0.5)                                # 0.9 of the smaller step
    np.testing.assert_allclose(lengths / lengths.max(),
                               np.linalg.norm(drift, axis=-1).ravel() / np.linalg.norm(drift, axis=-1).max(),
                               atol=1e-12)
    # the arrows point along the drift
    np.testing.assert_allclose(tips - tails, fig.layout.meta["arrow_scale"] * drift.reshape(-1, 2))
    # an explicit scale is used as is
    fixed = figures.vector_field_figure(gx, gy, drift, scale=0.01)
    tails, tips = _arrow_shafts(fixed.data[0])
    np.testing.assert_allclose(tips - tails, 0.01 * drift.reshape(-1, 2))


def test_vector_field_figure_contours_only_with_potential_and_paths_overlaid():
    gx, gy, drift, potential = _field_2d()
    paths = torch.zeros(4, 6, 2).cumsum(1)
    assert not any(isinstance(t, go.Contour) for t in figures.vector_field_figure(gx, gy, drift).data)
    fig = figures.vector_field_figure(gx, gy, drift, potential=potential, paths=paths, n_show=2)
    assert [type(t).__name__ for t in fig.data] == ["Contour", "Scatter", "Scatter", "Scatter"]
    assert [t.name for t in fig.data] == ["potential", "drift", "path 0", "path 1"]
    np.testing.assert_allclose(fig.data[0].z, potential)
    np.testing.assert_allclose(fig.data[2].x, paths[0, :, 0].numpy())


def test_vector_fields_figure_panels_share_one_scale():
    gx, gy, drift, potential = _field_2d()
    fig = figures.vector_fields_figure(gx, gy, {"truth": drift, "estimate": 2 * drift}, potential=potential)
    assert [(type(t).__name__, t.name, t.xaxis) for t in fig.data] == [
        ("Contour", "potential", "x"), ("Scatter", "truth", "x"),
        ("Contour", "potential", "x2"), ("Scatter", "estimate", "x2")]
    assert [a.text for a in fig.layout.annotations] == ["truth", "estimate"]
    longest = [np.linalg.norm(np.subtract(*_arrow_shafts(t)[::-1]), axis=1).max() for t in fig.data[1::2]]
    assert longest[1] == pytest.approx(0.9 * 0.5)           # the longest arrow of all panels
    assert longest[0] == pytest.approx(0.45 * 0.5)          # half the drift, half the length
    assert sum(bool(t.showscale) for t in fig.data[::2]) == 1
    assert len(figures.vector_fields_figure(gx, gy, {"a": drift, "b": drift, "c": drift}).data) == 3


def test_vector_field_figures_bad_input():
    gx, gy, drift, potential = _field_2d()
    with pytest.raises(ValueError, match=r"drift must have shape \(ny, nx, 2\)=\(5, 7, 2\).*got \(7, 5, 2\)"):
        figures.vector_field_figure(gx, gy, drift.transpose(1, 0, 2))
    with pytest.raises(ValueError, match=r"fields\['est'\] must have shape \(ny, nx, 2\)"):
        figures.vector_fields_figure(gx, gy, {"truth": drift, "est": drift[..., :1]})
    with pytest.raises(ValueError, match=r"potential must have shape \(ny, nx\)=\(5, 7\)"):
        figures.vector_field_figure(gx, gy, drift, potential=potential.T)
    with pytest.raises(ValueError, match=r"grid_x must be a 1-D grid"):
        figures.vector_field_figure(gx[:, None], gy, drift)
    with pytest.raises(ValueError, match=r"grid_y must be strictly increasing"):
        figures.vector_field_figure(gx, gy[::-1], drift)
    bad = drift.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"drift contains 1 NaN/inf value\(s\); first at index \(1, 2, 0\)"):
        figures.vector_field_figure(gx, gy, bad)
    with pytest.raises(ValueError, match=r"paths must have shape \(n_paths, T, 2\)"):
        figures.vector_field_figure(gx, gy, drift, paths=torch.zeros(2, 5, 1))
    with pytest.raises(ValueError, match="scale must be finite and > 0"):
        figures.vector_field_figure(gx, gy, drift, scale=0.0)
    with pytest.raises(ValueError, match="fields must be a non-empty mapping"):
        figures.vector_fields_figure(gx, gy, {})


def test_trajectories_2d_figure():
    gx, gy, _, potential = _field_2d()
    paths = torch.randn(6, 20, 2, generator=torch.Generator().manual_seed(0)).cumsum(1)
    fig = figures.trajectories_2d_figure(paths, n_show=3)
    assert [type(t).__name__ for t in fig.data] == ["Scatter"] * 3
    np.testing.assert_allclose(fig.data[1].x, paths[1, :, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(fig.data[1].y, paths[1, :, 1].numpy(), rtol=1e-6)
    over = figures.trajectories_2d_figure(paths, n_show=10, potential=potential, grid_x=gx, grid_y=gy)
    assert [type(t).__name__ for t in over.data] == ["Contour"] + ["Scatter"] * 6
    with pytest.raises(ValueError, match="potential needs grid_x and grid_y"):
        figures.trajectories_2d_figure(paths, potential=potential)
    with pytest.raises(ValueError, match=r"potential must have shape \(ny, nx\)=\(5, 7\)"):
        figures.trajectories_2d_figure(paths, potential=potential[:, :3], grid_x=gx, grid_y=gy)
    with pytest.raises(ValueError, match=r"paths must have shape \(n_paths, T, 2\)"):
        figures.trajectories_2d_figure(paths[..., :1])
    bad = paths.clone()
    bad[2, 3, 1] = float("inf")
    with pytest.raises(ValueError, match=r"paths contains 1 NaN/inf value\(s\); first at index \(2, 3, 1\)"):
        figures.trajectories_2d_figure(bad)


def test_latent_vs_truth_2d_figure():
    true = torch.rand(500, 2, generator=torch.Generator().manual_seed(0))
    latent = torch.stack([true[:, 1], -true[:, 0]], 1)
    fig = figures.latent_vs_truth_2d_figure(true, latent, max_points=100)
    assert [type(t).__name__ for t in fig.data] == ["Scatter", "Scatter"]
    assert [t.name for t in fig.data] == ["z1", "z2"] and [t.xaxis for t in fig.data] == ["x", "x2"]
    assert len(fig.data[0].x) == 100
    idx = np.linspace(0, 499, 100).round().astype(int)           # evenly thinned, both ends kept
    np.testing.assert_allclose(fig.data[0].x, true[idx, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(fig.data[0].marker.color, latent[idx, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(fig.data[1].marker.color, latent[idx, 1].numpy(), rtol=1e-6)
    assert len(figures.latent_vs_truth_2d_figure(true[:50], latent[:50]).data[0].x) == 50
    with pytest.raises(ValueError, match=r"latent must have shape \(N, 2\)"):
        figures.latent_vs_truth_2d_figure(true, latent[:, :1])
    with pytest.raises(ValueError, match=r"true and latent must have the same shape; got \(500, 2\) and \(499, 2\)"):
        figures.latent_vs_truth_2d_figure(true, latent[:-1])
    with pytest.raises(ValueError, match="true contains 1 NaN/inf"):
        figures.latent_vs_truth_2d_figure(torch.cat([true[:-1], torch.tensor([[np.nan, 0.0]])]), latent)
