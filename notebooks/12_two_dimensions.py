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
# # 12. Two dimensions
#
# *About 45 minutes. Prerequisites: chapter 1 (SDEs and potentials), chapter 3 (estimators), chapter 5 (coarse-graining) and chapter 10 (identifiability).*
#
# **What you will learn**
#
# - how a particle moves in a planar landscape: the drift as a vector field $f = -\nabla U$, wells
#   as its stable fixed points, switching between them; and why a rotating system has no potential;
# - how the FIM estimates a drift *field* from 2-D paths, against the binned, local-linear and
#   least-squares estimators of chapter 3, and which estimates it weighs where;
# - how `coarse_grain(..., latent_dim=2)` learns a planar coordinate from video, and how a 2-D
#   latent is checked: an invertible map to the truth, the coefficients moved by Itô's formula,
#   and coordinate-free core statistics;
# - what a latent model with *diagonal* diffusion can and cannot represent after a change of
#   coordinates.
#
# **The equations that matter.** In $d$ dimensions the SDE reads, with independent noises in the
# coordinates (a *diagonal* diffusion $G = \operatorname{diag}(g_1, \dots, g_d)$),
#
# $$
# \mathrm d\mathbf X_t = \mathbf f(\mathbf X_t)\,\mathrm dt + G(\mathbf X_t)\,\mathrm d\mathbf W_t ,
# \qquad \mathbf f = -\nabla U \text{ for a gradient system.}
# $$ (eq-12-sde)
#
# If $\mathbf Z = \varphi(\mathbf X)$ with a smooth invertible $\varphi$, Jacobian
# $J = \partial\varphi/\partial\mathbf x$ and Hessians $H_i = \partial^2\varphi_i/\partial\mathbf x^2$,
# Itô's formula gives
#
# $$
# f_{Z,i} = \sum_j J_{ij}\, f_j + \tfrac12 \sum_{j} (H_i)_{jj}\, g_j^2 , \qquad
# \Sigma_Z = J\, \operatorname{diag}(g^2)\, J^\top ,
# $$ (eq-12-ito)
#
# the $d$-dimensional {eq}`eq-10-ito`: the drift gains an Itô term from the map's curvature, and the
# noise covariance $\Sigma_Z$ is in general *not* diagonal any more.

# %%
import time

import numpy as np
import torch

import fimcg
from fimcg import systems
from fimcg.analysis.alignment_nd import compare_to_truth_nd, ito_transform_nd
from fimcg.analysis.metrics import sde_errors
from fimcg.analysis.validation import attractors
from fimcg.app import figures
from fimcg.widgets import (field_on_grid, landscape_2d_data, landscape_2d_explorer, landscape_2d_figure,
                           landscape_2d_sde, landscape_2d_slider_figure, pick, show)

torch.set_num_threads(1)
DT = 0.01                      # observation step of every data set in this chapter
N_PATHS = pick(40, 20)         # paths of the landscape figures
T_MAX = pick(20.0, 10.0)       # their duration
fim = fimcg.load_fim()         # one call for 1-D and 2-D paths
print(f"the FIM answers paths of dimension {fim.supported_dims}")

# %% [markdown]
# ## A particle in a planar landscape
#
# Chapter 1's double well gets a second coordinate. `landscape_2d_sde` builds the catalogue's
# `systems.double_well_2d`,
#
# $$
# U(x_1, x_2) = \frac{\beta}{4} x_1^4 - \frac{\alpha}{2} x_1^2 + \frac{\kappa}{2} x_2^2 + c\, x_1 x_2 ,
# \qquad \mathbf f = -\nabla U = \big(\alpha x_1 - \beta x_1^3 - c\, x_2,\; -\kappa x_2 - c\, x_1\big),
# $$ (eq-12-double-well)
#
# from three knobs a reader can see: the **barrier** height $h$ (with $\beta = 4h$,
# $\alpha = \beta - c^2/\kappa$ the saddle at the origin lies exactly $h$ above both wells), the
# **coupling** $c$, which tilts the line through the wells to $(\pm 1, \mp c/\kappa)$, and the
# **noise** $g$, the same in both coordinates ($\kappa = 4$). `landscape_2d_data` simulates it, finds
# the wells as the stable fixed points of $\mathbf f$ (`attractors`: follow the flow
# $\dot{\mathbf x} = \mathbf f(\mathbf x)$ from a grid of starts until it comes to rest) and counts
# the switches between them (`core_statistics`: a path is in a well's *core* while within a quarter
# of the wells' distance of it, and a switch is the arrival in another core). The figure draws
# $\mathbf f$ as arrows over the contours of $U$: the arrows point downhill, across the contours.

# %%
base = landscape_2d_data(n_paths=N_PATHS, t_max=T_MAX, seed=0)
print("wells:", np.round(base.wells, 3).tolist(), " occupation:", np.round(base.occupation, 3),
      f" switches per unit time: {base.switches_per_time:.3f}")
assert np.allclose(base.wells, [[-1.0, 0.0], [1.0, 0.0]], atol=0.02), "the wells sit at (±1, 0)"
assert abs(base.occupation[0] - 0.5) < 0.15, "a symmetric landscape: both wells alike"
landscape_2d_figure(base)

# %% [markdown]
# The particle rattles around a well, and now and then crosses the saddle at the origin, the
# lowest point of the ridge between the wells. In one dimension there was no other way across; in
# two, paths can go around, but the saddle is where the crossings concentrate, because the
# ridge rises steeply ($\kappa x_2^2/2$) away from it.
#
# The slider below steps through the noise (in JupyterLab the explorer after it varies all three
# knobs live). With a noise $g$ the stationary density is the Boltzmann density
# $p \propto e^{-2U/g^2}$, so the barrier counts in units of $g^2/2$: from $g = 0.7$ to $g = 1.6$
# the switching rate grows by more than an order of magnitude.

# %%
noises = (0.7, 1.0, 1.3, 1.6)
noise_data = [landscape_2d_data(noise=g, n_paths=N_PATHS, t_max=T_MAX, seed=1) for g in noises]
rates = [d.switches_per_time for d in noise_data]
print("noise g:              ", "  ".join(f"{g:6g}" for g in noises))
print("switches per unit time", "  ".join(f"{r:6.3f}" for r in rates))
assert rates[-1] > 5 * rates[0], "more noise, many more switches"
landscape_2d_slider_figure(noise_data, [f"{g:g}" for g in noises], slider_title="noise g = ")

# %%
show(landscape_2d_explorer, n_paths=pick(40, 10), t_max=pick(10.0, 2.0))

# %% [markdown]
# ### Three wells: the Müller–Brown potential
#
# A classic test landscape of chemistry (Müller and Brown, 1979) is a sum of four Gaussian bumps
# and holes with three minima and two saddles; `systems.mueller_brown()` scales it by 0.05 and adds
# unit noise. Its forces are large (up to 35 where $U < 2$), so the simulation takes small steps.
# `attractors` finds the three minima from a grid of starts, and we start a path in each. The
# deepest minimum (upper left, $U = -7.3$) lies 5.3 below its saddle, more than ten times
# $g^2/2 = 0.5$, and its path stays put; the right one ($U = -5.4$) lies 1.8 below the saddle at
# $(0.21, 0.29)$ and its path rattles around in its basin; the shallow middle one ($U = -4.0$) lies
# only 0.43 below that saddle, and its path leaves within a third of a time unit for the right basin.

# %%
mb = systems.mueller_brown()
gx_mb, gy_mb = np.linspace(-1.5, 1.1, 27), np.linspace(-0.4, 2.0, 25)
starts = np.stack(np.meshgrid(np.linspace(-1.4, 1.0, 6), np.linspace(-0.3, 1.9, 6)), axis=-1).reshape(-1, 2)
minima = attractors(mb.drift, starts)
print("minima of the Müller-Brown landscape:", np.round(minima[np.argsort(minima[:, 0])], 2).tolist())
mb_paths = fimcg.simulate(mb, torch.as_tensor(minima, dtype=torch.float32), dt=0.002, n_steps=pick(2000, 1000),
                          substeps=4, seed=2)
u_mb = field_on_grid(mb.potential, gx_mb, gy_mb)
f_mb = field_on_grid(mb.drift, gx_mb, gy_mb)
low = u_mb < 2.0                    # where the particle can go; above, U climbs to hundreds
assert len(minima) == 3, "three wells"
figures.vector_field_figure(gx_mb, gy_mb, f_mb * low[..., None], potential=np.minimum(u_mb, 2.0), paths=mb_paths,
                            title="Müller-Brown: -grad U where U < 2, and a path from each minimum")

# %% [markdown]
# ### A drift without a potential: the rotating ring
#
# Not every drift is a gradient. `systems.rotating_ring()` pulls the particle onto the unit
# circle and pushes it around,
#
# $$
# \mathbf f(\mathbf x) = -k\,\big(|\mathbf x|^2 - 1\big)\,\mathbf x + \omega\,(-x_2,\ x_1) ,
# $$ (eq-12-ring)
#
# with a state-dependent diagonal noise. If $\mathbf f = -\nabla U$, the mixed derivatives of $U$
# agree, so $\partial f_2/\partial x_1 - \partial f_1/\partial x_2 = 0$ everywhere: the field has no
# *curl*. The first term passes this test; the rotation fails it with a curl of $2\omega$ at every
# point. Equivalently, the work $\oint \mathbf f \cdot \mathrm d\mathbf x$ around the circle is
# $2\pi\omega \neq 0$, while a potential would return to its starting value. There is no landscape
# to draw, and no detailed balance: in the stationary state probability keeps flowing around the
# ring, where a gradient system's paths would be as likely forwards as backwards in time. The
# cell checks the curl on a grid (and that of the coupled double well, a gradient field) and
# measures how fast the paths turn: at about $\omega = 2$ radians per unit time, anticlockwise.

# %%
ring = systems.rotating_ring()                       # omega = 2
gx_r = gy_r = np.linspace(-1.6, 1.6, 17)
f_ring = field_on_grid(ring.drift, gx_r, gy_r)
f_dw = field_on_grid(landscape_2d_sde(coupling=0.75).drift, gx_r, gy_r)   # a gradient field, for contrast


def curl(f, gx, gy):
    """∂f2/∂x1 - ∂f1/∂x2 at the inner grid points (central differences), (ny - 2, nx - 2)."""
    return (np.gradient(f[..., 1], gx, axis=1) - np.gradient(f[..., 0], gy, axis=0))[1:-1, 1:-1]


ring_paths = fimcg.simulate(ring, torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), dt=DT, n_steps=pick(1000, 500),
                            substeps=5, seed=3)
turns = np.diff(np.unwrap(np.arctan2(ring_paths[..., 1].numpy(), ring_paths[..., 0].numpy())), axis=1)
print(f"curl: rotating ring {curl(f_ring, gx_r, gy_r).mean():.3f} (2ω = 4), "
      f"coupled double well {np.abs(curl(f_dw, gx_r, gy_r)).max():.1e}; "
      f"mean angular velocity of the paths {turns.mean() / DT:.2f} radians per unit time")
assert abs(curl(f_ring, gx_r, gy_r).mean() - 4.0) < 1e-3 and np.abs(curl(f_dw, gx_r, gy_r)).max() < 1e-3
assert abs(turns.mean() / DT - 2.0) < 0.5, "on the ring the paths turn at about ω"
figures.vector_field_figure(gx_r, gy_r, f_ring, paths=ring_paths, n_show=1,
                            title="rotating ring: no potential, the paths circle anticlockwise")

# %% [markdown]
# ## The FIM in two dimensions
#
# The FIM answers 2-D paths with the same call as 1-D ones: `fim(paths, dt, q)` with `q` of shape
# `(G, 2)`. Inside, a companion model trained for the plane (`fim.companions[2]`) does what
# chapter 4's model does on a line: it computes classic and nonparametric estimates of the drift
# and of $g^2$, now in both coordinates (kernel moments with a 2-D Gaussian kernel; least-squares
# polynomials of degrees 1, 3, 5 and 7 in *both* coordinates, with all their mixed monomials; a
# cross-validated average of those fits; cross-validated averages of polynomial fits of $g^2$,
# "cv g2"), and a network that weighs them by the context, query point by query point. It was
# started from the 1-D weights and fine-tuned on a 2-D synthetic prior of coupled drifts
# (landscapes of Gaussian wells, polynomial couplings, rotations).
#
# We give it 2-D paths of the double well with a coupling $c = 0.75$, and the same data to
# chapter 3's estimators: binned Kramers–Moyal (12 bins per coordinate), local-linear with
# cross-validated bandwidths, and least squares in the cubic polynomials of both coordinates,
# which contain the true drift {eq}`eq-12-double-well` (the oracle). Errors are relative RMS
# distances at 256 observed states, spread evenly through the data.

# %%
sde = landscape_2d_sde(coupling=0.75)                # barrier 1, noise 1, wells at (±1, ∓0.19)
x0 = torch.tensor([[-1.0, 0.19], [1.0, -0.19]]).repeat(pick(10, 5), 1)
paths = fimcg.simulate(sde, x0, dt=DT, n_steps=pick(499, 299), substeps=5, seed=4)    # (n, T, 2)
flat = paths.reshape(-1, 2)
q = flat[torch.linspace(0, flat.shape[0] - 1, 256).long()]
estimators = {"FIM": lambda p, loc: fim(p, DT, loc),
              "binned KM": lambda p, loc: fimcg.binned_km(p, DT, loc, n_bins=12),
              "local linear (CV)": lambda p, loc: fimcg.local_linear(p, DT, loc, bandwidth="cv"),
              "least squares (cubic)": lambda p, loc: fimcg.least_squares(p, DT, loc, drift_basis=3, diff2_basis=2)}
errors, seconds = {}, {}
for name, est in estimators.items():
    t0 = time.perf_counter()
    with torch.no_grad():
        f_hat, g_hat = est(paths, q)
    seconds[name] = time.perf_counter() - t0
    errors[name] = sde_errors(sde, q, f_hat, g_hat)
print(f"{paths.shape[0]} paths x {paths.shape[1]} observations, dt = {DT}")
print("estimator               drift error   diffusion error   seconds")
for name, e in errors.items():
    print(f"{name:22s} {e['drift_rel']:12.3f} {e['diffusion_rel']:17.3f} {seconds[name]:9.2f}")
assert errors["FIM"]["drift_rel"] < errors["binned KM"]["drift_rel"], "the FIM beats the bin averages"
assert errors["FIM"]["diffusion_rel"] < 0.1, "constant noise: g is easy"

# %% [markdown]
# The oracle, which is told that the drift is a cubic polynomial, is the yardstick, and the FIM,
# which is not told, matches it: with 20 paths of 500 observations its drift error is 0.17 against
# the oracle's 0.20 (0.29 against 0.40 in fast mode, with 10 paths of 300). The local-linear
# estimator follows at 0.40 and takes far longer (seconds to tens of seconds, against a fraction
# of a second), most of it choosing its bandwidths by cross-validation; the bins are coarse (144
# cells, many of them rarely visited: error 0.63). The diffusion, a constant, is easy for all of
# them (errors of 0.03 to 0.07).
#
# The vector fields show where the errors sit. Arrows are drawn only in cells the paths visited
# at least five times (`field_on_grid(..., paths=paths)`), with one arrow scale for all panels.

# %%
gx, gy = np.linspace(-1.6, 1.6, 17), np.linspace(-1.2, 1.2, 13)
fields = {"truth": field_on_grid(sde.drift, gx, gy, paths=paths)}
for name, est in estimators.items():
    fields[name] = field_on_grid(lambda loc, est=est: est(paths, loc), gx, gy, paths=paths)[0]
u_grid = field_on_grid(sde.potential, gx, gy)
fig = figures.vector_fields_figure(gx, gy, {k: fields[k] for k in ("truth", "FIM", "least squares (cubic)")},
                                   potential=u_grid, title="drift fields, one arrow scale")
fig

# %%
figures.vector_fields_figure(gx, gy, {k: fields[k] for k in ("binned KM", "local linear (CV)")}, potential=u_grid,
                             scale=fig.layout.meta["arrow_scale"], title="the nonparametric estimators, same scale")

# %% [markdown]
# Which estimates did the FIM weigh? `fim.explain` returns, at every query point, the weight
# ("gate") of each option; the drift is $\sum_k w_k \hat{\mathbf f}_k$ as in {eq}`eq-04-mixture`.
# Averaged over the 256 states:

# %%
explained = fim.explain(paths, DT, q)
for key in ("drift_gates", "diffusion_gates"):
    mean = {name: float(w.mean()) for name, w in explained[key].items()}
    top = sorted(mean.items(), key=lambda kv: -kv[1])[:4]
    print(f"{key:16s}", ",  ".join(f"{name} {w:.2f}" for name, w in top))
drift_mix = sum(explained["drift_gates"][n][:, None] * explained["drift_options"][n] for n in explained["drift_gates"])
with torch.no_grad():
    f_fim, _ = fim(paths, DT, q)
assert torch.allclose(drift_mix, f_fim, rtol=1e-3, atol=1e-3 * float(f_fim.abs().max())), "the drift is the mixture"

# %% [markdown]
# The drift leans on the cross-validated average of the polynomial fits (about 0.85 of the weight)
# and on the cubic fit (about 0.1), the class that holds the truth: with these data the FIM
# behaves much like a cross-validated polynomial regression in both coordinates. The diffusion leans on the cross-validated averages of polynomial $g^2$ fits ("cv g2",
# with and without the noise-robust variant) and a little on a kernel second moment ("m2 h0.15").
# The mixture of the options with these gates reproduces the FIM's answer (the check above).
#
# ## Coarse-graining a planar video
#
# Now we film the same particle. `render_video` draws a Gaussian blob at the particle's position
# in a $32 \times 32$ image; the camera sees the data's range plus a margin of 10 % on each side.
# `coarse_grain(frames, dt, latent_dim=2)` learns a 2-D latent exactly as chapter 5 learned a 1-D
# one (PCA features, an initialisation by Isomap, then the frame likelihood with the frozen FIM).

# %%
n_video, n_frames = pick((24, 400), (16, 300))
x0 = torch.tensor([[-1.0, 0.19], [1.0, -0.19]]).repeat(n_video // 2, 1)
x = fimcg.simulate(sde, x0, dt=DT, n_steps=n_frames - 1, substeps=5, seed=5)
camera = fimcg.video.camera_range(x)                # the data's range, 10 % margin on each side
frames = fimcg.render_video(x, size=32, blob_width=1.5, noise=0.02, x_range=camera, seed=0)
print(f"frames {tuple(frames.shape)}")
figures.frame_strip_figure(frames, n_frames=8, dt=DT)

# %%
t0 = time.perf_counter()
result = fimcg.coarse_grain(frames, DT, latent_dim=2, steps=pick(20, 3), seed=0, progress=False)
print(f"coarse-grained in {time.perf_counter() - t0:.0f} s: latents {tuple(result.latents.shape)}")
figures.latent_vs_truth_2d_figure(x, result.latents, title="the true plane coloured by each latent coordinate")

# %% [markdown]
# Each latent coordinate varies smoothly over the true plane: the latent is a smooth relabelling
# of the particle's position, bent and rotated, as chapter 10 leads us to expect. To compare its SDE
# with the truth, `compare_to_truth_nd` fits a polynomial map $\mathbf x = h(\mathbf z)$ of total
# degree 5 (its $R^2$ per coordinate says whether $\mathbf x$ is a function of $\mathbf z$, and the
# reverse fit's whether $\mathbf z$ is a function of $\mathbf x$), moves the latent drift and
# diffusion to $\mathbf x$ with {eq}`eq-12-ito` (Jacobian and Hessians of $h$), and compares at 400
# observed states.

# %%
cmp = compare_to_truth_nd(result.latents, x, result.coefficients, sde)
print(f"R² of x from z: {np.round(cmp.alignment.r2, 4)}, of z from x: {np.round(cmp.alignment.inverse_r2, 4)}")
print(f"relative error after alignment: drift {cmp.drift_rel:.3f}, diffusion {cmp.diffusion_rel:.3f}; "
      f"off-diagonal share of the moved noise {cmp.off_diagonal:.3f}")
assert cmp.r2 > 0.98 and cmp.alignment.inverse_r2.min() > 0.98, "the latent is an invertible map of the position"
assert cmp.diffusion_rel < 0.3

# %% [markdown]
# The latent is an invertible map of the position ($R^2$ of at least 0.9995 both ways), and after the
# alignment the drift is within 32 % of the truth and the diffusion within 8 % (27 % and 5 % in
# fast mode, with 16 paths of 300 frames and 3 training steps; with this little data both numbers
# change by up to 0.2 from one simulation to the next). A drift *field* read off 9,600 frames is
# rougher than the diffusion, which every increment informs.
#
# A second check needs no alignment at all. `validate` simulates the latent SDE (`result.sde()`,
# the FIM's coefficients tabulated on a grid over the latent range) from the first state of every
# observed path, for as long as the data run (several model paths per start), and compares, *in the
# latent*, how the data and the model occupy the wells and how often they switch. Starting where the
# data start keeps the comparison fair when the data are not stationary (paths started in the
# wells). The wells are the model drift's stable fixed points; occupations and switching rates do
# not depend on the coordinate, so they are a fair test of a latent that is only defined up to a
# smooth map.

# %%
check = fimcg.validate(result.sde(), result.latents, DT, n_paths=pick(96, 32))
print(check)
assert len(check.data.centres) == 2, "the latent SDE has two wells"
assert check.occupation_tv < 0.3

# %% [markdown]
# Read the table: the latent SDE has the two wells of the data; its switching rate and its
# occupations are those of the model's paths over the data's own time window. A rate counted from
# a dozen switches has a relative standard error of about 30 % ($1/\sqrt{n}$), so only a large
# disagreement means something at this data size; `bench/coarse_grain_2d.py` runs the same check on
# larger scenes, next to the true SDE validated the same way (the noise floor).
# The numbers in the table are in the latent, and they would be the same in any other coordinate.

# %% [markdown]
# ## Identifiability in two dimensions
#
# In one dimension a learned coordinate is defined up to a smooth *monotone* map (chapter 10). In
# two, the family is much larger: any smooth invertible map of the plane relabels the frames
# equally well, rotations, shears and bends included, and {eq}`eq-12-ito` says how drift and
# noise change along the family. Two parts of it matter here.
#
# **The Itô term.** A curved map adds $\tfrac12 \sum_j (H_i)_{jj}\, g_j^2$ to the drift of $Z_i$:
# the bend $z_2 = x_2 + b\,x_1^2$ has $(H_2)_{11} = 2b$, so the drift of $Z_2$ gains $b\, g_1^2$
# everywhere (Exercise 1 checks it on paths). A linear map has no Hessian and no Itô term.
#
# **The noise covariance.** A latent SDE like the FIM's has a *diagonal* diffusion: independent
# noises in its coordinates, $\Sigma_Z = \operatorname{diag}(g_Z^2)$. But {eq}`eq-12-ito` moves the
# true noise to $\Sigma_Z = J\,\operatorname{diag}(g^2)\,J^\top$, and that is diagonal only if the
# map keeps the noise directions apart. A rotation by $\theta$ gives the off-diagonal entry
# $(g_1^2 - g_2^2)\sin\theta\cos\theta$:
#
# - **isotropic noise** ($g_1 = g_2$) stays diagonal under every rotation: a diagonal model holds it
#   exactly, in every rotated coordinate;
# - **anisotropic noise** ($g_1 \ne g_2$) seen in rotated (or sheared) coordinates is *correlated*.
#   A diagonal model cannot hold a correlation: the best it can do is keep the two variances and
#   drop the covariance, which, moved back, is a different noise.
#
# So a model with diagonal diffusion is exact only in coordinates where the noise is uncorrelated;
# `compare_to_truth_nd` therefore compares $\sqrt{\operatorname{diag}\Sigma_x}$ with the true $g$ and
# reports the off-diagonal share of the moved noise separately (`off_diagonal` above: the part of
# the latent's noise that, moved to $\mathbf x$, is correlated while the truth's is not).
#
# The worked example: the catalogue's double well with anisotropic noise $g = (1.0, 0.3)$, seen
# in coordinates rotated by 45°, $\mathbf z = R\,\mathbf x$. `ito_transform_nd` takes the map's
# Jacobian ($R$ at every point) and Hessians (zero) and returns the drift and the noise covariance
# in $\mathbf z$; the increments of simulated, rotated paths check the covariance.

# %%
theta = np.pi / 4
R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
points = torch.tensor([[-1.0, 0.0], [0.0, 0.0], [0.5, 0.3]], dtype=torch.float64)   # any states: the noise is constant
jac, hess = np.broadcast_to(R, (3, 2, 2)), np.zeros((3, 2, 2, 2))
for g in ((1.0, 1.0), (1.0, 0.3)):
    sys_g = systems.double_well_2d(sigma=g)
    _, cov_z = ito_transform_nd(jac, hess, sys_g.drift(points), sys_g.diffusion(points))   # (3, 2, 2)
    corr = cov_z[0, 0, 1] / np.sqrt(cov_z[0, 0, 0] * cov_z[0, 1, 1])
    print(f"g = {g}: noise covariance in z = R x\n{np.round(cov_z[0], 3)}   correlation {corr:.3f}")

sys_aniso, cov_aniso = sys_g, cov_z                                  # the anisotropic one, for the check
x_aniso = fimcg.simulate(sys_aniso, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]).repeat(10, 1), dt=0.001,
                         n_steps=pick(2000, 1000), seed=6).double().numpy()
dz = np.diff(x_aniso @ R.T, axis=1).reshape(-1, 2)                  # increments of z = R x
seen = np.cov(dz.T) / 0.001
print("covariance of the rotated paths' increments / dt:\n", np.round(seen, 3))
assert np.allclose(seen, cov_aniso[0], atol=0.03), "Itô's formula predicts the noise of the rotated coordinates"

# %% [markdown]
# With anisotropic noise the rotated coordinates' noises are correlated (0.83): $z_1$ and $z_2$ are
# each half $x_1$ and half $x_2$, and $x_1$'s large noise moves both alike. A diagonal model fitted in
# $\mathbf z$ keeps the variances, 0.545 on the diagonal, and drops the 0.455 off it; moved back to
# $\mathbf x$ that is $0.545\,I$, an isotropic noise, where the truth is $\operatorname{diag}(1, 0.09)$.
# Isotropic noise stays $I$: nothing is lost. In one dimension this question did not arise (a
# $1 \times 1$ covariance is always diagonal); in two, it restricts which relabellings a
# diagonal-noise latent model can describe exactly: those that keep the noise uncorrelated
# (Exercise 2 watches the FIM, a diagonal model, lose the correlation).

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Take the uncoupled double well with unit noise (`landscape_2d_sde()`) and the
# bend $\mathbf z = \varphi(\mathbf x) = (x_1,\ x_2 + \tfrac12 x_1^2)$. Derive the drift of
# $\mathbf Z$ with {eq}`eq-12-ito`, compute it with `ito_transform_nd`, and check it against a
# least-squares estimate (polynomials of degree 5 in $\mathbf z$) from the mapped paths. How large
# is the Itô term, and does the estimate see it?
#
# :::{dropdown} Solution
# $J = \begin{pmatrix} 1 & 0 \\ x_1 & 1 \end{pmatrix}$, $H_1 = 0$,
# $H_2 = \begin{pmatrix} 1 & 0 \\ 0 & 0 \end{pmatrix}$, so
# $f_{Z,1} = f_1$ and $f_{Z,2} = f_2 + x_1 f_1 + \tfrac12 g_1^2$: the Itô term is a constant $0.5$
# added to the drift of $Z_2$ (and $\Sigma_Z = J J^\top$, correlated: the bend shears the noise).
# In $\mathbf z$ the drift is a polynomial of degree 5 ($x_1 f_1$ is quartic in $z_1$), which the
# least-squares fit contains. The estimate follows Itô's formula: its relative distance to the
# formula, 0.1, is the estimator's own error, while its distance to $J\mathbf f$ alone, without the
# Itô term, is twice that; on average the estimate exceeds $J\mathbf f$ in $Z_2$ by 0.53, the Itô
# term's 0.5.
# :::

# %% tags=["hide-cell"]
bend_sde = landscape_2d_sde()
xb = fimcg.simulate(bend_sde, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]).repeat(10, 1), dt=0.005, n_steps=2000,
                    substeps=2, seed=7).double()
zb = torch.stack([xb[..., 0], xb[..., 1] + 0.5 * xb[..., 0] ** 2], dim=-1)          # z = φ(x)
xq = xb.reshape(-1, 2)[torch.linspace(0, xb.shape[0] * xb.shape[1] - 1, 300).long()]
jac_b = np.zeros((300, 2, 2))
jac_b[:, 0, 0], jac_b[:, 1, 1], jac_b[:, 1, 0] = 1.0, 1.0, xq[:, 0].numpy()
hess_b = np.zeros((300, 2, 2, 2))
hess_b[:, 1, 0, 0] = 1.0
with torch.no_grad():
    f_ito, cov_b = ito_transform_nd(jac_b, hess_b, bend_sde.drift(xq), bend_sde.diffusion(xq))
f_jf = np.einsum("gij,gj->gi", jac_b, bend_sde.drift(xq).numpy())                 # J f, no Itô term
zq = torch.stack([xq[:, 0], xq[:, 1] + 0.5 * xq[:, 0] ** 2], dim=-1)
f_est, _ = fimcg.least_squares(zb, 0.005, zq, drift_basis=5, diff2_basis=2)
f_est = f_est.double().numpy()
scale = np.sqrt(np.mean(f_ito ** 2))
print(f"distance of the estimate to Itô's formula {np.sqrt(np.mean((f_est - f_ito) ** 2)) / scale:.3f}, "
      f"to J f alone {np.sqrt(np.mean((f_est - f_jf) ** 2)) / scale:.3f} (relative RMS)")
print(f"mean of (estimate - J f) in z2: {np.mean(f_est[:, 1] - f_jf[:, 1]):.3f} (Itô term g1²/2 = 0.5)")

# %% [markdown]
# **Exercise 2.** Give the FIM the 45°-rotated paths of the anisotropic double well above. What
# diffusion does it return in $\mathbf z$? Simulate its SDE (`fim.sde(paths, dt)`) and compare the
# correlation of the increments of its paths with that of the data's.
#
# :::{dropdown} Solution
# The FIM's diffusion is diagonal by construction; it returns $g_Z \approx (0.74, 0.74)$ in both
# coordinates, the square roots of the variances 0.545 on the diagonal of $\Sigma_Z$. Its
# simulated increments are uncorrelated (correlation near 0), while the data's have a correlation
# of 0.83: the model keeps the variances and loses the correlation, as {eq}`eq-12-ito` predicts.
# Moved back to $\mathbf x$ its noise is isotropic, where the truth has $g = (1, 0.3)$. A coordinate
# in which a diagonal model is right does exist here: the unrotated one.
# :::

# %% tags=["hide-cell"]
z_rot = torch.as_tensor(x_aniso[:, ::10] @ R.T, dtype=torch.float32)    # observed every 0.01
with torch.no_grad():
    _, g_rot = fim(z_rot, DT, z_rot.reshape(-1, 2)[::97])
fim_sde = fim.sde(z_rot, DT)
z_model = fimcg.simulate(fim_sde, z_rot[:, 0], dt=DT, n_steps=z_rot.shape[1] - 1, substeps=5, seed=8).double()


def increment_correlation(p):
    d = np.diff(np.asarray(p), axis=1).reshape(-1, 2)
    return float(np.corrcoef(d.T)[0, 1])


print(f"FIM diffusion in z: mean {g_rot.mean(0).numpy().round(3)} (sqrt of the diagonal of Σ_z: "
      f"{np.sqrt(np.diag(cov_aniso[0])).round(3)})")
print(f"correlation of the increments: data {increment_correlation(z_rot):.3f}, "
      f"the FIM's SDE {increment_correlation(z_model):.3f}")

# %% [markdown]
# **Exercise 3.** Vary the noise of the double well: $g = 0.8$, $1.0$ and $1.3$. How does the
# switching rate change, and how does it compare with the Arrhenius factor $e^{-2h/g^2}$? Does the
# FIM read the noise correctly from paths of each?
#
# :::{dropdown} Solution
# The rate grows from 0.040 switches per unit time at $g = 0.8$ to 0.111 at $g = 1$ and 0.236 at
# $g = 1.3$, close to the Arrhenius factor itself (0.044, 0.135 and 0.306 for $h = 1$). Kramers'
# formula in two dimensions {cite:p}`kramers1940brownian` explains the prefactor of about 0.9: the
# unstable rate at the saddle over $2\pi$, times the square root of the ratio of the Hessians'
# determinants, $\frac{4}{2\pi}\sqrt{\det\operatorname{diag}(8, 4)\,/\,|\det\operatorname{diag}(-4, 4)|}
# = 0.90$. It predicts 0.040, 0.122 and 0.275: right at $g = 0.8$, and too high at $g = 1.3$,
# where the barrier is only 1.2 times $g^2/2$ and the formula, made for high barriers, no longer
# holds. The FIM reads $g$ to within 3 % at every noise level: a constant diffusion is estimated
# from every increment, wells or not. (In fast mode the rates come from a few dozen switches and
# scatter more.)
# :::

# %% tags=["hide-cell"]
for g in (0.8, 1.0, 1.3):
    d = landscape_2d_data(noise=g, n_paths=N_PATHS, t_max=T_MAX, seed=9)
    p_g = fimcg.simulate(landscape_2d_sde(noise=g), x0[:10], dt=DT, n_steps=400, substeps=5, seed=10)
    with torch.no_grad():
        _, g_hat = fim(p_g, DT, p_g.reshape(-1, 2)[::41])
    print(f"g = {g}: {d.switches_per_time:.3f} switches per unit time (e^(-2/g²) = {np.exp(-2 / g ** 2):.3f}); "
          f"FIM diffusion {g_hat.mean(0).numpy().round(3)}")

# %% [markdown]
# ## Where next
#
# Every estimator of chapter 3 already takes paths of shape `(n, T, 2)`: compare them in the plane
# as the amount of data grows, where bins and kernels thin out with the square of their width. And carry the last section's
# lesson to every 2-D latent you learn: it is one of many equivalent coordinates, some of them
# coordinates in which a diagonal-noise model cannot be right, so judge it by what does not depend
# on the coordinate: core occupations, switching rates, first-passage times (chapter 10).
