"""Torch-free ONNX policy runtime: load a policy bundle, check it fits the robot, act.

Only numpy, onnxruntime and json are used: importing this module or acting never imports
torch. A bundle is one ``.onnx`` file written by ``robot_rl.export``: input ``obs`` float32
[B, obs_dim] (plus ``noise`` [B, H, A] for a diffusion chunk sampler, or ``base_action``
[B, A] for a residual with an external base), output ``action`` float32 [B, A] or
[B, H, A] for chunks, JSON metadata under the ``metadata_props`` key ``"robot_rl"``
(schema in ``robot_rl/export/onnx_export.py``). `OnnxPolicy` runs one bundle;
``robot_rl.runtime.chunked`` and ``robot_rl.runtime.residual`` compose them over time.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from robot_rl.errors import RobotRLError
from robot_rl.robots.contract import GAINS, mismatches, validate_contract

if TYPE_CHECKING:
    from robot_rl.robots.spec import RobotSpec

METADATA_KEY = "robot_rl"
FORMAT_VERSION = 2  # 2: the control contract (`robot_rl.robots.contract`) in every bundle
ACTION_TYPES = ("joint_pos_offset", "joint_pos_delta", "joint_pos", "ee_delta", "chunk")
JOINT_ACTION_TYPES = ("joint_pos_offset", "joint_pos_delta", "joint_pos")  # one value per joint
REEXPORT = "re-export it with `robot-rl export CHECKPOINT --out bundle.onnx`"
UPGRADE = ("a format 1 bundle (before the control contract) is upgraded, for the robot as the "
           "project defines it, with `robot-rl export BUNDLE.onnx --upgrade`")
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format_version": int, "robot": str, "obs_terms": list, "obs_dim": int, "act_dim": int,
    "action_type": str, "action_scale": (int, float), "policy_dt": (int, float),
    "horizon": int, "algorithm": str, "config_hash": str, "code_version": str,
    "contract": dict,
}


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (how a residual bundle names its base bundle)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class BundleError(RobotRLError, ValueError):
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
    if meta.get("format_version") == 1:
        raise BundleError(f"{source}: metadata format_version 1 has no control contract (the "
                          f"gains, pose, limits and rates it was trained under), which this "
                          f"runtime checks against the robot; {UPGRADE}, or {REEXPORT}")
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
    _check_kind(meta, source)
    try:
        validate_contract(meta["contract"])
    except ValueError as e:
        raise BundleError(f"{source}: {e}; {REEXPORT}") from None
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


def _check_kind(meta: dict[str, Any], source: str) -> None:
    """The ``chunk`` / ``residual`` sections, where the bundle kind needs them."""
    if meta["action_type"] == "chunk":
        chunk = meta.get("chunk")
        if not isinstance(chunk, dict):
            raise BundleError(f"{source}: a 'chunk' bundle needs a 'chunk' metadata section; "
                              f"{REEXPORT}")
        step_type, n_exec = chunk.get("action_type"), chunk.get("n_exec")
        if step_type not in ACTION_TYPES or step_type == "chunk":
            raise BundleError(f"{source}: metadata chunk.action_type {step_type!r} is not a "
                              f"per-step action type")
        if not isinstance(n_exec, int) or not 1 <= n_exec <= meta["horizon"]:
            raise BundleError(f"{source}: metadata chunk.n_exec {n_exec!r} must be an integer "
                              f"in [1, horizon={meta['horizon']}]")
    elif meta["horizon"] != 1:
        raise BundleError(f"{source}: horizon {meta['horizon']} with action_type "
                          f"'{meta['action_type']}' (only chunk bundles have a horizon)")
    res = meta.get("residual")
    if res is not None:
        if not isinstance(res, dict) or not isinstance(res.get("scale"), int | float):
            raise BundleError(f"{source}: metadata 'residual' must hold a numeric 'scale'")
        base = res.get("base")
        if base != "embedded" and not (isinstance(base, dict) and isinstance(
                base.get("file"), str) and isinstance(base.get("sha256"), str)):
            raise BundleError(f"{source}: metadata residual.base must be 'embedded' or "
                              f"{{'file': NAME, 'sha256': HEX}}, got {base!r}")


def load_bundle_file(path: str | Path) -> Any:
    """A bundle's ONNX model (an ``onnx.ModelProto``: graph and metadata, no inference
    session). Raises BundleError for a missing or unreadable file."""
    import onnx  # (lazy: reading a file only; acting needs onnxruntime alone)

    path = Path(path)
    if not path.is_file():
        raise BundleError(f"policy bundle not found: {path}")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise BundleError(f"{path} is not a valid ONNX model (truncated or corrupted?): "
                          f"{str(e).strip()[:300]}; {REEXPORT}") from None


def step_action_type(meta: Mapping[str, Any]) -> str:
    """The action type of each step of a bundle: its ``action_type``, or a chunk bundle's
    per-step one."""
    return str(meta["chunk"]["action_type"] if meta["action_type"] == "chunk"
               else meta["action_type"])


def action_decoding(meta: Mapping[str, Any]) -> dict[str, Any]:
    """How a bundle's actions become joint targets, as task-config keys (``action_type``,
    ``action_scale``, ``action_clip``): an env that steps the bundle takes them as overrides,
    so it decodes the actions as the training env did."""
    out: dict[str, Any] = {"action_type": step_action_type(meta),
                           "action_scale": float(meta["action_scale"])}
    clip = meta.get("extra", {}).get("action_clip")
    if isinstance(clip, int | float):
        out["action_clip"] = float(clip)
    return out


def bundle_metadata(path: str | Path) -> dict[str, Any]:
    """A bundle's validated metadata without creating an inference session (cheap: what a
    node needs to know a policy's rate, or to vet a hot-swap candidate). Raises BundleError
    for a missing, unreadable or malformed file."""
    props = {p.key: p.value for p in load_bundle_file(path).metadata_props}
    return parse_metadata(props.get(METADATA_KEY), str(path))


class OnnxPolicy:
    """A policy bundle loaded with onnxruntime (CPU).

    Args:
        path: the ``.onnx`` bundle.
        intra_op_threads: onnxruntime intra-op threads (default 1: predictable latency).
        seed: seed of the generator that draws a chunk sampler's noise when `act` is given
            none (None: fresh entropy).

    Raises BundleError for a missing file, a file onnxruntime cannot load, or missing /
    malformed metadata, or a graph whose input/output shapes disagree with the metadata.
    """

    def __init__(self, path: str | Path, intra_op_threads: int = 1, seed: int | None = 0
                 ) -> None:
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
        self._rng = np.random.default_rng(seed)
        # the deploy path's call, one observation of a single-step bundle, runs on buffers
        # bound to the session once (IO binding): ~10 us less per call than a feed dict
        self._fast: tuple[Any, np.ndarray, np.ndarray] | None = None
        self._fast_lock = threading.Lock()
        if not self._extra_inputs:
            x1 = np.zeros((1, self._obs_dim), dtype=np.float32)
            y1 = np.zeros((1, *self._step_shape), dtype=np.float32)
            io = self._session.io_binding()
            io.bind_cpu_input("obs", x1)
            io.bind_output("action", "cpu", 0, np.float32, list(y1.shape), y1.ctypes.data)
            self._fast = (io, x1, y1)

    def _check_graph(self) -> None:
        m = self._meta
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = {o.name: o for o in self._session.get_outputs()}
        want = ["obs"]
        if m["action_type"] == "chunk":
            want.append("noise")
        if isinstance(m.get("residual"), dict) and m["residual"]["base"] != "embedded":
            want.append("base_action")
        if sorted(inputs) != sorted(want) or "action" not in outputs:
            raise BundleError(f"{self.path}: a {m['action_type']} bundle's graph must have "
                              f"inputs {want} and output 'action', has inputs {sorted(inputs)} "
                              f"and outputs {sorted(outputs)}")
        step = [m["horizon"], m["act_dim"]] if m["action_type"] == "chunk" else [m["act_dim"]]
        shapes = {"obs": [m["obs_dim"]], "noise": step, "base_action": [m["act_dim"]]}
        for name, node in [*inputs.items(), ("action", outputs["action"])]:
            expect = shapes.get(name, step)
            got = list(node.shape[1:]) if node.shape else []
            if len(got) != len(expect) or any(isinstance(g, int) and g != e
                                              for g, e in zip(got, expect)):
                raise BundleError(f"{self.path}: graph {name} has shape [B, "
                                  f"{', '.join(map(str, got))}], but the metadata says "
                                  f"[B, {', '.join(map(str, expect))}]")
        self._extra_inputs = want[1:]
        self._step_shape = tuple(step)

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
                    obs_layout: Sequence[Mapping[str, Any]] | None = None,
                    limits: list[dict[str, Any]] | None = None) -> None:
        """Refuse (BundleError) a bundle that does not fit ``robot`` / ``obs_layout``.

        Checks the robot name; with a `RobotSpec`, the bundle's control contract against it
        (`robot_rl.robots.contract.mismatches`: joints by name, kp, kd, q0, limits, rates) and
        for joint action types (joint_pos_offset / joint_pos) that act_dim equals the joint
        count; with ``obs_layout`` (as returned by ``ObsBuilder.layout()``), that the terms'
        names, dims and scales match in order; with ``limits`` (the deployment chain's limit
        stages, `robot_rl.safety.limits.limit_entries`), that they are those it was trained
        inside.
        """
        name = robot if isinstance(robot, str) else robot.name
        if name != self._meta["robot"]:
            raise BundleError(f"{self.path}: bundle is for robot '{self._meta['robot']}', not "
                              f"'{name}'")
        if not isinstance(robot, str):
            problems = mismatches(self._meta["contract"], robot, limits)
            if problems:
                gains = any(field in GAINS for field in problems)
                raise BundleError(
                    f"{self.path}: {name} is not set up as the policy was trained: "
                    f"{'; '.join(problems.values())}. Deploy it with the robot settings it was "
                    "trained under (configs/robots/<robot>.yaml `joints:` overrides and the "
                    "safety stages' options), or train it for these"
                    + ("; or, to drive the robot with the bundle's gains, set "
                       "`policy.adopt_bundle_gains: true` in the deploy config" if gains else ""))
        step_type = step_action_type(self._meta)
        joint_action = step_type in JOINT_ACTION_TYPES
        if not isinstance(robot, str) and joint_action and robot.n_joints != self._act_dim:
            raise BundleError(f"{self.path}: bundle outputs {self._act_dim} "
                              f"{step_type} actions, but robot '{name}' has "
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

    @property
    def kind(self) -> str:
        """``"chunk"`` (diffusion sampler), ``"residual"`` (external base), or ``"single"``."""
        if self._meta["action_type"] == "chunk":
            return "chunk"
        return "residual" if "base_action" in self._extra_inputs else "single"

    @property
    def horizon(self) -> int:
        return int(self._meta["horizon"])

    def _batch(self, x: Any, name: str, shape: tuple[int, ...], n: int | None) -> np.ndarray:
        arr = np.asarray(x, dtype=np.float32)
        single = arr.ndim == len(shape)
        if arr.shape[arr.ndim - len(shape):] != shape or arr.ndim not in (len(shape),
                                                                          len(shape) + 1):
            dims = ", ".join(map(str, shape))
            raise BundleError(f"{name} shape {arr.shape} does not fit the bundle: expected "
                              f"[{dims}] or [B, {dims}]")
        arr = arr[None] if single else arr
        if n is not None and arr.shape[0] != n:
            raise BundleError(f"{name} batch size {arr.shape[0]} != the observation batch {n}")
        if not np.isfinite(arr).all():
            raise BundleError(f"{name} has non-finite values (NaN/inf); refusing to act")
        return np.ascontiguousarray(arr)

    def act(self, obs: np.ndarray, noise: np.ndarray | None = None,
            base_action: np.ndarray | None = None) -> np.ndarray:
        """Deterministic action(s) from raw observation(s).

        Args:
            obs: shape [obs_dim] (one observation) or [B, obs_dim] (a batch); cast to float32.
            noise: chunk bundles only: the sampler's initial noise, [H, A] or [B, H, A]
                (standard normal); None draws it from the policy's seeded generator.
            base_action: residual bundles with an external base only: [A] or [B, A].
        Returns:
            float32 action, shape [act_dim] (chunks: [H, act_dim]), with a leading batch axis
            if ``obs`` has one.
        Raises BundleError if a shape is wrong or an input is not finite.
        """
        fast = self._fast
        if (fast is not None and noise is None and base_action is None
                and type(obs) is np.ndarray and obs.dtype.kind == "f"
                and obs.shape == (self._obs_dim,)
                and self._fast_lock.acquire(blocking=False)):
            try:
                io, x1, y1 = fast
                x1[0] = obs
                if np.isfinite(x1).all():
                    self._session.run_with_iobinding(io)
                    return y1[0].copy()
            finally:
                self._fast_lock.release()
        x = np.asarray(obs, dtype=np.float32)  # (the general path; it also words the errors)
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
        feeds = {"obs": batch}
        n = batch.shape[0]
        if "noise" in self._extra_inputs:
            if noise is None:
                noise = self._rng.standard_normal((n, *self._step_shape), dtype=np.float32)
            feeds["noise"] = self._batch(noise, "noise", self._step_shape, n)
        elif noise is not None:
            raise BundleError(f"{self.path}: this {self.kind} bundle takes no noise input")
        if "base_action" in self._extra_inputs:
            if base_action is None:
                raise BundleError(f"{self.path}: this residual bundle needs base_action (its "
                                  f"base is {self._meta['residual']['base']['file']})")
            feeds["base_action"] = self._batch(base_action, "base_action", (self._act_dim,), n)
        elif base_action is not None:
            raise BundleError(f"{self.path}: this {self.kind} bundle takes no base_action")
        out = self._session.run(["action"], feeds)[0]
        action = np.asarray(out, dtype=np.float32)
        return action[0] if single else action

    def step(self, obs: np.ndarray, t: float) -> np.ndarray:
        """One policy tick (the interface `ChunkPolicy` and `ResidualStack` share)."""
        return self.act(obs)

    def reset(self, initial: np.ndarray | None = None) -> None:
        """Nothing to forget (a single-step policy has no queue)."""

    def __repr__(self) -> str:
        m = self._meta
        return (f"OnnxPolicy({str(self.path)!r}, robot={m['robot']!r}, obs_dim={self._obs_dim}, "
                f"act_dim={self._act_dim}, action_type={m['action_type']!r})")
