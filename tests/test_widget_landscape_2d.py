"""Notebook 12's widget (fimcg.widgets.landscape_2d): the parametrised 2-D double well keeps its
wells at x1 = +-1 and its barrier at the set height; more noise, more switches; the figure, the
static slider and the explorer driven headlessly; fields on a grid with unvisited cells blanked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fimcg import simulate, widgets
from fimcg.sde.systems import double_well_2d

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def reference():
    return widgets.landscape_2d_data(n_paths=20, t_max=10.0, seed=1)


# ---------------------------------------------------------------------------------------------
# landscape_2d_sde: the slider parameters mapped onto double_well_2d
# ---------------------------------------------------------------------------------------------

def test_defaults_are_the_catalogue_double_well():
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sde, ref = widgets.landscape_2d_sde(), double_well_2d()
    torch.testing.assert_close(sde.drift(x), ref.drift(x))
    torch.testing.assert_close(sde.potential(x), ref.potential(x))
    torch.testing.assert_close(sde.diffusion(x), ref.diffusion(x))


@pytest.mark.parametrize("barrier,coupling", [(1.0, 0.0), (2.0, 1.5), (0.5, -1.0), (3.0, 2.0)])
def test_wells_stay_at_plus_minus_one_and_the_barrier_has_the_set_height(barrier, coupling):
    sde = widgets.landscape_2d_sde(barrier=barrier, coupling=coupling, stiffness=4.0)
    wells = torch.tensor([[-1.0, coupling / 4], [1.0, -coupling / 4]], dtype=torch.float64)
    torch.testing.assert_close(sde.drift(wells), torch.zeros(2, 2, dtype=torch.float64), atol=1e-12, rtol=0)
    saddle = torch.zeros(1, 2, dtype=torch.float64)
    u = sde.potential(torch.cat([saddle, wells]))
    assert float(u[0] - u[1]) == pytest.approx(barrier) and float(u[0] - u[2]) == pytest.approx(barrier)
    # the wells are minima (positive definite Hessian), the origin a saddle (one negative eigenvalue)
    for point, negatives in ((wells[:1], 0), (wells[1:], 0), (saddle, 1)):
        hess = torch.autograd.functional.hessian(lambda z: sde.potential(z[None])[0], point[0])
        assert int((torch.linalg.eigvalsh(hess) < 0).sum()) == negatives


@pytest.mark.parametrize("kwargs,match", [
    (dict(barrier=0.0), r"barrier must be finite and > 0, got 0"),
    (dict(coupling=float("nan")), r"coupling must be finite"),
    (dict(noise=-1.0), r"noise must be finite and > 0"),
    (dict(noise=(1.0, 0.5, 0.2)), r"noise must be a number or a pair"),
])
def test_landscape_2d_sde_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.landscape_2d_sde(**kwargs)


def test_anisotropic_noise_is_passed_on():
    sde = widgets.landscape_2d_sde(noise=(1.0, 0.3))
    g = sde.diffusion(torch.zeros(3, 2))
    torch.testing.assert_close(g, torch.tensor([[1.0, 0.3]]).expand(3, 2))


# ---------------------------------------------------------------------------------------------
# landscape_2d_data: simulation statistics
# ---------------------------------------------------------------------------------------------

def test_landscape_2d_data_shapes(reference):
    d = reference
    assert d.grid_x.shape == (17,) and d.grid_y.shape == (13,)
    assert np.allclose(np.diff(d.grid_x), 0.2) and np.allclose(np.diff(d.grid_y), 0.2)
    assert d.potential.shape == (13, 17) and d.drift.shape == (13, 17, 2)
    assert d.paths.shape == (3, d.time.size, 2) and d.time.size <= 1001
    assert d.time[0] == 0 and d.time[-1] == pytest.approx(10.0)
    assert d.occupation.shape == (len(d.wells),) and d.occupation.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(d.noise, [1.0, 1.0])
    # the drift on the grid is minus the gradient of the potential on the grid
    gy, gx = np.gradient(d.potential, d.grid_y, d.grid_x)
    inner = (slice(1, -1), slice(1, -1))
    assert np.abs(d.drift[inner][..., 0] + gx[inner]).max() < 0.15 * np.abs(gx[inner]).max()
    assert np.abs(d.drift[inner][..., 1] + gy[inner]).max() < 0.15 * np.abs(gy[inner]).max()


def test_uncoupled_wells_are_found_at_plus_minus_one(reference):
    np.testing.assert_allclose(reference.wells, [[-1.0, 0.0], [1.0, 0.0]], atol=0.02)
    # symmetric landscape, paths started alternately in each well: both wells are occupied alike
    assert abs(reference.occupation[0] - 0.5) < 0.15


def test_coupled_wells_move_off_the_axis():
    d = widgets.landscape_2d_data(coupling=1.5, n_paths=4, t_max=1.0, seed=0)
    np.testing.assert_allclose(d.wells, [[-1.0, 0.375], [1.0, -0.375]], atol=0.02)


def test_more_noise_more_switches():
    rates = [widgets.landscape_2d_data(noise=g, n_paths=20, t_max=10.0, seed=2).switches_per_time
             for g in (0.7, 1.0, 1.5)]
    assert rates[0] < rates[1] < rates[2]
    assert rates[2] > 3 * rates[0]


def test_higher_barrier_fewer_switches():
    low = widgets.landscape_2d_data(barrier=0.5, n_paths=20, t_max=10.0, seed=3).switches_per_time
    high = widgets.landscape_2d_data(barrier=2.0, n_paths=20, t_max=10.0, seed=3).switches_per_time
    assert high < 0.5 * low


def test_same_seed_same_data():
    a = widgets.landscape_2d_data(n_paths=4, t_max=1.0, seed=5)
    b = widgets.landscape_2d_data(n_paths=4, t_max=1.0, seed=5)
    np.testing.assert_array_equal(a.paths, b.paths)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_paths=0), r"n_paths must be >= 1, got 0"),
    (dict(dt=-0.1), r"dt must be finite and > 0, got -0\.1"),
    (dict(t_max=0), r"t_max must be finite and > 0"),
    (dict(n_paths=2, n_show=3), r"n_show must be <= n_paths=2, got 3"),
    (dict(grid_size=2), r"grid_size must be >= 3, got 2"),
    (dict(extent=(1.0, -1.0)), r"extent must be finite and > 0"),
    (dict(extent=(1.0, 1.0, 1.0)), r"extent must be a pair of half-widths"),
])
def test_landscape_2d_data_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.landscape_2d_data(**kwargs)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------

def test_landscape_2d_figure_traces(reference):
    fig = widgets.landscape_2d_figure(reference)
    assert [t.name for t in fig.data] == ["potential", "drift", "path 0", "path 1", "path 2", "wells"]
    np.testing.assert_allclose(np.asarray(fig.data[0].z), reference.potential)
    np.testing.assert_allclose(np.asarray(fig.data[-1].x), reference.wells[:, 0])
    assert f"{reference.switches_per_time:.2f} switches" in fig.layout.title.text


def test_update_landscape_2d_figure_replaces_data(reference):
    fig = widgets.landscape_2d_figure(reference)
    other = widgets.landscape_2d_data(barrier=2.0, coupling=1.0, noise=1.5, n_paths=5, t_max=2.0, seed=4)
    widgets.update_landscape_2d_figure(fig, other)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), other.potential)
    np.testing.assert_allclose(np.asarray(fig.data[-1].y), other.wells[:, 1])
    np.testing.assert_allclose(np.asarray(fig.data[2].x), other.paths[0, :, 0])
    fresh = widgets.landscape_2d_figure(other)
    assert list(fig.data[1].x) == list(fresh.data[1].x)  # the arrows at the new scale
    assert fig.layout.meta["arrow_scale"] == pytest.approx(fresh.layout.meta["arrow_scale"])
    assert "barrier 2, coupling 1, noise 1.5" in fig.layout.title.text
    short = widgets.landscape_2d_data(n_paths=2, n_show=2, t_max=1.0)
    with pytest.raises(ValueError, match="shows 3 paths but data has 2"):
        widgets.update_landscape_2d_figure(fig, short)


def test_landscape_2d_slider_figure_steps_toggle_visibility():
    noises = (0.7, 1.0, 1.5)
    datas = [widgets.landscape_2d_data(noise=g, n_paths=4, t_max=1.0, seed=0, n_show=2) for g in noises]
    fig = widgets.landscape_2d_slider_figure(datas, [f"{g:g}" for g in noises], slider_title="noise: ")
    per = 3 + 2
    assert len(fig.data) == 3 * per
    assert [bool(t.visible) for t in fig.data] == [True] * per + [False] * (2 * per)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0.7", "1", "1.5"]
    assert steps[1].args[0]["visible"] == [False] * per + [True] * per + [False] * per
    assert "noise 1.5" in steps[2].args[1]["title.text"]
    with pytest.raises(ValueError, match="equal length"):
        widgets.landscape_2d_slider_figure(datas, ["a"])


# ---------------------------------------------------------------------------------------------
# the explorer, driven headlessly
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def explorer():
    return widgets.landscape_2d_explorer(n_paths=6, t_max=2.0, n_show=2)


def test_explorer_coupling_slider_moves_the_wells(explorer):
    fig = explorer.figure
    assert set(explorer.controls) == {"barrier", "coupling", "noise"}
    assert len(fig.data) == 3 + 2
    explorer.controls["coupling"].value = 1.0
    np.testing.assert_allclose(np.asarray(fig.data[-1].y), [0.25, -0.25], atol=0.02)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), explorer.data.potential)
    explorer.controls["coupling"].value = 0.0
    np.testing.assert_allclose(np.asarray(fig.data[-1].y), [0.0, 0.0], atol=0.02)


def test_explorer_barrier_and_noise_sliders_redraw(explorer):
    fig = explorer.figure
    explorer.controls["barrier"].value = 2.0
    z = np.asarray(fig.data[0].z)
    assert z.max() - z.min() > 0  # the potential is the new one: U(saddle) - U(well) = 2
    assert explorer.data.barrier == 2.0
    assert -float(np.min(z)) == pytest.approx(2.0, abs=0.05)
    before = np.asarray(fig.data[2].x).copy()
    explorer.controls["noise"].value = 1.5
    assert "noise 1.5" in fig.layout.title.text
    assert not np.allclose(np.asarray(fig.data[2].x), before)  # new paths
    explorer.controls["barrier"].value = 1.0
    explorer.controls["noise"].value = 1.0


def test_explorer_strong_coupling_keeps_two_wells(explorer):
    """Every coupling keeps the wells at x1 = +-1 (along the valley the potential does not depend on it)."""
    fig = explorer.figure
    explorer.controls["barrier"].value = 0.25
    explorer.controls["coupling"].value = 2.0
    assert explorer.status.value == ""
    wells = np.sort(np.asarray(explorer.data.wells)[:, 0])
    np.testing.assert_allclose(wells, [-1.0, 1.0], atol=0.02)
    assert "coupling 2" in fig.layout.title.text
    explorer.controls["coupling"].value = 0.0
    explorer.controls["barrier"].value = 1.0
    explorer.controls["barrier"].value = 1.0


# ---------------------------------------------------------------------------------------------
# field_on_grid
# ---------------------------------------------------------------------------------------------

def test_field_on_grid_matches_the_drift_row_major():
    sde = double_well_2d(coupling=0.5)
    gx, gy = np.linspace(-1.5, 1.5, 7), np.linspace(-1.0, 1.0, 5)
    f = widgets.field_on_grid(sde.drift, gx, gy)
    assert f.shape == (5, 7, 2)
    j, i = 1, 5
    expected = sde.drift(torch.tensor([[gx[i], gy[j]]], dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(f[j, i], expected, rtol=1e-5)


def test_field_on_grid_blanks_cells_without_data_and_passes_tuples():
    sde = double_well_2d(sigma=0.5)  # barrier 1 against g²/2 = 0.125: the particle stays in its well
    paths = simulate(sde, torch.tensor([[1.0, 0.0]]).repeat(4, 1), dt=0.01, n_steps=200, substeps=5, seed=0)
    gx, gy = np.linspace(-2.0, 2.0, 9), np.linspace(-1.5, 1.5, 7)
    f, g = widgets.field_on_grid(lambda q: (sde.drift(q), sde.diffusion(q)), gx, gy, paths=paths, min_count=5)
    assert f.shape == g.shape == (7, 9, 2)
    assert np.all(f[:, gx < 0] == 0) and np.all(g[:, gx < 0] == 0)  # the left well was never visited
    assert g[3, 6, 0] == pytest.approx(0.5)  # the right well, (1, 0), was
    with pytest.raises(ValueError, match="grid_x must be a finite, strictly increasing"):
        widgets.field_on_grid(sde.drift, gx[::-1], gy)
    with pytest.raises(ValueError, match=r"paths must have shape \(n_paths, T, 2\)"):
        widgets.field_on_grid(sde.drift, gx, gy, paths=paths[..., :1])
