"""Torch-free ONNX policy runtime: load a policy bundle, check it fits the robot, act.

Only numpy, onnxruntime and json are used: importing this module or acting never imports
torch. A bundle is one ``.onnx`` file written by ``robot_rl.export.export_actor``: input
``obs`` float32 [B, obs_dim], output ``action`` float32 [B, act_dim], JSON metadata under
the ``metadata_props`` key ``"robot_rl"`` (schema in ``robot_rl/export/onnx_export.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

if TYPE_CHECKING:
    from robot_rl.robots.spec import RobotSpec

METADATA_KEY = "robot_rl"
FORMAT_VERSION = 1
ACTION_TYPES = ("joint_pos_offset", "joint_pos", "ee_delta", "chunk")
REEXPORT = "re-export it with `robot-rl export CHECKPOINT --out bundle.onnx`"
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format_version": int, "robot": str, "obs_terms": list, "obs_dim": int, "act_dim": int,
    "action_type": str, "action_scale": (int, float), "policy_dt": (int, float),
    "horizon": int, "algorithm": str, "config_hash": str, "code_version": str,
}


class BundleError(ValueError):
    """The policy bundle is missing, unreadable, malformed, or does not fit this robot/input."""


def parse_metadata(raw: str | None, source: str = "bundle") -> dict[str, Any]:
    """Parse and validate the ``robot_rl`` metadata JSON; raises BundleError naming the cause."""
    if raw is None:
        raise BundleError(f"{source}: no '{METADATA_KEY}' metadata (not a robot_rl policy "
                          f"bundle?); {REEXPORT}")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BundleError(f"{source}: '{METADATA_KEY}' metadata is not valid JSON ({e}); "
                          f"{REEXPORT}") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{source}: '{METADATA_KEY}' metadata is not a JSON object")
    for key, tp in _REQUIRED.items():
        if key not in meta:
            raise BundleError(f"{source}: metadata lacks required key '{key}'; {REEXPORT}")
        if not isinstance(meta[key], tp) or isinstance(meta[key], bool):
            raise BundleError(f"{source}: metadata key '{key}' has bad value {meta[key]!r}")
    if meta["format_version"] != FORMAT_VERSION:
        raise BundleError(f"{source}: metadata format_version {meta['format_version']} is not "
                          f"supported (this runtime reads {FORMAT_VERSION}); {REEXPORT}")
    if meta["action_type"] not in ACTION_TYPES:
        raise BundleError(f"{source}: unknown action_type '{meta['action_type']}'; expected one "
                          f"of {ACTION_TYPES}")
    if meta["obs_dim"] < 1 or meta["act_dim"] < 1 or meta["horizon"] < 1:
        raise BundleError(f"{source}: metadata obs_dim/act_dim/horizon must be >= 1")
    if not (math.isfinite(meta["policy_dt"]) and meta["policy_dt"] > 0):
        raise BundleError(f"{source}: metadata policy_dt must be > 0, got {meta['policy_dt']}")
    total = 0
    for i, term in enumerate(meta["obs_terms"]):
        if not isinstance(term, dict):
            raise BundleError(f"{source}: metadata obs_terms[{i}] is not an object")
        for key in ("name", "dim"):
            if key not in term:
                raise BundleError(f"{source}: metadata obs_terms[{i}] lacks key '{key}'")
        try:
            total += int(term["dim"])
        except (TypeError, ValueError):
            raise BundleError(f"{source}: metadata obs_terms[{i}] has bad dim "
                              f"{term['dim']!r}") from None
    if total != meta["obs_dim"]:
        raise BundleError(f"{source}: metadata obs_terms dims sum to {total}, but obs_dim is "
                          f"{meta['obs_dim']}")
    return meta


class OnnxPolicy:
    """A policy bundle loaded with onnxruntime (CPU).

    Args:
        path: the ``.onnx`` bundle.
        intra_op_threads: onnxruntime intra-op threads (default 1: predictable latency).

    Raises BundleError for a missing file, a file onnxruntime cannot load, or missing /
    malformed metadata, or a graph whose input/output shapes disagree with the metadata.
    """

    def __init__(self, path: str | Path, intra_op_threads: int = 1) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise BundleError(f"policy bundle not found: {self.path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(intra_op_threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as e:
            raise BundleError(f"{self.path} is not a valid ONNX model (truncated or corrupted?): "
                              f"{str(e).strip()[:300]}; {REEXPORT}") from None
        custom = self._session.get_modelmeta().custom_metadata_map
        self._meta = parse_metadata(custom.get(METADATA_KEY), str(self.path))
        self._check_graph()
        self._obs_dim, self._act_dim = int(self._meta["obs_dim"]), int(self._meta["act_dim"])

    def _check_graph(self) -> None:
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = {o.name: o for o in self._session.get_outputs()}
        if "obs" not in inputs or "action" not in outputs:
            raise BundleError(f"{self.path}: graph must have input 'obs' and output 'action', "
                              f"has inputs {sorted(inputs)} and outputs {sorted(outputs)}")
        for what, node, key in (("input 'obs'", inputs["obs"], "obs_dim"),
                                ("output 'action'", outputs["action"], "act_dim")):
            dim = node.shape[-1] if node.shape else None
            if isinstance(dim, int) and dim != self._meta[key]:
                raise BundleError(f"{self.path}: graph {what} has size {dim}, but metadata "
                                  f"{key} is {self._meta[key]}")

    @property
    def metadata(self) -> dict[str, Any]:
        """The bundle's parsed metadata (a copy)."""
        return json.loads(json.dumps(self._meta))

    @property
    def obs_dim(self) -> int:
        return self._obs_dim

    @property
    def act_dim(self) -> int:
        return self._act_dim

    @property
    def robot(self) -> str:
        return str(self._meta["robot"])

    def check_robot(self, robot: RobotSpec | str,
                    obs_layout: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Refuse (BundleError) a bundle that does not fit ``robot`` / ``obs_layout``.

        Checks the robot name; for joint action types (joint_pos_offset / joint_pos) with a
        `RobotSpec`, that act_dim equals the joint count; with ``obs_layout`` (as returned by
        ``ObsBuilder.layout()``), that the terms' names, dims and scales match in order.
        """
        name = robot if isinstance(robot, str) else robot.name
        if name != self._meta["robot"]:
            raise BundleError(f"{self.path}: bundle is for robot '{self._meta['robot']}', not "
                              f"'{name}'")
        joint_action = self._meta["action_type"] in ("joint_pos_offset", "joint_pos")
        if not isinstance(robot, str) and joint_action and robot.n_joints != self._act_dim:
            raise BundleError(f"{self.path}: bundle outputs {self._act_dim} "
                              f"{self._meta['action_type']} actions, but robot '{name}' has "
                              f"{robot.n_joints} joints")
        if obs_layout is not None:
            self._check_layout(obs_layout)

    def _check_layout(self, layout: Sequence[Mapping[str, Any]]) -> None:
        want = [(str(t["name"]), int(t["dim"]), float(t.get("scale", 1.0)))
                for t in self._meta["obs_terms"]]
        got = [(str(t["name"]), int(t["dim"]), float(t.get("scale", 1.0))) for t in layout]
        got_dim = sum(d for _, d, _ in got)
        if got_dim != self._obs_dim:
            raise BundleError(f"{self.path}: bundle expects {self._obs_dim} observations, the "
                              f"observation builder makes {got_dim}")
        for i, (w, g) in enumerate(zip(want, got)):
            if w[0] != g[0] or w[1] != g[1]:
                raise BundleError(f"{self.path}: observation term {i} is '{g[0]}' ({g[1]}) but "
                                  f"the bundle expects '{w[0]}' ({w[1]}); bundle terms: "
                                  f"{[t[0] for t in want]}")
            if not math.isclose(w[2], g[2], rel_tol=1e-6, abs_tol=1e-9):
                raise BundleError(f"{self.path}: observation term '{g[0]}' scale is {g[2]}, "
                                  f"the bundle was trained with {w[2]}")
        if len(want) != len(got):
            raise BundleError(f"{self.path}: bundle has {len(want)} observation terms, the "
                              f"observation builder has {len(got)}")

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action(s) from raw observation(s).

        Args:
            obs: shape [obs_dim] (one observation) or [B, obs_dim] (a batch); cast to float32.
        Returns:
            float32 action, shape [act_dim] or [B, act_dim] matching the input.
        Raises BundleError if the shape is wrong or an observation is not finite.
        """
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == 1
        if x.ndim not in (1, 2) or x.shape[-1] != self._obs_dim:
            got = x.shape[-1] if x.ndim else 0
            raise BundleError(f"observation shape {x.shape} does not fit the bundle: expected "
                              f"[{self._obs_dim}] or [B, {self._obs_dim}] ({self._obs_dim} values "
                              f"per observation), got {got}")
        if not np.isfinite(x).all():
            bad = np.flatnonzero(~np.isfinite(x.reshape(-1, self._obs_dim)).all(axis=0))
            raise BundleError(f"observation has non-finite values (NaN/inf) at indices "
                              f"{bad.tolist()[:10]}; refusing to act")
        batch = np.ascontiguousarray(x[None] if single else x)
        out = self._session.run(["action"], {"obs": batch})[0]
        action = np.asarray(out, dtype=np.float32)
        return action[0] if single else action

    def __repr__(self) -> str:
        m = self._meta
        return (f"OnnxPolicy({str(self.path)!r}, robot={m['robot']!r}, obs_dim={self._obs_dim}, "
                f"act_dim={self._act_dim}, action_type={m['action_type']!r})")
