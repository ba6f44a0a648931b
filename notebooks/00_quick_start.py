# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 0. Quick start
#
# **What you will learn**
#
# - the whole fimcg pipeline in a handful of calls: simulate, film, coarse-grain, discover,
#   validate;
# - what the result looks like: a coordinate learned from pixels, and the drift and diffusion of
#   that coordinate inferred zero-shot by a frozen Foundation Inference Model;
# - where each step is explained in depth (the following chapters).
#
# **The equation that matters.** From video of a particle we recover a coordinate $z$ and
#
# $$
# \mathrm{d}Z_t = \hat f(Z_t)\,\mathrm{d}t + \hat g(Z_t)\,\mathrm{d}W_t ,
# $$
#
# with $\hat f$, $\hat g$ read off the encoded paths by the FIM {cite:p}`hinz2025coarse`.

# %%
import torch

import fimcg
from fimcg.analysis import discovery, validation
from fimcg.app import figures
from fimcg.widgets import pick

torch.set_num_threads(1)

# %% [markdown]
# **1. A system and its paths.** The reference double well with semicircle diffusion, observed
# every 0.01 time units.

# %%
sde = fimcg.systems.double_well()
dt = 0.01
x0 = torch.tensor([-1.0, 1.0]).repeat(10)[:, None]
paths = fimcg.simulate(sde, x0, dt=dt, n_steps=499, substeps=5, seed=0)
figures.paths_figure(paths, dt, n_show=3, title="the hidden state x(t)")

# %% [markdown]
# **2. Film it.** Each observation becomes a 32×32 image of a blob.

# %%
frames = fimcg.render_video(paths, size=32, seed=0)
figures.video_figure(frames, max_frames=pick(100, 30), dt=dt, title="what we actually observe")

# %% [markdown]
# **3. Coarse-grain.** Learn an encoder from frames to a coordinate $z$; the frozen FIM supplies
# the drift and diffusion of $z$ (chapter 5 explains the loss).

# %%
result = fimcg.coarse_grain(frames, dt, steps=pick(60, 10), seed=0)
figures.latent_scatter_figure(paths[..., 0], result.latents[..., 0], title="learned coordinate vs hidden state")

# %% [markdown]
# **4. Compare with the truth** (possible here because the data are synthetic): map $z$ to $x$
# with a fitted monotone function and transform drift and diffusion with Itô's formula.

# %%
comparison = fimcg.compare_to_truth(result.latents, paths, result.coefficients, sde)
figures.drift_diffusion_figure(comparison.grid[:, None], {"from video, zero-shot FIM": (comparison.drift,
                                                                                       comparison.diffusion)},
                               sde=sde, title="recovered drift and diffusion vs the truth")

# %% [markdown]
# **5. An equation, and a check that does not need the truth.**

# %%
z_grid = fimcg.occupied_grid(result.latents)
model = discovery.discover_from_coefficients(z_grid, *result.coefficients(z_grid), names=["z"])
print(model)
thresholds = tuple(float(q) for q in torch.quantile(result.latents.reshape(-1), torch.tensor([0.3, 0.7])))
check = validation.validate(model, result.latents, dt, thresholds=thresholds, seed=1)  # wells: data quantiles
print(check)

# %%
print(f"R² {comparison.r2:.4f}; relative RMSE drift {comparison.drift_rel:.3f}, "
      f"diffusion {comparison.diffusion_rel:.3f}")
assert comparison.r2 > 0.99, "the learned coordinate is a monotone function of the hidden state"
assert comparison.diffusion_rel < 0.2 and comparison.drift_rel < 0.6, "drift and diffusion are recovered"
assert 0.5 < check.model.rate / check.data.rate < 2, "the discovered SDE switches wells like the data"

# %% [markdown]
# ## Exercises
#
# 1. Film the particle along an arc (`embedding="arc"` in step 2) and run everything again.
#    Which numbers in the last cell change?
# 2. Try another system from the catalogue, e.g. `fimcg.systems.tanh_double_well()` (a
#    non-polynomial drift). What does the sparse equation of step 5 make of it?
# 3. Halve the number of paths. Which is hurt more, the drift or the diffusion (chapter 3 explains
#    why)?
#
# ## Where next
#
# Chapter 1 starts from the beginning: what drift and diffusion are, and what the double well
# does. The command line runs the same pipeline with an HTML report: `fimcg run`.
