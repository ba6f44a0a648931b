"""A small frame autoencoder that trains in seconds on a CPU, and its initialisation.

Architecture (frames of any size; D = C * H * W pixels)::

    frame (C, H, W) --flatten--> (D,) --PCA projection--> (k,) --MLP--> (latent_dim,) --LatentNorm--> z
    z --decoder--> (k_rec,) PCA coefficients --PCA basis--> (D,) --reshape--> frame

* :class:`FramePCA` is a fixed linear layer (mean frame and top principal directions, fitted once on
  the training frames). It makes the networks tiny and independent of the image size, and it
  averages pixel noise over the whole frame.
* The decoder is an MLP (:class:`Decoder`) or, for a 1-D latent, a cubic spline curve in PCA space
  (:class:`SplineDecoder`), fitted exactly by least squares: smooth and with an accurate Jacobian.
* :class:`LatentNorm` anchors the latent: it standardises every latent coordinate to zero mean
  and unit variance over the data (like batch normalisation without the learned affine part). The
  FIM is equivariant to offset and scale, so without this anchoring a simulation-consistent loss
  can shrink the latent towards a constant or let it drift away.
* :func:`isomap_coordinates` gives the initial coordinate: geodesic distances on a k-nearest-neighbour
  graph of the PCA features, embedded by classical MDS. For an object moving through the image this
  is the arc length of the frames' curve in pixel space, which for a rigid blob is proportional to
  the distance travelled: a smooth, nearly affine function of the state, a good start for the
  encoder (a random start gives a folded, noisy latent; see REFERENCES.md).

Reconstruction is measured in PCA-coefficient space (with ``k_rec`` components); because the basis
is orthonormal this equals the pixel MSE of the frames' projections, at a fraction of the cost.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import nn

__all__ = ["FramePCA", "LatentNorm", "Encoder", "Decoder", "SplineDecoder", "isomap_coordinates", "mlp"]


def mlp(n_in: int, hidden: int, n_out: int, *, depth: int = 2) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden`` with SiLU activations."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class FramePCA(nn.Module):
    """Fixed linear projection of flattened frames onto their top principal directions.

    Buffers: ``mean`` (D,), ``components`` (D, k) orthonormal columns, ``scale`` (scalar: the standard
    deviation along the first direction, so features are O(1)), ``frame_shape`` (the (C, H, W) or
    (H, W) shape the projection was fitted on), ``explained`` (k,) variance fractions.
    """

    def __init__(self, frame_shape: tuple[int, ...], n_components: int) -> None:
        super().__init__()
        D = int(np.prod(frame_shape))
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self.register_buffer("mean", torch.zeros(D))
        self.register_buffer("components", torch.zeros(D, n_components))
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("explained", torch.zeros(n_components))

    @property
    def n_components(self) -> int:
        return self.components.shape[1]

    @staticmethod
    def sample(n: int, *, max_samples: int = 4000, seed: int = 0) -> torch.Tensor:
        """Indices (m,) of the random subset of ``n`` frames the PCA is fitted on (all when n <= max_samples)."""
        gen = torch.Generator().manual_seed(seed)
        return torch.randperm(n, generator=gen)[:max_samples] if n > max_samples else torch.arange(n)

    @torch.no_grad()
    def fit(self, flat: torch.Tensor, *, max_samples: int = 4000, seed: int = 0) -> "FramePCA":
        """Fit on flattened frames ``flat`` (N, D) (a random subset of ``max_samples`` rows is used)."""
        idx = self.sample(flat.shape[0], max_samples=max_samples, seed=seed)
        return self.fit_rows(flat[idx.to(flat.device)])

    @torch.no_grad()
    def fit_rows(self, rows: torch.Tensor) -> "FramePCA":
        """Fit on the flattened frames ``rows`` (m, D) themselves (e.g. the :meth:`sample` of a recording)."""
        # in place where possible: for 64x64 frames each (m, D) or (D, D) double copy is ~130 MB
        centred = rows.double()
        n_rows = centred.shape[0]
        mean = centred.mean(dim=0)
        centred -= mean
        total = float((centred ** 2).sum())
        k = self.n_components
        if centred.shape[1] <= 4096:  # eigen-decomposition of the pixel covariance (D x D)
            cov = centred.T @ centred
            del centred
            evals, evecs = torch.linalg.eigh(cov)
            del cov
            order = torch.argsort(evals, descending=True)[:k]
            s = evals[order].clamp_min(0).sqrt()
            vh = evecs[:, order].T
            del evecs
        else:  # wide frames: randomised SVD
            _, s, v = torch.svd_lowrank(centred, q=min(k + 10, min(centred.shape)), niter=4)
            vh = v.T
        comps = vh[:k].T
        var = s[:k] ** 2
        if comps.shape[1] < k:  # fewer samples/pixels than components: pad with zeros
            comps = torch.cat([comps, torch.zeros(comps.shape[0], k - comps.shape[1], dtype=comps.dtype,
                                                  device=comps.device)], dim=1)
            var = torch.cat([var, torch.zeros(k - var.shape[0], dtype=var.dtype, device=var.device)])
        self.mean.copy_(mean.to(self.mean.dtype))
        self.components.copy_(comps.to(self.components.dtype))
        self.scale.copy_(torch.sqrt(var[0] / max(n_rows - 1, 1)).clamp_min(1e-12).to(self.scale.dtype))
        self.explained.copy_((var / max(total, 1e-300)).to(self.explained.dtype))
        return self

    def flatten(self, frames: torch.Tensor) -> torch.Tensor:
        """(..., \\*frame_shape) -> (..., D)."""
        nd = len(self.frame_shape)
        if tuple(frames.shape[-nd:]) != self.frame_shape:
            raise ValueError(f"frames have shape {tuple(frames.shape)}; this model was fitted on frames of shape "
                             f"{self.frame_shape}")
        return frames.reshape(*frames.shape[:-nd], -1)

    def project(self, flat: torch.Tensor) -> torch.Tensor:
        """Flattened frames (..., D) -> scaled PCA coefficients (..., k)."""
        return ((flat - self.mean) @ self.components) / self.scale

    def reconstruct(self, coef: torch.Tensor) -> torch.Tensor:
        """Scaled PCA coefficients (..., k) -> frames (..., \\*frame_shape)."""
        flat = coef * self.scale @ self.components.T + self.mean
        return flat.reshape(*coef.shape[:-1], *self.frame_shape)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.project(self.flatten(frames))


class LatentNorm(nn.Module):
    """Standardise latents to zero mean and unit variance per coordinate (the anchoring).

    In training mode the statistics of the batch are used (``coarse_grain`` always passes the whole
    data set, so they are exact) and copied into running buffers; in eval mode the buffers are used,
    so encoding new frames gives coordinates comparable with the training ones.
    """

    def __init__(self, dim: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.training:
            flat = h.reshape(-1, h.shape[-1])
            mean, std = flat.mean(dim=0), flat.std(dim=0)
            with torch.no_grad():
                self.mean.copy_(mean.detach())
                self.std.copy_(std.detach())
            return (h - mean) / (std + self.eps)
        return (h - self.mean) / (self.std + self.eps)


class Encoder(nn.Module):
    """Frames (B, \\*frame_shape) -> latents (B, latent_dim) (standardised by :class:`LatentNorm`).

    ``features(frames)`` gives the PCA features (B, k); ``from_features`` the rest, so a training
    loop can project the frames once and reuse the features.
    """

    def __init__(self, pca: FramePCA, latent_dim: int, *, hidden: int = 64, depth: int = 2) -> None:
        super().__init__()
        self.pca = pca
        self.net = mlp(pca.n_components, hidden, latent_dim, depth=depth)
        self.norm = LatentNorm(latent_dim)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        return self.pca(frames)

    def from_features(self, feats: torch.Tensor) -> torch.Tensor:
        return self.norm(self.net(feats))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.from_features(self.features(frames))


class Decoder(nn.Module):
    """Latents (B, latent_dim) -> frames (B, \\*frame_shape) through ``k_rec`` PCA coefficients."""

    def __init__(self, pca: FramePCA, latent_dim: int, *, hidden: int = 64, depth: int = 2) -> None:
        super().__init__()
        self.pca = pca
        self.net = mlp(latent_dim, hidden, pca.n_components, depth=depth)

    def coefficients(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, latent_dim) -> scaled PCA coefficients (B, k_rec)."""
        return self.net(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.pca.reconstruct(self.coefficients(z))


class SplineDecoder(nn.Module):
    """1-D latents (B, 1) -> frames, through a cubic B-spline curve in PCA-coefficient space.

    ``D(z) = sum_j c_j B_j(z)`` with uniform cubic B-splines on ``n_knots`` intervals spanning the
    latent range (widened by 10%) and coefficients ``c`` (n_knots + 3, k_rec). Smooth (twice
    continuously differentiable in z, so its Jacobian is accurate), and fitted exactly by linear
    least squares (:meth:`fit`) instead of by gradient steps. Outside the range the end intervals'
    cubics continue. The coefficients are a parameter, so joint training can also learn them.
    """

    def __init__(self, pca: FramePCA, latent_dim: int = 1, *, n_knots: int = 48) -> None:
        super().__init__()
        if latent_dim != 1:
            raise ValueError(f"SplineDecoder needs latent_dim=1, got {latent_dim}")
        self.pca = pca
        self.n_knots = n_knots
        self.coef = nn.Parameter(torch.zeros(n_knots + 3, pca.n_components))
        self.register_buffer("lo", torch.tensor(-3.0))
        self.register_buffer("hi", torch.tensor(3.0))

    def basis(self, z: torch.Tensor) -> torch.Tensor:
        """Cubic B-spline basis at latents z (B, 1): (B, n_knots + 3), differentiable in z."""
        u = (z[:, 0] - self.lo) / (self.hi - self.lo) * self.n_knots
        i = u.detach().floor().clamp(0, self.n_knots - 1)
        t = u - i
        w = torch.stack([(1 - t) ** 3 / 6, (3 * t ** 3 - 6 * t ** 2 + 4) / 6,
                         (-3 * t ** 3 + 3 * t ** 2 + 3 * t + 1) / 6, t ** 3 / 6], dim=-1)  # (B, 4)
        idx = i.long()[:, None] + torch.arange(4, device=z.device)[None, :]
        out = torch.zeros(z.shape[0], self.n_knots + 3, dtype=z.dtype, device=z.device)
        return out.scatter(1, idx, w)

    @torch.no_grad()
    def fit(self, z: torch.Tensor, feats: torch.Tensor, *, ridge: float = 1e-6) -> float:
        """Least-squares fit of the coefficients to (latents (N, 1), PCA features (N, k)); returns
        the relative residual sum |D(z) - u|^2 / sum |u|^2."""
        lo, hi = float(z.min()), float(z.max())
        pad = 0.1 * (hi - lo)
        self.lo.fill_(lo - pad)
        self.hi.fill_(hi + pad)
        A = self.basis(z).double()
        gram = A.T @ A
        gram += ridge * float(gram.diagonal().mean()) * torch.eye(A.shape[1], dtype=gram.dtype, device=gram.device)
        c = torch.linalg.solve(gram, A.T @ feats.double())
        self.coef.copy_(c.to(self.coef.dtype))
        resid = ((A @ c - feats.double()) ** 2).sum() / (feats.double() ** 2).sum()
        return float(resid)

    def coefficients(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, 1) -> scaled PCA coefficients (B, k_rec)."""
        return self.basis(z) @ self.coef

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.pca.reconstruct(self.coefficients(z))


#: spare Isomap eigenvectors computed for a latent of d > 1 coordinates, among which d are chosen
ISOMAP_SPARE = 4


def _unexplained(chosen: np.ndarray, candidate: np.ndarray, *, k: int = 10) -> float:
    """1 - R² of ``candidate`` (M,) predicted from ``chosen`` (M, c) by the mean over its k nearest
    neighbours (leaving the point out): near 0 when the candidate is a function of the chosen
    coordinates (a harmonic or a bend of them), near 1 when it is a new direction."""
    u = (chosen - chosen.mean(0)) / np.maximum(chosen.std(0), 1e-12)
    sq = np.sum(u ** 2, axis=1)
    dist = sq[:, None] + sq[None, :] - 2 * u @ u.T
    np.fill_diagonal(dist, np.inf)
    near = np.argpartition(dist, k, axis=1)[:, :k]
    pred = candidate[near].mean(axis=1)
    return float(np.mean((candidate - pred) ** 2) / max(np.var(candidate), 1e-300))


def farthest_points(feats: torch.Tensor, m: int, *, seed: int = 0, pool: int = 20_000) -> np.ndarray:
    """Indices (m,) sorted, of rows of ``feats`` (N, k) chosen by farthest-point sampling: each next
    point is the one farthest from those chosen (from a random start; among a random pool of at
    most ``pool`` rows), so the sample covers the data evenly rather than by density."""
    gen = np.random.default_rng(seed)
    n = feats.shape[0]
    cand = np.sort(gen.choice(n, size=min(n, pool), replace=False))
    x = feats.detach().cpu().double().numpy()[cand]
    chosen = [int(gen.integers(len(cand)))]
    dist = np.sum((x - x[chosen[0]]) ** 2, axis=1)
    for _ in range(min(m, len(cand)) - 1):
        j = int(np.argmax(dist))
        chosen.append(j)
        dist = np.minimum(dist, np.sum((x - x[j]) ** 2, axis=1))
    return np.sort(cand[chosen])


def isomap_coordinates(feats: torch.Tensor, latent_dim: int, *, n_neighbors: int = 10,
                       max_points: int = 1500, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Isomap coordinates of a subsample of feature vectors.

    Args:
        feats: (N, k) features (e.g. PCA coefficients of frames).
        latent_dim: number of coordinates to return.
        n_neighbors: neighbours per point in the graph (raised automatically until it is connected).
        max_points: size of the random subsample embedded (cost grows with its square).

    For ``latent_dim`` > 1 the classical-MDS step computes :data:`ISOMAP_SPARE` more eigenvectors
    than needed and keeps, after the first, each time the one with the most variance that the
    coordinates kept so far do not explain (its variance times 1 - R² of a nearest-neighbour
    regression on them): the leading eigenvectors of a domain much longer than wide, or bent around
    a narrow neck between two wells, include functions of the first coordinate (harmonics, bends)
    that carry no new direction (the non-redundant eigenvector selection of Dsilva et al. 2018,
    applied to Isomap's coordinates).

    Returns:
        ``(index, coords)``: the rows of ``feats`` used (M,) and their coordinates (M, latent_dim),
        standardised to zero mean and unit variance.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components, shortest_path

    gen = np.random.default_rng(seed)
    n = feats.shape[0]
    if latent_dim == 1 or n <= max_points:
        idx = np.sort(gen.choice(n, size=min(n, max_points), replace=False))
    else:  # d > 1: cover the data evenly (sparsely visited regions such as a saddle keep their points)
        idx = farthest_points(feats, max_points, seed=seed)
    x = feats.detach().cpu().double().numpy()[idx]
    m = x.shape[0]
    sq = np.sum(x ** 2, axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0))
    order = np.argsort(dist, axis=1)
    k = min(n_neighbors, m - 1)
    while True:
        rows = np.repeat(np.arange(m), k)
        cols = order[:, 1:k + 1].reshape(-1)
        graph = csr_matrix((dist[rows, cols], (rows, cols)), shape=(m, m))
        graph = graph.maximum(graph.T)
        n_comp, _ = connected_components(graph, directed=False)
        if n_comp == 1 or k >= m - 1:
            break
        k = min(2 * k, m - 1)
    geo = shortest_path(graph, method="D", directed=False)
    if not np.all(np.isfinite(geo)):  # cannot happen once connected; guard anyway
        geo = np.where(np.isfinite(geo), geo, np.nanmax(geo[np.isfinite(geo)]) * 2)
    d2 = geo ** 2
    # classical MDS: top eigenvectors of the double-centred squared distances (Lanczos: only a few needed)
    B = -0.5 * (d2 - d2.mean(axis=0, keepdims=True) - d2.mean(axis=1, keepdims=True) + d2.mean())
    # d > 1: a few spare eigenvectors, among which the non-redundant ones are chosen (below)
    n_eig = latent_dim if latent_dim == 1 else latent_dim + ISOMAP_SPARE
    if n_eig < m - 1:
        from scipy.sparse.linalg import eigsh
        w, v = eigsh(B, k=n_eig, which="LA", v0=gen.standard_normal(m))
    else:
        w, v = np.linalg.eigh(B)
    order = np.argsort(w)[::-1][:n_eig]
    all_coords = v[:, order] * np.sqrt(np.maximum(w[order], 0.0))
    top = [0]
    while len(top) < latent_dim:  # the coordinate with the most variance that is new (not a function of the chosen)
        new = [np.var(all_coords[:, k]) * _unexplained(all_coords[:, top], all_coords[:, k])
               if k not in top else -1.0 for k in range(all_coords.shape[1])]
        top.append(int(np.argmax(new)))
    coords = all_coords[:, top]
    coords = (coords - coords.mean(axis=0)) / np.maximum(coords.std(axis=0), 1e-12)
    return torch.as_tensor(idx), torch.as_tensor(coords, dtype=torch.float32)
