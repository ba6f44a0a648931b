"""Files: fimcg's safetensors + JSON format (loading never runs code), atomic writes, checksums; a user's
recordings (video, TIFF, npy, zarr, HDF5) read lazily; trajectory files."""

from .checkpoint import (FILE_FORMAT, LegacyFormatError, UnsafeFileError, atomic_write_array, atomic_write_json,
                         atomic_write_text,
                         convert_legacy, load_checkpoint, save_checkpoint, sha256_of)
from .recording import FrameOptions, Recording, RecordingError, open_collection, open_recording, transform_frames
from .trajectories import Trajectories, TrajectoryError, read_trajectories

__all__ = ["save_checkpoint", "load_checkpoint", "convert_legacy", "LegacyFormatError", "UnsafeFileError",
           "atomic_write_text", "atomic_write_json", "atomic_write_array", "sha256_of", "FILE_FORMAT",
           "Recording", "RecordingError", "FrameOptions", "open_recording", "open_collection", "transform_frames",
           "Trajectories", "TrajectoryError", "read_trajectories"]
