"""Notebook 05: coarse-graining and identifiability (a change of coordinates, training snapshots).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..analysis.alignment import WARPS
from .._validation import to_numpy
from .base import check_trace_count, explorer, set_traces

__all__ = ["CoordinateChangeData", "coordinate_change_data", "coordinate_change_figure",
           "update_coordinate_change_figure", "coordinate_change_explorer", "LatentRecorder",
           "latent_training_figure"]

@dataclass(frozen=True)
class CoordinateChangeData:
    """An SDE seen in a warped coordinate z = h(x), by Itô's formula and by estimation.

    Attributes:
        x: grid of the original state (G,). z: h(x) (G,). dh: h'(x) (G,).
        drift_z, diffusion_z: Itô's formula, f_z = h' f + 1/2 h'' g^2 and g_z = |h'| g, at z (G,).
        drift_naive: h' f alone (what forgetting the Itô term gives) (G,).
        z_grid: query points of the estimate (K,). drift_est, diffusion_est: binned Kramers-Moyal
            on the transformed paths z_t = h(x_t) (K,).
        kind, strength: the map.
    """

    x: np.ndarray
    z: np.ndarray
    dh: np.ndarray
    drift_z: np.ndarray
    diffusion_z: np.ndarray
    drift_naive: np.ndarray
    z_grid: np.ndarray
    drift_est: np.ndarray
    diffusion_est: np.ndarray
    kind: str
    strength: float


def coordinate_change_data(sde=None, *, kind: str = "tanh", strength: float = 1.0, n_paths: int = 50,
                           n_obs: int = 5000, dt: float = 0.002, seed: int = 0, grid_size: int = 100,
                           paths: Any = None) -> CoordinateChangeData:
    """Express a 1-D SDE in the coordinate z = h(x) and check Itô's formula against data.

    The theory uses :func:`fimcg.analysis.alignment.ito_transform`; the check simulates ``sde`` (or takes
    ``paths``), maps the paths through h and runs :func:`fimcg.binned_km` on them.

    Args:
        sde: a 1-D :class:`fimcg.SDE` (default the reference double well).
        kind: a key of :data:`WARPS`. strength: the map's parameter a >= 0 (0: the identity).
        n_paths, n_obs, dt, seed: the simulation (ignored when ``paths`` is given).
        grid_size: points of the theory grid, over the occupied region of the paths.
        paths: observed paths (n_paths, T, 1) of ``sde`` sampled every ``dt`` (skips the simulation).
    """
    from .._validation import check_int, check_paths, check_positive
    from ..analysis.alignment import WARPS, check_warp, ito_transform
    from ..estimators.classic import binned_km
    from ..analysis.metrics import occupied_grid
    from ..sde.systems import double_well, paths_from_wells

    sde = double_well() if sde is None else sde
    strength = check_warp(kind, strength)
    dt = check_positive(dt, name="dt")
    grid_size = check_int(grid_size, name="grid_size", minimum=2)
    if paths is None:
        paths = paths_from_wells(sde, n_paths=n_paths, n_obs=n_obs, dt=dt, seed=seed)
    p = check_paths(paths)
    if p.shape[-1] != 1:
        raise ValueError(f"coordinate_change_data needs 1-D paths, got d={p.shape[-1]}")
    x = occupied_grid(p, n=grid_size)[:, 0].double()
    with torch.no_grad():
        f = sde.drift(x[:, None])[:, 0].numpy()
        g = sde.diffusion(x[:, None])[:, 0].numpy()
    xs = x.numpy()
    warp = WARPS[kind]
    z, h1, h2 = warp(xs, strength)
    f_z, g_z = ito_transform(h1, h2, f, g)
    zp = torch.as_tensor(warp(p.double().numpy(), strength)[0])
    z_grid = occupied_grid(zp, n=grid_size // 2)
    f_est, g_est = binned_km(zp, dt, z_grid, n_bins=40)
    return CoordinateChangeData(x=xs, z=z, dh=h1, drift_z=f_z, diffusion_z=g_z, drift_naive=h1 * f,
                                z_grid=z_grid[:, 0].numpy(), drift_est=f_est[:, 0].numpy(),
                                diffusion_est=g_est[:, 0].numpy(), kind=kind, strength=strength)


def _coordinate_title(d: CoordinateChangeData) -> str:
    return f"z = h(x), {d.kind} warp of strength {d.strength:g}"


def coordinate_change_figure(data: CoordinateChangeData):
    """The map h (left), the drift (middle) and the diffusion (right) in the coordinate z.

    Trace order (fixed): h(x); f_z by Itô, h' f (no Itô term), binned KM on z; g_z by Itô, binned KM on z.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..app.figures import COLORS

    fig = make_subplots(rows=1, cols=3, column_widths=[0.26, 0.37, 0.37], horizontal_spacing=0.08,
                        subplot_titles=("the map z = h(x)", "drift in z", "diffusion in z"))
    fig.add_trace(go.Scatter(x=data.x, y=data.z, name="h(x)", showlegend=False, line=dict(color="#222222")),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=data.z, y=data.drift_z, name="Itô: h' f + ½ h'' g²", legendgroup="ito",
                             line=dict(color="#222222", width=3)), row=1, col=2)
    fig.add_trace(go.Scatter(x=data.z, y=data.drift_naive, name="h' f only (no Itô term)", legendgroup="naive",
                             line=dict(color=COLORS[3], dash="dash")), row=1, col=2)
    fig.add_trace(go.Scatter(x=data.z_grid, y=data.drift_est, name="estimated from z paths", legendgroup="est",
                             mode="markers", marker=dict(color=COLORS[0], size=5)), row=1, col=2)
    fig.add_trace(go.Scatter(x=data.z, y=data.diffusion_z, name="Itô: |h'| g", legendgroup="ito", showlegend=False,
                             line=dict(color="#222222", width=3)), row=1, col=3)
    fig.add_trace(go.Scatter(x=data.z_grid, y=data.diffusion_est, name="estimated from z paths", legendgroup="est",
                             showlegend=False, mode="markers", marker=dict(color=COLORS[0], size=5)), row=1, col=3)
    fig.update_xaxes(title_text="x", row=1, col=1)
    fig.update_xaxes(title_text="z", row=1, col=2)
    fig.update_xaxes(title_text="z", row=1, col=3)
    fig.update_layout(template="plotly_white", height=400, title=_coordinate_title(data),
                      margin=dict(l=50, r=20, t=70, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def update_coordinate_change_figure(fig, data: CoordinateChangeData) -> None:
    """Copy ``data`` into a figure made by :func:`coordinate_change_figure`, in place."""
    check_trace_count(fig, 6, source="coordinate_change_figure")
    set_traces(fig, [(data.x, data.z), (data.z, data.drift_z), (data.z, data.drift_naive),
                      (data.z_grid, data.drift_est), (data.z, data.diffusion_z), (data.z_grid, data.diffusion_est)],
                _coordinate_title(data))


def coordinate_change_explorer(sde=None, *, paths: Any = None, dt: float = 0.002):
    """A menu for the kind of monotone map and a slider for its strength, redrawing the drift and
    diffusion in the new coordinate (Itô's formula against an estimate from transformed paths).

    The callback is :func:`coordinate_change_data` + :func:`update_coordinate_change_figure`; the
    paths are simulated once (or given) and reused.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (``kind``, ``strength``), ``figure``
        (``go.FigureWidget``) and ``data`` (current :class:`CoordinateChangeData`).
    """
    import ipywidgets as w

    from ..sde.systems import double_well, paths_from_wells

    sde = double_well() if sde is None else sde
    if paths is None:
        paths = paths_from_wells(sde, n_paths=50, n_obs=5000, dt=dt, seed=0)
    controls = {
        "kind": w.Dropdown(options=list(WARPS), value="tanh", description="map"),
        "strength": w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="strength",
                                  continuous_update=False),
    }

    def compute() -> CoordinateChangeData:
        return coordinate_change_data(sde, paths=paths, dt=dt, kind=controls["kind"].value,
                                      strength=controls["strength"].value)

    return explorer(controls, compute, coordinate_change_figure, update_coordinate_change_figure,
                     [w.HBox(list(controls.values()))])


class LatentRecorder:
    """A ``callback`` for :func:`fimcg.coarse_graining.coarse_grain` that keeps snapshots of training.

    At every call it stores the step, the latent of the training frames against the true state
    (thinned to ``max_points``), and the drift and diffusion the frozen estimator gives on a grid
    over the latent's range.

    Args:
        true_x: the true state of every training frame, (n_paths, T) or (n_paths, T, 1).
        max_points: latent/true pairs kept per snapshot. grid_size: points of the coefficient grid.

    Attributes:
        snapshots: list of dicts with keys ``step``, ``x``, ``z`` (thinned pairs), ``grid``,
            ``drift``, ``diffusion`` (numpy arrays).
    """

    def __init__(self, true_x: Any, *, max_points: int = 2000, grid_size: int = 60) -> None:
        from .._validation import as_tensor, check_int

        x = to_numpy(as_tensor(true_x, name="true_x").reshape(-1), dtype=np.float64)
        self.max_points = check_int(max_points, name="max_points", minimum=10)
        self.grid_size = check_int(grid_size, name="grid_size", minimum=2)
        self._stride = max(1, x.size // self.max_points)
        self._x = x
        self.snapshots: list[dict] = []

    def __call__(self, step: int, result) -> None:
        z = to_numpy(result.latents.reshape(-1), dtype=np.float64)
        if z.size != self._x.size:
            raise ValueError(f"true_x holds {self._x.size} states but the result has {z.size} latent values")
        lo, hi = np.quantile(z, [0.02, 0.98])
        grid = torch.linspace(float(lo), float(hi), self.grid_size)[:, None]
        f, g = result.coefficients(grid)
        self.snapshots.append(dict(step=int(step), x=self._x[::self._stride], z=z[::self._stride],
                                   grid=grid[:, 0].numpy(), drift=to_numpy(f[:, 0], dtype=np.float64),
                                   diffusion=to_numpy(g[:, 0], dtype=np.float64)))


def _snapshot_figure(snap: dict):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..app.figures import COLORS

    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=("latent z vs true x", "drift in z", "diffusion in z"))
    fig.add_trace(go.Scatter(x=snap["x"], y=snap["z"], mode="markers", name="frames",
                             marker=dict(size=3, opacity=0.4, color=COLORS[0])), row=1, col=1)
    fig.add_trace(go.Scatter(x=snap["grid"], y=snap["drift"], name="f_z", line=dict(color=COLORS[1], width=2)),
                  row=1, col=2)
    fig.add_trace(go.Scatter(x=snap["grid"], y=snap["diffusion"], name="g_z", line=dict(color=COLORS[2], width=2)),
                  row=1, col=3)
    fig.update_xaxes(title_text="true x", row=1, col=1)
    fig.update_yaxes(title_text="latent z", row=1, col=1)
    fig.update_xaxes(title_text="z", row=1, col=2)
    fig.update_xaxes(title_text="z", row=1, col=3)
    fig.update_layout(template="plotly_white", height=380, showlegend=False, title=f"training step {snap['step']}",
                      margin=dict(l=50, r=20, t=70, b=40))
    return fig


def latent_training_figure(recorder: LatentRecorder):
    """The recorded snapshots as one figure with a slider over training steps (works on static pages)."""
    from ..app.figures import slider_figure

    if not recorder.snapshots:
        raise ValueError("the recorder holds no snapshots: pass it as callback= with eval_every > 0")
    figs = [_snapshot_figure(s) for s in recorder.snapshots]
    return slider_figure(figs, [str(s["step"]) for s in recorder.snapshots], prefix="training step ",
                         slider_y=-0.3)
