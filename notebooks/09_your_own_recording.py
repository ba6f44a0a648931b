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
# # 9. Your own recording
#
# *About 30 minutes. Prerequisites: chapter 5 (coarse-graining) and chapter 8 (the slow variable).*
#
# **What you will learn**
#
# - how to take a recording you made (video files, an image stack, an array) through fimcg, in
#   Python (`fimcg.open_recording`) and on the command line (`fimcg coarse-grain`, `fimcg estimate`);
# - the three knobs that matter: the **time step** `dt` (and `stride`), the **crop**, the
#   **downsampling**; and why each matters for the SDE you get;
# - what to check before you trust the result.
#
# **The equations that matter.** The SDE is read off increments over one frame step,
# $\Delta t = k\,\delta$ for frames $\delta$ apart in the file and a stride $k$. Its units are
# those of $\Delta t$: a wrong frame rate rescales the drift and $g^2$ by the same factor, and
# nothing in the frames can tell. Noise of standard deviation $s$ in the latent adds
#
# $$
# \hat g^2 \approx g^2 + \frac{2 s^2}{\Delta t},
# $$ (eq-09-noise)
#
# so by {eq}`eq-09-noise` a larger stride lowers the noise's share of $\hat g^2$, while a stride
# that makes $\Delta t$ longer than the fast motions' correlation times still resolves the slow
# variable but no longer its short-time dynamics (the Euler step $\Delta X \approx f\,\Delta t +
# g\,\Delta W$ stops being accurate when $f$ changes over one step). Averaging $k \times k$ pixel
# blocks divides independent pixel noise by $k$ and the work by $k^2$.

# %%
import json
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

import fimcg
from fimcg.analysis.alignment import compare_to_truth, latent_r2
from fimcg.app import figures
from fimcg.app.cli import main as fimcg_cli
from fimcg.widgets import pick, recording_explorer, recording_preview, recording_slider_figure, show

torch.set_num_threads(1)
work = Path(tempfile.mkdtemp(prefix="fimcg-ch9-"))  # stands for your own folder of recordings

# %% [markdown]
# ## A recording to start from
#
# We make the recording ourselves, so that we can check the answer: four videos of the reference
# particle (chapter 2), each 10 time units (4 in fast mode) at 100 frames per second, written as
# ordinary H.264 mp4 files (8-bit, lossy), as a camera would. To make it realistic the camera also burns a **frame
# counter** into the top-left corner: a small patch whose brightness steps with every frame. From
# here on we use only the files, as you would with yours; the hidden positions `x` are kept aside
# for checking.

# %%
sde = fimcg.systems.double_well()
n_frames = pick(1001, 401)
x = fimcg.simulate(sde, torch.tensor([[-1.0], [1.0], [-0.5], [0.5]]), dt=0.002, n_steps=5 * (n_frames - 1),
                   seed=1)[:, ::5]                                   # hidden positions, every 0.01
frames = fimcg.render_video(x, size=32, noise=0.02, seed=2)          # (4, T, 32, 32) in [0, 1]
counter = (torch.arange(n_frames) % 10).float() / 9                  # steps 0, 1/9, ..., 1, 0, ...
frames[:, :, :5, :5] = counter[None, :, None, None]                  # the burnt-in frame counter
files = []
for i, video in enumerate(frames):
    path = work / f"particle_{i}.mp4"
    iio.imwrite(path, (video.clamp(0, 1) * 255).round().to(torch.uint8).numpy(), fps=100, codec="libx264",
                macro_block_size=1)
    files.append(path)
print([f"{p.name}: {p.stat().st_size / 1024:.0f} kB" for p in files])

# %% [markdown]
# ## Open it
#
# `open_recording` reads the files' headers and counts their frames (decoding each video once);
# after that it reads pixels only when asked, a chunk at a time. Each file is one path. The frame rate comes from the container, so the
# time step is known; integer pixels are scaled to [0, 1] and colour is turned to grey.

# %%
rec = fimcg.open_recording(*files)
dt = 1 / rec.fps
print(rec, f"-> dt = {dt:g}")
first = next(rec.chunks(0, stop=40))                                  # (40, 32, 32) float32
figures.frame_strip_figure(torch.from_numpy(first)[None], n_frames=8, dt=dt,
                           title="file 0 as fimcg reads it: the particle, and the counter top left")

# %% [markdown]
# ## Coarse-grain it, and look before you trust
#
# `coarse_grain` accepts the recording as it accepts a tensor, and streams it: a random subset of
# frames fits the PCA, then every frame is read once, `chunk_mb` megabytes at a time, into PCA
# features. The frames are never all in memory (the benchmark `bench/own_recording.py` runs 3 GB of
# frames this way in under 1 GB of memory). Everything after the features is chapter 5.

# %%
raw = fimcg.coarse_grain(rec, dt, steps=pick(20, 5), seed=0, progress=False)
r2_raw = latent_r2(raw.latents.reshape(-1), x.reshape(-1))
print(f"whole frames: R² of the latent against the hidden position {r2_raw:.4f}")
print("PCA variance explained by the first components:", np.round(raw.encoder.pca.explained[:4].numpy(), 3))

# %% [markdown]
# You would not have the hidden position to check against, so look at what the frames' largest
# variations are. The first principal direction, drawn as an image, lights up the top-left
# corner: the largest variance in these frames is the counter, not the particle. Geometry still
# finds the particle here, because Isomap measures distances *along* the frames' manifold: the
# counter takes ten values (ten clusters of frames), while the particle traces a long continuous
# curve. PCA alone would have been fooled, and a larger or smoothly varying overlay could fool
# Isomap too. Always look at the principal directions and at a few latent paths.

# %%
first_direction = raw.encoder.pca.components[:, 0].reshape(32, 32)
corner = float((first_direction[:5, :5] ** 2).sum() / (first_direction ** 2).sum())
print(f"share of the first principal direction in the 5x5 corner: {corner:.2f}")
assert corner > 0.5, "the largest variation of the frames is the counter"
assert r2_raw > 0.95, "Isomap's geodesic coordinate still follows the particle"
figures.frame_strip_figure(first_direction.abs()[None, None], n_frames=1,
                           title="|first principal direction|: the counter, top left")

# %% [markdown]
# ## Crop: keep the pixels where the system is
#
# `crop=(top, bottom, left, right)` keeps rows `top:bottom` and columns `left:right` of every
# frame. In JupyterLab, the explorer below shows the frames as fimcg will read them and where they
# vary most, for any crop, downsampling and stride; move the rows' lower bound past the counter and
# watch the first principal direction move to the particle's line.

# %%
show(recording_explorer, files, dt=dt)

# %%
previews = [recording_preview(files, crop=c, n_preview=pick(400, 200)) for c in (None, (6, 32, 0, 32))]
recording_slider_figure(previews, ["whole frames", "rows 6:32"], slider_title="crop: ", dt=dt)

# %% [markdown]
# Cropping the counter away leaves the particle alone in the frames.

# %%
cropped = fimcg.open_recording(*files, crop=(6, 32, 0, 32))
res = fimcg.coarse_grain(cropped, dt, steps=pick(20, 5), seed=0, progress=False)
cmp = compare_to_truth(res.latents, x, res.coefficients, sde)
print(f"cropped: R² {cmp.r2:.4f} (whole frames {r2_raw:.4f}); drift error {cmp.drift_rel:.3f}, diffusion error "
      f"{cmp.diffusion_rel:.3f} (relative RMSE after monotone alignment)")
assert cmp.r2 > 0.98 and cmp.r2 > r2_raw, "with the counter cropped away the latent follows the particle closer"
figures.paths_figure(res.latents[:2, :200], dt, n_show=2, title="cropped: the latent's first 2 s")

# %% [markdown]
# The drift error is large for a reason that has nothing to do with the pixels: four videos of
# ten time units hold a few dozen crossings of the barrier, and the drift away from the wells'
# bottoms is seen rarely. More recordings, not more pixels, would shrink it.

# %% [markdown]
# ## Stride and downsampling
#
# `stride=k` keeps every k-th frame (the time step becomes $k\,\delta$); `downsample=k` averages
# $k \times k$ pixel blocks. Both make a run cheaper. The table shows what they cost in accuracy on
# this recording: the precision check (`result.precision()`, chapter 5) estimates from the data
# alone how much latent noise inflates $\hat g^2$.

# %%
import warnings  # noqa: E402

rows = []
for stride, down in [(1, 1), (1, 2), (2, 1), (4, 1)]:
    r = fimcg.open_recording(*files, crop=(6, 32, 0, 32), stride=stride, downsample=down)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fimcg.coarse_grain(r, stride * dt, steps=pick(20, 5), seed=0, progress=False)
    c = compare_to_truth(out.latents, x[:, ::stride], out.coefficients, sde)
    rows.append({"stride": stride, "downsample": down, "frame": "x".join(map(str, r.frame_shape)),
                 "R²": round(c.r2, 4), "drift err": round(c.drift_rel, 3), "diffusion err": round(c.diffusion_rel, 3),
                 "g² inflation (from data)": round(out.precision()["g2_inflation_rel"][0], 3),
                 "'not slow' warning": any(issubclass(w.category, fimcg.coarse_graining.NoSlowVariableWarning)
                                           for w in caught)})
for row in rows:
    print(row)

# %% [markdown]
# Downsampling costs nothing here: the blob is wider than a pixel, and the PCA already averages
# pixel noise. The precision check finds no latent noise worth mentioning in any row, so the
# diffusion error that grows with the stride is not noise: it is the time step. At stride 4,
# $\Delta t = 0.04$, and estimators that read $g^2$ off single increments are biased by the drift's
# change over one step. With a long stride `coarse_grain` may also warn that the latent is not
# slow: its judge lags are counted in *frames* (1, 5 and 20), and 20 frames are now 0.8 time units,
# as long as the particle's own memory (chapter 8). Pass shorter lags,
# `init=InitConfig(judge_lags=(1, 2, 5))` (`--judge-lags 1 2 5` on the command line), when your
# frames are far apart.

# %% [markdown]
# ## On the command line
#
# The same in one command, for a folder of recordings: `fimcg coarse-grain FILE... --out DIR`
# writes `report.html` (open it in a browser), `results.json`, `latents.npy` (paths, frames, latent
# dimension) and the saved result. If it stops, the same command resumes from its checkpoint.
# Here we call the command-line entry point from Python; in a terminal, drop the brackets.

# %%
out_dir = work / "report"
code = fimcg_cli(["coarse-grain", *map(str, files), "--crop", "6", "32", "0", "32", "--steps", str(pick(20, 5)),
                  "--out", str(out_dir), "--no-progress"])
results = json.loads((out_dir / "results.json").read_text())
print("exit code", code, "| files written:", sorted(p.name for p in out_dir.iterdir()))
print("dt", results["data"]["dt"], "from", results["data"]["dt_from"])
print("equation:", results["equation"])
print("encoder noise inflates g² by", f"{100 * results['coarse_grain']['g2_inflation_rel']:.1f}%;",
      "warnings:", results["warnings"] or "none")
assert code == 0 and (out_dir / "report.html").is_file()

# %% [markdown]
# ## What to check before you trust the result
#
# The report ends with these checks; each is something a wrong setting shows.
#
# 1. **What varies most, and what the latent does.** Draw the first principal directions as
#    images (`result.encoder.pca.components`): they show what owns the pixels (the counter above).
#    The latent's paths should look like the system, not like a sawtooth, a drift or flicker.
# 2. **No warning that nothing is slow** (chapter 8): if the latent predicts nothing of its own
#    future, crop, try `--init slow`, or, when the frames are far apart, shorter `--judge-lags`.
# 3. **Encoder noise**: `g2_inflation_rel` above about 0.2 means the diffusion is biased up;
#    downsample, or a longer stride.
# 4. **The time step**: the frame rate in the file is sometimes wrong (a screen capture, a
#    re-encoded video); the drift and $g^2$ scale with it. Give `--dt` when in doubt.
# 5. **Enough data**: paths of at least a few hundred frames, and several visits to every state
#    you want the SDE at; the discovered equation's validation (switching rate, first passages,
#    stationary distribution) says whether the SDE reproduces the recording.

# %% [markdown]
# ## Trajectories instead of frames
#
# If you already have the variable (a tracked particle, a collective variable of a simulation),
# `fimcg estimate` skips the encoder: it reads CSV tables (a path-id column, a time column, the
# state) or `.npy` arrays and writes the FIM's and the classic estimators' drift and diffusion, a
# discovered equation and the report. Times may be irregular: each increment is weighed by its own
# step. Here: the hidden positions of our four videos, tracked at irregular times.

# %%
gen = np.random.default_rng(0)
lines = ["particle,time,position"]
for p in range(4):
    keep = np.sort(gen.choice(n_frames, size=n_frames // 2, replace=False))
    lines += [f"{p},{k * dt:.4f},{float(x[p, k, 0]):.5f}" for k in keep]
(work / "tracks.csv").write_text("\n".join(lines) + "\n")
code = fimcg_cli(["estimate", str(work / "tracks.csv"), "--out", str(work / "estimate"), "--no-progress"])
est = json.loads((work / "estimate" / "results.json").read_text())
print("exit code", code, "|", est["data"]["transitions"], "transitions, steps",
      {k: round(v, 4) if isinstance(v, float) else v for k, v in est["data"]["steps"].items()})
print("equation:", est["equation"])
assert code == 0

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Coarse-grain the whole frames (counter included) with `init=InitConfig(method="slow")`
# (chapter 8) instead of cropping. Which candidate does the slow initialisation choose, and does it
# follow the particle? Why would you still crop?
#
# :::{dropdown} Solution
# It picks a slow candidate, not geometry: on a full run, the kinetic map of the two slowest TICA
# components, sharpened by averaging over time (`slow Isomap 2 (smoothed 5)`, chapter 8's step 4). It
# follows the particle (R² about 0.99, a little below geometry's 0.9985). The counter is periodic, so it *looks* slow to an autocorrelation (it is perfectly
# correlated with itself 10 and 20 frames later), but no SDE can predict a sawtooth: the frozen
# FIM's SDE for it knows nothing of its future and the judge ranks it low. Crop anyway when you
# can: a nuisance you remove costs nothing, while one the method must see past costs precision
# (chapter 8's benchmark: scenes with a distractor reach drift errors several times those of the
# clean scene).
# :::

# %% tags=["hide-cell"]
from fimcg.coarse_graining import InitConfig  # noqa: E402

slow = fimcg.coarse_grain(rec, dt, init=InitConfig(method="slow"), steps=pick(20, 5), seed=0, progress=False)
print(f"whole frames, slow init: R² {latent_r2(slow.latents.reshape(-1), x.reshape(-1)):.3f} "
      f"(chosen: {slow.config['init']['chosen']})")

# %% [markdown]
# **Exercise 2.** Tell the command a wrong frame rate: run `fimcg coarse-grain` on the cropped
# files with `--dt 0.02` (twice the truth). What happens to the discovered equation? Could any
# check in the report have caught it?
#
# :::{dropdown} Solution
# Every coefficient of the drift and of $g^2$ is halved: the same increments are divided by a time
# step twice as long. The latent, its R² and every check in the report are unchanged, because
# nothing in the frames knows the time unit; only what you know about the recording (the camera's
# frame rate) can. This is why the report states where dt came from.
# :::

# %% tags=["hide-cell"]
fimcg_cli(["coarse-grain", *map(str, files), "--crop", "6", "32", "0", "32", "--dt", "0.02", "--steps",
           str(pick(20, 5)), "--out", str(work / "slow-clock"), "--no-progress"])
print("dt 0.02:", json.loads((work / "slow-clock" / "results.json").read_text())["equation"])
print("dt 0.01:", results["equation"])

# %% [markdown]
# **Exercise 3.** Save the cropped frames as one `.npy` stack (paths, frames, height, width) with
# `np.save`, and coarse-grain it with `chunk_mb=0.1` (about 30 frames at a time). Is the result the
# same as from the mp4 files? As from the frames in memory?
#
# :::{dropdown} Solution
# From the `.npy` stack and from the same frames in memory the latents agree exactly: streaming
# changes how the frames are read, not what is computed (the PCA is fitted on the same random
# subset, and the features of every frame are the same). The mp4 files give a slightly different
# latent, because H.264 changed the pixels (8-bit, lossy): compare `cropped.to_numpy()` with the
# rendered frames.
# :::

# %% tags=["hide-cell"]
stack = cropped.to_numpy()                                            # (4, T, 26, 32), decoded from the mp4s
np.save(work / "stack.npy", stack)
a = fimcg.coarse_grain(fimcg.open_recording(work / "stack.npy"), dt, steps=2, seed=0, progress=False, chunk_mb=0.1)
b = fimcg.coarse_grain(torch.from_numpy(stack), dt, steps=2, seed=0, progress=False)
print("npy stack vs in memory, largest latent difference:", float((a.latents - b.latents).abs().max()))
print("largest pixel change by H.264:", float(np.abs(stack - frames[:, :, 6:, :].numpy()).max()))

# %% [markdown]
# ## Where next
#
# `fimcg coarse-grain --help` lists every option (HDF5 datasets, zarr stores, colour channels,
# layouts of arrays); `fimcg.open_recording` is the same in Python, and `coarse_grain` accepts a
# dask array through it. When more than one thing in your frames is slow, chapter 8 explains why a
# one-dimensional latent cannot hold both.
