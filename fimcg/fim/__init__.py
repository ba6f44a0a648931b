"""The Foundation Inference Model (FIM): drift and diffusion of an SDE, zero-shot, in one forward pass.

Our FIM is a network that weighs classic and nonparametric estimates (kernel moments, polynomial and
function-family least squares, a cross-validated average) by the context, pretrained on a synthetic
prior of SDEs. Unlike FIM-SDE (a transformer that outputs f and g directly), every drift it returns is
a location-wise mixture of those estimates. Two sets of weights ship: one for 1-D states and one
for 2-D states (multivariate polynomial fits, kernel moments with a 2-D kernel); ``load_fim()``
returns the first with the second as its companion, so both dimensions share one call.

Modules, in reading order: :mod:`.normalise` (units), :mod:`.candidates` (the classic estimates as
functions), :mod:`.library` (each candidate as one object behind the :class:`Candidate` protocol),
:mod:`.config` (:class:`NetworkConfig`, :class:`CandidateConfig`, :class:`FIMConfig`), :mod:`.network`,
:mod:`.model` (:class:`FIM`), :mod:`.weights` (shipped weights), :mod:`.training` (prior, loss, loop).
Imports within the package: ``sde``, ``io``, ``estimators`` (shared bases and kernel formulas), ``_validation``.
"""

from .config import CandidateConfig, FIMConfig, NetworkConfig
from .library import Candidate, CandidateOutput, DecoderState
from .model import FIM, EncodedContext, ExtrapolationWarning, Prediction
from .weights import (SHIPPED_WEIGHTS, SHIPPED_WEIGHTS_2D, SHIPPED_WEIGHTS_2D_SHA256, SHIPPED_WEIGHTS_SHA256,
                      UnverifiedWeightsWarning, load_fim, save_weights)

__all__ = ["FIM", "FIMConfig", "NetworkConfig", "CandidateConfig", "Candidate", "CandidateOutput", "DecoderState", "load_fim", "save_weights", "ExtrapolationWarning", "UnverifiedWeightsWarning",
           "EncodedContext", "Prediction", "SHIPPED_WEIGHTS", "SHIPPED_WEIGHTS_SHA256", "SHIPPED_WEIGHTS_2D",
           "SHIPPED_WEIGHTS_2D_SHA256"]
