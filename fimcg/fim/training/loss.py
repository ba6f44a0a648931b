"""The pretraining loss and the validation metrics of a FIM."""

from __future__ import annotations

import math

import torch

from ..model import FIM, Prediction
from ..normalise import TIME_SCALE
from .prior import TrainingBatch

#: share of the mean g'² added to the drift's normaliser (keeps data sets with almost no drift finite)
DRIFT_FLOOR_SHARE = 0.01
#: relative errors are clamped here (the gradient stops): hopeless data sets cannot dominate a batch
MAX_RELATIVE_ERROR = 1e4
#: the drift term's weight is snr / (snr + SNR_HALF_WEIGHT): half weight at this signal-to-noise ratio
SNR_HALF_WEIGHT = 10.0
#: weight of the loss-scale head's term
SCALE_LOSS_WEIGHT = 0.1


def normalised_targets(batch: TrainingBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """True drift and diffusion at the queries in the model's normalised units, each (B, G, d).

    With a = TIME_SCALE/dt (0.01/dt) and s the per-dataset standard deviation of the observations (as in
    :func:`fimcg.fim.normalise`): f' = f / (a s), g' = g / (s √a).
    """
    a = TIME_SCALE / batch.dt
    s = batch.paths.flatten(1, 2).std(dim=1).clamp_min(1e-12)[:, None, :]  # (B, 1, d)
    return batch.drift / (a * s), batch.diffusion / (s * math.sqrt(a))


def fim_loss(pred: Prediction, batch: TrainingBatch) -> tuple[torch.Tensor, dict]:
    """The pretraining loss (normalised units), and its parts for logging.

    The loss is the benchmark's metric: per dataset, the relative RMSE of the drift over its query
    locations, ``r_f = sqrt(mean |f̂' - f'|² / (mean f'² + 0.01 mean g'²))`` (the small diffusion
    term keeps datasets with almost no drift finite), plus the relative RMSE of the diffusion
    ``r_g = sqrt(mean |ĝ' - g'|² / mean g'²)``; the main loss is the mean of
    ``log(1 + r)``, about r where r is small, while the synthetic datasets whose noise hides their
    drift (r in the hundreds for any classic estimate) cannot dominate the batch (r is clamped at
    10⁴, where the gradient stops). The drift term is a weighted mean over datasets with weights
    ``w = snr / (snr + 10)``, where ``snr = mean f'² · Δt' N / mean g'²`` is the drift's
    signal-to-noise ratio in the context: without it, the many unidentifiable datasets of the prior
    teach the model to shrink every drift estimate towards zero (measured: the drift error on
    informative contexts grew during training), with it the loss is about the contexts where the
    drift can be known. The diffusion term is a plain mean over datasets. The loss-scale head is
    trained, on detached inputs and detached per-location errors ``l = log(1 + e)``, with FIM-SDE's
    ``exp(-s) l + s``: it learns s ≈ log E[l] at each location, an uncertainty estimate that does
    not reweight the main loss.
    """
    d = batch.drift.shape[-1]
    f_t, g_t = normalised_targets(batch)
    f_hat, g_hat = pred.drift[..., :d], pred.diffusion[..., :d]
    g2 = (g_t ** 2).mean(dim=(1, 2), keepdim=True).clamp_min(1e-8)
    nf = (f_t ** 2).mean(dim=(1, 2), keepdim=True) + DRIFT_FLOOR_SHARE * g2
    e_f = ((f_hat - f_t) ** 2) / nf  # (B, G, d)
    e_g = ((g_hat - g_t) ** 2) / g2
    r_f = torch.sqrt(e_f.mean(dim=(1, 2)) + 1e-10).clamp(max=MAX_RELATIVE_ERROR)
    r_g = torch.sqrt(e_g.mean(dim=(1, 2)) + 1e-10).clamp(max=MAX_RELATIVE_ERROR)
    # identifiability of each dataset's drift: its signal energy over the variance of a drift
    # estimated from N transitions spanning a time Δt' N (a signal-to-noise ratio, ~F statistic)
    n_trans = batch.paths.shape[1] * (batch.paths.shape[2] - 1)
    snr = (f_t ** 2).mean(dim=(1, 2)) * (TIME_SCALE * n_trans) / g2.flatten()
    w_f = snr / (snr + SNR_HALF_WEIGHT)
    main = (w_f * torch.log1p(r_f)).sum() / w_f.sum().clamp_min(1e-8) + torch.log1p(r_g).mean()
    s = pred.log_scale
    per_location = (torch.log1p(e_f) + torch.log1p(e_g)).mean(-1).detach()
    scale_loss = (torch.exp(-s) * per_location + s).mean()
    return main + SCALE_LOSS_WEIGHT * scale_loss, {"main": float(main.detach()), "loss_f": float(torch.log1p(r_f).detach().mean()),
                                     "loss_g": float(torch.log1p(r_g).detach().mean())}


def _rel_rmse(est: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Relative RMSE per dataset over queries and dims: (B,)."""
    return ((est - true) ** 2).mean(dim=(1, 2)).sqrt() / (true ** 2).mean(dim=(1, 2)).sqrt().clamp_min(1e-8)


@torch.no_grad()
def evaluate_on_prior(model: FIM, batches: list[TrainingBatch]) -> dict:
    """Median relative RMSE of drift and diffusion over held-out prior datasets."""
    model.eval()
    rf, rg = [], []
    dev = next(model.parameters()).device
    for b in batches:
        b = b.to(dev)
        pred = model.predict_normalised(b.paths, b.dt, b.queries)
        f_t, g_t = normalised_targets(b)
        d = f_t.shape[-1]
        rf.append(_rel_rmse(pred.drift[..., :d], f_t))
        rg.append(_rel_rmse(pred.diffusion[..., :d], g_t))
    rf, rg = torch.cat(rf), torch.cat(rg)
    return {"val_drift_rel": float(rf.median()), "val_diffusion_rel": float(rg.median())}


@torch.no_grad()
def evaluate_reference(model: FIM, *, seed: int = 0) -> dict:
    """Relative RMSE on a reference system: for weights trained on d = 1 the reference double well
    (1 path x 5000 observations, dt = 0.002, on 100 points over its 2-98% range), otherwise the
    2-D double well :func:`fimcg.sde.systems.double_well_2d` (20 paths x 250 observations, dt = 0.01,
    at 200 of its observed states)."""
    from ...sde.model import SDE
    from ...sde.simulate import simulate
    from ...sde.systems import double_well_2d

    if 1 in model.config.trained_dims:
        sde = SDE(lambda x: 4 * x - 4 * x ** 3, lambda x: torch.sqrt((4 - 1.25 * x ** 2).clamp_min(0)))
        paths, dt = simulate(sde, torch.zeros(1, 1), dt=0.002, n_steps=5000, seed=seed), 0.002
        lo, hi = torch.quantile(paths.flatten(), torch.tensor([0.02, 0.98]))
        x = torch.linspace(float(lo), float(hi), 100)[:, None]
    else:
        sde, dt = double_well_2d(), 0.01
        x0 = torch.tensor([[-1.0, 0.0], [1.0, 0.0]]).repeat(10, 1)
        paths = simulate(sde, x0, dt=dt, n_steps=249, seed=seed)
        x = paths.reshape(-1, 2)[torch.linspace(0, 4999, 200).long()]
    model.eval()
    dev = next(model.parameters()).device
    f, g = model.estimate(paths.to(dev), dt, x.to(dev), warn=False)
    f_t, g_t = sde.drift(x), sde.diffusion(x)
    rel = lambda e, t: float(((e.cpu() - t) ** 2).mean().sqrt() / (t ** 2).mean().sqrt())
    return {"ref_drift_rel": rel(f, f_t), "ref_diffusion_rel": rel(g, g_t)}
