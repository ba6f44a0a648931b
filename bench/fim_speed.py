"""Inference speed and memory of the shipped FIM on the CPU.

Prints the median (and the fastest) wall time of ``fim.estimate(paths, dt, locations)`` (256 query
locations) for contexts of 500 to 50,000 observations, with ``--threads`` torch threads, and the peak memory the
call allocates (tracemalloc does not see torch's allocator, so memory is measured as the growth of
the process's resident set in a fresh subprocess per size). Target (issue 5): <= 50 ms for a
5,000-observation context on one thread (judged on the median: this shared machine's timings
scatter by +-20% from run to run), memory growing linearly with the context.

    python bench/fim_speed.py [--threads 1] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings

import torch

import fimcg

SIZES = (500, 1000, 5000, 20000, 50000)


def _paths(n_obs: int) -> torch.Tensor:
    sde = fimcg.systems.double_well()
    return fimcg.simulate(sde, torch.zeros(1, 1), dt=0.002, n_steps=n_obs - 1, seed=0)


def time_one(n_obs: int, repeats: int, weights: str | None = None) -> tuple[float, float]:
    """(median, fastest) wall time in ms of one estimate() call."""
    fim = fimcg.load_fim(weights)
    paths = _paths(n_obs)
    loc = torch.linspace(-1.5, 1.5, 256)[:, None]
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
    fim = fimcg.load_fim(weights)
    paths = _paths(n_obs)
    loc = torch.linspace(-1.5, 1.5, 256)[:, None]
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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--json", default="bench/results/fim_speed.json")
    ap.add_argument("--weights", help="weights file (default: the shipped ones)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
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
    with open(args.json, "w") as fh:
        json.dump({"threads": args.threads, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
