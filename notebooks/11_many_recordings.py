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
# - how a collection teaches the *family* its recordings' drifts belong to, and how fitting each
#   recording within that family rescues the drift of a short recording, and what it costs.
#
# **The equations that matter.** Recording $k$ follows its own SDE in the shared latent,
# $\mathrm dZ = f_k(Z)\,\mathrm dt + g_k(Z)\,\mathrm dW$. The FIM reads $\hat f_k$ off recording
# $k$'s paths alone; a short recording gives a rough estimate. Recordings of one kind of system
# differ by a few parameters (here a barrier height and a noise level), so their drifts lie near a
# low-dimensional *family*
#
# $$
# f_k(z) \approx m(z) + \sum_{j=1}^{r} c_{kj}\,\varphi_j(z) .
# $$ (eq-11-family)
#
# Given $m$ and the $\varphi_j$, recording $k$ needs only its $r$ coordinates $c_k$, and its own
# transitions pin those down far better than a whole function: with increments $\Delta Z$ over
# $\Delta t$, $\Delta Z/\Delta t - m(Z) \approx \sum_j c_{kj}\varphi_j(Z)$ plus noise of variance
# $g_k^2/\Delta t$, a weighted least-squares problem with $r$ unknowns. This is least squares in a
# known basis, the estimator that wins when its basis is right (chapter 3), with the basis learned
# from the collection:
#
# 1. **start** from the mean and the principal directions of the FIM's estimates $\hat f_k$;
# 2. **refine** $m$ and the $\varphi_j$ on *all* the collection's transitions (reduced-rank
#    regression: the estimates carry the FIM's own errors, the transitions are the data themselves);
# 3. choose $r$ by **cross-validation**: fit on some paths of every recording, score the others.
#
# The pooled estimate is each recording's fit, plus the share $w$ of the difference to its own
# estimate that cross-validation keeps:
#
# $$
# \hat f_k^{\,\text{pooled}} = \hat f_k^{\,\text{family}} + w\,\big(\hat f_k - \hat f_k^{\,\text{family}}\big).
# $$ (eq-11-pooled)
#
# With $r = 0$ the family is the collection's mean alone, and {eq}`eq-11-pooled` is shrinkage
# towards the mean (the James–Stein idea: estimating many quantities at once, pull each towards
# their common value).

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
# learns the family {eq}`eq-11-family` of the drifts (and one of $g^2$), fits every recording in it
# and pools by {eq}`eq-11-pooled`. In JupyterLab the explorer steps through the recordings: the
# grey band is the collection (mean ± spread), dashed the recording's fit in the family, orange its
# own estimate, blue the pooled one; the right panel shows every recording's coordinates $c_k$ in
# the family, this one highlighted.

# %%
pooled = result.pooled()
family = pooled.drift_family
print(f"rank of the family of drifts: {family.rank} (cross-validated error of ranks 0..: "
      f"{np.round(np.array(family.scores) - min(family.scores), 1)})")
print(f"share of its own estimate each recording keeps: drift {pooled.drift_weight:.2f}, "
      f"g² {pooled.diffusion2_weight:.2f}")
print("first coordinate c1 of each recording:", np.round(pooled.drift_coefficients[:, 0].numpy(), 2) if family.rank
      else "(rank 0)")
show(pooling_explorer, pooled)

# %%
pooling_slider_figure(pooled, max_recordings=6)

# %% [markdown]
# ## A new recording costs one forward pass
#
# `result.infer(frames)` encodes a recording the encoder has never seen and reads its SDE with the
# frozen FIM: no gradient step, no training. Its coordinates in the family are one small
# least-squares fit, and the share $w$ of its own estimate was chosen on the collection. We time
# it and check the answer against the truth, through the shared map, with the ablation of pooling
# towards the mean alone (`rank=0`).

# %%
rows = []
for scene, params in zip(new, col.params[N_TRAIN:]):
    t0 = time.perf_counter()
    sde_new = result.infer(scene.frames)
    seconds = time.perf_counter() - t0
    own = compare_to_truth(sde_new.latents, scene.signal, lambda z, s=sde_new: s.coefficients(z, pooled=False),
                           scene.sde, alignment=shared)
    pool = compare_to_truth(sde_new.latents, scene.signal, sde_new.coefficients, scene.sde, alignment=shared)
    mean_only = compare_to_truth(sde_new.latents, scene.signal, result.infer(scene.frames, rank=0).coefficients,
                                 scene.sde, alignment=shared)
    rows.append({"barrier": params["barrier"], "seconds": seconds, "drift own": own.drift_rel,
                 "drift mean only": mean_only.drift_rel, "drift pooled": pool.drift_rel,
                 "diffusion own": own.diffusion_rel, "diffusion pooled": pool.diffusion_rel, "compare": pool,
                 "compare mean only": mean_only})
for r in rows:
    print({k: round(v, 3) for k, v in r.items() if not k.startswith("compare")})
med = lambda key: float(np.median([r[key] for r in rows]))  # noqa: E731
print(f"median drift error: own {med('drift own'):.3f}, towards the mean {med('drift mean only'):.3f}, "
      f"in the family {med('drift pooled'):.3f}; median time per new recording {med('seconds'):.2f} s")
assert med("seconds") < 2.0, "a new recording's SDE without training"
assert med("drift pooled") < med("drift own"), "pooling helps a short recording"

# %% [markdown]
# Both pooled answers lower the drift error of a four-path recording a lot (here the median falls
# from about 0.42 to 0.27 towards the mean, and to 0.21 in the family); they differ most in what
# they keep of the recordings' differences (next section). On the benchmark's held-out recordings
# (`bench/many_recordings.py`, two seeds) the medians are 0.33 and 0.47
# (own), 0.24 and 0.26 (towards the mean), 0.19 and 0.23 (in the family). The diffusion improves
# too (the same construction for $g^2$). Cross-validation keeps about a fifth of the own drift
# estimates ($w \approx 0.2$) and almost none of the own $g^2$: most of what a recording's own
# estimate adds to its family fit is, on these recordings, noise.
#
# Why refine on the transitions? A family spanned by the FIM's estimates alone keeps their common
# errors, wherever the FIM errs the same way for every recording; least squares in such a family
# was barely better than the own estimates on the development collections. Refined on the tens of
# thousands of transitions of the whole collection, the family loses them.
#
# ## Are the recordings still told apart?
#
# Pooling must not erase real differences. Does each new recording's drift still say how high its
# barrier is? Read the barrier off the drift in $x$ (the family's shape is $4b\,(x - x^3)$) and
# rank. The coordinates $c_k$ tell the same story without going back to $x$: they are the
# recordings' parameters in the shared latent.

# %%
def barrier_of(cmp):
    basis = 4 * (cmp.grid - cmp.grid ** 3)
    return float((basis * cmp.drift).sum() / (basis ** 2).sum())


true_b = [r["barrier"] for r in rows]
found_b = [barrier_of(r["compare"]) for r in rows]
mean_b = [barrier_of(r["compare mean only"]) for r in rows]
print("true barriers:", np.round(true_b, 2), "\nfrom the drift pooled in the family:", np.round(found_b, 2),
      "\nfrom the drift pooled towards the mean:", np.round(mean_b, 2))
print(f"Spearman rank correlation: family {scipy.stats.spearmanr(true_b, found_b)[0]:.2f}, "
      f"mean {scipy.stats.spearmanr(true_b, mean_b)[0]:.2f}")
train_b = [p["barrier"] for p in col.params[:N_TRAIN]]
if family.rank:
    rho = scipy.stats.spearmanr(train_b, pooled.drift_coefficients[:, 0].numpy())[0]
    print(f"training recordings: Spearman correlation of c1 with the barrier {rho:.2f} (a component's sign is "
          "arbitrary)")
if family.rank:
    assert np.ptp(found_b) > np.ptp(mean_b), "the family keeps the recordings' differences; the mean compresses them"
figures.latent_scatter_figure(torch.tensor(true_b), torch.tensor(found_b),
                              title="barrier: truth vs read off the drift pooled in the family")

# %% [markdown]
# Pooled towards the mean, every recording is pulled to the middle: the barriers come out
# compressed (about 0.83 to 1.11 here, for true values 0.68 to 1.40); here the order survives, but
# barely. In the family they come out close to the truth (0.69 to 1.34): a recording keeps its own
# parameter and borrows only the *shape* from the collection. The first coordinate of the family
# follows the barrier across the training recordings without any reference to $x$ (rank
# correlation about 0.8 in size; the noise level, which also differs, moves it too): the
# collection found its own parameter.
#
# With five recordings a rank correlation is a coarse score: two barriers a few percent apart
# cannot be ordered from four paths of 500 frames by any method. On the benchmark's seeds 100-107
# even least squares in the true class, on the true states, reached 0.9 on only five of eight.
#
# ## Exercises
#
# **Exercise 1.** Give the new recordings only two paths each (`scene.frames[:2]`). What happens to
# the drift errors own and pooled, and to the recordings' coordinates $c_1$ in the family?
#
# :::{dropdown} Solution
# The own drift error grows clearly (about 0.27 to 0.41 and 0.25 to 0.29 for the first two new
# recordings) and the pooled one hardly (0.29 to 0.32, and 0.22 to 0.23): the family is the same
# as before, and one coordinate is still well determined by two paths, so the shorter the
# recording, the more pooling is worth. The coordinate itself moves a little (1.22 to 1.18, and
# 0.76 to 0.59): half the transitions, a noisier fit.
# :::

# %% tags=["hide-cell"]
for scene in new[:2]:
    two = result.infer(scene.frames[:2])
    four = result.infer(scene.frames)
    e = lambda s, p: compare_to_truth(s.latents, scene.signal[:s.latents.shape[0]],  # noqa: E731
                                      lambda z: s.coefficients(z, pooled=p), scene.sde, alignment=shared).drift_rel
    c1 = lambda s: float(s.drift_coefficients[0]) if family.rank else float("nan")  # noqa: E731
    print(f"c1: 4 paths {c1(four):.2f}, 2 paths {c1(two):.2f}; "
          f"drift error own {e(four, False):.2f} -> {e(two, False):.2f}, pooled {e(four, True):.2f} -> {e(two, True):.2f}")

# %% [markdown]
# **Exercise 2.** A recording that is *not* like the others: make one with a strong tilt
# (`fimcg.video.make_collection(1, tilt=(0.8, 0.8), seed=7)`) and infer its SDE. Does pooling hide
# the tilt? How could you tell, without the truth, that this recording does not belong to the family?
#
# :::{dropdown} Solution
# Pooling hides much of the tilt: at the barrier top the tilted recording's own drift is about
# 1.9, the pooled one about 1.2, the collection's mean there about 0.8. The family
# holds only the directions in which the training recordings differ, and none of them was
# tilted; the fit moves the recording along the barrier direction as far as that goes, and the
# rest of the tilt is lost, apart from the share $w$ of its own estimate. The check is how far the own estimate lies from its family fit: here
# an RMS of about 1.4, against a median of 0.65 for the training recordings, near the largest
# (1.6). That is a warning, not a proof, with recordings this short. Pooling assumes the new
# recording belongs to the family; when its own estimate lies far from its fit, trust the own
# estimate (`coefficients(..., pooled=False)`), or add recordings like it to the collection so
# that the family learns the new direction.
# :::

# %% tags=["hide-cell"]
odd = make_collection(1, n_paths=4, n_frames=pick(500, 300), tilt=(0.8, 0.8), seed=7).scenes[0]
sde_odd = result.infer(odd.frames)
z0 = torch.tensor([[float(shared.inverse(np.array([0.0]))[0])]])
print(f"drift at the barrier top: own {float(sde_odd.coefficients(z0, pooled=False)[0]):.2f}, "
      f"pooled {float(sde_odd.coefficients(z0)[0]):.2f}, collection mean "
      f"{float(pooled.at(pooled.drift_family.mean[:, None].float(), z0)[0, 0]):.2f}")
# how far each recording's own estimate lies from its family fit (RMS over the grid)
misfit = lambda own, fit: float(((own - fit) ** 2).mean().sqrt())  # noqa: E731
usual = [misfit(pooled.raw_drift[k], pooled.drift_centre[k]) for k in range(N_TRAIN)]
print(f"own estimate minus its family fit, RMS: this recording {misfit(sde_odd.raw_drift, sde_odd.drift_centre):.2f}, "
      f"the training recordings {np.median(usual):.2f} (median), {max(usual):.2f} (largest)")

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
# average. For a cubic head and a few thousand transitions that is fast (about 0.07 s here, the
# FIM's pass and the family fit about 0.04 s), so speed is not the difference. Accuracy is: the
# joint model's drift errors are more than three times the FIM's (median 0.75 against 0.21 here). Trained jointly, its
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
# folder as a recording of the collection (chapter 9), and `fimcg infer OUT/result.safetensors
# NEW/*.mp4` reads a new recording's SDE from the saved result, with no training.
