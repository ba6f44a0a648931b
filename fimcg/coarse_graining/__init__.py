"""Coarse-graining video: an encoder/decoder learned around a frozen estimator (by default the FIM).

Modules: :mod:`.data` (frames in, estimators adapted), :mod:`.autoencoder`, :mod:`.losses`,
:mod:`.options` (the grouped options), :mod:`.slow` (choosing the slow coordinate), :mod:`.trainer` (one trainer for both methods), :mod:`.result`, :mod:`.decoupled`
(:func:`coarse_grain`, the method), :mod:`.joint` (the baseline that learns its own SDE head).
Imports within the package: ``sde``, ``estimators``, ``fim``, ``io``, ``_validation``.
"""

from .data import as_estimator, prepare_frames
from .decoupled import coarse_grain
from .joint import JointResult, joint_coarse_grain
from .options import AutoencoderConfig, InitConfig, LikelihoodConfig, LossWeights
from .slow import NoSlowVariableWarning
from .result import CoarseGrainResult
from .trainer import CheckpointMismatch, TrainingDiverged

__all__ = ["coarse_grain", "CoarseGrainResult", "joint_coarse_grain", "JointResult", "TrainingDiverged",
           "CheckpointMismatch", "prepare_frames", "as_estimator", "AutoencoderConfig", "InitConfig", "LossWeights",
           "LikelihoodConfig", "NoSlowVariableWarning"]
