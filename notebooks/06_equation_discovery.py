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
# # 6. Equation discovery and validation
#
# *About 40 minutes. Prerequisites: chapter 5 (coarse-graining, Itô's formula for a change of coordinates).*
#
# **What you will learn**
#
# - how sparse regression on a polynomial library turns drift and diffusion *curves* into an
#   *equation* with a few terms (SINDy's thresholded least squares {cite:p}`brunton2016sindy`);
# - how the sparsity threshold trades simplicity against fit;
# - how to validate a discovered SDE against data with statistics that do not depend on the
#   coordinate: the stationary distribution and the rate of switching between the wells.
#
# **The equation that matters.** With a library of monomials $\theta(x) = (1, x, x^2, \dots)$,
# find sparse coefficient vectors $\xi$, $\eta$ with
#
# $$
# f(x) \approx \theta(x)^\top \xi, \qquad g(x)^2 \approx \theta(x)^\top \eta ,
# $$ (eq-06-library)
#
# by least squares, then repeatedly dropping every term whose contribution is below a threshold
# and refitting.

# %%
import numpy as np
import torch

import fimcg
from fimcg import systems
from fimcg.analysis import alignment, discovery, validation
from fimcg.app import figures
from fimcg.widgets import (
    discovery_data,
    discovery_explorer,
    discovery_figure,
    pick,
    show,
)

torch.set_num_threads(1)
sde = systems.double_well()
DT = 0.01
N_PATHS, N_FRAMES = 20, 500                # the same data in fast mode: only training is shortened
paths = systems.paths_from_wells(sde, n_paths=N_PATHS, n_obs=N_FRAMES, dt=DT, substeps=5, seed=0)
print(f"{N_PATHS} paths of {N_FRAMES} observations at dt = {DT}")

# %% [markdown]
# ## Warm-up: discovery from the true paths
#
# `fimcg.analysis.discovery.discover` fits {eq}`eq-06-library` to the increments directly
# (Kramers–Moyal regression: $\Delta x/\Delta t$ on the library gives $f$, the squared residuals
# give $g^2$), keeping only significant terms. On plenty of true paths (50 paths of 20 time units at
# the integration step $\Delta t = 0.002$) it should find the reference equation $f = 4x - 4x^3$,
# $g^2 = 4 - 1.25x^2$ from a library of degree 5 for $f$ and 4 for $g^2$.


# %%
fine = systems.paths_from_wells(sde, n_paths=50, n_obs=10001, dt=0.002, seed=10)
truth_model = discovery.discover(fine, 0.002, drift_degree=5, diffusion_degree=4)
print(truth_model)

# %%
coef = truth_model.coefficients()
assert set(coef["f"]) == {"x", "x^3"} and set(coef["g2"]) == {"1", "x^2"}, "exactly the reference terms"
assert abs(coef["f"]["x^3"] + 4) < 0.4 and abs(coef["g2"]["1"] - 4) < 0.2, "with the reference coefficients"

# %% [markdown]
# The same paths observed only every $0.01$ time units tell a slightly different story: the
# regression inherits the sampling-step bias of chapter 3 (the drift coefficients shrink, and
# $g^2$ grows a spurious $x^4$ term). Keep that in mind below, where the video has one frame per
# $0.01$.

# %%
print(discovery.discover(fine[:, ::5], 0.01, drift_degree=5, diffusion_degree=4))

# %% [markdown]
# ## From video: the latent's equation
#
# Now the real task. We coarse-grain the video as in chapter 5, ask the frozen FIM for drift and
# diffusion on a grid over the latent, and fit a sparse equation to those curves
# (`discover_from_coefficients`, weighted by how often the latent visits each place).

# %%
frames = fimcg.render_video(paths, size=32, seed=0)
result = fimcg.coarse_grain(frames, DT, steps=pick(60, 10), seed=0)
z = result.latents
z_grid = fimcg.occupied_grid(z, n=80)
f_z, g_z = result.coefficients(z_grid)
hist, edges = np.histogram(z.reshape(-1).numpy(), bins=80, range=(float(z_grid[0]), float(z_grid[-1])), density=True)
weights = np.interp(z_grid[:, 0].numpy(), (edges[1:] + edges[:-1]) / 2, hist)
found = discovery_data(z_grid, f_z, g_z, weights=weights, threshold=0.1, names=["z"])
discovery_figure(found)

# %% [markdown]
# The equation lives in the latent coordinate $z$, which the training standardised (mean 0,
# variance 1) and may have flipped: so do not expect $4z - 4z^3$. Do not expect a cubic with three
# zeros either, in general. Under a monotone map $z = k(x)$ the drift becomes
#
# $$
# f_z\big(k(x)\big) = k'(x)\, f(x) + \tfrac12\, k''(x)\, g(x)^2
# $$ (eq-06-ito)
#
# (Itô's formula, chapter 5), and the term $\tfrac12 k'' g^2$ can move the zeros, create them or
# remove them: a tanh warp of the reference system leaves a single zero (chapter 5, exercise 4).
# A nonlinear map also destroys the polynomial form: the drift in a learned coordinate is in
# general no polynomial at all, and the sparse fit is an approximation within the library we chose.
# What does survive a change of coordinates is *metastability*: two long-lived sets, the rate of
# switching between them, first-passage times between sets defined by quantiles, the stationary
# distribution up to the map. Those are what the validation below checks. Here the learned
# coordinate is close to an affine function of $x$ in the middle (Isomap measures arc length, and
# the blob moves along a line) and bends near the edges, so {eq}`eq-06-ito` should move the zeros a
# little. The next cell compares the zeros of the discovered drift with those that the true SDE
# and the fitted alignment $x = h(z)$ predict, and with the images $k(\pm 1), k(0)$ of the true
# zeros, where they would sit if the Itô term were zero.

# %%
h = alignment.fit_alignment(z.reshape(-1), paths.reshape(-1))   # x = h(z), for this check only
zs = np.linspace(float(z_grid[0]), float(z_grid[-1]), 2001)


def zeros(values):
    s = np.sign(values)
    return np.round(zs[:-1][s[:-1] != s[1:]], 2)


x_of_z = torch.as_tensor(h(zs))[:, None]
h1, h2 = h.derivative(zs), h.second_derivative(zs)
predicted = (sde.drift(x_of_z)[:, 0].numpy() - 0.5 * h2 * sde.diffusion(x_of_z)[:, 0].numpy() ** 2 / h1 ** 2) / h1
print("zeros of the discovered drift:       ", zeros(np.asarray(found.model.drift(zs[:, None]))[:, 0]))
print("zeros Itô predicts from the alignment:", zeros(predicted))
print("images of the true zeros -1, 0, 1:    ", np.round(np.sort(h.inverse(np.array([-1.0, 0.0, 1.0]))), 2))
print(f"largest |h''/h'| on the occupied latent: {np.abs(h2 / h1).max():.2f} (0 for an affine map)")

# %% [markdown]
# The outer zeros agree within about 0.1. At the barrier, where $g^2$ and with it the Itô term is
# largest, the fitted map predicts a shift of about a tenth (to about $-0.1$ instead of $-0.02$);
# the discovered drift puts its zero at about $+0.08$, some 0.2 away, which is the size of the
# drift's estimation error where the data are fewest (chapter 5: a relative drift error of about
# 0.23). The zeros of a drift are a fragile, coordinate-dependent summary; the statistics
# below are not.
#
# The sparsity threshold decides how many terms survive; in JupyterLab, move it yourself. On this
# page the slider steps through thresholds.

# %%
show(discovery_explorer, z_grid, f_z, g_z, weights=weights)

# %%
thresholds = [0.001, 0.01, 0.05, 0.1, 0.3]
fits = [discovery_data(z_grid, f_z, g_z, weights=weights, threshold=t, names=["z"]) for t in thresholds]
figures.slider_figure([discovery_figure(d) for d in fits], [f"{t:g}" for t in thresholds], prefix="threshold ",
                      slider_y=-0.35)

# %% [markdown]
# ## Validation without the truth
#
# Is the discovered equation right? We cannot compare it with $4x - 4x^3$: it lives in another
# coordinate. But some statistics are the same in every coordinate, because a monotone map keeps
# the order of states:
#
# - the **stationary distribution**, compared by the Kolmogorov–Smirnov distance between the
#   latent data and long simulations of the discovered SDE (the KS distance does not change under
#   a monotone map applied to both);
# - the **well-switching rate**: how often the process goes from one well to the other.
#
# `validation.validate` simulates the discovered SDE and computes both. The switching thresholds
# must not depend on the coordinate either, so we place them at quantiles of the data: a state
# counts as "left well" below the 30% quantile of the latent and "right well" above the 70% one
# (a monotone map moves the quantiles along with the states).

# %%
model = found.model
thresholds = tuple(float(q) for q in torch.quantile(z.reshape(-1), torch.tensor([0.3, 0.7])))
check = validation.validate(model, z, DT, thresholds=thresholds, n_paths=pick(100, 40), duration=pick(50.0, 20.0),
                           seed=1)
print(check)
figures.density_figure(z, model.sde(), title="latent data (histogram) vs stationary density of the discovered SDE")

# %%
simulated = fimcg.simulate(model.sde(), z[:, 0], dt=DT, n_steps=N_FRAMES - 1, substeps=5, seed=2, on_divergence="nan")
figures.paths_grid_figure([(z, DT), (simulated, DT)], titles=["encoded video (data)", "discovered SDE (simulated)"],
                          n_show=3)

# %%
ratio = check.model.rate / check.data.rate
print(f"switching rate model/data = {ratio:.2f}, KS distance = {check.ks:.3f}")
assert 0.5 < ratio < 2.0, "the discovered SDE must switch wells about as often as the data"
assert check.ks < pick(0.1, 0.15), "the discovered SDE must reproduce the stationary distribution"

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Discover from the *true* paths with `threshold=0` and `min_t=None` (no sparsity).
# How many terms does the drift get, and how do the high-order coefficients compare with their
# standard errors?
#
# :::{dropdown} Solution
# All six terms of the degree-5 library, $1, x, \dots, x^5$, get a coefficient. Only $x$ and $x^3$
# are far from zero (about 16 and 11 standard errors); $1$, $x^2$, $x^4$ and $x^5$ are all within one
# standard error of zero: noise fitted as signal. The spurious $x^5$ also costs accuracy where it is
# not zero: it is strongly correlated with $x^3$ on the visited region, so the two trade off, and
# the $x^3$ coefficient moves from $-4.08$ in the sparse fit to $-4.37 \pm 0.41$. This is why
# `discover` by default keeps a term only when it is `min_t = 3` standard errors from zero. (These
# are ordinary least-squares standard errors with one residual variance for all $\Delta x/\Delta t$,
# which ignores that $g^2$ varies: a rough yardstick, good enough to tell 16 standard errors from 1.)
# :::

# %% tags=["hide-cell"]
dense = discovery.discover(fine, 0.002, drift_degree=5, diffusion_degree=4, threshold=0, min_t=None)
xs0 = fine[:, :-1].reshape(-1, 1).double().numpy()
theta = discovery.polynomial_library(xs0, dense.drift_exponents)
target = (fine[:, 1:] - fine[:, :-1]).reshape(-1).double().numpy() / 0.002
resid = target - theta @ dense.drift_coef[0]
se = np.sqrt(np.mean(resid ** 2) * np.diag(np.linalg.inv(theta.T @ theta)))
for c, e, sd in zip(dense.drift_coef[0], dense.drift_exponents, se):
    print(f"x^{e[0]}: {c:+8.3f} ± {sd:.3f}  ({abs(c) / sd:5.1f} standard errors)")

# %% [markdown]
# **Exercise 2.** Map the discovered latent equation to the true coordinate with the alignment of
# chapter 5 (`alignment.fit_alignment` and Itô's formula), and discover an equation from the mapped
# curves. Which terms appear then?
#
# :::{dropdown} Solution
# All six drift terms appear, and $g^2$ gets an $x^4$ term: in full mode about
# $f = 0.4 + 4.9x - x^2 - 6.3x^3 + 0.25x^4 + 1.0x^5$ and $g^2 = 3.3 + 0.6x^2 - 0.9x^4$ (fast mode:
# similar, with $x^3$ and $x^5$ trading off differently). None of that is in the truth, whose drift has two terms. What
# broke is the equation's *form*: the latent's sparse cubic, carried through a curved alignment map
# ($|h''/h'|$ up to about 1 near the edges) and Itô's formula, is no polynomial in $x$, and the
# regression spreads it over every term of the library; the asymmetry of the learned coordinate (its
# middle zero at $+0.08$) adds the even terms. Sparsity is a property of a coordinate, not of the
# process: discover the equation in one coordinate and validate it there, with the coordinate-free
# statistics below. (Mapping back needs the truth anyway: on real data there is no $x$ to align to.)
# :::

# %% tags=["hide-cell"]
x_grid = fimcg.occupied_grid(paths, n=80)[:, 0].double().numpy()
f_back, g_back = alignment.aligned_coefficients(h, lambda v: found.model.drift(np.asarray(v).reshape(-1, 1))[:, 0],
                                                lambda v: found.model.diffusion(np.asarray(v).reshape(-1, 1))[:, 0], x_grid)
hist_x, edges_x = np.histogram(paths.reshape(-1).numpy(), bins=80, range=(x_grid[0], x_grid[-1]), density=True)
mapped = discovery.discover_from_coefficients(x_grid, f_back, g_back, drift_degree=5, diffusion_degree=4, threshold=0.1,
                                             weights=np.interp(x_grid, (edges_x[1:] + edges_x[:-1]) / 2, hist_x))
print(mapped)

# %% [markdown]
# **Exercise 3.** Validate *wrong* models: the discovered drift with a constant diffusion (the
# average $g^2$); the discovered model with its drift halved; and the discovered model running twice
# as fast ($f$ and $g^2$ both doubled). Which of the two statistics notices which error?
#
# :::{dropdown} Solution
# The discovered model itself switches about 1.25 to 1.3 times as often as the data, with a KS
# distance of about 0.03. The constant diffusion keeps about that switching rate (the average noise
# is right) but misses the shape of the stationary distribution: the true $g^2$ is largest at the
# barrier and smallest in the wells, where a constant one lets the paths spread, and the KS distance
# more than doubles (about 0.07 to 0.08). Halving the drift also leaves the switching rate nearly
# unchanged (1.1 to 1.3), which is a surprise until you do the arithmetic: the barrier is only about
# half the noise level ($2\Delta U/g^2 \approx 0.5$), so the Arrhenius factor $e^{-2\Delta U/g^2}$
# grows by $e^{0.25} \approx 1.3$ while Kramers' prefactor, proportional to the wells' curvature,
# halves; only the KS distance (about 0.06) notices. Doubling $f$ and $g^2$ together gives the same
# process on a clock twice as fast: the stationary distribution is the same (KS about 0.03 to 0.04,
# as before), and only the switching rate notices, about twice the discovered model's (2.5 times the
# data's). Neither statistic alone catches every error: one tests how the states are occupied, the
# other how fast the process moves between them.
# :::

# %% tags=["hide-cell"]
g2_mean = float(np.average(found.model.diffusion_squared(z_grid.double().numpy())[:, 0], weights=weights))
wrong = {"constant g²": discovery.PolynomialSDE(model.drift_exponents, model.diffusion_exponents, model.drift_coef,
                                                np.array([[g2_mean] + [0.0] * (len(model.diffusion_exponents) - 1)]),
                                                model.names),
         "drift halved": discovery.PolynomialSDE(model.drift_exponents, model.diffusion_exponents, 0.5 * model.drift_coef,
                                                 model.diffusion2_coef, model.names),
         "twice as fast": discovery.PolynomialSDE(model.drift_exponents, model.diffusion_exponents, 2 * model.drift_coef,
                                                  2 * model.diffusion2_coef, model.names)}
print(f"discovered model: rate model/data {check.model.rate / check.data.rate:.2f}, KS {check.ks:.3f}")
for name, m in wrong.items():
    c = validation.validate(m, z, DT, thresholds=thresholds, n_paths=pick(100, 40), duration=pick(50.0, 20.0), seed=1)
    print(f"{name}: rate model/data {c.model.rate / c.data.rate:.2f}, KS {c.ks:.3f}")

# %% [markdown]
# ## Where next
#
# Chapter 7 asks why we bother with a frozen FIM at all, and trains the classic alternative: an
# autoencoder together with its own dynamics model.
