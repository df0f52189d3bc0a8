"""`PolicyController`: robot state → policy command, at the policy rate (what `policy_node`
wraps, and the policy half of `DeployLoop`).

It opens a bundle with `open_policy` (single-step, chunk or residual), checks it against the
robot, rebuilds the observation builder from the bundle's own term list (so the robot builds
exactly the observation the policy was trained on, with the one `ObsBuilder`), and decodes
actions into `JointCommand`s:

- ``joint_pos_offset``: ``q* = q0 + action_scale * clip(a, ±action_clip)``;
- ``joint_pos``: ``q* = a``;
- ``ee_delta``: ``q*`` = damped-least-squares IK of the end effector moved by
  ``action_scale * a[:3]`` [m] from its pose at the measured ``q`` (gripper, if any, as a
  joint position in ``a[3]``).

Gains are the robot's (the deployment config's effective spec). `swap` replaces the bundle
only after the new one loaded and passed every check; on failure the old one keeps running.
Terms that need a perception source the deploy path does not have (object poses) are refused
at load time.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.robots.spec import RobotSpec
from robot_rl.runtime.obs import ObsBuilder, ObsConfig
from robot_rl.runtime.policy import BundleError, OnnxPolicy, open_policy
from robot_rl.types import JointCommand, RobotState

_NEEDS_EE = ("ee_pos", "goal_rel", "object_rel")
_UNAVAILABLE = ("object_pos", "object_quat", "object_rel", "base_lin_vel")


class _Loaded:
    """One validated bundle with its observation builder and action decoder."""

    def __init__(self, spec: RobotSpec, path: Path, threads: int) -> None:
        self.path = path
        single = OnnxPolicy(path, intra_op_threads=threads)
        self.policy: Any = single if single.kind == "single" else open_policy(path)
        meta = single.metadata
        self.meta = meta
        names = [str(t["name"]) for t in meta["obs_terms"]]
        missing = [n for n in names if n.split(":", 1)[0] in _UNAVAILABLE]
        if missing:
            raise BundleError(f"{path}: observation term(s) {missing} need a state estimate or "
                              "perception source the deploy path does not provide; deploy a "
                              "policy trained without them")
        cfg = ObsConfig(terms=tuple(names),
                        scales={str(t["name"]): float(t.get("scale", 1.0))
                                for t in meta["obs_terms"]},
                        clip=float(meta.get("extra", {}).get("obs_clip", 100.0)))
        step_type = meta["chunk"]["action_type"] if meta["action_type"] == "chunk" \
            else meta["action_type"]
        try:
            self.builder = ObsBuilder(spec, cfg, action_dim=int(meta["act_dim"]))
        except ValueError as e:
            raise BundleError(f"{path}: its observation terms do not build on {spec.name}: "
                              f"{e}") from None
        single.check_robot(spec, self.builder.layout())
        self.step_type = step_type
        self.scale = float(meta["action_scale"])
        self.clip = float(meta.get("extra", {}).get("action_clip", math.inf))
        self.policy_dt = float(meta["policy_dt"])
        self.ik = None
        if step_type == "ee_delta" or any(n.split(":", 1)[0] in _NEEDS_EE for n in names):
            if not spec.ee_site:
                raise BundleError(f"{path}: needs an end effector, {spec.name} has none")
            from robot_rl.control.ik import DampedLeastSquaresIK

            self.ik = DampedLeastSquaresIK(spec)
        if step_type == "joint_pos_offset" and int(meta["act_dim"]) != spec.n_joints:
            raise BundleError(f"{path}: {meta['act_dim']} actions for {spec.n_joints} joints")


class PolicyController:
    """Args: spec: the robot (effective spec of the deployment config); path: the bundle;
    command: the initial task command; threads: onnxruntime intra-op threads.

    Raises BundleError if the bundle is missing, malformed or does not fit the robot."""

    def __init__(self, spec: RobotSpec, path: str | Path, command: Any = (),
                 threads: int = 1) -> None:
        self.spec, self.threads = spec, threads
        self._lock = threading.Lock()
        self._cur = _Loaded(spec, Path(path), threads)
        # no command given: standing still / the origin (every command term has 3 values)
        self.command = np.asarray(command if len(command) else (0.0, 0.0, 0.0),
                                  dtype=np.float64).reshape(-1)
        self.last_action = np.zeros(int(self._cur.meta["act_dim"]))
        self.swaps = 0
        self.steps = 0
        self.last_step_us = 0.0

    @property
    def path(self) -> Path:
        return self._cur.path

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._cur.meta)

    @property
    def policy_dt(self) -> float:
        return self._cur.policy_dt

    def set_command(self, command: Any) -> None:
        cmd = np.asarray(command, dtype=np.float64).reshape(-1)
        if not np.isfinite(cmd).all():
            raise ValueError(f"command {cmd.tolist()} has non-finite values")
        self.command = cmd

    def swap(self, path: str | Path) -> dict[str, Any]:
        """Load ``path``, check it, then switch to it (between two steps). Raises BundleError
        and keeps the current policy if the new one is refused."""
        new = _Loaded(self.spec, Path(path), self.threads)
        self.install(new)
        return dict(new.meta)

    def install(self, new: _Loaded) -> None:
        """Switch to an already loaded and checked bundle (`swap` in two halves, so the slow
        load can run in another thread). Raises BundleError if its rate differs."""
        if new.policy_dt != self._cur.policy_dt:
            raise BundleError(f"{new.path}: policy_dt {new.policy_dt} s differs from the running "
                              f"policy's {self._cur.policy_dt} s; restart the graph to change rate")
        with self._lock:
            self._cur = new
            if self.last_action.shape[0] != int(new.meta["act_dim"]):
                self.last_action = np.zeros(int(new.meta["act_dim"]))
            self.swaps += 1

    def reset(self) -> None:
        with self._lock:
            self.last_action[:] = 0.0
            self._cur.policy.reset()

    def observe(self, state: RobotState) -> np.ndarray:
        cur = self._cur
        state.command = self.command
        if cur.ik is not None and state.ee_pos is None:
            state.ee_pos = cur.ik.fk(state.q)[0]
        return cur.builder.build(state, self.last_action)

    def step(self, state: RobotState, t: float) -> JointCommand:
        """One policy tick: observation → action → joint command (robot gains). Raises
        BundleError on a non-finite observation (the caller sends nothing; the safety chain
        holds)."""
        t0 = time.perf_counter()
        with self._lock:
            cur = self._cur
            obs = self.observe(state)
            a = np.asarray(cur.policy.step(obs, t), dtype=np.float64).reshape(-1)
            q = self._decode(cur, a, state)
            if np.isfinite(a).all():  # a NaN action goes on to the safety chain (it holds),
                # but never into the next observation
                self.last_action[:] = np.clip(a, -cur.clip, cur.clip) if math.isfinite(
                    cur.clip) else a
        spec = self.spec
        n = spec.n_joints
        self.steps += 1
        self.last_step_us = (time.perf_counter() - t0) * 1e6
        return JointCommand(spec.joint_names, q, np.zeros(n), spec.kp.copy(), spec.kd.copy(),
                            np.zeros(n))

    def _decode(self, cur: _Loaded, a: np.ndarray, state: RobotState) -> np.ndarray:
        spec = self.spec
        if cur.step_type == "joint_pos_offset":
            a = np.clip(a, -cur.clip, cur.clip) if math.isfinite(cur.clip) else a
            return spec.q0 + cur.scale * a
        if cur.step_type == "joint_pos":
            return a.copy()
        assert cur.ik is not None  # ee_delta
        q = cur.ik.solve(state.q, cur.scale * a[:3]).q_target.copy()
        rest = [j for j in range(spec.n_joints) if j not in set(cur.ik.idx.tolist())]
        for k, j in enumerate(rest):
            if 3 + k < a.shape[0]:
                q[j] = a[3 + k]
        return q


__all__ = ["PolicyController"]
