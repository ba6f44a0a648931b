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
# *About 45 minutes. Prerequisites: chapter 2 (latent to video), chapter 3 (estimators) and chapter 4 (the FIM).*
#
# **What you will learn**
#
# - how an encoder learns a one-dimensional coordinate from video while a *frozen* FIM supplies
#   the dynamics of that coordinate, with gradients flowing through the FIM
#   {cite:p}`hinz2025coarse`;
# - what the refinement changes after the initialisation: the latent already has its shape at
#   step 0 (Isomap), and the `steps=0` baseline is the yardstick of the training;
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
# $$ (eq-05-loss)
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
# $$ (eq-05-ito)

# %%
import numpy as np
import torch

import fimcg
from fimcg import systems
from fimcg.analysis import alignment
from fimcg.analysis.alignment import warp_tanh
from fimcg.analysis.validation import switching_statistics
from fimcg.app import figures
from fimcg.coarse_graining.options import LossWeights
from fimcg.widgets import (
    LatentRecorder,
    coordinate_change_data,
    coordinate_change_explorer,
    coordinate_change_figure,
    latent_training_figure,
    pick,
    show,
)

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
# the encoder alone with the loss {eq}`eq-05-loss`, with a few small steps. The FIM's weights never change;
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
# reads off the latent paths at that point of training. The first position is step 0: the
# initialised encoder, already a good coordinate here, with the FIM's zero-shot estimate (what
# `coarse_grain(..., steps=0)` returns). The refinement then adjusts the encoder only (the decoder
# is frozen), by small steps; compare the two ends.

# %%
latent_training_figure(recorder)

# %%
baseline = fimcg.coarse_grain(frames, DT, steps=0, seed=0, progress=False)
for name, res in (("steps=0 (initialisation only)", baseline), (f"after {len(result.history)} steps", result)):
    cmp = alignment.compare_to_truth(res.latents, paths, res.coefficients, sde)
    print(f"{name:>30}: R² {cmp.r2:.5f}, drift error {cmp.drift_rel:.3f}, diffusion error {cmp.diffusion_rel:.3f}")

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
# formula {eq}`eq-05-ito` is easy to forget, and it is not small. The figure warps the reference system with
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
# The solutions train a few more models on the same paths, with the chapter's number of steps.

# %% tags=["hide-cell"]
def score(frames_, **options):
    """Coarse-grain ``frames_`` of the chapter's paths; return the result, its alignment and its errors."""
    res = fimcg.coarse_grain(frames_, DT, steps=pick(60, 10), seed=0, progress=False, **options)
    h_ = alignment.fit_alignment(res.latents[..., 0].reshape(-1), paths[..., 0].reshape(-1))
    f_, g_ = alignment.aligned_coefficients(h_, res.drift, res.diffusion, grid)
    err_ = fimcg.analysis.metrics.sde_errors(sde, grid, torch.as_tensor(f_)[:, None], torch.as_tensor(g_)[:, None])
    return res, h_, err_, float(np.mean(g_ ** 2 - g_true ** 2))


g_true = sde.diffusion(grid)[:, 0].numpy()
h_line = alignment.fit_alignment(z[..., 0].reshape(-1), paths[..., 0].reshape(-1))
line = (result, h_line, errors, float(np.mean(np.asarray(g_x) ** 2 - g_true ** 2)))

# %% [markdown]
# **Exercise 1.** Render the same paths along an arc (`embedding="arc"`) and coarse-grain again. Does
# the latent still come out monotone in $x$? What does `alignment.fit_alignment` report as its
# `residual_std`?
#
# :::{dropdown} Solution
# Yes: the R² of the monotone map is 1.0000 to four digits, as on the line, and the drift and
# diffusion errors agree with the line's within about a hundredth. `residual_std` grows from about
# 0.0005 to about 0.0015 (units of $x$, whose range is about 3): still a thousandth of the range.
# Isomap measures arc length along the curve the frames trace in pixel space, and a blob moving
# along an arc traces a curve whose arc length is a monotone function of $x$, whatever its bend; the
# curvature only makes the decoder's spline work a little harder. Nothing in the method assumes a
# straight embedding.
# :::

# %% tags=["hide-cell"]
arc = score(fimcg.render_video(paths, size=32, blob_width=1.5, noise=0.0, seed=0, embedding="arc"))
for name, (res, h_, err_, _) in {"line": line, "arc": arc}.items():
    print(f"{name:>4}: R² {alignment.latent_r2(res.latents[..., 0].reshape(-1), paths[..., 0].reshape(-1)):.5f}, "
          f"residual_std {h_.residual_std:.4f}, drift error {err_['drift_rel']:.3f}, diffusion error {err_['diffusion_rel']:.3f}")

# %% [markdown]
# **Exercise 2.** Add pixel noise (`noise=0.05`, then `noise=0.2`). How do `result.precision()` and the
# diffusion error change? Relate the two with the $2s^2/\Delta t$ rule of chapter 2.
#
# :::{dropdown} Solution
# At 0.05 the latent is noisy by only about 0.011 (the alignment's `residual_std`, units of $x$):
# the PCA features and the encoder average the pixel noise over the whole blob. By the rule that
# adds $2s^2/\Delta t \approx 0.02$ to $g^2 \approx 3$, under 1%, and `precision()` cannot see it:
# it reports about 0.017 to 0.018 for the clean and the noisy frames alike. That is its floor here,
# the $O(\Delta t^2)$ correlation of the increments themselves (see its docstring). The diffusion
# error changes by at most two hundredths (about 0.04 in both runs in full mode; 0.04 to 0.06 in
# fast mode). The aligned mean $g^2$ moves by about 0.1 to 0.15, more than the rule's 0.02: at this level the small
# change of the learned coordinate and of its fitted alignment matters more than the noise itself.
# At 0.2 the latent noise, about 0.035, is above the floor: `precision()` reads the same 0.035 from
# the latent alone and predicts an inflation of about 8%, and the aligned mean $g^2$ rises by about
# 0.22 to 0.27 over the clean run, as $2s^2/\Delta t \approx 0.24$ says. The diffusion error still
# hardly grows (about 0.03 to 0.05): the clean estimate is biased low by the sampling step (mean
# $g^2$ about 0.2 below the truth, chapter 3), and the inflation cancels part of that bias. A
# relative error need not grow with the noise; the mean shift is the robust signature, and it
# follows the rule once the noise is large enough to measure.
# :::

# %% tags=["hide-cell"]
runs = {"clean": line}
for level in (0.05, 0.2):
    runs[f"noise {level:g}"] = score(fimcg.render_video(paths, size=32, blob_width=1.5, noise=level, seed=0))
for name, (res, h_, err_, shift) in runs.items():
    p = res.precision()
    print(f"{name:>10}: latent noise (alignment) {h_.residual_std:.4f}, 2s²/Δt {2 * h_.residual_std ** 2 / DT:.3f}; "
          f"precision() {p['noise_std'][0]:.4f} ({100 * p['g2_inflation_rel'][0]:.1f}% of g²); "
          f"aligned g² - true g² {shift:+.3f}; diffusion error {err_['diffusion_rel']:.3f}")

# %% [markdown]
# **Exercise 3.** Set `weights=LossWeights(likelihood=0)` (a plain autoencoder), on the clean and on
# the noisy (0.05) frames. Is the latent worse, or only different? Compare the aligned drift and
# diffusion.
#
# :::{dropdown} Solution
# On clean frames, only different, and barely: R² stays 1.0000 and the drift and diffusion errors
# move by about a hundredth or less, in either direction (the refinement even costs a little
# diffusion accuracy there, 0.034 without it against about 0.04 with it). The Isomap start is
# already a precise coordinate, and with the decoder frozen the reconstruction term only teaches
# the encoder to invert it. On the noisy frames, with the full 60 steps, the likelihood helps:
# diffusion error about 0.04 against 0.06 for the plain autoencoder, drift error about 0.26 against
# 0.29. The latent noise is the same in both (about 0.011), so the likelihood does not denoise the
# coordinate here; it changes the coordinate's shape, towards one in which the FIM's SDE explains
# the frames' steps, which the reconstruction term, blind to time order, cannot see. In fast mode
# (10 steps) the two runs are still nearly identical: the effect needs the training steps.
# `bench/coarse_grain.py` measures it on more data.
# :::

# %% tags=["hide-cell"]
plain = {"clean": score(frames, weights=LossWeights(likelihood=0)),
         "noise 0.05": score(fimcg.render_video(paths, size=32, blob_width=1.5, noise=0.05, seed=0),
                             weights=LossWeights(likelihood=0))}
for name, plain_run in plain.items():
    for label, (res, h_, err_, _) in (("with likelihood", runs[name]), ("autoencoder only", plain_run)):
        print(f"{name:>10}, {label:<16}: R² {alignment.latent_r2(res.latents[..., 0].reshape(-1), paths[..., 0].reshape(-1)):.5f}, "
              f"latent noise {h_.residual_std:.4f}, drift error {err_['drift_rel']:.3f}, diffusion error {err_['diffusion_rel']:.3f}")

# %% [markdown]
# **Exercise 4.** Use the coordinate-change widget to find a map under which the drift in $z$ has no
# barrier-shaped zero crossing any more. Is the process in $z$ still bistable?
#
# :::{dropdown} Solution
# The tanh warp does it from a strength of about 1 on: the Itô term $\tfrac12 h'' g^2$ of
# {eq}`eq-05-ito` (here written for $z = h(x)$, with $h'' < 0$ on the right and $> 0$ on the left)
# pulls the drift down on the right and up on the left. The outer zeros move in (to about $\pm 0.85$
# at $a = 0.5$) until they meet the barrier's, and from $a = 1$ on only one zero is left, at the
# middle, now a downward crossing: the drift in $z$ looks like a single well. The process is still
# exactly as bistable: it is the same process, and with thresholds at the 30% and 70% quantiles it
# switches the same number of times in $x$ and in $z$ (37 for the chapter's paths, at every
# strength: a monotone map moves quantiles with the states). The histogram of $z$ is even *more*
# clearly bimodal: its middle bin holds 0.32 of the fullest bin's count at $a = 0$ and 0.04 at
# $a = 1.5$, since the warp squeezes each well into a narrow peak. The drift's zeros are not the
# modes of the stationary density when the diffusion varies: in $z$, $g_z = h'\,g$ is small near
# the edges, and the density piles up where the noise is weak. Zeros of the drift are a property of
# the coordinate; metastability (two long-lived sets and the rate of switching between them) is a
# property of the process.
# :::

# %% tags=["hide-cell"]
x_paths = paths.double().numpy()
for a in (0.0, 0.5, 1.0, 1.5):
    d = coordinate_change_data(sde, kind="tanh", strength=a)
    sign = np.sign(d.drift_z)
    zeros = d.z[:-1][sign[:-1] != sign[1:]]
    zp = torch.as_tensor(warp_tanh(x_paths, a)[0])
    q = tuple(float(v) for v in torch.quantile(zp.reshape(-1), torch.tensor([0.3, 0.7], dtype=zp.dtype)))
    hist, edges = np.histogram(zp.reshape(-1).numpy(), bins=21)
    peak = float(edges[np.argmax(hist)] + edges[np.argmax(hist) + 1]) / 2
    print(f"tanh, a = {a:g}: zeros of f_z at {np.round(zeros, 2)}; switches (30/70% quantiles) "
          f"{switching_statistics(zp, DT, thresholds=q).n_switches}; histogram: fullest bin at z = {peak:+.2f}, "
          f"middle bin {hist[10] / hist.max():.2f} of it")

# %% [markdown]
# ## Where next
#
# Chapter 6 turns the recovered drift and diffusion into an equation with a few terms, simulates
# it, and checks it against the data with statistics that do not depend on the coordinate.
