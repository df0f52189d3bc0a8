"""`upgrade_bundle`: a format 1 bundle (before the control contract) made a format 2 one.

Format 1 bundles do not say under which control they were trained. Every one was trained by
this project's envs, which run the robot under its registry spec (`robot_rl.envs.base`), so
that spec's contract (`robot_rl.robots.contract.contract_of`) is the one it was trained
under, as long as the robot's definition has not changed since: the upgrade writes it, and
says which definition it took. The graph is not touched. A residual bundle with an external
base names its base by SHA-256, which the base's upgrade changes: it is refused (re-export it
from its checkpoint with its upgraded base).

Torch-free (``onnx`` and json only): `robot-rl export BUNDLE.onnx --upgrade`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robot_rl.robots import get_robot
from robot_rl.robots.contract import contract_of
from robot_rl.runtime.policy import (
    FORMAT_VERSION,
    METADATA_KEY,
    REEXPORT,
    BundleError,
    load_bundle_file,
    parse_metadata,
)


def upgrade_bundle(path: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Write the format 2 version of bundle ``path`` to ``out`` (default: in place). Returns
    {"bundle", "from_version", "to_version", "contract_of"}; a bundle already at the current
    format is left as it is ("from_version" == "to_version"). Raises BundleError."""
    import onnx  # (lazy: writing the file back)

    path = Path(path)
    out = path if out is None else Path(out)
    model = load_bundle_file(path)
    props = {p.key: p for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise BundleError(f"{path}: no '{METADATA_KEY}' metadata (not a robot_rl bundle)")
    try:
        meta = json.loads(props[METADATA_KEY].value)
    except json.JSONDecodeError as e:
        raise BundleError(f"{path}: '{METADATA_KEY}' metadata is not valid JSON ({e})") from None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    result = {"bundle": str(out), "from_version": version, "to_version": FORMAT_VERSION}
    if version == FORMAT_VERSION:
        parse_metadata(props[METADATA_KEY].value, str(path))
        if out != path:
            out.write_bytes(path.read_bytes())
        return {**result, "contract_of": "(already in the bundle)"}
    if version != 1:
        raise BundleError(f"{path}: metadata format_version {version!r} cannot be upgraded "
                          f"(this runtime upgrades 1 to {FORMAT_VERSION}); {REEXPORT}")
    residual = meta.get("residual")
    if isinstance(residual, dict) and residual.get("base") != "embedded":
        raise BundleError(f"{path}: a residual bundle names its external base by SHA-256, "
                          f"which the base's upgrade changes; {REEXPORT}")
    try:
        spec = get_robot(str(meta.get("robot")))
    except KeyError as e:
        raise BundleError(f"{path}: {e}") from None
    meta["format_version"] = FORMAT_VERSION
    meta["contract"] = contract_of(spec)
    raw = json.dumps(meta)
    parse_metadata(raw, str(path))  # (what the runtime will read)
    props[METADATA_KEY].value = raw
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    onnx.save_model(model, str(tmp))
    tmp.replace(out)  # (atomic: a bundle is whole or not there)
    return {**result, "contract_of": f"{spec.name} as defined in robot_rl/robots/{spec.name}"}


__all__ = ["upgrade_bundle"]
