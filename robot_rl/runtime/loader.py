"""`open_policy`: any bundle kind behind one interface (``step(obs, t)``, ``reset()``,
``metadata``), chosen by the kind its metadata declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robot_rl.runtime.chunked import ChunkPolicy
from robot_rl.runtime.policy import OnnxPolicy
from robot_rl.runtime.residual import ResidualStack

Policy = OnnxPolicy | ChunkPolicy | ResidualStack


def open_policy(path: str | Path, **options: Any) -> Policy:
    """Load any bundle for deployment: `OnnxPolicy` (single-step or embedded-base residual),
    `ChunkPolicy` (diffusion chunks, ``options`` → its constructor) or `ResidualStack`
    (residual over its declared base)."""
    policy = OnnxPolicy(path)
    if policy.kind == "chunk":
        return ChunkPolicy(policy, **options)
    if policy.kind == "residual":
        return ResidualStack.from_bundle(path, **options)
    return policy


__all__ = ["Policy", "open_policy"]
