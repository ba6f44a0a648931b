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
# # 6. Equation discovery and validation
#
# **What you will learn**
#
# - how sparse regression on a polynomial library turns drift and diffusion *curves* into an
#   *equation* with a few terms (SINDy's thresholded least squares {cite:p}`brunton2016sindy`);
# - how the sparsity threshold trades simplicity against fit;
# - how to validate a discovered SDE against data with statistics that do not depend on the
#   coordinate: the stationary distribution and the rate of switching between the wells.
#
# **The equation that matters.** With a library of monomials $\theta(x) = (1, x, x^2, \dots)$,
# find sparse coefficient vectors $\xi$, $\eta$ with
#
# $$
# f(x) \approx \theta(x)^\top \xi, \qquad g(x)^2 \approx \theta(x)^\top \eta ,
# $$
#
# by least squares, then repeatedly dropping every term whose contribution is below a threshold
# and refitting.

# %%
import numpy as np
import torch

import fimcg
from fimcg import systems
from fimcg.analysis import discovery, validation
from fimcg.app import figures
from fimcg.widgets import discovery_data, discovery_explorer, discovery_figure, pick, show

torch.set_num_threads(1)
sde = systems.double_well()
DT = 0.01
N_PATHS, N_FRAMES = 20, 500                # the same data in fast mode: only training is shortened
paths = systems.paths_from_wells(sde, n_paths=N_PATHS, n_obs=N_FRAMES, dt=DT, substeps=5, seed=0)
print(f"{N_PATHS} paths of {N_FRAMES} observations at dt = {DT}")

# %% [markdown]
# ## Warm-up: discovery from the true paths
#
# `fimcg.analysis.discovery.discover` regresses the increments directly (Kramers–Moyal regression:
# $\Delta x/\Delta t$ on the library gives $f$, the squared residuals give $g^2$), keeping only
# significant terms. On plenty of true paths (50 paths of 20 time units at the integration step
# $\Delta t = 0.002$) it should find the reference equation $f = 4x - 4x^3$, $g^2 = 4 - 1.25x^2$ from
# a library of degree 5 for $f$ and 4 for $g^2$.

# %%
fine = systems.paths_from_wells(sde, n_paths=50, n_obs=10001, dt=0.002, seed=10)
truth_model = discovery.discover(fine, 0.002, drift_degree=5, diffusion_degree=4)
print(truth_model)

# %%
coef = truth_model.coefficients()
assert set(coef["f"]) == {"x", "x^3"} and set(coef["g2"]) == {"1", "x^2"}, "exactly the reference terms"
assert abs(coef["f"]["x^3"] + 4) < 0.4 and abs(coef["g2"]["1"] - 4) < 0.2, "with the reference coefficients"

# %% [markdown]
# The same paths observed only every $0.01$ time units tell a slightly different story: the
# regression inherits the sampling-step bias of chapter 3 (the drift coefficients shrink, and
# $g^2$ grows a spurious $x^4$ term). Keep that in mind below, where the video has one frame per
# $0.01$.

# %%
print(discovery.discover(fine[:, ::5], 0.01, drift_degree=5, diffusion_degree=4))

# %% [markdown]
# ## From video: the latent's equation
#
# Now the real task. We coarse-grain the video as in chapter 5, ask the frozen FIM for drift and
# diffusion on a grid over the latent, and fit a sparse equation to those curves
# (`discover_from_coefficients`, weighted by how often the latent visits each place).

# %%
frames = fimcg.render_video(paths, size=32, seed=0)
result = fimcg.coarse_grain(frames, DT, steps=pick(60, 10), seed=0)
z = result.latents
z_grid = fimcg.occupied_grid(z, n=80)
f_z, g_z = result.coefficients(z_grid)
hist, edges = np.histogram(z.reshape(-1).numpy(), bins=80, range=(float(z_grid[0]), float(z_grid[-1])), density=True)
weights = np.interp(z_grid[:, 0].numpy(), (edges[1:] + edges[:-1]) / 2, hist)
found = discovery_data(z_grid, f_z, g_z, weights=weights, threshold=0.1, names=["z"])
discovery_figure(found)

# %% [markdown]
# The equation lives in the latent coordinate $z$, which the training standardised (mean 0,
# variance 1) and may have flipped: so do not expect $4z - 4z^3$. A double well is a double well
# in any coordinate, though: a cubic drift with three zeros. The sparsity threshold decides how
# many terms survive; in JupyterLab, move it yourself. On this page the slider steps through
# thresholds.

# %%
show(discovery_explorer, z_grid, f_z, g_z, weights=weights)

# %%
thresholds = [0.001, 0.01, 0.05, 0.1, 0.3]
fits = [discovery_data(z_grid, f_z, g_z, weights=weights, threshold=t, names=["z"]) for t in thresholds]
figures.slider_figure([discovery_figure(d) for d in fits], [f"{t:g}" for t in thresholds], prefix="threshold ",
                      slider_y=-0.35)

# %% [markdown]
# ## Validation without the truth
#
# Is the discovered equation right? We cannot compare it with $4x - 4x^3$: it lives in another
# coordinate. But some statistics are the same in every coordinate, because a monotone map keeps
# the order of states:
#
# - the **stationary distribution**, compared by the Kolmogorov–Smirnov distance between the
#   latent data and long simulations of the discovered SDE (the KS distance does not change under
#   a monotone map applied to both);
# - the **well-switching rate**: how often the process goes from one well to the other.
#
# `validation.validate` simulates the discovered SDE and computes both. The switching thresholds
# must not depend on the coordinate either, so we place them at quantiles of the data: a state
# counts as "left well" below the 30% quantile of the latent and "right well" above the 70% one
# (a monotone map moves the quantiles along with the states).

# %%
model = found.model
thresholds = tuple(float(q) for q in torch.quantile(z.reshape(-1), torch.tensor([0.3, 0.7])))
check = validation.validate(model, z, DT, thresholds=thresholds, n_paths=pick(100, 40), duration=pick(50.0, 20.0),
                           seed=1)
print(check)
figures.density_figure(z, model.sde(), title="latent data (histogram) vs stationary density of the discovered SDE")

# %%
simulated = fimcg.simulate(model.sde(), z[:, 0], dt=DT, n_steps=N_FRAMES - 1, substeps=5, seed=2, on_divergence="nan")
figures.paths_grid_figure([(z, DT), (simulated, DT)], titles=["encoded video (data)", "discovered SDE (simulated)"],
                          n_show=3)

# %%
ratio = check.model.rate / check.data.rate
print(f"switching rate model/data = {ratio:.2f}, KS distance = {check.ks:.3f}")
assert 0.5 < ratio < 2.0, "the discovered SDE must switch wells about as often as the data"
assert check.ks < pick(0.1, 0.15), "the discovered SDE must reproduce the stationary distribution"

# %% [markdown]
# ## Exercises
#
# 1. Discover from the *true* paths with `threshold=0` and `min_t=None` (no sparsity). How many
#    terms does the drift get, and how do the high-order coefficients compare with their
#    standard errors?
# 2. Map the discovered latent equation to the true coordinate with the alignment of chapter 5
#    (`alignment.fit_alignment` and Itô's formula). Which terms appear then?
# 3. Validate a *wrong* model, e.g. the discovered drift with a constant diffusion. Which of the
#    two statistics notices?
#
# ## Where next
#
# Chapter 7 asks why we bother with a frozen FIM at all, and trains the classic alternative: an
# autoencoder together with its own dynamics model.
