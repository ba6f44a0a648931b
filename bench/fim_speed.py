"""Inference speed and memory of the shipped FIM on the CPU.

Prints the median (and the fastest) wall time of ``fim.estimate(paths, dt, locations)`` (256 query
locations) for contexts of 500 to 50,000 observations, with ``--threads`` torch threads, and the peak memory the
call allocates (tracemalloc does not see torch's allocator, so memory is the peak of the running sum
of the torch profiler's allocation and release events during the call). Target (issue 5): <= 50 ms for a
5,000-observation context on one thread (judged on the median: this shared machine's timings
scatter by +-20% from run to run), memory growing linearly with the context.

    python bench/fim_speed.py [--threads 1] [--repeats 15]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

if not __package__:  # run as a script (python bench/fim_speed.py): import bench from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import fimcg
from bench import cli
from bench.cases import speed_context

SIZES = (500, 1000, 5000, 20000, 50000)


def _context(n_obs: int, weights: str | None) -> tuple:
    """A freshly loaded FIM, a context of ``n_obs`` observations and the 256 query locations."""
    return fimcg.load_fim(weights), speed_context(n_obs), torch.linspace(-1.5, 1.5, 256)[:, None]


def time_one(n_obs: int, repeats: int, weights: str | None = None) -> tuple[float, float]:
    """(median, fastest) wall time in ms of one estimate() call."""
    fim, paths, loc = _context(n_obs, weights)
    with torch.no_grad():
        fim.estimate(paths, 0.002, loc, warn=False)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fim.estimate(paths, 0.002, loc, warn=False)
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times), 1000 * min(times)


def peak_rss_mb(n_obs: int, threads: int, weights: str | None = None) -> float:
    """Peak memory (MB) allocated by torch during one estimate() call: the running sum of the
    profiler's allocation (+) and release (-) events, in time order."""
    fim, paths, loc = _context(n_obs, weights)
    with torch.no_grad(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                                 profile_memory=True) as prof:
        fim.estimate(paths, 0.002, loc, warn=False)
    events = sorted((e for e in prof.events() if e.cpu_memory_usage), key=lambda e: e.time_range.start)
    level = peak = 0
    for e in events:
        level += e.cpu_memory_usage
        peak = max(peak, level)
    return peak / 2 ** 20


def main() -> None:
    ap = cli.parser(__doc__)
    ap.add_argument("--repeats", type=int, default=15)
    cli.add_fim_options(ap, json_default="bench/results/fim_speed.json")
    args = ap.parse_args()
    cli.set_up(args)
    rows = []
    print(f"FIM inference, 256 query locations, {args.threads} torch thread(s), median of {args.repeats}")
    print(f"  {'observations':>12} {'ms':>8} {'fastest':>8} {'ms per 1k obs':>14} {'peak extra MB':>14}")
    for n in SIZES:
        ms, fastest = time_one(n, args.repeats, args.weights)
        mb = peak_rss_mb(n, args.threads, args.weights)
        rows.append({"observations": n, "ms": ms, "fastest_ms": fastest, "peak_extra_mb": mb})
        print(f"  {n:>12} {ms:>8.1f} {fastest:>8.1f} {1000 * ms / n:>14.2f} {mb:>14.1f}")
    five = next(r for r in rows if r["observations"] == 5000)
    print(f"\nTarget: <= 50 ms at 5,000 observations: {'PASS' if five['ms'] <= 50 else 'MISS'} ({five['ms']:.1f} ms)")
    mb_ratio = rows[-1]["peak_extra_mb"] / max(rows[2]["peak_extra_mb"], 1e-9)
    print(f"Memory 50,000 vs 5,000 observations: x{mb_ratio:.1f} (linear growth would be about x10)")
    cli.write_json({"threads": args.threads, "rows": rows}, args.json, indent=2)


if __name__ == "__main__":
    main()
