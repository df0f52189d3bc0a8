"""Export trained policies to self-describing ONNX bundles (see DESIGN.md, "Policy bundle")."""

from robot_rl.export.onnx_export import (
    ACTION_TYPES,
    FORMAT_VERSION,
    METADATA_KEY,
    config_hash,
    export_actor,
    export_checkpoint,
    export_diffusion,
    export_residual,
    file_sha256,
)

__all__ = ["ACTION_TYPES", "FORMAT_VERSION", "METADATA_KEY", "config_hash", "export_actor",
           "export_checkpoint", "export_diffusion", "export_residual", "file_sha256"]
