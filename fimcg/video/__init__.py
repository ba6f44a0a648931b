"""Video: latent paths rendered as frames (:mod:`.render`) and scenes in which a slow variable moves
among things that are not it (:mod:`.scenes`). Imports within the package: only ``_validation``
(and ``sde`` for the scenes' processes)."""

from .render import EMBEDDINGS, camera_range, frame_centroids, frame_pca, latent_to_pixel, pixel_to_latent, render_video

__all__ = ["EMBEDDINGS", "latent_to_pixel", "pixel_to_latent", "render_video", "frame_centroids", "frame_pca", "camera_range"]
from .scenes import SCENES, Blob, Occluder, Scene, SceneCollection, make_collection, make_scene, ou_process, render_blobs

__all__ += ["Scene", "make_scene", "SCENES", "Blob", "Occluder", "render_blobs", "ou_process", "SceneCollection",
            "make_collection"]
