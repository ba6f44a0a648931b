"""Benchmark: fimcg.simulate against torchsde's Euler-Maruyama, and render_video.

    python bench/simulate.py [--threads 1] [--repeats 3] [--n-paths 1000] [--n-steps 5000]

Both simulators integrate the reference double well (f = 4x - 4x^3, g = sqrt(max(4 - 1.25x^2, 0)))
on the same batch (n_paths x n_steps at dt = 0.002, every step observed) with a fixed number of torch
threads; the best of ``--repeats`` runs is reported. torchsde is a benchmark-only dependency
(``pip install -e .[bench]``). Target: fimcg at least 2x faster than torchsde on CPU.

The second table times render_video on 100 paths x 500 frames at 32x32 (the issue's target:
seconds, not minutes).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

import fimcg
from fimcg import render_video, simulate, systems


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


class _TorchsdeDoubleWell(torch.nn.Module):
    noise_type = "diagonal"
    sde_type = "ito"

    def f(self, t, y):
        return 4 * y - 4 * y ** 3

    def g(self, t, y):
        return torch.sqrt(torch.clamp(4 - 1.25 * y * y, min=0.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (same for both)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    ap.add_argument("--n-paths", type=int, default=1000)
    ap.add_argument("--n-steps", type=int, default=5000)
    ap.add_argument("--dt", type=float, default=0.002)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    sde = systems.double_well()
    x0 = 0.5 * torch.randn(args.n_paths, 1, generator=torch.Generator().manual_seed(0))
    t_fim, paths = best_of(lambda: simulate(sde, x0, dt=args.dt, n_steps=args.n_steps, seed=1), args.repeats)

    rows = [("fimcg.simulate", t_fim, paths)]
    try:
        import torchsde
    except ImportError:  # pragma: no cover
        torchsde = None
        print("torchsde is not installed (pip install -e .[bench]); only fimcg is timed")
    if torchsde is not None:
        tsde = _TorchsdeDoubleWell()
        t_end = args.n_steps * args.dt
        ts_all = torch.linspace(0, t_end, args.n_steps + 1)

        def run_torchsde(ts):
            with torch.no_grad():
                return torchsde.sdeint(tsde, x0, ts, method="euler", dt=args.dt).transpose(0, 1)

        t_all, p_all = best_of(lambda: run_torchsde(ts_all), args.repeats)
        rows.append(("torchsde.sdeint euler, every step observed", t_all, p_all))
        t_end_only, p_end = best_of(lambda: run_torchsde(torch.tensor([0.0, t_end])), args.repeats)
        rows.append(("torchsde.sdeint euler, end point only", t_end_only, p_end))

    print(f"\nEuler-Maruyama, reference double well: {args.n_paths} paths x {args.n_steps} steps, dt={args.dt}, "
          f"torch {torch.__version__}, {args.threads} thread(s), best of {args.repeats}, {platform.processor() or platform.machine()}")
    print(f"{'method':45s} {'seconds':>9s} {'steps/s (paths x steps)':>25s} {'std(x_T)':>9s} {'vs fimcg':>9s}")
    for name, secs, p in rows:
        rate = args.n_paths * args.n_steps / secs
        print(f"{name:45s} {secs:9.3f} {rate:25.3e} {float(p[:, -1].std()):9.3f} {secs / t_fim:8.2f}x")
    if len(rows) > 1:
        print(f"\nspeed ratio torchsde / fimcg (same output, every step observed): {rows[1][1] / t_fim:.2f}x "
              f"(target >= 2x)")

    # render_video: 100 paths x 500 frames at 32x32
    vid_paths = paths[:100, :500] if paths.shape[0] >= 100 and paths.shape[1] >= 500 else \
        simulate(sde, torch.zeros(100, 1), dt=args.dt, n_steps=499, seed=2)
    print(f"\nrender_video: {vid_paths.shape[0]} paths x {vid_paths.shape[1]} frames, best of {args.repeats}")
    print(f"{'setting':40s} {'seconds':>9s} {'frames/s':>10s} {'MB':>7s}")
    for label, kw in (("32x32, line, no noise", dict()), ("32x32, line, noise 0.02", dict(noise=0.02, seed=0)),
                      ("32x32, arc, noise 0.02", dict(noise=0.02, seed=0, embedding="arc")),
                      ("64x64, line, noise 0.02", dict(size=64, noise=0.02, seed=0))):
        secs, frames = best_of(lambda: render_video(vid_paths, **kw), args.repeats)
        n = frames.shape[0] * frames.shape[1]
        print(f"{label:40s} {secs:9.3f} {n / secs:10.0f} {frames.numel() * 4 / 2**20:7.0f}")
        del frames
    print(f"\nfimcg {fimcg.__version__}")


if __name__ == "__main__":
    main()
