"""The coarse-graining stage of the main job: video -> latent SDE -> equations -> validation.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable
import torch
from ..sde.model import SDE
from ..coarse_graining.trainer import CheckpointMismatch
from ..coarse_graining.decoupled import coarse_grain


#: frames coarse-grained by the main job (a subset of paths of the rendered data set)
PIPELINE_FRAMES = 24_000


def equation_and_validation(values: torch.Tensor, coefficients: Callable, dt: float | None, *,
                            paths: torch.Tensor | None, seed: int = 0, name: str = "z") -> tuple[Any, Any, dict]:
    """A sparse polynomial SDE for estimated coefficients, and its validation against the data.

    The equation is fitted (:func:`~fimcg.analysis.discovery.discover_from_coefficients`) to
    ``coefficients(grid) -> (drift, diffusion)`` on 100 points between the 2nd and 98th percentile of
    ``values`` (N,) (every observed state), weighted by how often each is visited (d > 1: at 400
    observed states of ``values`` (N, d)); it is validated (:func:`~fimcg.analysis.validation.validate`:
    switching rate, first passages, stationary distribution; in d > 1 core switches and occupation)
    against ``paths`` (n_paths, T, d) observed every ``dt``; ``paths=None`` skips that.

    Returns:
        (equation, validation or None, JSON-ready {"equation", "coefficients", "validation"}).
    """
    from ..analysis.discovery import discover_from_coefficients
    from ..analysis.validation import validate

    from ..analysis.metrics import occupied_grid

    d = values.shape[-1] if values.ndim == 2 else 1
    if paths is not None and paths.shape[-1] != d:
        raise ValueError(f"values have d={d} but paths have d={paths.shape[-1]}")
    if d == 1:
        v = values.reshape(-1).float()
        grid = occupied_grid(v, n=100).float()
        f, g = coefficients(grid)
        hist = torch.histc(v, bins=100, min=float(grid[0]), max=float(grid[-1]))
        eq = discover_from_coefficients(grid, f, g, weights=hist + 1e-3 * hist.max(), names=(name,))
    else:  # d > 1: 400 observed states, evenly spaced through the data (they weigh the region by its visits)
        v = values.reshape(-1, d).float()
        grid = v[torch.linspace(0, v.shape[0] - 1, 400).long()]
        f, g = coefficients(grid)
        eq = discover_from_coefficients(grid, f, g, names=tuple(f"{name}{i + 1}" for i in range(d)))
    numbers: dict[str, Any] = {"equation": eq.equation(), "coefficients": eq.coefficients()}
    val = None
    if paths is None or dt is None:
        numbers["validation"] = {"skipped": "validation needs paths of equal length observed at a regular step"}
        return eq, val, numbers
    try:
        val = validate(eq, paths, dt, seed=seed)
        numbers["validation"] = val.as_dict()
    except (ValueError, RuntimeError) as exc:  # e.g. a discovered drift without two wells
        numbers["validation"] = {"skipped": str(exc)}
    return eq, val, numbers


def report_validation(rep: Any, val: Any, numbers: dict, *, name: str = "z") -> None:
    """The validation section of a report (``val`` and ``numbers`` from :func:`equation_and_validation`)."""
    if val is None:
        rep.text(f"Validation skipped: {numbers['validation'].get('skipped')}")
        return
    if hasattr(val, "occupation_tv"):  # d > 1: cores
        rep.text(f"Validation in {name} (the inferred SDE simulated vs the encoded data; cores: the stable fixed "
                 f"points of the inferred drift, radius {val.data.radius:.3g}):")
        rep.table([{"statistic": "core switches per unit time", "data": val.data.rate, "model": val.model.rate}]
                  + [{"statistic": f"occupation of core {k + 1}", "data": float(a), "model": float(b)}
                     for k, (a, b) in enumerate(zip(val.data.occupation, val.model.occupation))])
        rep.text(f"Total variation distance between the occupations: {val.occupation_tv:.3f}.")
        return
    rep.text(f"Validation in {name} (coordinate-free statistics, discovered SDE simulated vs the data):")
    rep.table([{"statistic": "well switches per unit time", "data": val.data.rate, "model": val.model.rate},
               {"statistic": "mean first passage time", "data": val.data.mfpt, "model": val.model.mfpt}])
    rep.text(f"Kolmogorov-Smirnov distance between the stationary distributions of data and model: {val.ks:.3f} "
             f"(hysteresis thresholds {val.data.thresholds[0]:.3g} / {val.data.thresholds[1]:.3g} in {name}, from "
             "the discovered drift's wells).")


def run_pipeline(paths: torch.Tensor, dt: float, sde: SDE | None = None, *, size: int = 32, blob_width: float = 1.5,
                 noise: float = 0.0, embedding: str = "line", x_range: Any = (-2.0, 2.0), seed: int = 0,
                 max_frames: int = PIPELINE_FRAMES, estimator: Any = None, steps: int = 20,
                 checkpoint: str | Path | None = None, progress: bool = True) -> dict:
    """Coarse-grain video of ``paths`` end to end and return numbers and objects for a report.

    Renders the paths (as many whole paths as fit in ``max_frames`` frames), runs
    :func:`coarse_grain` with the frozen FIM (or ``estimator``), aligns the latent to the truth
    (when ``sde`` is given), discovers sparse equations in the latent and in x, and validates the
    latent equation against the encoded data by switching statistics and the stationary distribution.

    Args:
        paths: true states (n_paths, T, d) observed every ``dt`` (the frame step); d = 1 or 2 (the
            latent has the dimension of the true state).
        sde: the true system, for the comparison (optional).
        size, blob_width, noise, embedding, x_range, seed: rendering (see :func:`fimcg.render_video`).

    Returns:
        dict with ``result`` (:class:`CoarseGrainResult`), ``numbers`` (JSON-ready), ``comparison``
        (or None), ``equation_latent``, ``equation_x`` (:class:`fimcg.analysis.discovery.PolynomialSDE` or None),
        ``validation``, ``x`` (the true states used) and ``frames_first`` (frames of the first path).
    """
    from ..analysis.alignment import compare_to_truth
    from ..analysis.alignment_nd import compare_to_truth_nd
    from ..analysis.discovery import discover_from_coefficients
    from ..video import render_video

    n_paths, length, d = paths.shape
    use = max(1, min(n_paths, max_frames // length))
    x = paths[:use]
    frames = render_video(x, size=size, blob_width=blob_width, noise=noise, embedding=embedding, x_range=x_range,
                          seed=seed + 7)
    t0 = time.perf_counter()
    try:  # an existing checkpoint of the same run is continued (or reused when finished)
        res = coarse_grain(frames, dt, latent_dim=d, estimator=estimator, steps=steps, seed=seed,
                           checkpoint=checkpoint, progress=progress)
    except CheckpointMismatch:  # left by a run on other data or options: start over
        res = coarse_grain(frames, dt, latent_dim=d, estimator=estimator, steps=steps, seed=seed,
                           checkpoint=checkpoint, resume=False, progress=progress)
    cg_seconds = time.perf_counter() - t0
    prec = res.precision()
    numbers: dict[str, Any] = {
        "n_paths": int(use), "frames_per_path": int(length), "n_frames": int(use * length), "dt": dt,
        "estimator": res.config["estimator"], "steps": steps, "seconds": cg_seconds,
        "init_seconds": res.config["init"]["time_s"], "final_reconstruction": res.history[-1]["rec"] if res.history
        else None, "noise_std_latent": prec["noise_std"][0] if d == 1 else prec["noise_std"],
        "g2_inflation_rel": prec["g2_inflation_rel"][0] if d == 1 else prec["g2_inflation_rel"]}
    comparison = None
    if sde is not None and d == 1:
        comparison = compare_to_truth(res.latents, x, res.coefficients, sde)
        numbers.update({"latent_r2": comparison.r2, "precision_x": comparison.alignment.residual_std,
                        "g2_inflation_from_precision": 2 * comparison.alignment.residual_std ** 2 / dt,
                        "drift_rel_rmse": comparison.drift_rel, "diffusion_rel_rmse": comparison.diffusion_rel})
    elif sde is not None:
        comparison = compare_to_truth_nd(res.latents, x, res.coefficients, sde)
        numbers.update({"latent_r2": comparison.r2, "latent_r2_per_coordinate": comparison.alignment.r2.tolist(),
                        "inverse_r2": comparison.alignment.inverse_r2.tolist(),
                        "precision_x": comparison.alignment.residual_std.tolist(),
                        "drift_rel_rmse": comparison.drift_rel, "diffusion_rel_rmse": comparison.diffusion_rel,
                        "off_diagonal_noise": comparison.off_diagonal})
    # equations: in the latent (what a user without ground truth gets) and, with the truth, in x
    eq_z, val, found = equation_and_validation(res.latents.reshape(-1, d), res.coefficients, dt,
                                               paths=res.latents, seed=seed)
    numbers["equation_latent"] = found["equation"]
    numbers["coefficients_latent"] = found["coefficients"]
    eq_x = None
    if comparison is not None and d == 1:
        xs = torch.as_tensor(comparison.grid)[:, None]
        eq_x = discover_from_coefficients(xs, torch.as_tensor(comparison.drift)[:, None],
                                          torch.as_tensor(comparison.diffusion)[:, None])
    elif comparison is not None:
        diag = torch.as_tensor(comparison.covariance).diagonal(dim1=-2, dim2=-1).clamp_min(0).sqrt()
        eq_x = discover_from_coefficients(torch.as_tensor(comparison.points), torch.as_tensor(comparison.drift),
                                          diag, names=tuple(f"x{i + 1}" for i in range(d)))
    if eq_x is not None:
        numbers["equation_x"] = eq_x.equation()
        numbers["coefficients_x"] = eq_x.coefficients()
    numbers["validation"] = found["validation"]
    return {"result": res, "numbers": numbers, "comparison": comparison, "equation_latent": eq_z,
            "equation_x": eq_x, "validation": val, "x": x, "frames_first": frames[0]}


def pipeline_stage(ctx: Any) -> None:
    """The coarse-graining stage of ``fimcg run`` (see :mod:`fimcg.app.main_job`): needs the ``render``
    stage's ``frame_paths``/``dt_frames``; adds ``results["coarse_grain"]`` and report sections."""
    from . import figures

    c = ctx.config
    rep = ctx.report
    rep.heading("Coarse-graining with the FIM")
    try:
        from ..fim.weights import load_fim
        fim = load_fim()
    except (FileNotFoundError, RuntimeError) as exc:
        rep.text(f"Skipped: the pretrained FIM could not be loaded ({exc}).")
        ctx.results["coarse_grain"] = {"skipped": str(exc)}
        return
    out = run_pipeline(ctx.data["frame_paths"], ctx.data["dt_frames"], ctx.data.get("sde"), size=c.size,
                       blob_width=c.blob_width, noise=c.noise, embedding=c.embedding,
                       x_range=ctx.results.get("video", {}).get("x_range", (-2.0, 2.0)), seed=c.seed, estimator=fim,
                       checkpoint=Path(ctx.out) / "coarse_grain_checkpoint.safetensors", progress=ctx.progress)
    n = out["numbers"]
    ctx.results["coarse_grain"] = n
    res, cmp = out["result"], out["comparison"]
    if res.latent_dim > 1:
        return _report_2d(ctx, out)
    rep.text(f"An encoder (PCA features + MLP, initialised by Isomap) maps each frame to a 1-D latent z; the "
             f"frozen FIM infers dz = f(z) dt + g(z) dW from the encoded paths, and {n['steps']} steps refine the "
             f"encoder with reconstruction + the Euler-Maruyama likelihood of the observed frame increments under "
             f"the FIM's SDE (see fimcg.coarse_grain). "
             f"{n['n_frames']} frames ({n['n_paths']} paths x {n['frames_per_path']}), {n['seconds']:.1f} s "
             f"(initialisation {n['init_seconds']:.1f} s).")
    rows = [{"quantity": "latent R² (monotone fit to x)", "value": n.get("latent_r2", float("nan"))},
            {"quantity": "encoder precision (x units)", "value": n.get("precision_x", float("nan"))},
            {"quantity": "implied g² inflation 2s²/dt", "value": n.get("g2_inflation_from_precision", float("nan"))},
            {"quantity": "latent noise from increments (z units)", "value": n["noise_std_latent"]},
            {"quantity": "drift relative RMSE (aligned)", "value": n.get("drift_rel_rmse", float("nan"))},
            {"quantity": "diffusion relative RMSE (aligned)", "value": n.get("diffusion_rel_rmse", float("nan"))}]
    rep.table(rows)
    if res.history:
        rep.figure(figures.history_figure(res.history, keys=["rec", "sim"], title="training loss terms"))
    if cmp is not None:
        rep.figure(figures.latent_scatter_figure(out["x"], torch.as_tensor(cmp.alignment(res.latents.reshape(-1))),
                                                 title="learned latent h(z) vs true x"))
        grid = torch.as_tensor(cmp.grid)[:, None]
        est = {"FIM on learned latent (aligned)": (torch.as_tensor(cmp.drift)[:, None],
                                                   torch.as_tensor(cmp.diffusion)[:, None])}
        if out["equation_x"] is not None:
            eq = out["equation_x"]
            est["discovered equation"] = (eq.drift(grid.double()), eq.diffusion(grid.double()))
        rep.figure(figures.drift_diffusion_figure(grid, est, sde=ctx.data.get("sde"),
                                                  title="drift and diffusion from video vs truth"))
    _report_equations(ctx, out)


def _report_2d(ctx: Any, out: dict) -> None:
    """The report section of a 2-D coarse-graining (see :func:`pipeline_stage`)."""
    from . import figures
    from .main_job import field_grid

    rep, n, res, cmp = ctx.report, out["numbers"], out["result"], out["comparison"]
    rep.text(f"An encoder (PCA features + MLP, initialised by Isomap) maps each frame to a 2-D latent z = (z1, z2); "
             f"the frozen FIM (its 2-D weights) infers dz = f(z) dt + g(z) dW with diagonal g from the encoded paths, "
             f"and {n['steps']} steps refine the encoder (see fimcg.coarse_grain). {n['n_frames']} frames "
             f"({n['n_paths']} paths x {n['frames_per_path']}), {n['seconds']:.1f} s (initialisation "
             f"{n['init_seconds']:.1f} s).")
    if cmp is not None:
        rep.table([{"quantity": "R² of x from z (per coordinate)", "value": str([round(v, 4) for v in
                                                                               n["latent_r2_per_coordinate"]])},
                   {"quantity": "R² of z from x (invertibility)", "value": str([round(v, 4) for v in n["inverse_r2"]])},
                   {"quantity": "drift relative RMSE (aligned, Itô)", "value": n["drift_rel_rmse"]},
                   {"quantity": "diffusion relative RMSE (aligned, diagonal)", "value": n["diffusion_rel_rmse"]},
                   {"quantity": "off-diagonal share of the moved noise", "value": n["off_diagonal_noise"]}])
        rep.text("The latent is compared with the truth through a polynomial map x = h(z) fitted by least squares "
                 "(fimcg.analysis.alignment_nd); drift and noise move to x by Itô's formula. A diagonal-diffusion "
                 "latent SDE moves to the noise covariance J diag(g²) Jᵀ, which is not diagonal when the map mixes "
                 "the coordinates: the table's off-diagonal share says how much of it the diagonal truth lacks.")
        rep.figure(figures.latent_vs_truth_2d_figure(out["x"], res.latents, title="learned latent over the true (x, y)"))
    gz, gw, pts = field_grid(res.latents)
    with torch.no_grad():
        f, _ = res.coefficients(pts)
    rep.figure(figures.vector_field_figure(gz, gw, f.reshape(len(gw), len(gz), 2), paths=res.latents,
                                           title="the FIM's drift in the learned latent (z1, z2)"))
    _report_equations(ctx, out)


def _report_equations(ctx: Any, out: dict) -> None:
    """The discovered equations (in z and, with the truth, in x) and the validation, for both reports."""
    rep, n = ctx.report, out["numbers"]
    rep.heading("Discovered equations")
    rep.text("In the learned latent z: " + n["equation_latent"].replace("\n", ";  "))
    if "equation_x" in n:
        rep.text("Moved to x by the alignment and Itô's formula: " + n["equation_x"].replace("\n", ";  ")
                 + f"  (truth, the simulated {ctx.data['sde'].name}: {ctx.data['sde'].describe()})")
    report_validation(rep, out["validation"], n)
