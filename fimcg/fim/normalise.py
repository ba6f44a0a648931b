"""Context preparation: per-dataset standardisation of states and rescaling of time (the FIM's normalised units).
"""

from __future__ import annotations

from dataclasses import dataclass
import torch
import torch.nn.functional as F
from .._validation import check_steps


TIME_SCALE = 0.01  # the normalised typical step Δt'


#: the levels of the data quantiles at which :func:`test_points` puts the lack-of-fit test points
TEST_POINT_QUANTILES = (0.05, 0.95)


#: floor of the standard deviations and sums of squares divided by (a context that does not move)
SCALE_FLOOR = 1e-12


TimeSteps = "float | torch.Tensor | Sequence"  # a regular step, or the steps between observations


@dataclass
class Normalised:
    """A batch of B datasets in normalised units, each with N transitions.

    Attributes:
        x: (B, N, D) standardised start states of the transitions (zero-padded to D = max_dim).
        dx: (B, N, D) standardised increments.
        dt: (B, N, 1) rescaled time steps (typical value 0.01).
        mean, std: (B, D) the per-dimension standardisation (padding dims: 0 and 1).
        time_factor: (B,) a, with Δt' = a Δt.
        dim_mask: (B, D) 1.0 on active dimensions.
        lag1: (B, D) lag-1 correlation of consecutive increments within paths.
        lagprod: (B, N, D) product of each increment with the next one of the same path (0 for
            the last increment of a path). White observation noise of variance σ² gives it a
            mean of -σ², which makes noise-robust second moments possible.
    """

    x: torch.Tensor
    dx: torch.Tensor
    dt: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    time_factor: torch.Tensor
    dim_mask: torch.Tensor
    lag1: torch.Tensor
    lagprod: torch.Tensor


def normalise(paths: torch.Tensor, dt: torch.Tensor | float, *, max_dim: int = 3,
              mean: torch.Tensor | None = None, std: torch.Tensor | None = None,
              time_factor: torch.Tensor | None = None) -> Normalised:
    """Standardise a batch of datasets and rescale time.

    Args:
        paths: (B, P, T, d) observed states: B datasets of P paths with T observations each.
        dt: observation step (time units): a float or a tensor broadcastable to (B,) for regular
            sampling, or (B, P, T - 1) steps between consecutive observations (irregular sampling).
        max_dim: pad states to this many dimensions.
        mean, std: (B, d) standardisation to use instead of the batch's own (for a dataset split
            into groups of paths of different lengths).
        time_factor: (B,) time rescaling a to use instead of 0.01 / (geometric mean of the steps).

    Returns:
        :class:`Normalised` with N = P (T - 1) transitions per dataset. Differentiable in ``paths``.
    """
    B, P, T, d = paths.shape
    dtype, device = paths.dtype, paths.device
    dt = torch.as_tensor(dt, dtype=dtype, device=device)
    if dt.ndim == 3:  # irregular sampling: one step per transition
        steps = dt.expand(B, P, T - 1)
        typical = torch.exp(torch.log(steps).mean(dim=(1, 2)))  # geometric mean step (B,)
    else:
        typical = dt.reshape(-1).expand(B)
        steps = typical[:, None, None].expand(B, P, T - 1)
    flat = paths.reshape(B, P * T, d)
    mean = flat.mean(dim=1) if mean is None else mean
    std = (flat.std(dim=1) if std is None else std).clamp_min(SCALE_FLOOR)
    z = (paths - mean[:, None, None, :]) / std[:, None, None, :]
    a = TIME_SCALE / typical if time_factor is None else time_factor  # (B,)
    x = z[:, :, :-1].reshape(B, P * (T - 1), d)
    dx = (z[:, :, 1:] - z[:, :, :-1]).reshape(B, P * (T - 1), d)
    dtn = (a[:, None, None] * steps).reshape(B, P * (T - 1), 1)
    # lag-1 correlation of consecutive increments within each path
    inc = z[:, :, 1:] - z[:, :, :-1]  # (B, P, T-1, d)
    if T >= 3:
        num = (inc[:, :, 1:] * inc[:, :, :-1]).sum(dim=(1, 2))
        den = (inc ** 2).sum(dim=(1, 2)).clamp_min(SCALE_FLOOR)
        lag1 = num / den
    else:
        lag1 = torch.zeros(B, d, dtype=dtype, device=device)
    lagprod = F.pad(inc[:, :, 1:] * inc[:, :, :-1], (0, 0, 0, 1)).reshape(B, P * (T - 1), d)
    pad = max_dim - d
    dim_mask = torch.zeros(B, max_dim, dtype=dtype, device=device)
    dim_mask[:, :d] = 1.0
    if pad:
        x, dx, lagprod = F.pad(x, (0, pad)), F.pad(dx, (0, pad)), F.pad(lagprod, (0, pad))
        mean, lag1 = F.pad(mean, (0, pad)), F.pad(lag1, (0, pad))
        std = F.pad(std, (0, pad), value=1.0)
    return Normalised(x=x, dx=dx, dt=dtn, mean=mean, std=std, time_factor=a, dim_mask=dim_mask, lag1=lag1,
                      lagprod=lagprod)


def active_dims(ctx: Normalised) -> int:
    """How many leading state dimensions are active in some dataset of the batch (the rest is zero padding)."""
    return int(ctx.dim_mask.sum(dim=1).max())


def test_points(ctx: Normalised, n: int) -> torch.Tensor:
    """``n`` data quantiles per dataset and dimension (levels 5% to 95%), normalised units (B, n, D).

    The points where :class:`FIM` evaluates its global lack-of-fit tests; spaced by the data's
    density, so that the tests weigh misfit where the data are.
    """
    B, N, D = ctx.x.shape
    levels = torch.linspace(*TEST_POINT_QUANTILES, n, dtype=ctx.x.dtype, device=ctx.x.device)
    idx = (levels * (N - 1)).round().long()
    return ctx.x.detach().sort(dim=1).values[:, idx]


def time_weights(ctx: Normalised) -> torch.Tensor | None:
    """Weights (B, N, 1) ∝ Δt' of the transitions of irregularly sampled datasets (mean 1), or None.

    With them every average of Δx'/Δt' becomes Σ Δx' / Σ Δt' (and of Δx'²/Δt', Σ Δx'² / Σ Δt'):
    the efficient combination of increments over unequal steps (the variance of Δx'/Δt' is g'²/Δt').
    For regular sampling all weights are 1 and None is returned.
    """
    if bool((ctx.dt == ctx.dt[:, :1]).all()):
        return None
    return ctx.dt / ctx.dt.mean(dim=1, keepdim=True)


def group_steps(dt, group: torch.Tensor, *, name: str) -> float | torch.Tensor:
    """The time step of a group of paths (1, P, T, d), checked (:func:`check_steps`): a float, or a
    (1, P, T - 1) tensor of steps."""
    t = check_steps(dt, n_paths=group.shape[1], length=group.shape[2], name=name, device=group.device)
    return t if isinstance(t, float) else t[None]


def concat_normalised(parts: list[Normalised]) -> Normalised:
    """One dataset from groups of paths normalised with the same mean and std."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    x, dx, dt, lagprod = (torch.cat([getattr(p, k) for p in parts], 1) for k in ("x", "dx", "dt", "lagprod"))
    lag1 = lagprod.sum(dim=1) / (dx ** 2).sum(dim=1).clamp_min(SCALE_FLOOR)  # as normalise() computes it
    return Normalised(x=x, dx=dx, dt=dt, mean=first.mean, std=first.std, time_factor=first.time_factor,
                      dim_mask=first.dim_mask, lag1=lag1, lagprod=lagprod)
