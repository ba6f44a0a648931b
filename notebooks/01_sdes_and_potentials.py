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
# # 1. SDEs and potentials
#
# **What you will learn**
#
# - what the drift $f$ and the diffusion $g$ of a stochastic differential equation do, and how
#   Euler–Maruyama turns them into sample paths;
# - how the stationary density follows from $f$ and $g$ (Fokker–Planck), and why a
#   state-dependent $g$ changes it even when the potential stays the same;
# - how barrier height, well position, tilt and noise shape the paths of the reference double well.
#
# **The equation that matters.** A one-dimensional SDE
#
# $$
# \mathrm{d}X_t = f(X_t)\,\mathrm{d}t + g(X_t)\,\mathrm{d}W_t
# $$
#
# has the stationary density (zero probability flux in the Fokker–Planck equation
# {cite:p}`risken1989fokker`)
#
# $$
# p(x) \;\propto\; \frac{1}{g(x)^2}\,\exp\!\left(\int^x \frac{2 f(y)}{g(y)^2}\,\mathrm{d}y\right).
# $$

# %%
import numpy as np
import torch

import fimcg
from fimcg import systems
from fimcg.app import figures
from fimcg.analysis.validation import switching_statistics
from fimcg.sde.systems import landscape_sde
from fimcg.widgets import fast_mode, landscape_data, landscape_slider_figure, pick, potential_explorer, show

torch.set_num_threads(1)
DT = 0.002                 # time step of the reference system
N_PATHS = pick(200, 100)   # number of simulated paths (fast mode: fewer)
T_MAX = pick(20.0, 10.0)   # duration of each path
print(f"fast mode: {fast_mode()}, {N_PATHS} paths of {T_MAX} time units")

# %% [markdown]
# ## The reference system
#
# Our running example is a particle in a double well, $f(x) = 4x - 4x^3 = -U'(x)$ with
# $U(x) = x^4 - 2x^2$, pushed around by a noise whose amplitude
# $g(x) = \sqrt{\max(4 - 1.25\,x^2, 0)}$ is largest in the middle and vanishes at
# $|x| = \sqrt{4/1.25} \approx 1.79$: a "semicircle". `fimcg.systems` builds it (and other systems) as
# an `SDE` object whose `drift` and `diffusion` act on batches of states of shape `(n, 1)`.

# %%
sde = systems.double_well()
x = torch.linspace(-1.9, 1.9, 200)[:, None]
figures.drift_diffusion_figure(x, {}, sde=sde, title=f"{sde}")

# %% [markdown]
# The drift is positive left of each well and negative right of it: it pushes the particle
# towards $x = \pm 1$ (its zeros with negative slope) and away from $x = 0$. The diffusion sets
# how hard the random kicks are at each place.
#
# ## Euler–Maruyama: from $f$ and $g$ to paths
#
# Over a small step $\Delta t$ the state changes by a deterministic push plus a Gaussian kick,
#
# $$
# X_{n+1} = X_n + f(X_n)\,\Delta t + g(X_n)\,\sqrt{\Delta t}\;\xi_n, \qquad \xi_n \sim \mathcal N(0, 1),
# $$
#
# the Euler–Maruyama scheme {cite:p}`kloeden1992numerical`. `fimcg.simulate` runs it for a whole batch of
# paths at once and returns a tensor of shape `(n_paths, n_steps + 1, 1)`. Half of our paths start
# in each well.

# %%
x0 = torch.tensor([-1.0, 1.0]).repeat(N_PATHS // 2)[:, None]
paths = fimcg.simulate(sde, x0, dt=DT, n_steps=int(T_MAX / DT), seed=0)
figures.paths_figure(paths, DT, n_show=3, title=f"3 of {paths.shape[0]} paths, shape {tuple(paths.shape)}")

# %% [markdown]
# The paths rattle around the wells at $\pm 1$, hop across the barrier every now and then, and
# never leave $(-1.79, 1.79)$: where $g$ vanishes only the drift acts, and it points back inside.
#
# ## The stationary density
#
# After a while the histogram of the visited states stops changing: it is the stationary density
# $p(x)$ from the Fokker–Planck equation above. `fimcg.app.figures.density_figure` draws the histogram
# of all observations together with $p$ computed by `fimcg.sde.stationary_density`.

# %%
figures.density_figure(paths, sde, title="histogram of all states vs Fokker-Planck")

# %% [markdown]
# The check makes "follows" precise with the total-variation distance between histogram and theory
# (half the summed difference of bin masses), and compares with known statistics of the
# reference system: $\mathrm{std}(x) \approx 0.96$ and about seven well switches per ten time units
# (a switch counts when a path goes from below $-0.5$ to above $0.5$ or back).

# %%
counts, edges = np.histogram(paths.numpy().ravel(), bins=60)
theory = fimcg.sde.stationary_density(sde, torch.as_tensor((edges[1:] + edges[:-1]) / 2)).numpy()
tv_distance = 0.5 * np.abs(counts / counts.sum() - theory * np.diff(edges)).sum()
switching = switching_statistics(paths, DT, thresholds=(-0.5, 0.5))
print(f"total variation distance histogram vs theory: {tv_distance:.3f}")
print(f"std(x) = {paths.std():.3f}, well switches per 10 time units: {10 * switching.rate:.1f}")
# tolerance: a few times the sampling error of this much data; constant noise g = 2 (wrong) gives ~0.1
assert tv_distance < pick(0.04, 0.06), "the simulated states must follow the stationary density"
assert 0.9 < float(paths.std()) < 1.02, "std(x) of the reference system is about 0.96"
assert 4 < 10 * switching.rate < 10, "about 7 well switches per 10 time units"
assert float(paths.abs().max()) < 1.8, "paths stay where the semicircle diffusion is positive"

# %% [markdown]
# ## Same potential, different noise
#
# With constant noise $g = \sigma$ the stationary density is the Boltzmann distribution
# $p \propto e^{-2U/\sigma^2}$: the potential alone decides where the particle is. With a
# state-dependent $g$ that is no longer true. The $1/g^2$ factor and the $g^2$ inside the
# integral pile probability up where the noise is weak. The slider below switches between the
# semicircle diffusion and constant noises of several sizes (same drift, same potential).

# %%
noises = [("semicircle (reference)", dict()), ("constant g = 1", dict(state_dependent=False, noise=1.0)),
          ("constant g = 1.5", dict(state_dependent=False, noise=1.5)),
          ("constant g = 2", dict(state_dependent=False, noise=2.0))]
noise_data = [landscape_data(landscape_sde(**kw), n_paths=N_PATHS // 2, t_max=T_MAX, seed=1)
              for _, kw in noises]
landscape_slider_figure(noise_data, [label for label, _ in noises], slider_title="diffusion: ")

# %% [markdown]
# With constant $g = 2$ (the same noise as the semicircle in the middle) the particle roams much
# further out, because nothing switches the noise off at the edges; with $g = 1$ it rarely
# crosses the barrier at all.

# %% [markdown]
# ## Explore: the shape of the landscape
#
# The widget below rebuilds the system from six knobs,
#
# $$
# U(x) = h\,\big((x/w)^2 - 1\big)^2 - \text{tilt}\cdot x, \qquad
# g(x) = g_0 \sqrt{\max(1 - x^2/r^2,\,0)} \;\text{ or }\; g_0,
# $$
#
# with barrier height $h$, well position $w$, a tilt, the noise $g_0$ and the semicircle
# half-width $r$ ($h = w = 1$, $g_0 = 2$, $r = 1.79$ is the reference system), then simulates and
# redraws paths, histogram and theory. It runs in JupyterLab; on the website the slider
# figure after it shows the effect of the barrier height.

# %%
show(potential_explorer, n_paths=pick(100, 20), t_max=pick(10.0, 2.0))

# %%
barriers = [0.5, 1.0, 1.5, 2.0, 3.0]
barrier_data = [landscape_data(landscape_sde(barrier=h), n_paths=N_PATHS // 2, t_max=T_MAX, seed=2)
                for h in barriers]
landscape_slider_figure(barrier_data, [f"{h:g}" for h in barriers], slider_title="barrier height h = ")

# %% [markdown]
# A surprise hides in this slider: with the semicircle noise, raising the barrier from 0.5 to 2
# hardly changes how often the particle switches wells. Kramers' rate {cite:p}`kramers1940brownian`
# is roughly $\frac{\sqrt{U''(\text{well})\,|U''(0)|}}{2\pi}\, e^{-2h/g(0)^2}$, and the curvature
# grows with $h$ as fast as the exponential shrinks, until the barrier is several times
# $g(0)^2/2 = 2$. The check states the trend at the high end.

# %%
rates = [d.switches_per_time for d in barrier_data]
print("switches per unit time:", {h: round(r, 2) for h, r in zip(barriers, rates)})
assert rates[-1] < rates[1], "a barrier three times higher must slow the switching down"

# %% [markdown]
# ## Exercises
#
# 1. Use the widget with constant diffusion $g_0 = 1$: how does the switching rate change from
#    $h = 0.5$ to $h = 2$? Compare with $e^{-2h/g_0^2}$ and explain the difference from the
#    semicircle case.
# 2. Tilt the potential until one well holds 90 % of the probability. Which tilt does it take
#    with constant $g_0 = 1$, and which with $g_0 = 2$?
# 3. Make the semicircle narrower than the wells are wide (what does `landscape_sde` say, and
#    why?). What would happen to a particle that reaches the point where $g = 0$ while the drift
#    still pushes outwards?
# 4. Halve $\Delta t$ in `landscape_data` and check that the histogram does not change: the
#    Euler–Maruyama step is small enough here. Try $\Delta t = 0.05$.
#
# ## Where next
#
# A number on a line is easy to look at. In the next chapter the particle becomes a movie, and
# we ask what the pixels still know about $x$.
