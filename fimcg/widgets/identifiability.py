"""Notebook 10: identifiability, or why coarse-graining scores the frames and not the latent steps.

The pure function :func:`identifiability_data` distorts the true coordinate ``x`` of a recording by a
monotone map ``z = h_a(x)`` (:data:`fimcg.analysis.alignment.WARPS`), standardises it as the anchoring
of :func:`fimcg.coarse_grain` does (:class:`~fimcg.coarse_graining.autoencoder.LatentNorm`), and scores
it with the two likelihoods of :mod:`fimcg.coarse_graining.losses`:

* :func:`~fimcg.coarse_graining.losses.latent_nll`, the Euler-Maruyama NLL of the latent steps
  ``Δz``; a change of variables shifts it by the mean log slope ``E log |dz/dx̃|`` (``x̃`` the
  standardised ``x``), so a "sticky" latent, flat where the data are, lowers it;
* :func:`~fimcg.coarse_graining.losses.frame_nll`, the NLL of the observed frame increments pushed
  through the Jacobian of a spline decoder (:class:`~fimcg.coarse_graining.autoencoder.SplineDecoder`
  fitted from ``z`` to the frames' PCA features), with its log-volume term; the slope cancels
  between the latent step the frames imply and the log volume, so it does not depend on ``a``
  beyond the error of the Euler step and of the SDE itself.

Both are computed under the SDE the frozen estimator (the FIM) reads off the latent paths, and under
the exact SDE: the true system moved to ``z`` by Itô's formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .base import check_trace_count, explorer, slider_over

__all__ = ["IdentifiabilityData", "identifiability_data", "identifiability_figure", "update_identifiability_figure",
           "identifiability_slider_figure", "identifiability_sweep_figure", "identifiability_explorer",
           "frame_features"]

#: points of the x-grid the map and the diffusions are drawn on
GRID_SIZE = 60
#: fine x-grid used to invert the standardised map for the exact SDE
_INVERSE_POINTS = 4001
#: bar labels of the two likelihoods
LIKELIHOODS = ("latent steps Δz", "frames")


@dataclass(frozen=True)
class IdentifiabilityData:
    """One distorted coordinate of a recording, scored by the two likelihoods of coarse-graining.

    All NLLs are means over the same transitions, in nats per transition; the "shift" properties
    subtract the undistorted coordinate's values (``reference_nll``).

    Attributes:
        kind, strength: the distortion ``z = h_a(x)`` before standardising (a key of
            :data:`fimcg.analysis.alignment.WARPS`, ``a >= 0``; ``a = 0`` is the identity).
        x: grid over the occupied region of the true coordinate (G,).
        z_of_x: the standardised latent at ``x`` (G,). identity_of_x: the standardised ``x`` itself,
            the undistorted latent (G,).
        diffusion: the estimator's ĝ read off the latent paths, at ``z_of_x`` (G,).
        reference_diffusion: the estimator's ĝ read off the undistorted latent, at ``identity_of_x`` (G,).
        latent_nll, frame_nll: the two NLLs under the estimator's SDE.
        exact_latent_nll, exact_frame_nll: the same under the exact SDE (the true one, by Itô's formula).
        log_jacobian: ``E log |dz/dx̃|`` over the transitions' starting points, what a change of
            variables predicts for the shift of the latent-step NLL.
        reference_nll: (latent, frame, exact latent, exact frame) NLLs of the undistorted coordinate.
        decoder_residual: relative residual of the spline decoder's least-squares fit.
        settings: dt, n_paths, T, n_features (PCA components), n_knots (decoder), transitions scored.
    """

    kind: str
    strength: float
    x: np.ndarray
    z_of_x: np.ndarray
    identity_of_x: np.ndarray
    diffusion: np.ndarray
    reference_diffusion: np.ndarray
    latent_nll: float
    frame_nll: float
    exact_latent_nll: float
    exact_frame_nll: float
    log_jacobian: float
    reference_nll: tuple[float, float, float, float]
    decoder_residual: float
    settings: dict

    @property
    def latent_shift(self) -> float:
        """Latent-step NLL (estimator's SDE) minus the undistorted coordinate's."""
        return self.latent_nll - self.reference_nll[0]

    @property
    def frame_shift(self) -> float:
        """Frame NLL (estimator's SDE) minus the undistorted coordinate's."""
        return self.frame_nll - self.reference_nll[1]

    @property
    def exact_latent_shift(self) -> float:
        """Latent-step NLL (exact SDE) minus the undistorted coordinate's."""
        return self.exact_latent_nll - self.reference_nll[2]

    @property
    def exact_frame_shift(self) -> float:
        """Frame NLL (exact SDE) minus the undistorted coordinate's."""
        return self.exact_frame_nll - self.reference_nll[3]


def frame_features(frames: Any, *, n_components: int = 16, seed: int = 0) -> tuple[Any, torch.Tensor]:
    """Fit :class:`~fimcg.coarse_graining.autoencoder.FramePCA` to frames (n_paths, T, H, W).

    Returns:
        ``(pca, feats)``: the fitted projection and the scaled PCA features of every frame,
        float32 tensor (n_paths, T, n_components).
    """
    from .._validation import as_tensor, check_int
    from ..coarse_graining.autoencoder import FramePCA

    f = as_tensor(frames, name="frames", dtype=torch.float32)
    if f.ndim != 4:
        raise ValueError(f"frames must have shape (n_paths, T, H, W), got {tuple(f.shape)}")
    n_components = check_int(n_components, name="n_components", minimum=1)
    n_paths, length = f.shape[:2]
    flat = f.reshape(n_paths * length, -1)
    pca = FramePCA(tuple(f.shape[2:]), n_components).fit(flat, seed=int(seed))
    with torch.no_grad():
        return pca, pca.project(flat).reshape(n_paths, length, n_components)


def _standardise(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Standardise with coarse_grain's anchoring (LatentNorm over all frames); returns (z, mean, std)."""
    from ..coarse_graining.autoencoder import LatentNorm

    norm = LatentNorm(1)
    with torch.no_grad():
        z = norm(torch.as_tensor(values[..., None], dtype=torch.float64))[..., 0].numpy()
    return z, float(norm.mean[0]), float(norm.std[0]) + norm.eps


def _exact_estimator(sde, kind: str, strength: float, mean: float, std: float, x_range: tuple[float, float]):
    """``(paths, dt, locations) -> (f_z, g_z)``: the true SDE moved to the standardised z by Itô's formula."""
    from ..analysis.alignment import WARPS, ito_transform

    xs = np.linspace(x_range[0], x_range[1], _INVERSE_POINTS)
    zs = (WARPS[kind](xs, strength)[0] - mean) / std

    def estimate(paths, dt, locations):
        loc = locations.detach()
        x = np.interp(loc[:, 0].double().cpu().numpy(), zs, xs)
        _, h1, h2 = WARPS[kind](x, strength)
        with torch.no_grad():
            f = sde.drift(torch.as_tensor(x[:, None]))[:, 0].double().numpy()
            g = sde.diffusion(torch.as_tensor(x[:, None]))[:, 0].double().numpy()
        f_z, g_z = ito_transform(h1 / std, h2 / std, f, g)
        return (torch.as_tensor(f_z, dtype=loc.dtype)[:, None], torch.as_tensor(g_z, dtype=loc.dtype)[:, None])

    return estimate


def _scores(z: np.ndarray, feats: torch.Tensor, dt: float, pca, estimators: Sequence[Callable],
            n_knots: int) -> tuple[list[float], float]:
    """The latent-step and frame NLLs of latent paths ``z`` (n_paths, T) under each estimator, on the
    same transitions, and the decoder's fit residual."""
    from ..coarse_graining.autoencoder import SplineDecoder
    from ..coarse_graining.losses import frame_nll, latent_nll
    from ..coarse_graining.options import LikelihoodConfig

    n_paths, length = z.shape
    zt = torch.as_tensor(z[..., None], dtype=torch.float32)
    flat = feats.reshape(n_paths * length, -1)
    all_steps, context = n_paths * (length - 1), LikelihoodConfig().context_size
    out = []
    with torch.no_grad():
        dec = SplineDecoder(pca, 1, n_knots=n_knots)
        residual = dec.fit(zt.reshape(-1, 1), flat)
        for est in estimators:  # the same seed: the same transitions for every likelihood
            out.append(float(latent_nll(zt, dt, est, torch.Generator().manual_seed(0), all_steps, context)))
            out.append(float(frame_nll(zt, flat, dt, est, dec, torch.Generator().manual_seed(0), all_steps, context)))
    return out, residual


def identifiability_data(paths: Any, frames: Any, dt: float, *, kind: str = "tanh", strength: float = 1.0,
                         sde: Any = None, estimator: Callable | None = None, pca: Any = None,
                         reference: IdentifiabilityData | None = None, n_knots: int = 48) -> IdentifiabilityData:
    """Distort the true coordinate of a recording and score it with both likelihoods (module doc).

    The latent is ``z = LatentNorm(h_a(x))`` with ``h_a = WARPS[kind](·, strength)``; the decoder is a
    :class:`~fimcg.coarse_graining.autoencoder.SplineDecoder` fitted from ``z`` to the frames' PCA
    features; both NLLs use every transition (at most ``LikelihoodConfig().context_size``, whole
    paths, as in coarse_grain).

    Args:
        paths: the true coordinate of every frame, (n_paths, T), (n_paths, T, 1); T >= 10.
        frames: the frames, (n_paths, T, H, W).
        dt: time between frames (> 0).
        kind: a key of :data:`fimcg.analysis.alignment.WARPS`. strength: the map's parameter, finite, >= 0.
        sde: the 1-D system that generated ``paths`` (default the reference double well), for the exact NLLs.
        estimator: ``(paths, dt, locations) -> (drift, diffusion)``; default :func:`fimcg.load_fim`
            (pass it in to load the weights once).
        pca: a fitted :class:`~fimcg.coarse_graining.autoencoder.FramePCA` of these frames (default:
            :func:`frame_features` with 16 components; pass it in to fit it once).
        reference: this function's result for the undistorted coordinate (strength 0) on the same
            data; default computed here (strength 0 is its own reference).
        n_knots: intervals of the spline decoder (>= 4).

    Raises:
        ValueError: an unknown kind, a negative or non-finite strength, a map that is numerically flat
            on the data, mismatched paths and frames, a reference of other data or not of strength 0.
    """
    from .._validation import as_tensor, check_int, check_paths, check_positive
    from ..analysis.alignment import WARPS, check_warp
    from ..analysis.metrics import occupied_grid
    from ..coarse_graining.options import LikelihoodConfig
    from ..sde.systems import double_well

    strength = check_warp(kind, strength)
    dt = check_positive(dt, name="dt")
    n_knots = check_int(n_knots, name="n_knots", minimum=4)
    p = check_paths(paths, min_length=10)
    if p.shape[-1] != 1:
        raise ValueError(f"identifiability_data needs 1-D paths, got d={p.shape[-1]}")
    fr = as_tensor(frames, name="frames", dtype=torch.float32)
    if fr.ndim != 4 or tuple(fr.shape[:2]) != tuple(p.shape[:2]):
        raise ValueError(f"frames must have shape (n_paths, T, H, W) = ({p.shape[0]}, {p.shape[1]}, H, W) like "
                         f"paths; got {tuple(fr.shape)}")
    n_paths, length = p.shape[:2]
    settings = dict(dt=dt, n_paths=n_paths, T=length, n_knots=n_knots)
    if reference is not None:
        if reference.strength != 0:
            raise ValueError(f"reference must be the undistorted coordinate (strength 0), got strength "
                             f"{reference.strength:g}")
        theirs = {k: reference.settings.get(k) for k in settings}
        if theirs != settings:
            raise ValueError(f"reference was computed on other data or settings: {theirs} vs {settings}")
    sde = double_well() if sde is None else sde
    if estimator is None:
        from ..fim import load_fim

        estimator = load_fim()
    if pca is None:
        pca, feats = frame_features(fr)
    else:
        with torch.no_grad():
            feats = pca.project(pca.flatten(fr)).reshape(n_paths, length, -1)

    x = p[..., 0].double().numpy()
    h, h1, _ = WARPS[kind](x, strength)
    if not np.all(np.isfinite(h)) or h1.min() <= 1e-6 * h1.max():
        raise ValueError(f"the {kind} map of strength {strength:g} is numerically flat on the data; "
                         "choose a smaller strength")
    z, mean, std = _standardise(h)
    _, x_mean, x_std = _standardise(x)
    log_jacobian = float(np.mean(np.log(h1[:, :-1] * x_std / std)))  # dz/dx̃ = h'(x) std(x) / std(h)
    exact = _exact_estimator(sde, kind, strength, mean, std, (float(x.min()) - 1e-3, float(x.max()) + 1e-3))
    nll, residual = _scores(z, feats, dt, pca, (estimator, exact), n_knots)

    grid = occupied_grid(p, n=GRID_SIZE)[:, 0].double().numpy()
    z_of_x = (WARPS[kind](grid, strength)[0] - mean) / std
    with torch.no_grad():
        _, g_hat = estimator(torch.as_tensor(z[..., None], dtype=torch.float32), dt,
                             torch.as_tensor(z_of_x[:, None], dtype=torch.float32))
    diffusion = g_hat[:, 0].double().numpy()
    per = max(1, LikelihoodConfig().context_size // (length - 1))
    settings.update(n_features=int(pca.n_components), transitions=min(n_paths, per) * (length - 1))
    if reference is None and strength > 0:
        reference = identifiability_data(p, fr, dt, kind=kind, strength=0.0, sde=sde, estimator=estimator, pca=pca,
                                          n_knots=n_knots)
    if reference is None:  # strength 0: its own reference
        ref_nll, ref_diffusion = tuple(nll), diffusion
    else:
        ref_nll = (reference.latent_nll, reference.frame_nll, reference.exact_latent_nll, reference.exact_frame_nll)
        ref_diffusion = reference.diffusion
    return IdentifiabilityData(
        kind=kind, strength=strength, x=grid, z_of_x=z_of_x, identity_of_x=(grid - x_mean) / x_std,
        diffusion=diffusion, reference_diffusion=np.asarray(ref_diffusion), latent_nll=nll[0], frame_nll=nll[1],
        exact_latent_nll=nll[2], exact_frame_nll=nll[3], log_jacobian=log_jacobian,
        reference_nll=tuple(float(v) for v in ref_nll), decoder_residual=float(residual), settings=settings)


def _identifiability_title(d: IdentifiabilityData) -> str:
    return (f"z = {d.kind} map of strength {d.strength:g}, standardised: NLL change from the undistorted x "
            f"(FIM's SDE)<br>latent steps {d.latent_shift:+.2f}, frames {d.frame_shift:+.2f} nats per transition; "
            f"change of variables predicts {d.log_jacobian:+.2f} for the latent steps")


def _bars(d: IdentifiabilityData) -> tuple[list[float], list[float]]:
    return [d.latent_shift, d.frame_shift], [d.exact_latent_shift, d.exact_frame_shift]


def identifiability_figure(data: IdentifiabilityData):
    """The latent against the true coordinate (left), the diffusion the estimator reads off it (middle),
    and how much each likelihood changed from the undistorted coordinate (right, nats per transition).

    Trace order (fixed): ``Scatter`` "undistorted (x standardised)", ``Scatter`` "latent z" (left);
    ``Scatter`` "ĝ, undistorted", ``Scatter`` "ĝ of z" (middle); ``Bar`` "FIM's SDE", ``Bar``
    "exact SDE (Itô)", ``Scatter`` "E log|dz/dx̃|" (right). Returns a :class:`plotly.graph_objects.Figure`.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..app.figures import COLORS

    fig = make_subplots(rows=1, cols=3, column_widths=[0.3, 0.3, 0.4], horizontal_spacing=0.08,
                        subplot_titles=("the latent z(x), standardised", "diffusion ĝ read off the latent",
                                        "NLL change from undistorted"))
    grey = dict(color="#999999", dash="dash")
    fig.add_trace(go.Scatter(x=data.x, y=data.identity_of_x, name="undistorted (x standardised)", line=grey,
                             legendgroup="identity"), row=1, col=1)
    fig.add_trace(go.Scatter(x=data.x, y=data.z_of_x, name="latent z", line=dict(color=COLORS[0], width=3),
                             legendgroup="z"), row=1, col=1)
    fig.add_trace(go.Scatter(x=data.x, y=data.reference_diffusion, name="ĝ, undistorted", line=grey,
                             legendgroup="identity", showlegend=False), row=1, col=2)
    fig.add_trace(go.Scatter(x=data.x, y=data.diffusion, name="ĝ of z", line=dict(color=COLORS[0], width=3),
                             legendgroup="z", showlegend=False), row=1, col=2)
    fim, exact = _bars(data)
    fig.add_trace(go.Bar(x=list(LIKELIHOODS), y=fim, name="FIM's SDE", marker_color=COLORS[3]), row=1, col=3)
    fig.add_trace(go.Bar(x=list(LIKELIHOODS), y=exact, name="exact SDE (Itô)", marker_color=COLORS[2]), row=1, col=3)
    fig.add_trace(go.Scatter(x=[LIKELIHOODS[0]], y=[data.log_jacobian], mode="markers", name="E log|dz/dx̃|",
                             marker=dict(symbol="diamond", size=12, color="black")), row=1, col=3)
    fig.update_xaxes(title_text="true x", row=1, col=1)
    fig.update_xaxes(title_text="true x", row=1, col=2)
    fig.update_yaxes(title_text="nats per transition", row=1, col=3)
    fig.update_layout(template="plotly_white", height=430, barmode="group",
                      title=dict(text=_identifiability_title(data), font=dict(size=13)),
                      margin=dict(l=50, r=20, t=90, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def update_identifiability_figure(fig, data: IdentifiabilityData) -> None:
    """Copy ``data`` into a figure made by :func:`identifiability_figure` (Figure or FigureWidget), in place."""
    check_trace_count(fig, 7, source="identifiability_figure")
    fim, exact = _bars(data)
    with fig.batch_update():
        fig.data[0].update(x=data.x, y=data.identity_of_x)
        fig.data[1].update(x=data.x, y=data.z_of_x)
        fig.data[2].update(x=data.x, y=data.reference_diffusion)
        fig.data[3].update(x=data.x, y=data.diffusion)
        fig.data[4].update(y=fim)
        fig.data[5].update(y=exact)
        fig.data[6].update(y=[data.log_jacobian])
        fig.layout.title.text = _identifiability_title(data)


def identifiability_slider_figure(datas: Sequence[IdentifiabilityData], labels: Sequence[str], *,
                                  slider_title: str = ""):
    """Static-page stand-in for :func:`identifiability_explorer`: a plotly slider over precomputed
    :func:`identifiability_data`."""
    return slider_over(identifiability_figure, datas, labels, slider_title=slider_title, slider_y=-0.3)


def identifiability_sweep_figure(datas: Sequence[IdentifiabilityData], *, title: str | None = None):
    """NLL change from the undistorted coordinate against the strength of one kind of map.

    Args:
        datas: :func:`identifiability_data` of one ``kind`` at several strengths (any order).

    Returns:
        A figure with five ``Scatter`` traces against the strength: "latent steps, FIM", "frames, FIM",
        "latent steps, exact", "frames, exact" and "E log|dz/dx̃|" (the change of variables).
    """
    import plotly.graph_objects as go

    from ..app.figures import COLORS

    datas = sorted(datas, key=lambda d: d.strength)
    kinds = {d.kind for d in datas}
    if not datas or len(kinds) != 1:
        raise ValueError(f"datas must be non-empty and of one kind of map, got kinds {sorted(kinds)}")
    a = [d.strength for d in datas]
    fig = go.Figure()
    for name, values, color, dash in (
            ("latent steps, FIM", [d.latent_shift for d in datas], COLORS[3], None),
            ("frames, FIM", [d.frame_shift for d in datas], COLORS[0], None),
            ("latent steps, exact", [d.exact_latent_shift for d in datas], COLORS[3], "dash"),
            ("frames, exact", [d.exact_frame_shift for d in datas], COLORS[0], "dash"),
            ("E log|dz/dx̃|", [d.log_jacobian for d in datas], "#222222", "dot")):
        fig.add_trace(go.Scatter(x=a, y=values, mode="lines+markers", name=name, line=dict(color=color, dash=dash)))
    fig.update_layout(template="plotly_white", height=380, xaxis_title=f"strength a of the {datas[0].kind} map",
                      yaxis_title="NLL change, nats per transition",
                      title=title or f"{datas[0].kind} maps: which likelihood a distorted latent can lower",
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig


def identifiability_explorer(paths: Any, frames: Any, dt: float, *, sde: Any = None,
                             estimator: Callable | None = None, n_components: int = 16) -> Any:
    """A menu for the kind of monotone map and a slider for its strength, redrawing the latent, the
    diffusion the estimator reads off it and the change of both likelihoods (about a second per change).

    The callback is :func:`identifiability_data` + :func:`update_identifiability_figure`; the PCA of
    the frames (:func:`frame_features`), the estimator (default :func:`fimcg.load_fim`) and the
    undistorted reference are computed once.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (``kind``, ``strength``), ``figure``
        (``go.FigureWidget``), ``data`` (current :class:`IdentifiabilityData`) and ``status`` (a label
        that reports an invalid setting).
    """
    import ipywidgets as w

    from ..analysis.alignment import WARPS

    if estimator is None:
        from ..fim import load_fim

        estimator = load_fim()
    pca, _ = frame_features(frames, n_components=n_components)
    reference = identifiability_data(paths, frames, dt, strength=0.0, sde=sde, estimator=estimator, pca=pca)
    controls = {
        "kind": w.Dropdown(options=list(WARPS), value="tanh", description="map"),
        "strength": w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.25, description="strength",
                                  continuous_update=False),
    }
    status = w.Label("")

    def compute() -> IdentifiabilityData:
        return identifiability_data(paths, frames, dt, kind=controls["kind"].value, strength=controls["strength"].value,
                                    sde=sde, estimator=estimator, pca=pca, reference=reference)

    return explorer(controls, compute, identifiability_figure, update_identifiability_figure,
                    [w.HBox([*controls.values(), status])], status=status)
