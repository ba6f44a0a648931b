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
# *About 30 minutes. Prerequisites: basic probability and calculus, Python with numpy.*
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
# $$ (eq-01-sde)
#
# has the stationary density (zero probability flux in the Fokker–Planck equation
# {cite:p}`risken1989fokker`)
#
# $$
# p(x) \;\propto\; \frac{1}{g(x)^2}\,\exp\!\left(\int^x \frac{2 f(y)}{g(y)^2}\,\mathrm{d}y\right).
# $$ (eq-01-stationary)

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
# $$ (eq-01-em)
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
# $p(x)$ of {eq}`eq-01-stationary`. `fimcg.app.figures.density_figure` draws the histogram
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
# $$ (eq-01-landscape)
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
# A surprise hides in this slider: raising the barrier from 0.5 to 2 hardly changes how often
# the particle switches wells. Kramers' formula {cite:p}`kramers1940brownian`, a rate of about
# $\frac{\sqrt{U''(\text{well})\,|U''(0)|}}{2\pi}\, e^{-2h/g(0)^2}$, cannot tell us why: it is an
# approximation for barriers much higher than the noise, $h \gg g(0)^2/2 = 2$, and ours are not.
# In one dimension we need no approximation. With the *scale density* $s$ and the *speed
# density* $m$ of the SDE {eq}`eq-01-sde`,
#
# $$
# s(x) = \exp\!\left(-\int_0^x \frac{2 f(y)}{g(y)^2}\,\mathrm{d}y\right), \qquad
# m(x) = \frac{2}{g(x)^2\, s(x)}, \qquad
# T(a \to b) = \int_a^b s(y) \int_{-r}^{y} m(z)\,\mathrm{d}z\,\mathrm{d}y ,
# $$ (eq-01-mfpt)
#
# $T(a \to b)$ is exactly the mean time a particle started at $a$ needs to first reach $b > a$
# {cite:p}`risken1989fokker`. The inner integral starts at the left edge $-r$ of the semicircle,
# which the particle cannot cross (there $g = 0$ and the drift points inwards; for constant $g$ it
# starts at $-\infty$). Note that $m$ is the unnormalised stationary density {eq}`eq-01-stationary`.
# A switch is counted when a path last seen below $-0.5$ reaches $+0.5$ (or the other way
# round), so the time between two switches is a passage from $-0.5$ to $+0.5$, and by symmetry
# the switching rate is $1/T(-0.5 \to 0.5)$. The cell computes it with the trapezoid rule and
# sets it beside the simulated rates and Kramers' formula.

# %%
from scipy.integrate import cumulative_trapezoid, trapezoid

from fimcg.sde.systems import REFERENCE_WIDTH


def mean_first_passage(sde, a, b, left, n=20001):
    """T(a -> b), a < b, of a 1-D SDE that cannot leave to the left of `left`, on an n-point grid."""
    x = np.linspace(left, b, n)
    with torch.no_grad():
        xs = torch.tensor(x)[:, None]
        f, g2 = sde.drift(xs)[:, 0].numpy(), sde.diffusion(xs)[:, 0].numpy() ** 2
    log_s = -cumulative_trapezoid(2 * f / g2, x, initial=0.0)
    s = np.exp(log_s - log_s[np.searchsorted(x, a)])  # any constant factor cancels in s(y) m(z)
    inner = cumulative_trapezoid(2 / (g2 * s), x, initial=0.0)  # integral of m from `left` to y
    after_a = x >= a
    return float(trapezoid((s * inner)[after_a], x[after_a]))


EDGE = -(1 - 1e-4) * REFERENCE_WIDTH  # just inside the semicircle, where g > 0
exact = [1 / mean_first_passage(landscape_sde(barrier=h), -0.5, 0.5, EDGE) for h in barriers]
kramers = [np.sqrt(8 * h * 4 * h) / (2 * np.pi) * np.exp(-2 * h / 2.0 ** 2) for h in barriers]  # U'' = 8h, -4h
rates = [d.switches_per_time for d in barrier_data]
print("   h   simulated   exact 1/T   Kramers")
for h, r, e, k in zip(barriers, rates, exact, kramers):
    print(f"{h:4g} {r:11.3f} {e:11.3f} {k:9.3f}")
# the simulation looks at the path only every DT and misses brief crossings: it runs ~10 % slow
assert all(0.75 < r / e < 1.1 for r, e in zip(rates, exact)), "the exact passage time predicts the simulation"
assert rates[-1] < rates[1], "a barrier three times higher must slow the switching down"

# %% [markdown]
# The exact rate and the simulation fall together, by only about a fifth from $h = 0.5$ to
# $h = 2$ (0.81 to 0.64 exactly; the simulation runs about 10 % slow at every barrier, and
# Exercise 4 finds out why), while Kramers' formula is off by a factor of two at $h = 0.5$ and even
# gets the trend wrong (it rises from 0.35 to 0.66). Kramers pictures a particle that waits long in
# a sharp well until a rare kick carries it over a narrow barrier top, so that the time is a
# prefactor set by the curvatures (which grow with $h$) times the Arrhenius factor
# $e^{2h/g(0)^2}$. Across the slider that factor is only 1.3 to 2.7: no crossing is rare, and the
# passage from $-0.5$ to $+0.5$ is as much diffusion across a wide region where $g^2$ is largest
# (3.7 to 4) as a climb over a barrier, which a higher barrier slows only gradually. The
# exponential takes over only once the barrier is several times $g(0)^2/2 = 2$: from $h = 2$ to
# $h = 3$ the rate already drops by a quarter (0.64 to 0.48). Exercise 1 shows that constant noise
# $g = 2$ behaves the same way: what matters is the size of the noise, not its shape.

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Use the widget with constant diffusion $g_0 = 1$: how does the switching rate
# change from $h = 0.5$ to $h = 2$? Compare with $e^{-2h/g_0^2}$ and with the exact rate
# $1/T(-0.5 \to 0.5)$ of {eq}`eq-01-mfpt`, and explain the difference from the semicircle case.
#
# :::{dropdown} Solution
# With $g_0 = 1$ the rate drops from about 0.21 to about 0.03 switches per unit time (exact:
# 0.216 and 0.032), by a factor of about 7 (ratio 0.146). The Arrhenius factor
# $e^{-2 \cdot 1.5/g_0^2} = 0.050$ alone overstates the drop, because Kramers' prefactor grows like
# $h$ (curvatures $8h$ and $4h$) and multiplies it by 4, to 0.20. Here the barrier is 1 to 4 times
# $g_0^2/2 = 0.5$, so Kramers' formula is nearly right at $h = 2$ ($1.8\,e^{-4} = 0.033$) and
# somewhat off at $h = 0.5$ (0.17 against 0.22). The difference from the semicircle case is the
# size of the noise, not its shape: with constant $g_0 = 2$ the exact rate falls by the same
# factor 0.81 as with the semicircle (0.80), because in both the barrier is at most comparable to
# $g(0)^2/2 = 2$. The semicircle only makes every rate about a quarter lower (0.81 against 1.06 at
# $h = 0.5$), since its noise is weaker away from the top.
# :::

# %% tags=["hide-cell"]
const_1 = dict(state_dependent=False, noise=1.0)
sim_1 = [landscape_data(landscape_sde(barrier=h, **const_1), n_paths=N_PATHS // 2, t_max=T_MAX, seed=3).switches_per_time
         for h in (0.5, 2.0)]
print(f"constant g0 = 1, simulated: h = 0.5: {sim_1[0]:.3f}, h = 2: {sim_1[1]:.3f} switches per unit time")
for label, kw, left in [("constant g0 = 1", const_1, -3.0), ("constant g0 = 2", dict(state_dependent=False, noise=2.0), -4.0),
                        ("semicircle g(0) = 2", {}, EDGE)]:
    r = [1 / mean_first_passage(landscape_sde(barrier=h, **kw), -0.5, 0.5, left) for h in (0.5, 2.0)]
    print(f"{label:>20}, exact: h = 0.5: {r[0]:.3f}, h = 2: {r[1]:.3f}, ratio {r[1] / r[0]:.3f}")
print(f"e^(-2 * 1.5 / g0^2): {np.exp(-3.0):.3f} for g0 = 1, {np.exp(-0.75):.3f} for g0 = 2")

# %% [markdown]
# **Exercise 2.** Tilt the potential until the right well holds 90 % of the probability. Which
# tilt does it take with constant $g_0 = 1$, and which with $g_0 = 2$? Why so different?
#
# :::{dropdown} Solution
# With $g_0 = 1$ a tilt of about 0.64 suffices; with $g_0 = 2$ it takes about 2.63, more than the
# widget's slider offers (2) and beyond $8/(3\sqrt 3) \approx 1.54$, where the left well has
# vanished altogether. For constant noise {eq}`eq-01-stationary` is the Boltzmann density
# $p \propto e^{-2U/g_0^2}$: only the depth difference between the wells (about $2\,\text{tilt}$)
# in units of $g_0^2/2$ counts. Both cases need about 2.6 such units (2.55 and 2.63), a bit more
# than the $\ln 9 = 2.20$ two equally shaped wells would need, because the tilt also moves the
# deeper well outwards, where it is steeper and narrower. Four times the noise variance asks for
# about four times the tilt.
# :::

# %% tags=["hide-cell"]
from scipy.optimize import brentq


def right_share(tilt, noise):
    """Stationary probability of x > 0 for the tilted double well with constant noise."""
    x = torch.linspace(-4.0, 4.0, 8001, dtype=torch.float64)
    p = fimcg.sde.stationary_density(landscape_sde(tilt=tilt, state_dependent=False, noise=noise), x).numpy()
    return trapezoid(p[x.numpy() >= 0], x.numpy()[x.numpy() >= 0]) / trapezoid(p, x.numpy())


for g0 in (1.0, 2.0):
    tilt = brentq(lambda t: right_share(t, g0) - 0.9, 0.0, 3.0, xtol=1e-4)
    print(f"g0 = {g0:g}: tilt {tilt:.3f} puts 90 % in the right well "
          f"(well-depth difference 2 * tilt = {2 * tilt:.2f}, in units of g0^2/2: {4 * tilt / g0 ** 2:.2f}; ln 9 = {np.log(9):.2f})")

# %% [markdown]
# **Exercise 3.** Make the semicircle narrower than the wells are wide, e.g. `width=0.8`. What
# does `landscape_sde` say, and why? What happens to a particle that reaches the point where
# $g = 0$ while the drift still pushes outwards?
#
# :::{dropdown} Solution
# `landscape_sde` refuses: the width must exceed the well position, "the noise must not vanish
# before the wells". With a semicircle of half-width 0.8 the drift $f = 4x - 4x^3$ still points
# outwards at $|x| = 0.8$, towards the wells at $\pm 1$. A particle that gets there receives no
# more kicks; the drift alone carries it to the well, where $f = 0$ and $g = 0$, and there it stays
# for good. Simulated from $x = 0$, every path sits at $x = \pm 1$ after 5 time units (2 in fast
# mode), never beyond, and no longer moves (by less than $10^{-5}$ over its last 100 steps). The
# long-time distribution is two point masses at $\pm 1$, not a density:
# {eq}`eq-01-stationary` does not apply because $\int 2f/g^2$ diverges where $g$ vanishes with $f$
# pointing outwards. That is why `landscape_sde` requires the drift to confine the particle before
# the noise switches off.
# :::

# %% tags=["hide-cell"]
try:
    landscape_sde(width=0.8)
except ValueError as err:
    print("landscape_sde:", err)
narrow = systems.polynomial_potential(coeffs=(1.0, 0.0, -2.0, 0.0, 1.0), tilt=0.0, semicircle=(4.0, 4.0 / 0.8 ** 2))
trapped = fimcg.simulate(narrow, torch.zeros(N_PATHS // 2, 1), dt=DT, n_steps=int(pick(5.0, 2.0) / DT), seed=4)[..., 0]
at_well = (trapped[:, -1].abs() - 1).abs() < 1e-3
print(f"after {trapped.shape[1] * DT:.0f} time units {float(at_well.float().mean()):.0%} of the paths started at 0 sit at "
      f"x = ±1 (largest |x| ever: {float(trapped.abs().max()):.4f}); their last 100 steps move by at most "
      f"{float((trapped[at_well, -100:] - trapped[at_well, -1:]).abs().max()):.1e}")

# %% [markdown]
# **Exercise 4.** Halve $\Delta t$ in `landscape_data` and check that the histogram does not
# change: the Euler–Maruyama step {eq}`eq-01-em` is small enough here. Try $\Delta t = 0.05$.
# Does the switching rate depend on $\Delta t$, too?
#
# :::{dropdown} Solution
# Halving $\Delta t$ (0.002 to 0.0005 here) leaves the histogram where it was: the total
# variation distance stays at the level of the sampling noise (about 0.01 to 0.04) and
# $\mathrm{std}(x)$ at about 0.95 to 0.96. At $\Delta t = 0.05$ the histogram departs visibly (TV
# about 0.1, $\mathrm{std}(x)$ about 0.93): on the steep outer walls ($f' = -23$ at $|x| = 1.5$) one
# step moves the particle too far, and the Euler–Maruyama chain has a stationary density of its
# own. The switching rate depends on $\Delta t$ for a second reason: the thresholds $\pm 0.5$ are
# checked only every $\Delta t$, so a brief excursion past $+0.5$ that ends between two
# observations is missed. Missed visits act like thresholds moved out by about
# $0.58\,g\sqrt{\Delta t}$ (a classic correction for discretely monitored barriers), and
# {eq}`eq-01-mfpt` with the moved thresholds predicts the simulation: about 0.58 at
# $\Delta t = 0.05$, 0.74 at 0.002 (the 10 % gap of the barrier table above) and 0.77 at 0.0005,
# against 0.797 for a path watched continuously. The simulated rates scatter by a few per cent
# around these (about 0.6, 0.71 to 0.75 and 0.77 to 0.80).
# :::

# %% tags=["hide-cell"]
g_half = float(sde.diffusion(torch.tensor([[0.5]]))[0, 0])  # g at the thresholds
for dt in (0.05, 0.002, 0.0005):
    d = landscape_data(sde, n_paths=N_PATHS // 2, t_max=T_MAX, dt=dt, seed=5)
    p_bins = fimcg.sde.stationary_density(sde, torch.as_tensor(d.bin_centers)).numpy()
    tv = 0.5 * np.abs(d.histogram - p_bins).sum() * (d.bin_centers[1] - d.bin_centers[0])
    shift = 0.5826 * g_half * np.sqrt(dt)  # thresholds seen every dt act as if moved out by this much
    print(f"dt = {dt:6g}: TV distance {tv:.3f}, std(x) {d.std:.3f}, switches per unit time {d.switches_per_time:.3f}, "
          f"exact rate with thresholds ±{0.5 + shift:.3f}: {1 / mean_first_passage(sde, -0.5 - shift, 0.5 + shift, EDGE):.3f}")
print(f"exact rate 1/T(-0.5 -> 0.5), a path watched continuously: {exact[1]:.3f}")

# %% [markdown]
# ## Where next
#
# A number on a line is easy to look at. In the next chapter the particle becomes a movie, and
# we ask what the pixels still know about $x$.
