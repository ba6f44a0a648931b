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
# # 7. Decoupled vs joint
#
# **What you will learn**
#
# - the classic alternative to a frozen FIM: an autoencoder trained *jointly* with its own
#   dynamics model {cite:p}`champion2019coordinates`, here a polynomial SDE head;
# - how to compare the two fairly: same frames, same autoencoder, accuracy after alignment
#   against wall-clock training time, several seeds;
# - why decoupling helps: the FIM's answer is fixed knowledge, so the encoder does not chase a
#   moving target.
#
# **The equation that matters.** The joint model learns the head $(f_\theta, g_\theta)$ with the
# networks, minimising reconstruction plus the Euler–Maruyama likelihood of the latent increments
# under its *own* current head:
#
# $$
# L(\phi, \psi, \theta) = w_{\text{rec}}\, L_{\text{rec}}(\phi, \psi)
#   + w_{\text{sim}}\;\mathbb E_t\!\left[\frac{(\Delta z_t - f_\theta(z_t)\Delta t)^2}{2 g_\theta(z_t)^2 \Delta t}
#   + \tfrac12\log\big(2\pi g_\theta(z_t)^2\Delta t\big)\right].
# $$
#
# The decoupled model (chapter 5) differs in three ways: $(\hat f, \hat g)$ come from the frozen
# FIM reading the latent paths, so they are a function of the latent, not free parameters; its
# likelihood scores the frames' increments along the decoder's curve rather than $\Delta z_t$
# (a joint model could game the latter by distorting the latent, and its head would follow);
# and its decoder is frozen after the initialisation, so only the encoder moves. Both use the same
# PCA features, encoder and decoder architectures.

# %%
import numpy as np
import torch

import fimcg
from fimcg import systems
from fimcg.app import figures
from fimcg.widgets import AccuracyRecorder, accuracy_vs_time_figure, pick, race_explorer, race_figure, show

torch.set_num_threads(1)
sde = systems.double_well()
DT = 0.01
N_PATHS, N_FRAMES = 20, 500                # the same data in fast mode: only training is shortened
paths = systems.paths_from_wells(sde, n_paths=N_PATHS, n_obs=N_FRAMES, dt=DT, substeps=5, seed=0)
frames = fimcg.render_video(paths, size=32, seed=0)
SEEDS = pick([0, 1, 2], [0, 1])
print(f"{N_PATHS} videos x {N_FRAMES} frames; seeds {SEEDS}")

# %% [markdown]
# ## The race
#
# Both methods train on the same frames with the same autoencoder architecture. An
# `AccuracyRecorder` scores each model during training (latent aligned to the truth, drift and
# diffusion mapped by Itô's formula, relative errors on the visited region); the scoring time is
# not counted as training time. The frozen-FIM model starts from the Isomap initialisation of
# chapter 5; the joint model, as such models are usually trained, from random networks (with
# `init=InitConfig(method="isomap")` you can give it the same start: try it in the exercises).

# %%
runs = {}
for seed in SEEDS:
    rec = AccuracyRecorder(paths, sde)
    fimcg.coarse_grain(frames, DT, steps=pick(60, 10), seed=seed, callback=rec, eval_every=pick(10, 5),
                       progress=False)
    runs[f"frozen FIM, seed {seed}"] = rec
for seed in SEEDS:
    rec = AccuracyRecorder(paths, sde)
    fimcg.joint_coarse_grain(frames, DT, steps=pick(1500, 150), seed=seed, callback=rec, eval_every=pick(150, 50),
                       progress=False)
    runs[f"joint, seed {seed}"] = rec
accuracy_vs_time_figure(runs, title="accuracy after alignment vs training time")

# %%
print(f"{'run':<22} {'time (s)':>9} {'R²':>8} {'drift err':>10} {'diffusion err':>14}")
for name, rec in runs.items():
    r = rec.records[-1]
    print(f"{name:<22} {r['time_s']:9.1f} {r['r2']:8.4f} {r['drift_rel']:10.3f} {r['diffusion_rel']:14.3f}")

# %% [markdown]
# Drag the slider to see where each model stands after a given training time.

# %%
t_end = max(r["time_s"] for rec in runs.values() for r in rec.records)
times = np.linspace(0, t_end, 6).round(1)
chosen = {k: v for k, v in runs.items() if k.endswith(f"seed {SEEDS[0]}")}
figures.slider_figure([race_figure(chosen, sde, t) for t in times], [f"{t:g} s" for t in times],
                      prefix="training time ", slider_y=-0.35)

# %%
show(race_explorer, runs, sde)

# %% [markdown]
# ## What must hold
#
# Every decoupled run must finish with a usable result, and the decoupled runs must end more
# accurate than the joint ones (compared by the *median* over seeds). The training times are
# printed for comparison; they depend on the machine and on how many steps each method is given.

# %%
fim_final = [rec.records[-1] for k, rec in runs.items() if k.startswith("frozen")]
joint_final = [rec.records[-1] for k, rec in runs.items() if k.startswith("joint")]
med = lambda rows, key: float(np.nanmedian([r[key] for r in rows]))  # noqa: E731
print(f"median drift error: frozen FIM {med(fim_final, 'drift_rel'):.3f}, joint {med(joint_final, 'drift_rel'):.3f}")
print(f"median training time: frozen FIM {med(fim_final, 'time_s'):.1f} s, joint {med(joint_final, 'time_s'):.1f} s")
assert all(np.isfinite(r["drift_rel"]) for r in fim_final), "every frozen-FIM run must finish with a finite error"
assert med(fim_final, "drift_rel") < med(joint_final, "drift_rel"), "the frozen FIM must end more accurate"

# %% [markdown]
# ## Why decoupling helps
#
# In the joint model the encoder and the head chase each other: the likelihood can be improved
# by changing the coordinate to suit the current head as much as by changing the head to suit
# the coordinate, and early in training both are wrong. The frozen FIM instead gives, for *any*
# latent, the drift and diffusion that a good estimator would assign to it; the encoder only has
# to make the latent a coordinate in which that estimate explains the increments well. There are
# fewer moving parts, and the dynamics never have to be learned from scratch: the table shows how
# the final errors compare, seed by seed, and the curves when each method got there.
#
# On frames where a fast, bright distractor owns the geometry, the Isomap start follows the
# distractor. Chapter 8 starts instead on the coordinate the FIM judges most predictable, and
# `bench/slow_variable.py` compares that with the joint model from random networks, which there
# does about as well (R² 0.987 against 0.986 on the distractor scene, median of 3 and 10 seeds).
#
# ## Exercises
#
# 1. Give the joint model the same start (`init=InitConfig(method="isomap")`). How much of the gap remains?
# 2. Replace the polynomial head by a neural one (`head="mlp"`). Faster or slower to converge?
#    Better or worse in the end?
# 3. Repeat the race on the arc embedding with pixel noise 0.05. Which method suffers more?
#
# ## Where next
#
# Chapter 8 asks what happens when the frames hold more than the variable you want: a bright,
# fast distractor, flicker, a shaking camera, and how the frozen FIM, as a judge of candidate
# coordinates, finds the slow one.
