"""How much of the particle's state is in a single frame at all: a *supervised* upper bound for the
scenes of ``bench/slow_variable.py``.

    python bench/slow_variable_bound.py                 # 2 seeds, the 8 cases, 24 x 1,000 frames of 32x32

An MLP (two hidden layers of 128, SiLU, Adam, ``--steps`` steps) is trained to output the hidden
particle position from one frame, on 18 of the 24 paths, with the true position as its target; the
table gives its R² on the 6 held-out paths (after the same monotone alignment as the benchmark). Two
inputs: the 32 PCA features the coarse-graining encoder reads, and all pixels. No unsupervised
method that encodes one frame at a time should be expected to beat these figures; where they are
below the benchmark's R² target, the target cannot be met from single frames.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bench import cli
from bench.slow_variable import CASES, SEED_OFFSET
from fimcg.analysis.alignment import latent_r2
from fimcg.coarse_graining.autoencoder import FramePCA, mlp
from fimcg.video import make_scene


def supervised_r2(inputs: torch.Tensor, x: torch.Tensor, *, n_train: int, steps: int, seed: int) -> float:
    """Held-out R² of an MLP regressing x (n_paths, T) on inputs (n_paths, T, k), trained on the first
    ``n_train`` paths."""
    k = inputs.shape[-1]
    u = inputs.reshape(-1, k)
    u = (u - u.mean(0)) / u.std()
    u = u.reshape(inputs.shape)
    a, b = u[:n_train].reshape(-1, k), x[:n_train].reshape(-1, 1)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = mlp(k, 128, 1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(steps):
        j = torch.randint(0, a.shape[0], (2048,), generator=gen)
        loss = ((net(a[j]) - b[j]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        z = net(u[n_train:].reshape(-1, k))
    return latent_r2(z.reshape(-1), x[n_train:].reshape(-1))


def main() -> None:
    ap = cli.parser(__doc__)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="bench/results/slow_variable_bound.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, dict[str, list[float]]] = {}
    print(f"{'case':12s} {'R2, 32 PCA features':>20s} {'R2, all pixels':>15s}   (supervised, held-out paths; "
          f"median of {args.seeds} seeds)")
    for name in args.cases.split(","):
        rows: dict[str, list[float]] = {"pca32": [], "pixels": []}
        t0 = time.perf_counter()
        for i in range(args.seeds):
            scene = make_scene(name, n_paths=24, n_frames=1000, size=32, seed=SEED_OFFSET + i, noise=0.0)
            n, T = scene.frames.shape[:2]
            flat = scene.frames.reshape(n * T, -1)
            feats = FramePCA(tuple(scene.frames.shape[2:]), 32).fit(flat).project(flat).reshape(n, T, 32)
            x = scene.signal[..., 0]
            rows["pca32"].append(supervised_r2(feats, x, n_train=18, steps=args.steps, seed=i))
            rows["pixels"].append(supervised_r2(flat.reshape(n, T, -1), x, n_train=18, steps=args.steps, seed=i))
        results[name] = rows
        print(f"{name:12s} {np.median(rows['pca32']):20.4f} {np.median(rows['pixels']):15.4f}   "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        cli.write_json({"config": vars(args), "results": results}, args.json)


if __name__ == "__main__":
    main()
