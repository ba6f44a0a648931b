"""Coarse-graining video around a frozen estimator (by default the pretrained FIM).

``coarse_grain(frames, dt)`` learns an encoder from frames to a low-dimensional latent ``z`` and a
decoder back, such that the latent paths are well described by the SDE that a *frozen* estimator
infers from them: ``dZ = f̂(Z) dt + ĝ(Z) dW`` with ``(f̂, ĝ) = estimator(latent paths, dt, locations)``.
Only the encoder and decoder are trained; gradients flow through the frozen estimator into the
encoder.

The loss
--------
For frames ``y[p, t]`` (path p, time t), PCA features ``u = P(y)`` (a fixed linear projection),
latents ``z = N(E(u))`` (``E`` an MLP, ``N`` the anchoring normalisation) and the decoder ``D``::

    L = w_rec · L_rec + w_sim · L_sim

    L_rec = sum |D(z) - u|^2 / sum |u|^2                     (relative reconstruction error)

    L_sim = mean over sampled transitions (p, t) of                        (likelihood.space="frames")
            1/2 [ (δ - f̂(z_t) dt)^T (ĝ(z_t)^2 dt)^-1 (δ - f̂(z_t) dt) + log det(2π ĝ(z_t)^2 dt) ]
            + 1/2 log det(J^T J)
       with J = ∂D/∂z at z_t, δ = (J^T J)^-1 J^T (u[p, t+1] - u[p, t]),
       and (f̂, ĝ) = estimator(z, dt, {z_t}) on the encoded paths (the frozen FIM by default).

* ``L_sim`` is the Euler-Maruyama likelihood of the *observed frame increments* under the latent
  SDE the frozen estimator reads off the encoded paths, pushed into frame space through the decoder's
  local linearisation: δ is the latent step the frames imply, J the decoder's Jacobian, and the
  log-volume term makes it the density of the frames' displacement along the learned manifold.
  It is invariant under a smooth re-parameterisation of the latent (f̂, ĝ, δ and J transform
  together), so it cannot be lowered by squashing the latent; it is lowered when the estimator's SDE
  describes how the frames actually move, and it rises with encoder noise (noisy latents give the
  estimator a larger ĝ). Gradients reach the encoder through the estimator (its context is the
  encoded paths) and through the query points z_t.
* ``LikelihoodConfig(space="latent")`` instead scores the latent increments Δz themselves (the naive choice). With a
  standardised latent that likelihood can be lowered by distorting the coordinate ("sticky" latents,
  flat inside the wells, steep at the barrier, have small local diffusion), and we measured that it
  does so; it is kept for comparison.
* Anchoring: ``N`` standardises the latent to zero mean and unit variance over the whole data set
  at every step (batch normalisation without the affine part, computed on all frames), so the
  offset and scale cannot collapse or drift. The FIM is equivariant to them, the likelihood is not.
* Initialisation (before the first step): the encoder is fitted to Isomap coordinates of the PCA
  features (:func:`fimcg.coarse_graining.autoencoder.isomap_coordinates`), the arc length along the frames' curve,
  and the decoder (a cubic spline curve in PCA space for a 1-D latent) to invert it by exact least
  squares. The decoder is then frozen: it fixes the parameterisation, and the refinement adjusts the
  encoder only, with few Adam steps at a small learning rate.
* Geometry finds the largest-variance manifold of the frames, which is the slow variable only when
  nothing else moves. The geometric coordinate is therefore scored with the slow initialisation's
  criterion (:func:`fimcg.analysis.markov.predictive_information` with the frozen estimator, on all
  paths, when they are at least 10 longest judge lags long), and a
  :class:`~fimcg.coarse_graining.slow.NoSlowVariableWarning` says when it predicts nothing of its own
  future. ``InitConfig(method="slow")`` instead starts on
  the candidate coordinate (geometric, TICA, kinetic map or a time-lagged encoder, and the winner
  of these averaged over time) whose SDE, as the frozen estimator infers it on held-out paths, best
  predicts the coordinate's future (:mod:`fimcg.coarse_graining.slow`, chapter 8).
* What the refinement does (``bench/coarse_grain.py``): on noisy frames it makes the latent less noisy
  and the diffusion more accurate (e.g. diffusion relative RMSE 0.10 -> 0.07 at pixel noise 0.02);
  on clean frames the Isomap latent is already precise to ~1e-3 and the refinement costs a little
  diffusion accuracy (0.012 -> 0.03). ``steps=0`` gives the initialised encoder with the zero-shot
  estimate.

Encoder precision: latent noise of standard deviation s adds about ``2 s^2 / dt`` to an estimated
g^2. :meth:`CoarseGrainResult.precision` estimates s from the data alone (negative lag-1
autocovariance of the drift-corrected increments) and reports the implied g^2 inflation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable
import torch
from .._validation import check_int, check_positive
from .result import CoarseGrainResult
from .data import as_estimator, check_latent_dim, prepare_frames
from .losses import frame_nll, latent_nll
from .options import AutoencoderConfig, InitConfig, LikelihoodConfig, LossWeights, check_option_types
from .trainer import Trainer, train_autoencoder
from ..io.recording import DEFAULT_CHUNK_MB


#: recordings whose likelihood one training step of a collection averages (chosen at random each step)
RECORDINGS_PER_STEP = 4


def coarse_grain(
    frames: Any,
    dt: float,
    *,
    latent_dim: int = 1,
    estimator: Any = None,
    steps: int = 20,
    lr: float = 1e-4,
    seed: int = 0,
    autoencoder: AutoencoderConfig = AutoencoderConfig(),
    init: InitConfig = InitConfig(),
    weights: LossWeights = LossWeights(),
    likelihood: LikelihoodConfig = LikelihoodConfig(),
    device: str | torch.device = "cpu",
    checkpoint: str | Path | None = None,
    resume: bool = True,
    checkpoint_every: int = 10,
    progress: bool = True,
    callback: Callable[[int, "CoarseGrainResult"], Any] | None = None,
    eval_every: int = 0,
    chunk_mb: float = DEFAULT_CHUNK_MB,
) -> CoarseGrainResult:
    """Learn a latent coordinate from video and its SDE from a frozen estimator.

    Args:
        frames: video, (n_paths, T, H, W) or (n_paths, T, C, H, W), any image size, finite; each path
            needs at least 10 frames and the whole set at least 100 transitions. Or a
            :class:`fimcg.io.Recording` (:func:`fimcg.open_recording`: video files, TIFF, npy, zarr,
            HDF5, dask arrays), streamed: a random subset of frames fits the PCA, then every frame
            is read once, ``chunk_mb`` at a time, into PCA features (a video is decoded once more
            for each of these passes); the frames are never held in memory together; files of different lengths are cut into paths of the shortest one's length
            (``result.config["recording"]`` says where each path starts). A collection of recordings
            (:func:`fimcg.io.open_collection`) learns one encoder for all of them, each recording
            scored under its own SDE (the FIM reads each recording's paths as its own context; a
            few recordings per step); ``result.coefficients(loc, recording=k)``, ``result.pooled()``
            and ``result.infer(new_frames, dt)`` then give every recording's SDE.
        dt: time between consecutive frames (> 0).
        latent_dim: dimension of the latent (the shipped FIM supports 1 and 2).
        estimator: frozen ``(paths, dt, locations) -> (drift, diffusion)`` differentiable in ``paths``,
            or a :class:`fimcg.fim.FIM`; default :func:`fimcg.load_fim` (the shipped weights).
        steps: optimisation steps after the initialisation (each: one estimator call on the latent
            paths, forward and backward). ``0`` returns the initialised autoencoder.
        lr: Adam learning rate of the refinement.
        seed: seeds the networks, the subsamples and the query sampling.
        autoencoder: the networks (:class:`~fimcg.coarse_graining.options.AutoencoderConfig`).
        init: how they start (:class:`~fimcg.coarse_graining.options.InitConfig`): ``method="isomap"``
            (geometry) or ``method="slow"`` (the candidate coordinate the frozen estimator predicts
            best, :mod:`fimcg.coarse_graining.slow`; the result's ``config["init"]["candidates"]`` lists
            them with their scores); not ``"random"``: the frozen decoder pins the latent's parameterisation.
        weights: weights of the reconstruction and likelihood terms (module doc).
        likelihood: where and on how many transitions the likelihood is measured
            (:class:`~fimcg.coarse_graining.options.LikelihoodConfig`).
        device: where to train ("cpu", "cuda", ...).
        checkpoint: file for atomic training checkpoints (every ``checkpoint_every`` steps and at
            the end); with ``resume=True`` an existing checkpoint of the same data and options is
            continued instead of starting over.
        progress: show a tqdm progress bar.
        callback, eval_every: if given, ``callback(step, result)`` is called after the
            initialisation and every ``eval_every`` steps with a provisional result (sharing the live
            networks: use it at once, do not keep it); its time is excluded from ``history``.
        chunk_mb: megabytes of frames read at a time (the memory the frames need, whatever their number).

    Returns:
        :class:`CoarseGrainResult`.

    Raises:
        ValueError: bad frames (rank, NaN/inf, too few, constant), ``dt <= 0``, or a ``latent_dim``
            the estimator does not support.
        CheckpointMismatch: ``resume`` found a checkpoint of other data or options (a ValueError).
        TrainingDiverged: the loss became NaN/inf (the last good checkpoint is kept).
    """
    data = prepare_frames(frames)
    dt = check_positive(dt, name="dt")
    steps = check_int(steps, name="steps", minimum=0)
    checkpoint_every = check_int(checkpoint_every, name="checkpoint_every", minimum=1)
    eval_every = check_int(eval_every, name="eval_every", minimum=0)
    lr = check_positive(lr, name="lr")
    chunk_mb = check_positive(chunk_mb, name="chunk_mb")
    check_option_types(autoencoder=autoencoder, init=init, weights=weights, likelihood=likelihood)
    if init.method == "random":
        raise ValueError("coarse_grain needs InitConfig(method='isomap') or method='slow', got 'random': the frozen "
                         "decoder must come from the initialisation")
    device = torch.device(device)
    if estimator is None:
        from ..fim.weights import load_fim
        estimator = load_fim(device=device)
    est, info = as_estimator(estimator)
    latent_dim = check_latent_dim(latent_dim, info)
    lk = likelihood
    config = {"method": "coarse_grain", "latent_dim": latent_dim, "estimator": info["name"], "steps": steps,
              "lr": lr, "rec_weight": weights.reconstruction, "sim_weight": weights.likelihood,
              "jacobian": lk.jacobian, "sim_space": lk.space, **autoencoder.as_dict(latent_dim), "n_queries": lk.n_queries,
              "context_size": lk.context_size, "init_method": init.method, "init_steps": init.steps,
              "isomap_points": init.points, **({"init_lag": init.lag, "init_components": init.components,
                                               "init_judge_lags": list(init.judge_lags),
                                               "init_predictive_lags": list(init.predictive_lags),
                                               "init_predictive_steps": init.predictive_steps,
                                               "init_smoothing_windows": list(init.smoothing_windows),
                                               "init_smoothing_steps": init.smoothing_steps,
                                               "init_judge": init.judge} if init.method == "slow" else {}),
              "seed": seed, **data.facts(dt)}

    groups = data.groups

    def one_recording(run: Trainer, z: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        if lk.space == "frames":
            return frame_nll(z, feats, dt, est, run.dec, run.gen, lk.n_queries, lk.context_size)
        return latent_nll(z, dt, est, run.gen, lk.n_queries, lk.context_size, run.dec if lk.jacobian else None)

    def sim_loss(run: Trainer, z: torch.Tensor) -> torch.Tensor:
        if weights.likelihood == 0:
            return torch.zeros((), device=z.device)
        if groups is None:
            return one_recording(run, z, run.feats)
        # a collection: each recording is its own context (its own SDE); a few recordings per step
        u = run.feats.reshape(z.shape[0], z.shape[1], -1)
        chosen = torch.randperm(len(groups), generator=run.gen)[:RECORDINGS_PER_STEP].tolist()
        terms = []
        for k in chosen:
            idx = torch.as_tensor(groups[k], device=z.device)
            terms.append(one_recording(run, z[idx], u[idx].reshape(-1, u.shape[-1])))
        return torch.stack(terms).mean()

    def make_result(run: Trainer, z: torch.Tensor, history: list[dict], cfg: dict) -> CoarseGrainResult:
        return CoarseGrainResult(run.enc, run.dec, dt, z, history, cfg, est)

    # the decoder is frozen after the initialisation: it pins the parameterisation of the latent, so
    # the likelihood can refine the encoder but cannot re-parameterise the latent
    return train_autoencoder(data, dt, config, fmt="fimcg-coarse-grain-train-1", device=device,
                              checkpoint=checkpoint, resume=resume, init=init.method, train_decoder=False,
                              sim_loss=sim_loss, make_result=make_result, checkpoint_every=checkpoint_every,
                              progress=progress, desc="coarse-graining", callback=callback, eval_every=eval_every,
                             judge=est, init_config=init, chunk_mb=chunk_mb)
