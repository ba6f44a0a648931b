"""Interactive notebook helpers: fast mode, and ipywidgets that drive plotly figures.

One module per chapter (:mod:`~fimcg.widgets.landscape` for notebook 01, :mod:`~fimcg.widgets.video`,
:mod:`~fimcg.widgets.estimation`, :mod:`~fimcg.widgets.normalisation`, :mod:`~fimcg.widgets.coarse_graining`,
:mod:`~fimcg.widgets.discovery`, :mod:`~fimcg.widgets.race` for 07, :mod:`~fimcg.widgets.slow_variable`
for 08, :mod:`~fimcg.widgets.recording` for 09, :mod:`~fimcg.widgets.identifiability` for 10,
:mod:`~fimcg.widgets.pooling` for 11, :mod:`~fimcg.widgets.landscape_2d` for 12), the shared explorer
wiring in :mod:`~fimcg.widgets.base` and the run modes in :mod:`~fimcg.widgets.mode`; every public name
is importable from :mod:`fimcg.widgets` itself.

Every widget here is a thin shell: sliders, a :class:`plotly.graph_objects.FigureWidget`, and a
callback that calls a pure function (in the same chapter module, or in the science packages of
:mod:`fimcg`: :mod:`fimcg.sde`, :mod:`fimcg.analysis`, :mod:`fimcg.video`, ...) and
copies its arrays into the figure's traces. The pure functions are what the tests check; the
widgets are tested headlessly by setting a slider's ``.value`` and reading the figure back.

Two environment variables steer the notebooks:

* ``FIMCG_FAST=1`` -- small data and short training everywhere (continuous integration, a quick
  look). Read it through :func:`fast_mode` / :func:`pick`, never directly.
* ``FIMCG_STATIC=1`` -- set by the book build: the notebook runs for a static web page where no
  kernel answers a slider, so :func:`show` does not build widgets at all (their state would add
  megabytes to the page and show only the initial state). The static pages use plotly's own
  sliders instead.
"""

from __future__ import annotations

from .mode import fast_mode, static_mode, pick, show
from .landscape import (LandscapeData, landscape_data, landscape_figure, update_landscape_figure,
    landscape_slider_figure, potential_explorer)
from .video import VideoData, video_data, video_panel_figure, update_video_panel, video_slider_figure, video_explorer
from .estimation import (default_estimators, EstimationData, estimation_data, estimation_figure,
    update_estimation_figure, estimation_slider_figure, estimation_explorer, error_curve, Estimator)
from .normalisation import (NormalisationData, normalisation_data, normalisation_figure,
    update_normalisation_figure, normalisation_explorer)
from .coarse_graining import (CoordinateChangeData, coordinate_change_data, coordinate_change_figure,
    update_coordinate_change_figure, coordinate_change_explorer, LatentRecorder, latent_training_figure)
from .discovery import DiscoveryData, discovery_data, discovery_figure, update_discovery_figure, discovery_explorer
from .race import AccuracyRecorder, accuracy_vs_time_figure, race_figure, race_explorer
from .slow_variable import (SlowVariableData, slow_variable_data, slow_variable_figure, update_slow_variable_figure,
    slow_variable_slider_figure, slow_variable_explorer)
from .recording import (RecordingPreview, recording_preview, recording_figure, update_recording_figure,
    recording_slider_figure, recording_explorer)
from .pooling import (PoolingView, pooling_view, pooling_figure, update_pooling_figure, pooling_slider_figure,
    pooling_explorer)
from .identifiability import (IdentifiabilityData, identifiability_data, identifiability_figure,
    update_identifiability_figure, identifiability_slider_figure, identifiability_sweep_figure,
    identifiability_explorer, frame_features)
from .landscape_2d import (landscape_2d_sde, Landscape2DData, landscape_2d_data, landscape_2d_figure,
    update_landscape_2d_figure, landscape_2d_slider_figure, landscape_2d_explorer, field_on_grid)

__all__ = [
    "fast_mode",
    "static_mode",
    "pick",
    "show",
    "LandscapeData",
    "landscape_data",
    "landscape_figure",
    "update_landscape_figure",
    "landscape_slider_figure",
    "potential_explorer",
    "VideoData",
    "video_data",
    "video_panel_figure",
    "update_video_panel",
    "video_slider_figure",
    "video_explorer",
    "default_estimators",
    "EstimationData",
    "estimation_data",
    "estimation_figure",
    "update_estimation_figure",
    "estimation_slider_figure",
    "estimation_explorer",
    "error_curve",
    "Estimator",
    "NormalisationData",
    "normalisation_data",
    "normalisation_figure",
    "update_normalisation_figure",
    "normalisation_explorer",
    "CoordinateChangeData",
    "coordinate_change_data",
    "coordinate_change_figure",
    "update_coordinate_change_figure",
    "coordinate_change_explorer",
    "LatentRecorder",
    "latent_training_figure",
    "DiscoveryData",
    "discovery_data",
    "discovery_figure",
    "update_discovery_figure",
    "discovery_explorer",
    "AccuracyRecorder",
    "accuracy_vs_time_figure",
    "race_figure",
    "race_explorer",
    "SlowVariableData",
    "slow_variable_data",
    "slow_variable_figure",
    "update_slow_variable_figure",
    "slow_variable_slider_figure",
    "slow_variable_explorer",
    "RecordingPreview",
    "recording_preview",
    "recording_figure",
    "update_recording_figure",
    "recording_slider_figure",
    "recording_explorer",
    "PoolingView",
    "pooling_view",
    "pooling_figure",
    "update_pooling_figure",
    "pooling_slider_figure",
    "pooling_explorer",
    "IdentifiabilityData",
    "identifiability_data",
    "identifiability_figure",
    "update_identifiability_figure",
    "identifiability_slider_figure",
    "identifiability_sweep_figure",
    "identifiability_explorer",
    "frame_features",
    "landscape_2d_sde",
    "Landscape2DData",
    "landscape_2d_data",
    "landscape_2d_figure",
    "update_landscape_2d_figure",
    "landscape_2d_slider_figure",
    "landscape_2d_explorer",
    "field_on_grid",
]
