"""Residual policies on the robot: a residual bundle with an external base bundle.

The residual bundle's metadata names its base by file name and SHA-256; the base sits in the
same folder. Each policy tick: ``a_base = base.step(obs, t)`` (a chunk base interpolates its
queue), then ``a = residual(obs, a_base)`` (the graph adds ``scale * r``). Residual bundles
with an embedded base are plain `OnnxPolicy` bundles. Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.runtime.chunked import ChunkPolicy
from robot_rl.runtime.policy import BundleError, OnnxPolicy, file_sha256


class ResidualStack:
    """``residual`` (a bundle with a ``base_action`` input) over ``base``."""

    def __init__(self, residual: OnnxPolicy, base: OnnxPolicy | ChunkPolicy) -> None:
        if residual.kind != "residual":
            raise BundleError(f"{residual.path}: not a residual bundle with an external base")
        rm, bm = residual.metadata, base.metadata
        for key in ("robot", "obs_dim", "policy_dt"):
            if rm[key] != bm[key]:
                raise BundleError(f"{residual.path}: residual and base bundles disagree on "
                                  f"{key} ({rm[key]!r} vs {bm[key]!r})")
        if base.act_dim != residual.act_dim:
            raise BundleError(f"{residual.path}: base outputs {base.act_dim} actions, the "
                              f"residual corrects {residual.act_dim}")
        self.residual, self.base = residual, base

    @classmethod
    def from_bundle(cls, path: str | Path, **chunk_options: Any) -> ResidualStack:
        """Load a residual bundle and the base bundle it declares (checked by SHA-256)."""
        residual = OnnxPolicy(path)
        ref = residual.metadata["residual"]["base"]
        base_path = Path(path).parent / ref["file"]
        if not base_path.is_file():
            raise BundleError(f"{path}: its base bundle {base_path} is missing; copy "
                              f"{ref['file']} next to the residual bundle")
        if file_sha256(base_path) != ref["sha256"]:
            raise BundleError(f"{path}: base bundle {base_path} is not the one this residual "
                              f"was trained on (SHA-256 differs); use the matching base")
        base = OnnxPolicy(base_path)
        return cls(residual, ChunkPolicy(base, **chunk_options) if base.kind == "chunk"
                   else base)

    @property
    def metadata(self) -> dict:
        return self.residual.metadata

    @property
    def obs_dim(self) -> int:
        return self.residual.obs_dim

    @property
    def act_dim(self) -> int:
        return self.residual.act_dim

    def reset(self, initial: np.ndarray | None = None) -> None:
        if isinstance(self.base, ChunkPolicy):
            self.base.reset(initial)

    def step(self, obs: np.ndarray, t: float) -> np.ndarray:
        """One policy tick: the base's action at ``t`` corrected by the residual."""
        a_base = self.base.step(obs, t)
        return self.residual.act(obs, base_action=a_base)


__all__ = ["ResidualStack"]
