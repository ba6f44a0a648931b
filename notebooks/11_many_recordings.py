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
# # 11. Many recordings: one encoder, an SDE per recording
#
# *About 40 minutes. Prerequisites: chapters 3 (estimators) and 5 (coarse-graining).*
#
# **What you will learn**
#
# - how one encoder is learned for a whole *collection* of recordings, each with its own SDE, so
#   that all of them share one coordinate and their equations can be compared;
# - why a frozen, amortised estimator makes a *new* recording cheap: encode its frames, one
#   forward pass of the FIM, no training (a jointly trained model must fit a new head);
# - how pooling across recordings (empirical Bayes) rescues the drift of a short recording, and
#   what it costs.
#
# **The equations that matter.** Recording $k$ follows its own SDE in the shared latent,
# $\mathrm dZ = f_k(Z)\,\mathrm dt + g_k(Z)\,\mathrm dW$. The FIM reads $\hat f_k$ off recording
# $k$'s paths alone; a short recording gives a rough estimate with sampling variance $v_k(z)$ (from
# the recording itself, by leaving out one path at a time: the jackknife). The collection says how
# much the recordings really differ: at each $z$, the spread of their true drifts is
# $\tau^2 = \operatorname{var}_k \hat f_k - \operatorname{mean}_k v_k$. Pooling moves each estimate
# towards the collection's mean $m$ by as much as its own uncertainty warrants:
#
# $$
# \hat f_k^{\,\text{pooled}}(z) = m(z) + w_k(z)\,\big(\hat f_k(z) - m(z)\big),
# \qquad w_k = \frac{\tau^2}{\tau^2 + v_k} .
# $$ (eq-11-shrink)
#
# A precise recording ($v_k \ll \tau^2$) keeps its estimate; a noisy one borrows from the others.
# This is the James–Stein idea: when many quantities are estimated at once, shrinking each towards
# their common mean lowers the total error.

# %%
import time

import numpy as np
import scipy.stats
import torch

import fimcg
from fimcg.analysis.alignment import compare_to_truth, fit_alignment, latent_r2
from fimcg.app import figures
from fimcg.io import open_collection
from fimcg.video import make_collection
from fimcg.widgets import pick, pooling_explorer, pooling_slider_figure, show

torch.set_num_threads(1)
fim = fimcg.load_fim()
N_TRAIN, N_NEW = pick(16, 8), 4
col = make_collection(N_TRAIN + N_NEW, n_paths=4, n_frames=pick(500, 300), seed=0)
train, new = col.scenes[:N_TRAIN], col.scenes[N_TRAIN:]
for name, p in list(zip(col.names, col.params))[:3]:
    print(f"{name}: barrier {p['barrier']:.2f}, noise {p['noise']:.2f}")
print(f"... {N_TRAIN} recordings to train on, {N_NEW} new ones; each 4 paths x {train[0].frames.shape[1]} frames")
figures.paths_grid_figure([(s.signal[:2], s.dt) for s in col.scenes[:3]], titles=col.names[:3])

# %% [markdown]
# ## One encoder for the whole collection
#
# `open_collection` groups the recordings; `coarse_grain` then learns one encoder for all their
# frames. Its likelihood treats each recording as its own context: at each step a few recordings
# are drawn, and the FIM reads each one's latent paths separately, so each is scored under its own
# SDE. The encoder therefore cannot cheat by averaging dynamics that differ.

# %%
t0 = time.perf_counter()
result = fimcg.coarse_grain(open_collection(*[s.frames for s in train], names=col.names[:N_TRAIN]), 0.01,
                            steps=pick(20, 5), seed=0, estimator=fim, progress=False)
x_train = torch.cat([s.signal for s in train])
shared = fit_alignment(result.latents, x_train)   # one map z -> x for the whole collection (for checking)
print(f"trained in {time.perf_counter() - t0:.0f} s on {result.latents.shape[0]} paths; "
      f"R² of the shared latent against the true x: {shared.r2:.4f}")
assert shared.r2 > 0.98, "one coordinate for every recording"

# %% [markdown]
# ## Every recording's SDE, pooled
#
# `result.pooled()` reads each recording's drift and diffusion on one grid of the shared latent,
# with jackknife variances, and pools them by {eq}`eq-11-shrink`. In JupyterLab the explorer steps
# through the recordings: the grey band is the collection (mean ± spread), orange the recording's
# own estimate, blue the pooled one; the right panel shows the weight $w_k(z)$ its own estimate kept.

# %%
pooled = result.pooled()
print("mean weight of each recording's own drift:", np.round(pooled.drift_weight.mean(dim=(1, 2)).numpy(), 2))
show(pooling_explorer, pooled)

# %%
pooling_slider_figure(pooled, max_recordings=6)

# %% [markdown]
# ## A new recording costs one forward pass
#
# `result.infer(frames)` encodes a recording the encoder has never seen and reads its SDE with the
# frozen FIM: no gradient step, no training. The jackknife adds one FIM pass per path, for the
# pooling. We time it and check the answer against the truth, through the shared map.

# %%
rows = []
for scene, params in zip(new, col.params[N_TRAIN:]):
    t0 = time.perf_counter()
    sde_new = result.infer(scene.frames)
    seconds = time.perf_counter() - t0
    own = compare_to_truth(sde_new.latents, scene.signal, lambda z, s=sde_new: s.coefficients(z, pooled=False),
                           scene.sde, alignment=shared)
    pool = compare_to_truth(sde_new.latents, scene.signal, sde_new.coefficients, scene.sde, alignment=shared)
    rows.append({"barrier": params["barrier"], "seconds": seconds, "drift own": own.drift_rel,
                 "drift pooled": pool.drift_rel, "diffusion own": own.diffusion_rel,
                 "diffusion pooled": pool.diffusion_rel, "compare": pool})
for r in rows:
    print({k: round(v, 3) for k, v in r.items() if k != "compare"})
med = lambda key: float(np.median([r[key] for r in rows]))  # noqa: E731
print(f"median drift error: own {med('drift own'):.3f}, pooled {med('drift pooled'):.3f}; "
      f"median time per new recording {med('seconds'):.2f} s")
assert med("seconds") < 2.0, "a new recording's SDE without training"
assert med("drift pooled") < med("drift own"), "pooling helps a short recording"

# %% [markdown]
# Pooling lowers the drift error of a four-path recording, most for the recordings whose own
# estimate was worst (their own estimate is dominated by sampling noise, and the collection knows
# what double wells look like in this coordinate). How much it gains depends on the recordings: on
# the benchmark's held-out recordings (`bench/many_recordings.py`) the median fell by 7% and 24% on
# two seeds, and where the own estimates are already good there is little to gain.
# The diffusion hardly changes: $g^2$ is estimated precisely from every increment, so its jackknife
# variance is small and its own estimate keeps most of its weight.
#
# ## Are the recordings still told apart?
#
# Pooling shrinks real differences too. Does each new recording's drift still say how high its
# barrier is? Read the barrier off the drift in $x$ (the family's shape is $4b\,(x - x^3)$) and rank.

# %%
def barrier_of(cmp):
    basis = 4 * (cmp.grid - cmp.grid ** 3)
    return float((basis * cmp.drift).sum() / (basis ** 2).sum())


true_b = [r["barrier"] for r in rows]
found_b = [barrier_of(r["compare"]) for r in rows]
print("true barriers:", np.round(true_b, 2), "\nfrom the pooled drift:", np.round(found_b, 2))
print(f"Spearman rank correlation {scipy.stats.spearmanr(true_b, found_b)[0]:.2f}")
figures.latent_scatter_figure(torch.tensor(true_b), torch.tensor(found_b),
                              title="barrier: truth vs read off the pooled drift (shrunk towards the mean)")

# %% [markdown]
# The order survives, but the values are pulled towards the middle of the collection: that is the
# price of pooling, and why it is only as strong as the recording's own uncertainty. A recording
# with many paths keeps its own estimate.
#
# ## Exercises
#
# **Exercise 1.** Give the new recordings only two paths each (`scene.frames[:2]`). What happens to
# the weights their own drift estimates keep, and to the drift errors own and pooled?
#
# :::{dropdown} Solution
# The own drift error grows clearly (about 0.29 to 0.47 and 0.27 to 0.33 for the first two new
# recordings) and the pooled one less (0.25 to 0.32, and 0.23 unchanged): the collection's mean is
# the same as before, so the shorter the recording, the more pooling is worth. The weights do not
# simply fall: with two paths the jackknife works on blocks of time (each path cut in two), and the
# variance it reports is itself a rough estimate, so the weights move either way (0.27 to 0.28 and
# 0.35 to 0.25 here). Pooling is only as good as the uncertainty it is told; with very few paths,
# compare both answers.
# :::

# %% tags=["hide-cell"]
for scene in new[:2]:
    two = result.infer(scene.frames[:2])
    four = result.infer(scene.frames)
    e = lambda s, p: compare_to_truth(s.latents, scene.signal[:s.latents.shape[0]],  # noqa: E731
                                      lambda z: s.coefficients(z, pooled=p), scene.sde, alignment=shared).drift_rel
    print(f"weight kept: 4 paths {float(four.drift_weight.mean()):.2f}, 2 paths {float(two.drift_weight.mean()):.2f}; "
          f"drift error own {e(four, False):.2f} -> {e(two, False):.2f}, pooled {e(four, True):.2f} -> {e(two, True):.2f}")

# %% [markdown]
# **Exercise 2.** A recording that is *not* like the others: make one with a strong tilt
# (`fimcg.video.make_collection(1, tilt=(0.8, 0.8), seed=7)`) and infer its SDE. Does pooling hide
# the tilt? Look at its weight.
#
# :::{dropdown} Solution
# Pooling nearly erases the tilt: at the barrier top the tilted recording's own drift is about 1.8,
# the pooled one about 0.3, which is the collection's mean there. The weight depends only on the
# variances (the recording's own and the collection's spread), not on how far the estimate lies
# from the band, so an outlier is shrunk as hard as any recording with the same variance. Empirical
# Bayes assumes the new recording comes from the same population as the others. Check that
# assumption: an own estimate lying several spreads outside the collection's band (the explorer
# shows the band) is a different system, and its own estimate (`coefficients(..., pooled=False)`)
# is the one to trust.
# :::

# %% tags=["hide-cell"]
odd = make_collection(1, n_paths=4, n_frames=pick(500, 300), tilt=(0.8, 0.8), seed=7).scenes[0]
sde_odd = result.infer(odd.frames)
z0 = torch.tensor([[float(shared.inverse(np.array([0.0]))[0])]])
print(f"weight kept {float(sde_odd.drift_weight.mean()):.2f}; drift at the barrier top: own "
      f"{float(sde_odd.coefficients(z0, pooled=False)[0]):.2f}, pooled {float(sde_odd.coefficients(z0)[0]):.2f}, "
      f"collection mean {float(pooled.at(pooled.drift_prior.mean, z0)[0, 0]):.2f}")

# %% [markdown]
# **Exercise 3.** The joint baseline (chapter 7) can learn the collection too, with one head per
# recording: `fimcg.joint_coarse_grain(open_collection(...), 0.01, init=InitConfig(method="isomap"))`.
# How does it get a new recording's SDE, how long does that take, and how good is it? Compare
# `joint.infer(frames)` with `result.infer(frames)` on the new recordings (time, and drift error
# through each model's own shared map).
#
# :::{dropdown} Solution
# The joint model has no amortised estimator: its heads are parameters fitted to their recordings,
# so a new recording gets a new head, fitted to its encoded paths by L-BFGS from the trained heads'
# average. For a cubic head and a few thousand transitions that is fast (about 0.06 s here, the
# FIM's pass about 0.1 s), so speed is not the difference. Accuracy is: the joint model's drift
# errors are about three times the FIM's (median 0.75 against 0.27 here). Trained jointly, its
# encoder and decoder bend the latent to suit its heads (chapters 7 and 10), and its new head sees
# only the new recording. The frozen FIM reads any recording in its own coordinate without that
# feedback, and its estimate can be pooled with the collection's.
# :::

# %% tags=["hide-cell"]
from fimcg.coarse_graining import InitConfig  # noqa: E402

joint = fimcg.joint_coarse_grain(open_collection(*[s.frames for s in train], names=col.names[:N_TRAIN]), 0.01,
                                 steps=pick(300, 50), init=InitConfig(method="isomap"), progress=False)
shared_joint = fit_alignment(joint.latents, x_train)
for name, model, amap in (("joint (a new head)", joint, shared_joint), ("FIM (one pass, pooled)", result, shared)):
    times, errors = [], []
    for scene in new:
        t0 = time.perf_counter()
        answer = model.infer(scene.frames)
        times.append(time.perf_counter() - t0)
        errors.append(compare_to_truth(answer.latents, scene.signal, answer.coefficients, scene.sde,
                                       alignment=amap).drift_rel)
    print(f"{name}: {np.median(times):.2f} s per recording, median drift error {np.median(errors):.3f}")

# %% [markdown]
# ## Where next
#
# `bench/many_recordings.py` runs this on 20 training and 5 held-out recordings per seed, with the
# peers: today's method run on each recording alone, and the joint model with a head per recording.
# On the command line, `fimcg coarse-grain DIR1/*.mp4 DIR2/*.mp4 ... --group-by-folder` treats each
# folder as a recording of the collection (chapter 9).
