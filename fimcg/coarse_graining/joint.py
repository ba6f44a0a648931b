"""The baseline the FIM approach argues against: an autoencoder trained jointly with its own SDE model.

``joint_coarse_grain(frames, dt)`` uses the same autoencoder as :func:`fimcg.coarse_grain` (PCA
features, MLP encoder with the same anchoring normalisation, MLP decoder) but instead of asking a
frozen FIM for the dynamics it *learns* a dynamics head together with the networks::

    L = w_rec · L_rec + w_sim · L_em

    L_rec = sum |D(z) - u|^2 / sum |u|^2                 (as in coarse_grain)
    L_em  = mean over all transitions of
            1/2 [ (Δz - f_θ(z_t) dt)^2 / v + log(2π v) ],   v = g_θ(z_t)^2 dt + ε

with ``(f_θ, g_θ)`` the head: ``"polynomial"`` (drift of degree 3, g^2 = softplus of a degree-2
polynomial, the FIM prior's function class) or ``"mlp"`` (a small neural SDE). Encoder, decoder and
head are all trained; by default from a random initialisation (``init="random"``), as joint models
are usually trained; ``init="isomap"`` gives it the same start as :func:`fimcg.coarse_grain`.
The result has the interface of :class:`fimcg.coarse_graining.CoarseGrainResult`, with drift and
diffusion from the learned head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_int, check_locations, check_positive
from .autoencoder import mlp
from .result import CoarseGrainResult
from .trainer import Trainer, train_autoencoder
from .losses import em_step_nll
from .options import AutoencoderConfig, InitConfig, LossWeights, check_option_types
from .data import prepare_frames
from ..estimators.classic import polynomial_features

__all__ = ["PolynomialHead", "MLPHead", "HeadPerRecording", "JointResult", "joint_coarse_grain"]


class PolynomialHead(nn.Module):
    """f(z) = polynomial of degree ``drift_degree``; g(z)^2 = softplus(polynomial of degree
    ``diffusion_degree``) per dimension (monomials in all latent coordinates).

    Maps (B, d) -> (drift (B, d), diffusion (B, d)).
    """

    def __init__(self, dim: int, *, drift_degree: int = 3, diffusion_degree: int = 2) -> None:
        super().__init__()
        self.dim, self.drift_degree, self.diffusion_degree = dim, drift_degree, diffusion_degree
        n_f = polynomial_features(torch.zeros(1, dim), drift_degree).shape[-1]
        n_g = polynomial_features(torch.zeros(1, dim), diffusion_degree).shape[-1]
        self.drift_coef = nn.Parameter(torch.zeros(dim, n_f))
        g0 = torch.zeros(dim, n_g)
        g0[:, 0] = 1.0  # softplus(1) ~ 1.3: a unit-scale diffusion to start from
        self.diffusion_coef = nn.Parameter(g0)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = polynomial_features(z, self.drift_degree) @ self.drift_coef.T
        p = polynomial_features(z, self.diffusion_degree) @ self.diffusion_coef.T
        return f, torch.sqrt(F.softplus(p) + 1e-8)

    def spec(self) -> dict:
        return {"kind": "polynomial", "drift_degree": self.drift_degree, "diffusion_degree": self.diffusion_degree}


class MLPHead(nn.Module):
    """A small neural SDE: (B, d) -> (drift (B, d), diffusion = softplus(.) (B, d))."""

    def __init__(self, dim: int, *, hidden: int = 64) -> None:
        super().__init__()
        self.dim, self.hidden = dim, hidden
        self.net = mlp(dim, hidden, 2 * dim, depth=2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(z)
        return out[..., :self.dim], F.softplus(out[..., self.dim:]) + 1e-4

    def spec(self) -> dict:
        return {"kind": "mlp", "hidden": self.hidden}


class HeadPerRecording(nn.Module):
    """One head per recording of a collection (:func:`fimcg.io.open_collection`): the joint
    baseline's counterpart of the FIM reading each recording's paths as its own context."""

    def __init__(self, heads: list[nn.Module]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(heads)

    def spec(self) -> dict:
        return {"kind": "per_recording", "head": self.heads[0].spec(), "n": len(self.heads)}


def _make_head(spec: dict, dim: int) -> nn.Module:
    if spec["kind"] == "per_recording":
        return HeadPerRecording([_make_head(spec["head"], dim) for _ in range(spec["n"])])
    if spec["kind"] == "polynomial":
        return PolynomialHead(dim, drift_degree=spec["drift_degree"], diffusion_degree=spec["diffusion_degree"])
    return MLPHead(dim, hidden=spec["hidden"])


def em_nll(head: nn.Module, z: torch.Tensor, dt: float) -> torch.Tensor:
    """``L_em`` of the module doc: mean Euler-Maruyama NLL of all latent steps of z (n_paths, T, d)
    under the head's drift and diffusion over the time step ``dt`` (variance floor 1e-6); a scalar."""
    d = z.shape[-1]
    x0 = z[:, :-1].reshape(-1, d)
    dz = (z[:, 1:] - z[:, :-1]).reshape(-1, d)
    f, g = head(x0)
    return em_step_nll(dz, f, g ** 2 * dt + 1e-6, dt).mean()


class JointResult(CoarseGrainResult):
    """A jointly trained autoencoder + SDE head; drift and diffusion come from ``head``."""

    FORMAT = "fimcg-joint-1"
    head: nn.Module | None = None

    def coefficients(self, locations: Any, *, recording: int | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Drift (G, d) and diffusion (G, d) of the learned head at latent ``locations`` (G, d); for a
        collection, the head of ``recording`` (index or name)."""
        loc = check_locations(locations, d=self.latent_dim).to(self.latents.device, self.latents.dtype)
        head = self.head
        if isinstance(head, HeadPerRecording):
            if recording is None:
                raise ValueError("this joint model has one head per recording: pass recording=")
            names = self.recordings or []
            k = names.index(recording) if isinstance(recording, str) and recording in names else recording
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= int(k) < len(head.heads):
                raise ValueError(f"recording must be a name in {names} or an index 0..{len(head.heads) - 1}, "
                                 f"got {recording!r}")
            head = head.heads[int(k)]
        elif recording is not None:
            raise ValueError("this joint model was trained on one recording: omit recording=")
        with torch.no_grad():
            return head(loc)

    def infer(self, frames: Any, dt: float | None = None, *, steps: int = 200):
        """The joint baseline's answer for a *new* recording: it has no amortised estimator, so a new
        head (the trained kind) is fitted to the encoded frames' latent paths by the Euler-Maruyama
        likelihood (L-BFGS, at most ``steps`` iterations, from the trained heads' average); the
        encoder stays frozen. Returns a :class:`fimcg.coarse_graining.collection.RecordingSDE` (its
        own estimate; nothing pooled)."""
        from .collection import RecordingSDE, collection_grid

        dt = self.dt if dt is None else check_positive(dt, name="dt")
        z = self.encode(frames).detach().cpu()
        if z.ndim != 3 or z.shape[1] < 10:
            raise ValueError(f"frames must be (n_paths, T, *frame_shape) with paths of at least 10 frames; encoded to "
                             f"shape {tuple(z.shape)}")
        spec = self.head.spec()
        trained = list(self.head.heads) if spec["kind"] == "per_recording" else [self.head]
        head = _make_head(spec["head"] if spec["kind"] == "per_recording" else spec, self.latent_dim)
        with torch.no_grad():  # start from the trained heads' average
            for name, p in head.named_parameters():
                p.copy_(torch.stack([dict(h.named_parameters())[name].detach().cpu() for h in trained]).mean(0))
        opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=check_int(steps, name="steps", minimum=1),
                                history_size=20, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = em_nll(head, z, dt)
            loss.backward()
            return loss
        opt.step(closure)
        grid = collection_grid(self.latents)
        with torch.no_grad():
            f, g = head(grid)
        if not (bool(torch.isfinite(f).all()) and bool(torch.isfinite(g).all())):
            raise RuntimeError("fitting a head to the new recording diverged (non-finite drift or diffusion)")
        return RecordingSDE(latents=z, dt=dt, grid=grid, drift=f, diffusion=g, raw_drift=f, raw_diffusion=g)

    def state(self) -> dict:
        out = super().state()
        out["head"] = self.head.state_dict()
        out["head_spec"] = self.head.spec()
        return out

    def _restore_extra(self, blob: dict, device) -> None:
        head = _make_head(blob["head_spec"], blob["latent_dim"])
        head.load_state_dict(blob["head"])
        self.head = head.to(device).eval()

    @classmethod
    def load(cls, path: str | Path, *, estimator: Any = None, device: str | torch.device = "cpu") -> "JointResult":
        """Load a saved joint result (it needs no estimator)."""
        from ..io.checkpoint import load_checkpoint
        return cls.from_state(load_checkpoint(path), estimator=None, device=device)


def joint_coarse_grain(
    frames: Any,
    dt: float,
    *,
    latent_dim: int = 1,
    head: str = "polynomial",
    steps: int = 1500,
    lr: float = 3e-3,
    seed: int = 0,
    autoencoder: AutoencoderConfig = AutoencoderConfig(),
    init: InitConfig = InitConfig(method="random"),
    weights: LossWeights = LossWeights(likelihood=0.1),
    device: str | torch.device = "cpu",
    checkpoint: str | Path | None = None,
    resume: bool = True,
    checkpoint_every: int = 100,
    progress: bool = True,
    callback: Callable[[int, JointResult], Any] | None = None,
    eval_every: int = 0,
) -> JointResult:
    """Train autoencoder and SDE head jointly (the baseline; see the module docstring).

    ``frames``, ``dt``, ``latent_dim``, ``seed``, ``autoencoder``, ``device``, ``checkpoint``, ``resume``,
    ``checkpoint_every``, ``progress``, ``callback`` and ``eval_every`` are as in :func:`fimcg.coarse_grain`.

    Args:
        head: ``"polynomial"`` or ``"mlp"``.
        steps: Adam steps (all transitions every step).
        lr: Adam learning rate.
        init: how the networks start: ``InitConfig(method="random")`` (from scratch, the default, as
            joint models are usually trained) or ``method="isomap"`` (the coarse_grain initialisation).
        weights: weights of reconstruction and Euler-Maruyama likelihood.

    A collection of recordings (:func:`fimcg.io.open_collection`) gets one head per recording
    (:class:`HeadPerRecording`), all trained with the shared encoder.

    Returns:
        :class:`JointResult`.
    """
    data = prepare_frames(frames)
    dt = check_positive(dt, name="dt")
    steps = check_int(steps, name="steps", minimum=0)
    latent_dim = check_int(latent_dim, name="latent_dim", minimum=1)
    if latent_dim > 3:
        raise ValueError(f"latent_dim must be 1, 2 or 3 (fimcg SDEs have d <= 3), got {latent_dim}")
    if head not in ("polynomial", "mlp"):
        raise ValueError(f"head must be 'polynomial' or 'mlp', got {head!r}")
    check_option_types(autoencoder=autoencoder, init=init, weights=weights)
    lr = check_positive(lr, name="lr")
    if init.method == "slow":
        raise ValueError("joint_coarse_grain has no frozen estimator to judge candidate coordinates: use "
                         "InitConfig(method='random') or method='isomap'")
    config = {"method": "joint", "latent_dim": latent_dim, "estimator": f"joint-{head}", "head": head,
              "init_method": init.method, "steps": steps, "lr": lr, "rec_weight": weights.reconstruction,
              "sim_weight": weights.likelihood, **autoencoder.as_dict(latent_dim), "init_steps": init.steps,
              "isomap_points": init.points, "seed": seed, **data.facts(dt)}
    checkpoint_every = check_int(checkpoint_every, name="checkpoint_every", minimum=1)
    eval_every = check_int(eval_every, name="eval_every", minimum=0)
    torch.manual_seed(seed)

    def new_head() -> nn.Module:
        return PolynomialHead(latent_dim) if head == "polynomial" else MLPHead(latent_dim)
    groups = data.groups
    head_mod = new_head() if groups is None else HeadPerRecording([new_head() for _ in groups])

    def sim_loss(run: Trainer, z: torch.Tensor) -> torch.Tensor:
        if groups is None:
            return em_nll(head_mod, z, dt)
        return torch.stack([em_nll(h, z[torch.as_tensor(g, device=z.device)], dt)
                            for h, g in zip(head_mod.heads, groups)]).mean()

    def make_result(run: Trainer, z: torch.Tensor, history: list[dict], cfg: dict) -> JointResult:
        res = JointResult(run.enc, run.dec, dt, z, history, cfg, None)
        res.head = head_mod
        return res

    return train_autoencoder(data, dt, config, fmt="fimcg-joint-train-1", device=torch.device(device),
                             checkpoint=checkpoint, resume=resume, init=init.method, train_decoder=True,
                             sim_loss=sim_loss, make_result=make_result,
                             extra={"head": head_mod}, checkpoint_every=checkpoint_every, progress=progress,
                             desc="joint training", callback=callback, eval_every=eval_every)
