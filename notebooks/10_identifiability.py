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
# # 10. Identifiability: what a learned coordinate can and cannot tell
#
# *About 40 minutes. Prerequisites: chapter 1 (SDEs and potentials) and chapter 5 (coarse-graining).*
#
# **What you will learn**
#
# - to derive Itô's formula, the rule by which drift and diffusion change with the coordinate, and
#   to check it on simulated paths;
# - why a coordinate learned from video is defined only up to a smooth monotone map, and how the
#   Lamperti transform picks the member of the family in which the diffusion is constant;
# - which numbers do not depend on the coordinate (hitting probabilities, mean first-passage
#   times, quantiles, the generator's time scales) and which do (drift, diffusion, density,
#   autocorrelation);
# - why `coarse_grain` scores the frames' increments and not the latent steps: a "sticky" latent
#   can lower the likelihood of its own steps, but not that of the frames.
#
# **The equations that matter.** If $X$ follows $\mathrm dX = f(X)\,\mathrm dt + g(X)\,\mathrm dW$
# and $h$ is smooth and monotone, then $Z = h(X)$ follows
#
# $$
# \mathrm dZ = \Big(h'(X)\, f(X) + \tfrac12\, h''(X)\, g(X)^2\Big)\,\mathrm dt + h'(X)\, g(X)\,\mathrm dW
# $$ (eq-10-ito)
#
# (Itô's formula), so drift and diffusion are properties of a coordinate, not of the process.
# A learned coordinate is one member of the family $\{h(X)\}$, and the Euler–Maruyama likelihood
# of its own steps $\Delta z_t$ changes along that family by the mean log slope of the map,
#
# $$
# \mathcal L_{\text{latent}}[h] \;\approx\; \mathcal L_{\text{latent}}[\mathrm{id}]
#   + \mathbb E_t\, \log h'(X_t) ,
# $$ (eq-10-shift)
#
# which, for latents of the same spread, a map that is flat where the data are makes negative.
# The likelihood of the *frames*' increments, with the decoder's log-volume term, does not change.

# %%
import numpy as np
import torch
from scipy.integrate import cumulative_trapezoid, trapezoid

import fimcg
from fimcg import systems
from fimcg.analysis.alignment import ito_transform, warp_cubic, warp_tanh
from fimcg.analysis.markov import autocorrelation, generator_matrix, predictive_information
from fimcg.analysis.validation import switching_statistics, well_thresholds
from fimcg.app import figures
from fimcg.sde.systems import REFERENCE_WIDTH
from fimcg.widgets import (frame_features, identifiability_data, identifiability_explorer,
                           identifiability_slider_figure, identifiability_sweep_figure, pick, show)

torch.set_num_threads(1)
sde = systems.double_well()                 # f = 4x - 4x³, g = sqrt(4 - 1.25x²)
fim = fimcg.load_fim()                      # the frozen FIM, loaded once


def exact_coefficients(x):
    """The reference system's f and g at the points x (numpy in, numpy out)."""
    with torch.no_grad():
        xs = torch.as_tensor(np.asarray(x, dtype=np.float64))[:, None]
        return sde.drift(xs)[:, 0].numpy(), sde.diffusion(xs)[:, 0].numpy()


# %% [markdown]
# ## Itô's formula, derived
#
# Take one small step of the SDE, $\mathrm dX = f\,\mathrm dt + g\,\mathrm dW$ with
# $\mathrm dW \sim \mathcal N(0, \mathrm dt)$, and expand $Z = h(X)$ to second order:
#
# $$
# \mathrm dZ = h'(X)\,\mathrm dX + \tfrac12\, h''(X)\,(\mathrm dX)^2 + O\big((\mathrm dX)^3\big),
# \qquad (\mathrm dX)^2 = g^2 (\mathrm dW)^2 + 2 f g\, \mathrm dt\, \mathrm dW + f^2\, \mathrm dt^2 .
# $$
#
# In ordinary calculus the second-order term would vanish with $\mathrm dt$; here it does not,
# because $\mathrm dW$ is of size $\sqrt{\mathrm dt}$: $(\mathrm dW)^2$ has mean $\mathrm dt$ and
# variance $2\,\mathrm dt^2$. Summed over the $n = t/\mathrm dt$ steps of a time $t$, the squares
# add up to $t$ with a variance of only $2t\,\mathrm dt \to 0$: in every sum, and so in every
# integral, $(\mathrm dW)^2$ may be replaced by $\mathrm dt$. The terms $\mathrm dt\,\mathrm dW$,
# $\mathrm dt^2$ and $(\mathrm dX)^3$ are $O(\mathrm dt^{3/2})$ and vanish. What is left is
# {eq}`eq-10-ito` {cite:p}`kloeden1992numerical`: the new drift gains the **Itô term**
# $\tfrac12 h'' g^2$ (noise pushed through a curved map gets a mean), the new diffusion is
# $|h'|\,g$ ($-\mathrm dW$ is a Brownian motion too).
# The key step, in numbers:

# %%
gen = np.random.default_rng(0)
print("  n steps of dt = 1/n:  sum of (dW)² over [0, 1], five draws")
for n in (10, 100, 10_000):
    sums = (gen.normal(0.0, np.sqrt(1 / n), size=(5, n)) ** 2).sum(axis=1)
    print(f"{n:8d}              " + "  ".join(f"{s:5.3f}" for s in sums))

# %% [markdown]
# Now the whole formula. We simulate the reference double well finely (one observation every
# 0.005, five Euler steps each), map the paths by $h(x) = x + \tfrac12 x^3$ (`warp_cubic`, which
# returns $h$, $h'$ and $h''$), estimate the drift and diffusion of $Z$ with the local-linear
# estimator of chapter 3, and set them beside {eq}`eq-10-ito` and beside $h' f$ alone.

# %%
FINE_DT = 0.005
fine = fimcg.simulate(sde, torch.linspace(-1.2, 1.2, pick(100, 20))[:, None], dt=FINE_DT, n_steps=2000,
                      substeps=5, seed=1)                                 # (paths, 2001, 1)
A_CUBIC = 0.5
z_fine = torch.as_tensor(warp_cubic(fine.double().numpy(), A_CUBIC)[0])   # Z = h(X) along every path
z_grid = fimcg.occupied_grid(z_fine, n=40)
f_hat, g_hat = fimcg.local_linear(z_fine, FINE_DT, z_grid)

x_dense = np.linspace(-REFERENCE_WIDTH, REFERENCE_WIDTH, 20001)
x_at = np.interp(z_grid[:, 0].numpy(), warp_cubic(x_dense, A_CUBIC)[0], x_dense)   # h⁻¹ on the grid
_, h1, h2 = warp_cubic(x_at, A_CUBIC)
f_x, g_x = exact_coefficients(x_at)
f_z, g_z = ito_transform(h1, h2, f_x, g_x)


def rel(a, b):
    """Relative RMS distance of a from b."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b ** 2)))


err_ito, err_naive, err_g = rel(f_hat, f_z), rel(f_hat, h1 * f_x), rel(g_hat, g_z)
print(f"{fine.shape[0]} paths of {2000 * FINE_DT:g} time units; relative RMS distance of the local-linear estimate")
print(f"  drift to Itô's formula {err_ito:.3f}, to h' f alone {err_naive:.3f}; diffusion to |h'| g {err_g:.3f}")
assert err_ito < 0.2 and err_ito < 0.5 * err_naive, "the drift of h(X) carries the Itô term"
assert err_g < 0.1, "and its diffusion is |h'| g"
figures.drift_diffusion_figure(z_grid, {"local linear on z paths": (f_hat, g_hat), "Itô's formula": (f_z, g_z),
                                        "h' f only (no Itô term)": (h1 * f_x, g_z)},
                               title="Z = X + X³/2: estimate from the paths against Itô's formula")

# %% [markdown]
# The estimate follows Itô's formula (a relative RMS distance of 0.08, or 0.13 with fast mode's 20
# paths: the estimator's own error at this step and amount of data) and not $h' f$ (0.3): in the
# wells, where $f = 0$,
# the drift of $Z$ is the Itô term alone, $\tfrac12 h'' g^2 = \tfrac32 x\, g^2$, about $\pm 4$.
#
# ## One process, many coordinates
#
# Chapter 5 learned an encoder $E$ from frames to a latent $z$ and a decoder $D$ back. For any
# smooth increasing (or decreasing) $h$, the pair $h \circ E$ and $D \circ h^{-1}$ reconstructs
# every frame exactly as well, and by {eq}`eq-10-ito` the process $h(Z)$ is again a diffusion
# with an SDE of its own. Nothing in the frames prefers one member of the family: a learned
# coordinate is defined only up to a smooth monotone map, and so are its drift and diffusion
# (this is why chapter 5 aligns before it compares). What the frames do fix is the *order* of the
# states (up to reversal) and everything phrased in events and times: "the particle is left of the
# barrier", "it took 1.3 time units to get across".
#
# Within the family, two members are canonical. The **Lamperti transform**
#
# $$
# y = \int^x \frac{\mathrm du}{g(u)}, \qquad
# \mathrm dY = \Big(\frac{f}{g} - \tfrac12\, g'\Big)\,\mathrm dt + \mathrm dW
# $$ (eq-10-lamperti)
#
# makes the diffusion constant: $h' = 1/g$ in {eq}`eq-10-ito` gives $h' g = 1$, and
# $h'' = -g'/g^2$ gives the drift. The other, the *natural scale*, makes the drift vanish
# (Exercise 2 below). For the reference system's semicircle $g(x) = \sqrt{4 - 1.25x^2}$, inside its
# support $|x| < 4/\sqrt5 = 1.789$,
#
# $$
# y = \frac{2}{\sqrt5}\,\arcsin\!\Big(\frac{\sqrt5\, x}{4}\Big), \qquad g(x) = 2\cos\!\Big(\frac{\sqrt5\, y}{2}\Big),
# \qquad f_Y = \frac{4.625\,x - 4x^3}{g(x)} ,
# $$
#
# so the particle lives on $|y| < \pi/\sqrt5 = 1.405$ with unit noise, and the drift $f_Y$ grows
# without bound towards the edges, where the semicircle's noise used to die out.

# %%
def lamperti(x):
    """y = ∫ dx / g(x) for the semicircle g = sqrt(4 - 1.25 x²), |x| < 4/√5."""
    return 2 / np.sqrt(5) * np.arcsin(np.sqrt(5) * np.asarray(x) / 4)


y_fine = torch.as_tensor(lamperti(fine.double().numpy()))
y_grid = fimcg.occupied_grid(y_fine, n=40)
fy_hat, gy_hat = fimcg.local_linear(y_fine, FINE_DT, y_grid)
x_of_y = 4 / np.sqrt(5) * np.sin(np.sqrt(5) * y_grid[:, 0].numpy() / 2)
f_at, g_at = exact_coefficients(x_of_y)
fy_exact = (4.625 * x_of_y - 4 * x_of_y ** 3) / g_at                    # f/g - g'/2, with g' = -1.25 x / g
print(f"occupied y in [{float(y_grid[0, 0]):.2f}, {float(y_grid[-1, 0]):.2f}]; local-linear diffusion of y: "
      f"{float(gy_hat.min()):.3f} to {float(gy_hat.max()):.3f}; drift distance to the formula {rel(fy_hat, fy_exact):.3f}")
assert float((gy_hat - 1).abs().max()) < 0.1, "after the Lamperti transform the diffusion is 1"
figures.drift_diffusion_figure(y_grid, {"local linear on y paths": (fy_hat, gy_hat),
                                        "Lamperti: f/g - g'/2 and 1": (fy_exact, np.ones_like(fy_exact))},
                               title="the reference system in its Lamperti coordinate y")

# %% [markdown]
# ## What does not depend on the coordinate
#
# If drift and diffusion change with the coordinate, what can a learned coordinate tell us at all?
# Chapter 1 met the two functions that answer it: the *scale function* $s$ and the *speed
# density* $m$ (chapter 1's $s$ is the density $s'$ here),
#
# $$
# s'(x) = \exp\!\Big(-\int^x \frac{2 f(u)}{g(u)^2}\,\mathrm du\Big), \qquad
# m(x) = \frac{2}{g(x)^2\, s'(x)} .
# $$ (eq-10-scale)
#
# Put {eq}`eq-10-ito` in: $2 f_Z / g_Z^2 = 2 f/(h' g^2) + h''/h'^2$, and integrating in
# $\mathrm dz = h'\,\mathrm dx$ adds $\log h'$ to the exponent, so $s_Z' = s'/h'$ and, with
# $g_Z^2 = h'^2 g^2$, $m_Z = m/h'$. Hence $s_Z'\,\mathrm dz = s'\,\mathrm dx$ and
# $m_Z\,\mathrm dz = m\,\mathrm dx$: **$\mathrm ds$ and $m\,\mathrm dx$ are the same measures in
# every coordinate.** Everything built from them alone is coordinate-free:
#
# $$
# P_x(\text{reach } b \text{ before } a) = \frac{s(x) - s(a)}{s(b) - s(a)}, \qquad
# T(a \to b) = \int_a^b s'(y) \int_{l}^{y} m(u)\,\mathrm du\,\mathrm dy ,
# $$ (eq-10-mfpt)
#
# the probability of reaching $b$ before $a$ from $x$, and the mean first-passage time from $a$ to
# $b > a$ ({eq}`eq-01-mfpt`, $l$ the left end the particle cannot cross)
# {cite:p}`risken1989fokker`. So is the stationary *distribution*,
# $P(X \le x) \propto \int_l^x m$, though not its density: $p_Z = p/h'$. In quantile coordinates,
# $u = P(X \le x)$, every coordinate gives the same flat histogram. And so is the generator
# $\mathcal L = f\,\partial_x + \tfrac12 g^2 \partial_x^2$, which can be written
# $\mathcal L u = \frac{1}{m}\frac{\mathrm d}{\mathrm dx}\big(\frac{1}{s'}\frac{\mathrm du}{\mathrm dx}\big)$:
# its eigenvalues $\lambda_k$, and the implied time scales $-1/\lambda_k$, are the same in every
# coordinate.
#
# We test it on chapter 5's data (20 paths of 500 frames at $\Delta t = 0.01$) in the coordinate
# $z = \tanh x$, where the reference system looks very different. First the exact SDE, with
# {eq}`eq-10-scale` and {eq}`eq-10-mfpt` by the trapezoid rule on the same grid of states, once in
# $x$ and once in $z$:

# %%
DT = 0.01
N_PATHS, N_FRAMES = 20, 500                 # chapter 5's data, also in fast mode
x0 = torch.tensor([-1.0, 1.0]).repeat(N_PATHS // 2)[:, None]
paths = fimcg.simulate(sde, x0, dt=DT, n_steps=N_FRAMES - 1, substeps=5, seed=0)
x = paths[..., 0].double().numpy()          # (20, 500)
z = warp_tanh(x, 1.0)[0]                    # the same paths in the coordinate z = tanh x


def scale_and_speed(grid, f, g):
    """s' and m of eq-10-scale on a grid (s' = 1 at the grid's middle)."""
    phi = cumulative_trapezoid(2 * f / g ** 2, grid, initial=0.0)
    ds = np.exp(-(phi - phi[len(grid) // 2]))
    return ds, 2 / (g ** 2 * ds)


def passage_and_hitting(grid, f, g, a, b, start):
    """T(a -> b) and P(reach b before a | start) of eq-10-mfpt; the particle cannot cross grid[0]."""
    ds, m = scale_and_speed(grid, f, g)
    inner = cumulative_trapezoid(m, grid, initial=0.0)           # ∫ m from the left end to y
    on, before = (grid >= a) & (grid <= b), (grid >= a) & (grid <= start)
    hit = trapezoid(ds[before], grid[before]) / trapezoid(ds[on], grid[on])   # (s(start) - s(a)) / (s(b) - s(a))
    return float(trapezoid((ds * inner)[on], grid[on])), float(hit)


x_states = np.linspace(-(1 - 1e-4) * REFERENCE_WIDTH, (1 - 1e-4) * REFERENCE_WIDTH, 40001)
f_states, g_states = exact_coefficients(x_states)
z_states, t1, t2 = warp_tanh(x_states, 1.0)
fz_states, gz_states = ito_transform(t1, t2, f_states, g_states)   # the same SDE in z, by eq-10-ito
lo, hi = well_thresholds(sde.drift, -1.5, 1.5)                     # -0.5 and 0.5: halfway into each well
T_x, P_x = passage_and_hitting(x_states, f_states, g_states, lo, hi, start=-0.2)
T_z, P_z = passage_and_hitting(z_states, fz_states, gz_states, np.tanh(lo), np.tanh(hi), start=np.tanh(-0.2))
print(f"exact SDE in x:      T({lo:+.2f} -> {hi:+.2f}) = {T_x:.4f},  P(reach {hi:+.2f} before {lo:+.2f} | -0.2) = {P_x:.4f}")
print(f"exact SDE in tanh x: T({np.tanh(lo):+.2f} -> {np.tanh(hi):+.2f}) = {T_z:.4f},  the same probability = {P_z:.4f}")
assert abs(T_x - T_z) < 1e-3 * T_x and abs(P_x - P_z) < 1e-3, "scale and speed transform away"

deciles = np.quantile(x, np.linspace(0.1, 0.9, 9))                 # of the data, in x
cdf = {}
for name, grid, f_, g_, at in (("x", x_states, f_states, g_states, deciles),
                               ("tanh x", z_states, fz_states, gz_states, np.tanh(deciles))):
    mass = cumulative_trapezoid(scale_and_speed(grid, f_, g_)[1], grid, initial=0.0)   # ∫ m from the left end
    cdf[name] = np.interp(at, grid, mass / mass[-1])
    print(f"stationary P(state <= data decile), exact SDE in {name:>6}: " + " ".join(f"{v:.3f}" for v in cdf[name]))
assert np.allclose(cdf["x"], cdf["tanh x"], atol=1e-3), "the stationary distribution is coordinate-free"

# %% [markdown]
# The same numbers to four digits, from two different-looking SDEs, and the same stationary
# distribution: at the data's deciles it is 0.087, 0.188, ..., 0.879 in both coordinates, within
# about two hundredths of the data's own 0.1, 0.2, ..., 0.9 (20 paths of 5 time units are a short
# record). Now from data. Counting
# switches between the wells is coordinate-free by construction: a path is below $-0.5$ exactly
# when it is below $\tanh(-0.5)$. The SDE read off the paths is not: we ask the frozen FIM and the
# local-linear estimator for it in each coordinate, build the generator on the same 80 cells of
# equal occupation (`fimcg.analysis.markov.generator_matrix`, as `predictive_information` does; a
# cell is the same set of data in both coordinates, because quantiles move with a monotone map),
# and compute its slowest implied time scale and the mean first-passage time between the wells
# (the cells beyond the right threshold absorb; the time to reach them solves $Q\,T = -1$).

# %%
LEVELS = np.linspace(0.002, 0.998, 81)     # 80 cells of equal occupation


def generator_summary(coord, edges, estimator, a, b):
    """Slowest implied time scale and T(a -> b) of the generator of the SDE `estimator` reads off
    `coord` (n_paths, T), on the cells between `edges`."""
    centres = (edges[1:] + edges[:-1]) / 2
    with torch.no_grad():
        f, _ = estimator(torch.as_tensor(coord[..., None], dtype=torch.float32), DT,
                         torch.as_tensor(edges[1:-1, None], dtype=torch.float32))
        _, g = estimator(torch.as_tensor(coord[..., None], dtype=torch.float32), DT,
                         torch.as_tensor(centres[:, None], dtype=torch.float32))
    q = generator_matrix(np.asarray(f).reshape(-1), np.asarray(g).reshape(-1), edges)
    eigenvalues = np.sort(np.linalg.eigvals(q).real)[::-1]      # 0 > λ_1 > λ_2 ...
    free = centres < b                                            # not yet arrived
    times = np.linalg.solve(q[np.ix_(free, free)], -np.ones(free.sum()))
    return -1 / eigenvalues[1], float(times[np.argmin(np.abs(centres[free] - a))])


def exact_in_x(paths_, dt, points):
    return tuple(torch.as_tensor(v)[:, None] for v in exact_coefficients(points[:, 0].double().numpy()))


def exact_in_z(paths_, dt, points):
    xs = np.arctanh(points[:, 0].double().numpy())
    _, d1, d2 = warp_tanh(xs, 1.0)
    return tuple(torch.as_tensor(v)[:, None] for v in ito_transform(d1, d2, *exact_coefficients(xs)))


edges_x = np.quantile(x, LEVELS)
edges_z = np.tanh(edges_x)                 # the same cells
rows = {}
for name, est_x, est_z in (("exact SDE", exact_in_x, exact_in_z), ("FIM", fim, fim),
                           ("local linear", fimcg.local_linear, fimcg.local_linear)):
    rows[name] = (generator_summary(x, edges_x, est_x, lo, hi),
                  generator_summary(z, edges_z, est_z, np.tanh(lo), np.tanh(hi)))
switch_x = switching_statistics(x[..., None], DT, thresholds=(lo, hi))
switch_z = switching_statistics(z[..., None], DT, thresholds=(np.tanh(lo), np.tanh(hi)))
print(f"{'':>14}  implied time scale    T(well -> well)      (in x | in z = tanh x)")
for name, ((tx, mx), (tz, mz)) in rows.items():
    print(f"{name:>14}  {tx:8.3f} | {tz:6.3f}    {mx:8.3f} | {mz:6.3f}")
print(f"{'data':>14}  {'':17}    {switch_x.mfpt:8.3f} | {switch_z.mfpt:6.3f}   "
      f"({switch_x.n_switches} | {switch_z.n_switches} switches)")
print(f"exact T from eq-10-mfpt: {T_x:.3f}")
(tx, mx), (tz, mz) = rows["exact SDE"]
assert abs(tx - tz) < 0.02 * tx and abs(mx - mz) < 0.03 * mx, "the exact generator's time scales agree"
assert abs(mx - T_x) < 0.05 * T_x, "and its first-passage time is eq-10-mfpt's"
assert switch_x.n_switches == switch_z.n_switches and switch_x.mfpt == switch_z.mfpt
for name in ("FIM", "local linear"):
    (tx, mx), (tz, mz) = rows[name]
    assert abs(tx - tz) < 0.25 * tx and abs(mx - mz) < 0.25 * mx, f"{name}: the same process in both coordinates"

# %% [markdown]
# The exact generator gives the same implied time scale and first-passage time in both
# coordinates (to the finite-volume discretisation, below 1 %), and the first-passage time is
# {eq}`eq-10-mfpt`'s. The estimated SDEs agree to 10 to 12 %: the FIM reads a slightly slower
# process off $x$ and a slightly faster one off $\tanh x$, the local-linear estimator the other way
# round, with the exact value between them. Estimation errors depend on the coordinate; the
# quantity does not. The data's own first-passage time, from its few dozen passages, is
# identical in both coordinates by construction and about 20 % below the exact value, within the
# scatter of so few passages.
#
# Meanwhile the equations themselves look nothing alike. Equation discovery (chapter 6) on the
# two sets of paths:

# %%
eq_x = fimcg.discover(paths, DT)
eq_z = fimcg.discover(torch.as_tensor(z[..., None]), DT, names=["z"])
print(f"in x:       {eq_x}\nin tanh x:  {eq_z}")
u = np.linspace(0.02, 0.98, 49)            # quantile levels: the same states in both coordinates
states_x = np.quantile(x, u)
fx_u, gx_u = exact_coefficients(states_x)
_, d1, d2 = warp_tanh(states_x, 1.0)
fz_u, gz_u = ito_transform(d1, d2, fx_u, gx_u)
fig = figures.function_family_figure(u, np.stack([fx_u, fz_u]), np.stack([gx_u, gz_u]),
                                     labels=["in x", "in z = tanh x"],
                                     title="one process, two SDEs: drift and diffusion at the same quantile")
fig.update_xaxes(title_text="quantile level u = P(X ≤ x)")

# %% [markdown]
# In $x$ the drift is the familiar $4x - 4x^3$ with a barrier: it pushes away from 0. In
# $z = \tanh x$ the linear term is gone: near the top, $h' f \approx 4x$ and the Itô term
# $\tfrac12 h'' g^2 \approx -x \cdot 4$ cancel, and the discovered drift is a single $-z^3$ term
# that pulls *towards* 0. The process is still bistable, with the same time scales; in $z$ the
# wells are made by the diffusion, which falls steeply away from the top: the particle hurries
# through the noisy middle and lingers where the noise is weak. A barrier in the drift is a property
# of a coordinate, not of the process.
#
# Two more statistics, one that depends on the coordinate and one that does not: the
# autocorrelation of the coordinate itself (a linear statistic, so it changes under a nonlinear
# map) and of its quantile level (the rank of each value), and chapter 8's predictive information,
# which scores the SDE in quantile bins.

# %%
def ranks(c):
    """Quantile level of every value of c (n_paths, T), as a fraction."""
    return (np.argsort(np.argsort(c.reshape(-1))).reshape(c.shape) + 0.5) / c.size


for lag in (5, 20):
    print(f"autocorrelation at lag {lag:2d}: x {autocorrelation(x, lag):.3f}, tanh x {autocorrelation(z, lag):.3f}; "
          f"their quantile levels {autocorrelation(ranks(x), lag):.3f} and {autocorrelation(ranks(z), lag):.3f}")
info_x, info_z = predictive_information(x, DT, fim), predictive_information(z, DT, fim)
print("predictive information I(1, 5, 20), nats:", np.round(info_x.per_lag, 3), "in x,",
      np.round(info_z.per_lag, 3), "in tanh x")
assert autocorrelation(ranks(x), 20) == autocorrelation(ranks(z), 20)
assert abs(info_x.score - info_z.score) < 0.05

# %% [markdown]
# ## The two likelihoods side by side
#
# `coarse_grain` trains its encoder with a likelihood: how probable the data are under the SDE the
# frozen FIM reads off the encoded paths. Which data? The obvious choice scores the latent steps,
#
# $$
# \mathcal L_{\text{latent}} = \mathbb E_t\!\left[\frac{(\Delta z_t - \hat f(z_t)\,\Delta t)^2}{2\,\hat g(z_t)^2\,\Delta t}
#   + \tfrac12 \log\!\big(2\pi\,\hat g(z_t)^2\,\Delta t\big)\right]
# $$ (eq-10-latent)
#
# (`fimcg.coarse_graining.losses.latent_nll`). It is a density of $\Delta z$, and a density
# changes with the variable: if $z = h(x)$ then $\Delta z \approx h'(x_t)\,\Delta x$, so the
# density of $\Delta z$ is that of $\Delta x$ divided by $h'(x_t)$, which is {eq}`eq-10-shift`.
# Standardising the latent (zero mean, unit variance, as `coarse_grain`'s anchoring does) fixes its
# spread but not $\mathbb E \log h'$: a map that is flat in the wells, where the particle spends
# its time, and steep at the barrier, where it rarely is, makes $\mathbb E \log h' < 0$. Such a
# "sticky" latent has a small $\hat g$ where the data are, and a lower $\mathcal L_{\text{latent}}$,
# without describing the process any better.
#
# `coarse_grain` scores the frames' increments instead (chapter 5): with PCA features $u_t$ of the
# frames, a decoder $D$ from $z$ to $u$ and its Jacobian $J_t = D'(z_t)$,
#
# $$
# \mathcal L_{\text{frames}} = \mathbb E_t\!\left[\frac{(\delta_t - \hat f(z_t)\,\Delta t)^2}{2\,\hat g(z_t)^2\,\Delta t}
#   + \tfrac12 \log\!\big(2\pi\,\hat g(z_t)^2\,\Delta t\big) + \tfrac12 \log J_t^\top J_t\right],
# \qquad \delta_t = \frac{J_t^\top (u_{t+1} - u_t)}{J_t^\top J_t}
# $$ (eq-10-frames)
#
# (`fimcg.coarse_graining.losses.frame_nll`). Change the coordinate by $h$: the decoder that
# reconstructs the same frames is $D \circ h^{-1}$, so $J$ is divided by $h'$, the implied step
# $\delta$ is multiplied by $h'$ (like $\Delta z$), and the first two terms shift by
# $\mathbb E \log h'$ exactly as {eq}`eq-10-latent` does. The log-volume term
# $\tfrac12 \log J^\top J$ shifts by $-\mathbb E \log h'$. The two cancel: {eq}`eq-10-frames` is the
# density of the frames' displacement along the decoder's curve, and the frames do not change when
# we relabel the latent. This is the argument of the module docstring of
# `fimcg.coarse_graining.decoupled`; here we watch it happen.
#
# `identifiability_data` takes chapter 5's frames and the true positions, distorts the true
# coordinate by $z = h_a(x)$ (`tanh`: flat in the wells, sticky; `sinh` and `cubic`: steep in the
# wells), standardises it, fits a `SplineDecoder` from $z$ to the frames' 16 PCA features
# (`FramePCA`), and evaluates both likelihoods with the package's own `latent_nll` and
# `frame_nll` on all 9,980 transitions, under two SDEs: the one the frozen FIM reads off the $z$
# paths, and the exact one (the true SDE moved to $z$ by {eq}`eq-10-ito`). The change of variables
# predicts that the latent-step NLL moves by $\mathbb E_t \log |\mathrm dz/\mathrm d\tilde x|$, with
# $\tilde x$ the standardised $x$ (the dotted line in the figure, the diamond in the explorer's).

# %%
frames = fimcg.render_video(paths, size=32, blob_width=1.5, noise=0.0, seed=0)   # chapter 5's video
pca, _ = frame_features(frames, n_components=16)
reference = identifiability_data(paths, frames, DT, strength=0.0, estimator=fim, pca=pca)
tanh_strengths = pick((0.0, 0.5, 1.0, 1.5, 2.0), (0.0, 1.0, 2.0))
sweep = {("tanh", a): identifiability_data(paths, frames, DT, kind="tanh", strength=a, estimator=fim, pca=pca,
                                           reference=reference) for a in tanh_strengths}
sweep.update({(kind, 1.0): identifiability_data(paths, frames, DT, kind=kind, strength=1.0, estimator=fim, pca=pca,
                                                reference=reference) for kind in ("sinh", "cubic")})
print(f"undistorted: latent-step NLL {reference.latent_nll:.3f}, frame NLL {reference.frame_nll:.3f} "
      f"nats per transition (FIM's SDE), on {reference.settings['transitions']} transitions")
print("  map, a      change of NLL, FIM's SDE    change of NLL, exact SDE    E log|dz/dx̃|   decoder residual")
print("              latent steps   frames       latent steps   frames")
for (kind, a), d in sweep.items():
    print(f"{kind:>6} {a:3g}  {d.latent_shift:+12.3f} {d.frame_shift:+9.3f}  {d.exact_latent_shift:+14.3f} "
          f"{d.exact_frame_shift:+9.3f}  {d.log_jacobian:+13.3f}  {d.decoder_residual:12.1e}")
one = sweep[("tanh", 1.0)]
assert one.latent_shift < -0.2, "a sticky latent lowers the likelihood of its own steps"
assert abs(one.frame_shift) < 0.3 * abs(one.latent_shift), "but hardly changes that of the frames"
assert all(d.frame_shift > -0.02 for d in sweep.values()), "no distortion lowers the frame NLL"
assert all(abs(d.exact_frame_shift) < 0.1 for d in sweep.values()), "with the exact SDE it is invariant"
assert all(abs(d.exact_latent_shift - d.log_jacobian) < 0.1 for d in sweep.values() if d.strength <= 1), \
    "and the latent-step NLL moves by the change of variables, eq-10-shift"
identifiability_sweep_figure([d for (kind, _), d in sweep.items() if kind == "tanh"])

# %% [markdown]
# The table reads, line by line, as the argument above. With the **exact SDE** the latent-step
# NLL moves by the change of variables (for $a \le 1$ to within 0.05; for stronger maps less,
# $-1.19$ against $-1.52$ at $a = 2$, because the Euler step describes a coordinate that bends
# strongly within one step less well), while the frame NLL stays put, to within 0.03 up to
# $a = 1.5$ and 0.07 at $a = 2$: a sticky latent ($\tanh$) "improves" the first by up to 1.2 nats
# per transition and not the second. The last column is the other half of the argument: a spline
# decoder reconstructs the frames' features from every one of these latents (relative residual at
# most 0.007, at $a = 2$), so reconstruction cannot tell them apart either.
#
# Under the **FIM's SDE** the latent-step NLL again falls for $\tanh$ (by 0.35 at $a = 1$) and rises
# for the maps that are steep in the wells; the frame NLL never falls, and it rises for the strong
# distortions: the FIM reads a less accurate SDE off a coordinate that is flat in the wells and
# steep at the barrier, and only the frame likelihood charges for it (by 0.09 at $a = 1$, 0.75 at
# $a = 2$). So relabelling the latent does not lower the likelihood of the frames (none of these
# maps does); only an SDE that describes better how the frames move can. In `coarse_grain` the frozen decoder
# also pins the parameterisation (chapter 5), and the frame likelihood keeps the encoder from
# drifting towards a sticky one.
#
# Step through the maps, or in JupyterLab choose your own with the explorer below; the middle
# panel shows what a sticky latent does to the FIM's $\hat g$.

# %%
labels = [f"{kind} a = {a:g}" for kind, a in sweep]
identifiability_slider_figure(list(sweep.values()), labels, slider_title="map: ")

# %%
show(identifiability_explorer, paths, frames, DT, estimator=fim)

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Geometric Brownian motion, $\mathrm dX = \mu X\,\mathrm dt + \sigma X\,\mathrm dW$
# for $X > 0$, has $g(x) = \sigma x$. Find its Lamperti coordinate and the SDE there with
# {eq}`eq-10-lamperti`, and check both with the local-linear estimator for $\mu = 0.5$, $\sigma = 0.4$.
#
# :::{dropdown} Solution
# $y = \int \mathrm dx/(\sigma x) = \log(x)/\sigma$, and with $g' = \sigma$ the drift is
# $f/g - g'/2 = \mu/\sigma - \sigma/2$: $Y$ is a Brownian motion with constant drift 1.05 and unit
# diffusion. Forgetting the Itô term would give $\mu/\sigma = 1.25$; the estimate, about 1.05 with
# a diffusion of 1.00, says otherwise. This is why $\log X_t$ grows at the rate $\mu - \sigma^2/2$,
# not $\mu$.
# :::

# %% tags=["hide-cell"]
MU, SIGMA = 0.5, 0.4
gbm = fimcg.SDE(drift=lambda v: MU * v, diffusion=lambda v: SIGMA * v, dim=1, name="gbm")
gbm_paths = fimcg.simulate(gbm, torch.ones(pick(200, 50), 1), dt=0.01, n_steps=500, substeps=5, seed=2)
y_gbm = torch.log(gbm_paths) / SIGMA
f_y, g_y = fimcg.local_linear(y_gbm, 0.01, fimcg.occupied_grid(y_gbm, n=9, lo=0.1, hi=0.9))
print(f"drift of y: {f_y.mean():.3f} (Lamperti {MU / SIGMA - SIGMA / 2:.3f}, without the Itô term {MU / SIGMA:.3f}); "
      f"diffusion {g_y.mean():.3f}")

# %% [markdown]
# **Exercise 2.** Show with {eq}`eq-10-ito` that the scale function $s$ of {eq}`eq-10-scale` is the
# coordinate in which the drift vanishes (the *natural scale*). Check it for the reference system
# on a grid of states, with $s'$ and $s''$ by finite differences, and find its diffusion $s'(x)\,g(x)$.
#
# :::{dropdown} Solution
# With $h = s$: $h' = s'$ and $h'' = s'' = -s' \cdot 2f/g^2$, so
# $h' f + \tfrac12 h'' g^2 = s' f - s' f = 0$. In its natural scale every one-dimensional diffusion
# is a martingale, and the probability to reach $b$ before $a$ is linear in it, which is
# {eq}`eq-10-mfpt`'s first formula. On the grid the drift of $s(X)$ is zero to about a thousandth
# of the size of its two terms (the finite differences' error). The diffusion $s'(x)\,g(x)$ (with
# $s' = 1$ at $x = 0$) is 2.0 at the top, 0.95 in the wells and 4.2 at $x = \pm 1.5$: since
# $m \propto p$, $s' \propto 1/(g^2 p)$, so the natural scale compresses the states where the
# particle spends its time and stretches the rarely visited edges.
# :::

# %% tags=["hide-cell"]
x_seen = np.linspace(-1.5, 1.5, 30001)
f_seen, g_seen = exact_coefficients(x_seen)
ds_seen, _ = scale_and_speed(x_seen, f_seen, g_seen)                # s' = 1 at x = 0
d2s_seen = np.gradient(ds_seen, x_seen)                              # s''
drift_s = ds_seen * f_seen + 0.5 * d2s_seen * g_seen ** 2            # eq-10-ito with h = s
print(f"largest |drift of s(X)| {np.abs(drift_s).max():.2e}, largest |s' f| {np.abs(ds_seen * f_seen).max():.2e}")
for v in (0.0, 0.5, 1.0, 1.25, 1.5):
    print(f"diffusion s'(x) g(x) at x = {v:g}: {np.interp(v, x_seen, ds_seen * g_seen):.2f}")

# %% [markdown]
# **Exercise 3.** A 2-D model with *diagonal* diffusion, $\mathrm dX_i = f_i\,\mathrm dt + g_i\,\mathrm dW_i$,
# $g_1 \ne g_2$, is observed in rotated coordinates $Y = R_\theta X$ (pen and paper). Is $Y$ again
# a diffusion with diagonal noise? What does this say about a 2-D latent learned by a model whose
# diffusion is diagonal?
#
# :::{dropdown} Solution
# Itô's formula for a linear map has no second-derivative term, so $\mathrm dY = R f\,\mathrm dt
# + R\,G\,\mathrm dW$ with $G = \mathrm{diag}(g_1, g_2)$. The noise covariance becomes
# $R G^2 R^\top$, whose off-diagonal entry is $(g_1^2 - g_2^2)\sin\theta\cos\theta$: nonzero unless
# $g_1 = g_2$ or $\theta$ is a multiple of $90°$. No diagonal $G_Y$ gives this covariance (the
# noises of $Y_1$ and $Y_2$ are correlated), so a model with diagonal diffusion can describe the
# process only in the coordinates aligned with its noise. In 2-D, where any smooth invertible
# map is a valid relabelling, that restriction removes the rotations; the remaining freedom
# (e.g. monotone maps of each axis separately) stays.
# :::

# %% tags=["hide-cell"]
theta, g1, g2 = np.pi / 6, 1.0, 0.5
rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
print("noise covariance in Y:\n", np.round(rot @ np.diag([g1 ** 2, g2 ** 2]) @ rot.T, 3),
      f"\noff-diagonal (g1² - g2²) sin cos = {(g1 ** 2 - g2 ** 2) * np.sin(theta) * np.cos(theta):.3f}")

# %% [markdown]
# **Exercise 4.** `coarse_grain(..., likelihood=LikelihoodConfig(space="latent"))` scores the latent
# steps, but by default adds the decoder's log volume $\tfrac12 \log J^\top J$ (`jacobian=True`).
# Compute this "latent steps + log volume" NLL (`latent_nll(..., dec=decoder)`) for the $\tanh$ maps
# of strength 0, 1 and 2. Is it still lowered by a sticky latent?
#
# :::{dropdown} Solution
# No. The log-volume term shifts by $-\mathbb E \log h'$ and cancels {eq}`eq-10-shift`, as in
# {eq}`eq-10-frames`: the NLL rises by about 0.1 at $a = 1$ and about 0.75 at $a = 2$, close to the
# frame NLL's changes. What protects against sticky latents is the Jacobian's log volume. The two
# differ in which step they score: the encoder's $\Delta z$, or $\delta$, the step the frames
# imply along the decoder's tangent. That one is shorter where the curve of frames bends within a
# step (which is why the frame NLL is about 0.2 lower here), but the two change alike with the
# coordinate.
# :::

# %% tags=["hide-cell"]
from fimcg.coarse_graining.autoencoder import LatentNorm, SplineDecoder  # noqa: E402
from fimcg.coarse_graining.losses import latent_nll  # noqa: E402

feats = pca.project(pca.flatten(frames))                                    # (20, 500, 16)
for a in (0.0, 1.0, 2.0):
    with torch.no_grad():
        z_a = LatentNorm(1)(torch.as_tensor(warp_tanh(x, a)[0][..., None], dtype=torch.float32))
        decoder = SplineDecoder(pca, 1)
        decoder.fit(z_a.reshape(-1, 1), feats.reshape(-1, 16))
        plain = latent_nll(z_a, DT, fim, torch.Generator().manual_seed(0), 10 ** 5, 12000)
        with_volume = latent_nll(z_a, DT, fim, torch.Generator().manual_seed(0), 10 ** 5, 12000, dec=decoder)
    print(f"tanh a = {a:g}: latent steps {float(plain):.3f}, latent steps + log volume {float(with_volume):.3f}")

# %% [markdown]
# ## Where next
#
# Back to chapter 6 with new eyes: a discovered equation is an equation *in a coordinate*, and
# two equations as different as $4x - 4x^3$ and $-2z^3$ can describe the same process; validate
# them with the coordinate-free statistics of this chapter (switching, first passages, quantiles),
# as `fimcg.validate` does. Chapter 8's judge of coordinates, the predictive information, is
# built on the same invariants, and chapter 7 shows what happens to a model that is trained on
# its own latent steps.
