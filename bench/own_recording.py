"""Your own recording through the command line: video files, and a frame stack larger than memory should need.

    python bench/own_recording.py                          # mp4 rows + .npy stacks of 0.75, 1.5 and 3 GB
    python bench/own_recording.py --sizes-gb 0.1 0.2 0.4   # a quick look

1. **mp4**: ``--videos`` paths of the reference double well (x0 ~ N(0, 0.5^2), 1,001 frames at
   dt = 0.01, 32x32, pixel noise 0.02) are rendered, written as H.264 mp4 files with imageio (8-bit,
   lossy), and run through ``fimcg coarse-grain FILE... --out DIR`` in a child process, dt taken from
   the files' frame rate. The table gives the latents' R² against the hidden state after monotone
   alignment (target >= 0.98), and the drift and diffusion errors after alignment.
2. **stream**: float32 stacks (n_paths, 1001, 64, 64) of ``--sizes-gb`` gigabytes, the same system
   rendered at 64x64, written to ``.npy`` files in ``--workdir`` (deleted afterwards), each run through
   ``fimcg coarse-grain STACK.npy --layout PTHW --dt 0.01`` in a child process. The table gives the
   child's peak resident memory (its own ``VmHWM``: everything the process touched, torch and the
   FIM included; target < 1.5 GB at 3 GB of frames), the wall time, the throughput in frames/s and
   the latents' R² (the streamed run must still find the variable). Time is a fixed part (the PCA's
   eigen-decomposition of the 4096 x 4096 pixel covariance, Isomap on a subsample, the FIM's
   contexts) plus a part linear in the frames; the last line fits the two.

Seeds start at 100 (never used while building). Children run with ``--threads`` torch threads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bench import cli
import fimcg
from fimcg.analysis.alignment import compare_to_truth

SEED = 100
FRAMES = 1001
DT = 0.01


def hidden_paths(n_paths: int, seed: int) -> torch.Tensor:
    """The reference double well observed every 0.01 (simulated at 0.002): (n_paths, 1001, 1)."""
    sde = fimcg.systems.double_well()
    x0 = 0.5 * torch.randn(n_paths, 1, generator=torch.Generator().manual_seed(seed))
    return fimcg.simulate(sde, x0, dt=0.002, n_steps=5 * (FRAMES - 1), seed=seed + 1)[:, ::5]


_CHILD = """
import sys, torch
torch.set_num_threads({threads})
from fimcg.app.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as fh:  # VmHWM: the peak resident memory of this process's own address space
    hwm = [line.split()[1] for line in fh if line.startswith("VmHWM:")][0]
print("VmHWM_kB", hwm, file=sys.stderr)
sys.exit(code)
"""


def peak_rss_child(args: list[str], threads: int) -> tuple[float, float]:
    """(seconds, peak resident memory in GB) of ``fimcg args`` run as a child process.

    The peak is the child's ``VmHWM`` (Linux), read by the child itself at its end: unlike the
    ``ru_maxrss`` that ``wait4`` reports, it does not include the parent's resident memory at the
    fork (here, the stack the parent just wrote)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(threads=threads), *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"fimcg {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    hwm = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("VmHWM_kB")][-1]
    return seconds, int(hwm) / 2 ** 20  # kB -> GB


def score(out: Path, x: torch.Tensor) -> dict:
    """R² and aligned drift/diffusion errors of the latents a run wrote, against the hidden paths x."""
    z = torch.from_numpy(np.load(out / "latents.npy"))
    res = fimcg.CoarseGrainResult.load(out / "result.safetensors")
    cmp = compare_to_truth(z, x, res.coefficients, fimcg.systems.double_well())
    return {"r2": cmp.r2, "drift_rel": cmp.drift_rel, "diffusion_rel": cmp.diffusion_rel}


def bench_mp4(workdir: Path, n_videos: int, threads: int) -> dict:
    import imageio.v3 as iio

    x = hidden_paths(n_videos, SEED)
    frames = fimcg.render_video(x, size=32, noise=0.02, seed=SEED + 2)
    files = []
    for i in range(n_videos):
        f = workdir / f"particle_{i}.mp4"
        iio.imwrite(f, (frames[i].clamp(0, 1) * 255).round().to(torch.uint8).numpy(), fps=round(1 / DT),
                    codec="libx264", macro_block_size=1)
        files.append(str(f))
    out = workdir / "mp4-out"
    seconds, rss = peak_rss_child(["coarse-grain", *files, "--out", str(out), "--no-progress"], threads)
    row = {"case": f"{n_videos} mp4 files", "frames": int(frames.shape[0] * frames.shape[1]),
           "megabytes_on_disk": sum(os.path.getsize(f) for f in files) / 2 ** 20, "seconds": seconds,
           "peak_rss_gb": rss, **score(out, x)}
    return row


def write_stack(path: Path, n_paths: int, seed: int) -> torch.Tensor:
    """Render n_paths paths at 64x64 straight into a float32 .npy stack (n_paths, 1001, 64, 64)."""
    x = hidden_paths(n_paths, seed)
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_paths, FRAMES, 64, 64))
    for a in range(0, n_paths, 8):
        arr[a:a + 8] = fimcg.render_video(x[a:a + 8], size=64, blob_width=3.0, noise=0.02, seed=seed + 2 + a).numpy()
    arr.flush()
    del arr
    return x


def main() -> None:
    ap = cli.parser(__doc__)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--sizes-gb", type=float, nargs="*", default=[0.75, 1.5, 3.0])
    ap.add_argument("--workdir", default="/tmp/fimcg-bench-own-recording")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="bench/results/own_recording.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        print("| case | frames | size | seconds | frames/s | peak RSS (GB) | R² | drift rel | diffusion rel |")
        print("|---|---|---|---|---|---|---|---|---|")
        if args.videos:
            r = bench_mp4(work, args.videos, args.threads)
            rows.append(r)
            print(f"| {r['case']} | {r['frames']} | {r['megabytes_on_disk']:.1f} MB | {r['seconds']:.1f} | "
                  f"{r['frames'] / r['seconds']:.0f} | {r['peak_rss_gb']:.2f} | {r['r2']:.4f} | "
                  f"{r['drift_rel']:.3f} | {r['diffusion_rel']:.3f} |", flush=True)
        for gb in args.sizes_gb:
            n_paths = max(1, round(gb * 2 ** 30 / (FRAMES * 64 * 64 * 4)))
            stack = work / f"stack_{n_paths}.npy"
            x = write_stack(stack, n_paths, SEED + 1000 + n_paths)
            out = work / f"stack-out-{n_paths}"
            seconds, rss = peak_rss_child(["coarse-grain", str(stack), "--layout", "PTHW", "--dt", str(DT), "--out",
                                           str(out), "--no-progress"], args.threads)
            size = os.path.getsize(stack) / 2 ** 30
            r = {"case": f".npy stack, {n_paths} paths", "frames": n_paths * FRAMES, "gigabytes": size,
                 "seconds": seconds, "frames_per_second": n_paths * FRAMES / seconds, "peak_rss_gb": rss,
                 **score(out, x)}
            rows.append(r)
            print(f"| {r['case']} | {r['frames']} | {size:.2f} GB | {seconds:.1f} | {r['frames_per_second']:.0f} | "
                  f"{rss:.2f} | {r['r2']:.4f} | {r['drift_rel']:.3f} | {r['diffusion_rel']:.3f} |", flush=True)
            stack.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    streams = [r for r in rows if "gigabytes" in r]
    if len(streams) >= 2:
        n = np.array([r["frames"] for r in streams], float)
        t = np.array([r["seconds"] for r in streams])
        slope, fixed = np.polyfit(n, t, 1)
        worst = float(np.max(np.abs(fixed + slope * n - t) / t))
        print(f"\ntime = {fixed:.1f} s + {1000 * slope:.3f} s per 1,000 frames (largest deviation of a run from "
              f"the line {100 * worst:.0f}%); frames ratio {n[-1] / n[0]:.1f}, time ratio {t[-1] / t[0]:.2f}")
        for r in rows:
            r["linear_fit"] = {"fixed_seconds": fixed, "seconds_per_frame": slope, "worst_relative": worst} \
                if r in streams else None
    cli.write_json({"rows": rows, "threads": args.threads, "torch": torch.__version__}, args.json)


if __name__ == "__main__":
    main()
