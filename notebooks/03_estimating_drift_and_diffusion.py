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
# # 3. Estimating drift and diffusion from paths
#
# **What you will learn**
#
# - the Kramers–Moyal estimator, computed by hand in a few lines of torch, and why its second
#   moment must be drift-corrected;
# - where its errors come from: bias from a coarse sampling step, variance from too little
#   observed time;
# - how the Foundation Inference Model (FIM) does the same job zero-shot, in one forward pass,
#   and how it compares.
#
# **The equation that matters.** For a small sampling step $\Delta t$, the increments
# $\Delta X = X_{t+\Delta t} - X_t$ of a path at $X_t = x$ satisfy
# {cite:p}`siegert1998analysis,friedrich2011approaching`
#
# $$
# f(x) \approx \frac{\mathbb E[\Delta X \mid X_t = x]}{\Delta t}, \qquad
# g(x)^2 \approx \frac{\mathbb E\big[(\Delta X - f(x)\,\Delta t)^2 \mid X_t = x\big]}{\Delta t},
# $$
#
# exactly so for data from an Euler–Maruyama scheme with step $\Delta t$.

# %%
import numpy as np
import torch

import fimcg
from fimcg import systems
from fimcg.app import figures
from fimcg.widgets import default_estimators, error_curve, estimation_data, estimation_explorer, estimation_figure, estimation_slider_figure, pick, show

torch.set_num_threads(1)
DT = 0.002
sde = systems.double_well()
N_PATHS, N_OBS = pick(20, 10), pick(2500, 1000)
x0 = torch.tensor([-1.0, 1.0]).repeat(N_PATHS // 2)[:, None]
paths = fimcg.simulate(sde, x0, dt=DT, n_steps=N_OBS - 1, seed=0)
print(f"{N_PATHS} paths x {N_OBS} observations at dt = {DT}: observed time T = {N_PATHS * (N_OBS - 1) * DT:g}")

# %% [markdown]
# ## Kramers–Moyal by hand
#
# Take every transition inside every path (never from the end of one path to the start of the
# next: that jump is not an increment), sort the start states into bins, and average the
# increments and their squares in each bin.

# %%
def km_by_hand(paths, dt, n_bins=30, min_count=10):
    """Binned Kramers-Moyal: bin centres, counts, drift f and the raw and drift-corrected g^2."""
    x, dx = fimcg.estimators.increments(paths)              # (N, 1) start states and their increments
    x, dx = x[:, 0].double(), dx[:, 0].double()
    edges = torch.linspace(float(x.min()), float(x.max()), n_bins + 1, dtype=torch.float64)
    b = torch.bucketize(x, edges[1:-1])                      # bin index of every start state
    n = torch.bincount(b, minlength=n_bins).double()
    m1 = torch.bincount(b, weights=dx, minlength=n_bins) / n           # E[dX | bin]
    m2 = torch.bincount(b, weights=dx ** 2, minlength=n_bins) / n      # E[dX^2 | bin]
    keep = n >= min_count                                    # bins with enough data
    centres = ((edges[1:] + edges[:-1]) / 2)[keep]
    f = m1[keep] / dt
    g2_raw = m2[keep] / dt                                   # biased: E[dX^2]/dt = g^2 + f^2 dt
    g2 = (m2 - m1 ** 2)[keep] * n[keep] / (n[keep] - 1) / dt  # drift-corrected (sample variance)
    return centres[:, None], n[keep], f[:, None], g2_raw[:, None], g2[:, None]


centres, counts, f_hand, g2_raw, g2_hand = km_by_hand(paths, DT)
by_hand = (f_hand, g2_hand.clamp(min=0).sqrt())
figures.drift_diffusion_figure(centres, {"Kramers-Moyal by hand": by_hand}, sde=sde,
                               title=f"{len(centres)} bins with data")

# %% [markdown]
# `fimcg.binned_km` does exactly this (and interpolates between bins, works in up to three
# dimensions, and is differentiable with respect to the paths). With the same number of bins the
# two agree in almost every bin; a few bins differ a little because the library pads the bin
# range by a hair, which moves the odd observation lying right on a bin edge to the next bin:

# %%
f_lib, g_lib = fimcg.binned_km(paths, DT, centres.float(), n_bins=30)
diff_f = (f_lib.double() - f_hand).abs()
diff_g = (g_lib.double() - by_hand[1]).abs()
print(f"bins where the library differs by more than 1e-3: drift {int((diff_f > 1e-3).sum())}, "
      f"diffusion {int((diff_g > 1e-3).sum())} of {len(centres)}")
assert float(diff_f.median()) < 1e-3 and float(diff_g.median()) < 1e-3, "the same estimator in almost every bin"

# %% [markdown]
# ## Bias 1: the raw second moment
#
# $\mathbb E[\Delta X^2 \mid x]/\Delta t = g^2 + f^2\,\Delta t$: the raw second moment mistakes the
# drift's own displacement for noise. At $\Delta t = 0.002$ that is a small effect, but where the
# drift is strong (the outer walls of the wells, $|f| \approx 7$ at $|x| = 1.5$) it already adds
# about 0.1 to $g^2 \approx 1.2$. To see it clearly we run the Euler–Maruyama chain itself with a
# ten times larger step, $\Delta t = 0.02$ (for this chain the two formulas above are exact), and
# compare $g^2$ from the raw and from the drift-corrected second moment.

# %%
DT_C = 0.02
em_coarse = fimcg.simulate(sde, torch.tensor([-1.0, 1.0]).repeat(25)[:, None], dt=DT_C, n_steps=1000, seed=1)
c_centres, c_counts, c_f, c_raw, c_corrected = km_by_hand(em_coarse, DT_C)
figures.drift_diffusion_figure(
    c_centres, {"raw second moment": (c_f, c_raw.sqrt()), "drift-corrected": (c_f, c_corrected.clamp(min=0).sqrt())},
    sde=sde, title="Euler-Maruyama chain at Δt = 0.02: raw vs drift-corrected second moment")

# %%
g2_true = sde.diffusion(c_centres.float()).double() ** 2
w = c_counts[:, None] / c_counts.sum()                      # weight bins by their data
rmse_raw = float(((c_raw - g2_true) ** 2 * w).sum().sqrt())
rmse_corrected = float(((c_corrected - g2_true) ** 2 * w).sum().sqrt())
print(f"weighted RMSE of g²: raw {rmse_raw:.3f}, drift-corrected {rmse_corrected:.3f}")
assert rmse_corrected < 0.5 * rmse_raw, "the drift correction removes the f^2 dt bias"

# %% [markdown]
# ## Bias 2: the sampling step
#
# Even drift-corrected, the estimates are only right for small $\Delta t$: over a long step the
# particle feels the drift along its way, not at its start, and a step from one wall may end
# beyond the well. The slider keeps the observed time fixed and coarsens the sampling step from
# $0.002$ to $0.1$; watch the drift flatten at the outer walls.

# %%
T_FIXED = pick(200.0, 60.0)
steps = [1, 5, 10, 25, 50]
step_data = [estimation_data(sde, n_paths=20, n_obs=int(T_FIXED / (20 * DT * k)) + 1, subsample=k, seed=1)
             for k in steps]
estimation_slider_figure(step_data, [f"{k * DT:g}" for k in steps], slider_title="sampling step Δt = ")

# %%
drift_err = [d.errors["binned KM"]["drift_rel"] for d in step_data]
print("binned KM drift relative RMSE by sampling step:", {k * DT: round(e, 3) for k, e in zip(steps, drift_err)})
assert drift_err[-1] > drift_err[1], "a sampling step of 0.1 biases the drift"

# %% [markdown]
# ## Variance: how much data?
#
# The drift is a small signal under big noise: in one step the drift moves the particle by
# $f\,\Delta t$ while the noise moves it by $g\sqrt{\Delta t}$. Averaging $N$ increments beats
# the noise down to $g\sqrt{\Delta t/N}$, so the error of $f$ is about $g/\sqrt{N \Delta t}$:
# it depends on the **observed time** $T = N\,\Delta t$, not on how finely the time is sampled.
# The diffusion, in contrast, improves with the *number* of increments $N$. Below the observed
# time grows at a fixed sampling step; the drift error follows $T^{-1/2}$.

# %%
curves = error_curve(sde, total_times=pick([4, 16, 64, 256], [4, 16, 64]), n_paths=10, dt=DT,
                     seeds=pick(3, 2))
figures.error_curve_figure(curves, title="mean relative errors over seeds")

# %%
km = curves["binned KM"]
print("binned KM drift error:", np.round(km["drift_rel"], 3), "at T =", km["total_time"])
assert km["drift_rel"][-1] < 0.5 * km["drift_rel"][0], "16x more observed time must at least halve the error"

# %% [markdown]
# ## The Foundation Inference Model, zero-shot
#
# A FIM is pretrained on many *synthetic* SDEs: for each, it saw simulated paths and learned to return
# their drift and diffusion. FIM-SDE {cite:p}`seifner2025fimsde` is a transformer that outputs them
# directly; fimcg's own FIM is a small network that weighs the classic estimates of this chapter (and a
# few more) by the context, so its drift is always a location-wise mixture of them. Given new paths,
# it answers in one forward pass, with no fitting and no tuning:
# `fim.estimate(paths, dt, locations)` has exactly the call shape of the classic estimators.
# `fimcg.load_fim()` loads the weights shipped with the package (chapter 4 looks inside).

# %%
fim = fimcg.load_fim()
grid = fimcg.occupied_grid(paths, n=80)
estimates = {"binned KM": fimcg.binned_km(paths, DT, grid), "local-linear": fimcg.local_linear(paths, DT, grid),
             "FIM (zero-shot)": fim.estimate(paths, DT, grid)}
figures.drift_diffusion_figure(grid, estimates, sde=sde, title="the same paths, three estimators")

# %%
errors = {name: fimcg.analysis.metrics.sde_errors(sde, grid, f_hat, g_hat) for name, (f_hat, g_hat) in estimates.items()}
for name, e in errors.items():
    print(f"{name:>16}: drift rel. RMSE {e['drift_rel']:.3f}, diffusion rel. RMSE {e['diffusion_rel']:.3f}")
assert errors["FIM (zero-shot)"]["drift_rel"] < errors["binned KM"]["drift_rel"], "the FIM beats binned KM on drift"
assert errors["FIM (zero-shot)"]["diffusion_rel"] < 0.1, "the FIM's diffusion must follow the semicircle"

# %% [markdown]
# ## Explore: the amount of data and the sampling step
#
# The widget simulates a fresh data set for your choice of paths, observations per path and
# sampling step, and redraws all three estimators against the truth (relative errors of $f$ and
# $g$ in the title). On the website, the slider figure after it steps through data sets from
# very little data to plenty.

# %%
all_estimators = {**default_estimators(), "FIM": fim.estimate}
show(estimation_explorer, sde, estimators=all_estimators)

# %%
amounts = pick([(1, 500), (5, 500), (20, 500), (20, 2500)], [(1, 500), (5, 500), (20, 500)])
amount_data = [estimation_data(sde, n_paths=n, n_obs=t, seed=3, estimators=all_estimators) for n, t in amounts]
estimation_slider_figure(amount_data, [f"{n} x {t}" for n, t in amounts], slider_title="paths x observations: ")

# %% [markdown]
# With little data the classic estimators are noisy (binned KM has a few increments per bin, the
# local-linear fit smooths heavily), while the FIM returns a smooth, plausible drift: it has
# learned from its prior what drift functions usually look like, and uses that knowledge where
# the data are thin. With plenty of data every method converges to the truth.
#
# ## Exercises
#
# 1. In the by-hand estimator, use 10 and 100 bins. Which part of the error (bias or variance)
#    grows in each case?
# 2. The drift error follows $T^{-1/2}$. Check with `error_curve` that splitting the same $T$ over
#    more, shorter paths does not change it. What about the diffusion?
# 3. Add observation noise to the paths (`paths + 0.02 * torch.randn_like(paths)`) and compare
#    the estimators' diffusion. Which one is hurt most, and why (remember chapter 2)?
# 4. Apply `fim.estimate` to the Ornstein–Uhlenbeck process `systems.ornstein_uhlenbeck()`, which
#    has constant diffusion. Does the FIM return a constant $g$?
#
# ## Where next
#
# Chapter 4 opens the FIM: the synthetic prior it learned from, its architecture, how it
# normalises any data to a standard scale, and a small pretraining run you can watch.
