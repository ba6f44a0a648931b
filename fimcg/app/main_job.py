"""The main job (``fimcg run``) and the self-contained HTML report it writes.

The job is a list of stages (:data:`STAGES`), each a function of a shared :class:`RunContext`:
it reads what earlier stages left in ``ctx.data``, adds numbers to ``ctx.results`` (written to
``results.json``) and sections to ``ctx.report`` (written to ``report.html``). Later parts of the
package extend the job by adding stages (see :func:`add_stage`) and command-line options (see
``fimcg.app.cli``) without touching the existing ones.

Stages of the core job:

1. ``simulate``: the reference system (or ``--system``) from ``x0 ~ N(0, 0.5^2)``;
2. ``render``: the paths as video (every ``frame_every``-th observation), and the blob-centroid
   coordinate recovered from the frames by inverting the embedding geometry;
3. ``estimate``: binned Kramers-Moyal, local-linear and least squares (true polynomial class) on
   the true latent (at dt and at the frame step) and on the centroid coordinate (2-D systems: the
   same and the FIM, at the frame step, scored at observed states);
4. ``figures``: paths, histogram vs stationary density, video, latent recovery, drift/diffusion.

The report embeds plotly.js once in its head, so it opens offline.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable
import torch
from tqdm.auto import tqdm
from .. import estimators as est
from . import figures
from ..analysis import metrics
from ..analysis.validation import switching_statistics
from ..sde import systems
from .._validation import check_int, check_positive
from ..io.checkpoint import atomic_write_json
from ..sde.simulate import simulate
from ..video import EMBEDDINGS, camera_range, frame_centroids, pixel_to_latent, render_video
from .report import Report, environment, output_folder


@dataclass
class RunConfig:
    """Settings of the main job; every field is a ``fimcg run`` option.

    Defaults: the reference double well, 100 paths of T = 10 time units at dt = 0.002 (the FIM
    evaluation setting), video frames every 5 observations (frame step 0.01), 32x32 pixels.
    A 2-D ``system`` (``double_well_2d``, ``mueller_brown``, ``rotating_ring``) runs the same job in
    the plane: the particle moves in both image directions and the latent is 2-D.
    """

    system: str = "double_well"
    n_paths: int = 100
    n_steps: int = 5000
    dt: float = 0.002
    seed: int = 0
    size: int = 32
    blob_width: float = 1.5
    noise: float = 0.02
    embedding: str = "line"
    frame_every: int = 5
    n_bins: int = 30
    grid_points: int = 100

    def validate(self) -> "RunConfig":
        """Check every field; raise ``ValueError``/``TypeError`` naming the bad one."""
        dim = systems.get_system(self.system).dim  # unknown name -> ValueError listing valid names
        self.n_paths = check_int(self.n_paths, name="n_paths", minimum=1)
        self.n_steps = check_int(self.n_steps, name="n_steps", minimum=10)
        self.dt = check_positive(self.dt, name="dt")
        self.seed = check_int(self.seed, name="seed", minimum=0)
        self.size = check_int(self.size, name="size", minimum=8)
        self.blob_width = check_positive(self.blob_width, name="blob_width")
        if not (isinstance(self.noise, (int, float)) and math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"noise must be a finite number >= 0, got {self.noise!r}")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"unknown embedding {self.embedding!r}; valid: {', '.join(EMBEDDINGS)}")
        if dim not in EMBEDDINGS[self.embedding]:
            valid = [e for e, dims in EMBEDDINGS.items() if dim in dims]
            raise ValueError(f"embedding {self.embedding!r} draws {EMBEDDINGS[self.embedding]}-D states; the "
                             f"{dim}-D system {self.system!r} needs one of {', '.join(valid)}")
        self.frame_every = check_int(self.frame_every, name="frame_every", minimum=1)
        if self.n_steps // self.frame_every < 2:
            raise ValueError(f"n_steps={self.n_steps} with frame_every={self.frame_every} leaves fewer than "
                             "3 frames per path")
        self.n_bins = check_int(self.n_bins, name="n_bins", minimum=2)
        self.grid_points = check_int(self.grid_points, name="grid_points", minimum=2)
        return self


@dataclass
class RunContext:
    """What the stages share: the config, intermediate data, numbers for JSON, the report."""

    config: RunConfig
    out: Path
    report: Report
    progress: bool = True
    data: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


Stage = Callable[[RunContext], None]


#: grid points per axis of the 2-D figures (vector fields and potentials)
FIELD_GRID = 15


def field_grid(paths: torch.Tensor, n: int = FIELD_GRID, *, quantiles: tuple[float, float] = (0.02, 0.98)
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A regular n x n grid over the occupied box (2nd to 98th percentile per axis) of 2-D paths:
    (grid_x (n,), grid_y (n,), points (n * n, 2) in the (ny, nx) row order of the field figures)."""
    pts = metrics.occupied_grid(paths, n=n, lo=quantiles[0], hi=quantiles[1]).float()  # first coordinate fastest
    return pts[:n, 0], pts[::n, 1], pts


def stage_simulate(ctx: RunContext) -> None:
    c = ctx.config
    sde = systems.get_system(c.system)
    if sde.dim not in (1, 2):
        raise ValueError(f"fimcg run needs a 1-D or 2-D system; {c.system!r} has dim={sde.dim}")
    gen = torch.Generator().manual_seed(c.seed)
    x0 = 0.5 * torch.randn(c.n_paths, sde.dim, generator=gen)
    paths = simulate(sde, x0, dt=c.dt, n_steps=c.n_steps, seed=c.seed + 1)
    ctx.data.update(sde=sde, paths=paths)
    x = paths.reshape(-1, sde.dim)
    ctx.results["data"] = {
        "system": repr(sde), "dim": sde.dim, "n_paths": c.n_paths, "n_observations_per_path": c.n_steps + 1,
        "dt": c.dt, "time_span_per_path": c.n_steps * c.dt}
    ctx.report.heading("Data")
    ctx.report.text(f"{c.n_paths} paths of {sde!r}, simulated by Euler-Maruyama at dt = {c.dt:g} for "
                    f"{c.n_steps} steps (T = {c.n_steps * c.dt:g} per path), x0 ~ N(0, 0.5^2 I), seed {c.seed}.")
    if sde.dim == 1:
        x = x[:, 0]
        ctx.results["data"].update({
            "state_mean": float(x.mean()), "state_std": float(x.std()), "state_min": float(x.min()),
            "state_max": float(x.max()),
            "well_switches_per_path": switching_statistics(paths, c.dt, thresholds=(-0.5, 0.5)).n_switches / c.n_paths})
        ctx.report.figure(figures.paths_figure(paths, c.dt, n_show=5, title="sample paths"))
        ctx.report.figure(figures.density_figure(paths, sde, title="all observed states vs stationary density"),
                          "Histogram of every observed state against the Fokker-Planck stationary density.")
        return
    from ..analysis.validation import attractors, core_statistics

    centres = attractors(sde.drift, x[torch.linspace(0, x.shape[0] - 1, 400).long()])
    ctx.results["data"].update({
        "state_mean": x.mean(0).tolist(), "state_std": x.std(0).tolist(), "state_min": x.min(0).values.tolist(),
        "state_max": x.max(0).values.tolist(), "wells": centres.tolist()})
    cores = core_statistics(paths, c.dt, centres) if len(centres) >= 2 else None  # e.g. a limit cycle: no wells
    if cores is not None:
        ctx.results["data"].update({"well_occupation": cores.occupation.tolist(),
                                    "well_switches_per_path": cores.n_switches / c.n_paths})
    gx, gy, pts = field_grid(paths)
    with torch.no_grad():
        pot = sde.potential(pts).reshape(len(gy), len(gx)) if sde.potential is not None else None
        field = sde.drift(pts).reshape(len(gy), len(gx), 2)
    ctx.data.update(field_grid=(gx, gy, pts), potential_grid=pot)
    ctx.report.figure(figures.trajectories_2d_figure(paths, n_show=5, potential=pot, grid_x=gx, grid_y=gy,
                                                     title="sample paths over the potential"))
    wells = (f"Stable fixed points (wells): {', '.join(f'({a:.2f}, {b:.2f})' for a, b in centres)}; occupation "
             f"{', '.join(f'{v:.2f}' for v in cores.occupation)}." if cores is not None else
             f"{len(centres)} stable fixed point(s): no wells to switch between.")
    ctx.report.figure(figures.vector_field_figure(gx, gy, field, potential=pot, title="the true drift field"), wells)


def stage_render(ctx: RunContext) -> None:
    c = ctx.config
    paths = ctx.data["paths"][:, ::c.frame_every]  # (n_paths, T_frames, d)
    d = paths.shape[-1]
    if d == 1:
        lo, hi = float(ctx.data["paths"].min()), float(ctx.data["paths"].max())
        pad = 0.1 * (hi - lo)
        x_range: Any = (-2.0, 2.0) if c.system == "double_well" and lo > -2 and hi < 2 else (lo - pad, hi + pad)
    else:  # one camera range per axis, the data's with a margin of 10%
        x_range = camera_range(ctx.data["paths"])
    kw = dict(size=c.size, blob_width=c.blob_width, noise=c.noise, embedding=c.embedding, x_range=x_range)
    per_chunk = max(1, (64 << 20) // (paths.shape[1] * c.size * c.size * 4))  # ~64 MB of frames at a time
    centroids, first = [], None
    t0 = time.perf_counter()
    for start in tqdm(range(0, c.n_paths, per_chunk), desc="render video", unit="chunk",
                      disable=not ctx.progress, leave=False):
        frames = render_video(paths[start:start + per_chunk], seed=c.seed + 2 + start, **kw)
        if first is None:
            first = frames[0].clone()
        centroids.append(frame_centroids(frames))
        del frames
    render_s = time.perf_counter() - t0
    cen = torch.cat(centroids)  # (n_paths, T_frames, 2)
    lost = ~torch.isfinite(cen).all(dim=-1)
    if bool(lost.any()):
        raise ValueError(f"the particle left the image in {int(lost.sum())} frames; increase size or use a "
                         "different system")
    latent = pixel_to_latent(cen, size=c.size, embedding=c.embedding, x_range=x_range, d=d)
    dt_frames = c.dt * c.frame_every
    err = latent - paths
    ctx.data.update(frames_first_path=first, centroid_latent=latent, frame_paths=paths, dt_frames=dt_frames)
    ctx.results["video"] = {
        "n_frames": int(paths.shape[0] * paths.shape[1]), "frame_shape": [c.size, c.size],
        "frame_dt": dt_frames, "embedding": c.embedding, "x_range": [list(r) for r in x_range] if d > 1
        else list(x_range), "noise": c.noise,
        "blob_width_px": c.blob_width, "render_seconds": render_s,
        "centroid_latent_rmse": float(err.pow(2).mean().sqrt()),
        "centroid_latent_r2": float(1 - err.pow(2).mean() / paths.var()),
        "centroid_noise_g2_bias": float(2 * err.var() / dt_frames),
    }
    ctx.report.heading("Video")
    ctx.report.text(f"Every {c.frame_every}th observation rendered as a {c.size}x{c.size} frame: a Gaussian "
                    f"blob (width {c.blob_width:g} px) on a '{c.embedding}' embedding of x in {x_range}, "
                    f"pixel noise {c.noise:g}; {ctx.results['video']['n_frames']} frames in {render_s:.2f} s. "
                    "The blob centroid, mapped back through the embedding geometry, is a hand-made coordinate "
                    f"(RMSE {ctx.results['video']['centroid_latent_rmse']:.4f} against the true x; such noise "
                    f"adds about 2 s^2/dt = {ctx.results['video']['centroid_noise_g2_bias']:.2g} to g^2).")
    ctx.report.figure(figures.video_figure(first, max_frames=60, dt=dt_frames, title="video of path 0"))
    ctx.report.figure(figures.frame_strip_figure(first, n_frames=8, dt=dt_frames))
    if d == 1:
        ctx.report.figure(figures.latent_scatter_figure(paths, latent, title="blob-centroid coordinate vs true x"))
    else:
        ctx.report.figure(figures.latent_vs_truth_2d_figure(paths, latent, title="blob-centroid coordinates "
                                                                                  "over the true (x, y)"))


def stage_estimate(ctx: RunContext) -> None:
    c = ctx.config
    sde = ctx.data["sde"]
    if sde.dim == 2:
        return stage_estimate_2d(ctx)
    grid = metrics.occupied_grid(ctx.data["paths"], n=c.grid_points)
    datasets = {
        f"true x, dt={c.dt:g}": (ctx.data["paths"], c.dt),
        f"true x, dt={ctx.data['dt_frames']:g}": (ctx.data["frame_paths"], ctx.data["dt_frames"]),
        f"video centroid, dt={ctx.data['dt_frames']:g}": (ctx.data["centroid_latent"], ctx.data["dt_frames"]),
    }
    methods = {
        "binned KM": lambda p, dt: est.binned_km(p, dt, grid, n_bins=c.n_bins),
        "local linear": lambda p, dt: est.local_linear(p, dt, grid),
        "least squares (deg 3 / 2)": lambda p, dt: est.least_squares(p, dt, grid, drift_basis=3, diff2_basis=2),
    }
    rows, estimates = [], {}
    jobs = [(dn, mn) for dn in datasets for mn in methods]
    for dn, mn in tqdm(jobs, desc="estimate", disable=not ctx.progress, leave=False):
        p, dt = datasets[dn]
        t0 = time.perf_counter()
        drift, diffusion = methods[mn](p, dt)
        secs = time.perf_counter() - t0
        errs = metrics.sde_errors(sde, grid, drift, diffusion)
        rows.append({"data": dn, "estimator": mn, "drift rel. RMSE": errs["drift_rel"],
                     "diffusion rel. RMSE": errs["diffusion_rel"], "drift RMSE": errs["drift_rmse"],
                     "diffusion RMSE": errs["diffusion_rmse"], "seconds": secs})
        estimates.setdefault(dn, {})[mn] = (drift, diffusion)
    ctx.data.update(grid=grid, estimates=estimates)
    ctx.results["grid"] = {"n": c.grid_points, "lo": float(grid[0, 0]), "hi": float(grid[-1, 0]),
                           "quantiles": [0.02, 0.98]}
    ctx.results["estimates"] = rows
    ctx.report.heading("Drift and diffusion")
    ctx.report.text(f"Errors on {c.grid_points} points between the 2nd and 98th percentile of the states "
                    f"([{float(grid[0, 0]):.3f}, {float(grid[-1, 0]):.3f}]); relative RMSE = RMSE / RMS(truth).")
    ctx.report.table(rows)
    for dn, est_d in estimates.items():
        ctx.report.figure(figures.drift_diffusion_figure(grid, est_d, sde=sde, title=dn))


#: observed states at which the 2-D estimates are scored (evenly spaced through the data)
SCORE_POINTS_2D = 256


def stage_estimate_2d(ctx: RunContext) -> None:
    """The estimate stage for 2-D systems: the classic estimators and the FIM on the true states at
    the frame step and on the blob-centroid coordinates, scored at observed states."""
    c = ctx.config
    sde = ctx.data["sde"]
    flat = ctx.data["frame_paths"].reshape(-1, 2)
    points = flat[torch.linspace(0, flat.shape[0] - 1, SCORE_POINTS_2D).long()]
    gx, gy, grid = ctx.data["field_grid"]
    dt = ctx.data["dt_frames"]
    datasets = {f"true (x, y), dt={dt:g}": ctx.data["frame_paths"],
                f"video centroid, dt={dt:g}": ctx.data["centroid_latent"]}
    from ..fim.weights import load_fim
    fim = load_fim()
    methods = {
        "FIM": lambda p, q: fim.estimate(p, dt, q, warn=False),
        "binned KM": lambda p, q: est.binned_km(p, dt, q, n_bins=12),
        "local linear": lambda p, q: est.local_linear(p, dt, q),
        "least squares (deg 3 / 2)": lambda p, q: est.least_squares(p, dt, q, drift_basis=3, diff2_basis=2),
    }
    rows, fields = [], {}
    with torch.no_grad():
        f_true = sde.drift(grid).reshape(len(gy), len(gx), 2)
    for dn, p in tqdm(datasets.items(), desc="estimate", disable=not ctx.progress, leave=False):
        for mn, fn in methods.items():
            t0 = time.perf_counter()
            with torch.no_grad():
                drift, diffusion = fn(p, points)
            secs = time.perf_counter() - t0
            errs = metrics.sde_errors(sde, points, drift, diffusion)
            rows.append({"data": dn, "estimator": mn, "drift rel. RMSE": errs["drift_rel"],
                         "diffusion rel. RMSE": errs["diffusion_rel"], "seconds": secs})
            if dn.startswith("true") and mn in ("FIM", "local linear"):
                with torch.no_grad():
                    fields[mn] = fn(p, grid)[0].reshape(len(gy), len(gx), 2)
    ctx.results["estimates"] = rows
    ctx.report.heading("Drift and diffusion")
    ctx.report.text(f"Errors at {SCORE_POINTS_2D} observed states (evenly spaced through the data: the occupied "
                    "region); relative RMSE = RMSE over both coordinates / RMS(truth). The FIM is the shipped 2-D "
                    "model (fimcg.load_fim() answers 2-D contexts with it).")
    ctx.report.table(rows)
    ctx.report.figure(figures.vector_fields_figure(gx, gy, {"truth": f_true, **fields},
                                                   potential=ctx.data.get("potential_grid"),
                                                   title="drift fields on the true states"))


def stage_coarse_grain(ctx: RunContext) -> None:
    """Video -> learned latent -> FIM drift/diffusion -> equations -> validation (fimcg.coarse_grain)."""
    from .pipeline import pipeline_stage

    pipeline_stage(ctx)


#: the stages of ``fimcg run``, in order; extend with :func:`add_stage`
STAGES: list[tuple[str, Stage]] = [
    ("simulate", stage_simulate),
    ("render", stage_render),
    ("estimate", stage_estimate),
    ("coarse_grain", stage_coarse_grain),
]


def add_stage(name: str, fn: Stage, *, after: str | None = None) -> None:
    """Register a stage of the main job (at the end, or right after the stage called ``after``).

    Re-registering a name replaces the old stage in place.
    """
    names = [n for n, _ in STAGES]
    if name in names:
        STAGES[names.index(name)] = (name, fn)
        return
    if after is None:
        STAGES.append((name, fn))
    elif after in names:
        STAGES.insert(names.index(after) + 1, (name, fn))
    else:
        raise ValueError(f"unknown stage {after!r}; stages: {', '.join(names)}")


def run_main(config: RunConfig | None = None, *, out: str | Path = "fimcg-report",
             progress: bool = True, stages: list[tuple[str, Stage]] | None = None) -> dict[str, Any]:
    """Run the main job and write ``out/report.html`` and ``out/results.json``.

    Args:
        config: the settings (default: a :class:`RunConfig` with its defaults).
        out: output folder (created if missing).
        progress: show tqdm progress bars.
        stages: override :data:`STAGES` (tests use a subset).

    Returns:
        The results dict that was written to ``results.json``.
    """
    config = (config or RunConfig()).validate()
    out = output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    ctx = RunContext(config=config, out=out, report=Report("fimcg run report"), progress=progress)
    ctx.results["config"] = asdict(config)
    ctx.results["environment"] = environment()
    stage_list = STAGES if stages is None else stages
    t_all = time.perf_counter()
    bar = tqdm(stage_list, desc="fimcg run", unit="stage", disable=not progress)
    for name, fn in bar:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        fn(ctx)
        ctx.timings[name] = time.perf_counter() - t0
    ctx.timings["total"] = time.perf_counter() - t_all
    ctx.results["timings_seconds"] = ctx.timings
    ctx.report.heading("Run")
    ctx.report.table([{"stage": k, "seconds": v} for k, v in ctx.timings.items()])
    ctx.report.text("Settings: " + json.dumps(ctx.results["config"]))
    os.chmod(atomic_write_json(ctx.results, out / "results.json"), 0o644)
    ctx.report.write(out / "report.html")
    return ctx.results
