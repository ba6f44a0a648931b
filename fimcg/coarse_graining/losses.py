"""The likelihood terms of coarse-graining: Euler-Maruyama transition likelihoods in the latent and in frame space.
"""

from __future__ import annotations

import math
import torch
from .autoencoder import Decoder
from .data import Estimator


def decoder_jacobian(dec: Decoder, z: torch.Tensor, h: float = 1e-2) -> torch.Tensor:
    """Jacobian J = dD/dz of the decoder D: z -> PCA features, by central differences of step ``h``
    (latent units) at latents z (B, d); returns (B, k, d). The decoder is frozen in coarse_grain:
    gradients reach z only."""
    d = z.shape[-1]
    net = dec.coefficients
    cols = []
    for i in range(d):
        e = torch.zeros(d, dtype=z.dtype, device=z.device)
        e[i] = h
        cols.append((net(z + e) - net(z - e)) / (2 * h))
    return torch.stack(cols, dim=-1)


def decoder_log_volume(dec: Decoder, z: torch.Tensor, h: float = 1e-2) -> torch.Tensor:
    """log of the volume element sqrt(det(J^T J)) of the decoder D: z -> PCA features at z (B, d),
    J = dD/dz by central differences; returns (B,)."""
    d = z.shape[-1]
    J = decoder_jacobian(dec, z, h)  # (B, k, d)
    gram = J.transpose(1, 2) @ J  # (B, d, d)
    return 0.5 * torch.logdet(gram + 1e-8 * torch.eye(d, dtype=z.dtype, device=z.device))


def sample_transitions(n_paths: int, T: int, gen: torch.Generator, n_queries: int, context_size: int,
                        device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor]:
    """This step's random context and query transitions (see the module doc).

    Returns ``(sel, q)``: ``sel`` (P,) indices of a random subset of whole paths holding at most
    ``context_size`` transitions, or None when all ``n_paths`` paths fit; ``q`` (B,) indices of at
    most ``n_queries`` transitions among the P * (T - 1) of the context, flattened path by path.
    """
    per = max(1, context_size // max(T - 1, 1))
    sel = None
    if per < n_paths:  # a random subset of whole paths as this step's context
        sel = torch.randperm(n_paths, generator=gen)[:per].to(device)
        n_paths = sel.shape[0]
    q = torch.randperm(n_paths * (T - 1), generator=gen)[:n_queries].to(device)
    return sel, q


def em_step_nll(dz: torch.Tensor, f: torch.Tensor, var: torch.Tensor, dt: float) -> torch.Tensor:
    """Gaussian NLL of steps dz (B, d) over a time dt under the Euler-Maruyama step law
    N(f dt, var) (drift f and variance var, each (B, d)), summed over d; returns (B,)."""
    return 0.5 * (((dz - f * dt) ** 2) / var + torch.log(2 * math.pi * var)).sum(-1)


def transition_nll(dz: torch.Tensor, f: torch.Tensor, g: torch.Tensor, dt: float) -> torch.Tensor:
    """Euler-Maruyama NLL of latent steps dz (B, d) under drift f (B, d) and diffusion g (B, d)
    over a time step dt, summed over d; the variance g^2 dt gets a floor of 1e-3 of its mean
    (not differentiated) so that a vanishing estimated diffusion cannot blow up. Returns (B,)."""
    var = g ** 2 * dt
    return em_step_nll(dz, f, var + 1e-3 * var.detach().mean() + 1e-12, dt)


def latent_nll(z: torch.Tensor, dt: float, estimator: Estimator, gen: torch.Generator, n_queries: int,
             context_size: int, dec: Decoder | None = None) -> torch.Tensor:
    """One-step Gaussian NLL of sampled latent increments (LikelihoodConfig(space="latent"), see module doc)."""
    n_paths, T, d = z.shape
    sel, q = sample_transitions(n_paths, T, gen, n_queries, context_size, z.device)
    if sel is not None:
        z = z[sel]
    x0 = z[:, :-1].reshape(-1, d)[q]
    dz = (z[:, 1:] - z[:, :-1]).reshape(-1, d)[q]
    f, g = estimator(z, dt, x0)
    nll = transition_nll(dz, f, g, dt)
    if dec is not None:
        nll = nll + decoder_log_volume(dec, x0)
    return nll.mean()


def frame_nll(z: torch.Tensor, feats: torch.Tensor, dt: float, estimator: Estimator, dec: Decoder,
                    gen: torch.Generator, n_queries: int, context_size: int, h: float = 1e-2) -> torch.Tensor:
    """One-step Gaussian NLL of the frame increments under the estimator's latent SDE (module doc).

    z: latents (n_paths, T, d) with graph; feats: PCA features (n_paths * T, k) of the frames.
    """
    n_paths, T, d = z.shape
    u = feats.reshape(n_paths, T, -1)
    sel, q = sample_transitions(n_paths, T, gen, n_queries, context_size, z.device)
    if sel is not None:
        z, u = z[sel], u[sel]
    z0 = z[:, :-1].reshape(-1, d)[q]
    du = (u[:, 1:] - u[:, :-1]).reshape(-1, u.shape[-1])[q]  # observed frame increments (B, k)
    J = decoder_jacobian(dec, z0, h)  # (B, k, d) decoder Jacobian at z_t
    gram = J.transpose(1, 2) @ J + 1e-8 * torch.eye(d, dtype=z.dtype, device=z.device)
    dz_obs = torch.linalg.solve(gram, (J.transpose(1, 2) @ du[:, :, None]))[:, :, 0]  # (B, d)
    f, g = estimator(z, dt, z0)
    nll = transition_nll(dz_obs, f, g, dt)
    return (nll + 0.5 * torch.logdet(gram)).mean()
