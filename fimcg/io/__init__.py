"""Files: fimcg's safetensors + JSON format (loading never runs code), atomic writes, checksums."""

from .checkpoint import (FILE_FORMAT, LegacyFormatError, UnsafeFileError, atomic_write_json, atomic_write_text,
                         convert_legacy, load_checkpoint, save_checkpoint, sha256_of)

__all__ = ["save_checkpoint", "load_checkpoint", "convert_legacy", "LegacyFormatError", "UnsafeFileError",
           "atomic_write_text", "atomic_write_json", "sha256_of", "FILE_FORMAT"]
