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
# # 5. Coarse-graining from video with a frozen FIM
#
# **What you will learn**
#
# - how an encoder learns a one-dimensional coordinate from video while a *frozen* FIM supplies
#   the dynamics of that coordinate, with gradients flowing through the FIM
#   {cite:p}`hinz2025coarse`;
# - to watch the latent and its drift and diffusion take shape during training;
# - why a learned coordinate is only defined up to a smooth monotone change of variables, how
#   drift and diffusion transform under it (Itô's formula), and how to compare with the truth.
#
# **The equations that matter.** The frames $y_t$ enter through their leading principal
# components $u_t$; the encoder maps them to $z_t$, the decoder $D$ maps a latent back to
# components, and the FIM reads all encoded paths and returns $\hat f(z)$ and $\hat g(z)$.
# Training minimises
#
# $$
# L = w_{\text{rec}}\,\frac{\sum \lVert D(z_t) - u_t\rVert^2}{\sum \lVert u_t \rVert^2}
#   + w_{\text{sim}}\;\mathbb E_t\!\left[\frac{(\delta_t - \hat f(z_t)\,\Delta t)^2}{2\,\hat g(z_t)^2\,\Delta t}
#   + \tfrac12 \log\!\big(2\pi\,\hat g(z_t)^2 \Delta t\big) + \tfrac12 \log J_t^2\right],
# \qquad \delta_t = \frac{J_t^\top (u_{t+1} - u_t)}{J_t^\top J_t},\quad J_t = D'(z_t),
# $$
#
# a reconstruction term and the one-step Euler–Maruyama likelihood of the *frames'* increments,
# measured along the decoder's curve: $\delta_t$ is the latent step that the frames imply, and the
# last term makes it a density of frame displacements, so squashing or stretching the latent
# cannot lower it (the docstring of `fimcg.coarse_grain` derives it; `LikelihoodConfig(space="latent")`
# scores $\Delta z_t$ itself instead, which a distorted latent can game). If
# $x = h(z)$ is another coordinate, Itô's formula gives
#
# $$
# f_x = h'(z)\, f_z + \tfrac12\, h''(z)\, g_z^2, \qquad g_x = |h'(z)|\, g_z .
# $$

# %%
import numpy as np
import torch

import fimcg
from fimcg import systems
from fimcg.analysis import alignment
from fimcg.app import figures
from fimcg.widgets import LatentRecorder, coordinate_change_data, coordinate_change_explorer, coordinate_change_figure, latent_training_figure, pick, show

torch.set_num_threads(1)
sde = systems.double_well()
DT = 0.01                                   # one frame every 0.01 time units (5 integration steps)
N_PATHS, N_FRAMES = 20, 500                # the same data in fast mode: only training is shortened
x0 = torch.tensor([-1.0, 1.0]).repeat(N_PATHS // 2)[:, None]
paths = fimcg.simulate(sde, x0, dt=DT, n_steps=N_FRAMES - 1, substeps=5, seed=0)
frames = fimcg.render_video(paths, size=32, blob_width=1.5, noise=0.0, seed=0)
print(f"{N_PATHS} videos of {N_FRAMES} frames, 32x32 pixels: frames {tuple(frames.shape)}")
figures.frame_strip_figure(frames, n_frames=8, dt=DT, title="the data: path 0 as frames")

# %% [markdown]
# ## Training the encoder around the frozen FIM
#
# `coarse_grain` first initialises encoder and decoder with a classic nonlinear dimension
# reduction of the frames (Isomap: the arc length along the curve the frames trace in pixel
# space). The decoder is then frozen: it pins the latent's parameterisation. The training refines
# the encoder alone with the loss above, with a few small steps. The FIM's weights never change;
# it is a differentiable function from latent paths to drift and diffusion, so the likelihood
# term pushes the encoder towards a coordinate in which the FIM's SDE explains how the frames
# move. A `LatentRecorder` keeps a snapshot every few steps so we can watch.
#
# Here geometry alone already finds the right coordinate: the only thing that moves is the
# particle. Chapter 8 adds a distractor that owns the geometry, and shows how the FIM, used as a
# judge of candidate coordinates (`InitConfig(method="slow")`), finds the slow variable anyway.

# %%
recorder = LatentRecorder(paths)
result = fimcg.coarse_grain(frames, DT, steps=pick(60, 10), callback=recorder, eval_every=pick(10, 5),
                            seed=0)
print(f"trained in {result.history[-1]['time_s']:.0f} s")
figures.history_figure(result.history, keys=["loss", "rec", "sim"], title="training loss and its two parts")

# %% [markdown]
# Drag the slider: the latent against the true state, and the drift and diffusion the frozen FIM
# reads off the latent paths at that point of training.

# %%
latent_training_figure(recorder)

# %% [markdown]
# ## The latent against the truth
#
# The latent is a number per frame; plotted against the true $x$ it should be a smooth,
# monotone curve. Its scale and offset are arbitrary (the training standardises it), and so is
# its orientation: right in the video may be "down" in the latent.

# %%
z = result.latents
figures.latent_scatter_figure(paths[..., 0], z[..., 0], title="encoded latent vs true state")

# %%
r2 = alignment.latent_r2(z[..., 0].reshape(-1), paths[..., 0].reshape(-1))
precision = result.precision()
print(f"R² of the best monotone map latent -> truth: {r2:.5f}")
print(f"encoder noise ≈ {precision['noise_std'][0]:.4f} latent units; it inflates g² by "
      f"{100 * precision['g2_inflation_rel'][0]:.1f}%")
assert r2 > 0.99, "the latent must be a (monotone) function of the true state"

# %% [markdown]
# ## Identifiability: one process, many coordinates
#
# Any smooth monotone $h$ turns a coordinate $x$ into another, $z = h(x)$, and the process stays
# Markovian with an SDE of its own; nothing in the video prefers one of them. So the drift and
# diffusion we recover live in the encoder's coordinate, and must be transformed before they can
# be compared with $f(x) = 4x - 4x^3$. The second derivative term $\tfrac12 h'' g^2$ of Itô's
# formula is easy to forget, and it is not small. The figure warps the reference system with
# $h(x) = \tanh(a x)/a$ and compares Itô's prediction with an estimate from the warped paths;
# the dashed curve is what you would get without the Itô term.

# %%
strengths = [0.0, 0.5, 1.0, 1.5]
warped = [coordinate_change_data(sde, kind="tanh", strength=a) for a in strengths]
figures.slider_figure([coordinate_change_figure(d) for d in warped], [f"{a:g}" for a in strengths],
                      prefix="tanh warp strength a = ", slider_y=-0.35)

# %%
d = warped[2]
err_ito = np.sqrt(np.mean((np.interp(d.z_grid, d.z, d.drift_z) - d.drift_est) ** 2))
err_naive = np.sqrt(np.mean((np.interp(d.z_grid, d.z, d.drift_naive) - d.drift_est) ** 2))
print(f"drift of the warped paths: RMS distance to Itô {err_ito:.2f}, to h' f alone {err_naive:.2f}")
assert err_ito < err_naive, "the warped process follows Itô's formula"

# %% [markdown]
# In JupyterLab, choose the map and its strength yourself:

# %%
show(coordinate_change_explorer, sde)

# %% [markdown]
# ## Aligning the recovered SDE with the truth
#
# For evaluation (only: in real data there is no truth) we fit a smooth monotone map
# $x = h(z)$ from the latent to the true state, then transform the FIM's $\hat f_z$, $\hat g_z$
# with Itô's formula, using $h'$ and $h''$ of the fitted map. `fimcg.analysis.alignment` does both.

# %%
h = alignment.fit_alignment(z[..., 0].reshape(-1), paths[..., 0].reshape(-1))
grid = fimcg.occupied_grid(paths, n=80)
f_x, g_x = alignment.aligned_coefficients(h, result.drift, result.diffusion, grid)
fim = fimcg.load_fim()
f_true_paths, g_true_paths = fim.estimate(paths, DT, grid)   # the yardstick: the FIM given x itself
figures.drift_diffusion_figure(grid, {"from video (aligned)": (f_x, g_x),
                                      "FIM on the true paths": (f_true_paths, g_true_paths)}, sde=sde,
                               title="drift and diffusion recovered from video, in the true coordinate")

# %% [markdown]
# How much does going through pixels cost? The yardstick is the same frozen FIM applied to the
# true paths $x_t$, which the video hides: from video we cannot expect to do better, and we
# should not do much worse.

# %%
errors = fimcg.analysis.metrics.sde_errors(sde, grid, torch.as_tensor(f_x)[:, None], torch.as_tensor(g_x)[:, None])
yardstick = fimcg.analysis.metrics.sde_errors(sde, grid, f_true_paths, g_true_paths)
print(f"relative RMSE from video:         drift {errors['drift_rel']:.3f}, diffusion {errors['diffusion_rel']:.3f} "
      f"(encoder noise inflates g² by {100 * precision['g2_inflation_rel'][0]:.1f}%)")
print(f"relative RMSE from the true paths: drift {yardstick['drift_rel']:.3f}, diffusion {yardstick['diffusion_rel']:.3f}")
assert errors["drift_rel"] < 1.5 * yardstick["drift_rel"], "video costs little drift accuracy"
assert errors["diffusion_rel"] < 1.5 * yardstick["diffusion_rel"] + 0.05, "nor much diffusion accuracy"

# %% [markdown]
# ## Exercises
#
# 1. Render the same paths along an arc (`embedding="arc"`) and coarse-grain again. Does the
#    latent still come out monotone in $x$? What does `alignment.fit_alignment` report as its
#    `residual_std`?
# 2. Add pixel noise (`noise=0.05`). How do `result.precision()` and the diffusion error change?
#    Relate the two with the $2s^2/\Delta t$ rule of chapter 2.
# 3. Set `weights=LossWeights(likelihood=0)` (a plain autoencoder). Is the latent worse, or only different? Compare
#    the aligned drift and diffusion.
# 4. Use the coordinate-change widget to find a map under which the drift in $z$ has no
#    barrier-shaped zero crossing any more. Is the process in $z$ still bistable?
#
# ## Where next
#
# Chapter 6 turns the recovered drift and diffusion into an equation with a few terms, simulates
# it, and checks it against the data with statistics that do not depend on the coordinate.
