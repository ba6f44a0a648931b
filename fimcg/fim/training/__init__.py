"""Pretraining the FIM: the synthetic prior (:mod:`.prior`), the loss (:mod:`.loss`) and the
resumable, data-parallel loop (:mod:`.loop`; run it as ``python -m fimcg.fim.training`` or ``fimcg pretrain``)."""

from .loop import PretrainConfig, export_weights, pretrain, warm_start
from .loss import evaluate_on_prior, fim_loss
from .prior import PriorConfig, SyntheticPrior

__all__ = ["PretrainConfig", "pretrain", "export_weights", "warm_start", "fim_loss", "evaluate_on_prior",
           "PriorConfig", "SyntheticPrior"]
