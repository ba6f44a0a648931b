"""The jobs behind ``fimcg coarse-grain``, ``fimcg infer`` and ``fimcg estimate``: a user's own files in, a report out.

* :func:`coarse_grain_files`: video files, image stacks or arrays (:func:`fimcg.open_recording`) ->
  :func:`fimcg.coarse_grain` with the frozen FIM, streamed and resumable -> the learned latent, its
  SDE, a discovered equation and its validation.
* :func:`infer_files`: a saved coarse-graining result and the files of a *new* recording -> its
  SDE without training (:meth:`fimcg.coarse_graining.CoarseGrainResult.infer`: encoded, one FIM
  pass, fitted in the collection's family of drifts when the result holds a collection).
* :func:`estimate_files`: trajectories (:func:`fimcg.io.read_trajectories`) -> drift and diffusion
  by the FIM and by the classic estimators, a discovered equation and its validation.

Each writes into a folder ``out``: ``report.html`` (self-contained; as ``fimcg run`` writes, without a
truth section), ``results.json`` and the arrays (``latents.npy`` and the saved result ``result.safetensors``,
``sde.csv`` or ``estimates.csv``). The outputs are written only after the whole computation succeeded, all or
nothing (:func:`publish`: into a staging folder, then renamed into place, ``results.json`` last): bad
input or a failure leaves no output. The one file written earlier is coarse-graining's training checkpoint
(``checkpoint.safetensors``): running the same command again resumes from it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from . import figures
from .._validation import check_int, check_positive
from ..analysis.metrics import occupied_grid
from ..io.checkpoint import atomic_write_array, atomic_write_json, atomic_write_text
from .pipeline import equation_and_validation, report_validation
from .report import Report, environment, output_folder

__all__ = ["coarse_grain_files", "infer_files", "estimate_files"]


def publish(out: Path, writers: dict[str, Callable[[Path], Any]]) -> None:
    """Write a job's outputs all or nothing: each ``writers[name](path)`` writes into a staging folder
    inside ``out``; only when every one succeeded are they renamed into ``out``, in the given order
    (``results.json`` last: its presence marks a complete run); an old ``results.json`` is removed
    first, so new files never stand beside old results. On failure the staging folder is removed and
    ``out`` keeps what it had."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fimcg-partial-", dir=out))
    try:
        for name, write in writers.items():
            write(staging / name)
        (out / "results.json").unlink(missing_ok=True)
        for name in writers:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _trust_checks(rep: Report, checks: list[tuple[str, bool, str]]) -> None:
    """A 'before you trust this' list: (what, passed, detail) rows."""
    rep.heading("Before you trust the result")
    rep.table([{"check": what, "result": "ok" if ok else "LOOK", "detail": detail} for what, ok, detail in checks])


# --------------------------------------------------------------------------------------------------
# fimcg coarse-grain


def coarse_grain_files(files: Sequence[Any], *, out: str | Path, dt: float | None = None, latent_dim: int = 1,
                       steps: int = 20, init: str = "isomap", judge_lags: Sequence[int] | None = None, seed: int = 0,
                       layout: str | None = None,
                       dataset: str | None = None, grey: bool = True, crop: tuple[int, int, int, int] | None = None,
                       downsample: int = 1, stride: int = 1, chunk_mb: float | None = None, restart: bool = False,
                       group_by_folder: bool = False, progress: bool = True) -> dict:
    """Coarse-grain a recording and write the report, the numbers, the latents and the saved result.

    Args:
        files: video files, image folders, TIFF, npy, zarr or ``file.h5:/dataset`` (one path each, or a
            stack with a path axis), or arrays; see :func:`fimcg.open_recording` (with ``layout``,
            ``dataset``, ``grey``, ``crop``, ``downsample``, ``stride``).
        out: output folder (created when the results are written).
        dt: time between consecutive frames of the files (before ``stride``); default: from the
            files' frame rate, when they state one.
        latent_dim, steps, seed: as in :func:`fimcg.coarse_grain`; init: ``"isomap"`` or ``"slow"``;
            judge_lags: ``InitConfig.judge_lags`` (frames after stride; default (1, 5, 20)).
        chunk_mb: megabytes of frames read at a time (default :data:`fimcg.io.recording.DEFAULT_CHUNK_MB`).
        restart: ignore an existing checkpoint in ``out`` (default: resume from it).
        group_by_folder: the files are a *collection* of recordings, one per folder
            (:func:`fimcg.io.open_collection`): one encoder for all, each recording's SDE pooled with
            the others', a discovered equation per recording, and a table and figure across them.

    Returns:
        The dict written to ``out/results.json``.
    """
    from ..io.recording import DEFAULT_CHUNK_MB, open_collection, open_recording

    out = output_folder(out)
    steps = check_int(steps, name="steps", minimum=0)
    if check_int(latent_dim, name="latent_dim", minimum=1) != 1:
        raise ValueError(f"fimcg coarse-grain writes its report for a 1-D latent; got latent_dim={latent_dim} (for a "
                         "2-D latent call fimcg.coarse_grain(fimcg.open_recording(...), dt, latent_dim=2) from Python)")
    chunk_mb = check_positive(chunk_mb if chunk_mb is not None else DEFAULT_CHUNK_MB, name="chunk_mb")
    t_all = time.perf_counter()
    reading = dict(layout=layout, dataset=dataset, grey=grey, crop=crop, downsample=downsample, stride=stride)
    if group_by_folder:
        folders: dict[str, list[Any]] = {}
        for f in files:  # a folder given itself (of images) is its own recording; a file belongs to its folder
            path = Path(str(f))
            folders.setdefault(str(path if path.is_dir() else path.parent), []).append(f)
        if len(folders) < 2:
            raise ValueError(f"group_by_folder needs files in two or more folders (one recording each); all are in "
                             f"{next(iter(folders))}")
        opened = open_collection(*folders.values(), names=list(folders), **reading)
    else:
        opened = open_recording(*files, **reading)
    with opened as rec:
        dt, dt_from = _time_step(rec, dt, stride)
        return _coarse_grain_recording(rec, out=out, dt=dt, dt_from=dt_from, latent_dim=latent_dim, steps=steps,
                                       init=init, judge_lags=judge_lags, seed=seed, chunk_mb=chunk_mb,
                                       restart=restart, progress=progress, t_all=t_all)


def _time_step(rec: Any, dt: float | None, stride: int, *, fallback: float | None = None) -> tuple[float, str]:
    """The time between the recording's frames after the stride, and where it came from: the given
    ``dt`` (times the stride), else the files' frame rate, else ``fallback`` (already strided).

    Raises:
        ValueError: no dt given, no common frame rate in the files and no fallback.
    """
    if dt is not None:
        return check_positive(dt, name="dt") * stride, f"dt = {dt:g} given, stride {stride}"
    if rec.fps is not None:
        return 1.0 / rec.fps, f"the files' frame rate ({rec.fps * stride:g} frames/s) and stride {stride}"
    if fallback is not None:
        return fallback, "the result's (the files state no frame rate)"
    raise ValueError(f"give dt (--dt): the files do not all state the same frame rate ({', '.join(rec.names)})")


def _coarse_grain_recording(rec: Any, *, out: Path, dt: float, dt_from: str, latent_dim: int, steps: int, init: str,
                            judge_lags: tuple[int, ...] | None, seed: int, chunk_mb: float, restart: bool,
                            progress: bool, t_all: float) -> dict:
    from ..coarse_graining import InitConfig, coarse_grain
    from ..coarse_graining.slow import NoSlowVariableWarning
    from ..coarse_graining.trainer import CheckpointMismatch

    checkpoint = out / "checkpoint.safetensors"
    init_config = InitConfig(method=init, **({"judge_lags": tuple(judge_lags)} if judge_lags else {}))
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NoSlowVariableWarning)
        try:
            res = coarse_grain(rec, dt, latent_dim=latent_dim, steps=steps, seed=seed, init=init_config,
                               checkpoint=checkpoint, resume=not restart, progress=progress, chunk_mb=chunk_mb)
        except CheckpointMismatch as exc:
            raise ValueError(f"{exc} (or run again with --restart)") from exc
    seconds = time.perf_counter() - t0
    notes = [str(w.message) for w in caught if issubclass(w.category, NoSlowVariableWarning)]
    for w in caught:  # everything else is the caller's to see
        if not issubclass(w.category, NoSlowVariableWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    cfg = res.config
    prec = res.precision()
    eq, val, found = equation_and_validation(res.latents.reshape(-1), res.coefficients, dt, paths=res.latents,
                                             seed=seed)
    recording = cfg.get("recording", {})
    per_recording = _per_recording(res) if res.recordings else None
    results: dict[str, Any] = {
        "data": {"files": list(rec.names), "frames_per_file": list(rec.lengths), "frame_shape": list(rec.frame_shape),
                 "dt": dt, "dt_from": dt_from, "paths": res.latents.shape[0], "frames_per_path": res.latents.shape[1],
                 "segments": recording.get("segments"), "dropped_frames": recording.get("dropped_frames", 0),
                 "processing": recording["processing"]},
        "coarse_grain": {"latent_dim": res.latent_dim, "steps": steps, "init": init, "seconds": seconds,
                         "frames_per_second": rec.n_frames / max(seconds, 1e-9),
                         "init_seconds": cfg["init"].get("time_s"), "init_choice": cfg["init"].get("chosen"),
                         "final_reconstruction": res.history[-1]["rec"] if res.history else None,
                         "noise_std_latent": prec["noise_std"][0], "g2_inflation_rel": prec["g2_inflation_rel"][0],
                         "pca_explained": [float(v) for v in res.encoder.pca.explained[:8]]},
        "equation": found["equation"], "coefficients": found["coefficients"], "validation": found["validation"],
        **({"recordings": per_recording} if per_recording else {}),
        "warnings": notes, "outputs": ["report.html", "results.json", "latents.npy", "result.safetensors"],
        "environment": environment()}
    rep = _coarse_grain_report(rec, res, results, val, found, chunk_mb=chunk_mb)
    results["seconds_total"] = time.perf_counter() - t_all
    publish(out, {"latents.npy": lambda path: atomic_write_array(res.latents.numpy().astype(np.float32), path),
                  "result.safetensors": res.save, "report.html": rep.write,
                  "results.json": lambda path: atomic_write_json(results, path)})
    return results


def _per_recording(res: Any) -> list[dict]:
    """For a collection: each recording's paths, its pooled SDE's discovered equation, its
    coordinates in the collection's family of drifts, and the share of its own drift estimate kept."""
    from ..analysis.discovery import discover_from_coefficients

    pooled = res.pooled()
    rows = []
    for k, name in enumerate(pooled.names):
        eq = discover_from_coefficients(pooled.grid, pooled.drift[k], pooled.diffusion[k], names=("z",))
        rows.append({"name": name, "paths": len(res.config["collection"]["paths"][k]), "equation": eq.equation(),
                     "coefficients": eq.coefficients(), "own_weight": float(pooled.drift_weight),
                     "family_coordinates": [float(c) for c in pooled.drift_coefficients[k]]})
    return rows


def _coarse_grain_report(rec: Any, res: Any, results: dict, val: Any, found: dict, *, chunk_mb: float) -> Report:
    d, c = results["data"], results["coarse_grain"]
    rep = Report("fimcg coarse-grain report")
    rep.heading("Recording")
    rep.text(f"{len(d['files'])} file(s), {sum(d['frames_per_file'])} frames of {' x '.join(map(str, d['frame_shape']))} "
             f"pixels ({', '.join(d['files'])}); time between frames dt = {d['dt']:g} ({d['dt_from']}). "
             f"Coarse-grained as {d['paths']} paths of {d['frames_per_path']} frames"
             + (f" ({d['dropped_frames']} frames at the ends of longer files dropped)" if d["dropped_frames"] else "")
             + ".")
    first = next(rec.chunks(0, stop=60, chunk_mb=chunk_mb))
    rep.figure(figures.frame_strip_figure(torch.from_numpy(first)[None], n_frames=8, dt=d["dt"]))
    rep.heading("The learned variable")
    rep.text(f"An encoder (PCA features + MLP, initialised by {c['init']}"
             + (f", chosen candidate {c['init_choice']}" if c["init_choice"] else "")
             + f") maps each frame to a {c['latent_dim']}-D latent z; the frozen FIM (a network that weighs classic "
             f"and nonparametric estimates by the context) infers dz = f(z) dt + g(z) dW from the encoded paths, "
             f"and {c['steps']} steps refine the encoder. {c['seconds']:.1f} s "
             f"({c['frames_per_second']:.0f} frames/s).")
    z = res.latents
    rep.figure(figures.paths_figure(z, d["dt"], n_show=5, title="latent paths z(t)"))
    rep.figure(figures.density_figure(z, title="distribution of z"))
    grid = occupied_grid(z, n=100)
    f, g = res.coefficients(grid)
    eq = found["equation"]
    rep.figure(figures.drift_diffusion_figure(grid, {"FIM on the latent": (f, g)}, title="drift and diffusion in z"))
    if res.history:
        rep.figure(figures.history_figure(res.history, keys=["rec", "sim"], title="training loss terms"))
    rep.heading("Discovered equation")
    rep.text("In the learned latent z" + (" (all recordings together)" if results.get("recordings") else "") + ": "
             + eq.replace("\n", ";  "))
    report_validation(rep, val, found)
    if results.get("recordings"):
        pooled = res.pooled()
        rep.heading("Recordings")
        rank = pooled.drift_family.rank
        rep.text("One encoder for all recordings, so they share the latent z and their SDEs are comparable. Each "
                 "recording's drift and diffusion are read by the FIM from its own paths. The recordings' drifts "
                 f"span a family of rank {rank} (the collection's mean drift plus {rank} principal direction(s), as "
                 "many as cross-validation on the recordings keeps, refined on all their transitions); each "
                 "recording's coordinates c1, c2, ... in it are fitted to its own transitions "
                 "(fimcg.estimators.pooling; a coordinate's sign is arbitrary). Its pooled drift is that fit plus "
                 f"{100 * pooled.drift_weight:.0f}% of the difference to its own estimate (the share chosen by "
                 "cross-validation).")
        rep.table([{"recording": r["name"], "paths": r["paths"],
                    **{f"c{j + 1}": c for j, c in enumerate(r["family_coordinates"])},
                    "equation": r["equation"].replace("\n", ";  ")} for r in results["recordings"]])
        rep.figure(figures.function_family_figure(pooled.grid, pooled.drift, pooled.diffusion, labels=pooled.names,
                                                  title="each recording's drift and diffusion in z (pooled)"))
        if rank:
            rep.figure(figures.family_coefficients_figure(pooled.drift_coefficients, labels=pooled.names,
                                                          title="the recordings' parameters: their coordinates in "
                                                                "the family of drifts"))
    checks = [
        ("encoder noise", c["g2_inflation_rel"] < 0.2,
         f"latent noise inflates g^2 by about {100 * c['g2_inflation_rel']:.0f}% (from the increments' lag-1 "
         "correlation); above ~20% the diffusion is biased up: record at a lower noise or a larger dt"),
        ("a slow variable", not results["warnings"],
         "; ".join(results["warnings"]) or "the coordinate predicts its own future (no warning)"),
        ("frames per path", d["frames_per_path"] >= 200,
         f"{d['frames_per_path']} frames per path; the slow-variable checks need paths of 10 x 20 frames"),
        ("time step", True, f"dt = {d['dt']:g}: the SDE's time unit is the unit of dt; check it against the "
                            "recording's frame rate and stride"),
    ]
    _trust_checks(rep, checks)
    rep.heading("Run")
    rep.text("Settings and environment: " + json.dumps({"processing": d["processing"], **results["environment"]}))
    return rep


# --------------------------------------------------------------------------------------------------
# fimcg estimate


def infer_files(result: str | Path, files: Sequence[Any], *, out: str | Path, dt: float | None = None,
                layout: str | None = None, dataset: str | None = None) -> dict:
    """The SDE of a new recording from a saved coarse-graining result, without training.

    The files are opened with the per-frame processing the result was trained with (grey, crop,
    downsample, stride: ``config["recording"]["processing"]``), encoded by its encoder, read by the
    frozen FIM in one pass and, for a result of a collection, fitted in the collection's family of
    drifts and diffusions (:func:`fimcg.coarse_graining.collection.infer_recording`).

    Args:
        result: a ``result.safetensors`` written by ``fimcg coarse-grain`` (or ``CoarseGrainResult.save``).
        files: the new recording's files (as for :func:`coarse_grain_files`).
        out: output folder: ``report.html``, ``results.json``, ``sde.csv`` (z, drift and diffusion,
            pooled and its own) and ``latents.npy`` (n_paths, T, 1).
        dt: time between the files' frames before the stride (default: their frame rate, else the
            result's).
        layout, dataset: how to read arrays (as for :func:`fimcg.open_recording`).

    Returns:
        The results dictionary written to ``results.json``.
    """
    from ..coarse_graining import CoarseGrainResult
    from ..io import open_recording

    t0 = time.perf_counter()
    out = output_folder(out)
    path = Path(result)
    if not path.is_file():
        raise FileNotFoundError(f"no saved result at {path} (fimcg coarse-grain writes OUT/result.safetensors)")
    res = CoarseGrainResult.load(path)
    if res.latent_dim != 1:
        raise ValueError(f"fimcg infer reports 1-D latents; this result has latent_dim={res.latent_dim}")
    proc = res.config.get("recording", {}).get("processing") or {}
    stride = int(proc.get("stride", 1))
    with open_recording(*files, layout=layout, dataset=dataset, grey=bool(proc.get("grey", True)),
                        crop=tuple(proc["crop"]) if proc.get("crop") else None,
                        downsample=int(proc.get("downsample", 1)), stride=stride) as rec:
        dt, dt_from = _time_step(rec, dt, stride, fallback=res.dt)
        sde = res.infer(rec, dt)
        names, lengths = list(rec.names), list(rec.lengths)
    seconds = time.perf_counter() - t0
    pooled = res.pooled() if res.recordings else None
    grid = sde.grid
    f, g = sde.coefficients(grid)
    f_own, g_own = sde.coefficients(grid, pooled=False)
    results: dict[str, Any] = {
        "data": {"files": names, "frames_per_file": lengths, "dt": dt, "dt_from": dt_from,
                 "paths": sde.latents.shape[0], "frames_per_path": sde.latents.shape[1]},
        "result": str(path), "seconds": seconds,
        "collection": None if pooled is None else {
            "recordings": pooled.names, "family_rank": pooled.drift_family.rank, "own_weight": pooled.drift_weight},
        "family_coordinates": None if sde.drift_coefficients is None else [float(c) for c in sde.drift_coefficients],
        "sde": {"z": grid[:, 0].tolist(), "drift": f[:, 0].tolist(), "diffusion": g[:, 0].tolist(),
                "drift_own": f_own[:, 0].tolist(), "diffusion_own": g_own[:, 0].tolist()},
        "outputs": ["report.html", "results.json", "sde.csv", "latents.npy"], "environment": environment()}
    rep = Report("fimcg infer report")
    rep.heading("A new recording, no training")
    rep.text(f"{len(names)} file(s), {sum(lengths)} frames ({', '.join(names)}); dt = {dt:g} ({dt_from}). Encoded by "
             f"the encoder of {path.name} into {sde.latents.shape[0]} latent paths of {sde.latents.shape[1]} frames; "
             f"the frozen FIM (a network that weighs classic and nonparametric estimates by the context) read their "
             f"SDE in {seconds:.2f} s, with no gradient step.")
    rep.figure(figures.paths_figure(sde.latents, dt, n_show=5, title="latent paths z(t)"))
    if pooled is not None:
        rep.text(f"The result holds a collection of {len(pooled.names)} recordings whose drifts span a family of rank "
                 f"{pooled.drift_family.rank}; this recording's coordinates in it were fitted to its own transitions, "
                 f"and its pooled drift keeps {100 * pooled.drift_weight:.0f}% of the difference to its own estimate "
                 "(the share the collection's cross-validation chose). Compare the two: an own estimate far from "
                 "the pooled one says the recording may not belong to the family.")
        if pooled.drift_family.rank:
            coords = torch.cat([pooled.drift_coefficients, sde.drift_coefficients[None]])
            rep.figure(figures.family_coefficients_figure(coords, labels=[*pooled.names, "this recording"],
                                                          title="coordinates in the collection's family of drifts"))
    rep.figure(figures.drift_diffusion_figure(grid, {"pooled": (f, g), "its own estimate": (f_own, g_own)},
                                              title="drift and diffusion in z"))
    rep.heading("Run")
    rep.text("Environment: " + json.dumps(results["environment"]))
    table = np.stack([grid[:, 0].numpy(), f[:, 0].numpy(), g[:, 0].numpy(), f_own[:, 0].numpy(),
                      g_own[:, 0].numpy()], axis=1)
    publish(out, {"latents.npy": lambda p: atomic_write_array(sde.latents.numpy().astype(np.float32), p),
                  "sde.csv": lambda p: _write_csv(p, ["z", "drift", "diffusion", "drift_own", "diffusion_own"], table),
                  "report.html": rep.write, "results.json": lambda p: atomic_write_json(results, p)})
    return results


def _write_csv(path: Path, header: list[str], rows: np.ndarray) -> None:
    """A table (rows (N, len(header))) as CSV, atomically."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows([[f"{float(v):.8g}" for v in row] for row in rows])
    atomic_write_text(buf.getvalue(), path)


def estimate_files(files: Sequence[str | Path], *, out: str | Path, dt: float | None = None,
                   path_column: str | None = None, time_column: str | None = None, n_bins: int = 30,
                   grid_points: int = 100, seed: int = 0, progress: bool = True) -> dict:
    """Drift and diffusion of observed 1-D trajectories: the FIM and the classic estimators, a
    discovered equation and its validation; writes ``report.html``, ``results.json`` and
    ``estimates.csv`` (one row per grid point) into ``out``.

    Args:
        files: CSV or npy files (:func:`fimcg.io.read_trajectories`, with ``dt``, ``path_column``,
            ``time_column``).
        n_bins: bins of the binned Kramers-Moyal estimator. grid_points: points of the grid between
            the 2nd and 98th percentile of the observed states.

    Returns:
        The dict written to ``out/results.json``.
    """
    from tqdm.auto import tqdm

    from .. import estimators as est
    from ..fim.weights import load_fim
    from ..io.trajectories import read_trajectories

    out = output_folder(out)
    n_bins = check_int(n_bins, name="n_bins", minimum=2)
    grid_points = check_int(grid_points, name="grid_points", minimum=2)
    t_all = time.perf_counter()
    traj = read_trajectories(*files, dt=dt, path_column=path_column, time_column=time_column)
    if traj.dim != 1:
        raise ValueError(f"{traj.names[0]}: {traj.dim} state columns {traj.columns}; fimcg estimate writes its report "
                         "for one-dimensional trajectories (for 2-D ones call fimcg.load_fim()(paths, dt, locations) "
                         "from Python: the shipped FIM estimates d = 1 and d = 2)")
    step = traj.regular_step()
    stacked = traj.equal_length()
    values = torch.from_numpy(np.concatenate(traj.paths)[:, 0])
    grid = occupied_grid(values, n=grid_points)  # (grid_points, 1) float64
    pairs, tau = (torch.from_numpy(a) for a in traj.transitions())
    fim = load_fim()
    if stacked is not None and step is not None:
        fim_call = lambda loc: fim.estimate(torch.from_numpy(stacked), step, loc, warn=False)  # noqa: E731
    else:  # ragged or irregular: a list of paths with their own steps
        fim_call = lambda loc: fim.estimate([torch.from_numpy(p) for p in traj.paths],  # noqa: E731
                                            [torch.from_numpy(s) for s in traj.steps], loc, warn=False)
    methods = {
        "FIM": lambda: fim_call(grid.float()),
        "binned KM": lambda: est.binned_km(pairs, tau, grid, n_bins=n_bins),
        "local linear": lambda: est.local_linear(pairs, tau, grid),
        "least squares (deg 3 / 2)": lambda: est.least_squares(pairs, tau, grid, drift_basis=3, diff2_basis=2),
    }
    estimates, seconds = {}, {}
    for name in tqdm(methods, desc="estimate", disable=not progress, leave=False):
        t0 = time.perf_counter()
        with torch.no_grad():
            f, g = methods[name]()
        estimates[name] = (f.double().reshape(-1, 1), g.double().reshape(-1, 1))
        seconds[name] = time.perf_counter() - t0

    def fim_coefficients(loc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return fim_call(loc.float())

    paths_v = torch.from_numpy(stacked).float() if stacked is not None and step is not None else None
    eq, val, found = equation_and_validation(values, fim_coefficients, step, paths=paths_v, seed=seed, name="x")
    allsteps = np.concatenate(traj.steps)
    results: dict[str, Any] = {
        "data": {"files": [str(f) for f in files], "paths": len(traj.paths), "observations": traj.n_observations,
                 "transitions": traj.n_transitions, "column": traj.columns[0],
                 "dt": step, "steps": {"min": float(allsteps.min()), "median": float(np.median(allsteps)),
                                       "max": float(allsteps.max()), "regular": step is not None},
                 "state": {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
                           "max": float(values.max())}},
        "grid": {"n": grid_points, "lo": float(grid[0, 0]), "hi": float(grid[-1, 0]), "quantiles": [0.02, 0.98]},
        "estimates": {name: {"drift": f[:, 0].tolist(), "diffusion": g[:, 0].tolist(), "seconds": seconds[name]}
                      for name, (f, g) in estimates.items()},
        "equation": found["equation"], "coefficients": found["coefficients"], "validation": found["validation"],
        "outputs": ["report.html", "results.json", "estimates.csv"], "environment": environment()}
    rep = Report("fimcg estimate report")
    rep.heading("Trajectories")
    d = results["data"]
    rep.text(f"{d['paths']} path(s), {d['observations']} observations of {d['column']} from {', '.join(d['files'])}; "
             + (f"time step {step:g}." if step is not None else
                f"irregular time steps from {d['steps']['min']:g} to {d['steps']['max']:g} (median "
                f"{d['steps']['median']:g}); every estimator weighs each increment by its own step."))
    if stacked is not None and step is not None:
        rep.figure(figures.paths_figure(stacked, step, n_show=5, title="observed paths"))
        rep.figure(figures.density_figure(stacked, title="distribution of the observed states"))
    rep.heading("Drift and diffusion")
    rep.text("The FIM (a pretrained network that weighs classic and nonparametric estimates by the context) "
             "against the classic estimators, on the grid between the 2nd and 98th percentile of the states.")
    rep.figure(figures.drift_diffusion_figure(grid, estimates, title="estimated drift and diffusion"))
    rep.table([{"estimator": k, "seconds": v} for k, v in seconds.items()])
    rep.heading("Discovered equation")
    rep.text("From the FIM's estimate: " + found["equation"].replace("\n", ";  "))
    report_validation(rep, val, found, name="x")
    _trust_checks(rep, [
        ("amount of data", traj.n_transitions >= 1000,
         f"{traj.n_transitions} transitions; below ~1000 every estimate is rough"),
        ("estimators agree", _agree(estimates), "the FIM's drift within 30% (RMS) of local linear's"),
        ("time step", True, "the SDE's time unit is the unit of the time column or dt"),
    ])
    results["seconds_total"] = time.perf_counter() - t_all
    header = [traj.columns[0]] + [f"{name} {q}" for name in estimates for q in ("drift", "diffusion")]
    table = np.stack([grid[:, 0].double().numpy()] + [v[:, 0].double().numpy() for f, g in estimates.values()
                                                      for v in (f, g)], axis=1)
    publish(out, {"estimates.csv": lambda path: _write_csv(path, header, table), "report.html": rep.write,
                  "results.json": lambda path: atomic_write_json(results, path)})
    return results


def _agree(estimates: dict) -> bool:
    f_fim, f_ll = estimates["FIM"][0], estimates["local linear"][0]
    return bool(((f_fim - f_ll) ** 2).mean().sqrt() <= 0.3 * (f_ll ** 2).mean().sqrt())
