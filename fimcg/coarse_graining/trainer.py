"""One trainer for the decoupled and the joint method: initialisation, optimisation loop, atomic checkpoints, resume.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch
from torch import nn

from .autoencoder import Encoder, FramePCA, SplineDecoder, isomap_coordinates
from .data import FrameData
from ..io.recording import DEFAULT_CHUNK_MB
from .options import InitConfig
from ..analysis.markov import predictive_information
from .slow import (NOTHING_SLOW_NATS, NoSlowVariableWarning, Split, judge_candidates, rank_candidates,
                   slow_candidates, smoothed_candidate)
from ..io.checkpoint import load_checkpoint, save_checkpoint
from .result import CoarseGrainResult, build_networks


R = TypeVar("R", bound="CoarseGrainResult")  # the result type a training run returns


#: the geometric coordinate is judged only on paths at least this many times the longest judge lag
JUDGE_MIN_LAGS = 10


class TrainingDiverged(RuntimeError):
    """Raised when the training loss becomes NaN/inf; the last good checkpoint is kept."""


class CheckpointMismatch(ValueError):
    """Raised when ``resume`` finds a checkpoint written for other data, options or another method."""


def initialise_autoencoder(enc: Encoder, dec: nn.Module, feats: torch.Tensor, latent_dim: int, *, seed: int,
                           init_steps: int, lr: float, max_points: int, batch: int = 4096,
                           targets: torch.Tensor | None = None,
                           net_state: dict[str, torch.Tensor] | None = None) -> dict:
    """Initialise: encoder regressed (L-BFGS) on target coordinates of a subsample of frames (Isomap
    coordinates of the features, or ``targets`` (N, latent_dim) given for every frame), then the
    decoder fitted on all frames to invert the encoder (exact least squares for the spline decoder,
    Adam for the MLP decoder); see the module doc of :mod:`fimcg.coarse_graining.decoupled`.
    With ``net_state`` (an encoder network that already computes the coordinate, e.g. a predictive
    candidate of :mod:`.slow`) the encoder is loaded from it instead of regressed."""
    if targets is None:
        idx, coords = isomap_coordinates(feats, latent_dim, seed=seed, max_points=max_points)
    else:
        gen = np.random.default_rng(seed)
        idx = torch.as_tensor(np.sort(gen.choice(feats.shape[0], size=min(feats.shape[0], max_points),
                                                 replace=False)))
        t = targets.reshape(feats.shape[0], latent_dim).float()
        coords = ((t - t.mean(0)) / t.std(0).clamp_min(1e-12))[idx]
    idx = idx.to(feats.device)
    coords = coords.to(feats.device)
    x_sub = feats[idx]
    loss_e = torch.zeros(())
    if net_state is not None:
        enc.net.load_state_dict(net_state)
        with torch.no_grad():
            z_sub = enc.net(x_sub)
            loss_e = ((z_sub - z_sub.mean(0)) / z_sub.std(0).clamp_min(1e-12) - coords).pow(2).mean()
    elif init_steps > 0:
        opt = torch.optim.LBFGS(enc.net.parameters(), lr=1.0, max_iter=init_steps, history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-14)

        def closure():
            opt.zero_grad()
            loss = ((enc.net(x_sub) - coords) ** 2).mean()
            loss.backward()
            return loss
        opt.step(closure)
        with torch.no_grad():
            loss_e = ((enc.net(x_sub) - coords) ** 2).mean()
    with torch.no_grad():
        enc.train()
        z = enc.from_features(feats)  # sets the anchoring statistics
    if isinstance(dec, SplineDecoder):
        loss_d = torch.tensor(dec.fit(z, feats))
    else:
        gen = torch.Generator().manual_seed(seed + 1)
        opt = torch.optim.Adam(dec.net.parameters(), lr=lr)
        power = (feats ** 2).sum(-1).mean()
        loss_d = torch.zeros(())
        for _ in range(init_steps):
            b = torch.randint(0, feats.shape[0], (min(batch, feats.shape[0]),), generator=gen).to(feats.device)
            loss_d = ((dec.net(z[b]) - feats[b]) ** 2).sum(-1).mean() / power
            opt.zero_grad()
            loss_d.backward()
            opt.step()
    return {"init_encoder_mse": float(loss_e.detach()), "init_decoder_rel": float(loss_d.detach()),
            "isomap_points": int(idx.numel())}


def project_frames(pca: FramePCA, data: FrameData, *, chunk_mb: float = DEFAULT_CHUNK_MB, progress: bool = False
                   ) -> torch.Tensor:
    """PCA features (N, k) of every frame, flat order, read a chunk of about ``chunk_mb`` MB at a time
    (the memory needed is a chunk plus the features, whatever the number of frames)."""
    feats = torch.empty(data.n_frames, pca.n_components, device=pca.mean.device)
    bar = None
    if progress and data.segments is not None:
        from tqdm.auto import tqdm
        bar = tqdm(total=data.n_frames, desc="reading frames", unit="frame", leave=False)
    at = 0
    with torch.no_grad():
        for block in data.blocks(chunk_mb=chunk_mb):
            feats[at:at + block.shape[0]] = pca.project(block.to(pca.mean.device))
            at += block.shape[0]
            if bar is not None:
                bar.update(block.shape[0])
    if bar is not None:
        bar.close()
    if at != data.n_frames:  # a file that changed or decoded shorter than when it was opened
        raise ValueError(f"read {at} frames but expected {data.n_frames}: the recording changed while it was read")
    return feats


class Trainer:
    """Machinery shared by :func:`coarse_grain` and :func:`fimcg.coarse_graining.joint.joint_coarse_grain`.

    Builds the networks, restores a checkpoint of the same data and options (or fits the PCA and
    initialises), then runs an optimisation loop with progress bar, gradient clipping, NaN guard,
    atomic checkpoints and an optional evaluation callback whose time is not counted.
    """

    def __init__(self, data: FrameData, dt: float, config: dict, *, fmt: str, device: torch.device,
                 checkpoint: str | Path | None, resume: bool, extra: dict[str, nn.Module] | None = None,
                 chunk_mb: float = DEFAULT_CHUNK_MB, progress: bool = False) -> None:
        c = config
        self.config, self.fmt, self.dt, self.device = config, fmt, dt, device
        self.n_paths, self.length = data.n_paths, data.length
        frame_shape = data.frame_shape
        self.latent_dim = c["latent_dim"]
        torch.manual_seed(c["seed"])
        self.gen = torch.Generator().manual_seed(c["seed"])
        self.enc, self.dec = build_networks(frame_shape, c["n_components"], c["latent_dim"], c["hidden"], c["depth"])
        self.extra = extra or {}
        for m in [self.enc, self.dec, *self.extra.values()]:
            m.to(device)
        self.t_start = time.perf_counter()
        self.paused = 0.0
        self.history: list[dict] = []
        self.start_step = 0
        self.ckpt_path = Path(checkpoint) if checkpoint is not None else None
        self.blob = None
        if self.ckpt_path is not None and resume and self.ckpt_path.is_file():
            blob = load_checkpoint(self.ckpt_path)  # on the CPU: load_state_dict copies to the device
            old = blob.get("config", {}) if isinstance(blob, dict) else {}
            keys = [k for k in config if k not in ("steps", "init")]
            differ = [k for k in keys if old.get(k) != config[k]] if isinstance(blob, dict) else []
            if not isinstance(blob, dict) or blob.get("format") != fmt or differ:
                what = ("; it differs in " + ", ".join(f"{k} ({old.get(k)!r} there, {config[k]!r} now)"
                                                        for k in differ[:4])) if differ else ""
                raise CheckpointMismatch(f"checkpoint {self.ckpt_path} belongs to other data or options{what}; "
                                         "delete it or pass resume=False to start over")
            self.enc.load_state_dict(blob["encoder"])
            self.dec.load_state_dict(blob["decoder"])
            for k, m in self.extra.items():
                m.load_state_dict(blob["extra"][k])
            self.history = list(blob["history"])
            self.start_step = int(blob["step"])
            self.gen.set_state(blob["generator"])
            config["init"] = old.get("init", {})
            self.blob = blob
            self.t_start -= self.history[-1]["time_s"] if self.history else config["init"].get("time_s", 0.0)
        else:
            idx = FramePCA.sample(data.n_frames, seed=c["seed"])
            self.enc.pca.fit_rows(data.rows(idx.numpy()).to(device))
        self.feats = project_frames(self.enc.pca, data, chunk_mb=chunk_mb, progress=progress)  # (N, k), fixed
        self.feat_power = (self.feats ** 2).sum(-1).mean()
        self.resumed = self.blob is not None

    def initialise(self, how: str, *, judge: Callable | None = None, init: InitConfig | None = None) -> None:
        """``"isomap"``: the initialisation of the module doc; ``"slow"``: the same, fitted to the
        candidate coordinate the frozen estimator ``judge`` predicts best (:mod:`.slow`, settings
        from ``init``); ``"random"``: networks as constructed."""
        if self.resumed:
            return
        c = self.config
        common = dict(seed=c["seed"], init_steps=c["init_steps"], lr=3e-3, max_points=c["isomap_points"])
        if how == "isomap":
            c["init"] = initialise_autoencoder(self.enc, self.dec, self.feats, self.latent_dim, **common)
            if judge is not None and init is not None and self.latent_dim == 1:
                self._check_geometry(judge, init)
        elif how == "slow":
            if judge is None or init is None or self.latent_dim != 1:
                raise ValueError("the 'slow' initialisation needs an estimator to judge 1-D candidate coordinates")
            feats = self.feats.reshape(self.n_paths, self.length, -1)
            held_length = Split(self.n_paths, self.length).held_out(feats).shape[1]
            if held_length <= max(init.judge_lags):
                raise ValueError(f"the 'slow' initialisation judges candidates on held-out stretches of {held_length} "
                                 f"frames, no longer than the longest judge lag ({max(init.judge_lags)} frames): "
                                 "give longer paths, four or more paths, or shorter InitConfig(judge_lags=...)")
            found = slow_candidates(feats, lag=init.lag, components=init.components, seed=c["seed"],
                                    max_points=c["isomap_points"], predictive_lags=init.predictive_lags,
                                    predictive_steps=init.predictive_steps, hidden=c["hidden"], depth=c["depth"])
            held_out = {name: found.split.held_out(z) for name, z in found.coordinates.items()}
            rows = judge_candidates(held_out, self.dt, judge, lags=init.judge_lags, by=init.judge)
            coordinates, networks = dict(found.coordinates), dict(found.networks)
            winner, smoothed = rows[0]["name"], {}
            # the winner averaged over time (module doc of .slow, step 4); the slowness judge would
            # prefer any average over time, so only the estimator judges these
            for K in init.smoothing_windows if init.judge == "estimator" else ():
                name = f"{winner} (smoothed {K})"
                smoothed[name], networks[name] = smoothed_candidate(
                    feats, coordinates[winner], found.split, half_width=K, hidden=c["hidden"], depth=c["depth"],
                    steps=init.smoothing_steps, seed=c["seed"] + 1000 + K)
            if smoothed:
                coordinates.update(smoothed)
                more = judge_candidates({n: found.split.held_out(z) for n, z in smoothed.items()}, self.dt, judge,
                                        lags=init.judge_lags, by=init.judge)
                rows = rank_candidates(rows + more, by=init.judge)
            best = rows[0]
            judged_far = held_length >= JUDGE_MIN_LAGS * max(init.judge_lags)
            if judged_far and (not best["per_lag"] or best["per_lag"][-1] < NOTHING_SLOW_NATS):
                warnings.warn(f"no slow variable found: the best candidate coordinate ({best['name']}) predicts only "
                              f"{best['per_lag'][-1] if best['per_lag'] else float('nan'):.3f} nats of its future at "
                              f"lag {init.judge_lags[-1]} frames on held-out data (less than an autocorrelation of "
                              "0.3): either nothing in these frames is slow at this time scale, or no candidate "
                              "isolates it; the SDE fitted below may describe fast or mixed motion",
                              NoSlowVariableWarning, stacklevel=4)
            chosen = coordinates[best["name"]].reshape(-1, 1).to(self.feats.device)
            c["init"] = initialise_autoencoder(self.enc, self.dec, self.feats, self.latent_dim, targets=chosen,
                                               net_state=networks.get(best["name"]), **common)
            c["init"].update({"candidates": rows, "chosen": best["name"], "judge": init.judge,
                              "held_out": "paths" if found.split.by_paths else "path ends", **found.facts})
        else:
            c["init"] = {}
        c["init"]["method"] = how
        c["init"]["time_s"] = time.perf_counter() - self.t_start

    def _check_geometry(self, judge: Callable, init: InitConfig) -> None:
        """Score the geometric coordinate as the ``"slow"`` initialisation scores its candidates, and
        warn when it predicts nothing of its own future at the longest lag (a fast object, flicker or
        noise owns the frames' geometry). Paths shorter than :data:`JUDGE_MIN_LAGS` longest lags are not
        judged: on them even the true state's SDE is estimated too poorly to predict that far."""
        if self.length < JUDGE_MIN_LAGS * max(init.judge_lags):
            return  # too short to tell a slow coordinate from one poorly estimated at the longest lag
        with torch.no_grad():
            self.enc.train()
            z = self.latents()
        try:
            info = predictive_information(z, self.dt, judge, lags=init.judge_lags)
        except ValueError:  # paths shorter than the lags, a constant coordinate: nothing to judge
            return
        self.config["init"].update(score=info.score, per_lag=list(info.per_lag))
        if info.per_lag[-1] < NOTHING_SLOW_NATS:
            warnings.warn(f"the geometric coordinate (PCA/Isomap) is not slow: its SDE predicts only "
                          f"{info.per_lag[-1]:.3f} nats of its future at lag {init.judge_lags[-1]} frames (less than an "
                          "autocorrelation of 0.3), so it probably follows a fast object, flicker or noise rather "
                          "than the slow variable; try InitConfig(method='slow')", NoSlowVariableWarning, stacklevel=5)

    def latents(self) -> torch.Tensor:
        """Encode all frames (with gradient): (n_paths, T, latent_dim)."""
        return self.enc.from_features(self.feats).reshape(self.n_paths, self.length, self.latent_dim)

    def reconstruction(self, z: torch.Tensor) -> torch.Tensor:
        """Relative reconstruction error of all frames from latents z (n_paths, T, d)."""
        return ((self.dec.coefficients(z.reshape(-1, self.latent_dim)) - self.feats) ** 2).sum(-1).mean() / self.feat_power

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start - self.paused

    def save(self, step: int, opt: torch.optim.Optimizer) -> None:
        if self.ckpt_path is None:
            return
        save_checkpoint({"format": self.fmt, "config": self.config, "step": step, "encoder": self.enc.state_dict(),
                         "decoder": self.dec.state_dict(), "optimizer": opt.state_dict(),
                         "extra": {k: m.state_dict() for k, m in self.extra.items()},
                         "history": self.history, "generator": self.gen.get_state()}, self.ckpt_path)

    def loop(self, params: list[nn.Parameter], step_fn: Callable[[int], tuple[torch.Tensor, dict]], *, steps: int,
             lr: float, checkpoint_every: int, progress: bool, desc: str,
             callback: Callable[[int, Any], Any] | None = None, eval_every: int = 0,
             snapshot: Callable[[], Any] | None = None) -> None:
        opt = torch.optim.Adam(params, lr=lr)
        if self.blob is not None and "optimizer" in self.blob:
            opt.load_state_dict(self.blob["optimizer"])
        if not self.resumed:
            self.save(0, opt)
        if callback is not None and eval_every and self.start_step == 0:
            self._callback(callback, 0, snapshot)
        bar = None
        if progress and steps > self.start_step:
            from tqdm.auto import tqdm
            bar = tqdm(total=steps, initial=self.start_step, desc=desc, unit="step")
        last_good = self.start_step
        try:
            for step in range(self.start_step, steps):
                loss, parts = step_fn(step)
                if not bool(torch.isfinite(loss.detach())):
                    where = (f"the last good checkpoint (step {last_good}) is kept at {self.ckpt_path}"
                             if self.ckpt_path is not None else "no checkpoint was requested")
                    terms = ", ".join(f"{k} {float(v):.4g}" for k, v in parts.items())
                    raise TrainingDiverged(f"training diverged: the loss became {float(loss.detach())} at step "
                                           f"{step + 1} ({terms}); {where}. Try a smaller lr or a larger LossWeights(reconstruction=...).")
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 10.0)
                opt.step()
                rec = {"step": step + 1, "loss": float(loss.detach())}
                rec.update({k: float(v) for k, v in parts.items()})
                rec["time_s"] = self.elapsed()
                self.history.append(rec)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{float(v):.3g}" for k, v in parts.items()})
                if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
                    self.save(step + 1, opt)
                    last_good = step + 1
                if callback is not None and eval_every and ((step + 1) % eval_every == 0 or step + 1 == steps):
                    self._callback(callback, step + 1, snapshot)
        finally:
            if bar is not None:
                bar.close()

    def _callback(self, callback, step: int, snapshot) -> None:
        t0 = time.perf_counter()
        was = self.enc.training
        try:
            callback(step, snapshot() if snapshot is not None else None)
        finally:
            self.enc.train(was)
            self.paused += time.perf_counter() - t0

    def final_latents(self) -> torch.Tensor:
        """Exact standardisation over all frames, then frozen (eval mode) for encoding new frames."""
        self.enc.train()
        with torch.no_grad():
            z = self.latents()
        self.enc.eval()
        self.dec.eval()
        for m in self.extra.values():
            m.eval()
        self.config["train_time_s"] = self.elapsed()
        return z.detach()


def train_autoencoder(data: FrameData, dt: float, config: dict, *,
                       fmt: str, device: torch.device, checkpoint: str | Path | None, resume: bool, init: str,
                       train_decoder: bool, sim_loss: Callable[[Trainer, torch.Tensor], torch.Tensor],
                       make_result: Callable[[Trainer, torch.Tensor, list[dict], dict], R],
                       extra: dict[str, nn.Module] | None = None, checkpoint_every: int, progress: bool, desc: str,
                       callback: Callable[[int, R], Any] | None, eval_every: int, judge: Callable | None = None,
                       init_config: InitConfig | None = None, chunk_mb: float = DEFAULT_CHUNK_MB) -> R:
    """The training shared by :func:`coarse_grain` and :func:`fimcg.coarse_graining.joint.joint_coarse_grain`.

    Sets up a :class:`Trainer` (restoring a checkpoint or initialising with ``init``), then minimises
    ``weights.reconstruction * L_rec + weights.likelihood * sim_loss`` with Adam for ``config["steps"]`` steps at
    ``config["lr"]`` (weights from ``config``; see the module doc for ``L_rec``).

    Args:
        data: validated frames, in memory or streamed (:func:`~fimcg.coarse_graining.data.prepare_frames`);
            they are read once, ``chunk_mb`` megabytes at a time, into PCA features.
        dt: time between frames. config: the run's options and data facts (saved with checkpoints
            and the result; it receives ``init`` and ``train_time_s``).
        fmt: checkpoint format tag. device, checkpoint, resume: as in :func:`coarse_grain`.
        init: ``"isomap"``, ``"slow"`` or ``"random"`` (see :meth:`Trainer.initialise`); ``judge`` and
            ``init_config``: the estimator and settings of the ``"slow"`` initialisation.
        train_decoder: train the decoder too; if False it is frozen after the initialisation.
        sim_loss: ``(run, z) -> scalar`` dynamics term of the loss for latents z (n_paths, T, d)
            carrying their graph.
        make_result: ``(run, latents (n_paths, T, d) detached, history, config) -> result``.
        extra: more trained modules (e.g. the joint model's head), checkpointed with the networks.
        checkpoint_every, progress, desc, callback, eval_every: as in :meth:`Trainer.loop`.

    Returns:
        ``make_result`` of the trained networks, the final latents, the history and ``config``.
    """
    run = Trainer(data, dt, config, fmt=fmt, device=device, checkpoint=checkpoint, resume=resume, extra=extra,
                  chunk_mb=chunk_mb, progress=progress)
    run.initialise(init, judge=judge, init=init_config)
    if not train_decoder:
        run.dec.requires_grad_(False)
    run.enc.train()
    rec_weight, sim_weight = config["rec_weight"], config["sim_weight"]

    def step_fn(step: int) -> tuple[torch.Tensor, dict]:
        z = run.latents()
        rec = run.reconstruction(z)
        sim = sim_loss(run, z)
        return rec_weight * rec + sim_weight * sim, {"rec": rec.detach(), "sim": sim.detach()}

    def snapshot() -> R:
        run.enc.train()
        with torch.no_grad():
            z = run.latents()
        return make_result(run, z.detach(), list(run.history), dict(config))

    params = list(run.enc.net.parameters())
    if train_decoder:
        params += list(run.dec.parameters())
    params += [p for m in run.extra.values() for p in m.parameters()]
    run.loop(params, step_fn, steps=config["steps"], lr=config["lr"], checkpoint_every=checkpoint_every,
             progress=progress, desc=desc, callback=callback, eval_every=eval_every, snapshot=snapshot)
    z = run.final_latents()
    return make_result(run, z, run.history, config)
