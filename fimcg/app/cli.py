"""Command-line interface: ``fimcg <command> [options]`` (also ``python -m fimcg``).

One function per subcommand (``cmd_<name>(args) -> int``) and one ``add_<name>_parser(subparsers)``
that declares its options; :func:`build_parser` wires them together. Other parts of the package add
a subcommand by adding both functions to :data:`SUBCOMMANDS`.

Errors in the user's input (``ValueError``/``TypeError``/``FileNotFoundError`` raised by the library
for a bad argument, :class:`fimcg.io.checkpoint.UnsafeFileError` for a file that is not a fimcg file) are printed as one line, ``fimcg <command>: error: <message>``, with exit code 2
and no traceback; argparse's own usage errors also exit with 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Callable, Sequence

from .. import __version__
from ..io.checkpoint import UnsafeFileError

__all__ = ["build_parser", "main", "SUBCOMMANDS"]


# --------------------------------------------------------------------------------------------------
# fimcg run
# --------------------------------------------------------------------------------------------------

def add_run_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from .main_job import RunConfig

    d = RunConfig()
    p = sub.add_parser("run", help="run the main job and write an HTML report and results.json",
                       description="Simulate the reference system, render it as video, estimate drift and "
                                   "diffusion, and write OUT/report.html (self-contained, opens offline) and "
                                   "OUT/results.json.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default="fimcg-report", help="output folder")
    p.add_argument("--system", default=d.system, help="system name (see `fimcg systems`)")
    p.add_argument("--n-paths", type=int, default=d.n_paths, help="number of simulated paths")
    p.add_argument("--n-steps", type=int, default=d.n_steps, help="Euler-Maruyama steps per path")
    p.add_argument("--dt", type=float, default=d.dt, help="time step between observations")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (simulation, pixel noise)")
    p.add_argument("--size", type=int, default=d.size, help="video frame side in pixels")
    p.add_argument("--blob-width", type=float, default=d.blob_width, help="blob standard deviation in pixels")
    p.add_argument("--noise", type=float, default=d.noise, help="pixel noise standard deviation")
    p.add_argument("--embedding", default=d.embedding, help="video geometry: line, warped, arc or spiral")
    p.add_argument("--frame-every", type=int, default=d.frame_every, help="render every k-th observation")
    p.add_argument("--n-bins", type=int, default=d.n_bins, help="bins of the binned Kramers-Moyal estimator")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_run)
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from .main_job import RunConfig, run_main

    names = {f.name for f in fields(RunConfig)}
    config = RunConfig(**{k: v for k, v in vars(args).items() if k in names})
    results = run_main(config, out=args.out, progress=not args.no_progress)
    print(f"wrote {args.out}/report.html and {args.out}/results.json "
          f"({results['timings_seconds']['total']:.1f} s)")
    return 0


# --------------------------------------------------------------------------------------------------
# fimcg systems
# --------------------------------------------------------------------------------------------------

def add_systems_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("systems", help="list the systems of the catalogue and their parameters",
                       description="List the systems accepted by `fimcg run --system` and "
                                   "fimcg.systems.get_system, with their default parameters.")
    p.set_defaults(func=cmd_systems)
    return p


def cmd_systems(args: argparse.Namespace) -> int:
    from ..sde.systems import get_system, list_systems

    for name in list_systems():
        sde = get_system(name)
        params = ", ".join(f"{k}={v}" for k, v in sde.params.items())
        print(f"{name:22s} d={sde.dim}  {params}")
    return 0


# --------------------------------------------------------------------------------------------------
# fimcg pretrain
# --------------------------------------------------------------------------------------------------

def add_pretrain_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..fim.training.loop import build_parser as build_pretrain_parser

    p = sub.add_parser("pretrain", help="pretrain the FIM on the synthetic prior (resumable)",
                       description="Pretrain the Foundation Inference Model on synthetic SDEs. Starting the same "
                                   "command again resumes from OUT/checkpoint.safetensors. For several GPUs/nodes/CPU "
                                   "processes: torchrun --nproc_per_node N -m fimcg.fim.training ...",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    build_pretrain_parser(p)
    p.set_defaults(func=cmd_pretrain)
    return p


def cmd_pretrain(args: argparse.Namespace) -> int:
    from ..fim.training.loop import run_from_args

    record = run_from_args(args)
    print(f"pretraining stopped at step {record.get('step')}; checkpoints and logs in {args.out}")
    return 0


# --------------------------------------------------------------------------------------------------
# fimcg convert
# --------------------------------------------------------------------------------------------------

def add_convert_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("convert", help="convert a file of fimcg's former pickle format (weights, results, "
                                       "checkpoints) to the current safetensors format",
                       description="fimcg no longer reads pickles, because unpickling a file can run code. This "
                                   "command converts a file that fimcg wrote in its former format, knowingly: it "
                                   "unpickles SRC with torch's restricted reader (tensors and plain values only); "
                                   "--trust allows a full unpickle, which runs any code SRC holds.")
    p.add_argument("src", help="the old file (.pt)")
    p.add_argument("dest", help="the new file (e.g. .safetensors)")
    p.add_argument("--trust", action="store_true",
                   help="if the restricted reader refuses SRC, unpickle it in full (only for files you made)")
    p.set_defaults(func=cmd_convert)
    return p


def cmd_convert(args: argparse.Namespace) -> int:
    import warnings

    from ..fim.weights import upgrade_legacy
    from ..io.checkpoint import convert_legacy, sha256_of

    print(f"fimcg convert: unpickling {args.src} ({'full unpickle allowed' if args.trust else 'restricted reader'});"
          " convert only files you made yourself or trust", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said above
        dest = convert_legacy(args.src, args.dest, trust=args.trust, upgrade=upgrade_legacy)
    print(f"wrote {dest} (SHA-256 {sha256_of(dest)})")
    return 0


# --------------------------------------------------------------------------------------------------
# fimcg coarse-grain / fimcg infer / fimcg estimate (your own files)
# --------------------------------------------------------------------------------------------------

def _add_array_arguments(p: argparse.ArgumentParser) -> None:
    """--layout and --dataset: how arrays in files are read (coarse-grain and infer)."""
    p.add_argument("--layout", default=None, help="axes of arrays: THW, PTHW, THWC, PTCHW, ... (default by rank)")
    p.add_argument("--dataset", default=None, help="dataset inside HDF5/zarr files (or write file.h5:/dataset)")


def add_coarse_grain_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..io.recording import DEFAULT_CHUNK_MB

    p = sub.add_parser("coarse-grain", help="coarse-grain your own recording (video files, TIFF, npy, zarr, HDF5)",
                       description="Learn a latent variable from the frames of FILE... and the SDE the frozen FIM "
                                   "infers for it; write OUT/report.html, OUT/results.json, OUT/latents.npy "
                                   "(n_paths, T, d) and OUT/result.safetensors. Frames are streamed, never all in "
                                   "memory. Running the same command again resumes from OUT/checkpoint.safetensors.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="video (mp4, avi, mov, gif, ...), image folder, TIFF, .npy, .zarr or file.h5:/dataset; "
                        "one path per file, or a stack with a path axis (see --layout)")
    p.add_argument("--dt", type=float, default=None,
                   help="time between consecutive frames of the files (default: from their frame rate)")
    p.add_argument("--out", default="fimcg-coarse-grain", help="output folder")
    p.add_argument("--latent-dim", type=int, default=1, help="dimension of the latent")
    p.add_argument("--steps", type=int, default=20, help="refinement steps after the initialisation")
    p.add_argument("--init", choices=("isomap", "slow"), default="isomap",
                   help="isomap: the frames' geometry; slow: the candidate the FIM predicts best (chapter 8)")
    p.add_argument("--judge-lags", type=int, nargs="+", default=None, metavar="LAG",
                   help="lags (frames, after stride) at which the latent's SDE must predict its future "
                        "(default 1 5 20; shorter when the frames are far apart)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    _add_array_arguments(p)
    p.add_argument("--channels", action="store_true", help="keep colour channels (default: convert to grey)")
    p.add_argument("--crop", type=int, nargs=4, metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"), default=None,
                   help="keep pixels [TOP:BOTTOM, LEFT:RIGHT] of every frame")
    p.add_argument("--downsample", type=int, default=1, help="average k x k pixel blocks")
    p.add_argument("--stride", type=int, default=1, help="keep every k-th frame (the time step becomes k dt)")
    p.add_argument("--chunk-mb", type=float, default=DEFAULT_CHUNK_MB, help="megabytes of frames read at a time")
    p.add_argument("--restart", action="store_true", help="ignore a checkpoint in OUT and start over")
    p.add_argument("--group-by-folder", action="store_true",
                   help="the files are several recordings, one per folder: one encoder for all, an SDE per "
                        "recording (pooled across them), a table and figure across recordings")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_coarse_grain)
    return p


def cmd_coarse_grain(args: argparse.Namespace) -> int:
    from .own_data import coarse_grain_files

    r = coarse_grain_files(args.files, out=args.out, dt=args.dt, latent_dim=args.latent_dim, steps=args.steps,
                           init=args.init, judge_lags=args.judge_lags, seed=args.seed, layout=args.layout,
                           dataset=args.dataset,
                           grey=not args.channels, crop=tuple(args.crop) if args.crop else None,
                           downsample=args.downsample, stride=args.stride, chunk_mb=args.chunk_mb,
                           restart=args.restart, group_by_folder=args.group_by_folder,
                           progress=not args.no_progress)
    for note in r["warnings"]:
        print(f"fimcg coarse-grain: warning: {note}", file=sys.stderr)
    print(f"wrote {args.out}/report.html, results.json, latents.npy and result.safetensors "
          f"({r['data']['paths']} paths x {r['data']['frames_per_path']} frames, {r['seconds_total']:.1f} s)")
    print("equation: " + r["equation"].replace("\n", ";  "))
    return 0


def add_infer_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("infer", help="the SDE of a new recording from a saved coarse-graining result, no training",
                       description="Encode the frames of FILE... with the encoder of RESULT (a result.safetensors "
                                   "written by fimcg coarse-grain, read with the same crop, downsampling, colour and "
                                   "stride) and read their SDE with the frozen FIM in one pass; for a collection "
                                   "(--group-by-folder) fit it in the collection's family of drifts. Write "
                                   "OUT/report.html, OUT/results.json, OUT/sde.csv and OUT/latents.npy.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("result", metavar="RESULT", help="result.safetensors of fimcg coarse-grain")
    p.add_argument("files", nargs="+", metavar="FILE", help="the new recording's files (as for coarse-grain)")
    p.add_argument("--dt", type=float, default=None,
                   help="time between consecutive frames (default: the files' frame rate, else the result's)")
    p.add_argument("--out", default="fimcg-infer", help="output folder")
    _add_array_arguments(p)
    p.set_defaults(func=cmd_infer)
    return p


def cmd_infer(args: argparse.Namespace) -> int:
    from .own_data import infer_files

    r = infer_files(args.result, args.files, out=args.out, dt=args.dt, layout=args.layout, dataset=args.dataset)
    print(f"wrote {args.out}/report.html, results.json, sde.csv and latents.npy ({r['data']['paths']} paths x "
          f"{r['data']['frames_per_path']} frames, {r['seconds']:.2f} s)")
    if r["family_coordinates"] is not None:
        print("coordinates in the collection's family: " + ", ".join(f"{c:.3f}" for c in r["family_coordinates"]))
    return 0


def add_estimate_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("estimate", help="estimate drift and diffusion of your own trajectories (CSV, npy)",
                       description="Estimate the drift and diffusion of the 1-D trajectories in TRAJ... with the "
                                   "frozen FIM and the classic estimators, discover a sparse equation and validate "
                                   "it; write OUT/report.html, OUT/results.json and OUT/estimates.csv. CSV files may "
                                   "have a path-id column (path, id, particle, track, ...) and a time column (t, "
                                   "time; then the steps may be irregular and --dt is not given).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("files", nargs="+", metavar="TRAJ", help="CSV/TSV table or .npy array ((T,), (n_paths, T) or "
                                                            "(n_paths, T, 1))")
    p.add_argument("--dt", type=float, default=None, help="time between observations (files without a time column)")
    p.add_argument("--out", default="fimcg-estimate", help="output folder")
    p.add_argument("--path-column", default=None, help="name of the path-id column, if not a usual name")
    p.add_argument("--time-column", default=None, help="name of the time column, if not t or time")
    p.add_argument("--n-bins", type=int, default=30, help="bins of the binned Kramers-Moyal estimator")
    p.add_argument("--seed", type=int, default=0, help="random seed of the validation")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_estimate)
    return p


def cmd_estimate(args: argparse.Namespace) -> int:
    from .own_data import estimate_files

    r = estimate_files(args.files, out=args.out, dt=args.dt, path_column=args.path_column,
                       time_column=args.time_column, n_bins=args.n_bins, seed=args.seed,
                       progress=not args.no_progress)
    print(f"wrote {args.out}/report.html, results.json and estimates.csv ({r['data']['paths']} paths, "
          f"{r['data']['observations']} observations, {r['seconds_total']:.1f} s)")
    print("equation: " + r["equation"].replace("\n", ";  "))
    return 0


#: name -> function adding the subcommand's parser (which sets ``func`` to its command function)
SUBCOMMANDS: dict[str, Callable[[argparse._SubParsersAction], argparse.ArgumentParser]] = {
    "run": add_run_parser,
    "systems": add_systems_parser,
    "pretrain": add_pretrain_parser,
    "convert": add_convert_parser,
    "coarse-grain": add_coarse_grain_parser,
    "infer": add_infer_parser,
    "estimate": add_estimate_parser,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fimcg",
        description="fimcg: coarse-graining with Foundation Inference Models (latent SDEs from video).")
    parser.add_argument("--version", action="version", version=f"fimcg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fimcg`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, UnsafeFileError) as exc:
        print(f"fimcg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fimcg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
