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
# # 4. Inside the FIM
#
# *About 45 minutes. Prerequisites: chapter 3 (the classic estimators and the FIM, zero-shot).*
#
# **What you will learn**
#
# - what the FIM learned from: a *prior* over SDEs, i.e. random drifts and diffusions, simulated
#   in many sampling regimes, with and without observation noise;
# - how every data set is brought to a standard scale before the network sees it, and mapped back
#   exactly afterwards, so that the estimate does not care about units;
# - what the network is made of: not a black box that outputs $f$ and $g$, but a network that
#   weighs classic and nonparametric estimates by the context; and how pretraining works (you
#   will run a tiny pretraining yourself).
#
# **The equations that matter.** With the data's mean $m$ and standard deviation $s$, and the
# time rescaled by $a = 0.01/\Delta t$, the normalised state $x' = (x - m)/s$ and time $t' = a\,t$
# obey an SDE with (Itô's formula plus a time change)
#
# $$
# f'(x') = \frac{f(x)}{a\,s}, \qquad g'(x') = \frac{g(x)}{s\sqrt{a}} .
# $$ (eq-04-normalisation)
#
# In these units the FIM computes classic estimates $\hat f_k$ of the drift (kernel moments,
# polynomial and function-family least squares, a cross-validated average of them) and $\hat g_j^2$
# of the squared diffusion, and its network only decides, at each query point $q$ and for the
# data set $\mathcal D$ at hand, how much to trust each:
#
# $$
# \hat f'(q) = \sum_k w_k(q, \mathcal D)\, \hat f_k(q), \qquad
# \log \hat g'^2(q) = \sum_j v_j(q, \mathcal D)\, \log \hat g_j^2(q),
# $$ (eq-04-mixture)
#
# with gates $w_k, v_j \ge 0$ summing to 1 (one drift option is zero). `fim.estimate` maps the
# answer back: $f = a\,s\,f'$ and $g = \sqrt a\,s\,g'$.

# %%
import json
import os
import tempfile
from dataclasses import asdict, replace

import numpy as np
import torch
from IPython.display import display

import fimcg
from fimcg import systems
from fimcg.app import figures
from fimcg.fim.config import FIMConfig, NetworkConfig
from fimcg.fim.normalise import normalise
from fimcg.fim.training.loop import PretrainConfig, export_weights, pretrain
from fimcg.fim.training.prior import PriorConfig, SyntheticPrior, sample_equations
from fimcg.widgets import (
    normalisation_data,
    normalisation_explorer,
    normalisation_figure,
    pick,
    show,
)

torch.set_num_threads(1)
fim = fimcg.load_fim()
print(f"shipped FIM: {sum(p.numel() for p in fim.parameters()):,} parameters")

# %% [markdown]
# ## The prior: what kinds of equations?
#
# A FIM never sees the system you give it during training. It learns from synthetic equations
# drawn at random, and has to generalise from them. fimcg's prior follows FIM-SDE
# {cite:p}`seifner2025fimsde` (drift a sparse polynomial of degree $\le 3$, diffusion the square root
# of a degree-$\le 2$ polynomial) and widens it with smooth non-polynomial terms (saturating
# $\tanh$, periodic $\sin$, rational) and modulated diffusions; the last fine-tuning stage also adds
# random Gaussian bumps to drifts and log-diffusions (`PriorConfig(p_smooth=..., p_smooth_diffusion=...)`),
# smooth shapes of no named family. Here are six draws of the base prior:

# %%
equations = sample_equations(6, generator=torch.Generator().manual_seed(3))
for b in range(equations.n):
    print(f"{b}: {equations.describe(b)}")
x = torch.linspace(-2, 2, 200)
figures.function_family_figure(x, equations.drift(x[None, :, None].expand(6, -1, 1)),
                               equations.diffusion(x[None, :, None].expand(6, -1, 1)),
                               title="six equations drawn from the prior")

# %% [markdown]
# ## The prior: what kinds of data?
#
# Each equation is simulated with Euler–Maruyama and observed in one of many regimes: sampling
# steps from 0.001 to 0.1 time units, 1 to 100 paths of 10 to 5000 observations, sometimes with
# observation noise; equations whose paths blow up are rejected. `SyntheticPrior.episode()` draws
# one regime and simulates a pool of equations in it. Four episodes, four very different data sets:

# %%
datasets, titles = [], []
for seed in range(4):
    batch = SyntheticPrior(PriorConfig(), seed=seed, min_rows=16, max_batch=2).episode()[0]
    P, T = batch.paths.shape[1:3]
    datasets.append((batch.paths[0], batch.dt))
    titles.append(f"{P} paths x {T} obs, Δt = {batch.dt:.3g}, noise {float(batch.noise[0]):.2g}")
figures.paths_grid_figure(datasets, titles=titles, n_show=3)

# %% [markdown]
# Paths of wildly different scales and speeds. A network cannot learn one function for all of
# them in raw units. Hence the normalisation.
#
# ## Normalisation
#
# `fimcg.fim.normalise` standardises the states of a data set and rescales its time so that the
# typical step becomes $\Delta t' = 0.01$, which changes drift and diffusion as
# {eq}`eq-04-normalisation` says. Every transition becomes a *token* with features
# $(x',\ \Delta x'/\sqrt{\Delta t'},\ \Delta x'^2/\Delta t',\ \log(\Delta t'/0.01))$: a set of
# tokens without any order, so any number of paths of any length is just more tokens.

# %%
sde = systems.double_well()
DT = 0.002
paths = fimcg.simulate(sde, torch.tensor([-1.0, 1.0]).repeat(pick(5, 2))[:, None], dt=DT,
                       n_steps=pick(2000, 800), seed=0)
norm = normalise(paths[None], DT)
print(f"mean m = {float(norm.mean[0, 0]):.3f}, std s = {float(norm.std[0, 0]):.3f}, "
      f"time factor a = {float(norm.time_factor[0]):g} (Δt' = {float(norm.dt[0, 0, 0]):g}), "
      f"{norm.x.shape[1]} tokens")

# %% [markdown]
# Because the network only ever sees normalised data, the estimate is *equivariant*: measure the
# state in other units ($y = c\,x + b$) or the time in other units, and the answer changes exactly
# as Itô's formula says it must, $f_y = c\,\tau f_x$, $g_y = c\sqrt\tau\, g_x$ for a time unit
# $\tau$ times the old one. `normalisation_data` runs the FIM on rescaled data and maps its answer
# back: the mapped-back curves lie on top of the original ones. (This is also why the learned
# latent of chapter 5 may have any scale and offset: the FIM does not care.)

# %%
settings = [(1.0, 0.0, 1.0), (10.0, 5.0, 1.0), (0.2, -3.0, 10.0), (50.0, 0.0, 0.05)]
norm_data = [normalisation_data(fim.estimate, paths, DT, scale=c, shift=b, time_unit=tau) for c, b, tau in settings]
figures.slider_figure([normalisation_figure(d) for d in norm_data],
                      [f"c={c:g}, b={b:g}, τ={tau:g}" for c, b, tau in settings], prefix="y = c x + b, time unit τ: ",
                      slider_y=-0.2)

# %%
worst = max(d.max_deviation for d in norm_data)
print(f"largest change of the mapped-back estimate: {100 * worst:.3g}% of its size")
assert worst < 1e-3, "the FIM must be equivariant to the units of state and time"

# %% [markdown]
# In JupyterLab, try it with sliders:

# %%
show(normalisation_explorer, fim.estimate, paths, DT)

# %% [markdown]
# ## The architecture
#
# The whole model is one package, `fimcg/fim/` (`model.py`, `library.py`, `candidates.py`); its module docstring is the reference. In short:
#
# 1. **Tokens**: one per transition, the features above (zero-padded to 3 dimensions).
# 2. **Encoder**: a small set of learned *latent* vectors attends to all tokens (Perceiver-style
#    {cite:p}`lee2019settransformer`), then to each other: a summary of the data set whose cost is
#    linear in the number of tokens.
# 3. **Query features**: at each location $q$ where we want $f(q)$ and $g(q)$, classic estimates
#    and their standard errors: kernel Kramers–Moyal moments near $q$ at a few bandwidths
#    (chapter 3's estimators, local-constant and local-linear, as inputs), global polynomial
#    least-squares fits, penalised splines whose smoothness generalised cross-validation picks, a
#    *cross-validated average* of the fits, the spline and the kernel drifts (each candidate
#    weighted by how well it predicts increments it was not fitted to), and statistics
#    that reveal observation noise, how well the data pin the drift down, and whether they
#    contradict a cubic.
# 4. **Decoder**: each query attends to the latents, and an MLP decides how much to trust each
#    classic estimate at $q$: the softmax gates of {eq}`eq-04-mixture`, including a "zero" option
#    that shrinks a drift the data cannot determine, and gates over the estimates of $g^2$ (kernel
#    second moments, quadratic fits, splines, and cross-validated averages of polynomial and spline
#    fits, each also in a noise-robust version), mixed as a geometric mean. It cannot invent
#    a drift of its own: it learns *which* estimator to believe, where, for which kind of data.
#
# This is where fimcg's FIM differs from FIM-SDE {cite:p}`seifner2025fimsde`, which inspired it:
# FIM-SDE is a transformer whose output head returns $f$ and $g$ directly, so the network itself
# is the estimator. Here the estimates are computed by classic means, in the same differentiable
# pass, and the network only weighs them. That makes the model small, cheap to pretrain and easy
# to open (`explain`, below), and its answer is never far from some classic estimate; the price
# is that where none of the candidates is right, no weighting makes it right.
#
# The network is small enough to train on a laptop CPU:

# %%
print(fim.config)
for name, module in fim.named_children():
    print(f"  {name:<20} {sum(p.numel() for p in module.parameters()):>8,} parameters")
print("shipped weights:", {k: v for k, v in getattr(fim, "meta", {}).items() if k in ("steps", "wall_time_s", "step")})

# %% [markdown]
# ## Which estimate does the FIM trust?
#
# `fim.explain(paths, dt, locations)` opens the decoder: the weight of every classic estimate in
# the mixture at each location (the weights sum to 1), and the global statistics the network saw.
# Two of them decide most cases:
#
# - *cross-validation*: every candidate drift predicts increments it was not fitted to: the
#   least-squares polynomials of degree 1, 3, 5 and 7, the prior's non-polynomial families (a line
#   or a cubic plus one tanh, sine or rational term, `tanh fit`, `sine fit`, `rational fit`) and the
#   local-linear kernel drift at each bandwidth. The differences of their prediction errors, in
#   units of Akaike's information criterion, are `cv_delta`, penalties included (degrees 5 and 7
#   pay `high_degree_penalty`, the kernel drifts `cv_penalty`, the families `family_penalty`; inside
#   a family, the members built on the cubic pay `family_cubic_penalty` against those on a line:
#   see `fim.config.candidates`, printed below). They weigh the *cv average* option.
# - *lack of fit*: the mean squared difference between a kernel drift and the cubic fit at 16
#   data quantiles, in units of its standard error: near 1 or below when a cubic explains the
#   data, large when the data contradict it.
#
# On the double well the cubic fit is right: it beats the other polynomials and every kernel drift,
# though a family fit (a line plus a steep tanh, say) can come close on short paths, where
# cross-validation cannot tell the two shapes apart. On a corrugated well ($f = -x/2 - \sin 3x$)
# no polynomial explains the data and a non-polynomial candidate (here the sine family) predicts
# better than any polynomial by a wide margin.
# `explain` also returns every option's drift (`drift_options`), so we can score each candidate
# against the truth, which cross-validation never sees:

# %%
print({k: getattr(fim.config.candidates, k) for k in ("high_degree_penalty", "cv_penalty", "family_penalty",
                                                      "family_cubic_penalty")})
wells = {"double well": (sde, paths, DT)}
per = systems.periodic_well()
per_paths = fimcg.simulate(per, torch.randn(20, 1, generator=torch.Generator().manual_seed(1)), dt=0.01,
                           n_steps=500, seed=1)  # 10,000 transitions: cheap, and enough to see the corrugation
wells["corrugated well"] = (per, per_paths, 0.01)
winner, cv_deltas = {}, {}
for name, (system, obs, step) in wells.items():
    grid = fimcg.occupied_grid(obs, n=60)
    why = fim.explain(obs, step, grid)
    st = {k: float(v) for k, v in why["statistics"].items()}
    deltas = {k.removeprefix("cv_delta "): v for k, v in st.items() if k.startswith("cv_delta")}
    winner[name], cv_deltas[name] = min(deltas, key=deltas.get), deltas
    print(f"{name}: cv_delta (penalties included) " + ", ".join(f"{k} {v:.1f}" for k, v in deltas.items()))
    print(f"  the best candidate: {winner[name]}; largest lack-of-fit test "
          f"{max(v for k, v in st.items() if k.startswith('lack_of_fit')):.2f}")
    # the candidates themselves are in why["drift_options"]: how far is each from the truth?
    truth = system.drift(grid)
    errors = {k: fimcg.analysis.metrics.relative_rmse(why["drift_options"][k], truth) for k in (*deltas, "cv average")}
    print("  relative drift error: " + ", ".join(f"{k} {v:.2f}" for k, v in errors.items()))
    display(figures.gates_figure(grid, why, title=f"{name}: the FIM's mixture of classic estimates"))
    ll = fimcg.estimators.local_linear(obs, step, grid)
    display(figures.drift_diffusion_figure(grid, {"FIM": fim.estimate(obs, step, grid), "local-linear": ll},
                                           sde=system, title=f"{name}: estimates"))
polynomials, kernels = {"ls1", "ls3", "ls5", "ls7"}, [k for k in cv_deltas["double well"] if k.startswith("ll")]
dw, cw = cv_deltas["double well"], cv_deltas["corrugated well"]
assert min(polynomials, key=dw.get) == "ls3" and dw["ls3"] < min(dw[k] for k in kernels), \
    "cross-validation must prefer the cubic fit to the other polynomials and the kernel drifts on the double well"
assert winner["corrugated well"] not in polynomials and min(cw[p] for p in polynomials) > 10, \
    "cross-validation must prefer a non-polynomial drift on the corrugated well, by a wide margin"

# %% [markdown]
# ## Systems it never saw
#
# Every candidate above except the kernel drifts *names* a function class: polynomials, and the
# tanh, sine and rational families of the prior. A system of such a class is easy for the FIM: one
# candidate is nearly the truth, and cross-validation finds it. The honest test of a foundation
# model is a system that no candidate names. fimcg's benchmark holds six of them
# (`bench/fim_accuracy.py --section unseen`: an exponential wall, an $|x|$-based double well, a
# Gaussian bump, a $\sinh$ well, a damped wave, and a cubic with a clipped-semicircle diffusion),
# each in three context shapes, and compares the FIM with what a careful user would fit by hand:
# binned Kramers–Moyal, local-linear regression with a cross-validated bandwidth, a polynomial whose
# degree Akaike's criterion picks, Gaussian-process regression, and the oracle, least squares in the
# true basis. Its settings were chosen on a *development suite* of six other unseen systems and on
# held-out prior data, never on those six (`bench/fim_select.py`; a test keeps the two suites
# disjoint).
#
# Two kinds of candidates serve such systems, and neither names a family:
#
# - **penalised splines** (P-splines): a cubic B-spline on 20 knot intervals whose smoothness λ is
#   chosen per data set by generalised cross-validation, for the drift and for $g^2$
#   ({mod}`fimcg.estimators.splines`; the same estimator is `fimcg.estimators.penalised_spline`);
# - a **cross-validated $g^2$ average**: the squared residuals $(\Delta x - \hat f\,\Delta t)^2/\Delta t$
#   are fitted by a constant, a line, a quadratic, a quartic and the spline, and averaged with
#   Akaike weights from their prediction errors; the same once more on the noise-robust residuals
#   $r_t^2 + 2 r_t r_{t+1}$, which cancel white observation noise. A constant $g$ gets the
#   constant's precision, any other shape the spline's flexibility.
#
# Their gates were fine-tuned on a *broader* prior, whose drifts and log-diffusions also carry random
# Gaussian bumps (smooth functions of no named family). Here is one development system,
# $f = 0.5 - x\,e^{x^2/8}$, $g = 0.4 + 0.3\,e^{-(x - 0.5)^2}$, seen as many short paths:

# %%
unseen = fimcg.SDE(drift=lambda x: 0.5 - x * torch.exp(x * x / 8),
                   diffusion=lambda x: 0.4 + 0.3 * torch.exp(-(x - 0.5) ** 2), dim=1, name="stiffening well")
short_paths = fimcg.simulate(unseen, torch.randn(pick(200, 100), 1, generator=torch.Generator().manual_seed(4)),
                             dt=0.01, n_steps=50, seed=4, substeps=10)
grid = fimcg.occupied_grid(short_paths, n=80)
est = fimcg.estimators
unseen_estimates = {
    "FIM": fim.estimate(short_paths, 0.01, grid, warn=False),
    "binned KM": est.binned_km(short_paths, 0.01, grid),
    "local-linear (CV bandwidth)": est.local_linear(short_paths, 0.01, grid, bandwidth="cv"),
    "AIC polynomial": est.aic_polynomial(short_paths, 0.01, grid),
    "penalised spline": est.penalised_spline(short_paths, 0.01, grid),
}
for name, (f_hat, g_hat) in unseen_estimates.items():
    e = fimcg.analysis.metrics.sde_errors(unseen, grid, f_hat, g_hat)
    print(f"{name:<28} drift error {e['drift_rel']:.3f}   diffusion error {e['diffusion_rel']:.3f}")
figures.drift_diffusion_figure(grid, unseen_estimates, sde=unseen,
                               title=f"a system outside every named family: {short_paths.shape[0]} paths x 50 steps")

# %% [markdown]
# What the benchmark says (the full table is in the model card, `fimcg/weights/MODEL_CARD.md`):
#
# - **drift**: the FIM's error is 1.68 times the oracle's (geometric mean over the 18 rows), about
#   that of the best simple peer *of each row* (0.99 times its error; the peers alone reach 1.82 to
#   1.99 times the oracle, binned KM 3.5), and it beats every simple peer in only 7 rows of 18. It
#   wins most clearly under observation noise (the Gaussian bump: 0.24 against 0.32 for the best
#   peer) and on the cubic's short paths; it loses where one peer happens to suit the shape: the GP
#   on the damped wave (0.23 against 0.16 on short paths), the local-linear drift on the $\sinh$
#   well under noise (0.56 against 0.46);
# - **diffusion**: 0.94 times the error of the best classic estimate of each row on average, but in
#   two halves: 1.19 times on the clean rows, where the cross-validated $g^2$ average is about as
#   good as the best peer, and 0.59 times on the noisy rows, where the simple peers are biased by
#   the noise and the FIM's noise-robust residuals are not; there it beats StochasticForceInference
#   in 5 of 6 rows, and loses on the $\sinh$ well;
# - **best in hindsight**: 1.58 times the oracle.
#
# The last point deserves a sentence of its own. The oracle knows the two or three functions the
# drift is made of and fits only their coefficients; every other method has to find the *shape*
# from the data. "Best in hindsight" takes, in every row, whichever of the FIM and the simple peers
# happened to be closest to the truth, a choice no estimator can make because it needs the truth.
# Even that perfect per-row choice sits above 1.5 times the oracle: strong evidence (not a proof:
# a location-wise mixture can beat every single estimate) that weighing such estimates will not
# get there. A candidate that names the system's family would, and adding such candidates for the
# benchmark's systems is fitting the exam.

# %% [markdown]
# ## Irregular sampling
#
# Observation times need not be regular: pass the steps between consecutive observations instead
# of one `dt`, shape `(T - 1,)` for all paths or `(n_paths, T - 1)`. Every average of
# $\Delta x/\Delta t$ then becomes $\sum \Delta x / \sum \Delta t$, which weighs each increment by its
# step (the variance of $\Delta x/\Delta t$ is $g^2/\Delta t$). The classic estimators in
# `fimcg.estimators` take the same steps. Here half of the paths are observed five times more often
# than the other half:

# %%
fine = fimcg.simulate(sde, torch.randn(8, 1, generator=torch.Generator().manual_seed(2)), dt=0.001,
                      n_steps=pick(5000, 2500), seed=2)
T_obs = fine.shape[1] // 5
mixed = torch.cat([fine[:4, :T_obs], fine[4:, ::5][:, :T_obs]])
steps = torch.cat([torch.full((4, T_obs - 1), 0.001), torch.full((4, T_obs - 1), 0.005)])
grid = fimcg.occupied_grid(mixed, n=60)
figures.drift_diffusion_figure(grid, {"FIM, per-path steps": fim.estimate(mixed, steps, grid),
                                     "local-linear, per-path steps": fimcg.estimators.local_linear(mixed, steps, grid)},
                               sde=sde, title="four paths observed every 0.001, four every 0.005")

# %% [markdown]
# ## A tiny pretraining run
#
# Pretraining repeats three steps: draw a batch of data sets from the prior, predict $f'$ and
# $g'$ at random query locations, and reduce the relative squared error against the true values
# (the loss, `fimcg.fim.training.loss.fim_loss`, is written out in its docstring). `fimcg.fim.training.loop.pretrain` does
# that with checkpoints, validation and a log; `fimcg pretrain` is the same from the command
# line. Here is a run with a much smaller network and a few hundred steps (the shipped model
# trained for 10,000 steps of about 50,000 transitions each, 7 minutes on one GPU, then was grown
# and fine-tuned for 2,400 steps on a CPU, and grown once more (splines, cross-validated $g^2$) and
# fine-tuned for 1,400 steps on the broader prior; its model card, `fimcg/weights/MODEL_CARD.md`,
# tells the whole story):

# %%
tiny = PretrainConfig(model=asdict(FIMConfig(NetworkConfig(d_model=32, n_latents=8, n_encoder_blocks=1))),
                      prior=asdict(PriorConfig(transitions_range=(100, 2000))),
                      steps=pick(400, 40), tokens_per_batch=4000, warmup=20, lr=3e-3,
                      val_every=pick(100, 20), val_batches=4, log_every=pick(10, 5))
run_dir = tempfile.mkdtemp(prefix="fimcg-tiny-")
final = pretrain(tiny, run_dir, device="cpu", progress=True)
with open(os.path.join(run_dir, "log.json")) as fh:
    history = json.load(fh)["history"]
figures.training_curve_figure(history, title=f"tiny FIM, {final['step']} steps in {final['elapsed_s']:.0f} s")

# %% [markdown]
# The training losses are noisy (every batch holds different equations in a different sampling
# regime); the validation errors on held-out equations from the prior fall slowly: pretraining a
# good FIM takes many thousands of steps. Because the network only weighs classic estimates (an
# untrained one puts its drift gates on the cross-validated average and its diffusion gates on the
# quadratic fits of $g^2$), even an untrained FIM is a reasonable classic estimator; what
# pretraining adds is *when to trust which*, learned from the prior. Here is the tiny model next to
# the shipped one on the reference double well:

# %%
digest = export_weights(os.path.join(run_dir, "checkpoint.safetensors"), os.path.join(run_dir, "tiny.safetensors"))
tiny_fim = fimcg.load_fim(os.path.join(run_dir, "tiny.safetensors"), sha256=digest)  # weights we just made
grid = fimcg.occupied_grid(paths, n=80)
estimates = {"tiny FIM": tiny_fim.estimate(paths, DT, grid), "shipped FIM": fim.estimate(paths, DT, grid)}
figures.drift_diffusion_figure(grid, estimates, sde=sde, title="the same paths, two FIMs")

# %%
err = {k: fimcg.analysis.metrics.sde_errors(sde, grid, f, g) for k, (f, g) in estimates.items()}
print({k: (round(v["drift_rel"], 3), round(v["diffusion_rel"], 3)) for k, v in err.items()})
val = [r for r in history if "val_drift_rel" in r]       # validation records, the first at step 0
score = [r["val_drift_rel"] + r["val_diffusion_rel"] for r in val]
best = min(range(1, len(val)), key=score.__getitem__)  # the checkpoint pretraining keeps (best.safetensors)
print(f"validation error (drift + diffusion) on held-out prior equations: step 0 {score[0]:.3f}, "
      f"best (step {val[best]['step']}) {score[best]:.3f}, last (step {val[-1]['step']}) {score[-1]:.3f}")
assert score[best] < score[0], "pretraining must lower the validation error on held-out equations"

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Draw 1,000 equations from the prior and count how many have a double-well drift
# (two stable zeros, where $f$ crosses zero downwards) on $[-3, 3]$. Is the reference system,
# $f = 4x - 4x^3$, $g^2 = 4 - 1.25x^2$, typical for the prior?
#
# :::{dropdown} Solution
# About one draw in eight has two or more stable zeros on $[-3, 3]$ (127 of 1,000 for this seed);
# more than half have one, and a third have none in that window (a line or a confining cubic whose
# zero lies further out, or a drift that pushes the paths away). Among the purely polynomial draws
# double wells are rarer still (36 of 525): a random cubic needs three real zeros inside the window
# and a confining (negative) leading coefficient. The reference system is a member of the prior's
# class, but a minority shape, with coefficients at the large end of the prior's range (a cubic
# coefficient of size 4 or more in 3% of the draws) and a diffusion at its edge (only 2% of the
# draws have $g^2(0) \ge 4$). So the FIM has not seen many systems
# like it; it does well on it because one of its candidates, the cubic least-squares fit, is
# exactly right, and what it learned is to trust that candidate when cross-validation says so.
# :::

# %% tags=["hide-cell"]
draws = sample_equations(1000, generator=torch.Generator().manual_seed(0))
xs = torch.linspace(-3, 3, 601)
sign = torch.sign(draws.drift(xs[None, :, None].expand(draws.n, -1, 1))[..., 0])
n_stable = ((sign[:, :-1] > 0) & (sign[:, 1:] <= 0)).sum(1)
polynomial_only = (draws.tanh[:, 0, 0] == 0) & (draws.sine[:, 0, 0] == 0) & (draws.rational[:, 0, 0] == 0)
print("stable zeros on [-3, 3]:", {k: int((n_stable == k).sum()) for k in range(4)}, "(of 1000)")
print(f"two or more: {int((n_stable >= 2).sum())}; among the {int(polynomial_only.sum())} polynomial draws: "
      f"{int(((n_stable >= 2) & polynomial_only).sum())}")
print(f"draws with |cubic coefficient| >= 4: {100 * float((draws.poly[:, 0, 3].abs() >= 4).float().mean()):.1f}%, "
      f"with g²(0) >= 4: {100 * float((draws.diff_poly[:, 0, 0] >= 4).float().mean()):.1f}%")

# %% [markdown]
# **Exercise 2.** Feed the FIM a mirrored coordinate, $y = -x$. The normalisation divides by a
# positive standard deviation, so it cannot undo a mirror: is the network's answer still consistent,
# $f_y(y) = -f_x(-y)$, $g_y(y) = g_x(-y)$? Use `normalisation_data` with `scale=-1`, and compare
# with `scale=-3`.
#
# :::{dropdown} Solution
# Nearly, but not exactly: the mapped-back drift differs from the original by about 7% of its RMS
# size at the worst point in fast mode (2% in full mode, where the paths are longer), the
# diffusion by about 1% (0.1%); `scale=-3` gives the same numbers as `scale=-1`, because the
# normalisation removes the factor 3 and only the sign reaches the network. The classic candidates
# are mirror-equivariant up to details such as their binning (a kernel moment or a least-squares
# fit of mirrored data is the mirrored fit: `fim.explain` on $-x$ gives the mirrored candidates to
# within a percent); the learned gates are not: nothing in the architecture forces them to be, and
# the prior is only symmetric on average. The gates differ a little between $x$ and $-x$, and that matters
# less the more the candidates agree, hence the smaller deviation on more data. Affine maps with
# $c > 0$ are exact (the assert above); a mirror is a learned, approximate symmetry.
# :::

# %% tags=["hide-cell"]
rms = lambda v: float(np.sqrt(np.mean(v ** 2)))
for c in (-1.0, -3.0):
    d = normalisation_data(fim.estimate, paths, DT, scale=c)
    print(f"scale {c:g}: largest change of the mapped-back drift {100 * np.abs(d.drift_back - d.drift_ref).max() / rms(d.drift_ref):.1f}%,"
          f" diffusion {100 * np.abs(d.diffusion_back - d.diffusion_ref).max() / rms(d.diffusion_ref):.2f}% of their RMS size")

# %% [markdown]
# **Exercise 3.** Run the tiny pretraining twice as long, and, separately, with `d_model=64`. How do
# the validation errors on the prior and the drift error on the double well change?
#
# :::{dropdown} Solution
# Twice as long helps a little, and noisily: the best validation error (drift + diffusion) falls
# from about 0.79 to about 0.68 in full mode (0.78 to 0.75 in fast mode), and it moves up and down
# by several hundredths from one validation to the next. A wider network with the same steps does
# not help (about 0.78). The drift error on the double well hardly moves in either run (about 0.5 in
# full mode, 0.4 in fast mode; the shipped FIM's is printed above). A few hundred steps of 4,000
# transitions are a tiny fraction of the shipped model's 10,000 steps of about 50,000; what the
# network must learn, *when* to trust which candidate, depends on the sampling regime and the shape
# of the drift, and takes many regimes to learn: the bottleneck is data, not capacity. The double
# well is decided by the gates choosing the cubic fit, which the tiny model has not yet learned to
# do on these paths.
# :::

# %% tags=["hide-cell"]
def tiny_run(cfg):
    """Pretrain ``cfg`` from scratch; return (best, last) validation error and the double-well drift error."""
    out = tempfile.mkdtemp(prefix="fimcg-tiny-")
    pretrain(cfg, out, device="cpu", progress=False)
    with open(os.path.join(out, "log.json")) as fh:
        s = [r["val_drift_rel"] + r["val_diffusion_rel"] for r in json.load(fh)["history"] if "val_drift_rel" in r]
    sha = export_weights(os.path.join(out, "checkpoint.safetensors"), os.path.join(out, "tiny.safetensors"))
    f, g = fimcg.load_fim(os.path.join(out, "tiny.safetensors"), sha256=sha).estimate(paths, DT, grid)
    return min(s[1:]), s[-1], fimcg.analysis.metrics.sde_errors(sde, grid, f, g)["drift_rel"]


print(f"chapter's run ({tiny.steps} steps, d_model 32): best {score[best]:.3f}, last {score[-1]:.3f}, "
      f"double-well drift error {err['tiny FIM']['drift_rel']:.3f}")
variants = {f"{2 * tiny.steps} steps, d_model 32": replace(tiny, steps=2 * tiny.steps),
            f"{tiny.steps} steps, d_model 64": replace(tiny, model=asdict(FIMConfig(NetworkConfig(d_model=64, n_latents=8,
                                                                                              n_encoder_blocks=1))))}
for name, cfg in variants.items():
    b, last, e = tiny_run(cfg)
    print(f"{name}: best {b:.3f}, last {last:.3f}, double-well drift error {e:.3f}")

# %% [markdown]
# **Exercise 4.** Take the stiffening well of "Systems it never saw" and give every method more
# data: 200 paths of 50 steps, then 200 paths of 500 steps. Compare each method's drift error with
# the oracle's, least squares in the true basis $\{1, x\,e^{x^2/8}\}$ (`fimcg.estimators.least_squares`
# with a callable `drift_basis`). Does the ratio to the oracle shrink with more data? Why, or why not?
#
# :::{dropdown} Solution
# Every error shrinks with more data. Here the ratios to the oracle shrink too (printed below, full
# mode): the FIM from about 1.3 to about 1.0, the spline from about 1.8 to about 1.3; the
# local-linear drift's hardly moves (about 1.45 both times). Fifty steps per path barely show the shape, five hundred resolve it, and
# the spline's and kernel's bias, which dominates on short paths, falls quickly. The asymptotic
# rates point the other way: the oracle's error falls like $1/\sqrt{N}$ (two coefficients), a
# kernel's with the best bandwidth like $N^{-2/5}$, so the ratio must eventually grow, but only as
# $N^{1/10}$ (1.26 per tenfold data), far slower than the bias falls at these sizes. The lesson for
# the benchmark: the ratio to the oracle depends on how much of the shape the data show. With many
# short paths it is large for every method that must find the shape; matching the oracle there
# takes a candidate that names the function class, which a benchmark of unseen systems forbids.
# :::

# %% tags=["hide-cell"]
oracle_basis = lambda x: torch.cat([torch.ones_like(x), x * torch.exp(x * x / 8)], dim=-1)  # noqa: E731
for steps in (50, pick(500, 200)):
    obs = fimcg.simulate(unseen, torch.randn(200, 1, generator=torch.Generator().manual_seed(5)), dt=0.01,
                         n_steps=steps, seed=5, substeps=10)
    grid_x = fimcg.occupied_grid(obs, n=80)
    truth = unseen.drift(grid_x)
    f_oracle, _ = est.least_squares(obs, 0.01, grid_x, drift_basis=oracle_basis, diff2_basis=0)
    e_oracle = fimcg.analysis.metrics.relative_rmse(f_oracle, truth)
    row = {"FIM": fim.estimate(obs, 0.01, grid_x, warn=False)[0],
           "local-linear (CV)": est.local_linear(obs, 0.01, grid_x, bandwidth="cv")[0],
           "penalised spline": est.penalised_spline(obs, 0.01, grid_x)[0]}
    print(f"200 x {steps}: oracle {e_oracle:.3f}; " + ", ".join(
        f"{k} {fimcg.analysis.metrics.relative_rmse(v, truth):.3f} ({fimcg.analysis.metrics.relative_rmse(v, truth) / e_oracle:.1f}x)"
        for k, v in row.items()))

# %% [markdown]
# ## Where next
#
# Chapter 5 puts the frozen FIM to work: an encoder learns a coordinate from video, and the FIM
# supplies the dynamics of that coordinate, with gradients flowing through it.
