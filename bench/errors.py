"""The benchmarks' error metrics and how they aggregate them."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def errors(est: torch.Tensor, true: torch.Tensor) -> tuple[float, float]:
    """(RMSE, relative RMSE = RMSE / RMS of the truth) of an estimate on a grid."""
    rmse = float(((est - true) ** 2).mean().sqrt())
    return rmse, rmse / float((true ** 2).mean().sqrt())


def relative_error(est: torch.Tensor, true: torch.Tensor) -> float:
    """The relative RMSE of :func:`errors`."""
    return errors(est, true)[1]


def mean(values: Iterable[float]) -> float:
    """The mean over seeds (the benchmark cases' aggregate)."""
    values = list(values)
    return sum(values) / len(values)


def median(values: Iterable[float]) -> float:
    """The median over data sets (the held-out prior's aggregate; torch's lower median for an even count)."""
    return float(torch.tensor(list(values)).median())


def fim_drift_error(fim, paths: torch.Tensor, dt, x: torch.Tensor, f_true: torch.Tensor) -> float:
    """The relative drift RMSE of the FIM's estimate on one data set."""
    with torch.no_grad():
        f, _ = fim.estimate(paths, dt, x, warn=False)
    return relative_error(f, f_true)
