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
# # 2. From a latent variable to video
#
# *About 20 minutes. Prerequisites: chapter 1 (SDEs and the double well), basic linear algebra (PCA).*
#
# **What you will learn**
#
# - how `fimcg` turns a one-dimensional state $x_t$ into a movie of a moving blob, along a line
#   or a curve;
# - why the pixels hold the state only in a *nonlinear* way (principal components do not find it);
# - how precisely a hand-made readout (the blob's centroid) recovers $x_t$, and why that precision
#   decides whether the diffusion can be measured at all.
#
# **The equation that matters.** Frame $t$ is a Gaussian blob of width $w$ centred at the
# pixel position $c(x_t)$ given by the embedding geometry, plus pixel noise:
#
# $$
# y_t(p) = \exp\!\left(-\frac{\lVert p - c(x_t)\rVert^2}{2 w^2}\right) + \varepsilon_t(p),
# \qquad \varepsilon_t(p) \sim \mathcal N(0, \sigma_{\text{pix}}^2)\ \text{(clipped to [0, 1])}.
# $$ (eq-02-frame)
#
# An error of size $s$ in the recovered state inflates the measured diffusion,
#
# $$
# \hat g(x)^2 \approx g(x)^2 + \frac{2 s^2}{\Delta t} .
# $$ (eq-02-bias)

# %%
import numpy as np
import torch

import fimcg
from fimcg import systems
from fimcg.app import figures
from fimcg.video import frame_pca
from fimcg.widgets import pick, show, video_data, video_explorer, video_panel_figure, video_slider_figure

torch.set_num_threads(1)
DT = 0.002
N_PATHS = pick(8, 4)
N_STEPS = pick(5000, 1500)
sde = systems.double_well()
x0 = torch.tensor([-1.0, 1.0]).repeat(N_PATHS // 2)[:, None]
paths = fimcg.simulate(sde, x0, dt=DT, n_steps=N_STEPS, seed=0)
print(f"{N_PATHS} paths of {N_STEPS + 1} observations, dt = {DT}")

# %% [markdown]
# ## Rendering
#
# `fimcg.render_video` draws the particle in every frame, following {eq}`eq-02-frame`. By default it moves along a horizontal
# line through the image: $x = -2$ is near the left edge and $x = 2$ near the right edge. The
# result has shape `(n_paths, T, size, size)`, values in $[0, 1]$.

# %%
frames = fimcg.render_video(paths, size=32, blob_width=1.5, noise=0.0)
print("frames:", tuple(frames.shape), frames.dtype, f"{frames.numel() * 4 / 1e6:.0f} MB")
figures.frame_strip_figure(frames, n_frames=8, dt=DT, title="eight frames of path 0")

# %% [markdown]
# As a movie (press *play*, or drag the slider; this works on the website too):

# %%
figures.video_figure(frames, max_frames=pick(120, 40), dt=DT, title="path 0 as video")

# %% [markdown]
# ## What the pixels know
#
# Every frame is a vector of $32 \times 32 = 1024$ numbers, yet one number $x_t$ fixes it
# completely (without noise). So the frames lie on a one-dimensional curve in a 1024-dimensional
# space. Is that curve straight? Principal component analysis answers: if it were, one component
# would explain all the variance.

# %%
explained, scores = frame_pca(frames[:2], k=12)
figures.pca_figure(explained, scores, color=paths[:2, :, 0].reshape(-1), color_title="true x",
                   title="principal components of the frames")

# %% [markdown]
# The variance spreads over many components, and the first two trace a curled curve: a blob at
# $x$ and a blob at $x + 0.5$ share no bright pixels, so pixel space is a poor ruler for $x$.
# A *linear* map from pixels to a coordinate cannot recover $x$; we need a nonlinear one. The
# simplest is hand-made: find the blob's brightness-weighted centroid, then invert the geometry.

# %%
readout = video_data(paths[0], size=32, blob_width=1.5, noise=0.0, n_frames=6)
video_panel_figure(readout, dt=DT)

# %%
print(f"no pixel noise: centroid RMSE {readout.decode_rmse:.2e}, R² {readout.r2:.6f}")
assert explained[0] < 0.6, "the frames are not a straight line in pixel space"
assert readout.r2 > 0.999, "without noise the centroid recovers x almost exactly"

# %% [markdown]
# ## Pixel noise and geometry
#
# With pixel noise the centroid picks up bright noise pixels too. We ignore pixels darker than a
# threshold (0.3 of the blob's peak), which works for moderate noise and fails when the noise
# reaches the threshold. The slider steps through noise levels; the title gives the readout's
# error.

# %%
noise_levels = [0.0, 0.05, 0.1, 0.2, 0.3]
noisy = [video_data(paths[0], noise=s, n_frames=6) for s in noise_levels]
video_slider_figure(noisy, [f"{s:g}" for s in noise_levels], slider_title="pixel noise σ = ", dt=DT)

# %% [markdown]
# The embedding geometry matters as well. Along an arc or a spiral the particle's pixel position
# is a nonlinear function of $x$ (the centroid readout still works because `fimcg.video` knows
# the geometry and inverts it; a learned encoder in chapter 5 will not know it).

# %%
geometries = ["line", "warped", "arc", "spiral"]
shapes = [video_data(paths[0], embedding=e, noise=0.05, n_frames=6) for e in geometries]
video_slider_figure(shapes, geometries, slider_title="embedding: ", dt=DT)

# %% [markdown]
# ## Explore
#
# In JupyterLab the widget below renders path 0 with your choice of image size, blob width, pixel
# noise, centroid threshold and embedding, and shows how well the centroid reads $x$ back.

# %%
show(video_explorer, paths[0, : pick(2000, 500)], dt=DT)

# %% [markdown]
# ## Why precision matters: noise in $x$ becomes diffusion
#
# Suppose the readout returns $\hat x_t = x_t + e_t$ with independent errors of size $s$. An
# increment then carries $e_{t+1} - e_t$ on top of the true one, whose variance $2s^2$ is
# indistinguishable from diffusion: the estimated $g^2$ grows by about $2 s^2 / \Delta t$, as
# {eq}`eq-02-bias` says. At
# $\Delta t = 0.002$ an error of only $s = 0.02$ adds $0.4$ to $g^2$ (about 15% of its typical
# value here). We check it with the Kramers–Moyal estimator of the next chapter, once on the true
# paths and once on the centroid readout of the same paths rendered with pixel noise 0.1.

# %%
noise = 0.1
decoded = torch.tensor(np.stack([video_data(p, noise=noise, seed=i).decoded for i, p in enumerate(paths)]),
                       dtype=torch.float32)[..., None]
s = float((decoded - paths).pow(2).mean().sqrt())
grid = fimcg.occupied_grid(paths, n=60)
estimates = {"from the true x": fimcg.binned_km(paths, DT, grid),
             f"from the centroid (pixel noise {noise})": fimcg.binned_km(decoded, DT, grid)}
figures.drift_diffusion_figure(grid, estimates, sde=sde, title=f"readout error s = {s:.3f}")

# %%
g2_true, g2_decoded = (estimates[k][1].pow(2).mean().item() for k in estimates)
excess, predicted = g2_decoded - g2_true, 2 * s ** 2 / DT
print(f"g² grows by {excess:.3f} on average; 2 s²/dt predicts {predicted:.3f}")
assert 0.4 * predicted < excess < 1.6 * predicted, "readout noise inflates g² by about 2 s²/dt"

# %% [markdown]
# The drift barely moves (errors average out in the mean increment), but the diffusion is
# lifted everywhere. An encoder for coarse-graining therefore has to be *precise*, not just
# monotone; chapter 5 reports the encoder's precision next to every diffusion number.
#
# ## Exercises
#
# **Exercise 1.** With the widget, find the largest pixel noise at which the centroid error stays
# below 0.01 for a 32×32 image. Does a larger blob help? A larger image?
#
# :::{dropdown} Solution
# With the default blob (width 1.5 pixels) on 32×32 the error stays below 0.01 up to a pixel
# noise of about 0.06 (0.009 there, 0.013 at 0.08). A blob twice as wide does not move that limit
# (still 0.06), but it fails far more gracefully: at noise 0.15 its error is about 0.07 against
# 0.22. Its signal is spread over four times as many bright pixels, so a noise pixel above the
# threshold weighs less. A 64×64 image helps at low noise, up to about 0.08, because each pixel
# is half as large in units of $x$. Yet it breaks down sooner: at noise 0.1 its error is about
# 0.05 against 0.02 on 32×32. With four times as many pixels, four times as many noise pixels
# cross the threshold (0.3 is three standard deviations at noise 0.1, reached by about 0.1 % of
# the pixels, 5 of 4096 against 1 of 1024 per frame). Resolution and robustness pull in different
# directions. Doubling both (width 3 on 64×64, the same blob in units of $x$) beats the default at
# every noise level (0.014 against 0.023 at noise 0.1): it has four times the bright pixels to
# set against four times the noise pixels.
# :::

# %% tags=["hide-cell"]
short = paths[0, : pick(1000, 300)]
noise_grid = [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25]
for size, width in [(32, 1.5), (32, 3.0), (64, 1.5), (64, 3.0)]:
    errs = [video_data(short, size=size, blob_width=width, noise=sigma, n_frames=1).decode_rmse for sigma in noise_grid]
    below = [sigma for sigma, e in zip(noise_grid, errs) if e < 0.01]
    print(f"{size}x{size}, blob width {width}: centroid RMSE " + " ".join(f"{e:.3f}" for e in errs)
          + f"  -> below 0.01 up to noise {max(below) if below else 'none'}")
print("pixel noise levels:", noise_grid)

# %% [markdown]
# **Exercise 2.** Show that the $2s^2/\Delta t$ bias shrinks if you subsample the decoded paths to
# $\Delta t = 0.01$ (take every fifth observation). By how much? What happens to the drift estimate?
#
# :::{dropdown} Solution
# The $g^2$ excess falls from about 0.4 at $\Delta t = 0.002$ to 0.03 to 0.08 at $\Delta t = 0.01$
# (the number moves with the amount of data), at least the factor 5 that $2 s^2/\Delta t$
# predicts (0.53 to 0.11). The increments grow with $\Delta t$ while the readout error stays the
# same, so its share of every squared increment shrinks like $1/\Delta t$. Both measured excesses
# sit somewhat below the prediction for a second, smaller reason: the thresholded centroid reads
# every position about 0.8 % too close to the image centre (decoded $\approx 0.992\,x$), which
# shrinks every increment and lowers $g^2$ by about 1.5 %, some 0.05. Once the noise term is
# small this matters. The drift does not suffer (its relative error stays where it was or drops a
# little, from about 0.44 to 0.40 in full mode): its error is set by the observed time, which
# subsampling leaves as it is, the readout error averages out in the mean increment, and
# $\Delta t = 0.01$ is still small enough for the drift's discretisation bias of chapter 3 to
# stay hidden. Subsampling is thus a cheap cure for
# readout noise in $g$, paid for only where $\Delta t$ becomes too coarse for the dynamics.
# :::

# %% tags=["hide-cell"]
for k in (1, 5):
    est = {name: fimcg.binned_km(p[:, ::k], DT * k, grid) for name, p in (("true", paths), ("decoded", decoded))}
    g2 = {name: est[name][1].pow(2).mean().item() for name in est}
    err = {name: fimcg.analysis.metrics.sde_errors(sde, grid, *est[name]) for name in est}
    print(f"dt = {DT * k:g}: g² excess {g2['decoded'] - g2['true']:.3f} (2 s²/dt = {2 * s ** 2 / (DT * k):.3f}); "
          f"drift rel. RMSE true {err['true']['drift_rel']:.3f}, decoded {err['decoded']['drift_rel']:.3f}; "
          f"diffusion rel. RMSE decoded {err['decoded']['diffusion_rel']:.3f}")
slope = float((decoded * paths).sum() / (paths * paths).sum())  # least squares: decoded ≈ slope * x
print(f"decoded ≈ {slope:.4f} x: increments shrink by this factor, g² by {1 - slope ** 2:.1%}, "
      f"about {(1 - slope ** 2) * g2_true:.3f} of the mean g² {g2_true:.2f}")

# %% [markdown]
# **Exercise 3.** Run `frame_pca` on frames with the `arc` embedding. Is the curve in the first two
# components simpler or more complicated than for the line?
#
# :::{dropdown} Solution
# More complicated. The first two components hold about 0.6 of the variance for the line but only
# about 0.3 to 0.4 for the arc, and 90 % of the variance takes 5 components for the line against
# 10 for the arc. The reason is length, not curvature as such: along the arc the blob travels
# 47 pixels for $x \in [-1.8, 1.8]$, against 22 along the line. Frames of blobs more than a few
# widths apart share no bright pixels, so every further stretch of path adds new, nearly
# orthogonal directions in pixel space. The curve in the first two components winds more and
# shows a smaller part of the whole. The centroid readout does not care, as it knows the
# geometry; a learned encoder has to unroll this longer curve.
# :::

# %% tags=["hide-cell"]
for embedding in ("line", "arc"):
    movie = fimcg.render_video(paths[:2], size=32, blob_width=1.5, noise=0.0, embedding=embedding)
    share, _ = frame_pca(movie, k=30)
    track = fimcg.video.latent_to_pixel(torch.linspace(-1.8, 1.8, 1001)[:, None], size=32, embedding=embedding)
    length = float((track[1:] - track[:-1]).norm(dim=1).sum())
    print(f"{embedding:>5}: first two components {share[:2].sum():.2f}, components for 90 %: "
          f"{int(np.searchsorted(np.cumsum(share), 0.9)) + 1}; the blob travels {length:.0f} pixels for x in [-1.8, 1.8]")

# %% [markdown]
# ## Where next
#
# Chapter 3 estimates drift and diffusion from observed paths: first by hand (Kramers–Moyal), then
# zero-shot with the Foundation Inference Model.
