"""Choosing the slow coordinate: candidate coordinates from the frames, judged by the frozen estimator.

The coarse-grained variable is the one whose dynamics is slow and Markov at the observation scale
(the leading eigenfunctions of the transfer operator; Mori-Zwanzig). Geometry alone (PCA, then
Isomap) finds the largest-variance manifold of the frames, which a bright fast distractor owns. The
``"slow"`` initialisation of :func:`fimcg.coarse_grain` (``InitConfig(method="slow")``) therefore

1. splits the recording into *fitting* paths and *held-out* paths (a quarter of the paths; with fewer
   than four paths, the last quarter of every path), so that a flexible candidate cannot win by
   memorising the data;
2. builds candidate coordinates from the PCA features u of the frames, on the fitting part
   (:func:`slow_candidates`):

   * geometry: Isomap on u;
   * linear slowness: TICA at lag τ (the generalized eigenvectors of the symmetrised lagged covariance
     C(τ) against C(0); the eigenvalue λ is the autocorrelation at lag τ, the implied time scale
     -τ / log λ), and Isomap on the m slowest TICA components scaled by their eigenvalues (a kinetic
     map: the slow manifold, unrolled, for m = 2 .. ``components``);
   * nonlinear predictability (:func:`predictive_encoder`, one per lag in ``predictive_lags``): an
     encoder network ``z = e(u_t)`` with a 1-D bottleneck and a predictor ``p(z)`` trained to
     minimise ``E |p(e(u_t)) - v_{t+τ}|²``, where v are the slowest TICA components (whitened). The
     unconstrained minimiser is the conditional mean ``E[v_{t+τ} | u_t]``; once τ exceeds the
     correlation times of the fast motions (distractors, flicker, shake), that mean depends on the
     frame only through the slow state, so the best 1-D bottleneck approximates a function of the
     slow state (a time-lagged autoencoder; training stops where a validation part of the fitting
     paths is predicted best). It is the same network as the coarse-graining encoder, so the encoder can start
     on it exactly;
3. asks the frozen estimator (the FIM) for the SDE of each candidate on the *held-out* part and scores
   how much that SDE predicts the candidate's own future at several lags
   (:func:`fimcg.analysis.markov.predictive_information`: nats per transition, invariant to a
   monotone re-parameterisation). A fast nuisance decorrelates (score ≈ 0); a coordinate mixing the
   slow variable with others is mispredicted at long lags; a coordinate that keeps only the well
   (a sign) but loses the position within it predicts less than one that keeps both. The slow Markov
   coordinate, resolved everywhere, scores highest. This is the step where the FIM decides: slowness
   alone (the highest autocorrelation, ``InitConfig(judge="slowness")``) cannot tell a resolved
   coordinate from a saturated one, nor a metastable variable from a slowly drifting nuisance that
   the SDE cannot predict;
4. sharpens the winner by averaging it over time (:func:`smoothed_candidate`, one per half-width K in
   ``smoothing_windows``): an encoder ``e(u_t)`` is regressed on the winner's mean over the frames
   t - K .. t + K of the same path. Write the winner as ``z_t = h(X_t) + e_t``, with X the slow state and
   e the error the fast motions leave in it (a function of the frame, correlated over a few frames
   only). The regression's target has the conditional mean
   ``E[mean_j z_{t+j} | u_t] = E[mean_j h(X_{t+j}) | X_t] + E[mean_j e_{t+j} | u_t]``: the first term is a
   smooth monotone function of X_t while 2K dt is short against the relaxation time, and the second
   keeps only the few lags where e is still correlated with the frame, about (1 + 2 Σ_j ρ_e(j)) / (2K + 1)
   of e_t. The cost is a noisier target (the slow state's own motion within the window), so the
   regression is itself a candidate: the same judge scores it on the held-out part against the
   winner, and on clean frames, where e is already tiny, the winner stays (candidates
   ``"<winner> (smoothed K)"``; with the slowness judge this step is skipped, since an average over
   time is more autocorrelated by construction). Encoder noise matters because every estimator
   reads drift off increments: white latent noise of variance s² adds 2 s² / dt to g² and biases a
   drift's slope by about -s² / (dt Var z); for an error correlated over a few frames s² (1 - ρ_e(1))
   replaces s², so white noise is the worst case;
5. initialises the encoder and decoder on the winner (exactly, when it is an encoder network), after
   which the FIM's frame-space likelihood refines the encoder.

When even the best candidate predicts nothing beyond the longest lag (information below
:data:`NOTHING_SLOW_NATS`, about an autocorrelation of 0.3 for a Gaussian coordinate), either the
frames show nothing slow at this time scale or no candidate isolates it, and a
:class:`NoSlowVariableWarning` says so instead of a confident SDE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from scipy.linalg import eigh

from .._validation import check_int
from ..analysis.markov import autocorrelation, implied_timescale, predictive_information
from .autoencoder import isomap_coordinates, mlp
from .options import JUDGES

__all__ = ["NoSlowVariableWarning", "NOTHING_SLOW_NATS", "Split", "SlowCandidates", "tica",
           "predictive_encoder", "slow_candidates", "judge_candidates", "rank_candidates", "window_mean", "smoothed_candidate"]

#: mutual information of a Gaussian coordinate with autocorrelation 0.3 at the longest lag (-log(1 - 0.09)/2)
NOTHING_SLOW_NATS = -0.5 * math.log(1 - 0.3 ** 2)
#: ridge on C(0) relative to its mean eigenvalue (keeps TICA stable on nearly collinear features)
TICA_RIDGE = 1e-6
#: neighbours of the inverse-distance extension of Isomap coordinates from landmarks to all frames
EXTENSION_NEIGHBOURS = 8
#: share of the recording held out from fitting the candidates (they are judged on it)
HOLDOUT = 0.25
#: predictive encoder: Adam learning rate, batch (transitions), weight decay, validation period (steps)
PREDICTIVE_LR, PREDICTIVE_BATCH, PREDICTIVE_DECAY, PREDICTIVE_CHECK = 3e-3, 2048, 1e-4, 50


class NoSlowVariableWarning(UserWarning):
    """No candidate coordinate of the frames stays predictable beyond the longest lag."""


@dataclass(frozen=True)
class Split:
    """Which part of a recording (n_paths, T, ...) fits the candidates and which judges them.

    With at least four paths a quarter of the paths (at least one) is held out; otherwise the last
    quarter of every path. ``fit(x)`` and ``held_out(x)`` cut any (n_paths, T, ...) array.
    """

    n_paths: int
    length: int
    by_paths: bool = field(init=False)
    cut: int = field(init=False)
    order: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        by_paths = self.n_paths >= 4
        object.__setattr__(self, "by_paths", by_paths)
        if by_paths:
            n_out = max(1, round(HOLDOUT * self.n_paths))
            # held-out paths spread evenly over the recording, odd and even alike (paths are often
            # ordered by how they start, e.g. in alternating wells)
            out = []
            for j in range(n_out):  # about every fourth path, alternately odd and even
                i = min(int((j + 0.5) * self.n_paths / n_out), self.n_paths - 1)
                if i % 2 != j % 2:
                    i = i + 1 if i + 1 < self.n_paths else i - 1
                out.append(i)
            out = sorted(set(out))
            object.__setattr__(self, "order", tuple(i for i in range(self.n_paths) if i not in out) + tuple(out))
            object.__setattr__(self, "cut", self.n_paths - len(out))
        else:
            object.__setattr__(self, "order", tuple(range(self.n_paths)))
            object.__setattr__(self, "cut", self.length - max(2, round(HOLDOUT * self.length)))

    def fits_lag(self, x: torch.Tensor, lag: int) -> bool:
        """Whether both parts of ``x`` (n_paths, T, ...) are longer than ``lag`` + 1 frames: a
        lag-``lag`` pair exists in each, for training on one and validating on the other."""
        return lag < min(self.fit(x).shape[1], self.held_out(x).shape[1]) - 1

    def fit(self, x: torch.Tensor) -> torch.Tensor:
        """The fitting part of ``x`` (n_paths, T, ...): (n_fit, T, ...) or (n_paths, cut, ...)."""
        return x[list(self.order[:self.cut])] if self.by_paths else x[:, :self.cut]

    def held_out(self, x: torch.Tensor) -> torch.Tensor:
        """The held-out part of ``x`` (n_paths, T, ...): (n_out, T, ...) or (n_paths, T - cut, ...)."""
        return x[list(self.order[self.cut:])] if self.by_paths else x[:, self.cut:]


def tica(feats: torch.Tensor, *, lag: int, dim: int, fit_on: torch.Tensor | None = None
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Time-lagged independent components of features (n_paths, T, k) at ``lag`` observations.

    The components are fitted on ``fit_on`` (n', T', k) (default: ``feats`` itself) and applied to
    ``feats``. Returns ``(components (n_paths, T, dim), eigenvalues (dim,))``, slowest first; each
    component is scaled to zero mean and unit variance over the fitted data, and its eigenvalue is
    its autocorrelation at the lag there.
    """
    lag = check_int(lag, name="lag", minimum=1)
    src = feats if fit_on is None else fit_on
    n, T, k = src.shape
    if lag >= T:
        raise ValueError(f"lag={lag} must be shorter than the paths (T = {T})")
    x = src.detach().double().cpu()
    mean = x.reshape(-1, k).mean(0)
    x = x - mean
    a, b = x[:, :-lag].reshape(-1, k), x[:, lag:].reshape(-1, k)
    c0 = (a.T @ a + b.T @ b) / (2 * a.shape[0])
    ct = (a.T @ b + b.T @ a) / (2 * a.shape[0])
    c0 = c0 + TICA_RIDGE * torch.trace(c0) / k * torch.eye(k, dtype=c0.dtype)
    w, v = eigh(ct.numpy(), c0.numpy())
    order = np.argsort(w)[::-1][:min(dim, k)]
    proj = v[:, order]
    fitted = x.reshape(-1, k).numpy() @ proj
    mu, sd = fitted.mean(0), fitted.std(0)
    y = feats.detach().double().cpu() - mean
    comps = ((y.reshape(-1, k).numpy() @ proj - mu) / sd).reshape(*feats.shape[:2], -1)
    return torch.as_tensor(comps, dtype=torch.float32), torch.as_tensor(w[order].copy(), dtype=torch.float32)


def predictive_encoder(feats: torch.Tensor, targets: torch.Tensor, split: Split, *, lag: int, hidden: int,
                       depth: int, steps: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A 1-D coordinate of features (n_paths, T, k) that best predicts ``targets`` (n_paths, T, m)
    ``lag`` frames ahead (module doc, step 2): a time-lagged autoencoder with a 1-D bottleneck
    (``lag=0``: a regression of the targets of the same frame through the bottleneck, step 4).

    The encoder is ``mlp(k, hidden, 1, depth=depth)`` (the coarse-graining encoder's network); the
    predictor an MLP of the same width. AdamW for ``steps`` steps on the fitting part of ``split``,
    itself split again (:class:`Split`): the weights with the lowest prediction error on its inner
    validation part are kept (checked every :data:`PREDICTIVE_CHECK` steps), so the held-out part of
    ``split`` stays unseen for the judge. The input standardisation is folded into the first layer,
    so the returned state computes the coordinate from the raw features.

    Returns:
        ``(coordinate (n_paths, T), state_dict of the encoder network)``.
    """
    lag = check_int(lag, name="lag", minimum=0)
    n, T, k = feats.shape
    m = targets.shape[-1]
    x = split.fit(feats.detach().float().cpu())
    y = split.fit(targets.detach().float().cpu())
    inner = Split(*x.shape[:2])
    if not inner.fits_lag(x, lag):
        raise ValueError(f"lag={lag} frames is too long: the predictive encoder's training and validation "
                         f"stretches are {inner.fit(x).shape[1]} and {inner.held_out(x).shape[1]} frames long")
    mean = x.reshape(-1, k).mean(0)
    scale = float(x.reshape(-1, k).std())
    x = (x - mean) / scale
    pairs = {}
    for name, part in (("fit", inner.fit), ("validation", inner.held_out)):
        xp = part(x)
        pairs[name] = (xp[:, :xp.shape[1] - lag].reshape(-1, k), part(y)[:, lag:].reshape(-1, m))
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc, pred = mlp(k, hidden, 1, depth=depth), mlp(1, hidden, m, depth=depth)
    opt = torch.optim.AdamW([*enc.parameters(), *pred.parameters()], lr=PREDICTIVE_LR, weight_decay=PREDICTIVE_DECAY)

    def loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        z = enc(a)
        return ((pred((z - z.mean()) / (z.std() + 1e-6)) - b) ** 2).mean()

    a_fit, b_fit = pairs["fit"]
    best, best_state = math.inf, {k_: v.clone() for k_, v in enc.state_dict().items()}
    for step in range(steps):
        j = torch.randint(0, a_fit.shape[0], (min(PREDICTIVE_BATCH, a_fit.shape[0]),), generator=gen)
        value = loss(a_fit[j], b_fit[j])
        opt.zero_grad()
        value.backward()
        opt.step()
        if (step + 1) % PREDICTIVE_CHECK == 0 or step + 1 == steps:
            with torch.no_grad():
                held = float(loss(*pairs["validation"]))
            if held < best:
                best, best_state = held, {k_: v.clone() for k_, v in enc.state_dict().items()}
    enc.load_state_dict(best_state)
    with torch.no_grad():  # fold (u - mean) / scale into the first layer
        first = enc[0]
        first.bias -= first.weight @ (mean / scale)
        first.weight /= scale
        z = enc(feats.detach().float().cpu().reshape(-1, k)).reshape(n, T)
    return z, {k_: v.clone() for k_, v in enc.state_dict().items()}


def _extend(points: np.ndarray, land: np.ndarray, coords: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """Coordinates of every row of ``points`` (N, m) from those of the landmarks ``land`` (L, m),
    ``coords`` (L,): inverse-distance weighted mean over the nearest landmarks; (N,)."""
    out = np.empty(points.shape[0])
    for s in range(0, points.shape[0], chunk):
        d2 = ((points[s:s + chunk, None, :] - land[None]) ** 2).sum(-1)
        near = np.argpartition(d2, EXTENSION_NEIGHBOURS - 1, axis=1)[:, :EXTENSION_NEIGHBOURS]
        w = 1.0 / (np.sqrt(np.take_along_axis(d2, near, 1)) + 1e-9)
        out[s:s + chunk] = (w * coords[near]).sum(1) / w.sum(1)
    return out


def _isomap_everywhere(points: torch.Tensor, fit_points: torch.Tensor, *, seed: int, max_points: int
                       ) -> torch.Tensor:
    """1-D Isomap coordinate of every row of ``points`` (N, m), embedded on landmarks drawn from
    ``fit_points`` (N', m) and extended to all rows: (N,)."""
    idx, coords = isomap_coordinates(fit_points, 1, seed=seed, max_points=max_points)
    land = fit_points.detach().double().cpu().numpy()[np.asarray(idx)]
    out = _extend(points.detach().double().cpu().numpy(), land, np.asarray(coords[:, 0], dtype=np.float64))
    return torch.as_tensor(out, dtype=torch.float32)


@dataclass
class SlowCandidates:
    """What :func:`slow_candidates` returns.

    Attributes:
        coordinates: {name: coordinate (n_paths, T)} on the whole recording.
        networks: {name: encoder-network state} for the candidates that are encoders (the predictive ones).
        split: the fitting / held-out split they were built with.
        facts: TICA eigenvalues and implied time scales (observation steps) on the fitting part.
    """

    coordinates: dict[str, torch.Tensor]
    networks: dict[str, dict[str, torch.Tensor]]
    split: Split
    facts: dict


def slow_candidates(feats: torch.Tensor, *, lag: int, components: int, seed: int, max_points: int,
                    predictive_lags: tuple[int, ...] = (), predictive_steps: int = 600, hidden: int = 64,
                    depth: int = 2) -> SlowCandidates:
    """Candidate 1-D coordinates of frames from their features (n_paths, T, k) (module doc, step 2),
    each fitted on the fitting part of :class:`Split` and evaluated on the whole recording. A
    predictive lag too long for the stretches it would be trained and validated on is skipped
    (``facts["skipped_predictive_lags"]``)."""
    n, T, k = feats.shape
    split = Split(n, T)
    fit = split.fit(feats)
    comps, lam = tica(feats, lag=lag, dim=components, fit_on=fit)
    out = {"PCA/Isomap": _isomap_everywhere(feats.reshape(-1, k), fit.reshape(-1, k), seed=seed,
                                            max_points=max_points).reshape(n, T),
           "TICA 1": comps[..., 0]}
    for m in range(2, comps.shape[-1] + 1):
        kinetic = comps[..., :m] * lam[:m].clamp_min(0)
        out[f"slow Isomap {m}"] = _isomap_everywhere(kinetic.reshape(-1, m), split.fit(kinetic).reshape(-1, m),
                                                     seed=seed, max_points=max_points).reshape(n, T)
    nets, skipped = {}, []
    inner = Split(*fit.shape[:2])  # the split predictive_encoder makes of the fitting part
    for tau in sorted(set(predictive_lags)):
        if not inner.fits_lag(fit, tau):
            skipped.append(tau)  # longer than the stretches it would learn and be validated on
            continue
        targets, _ = tica(feats, lag=tau, dim=components, fit_on=fit)
        name = f"predictive {tau}"
        out[name], nets[name] = predictive_encoder(feats, targets, split, lag=tau, hidden=hidden, depth=depth,
                                                   steps=predictive_steps, seed=seed + tau)
    timescales = [implied_timescale(float(v), lag) for v in lam]
    return SlowCandidates(out, nets, split, {"tica_eigenvalues": [float(v) for v in lam],
                                              "tica_timescales_steps": timescales,
                                              "skipped_predictive_lags": skipped})


def window_mean(z: torch.Tensor, *, half_width: int) -> torch.Tensor:
    """The mean of z (n_paths, T) over the frames t - K .. t + K of the same path (K = ``half_width``;
    fewer frames at a path's ends): (n_paths, T)."""
    K = check_int(half_width, name="half_width", minimum=0)
    n, T = z.shape
    ones = torch.ones(1, 1, 2 * K + 1, dtype=z.dtype, device=z.device)
    total = torch.nn.functional.conv1d(z[:, None], ones, padding=K)[:, 0]
    count = torch.nn.functional.conv1d(torch.ones_like(z[:1, None]), ones, padding=K)[:, 0]
    return total / count


def smoothed_candidate(feats: torch.Tensor, z: torch.Tensor, split: Split, *, half_width: int, hidden: int,
                       depth: int, steps: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A candidate coordinate z (n_paths, T) sharpened by averaging over time (module doc, step 4): an
    encoder of the features (n_paths, T, k) regressed on the mean of z over ``half_width`` frames
    either side (:func:`window_mean`), fitted on the fitting part of ``split`` only (the network and
    training of :func:`predictive_encoder` at lag 0).

    Returns:
        ``(coordinate (n_paths, T), state_dict of the encoder network)``.
    """
    if z.shape != feats.shape[:2]:
        raise ValueError(f"z must be (n_paths, T) = {tuple(feats.shape[:2])}, got {tuple(z.shape)}")
    z = z.detach().float().cpu()
    fitted = split.fit(z)
    u = (z - fitted.mean()) / fitted.std().clamp_min(1e-12)
    if split.by_paths:  # whole paths on either side: no window reaches across
        target = window_mean(u, half_width=half_width)
    else:  # path ends held out: average each part on its own, so no fitted target sees a held-out frame
        target = torch.cat([window_mean(u[:, :split.cut], half_width=half_width),
                            window_mean(u[:, split.cut:], half_width=half_width)], dim=1)
    return predictive_encoder(feats, target[..., None], split, lag=0, hidden=hidden, depth=depth, steps=steps,
                              seed=seed)


def judge_candidates(candidates: dict[str, torch.Tensor], dt: float, estimator: Callable, *,
                     lags: tuple[int, ...], by: str = "estimator") -> list[dict]:
    """Score every candidate (n_paths, T) (module doc, step 3); returns one record per candidate,
    best first: ``score`` (the estimator's predictive information, nats per transition, mean over
    ``lags``), ``per_lag``, ``autocorrelation`` at the longest lag and the implied ``timescale``
    (observation steps). ``by="slowness"`` ranks by the autocorrelation instead (for ablation)."""
    if by not in JUDGES:
        raise ValueError(f"by must be one of {', '.join(JUDGES)}, got {by!r}")
    rows = []
    for name, z in candidates.items():
        ac = autocorrelation(z, max(lags)) if float(z.std()) > 0 else 0.0
        row = {"name": name, "autocorrelation": ac, "timescale": implied_timescale(ac, max(lags))}
        try:
            info = predictive_information(z, dt, estimator, lags=lags)
            row.update(score=info.score, per_lag=list(info.per_lag))
        except ValueError as exc:  # a constant candidate, say
            row.update(score=-math.inf, per_lag=[], error=str(exc))
        rows.append(row)
    return rank_candidates(rows, by=by)


def rank_candidates(rows: list[dict], *, by: str = "estimator") -> list[dict]:
    """Records of :func:`judge_candidates` best first: by ``score`` (``by="estimator"``) or by
    ``autocorrelation`` (``by="slowness"``); unscored ones last."""
    if by not in JUDGES:
        raise ValueError(f"by must be one of {', '.join(JUDGES)}, got {by!r}")
    key = "score" if by == "estimator" else "autocorrelation"
    return sorted(rows, key=lambda r: -r[key] if np.isfinite(r[key]) else math.inf)
