"""The fixed suite of contexts whose FIM outputs are kept in ``fim_reference_outputs.json``.

``python tests/data/fim_reference_contexts.py OUT.json`` evaluates the shipped FIM on every context
and writes drift and diffusion at the queries (float64 lists). The committed file was written by
the implementation of commit 32ad65b (the last one before the weights moved to safetensors);
``tests/test_fim.py::test_outputs_equal_the_saved_reference`` checks that every later
implementation gives the same numbers to float rounding. The suite uses only public API that has
not changed (``fimcg.simulate``, ``fimcg.systems``, ``fimcg.load_fim().estimate``).
"""

from __future__ import annotations

import json
import sys

import torch


def contexts() -> list[dict]:
    """Six contexts: 1 to 100 paths, regular and irregular steps, clean and noisy; 40 queries each."""
    import fimcg

    out = []
    spec = [("double_well", 100, 200, 0.01, None, 0.0), ("double_well", 1, 5000, 0.002, None, 0.0),
            ("ornstein_uhlenbeck", 10, 500, 0.01, None, 0.02), ("tanh_double_well", 5, 1000, 0.005, None, 0.0),
            ("periodic_well", 20, 300, 0.01, "irregular", 0.0), ("double_well_soft", 3, 800, 0.01, "irregular", 0.01)]
    for i, (name, n, t, dt, irregular, noise) in enumerate(spec):
        gen = torch.Generator().manual_seed(100 + i)
        sde = fimcg.systems.get_system(name)
        if irregular:  # gaps of 1..4 base steps, the same for every path
            k = torch.randint(1, 5, (t,), generator=gen)
            idx = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(k, 0)])
            fine = fimcg.simulate(sde, 0.3 * torch.randn(n, 1, generator=gen), dt=dt, n_steps=int(idx[-1]), seed=i)
            paths, steps = fine[:, idx], (k.double() * dt).tolist()
        else:
            paths = fimcg.simulate(sde, 0.3 * torch.randn(n, 1, generator=gen), dt=dt, n_steps=t, seed=i)
            steps = dt
        paths = paths + noise * torch.randn(paths.shape, generator=gen)
        lo, hi = torch.quantile(paths, 0.05).item(), torch.quantile(paths, 0.95).item()
        out.append({"name": name, "paths": paths, "dt": steps, "queries": torch.linspace(lo, hi, 40)[:, None]})
    return out


def outputs(model) -> list[dict]:
    res = []
    for c in contexts():
        with torch.no_grad():
            f, g = model.estimate(c["paths"], c["dt"], c["queries"], warn=False)
        res.append({"name": c["name"], "drift": f.double().reshape(-1).tolist(),
                    "diffusion": g.double().reshape(-1).tolist()})
    return res


if __name__ == "__main__":
    import fimcg

    torch.set_num_threads(1)
    with open(sys.argv[1], "w") as fh:
        json.dump(outputs(fimcg.load_fim()), fh)
