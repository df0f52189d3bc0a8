"""`PolicyController`: robot state → policy command, at the policy rate (what `policy_node`
wraps, and the policy half of `DeployLoop`).

It opens a bundle with `open_policy` (single-step, chunk or residual), checks it against the
robot, rebuilds the observation builder from the bundle's own term list (so the robot builds
exactly the observation the policy was trained on, with the one `ObsBuilder`), and decodes
actions into `JointCommand`s with `robot_rl.control.actions.decode_action` (the training
envs' decoding: ``joint_pos_offset``, ``joint_pos_delta``, ``joint_pos``, ``ee_delta``). It
keeps its last decoded target, as the env does: a ``joint_pos_delta`` action moves it (from
the measured pose at the first step and after `reset`), the ``joint_target`` term shows it;
a hot swap keeps it, so a delta policy swapped in continues from the running target.

Gains are the robot's (the deployment config's effective spec). `swap` replaces the bundle
only after the new one loaded and passed every check, including a trial run on the current
observation and perturbed copies of it (`probe`); on failure the old one keeps running.
Terms that need a perception source the deploy path does not have (object poses) are refused
at load time.

Policy outputs are judged raw, before any clip: a non-finite output, or one beyond
``OUTPUT_BOUND_FACTOR`` x the bundle's ``action_clip`` (an output scaled by 1e9, an overflow),
becomes a command of NaN targets, which the safety chain's non-finite guard turns into its
latched fallback; clipped first, it would have been a finite full-scale offset. Task commands
(``/cmd_vel``, ``/goal``) are clamped to the ranges the policy was trained on
(`robot_rl.runtime.commands`).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.control.actions import decode_action, delta_bounds
from robot_rl.control.ik import DampedLeastSquaresIK
from robot_rl.robots.spec import RobotSpec
from robot_rl.runtime.commands import command_bounds
from robot_rl.runtime.loader import Policy, open_policy
from robot_rl.runtime.obs import ObsBuilder, ObsConfig
from robot_rl.runtime.policy import BundleError, OnnxPolicy, step_action_type
from robot_rl.types import JointCommand, RobotState

_NEEDS_EE = ("ee_pos", "goal_rel", "object_rel")
_UNAVAILABLE = ("object_pos", "object_quat", "object_rel", "base_lin_vel")
# a raw output beyond this many times the bundle's action_clip is a fault, not an action to
# clip. Measured (3 x 500 steps in the env, DR off, 2026-12-07): largest |a| / action_clip
# 1.02 for quad12_walk_ppo, 1.61 for quad12_walk_hinf (6.45 / 4.0), 4.05 for arm6_reach_ppo
# (4.05 / 1.0; p99 1.50): 10 leaves 2.5x headroom over the largest seen
OUTPUT_BOUND_FACTOR = 10.0
PROBE_PERTURBATIONS = 8  # perturbed observations a hot-swap candidate is run on


class _Loaded:
    """One validated bundle with its observation builder and action decoder."""

    def __init__(self, spec: RobotSpec, path: Path, threads: int,
                 limits: list[dict[str, Any]] | None = None) -> None:
        self.path = path
        single = OnnxPolicy(path, intra_op_threads=threads)
        self.policy: Policy = single if single.kind == "single" else open_policy(path)
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
        step_type = step_action_type(meta)
        try:
            self.builder = ObsBuilder(spec, cfg, action_dim=int(meta["act_dim"]))
        except ValueError as e:
            raise BundleError(f"{path}: its observation terms do not build on {spec.name}: "
                              f"{e}") from None
        single.check_robot(spec, self.builder.layout(), limits)
        self.step_type = step_type
        # what holds its joint_pos_delta targets, as in training (the contract's limits)
        self.bounds = delta_bounds(spec.q_min, spec.q_max, spec.kp, spec.kd, spec.tau_max,
                                   meta.get("contract", {}).get("limits"))
        self.scale = float(meta["action_scale"])
        self.clip = float(meta.get("extra", {}).get("action_clip", math.inf))
        self.policy_dt = float(meta["policy_dt"])
        self.ik = None
        if step_type == "ee_delta" or any(n.split(":", 1)[0] in _NEEDS_EE for n in names):
            if not spec.ee_site:
                raise BundleError(f"{path}: needs an end effector, {spec.name} has none")
            self.ik = DampedLeastSquaresIK(spec)
        self.command_lo, self.command_hi = command_bounds(meta)

    def output_fault(self, a: np.ndarray, spec: RobotSpec) -> str:
        """Why raw output ``a`` cannot be an action ("" if it can): non-finite, or beyond
        the bundle's bounds (``OUTPUT_BOUND_FACTOR`` x action_clip; the joint limits widened
        by 1 rad for absolute joint targets)."""
        if not np.isfinite(a).all():
            return "non-finite policy output"
        if self.step_type == "joint_pos":
            n = min(a.shape[0], spec.n_joints)
            lo, hi = spec.q_min[:n] - 1.0, spec.q_max[:n] + 1.0
            if np.any(a[:n] < lo) or np.any(a[:n] > hi):
                return "policy output beyond the joint limits (+/- 1 rad)"
            return ""
        bound = OUTPUT_BOUND_FACTOR * (self.clip if math.isfinite(self.clip) else 1.0)
        peak = float(np.abs(a).max()) if a.size else 0.0
        if peak > bound:
            return f"policy output {peak:.3g} beyond its bound {bound:g}"
        return ""


class PolicyController:
    """Args: spec: the robot (effective spec of the deployment config); path: the bundle;
    command: the initial task command; threads: onnxruntime intra-op threads; limits: the
    limit stages of the chain that will hold its commands (checked against the bundle's
    contract, for every bundle swapped in too; None: not checked).

    Raises BundleError if the bundle is missing, malformed or does not fit the robot."""

    def __init__(self, spec: RobotSpec, path: str | Path, command: Any = (),
                 threads: int = 1, limits: list[dict[str, Any]] | None = None) -> None:
        self.spec, self.threads = spec, threads
        self._lock = threading.Lock()
        self.limits = limits
        self._cur = _Loaded(spec, Path(path), threads, limits)
        # no command given: standing still / the origin (every command term has 3 values)
        self.command = np.zeros(3)
        if len(command):
            self.set_command(command)  # (clamped to the trained ranges, as every command)
        self.last_action = np.zeros(int(self._cur.meta["act_dim"]))
        self.last_target: np.ndarray | None = None  # the last decoded target (None: none yet)
        self.swaps = 0
        self.steps = 0
        self.output_faults = 0
        self.last_fault = ""
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

    def set_command(self, command: Any) -> bool:
        """Set the task command, clamped to the ranges the policy was trained on. Raises
        ValueError (the command in force is kept) for non-finite values or a wrong size;
        returns whether it was clamped."""
        cmd = np.asarray(command, dtype=np.float64).reshape(-1)
        if not np.isfinite(cmd).all():
            raise ValueError(f"command {cmd.tolist()} has non-finite values; kept "
                             f"{self.command.tolist()}")
        lo, hi = self._cur.command_lo, self._cur.command_hi
        if lo is not None and hi is not None:
            if cmd.shape != lo.shape:
                raise ValueError(f"command {cmd.tolist()} has {cmd.size} values, the policy "
                                 f"takes {lo.size}; kept {self.command.tolist()}")
            clamped = np.clip(cmd, lo, hi)
            changed = bool(np.any(clamped != cmd))
            self.command = clamped
            return changed
        self.command = cmd
        return False

    def probe(self, new: _Loaded, state: RobotState | None, seed: int = 0) -> str:
        """Run candidate ``new`` on the observation of ``state`` (the robot now) and
        `PROBE_PERTURBATIONS` perturbed copies (Gaussian, 5 % of each value plus 0.01);
        the reason it is refused ("" if every output is finite and within its bounds). Its
        recurrent state (action queues) is reset afterwards."""
        if state is None:
            return ""
        arrays: dict[str, Any] = {k: v.copy() for k, v in vars(state).items()
                                  if isinstance(v, np.ndarray)}
        st = dataclasses.replace(state, **arrays)
        try:
            obs = self.observe(st, new, np.zeros(int(new.meta["act_dim"])))
        except ValueError as e:
            return f"{new.path}: its observation cannot be built from the robot's state: {e}"
        rng = np.random.default_rng(seed)
        try:
            for k in range(PROBE_PERTURBATIONS + 1):
                x = obs if k == 0 else obs + rng.normal(size=obs.shape) * (
                    0.05 * np.abs(obs) + 0.01)
                a = np.asarray(new.policy.step(x.astype(obs.dtype), st.t),
                               dtype=np.float64).reshape(-1)
                why = new.output_fault(a, self.spec)
                if why:
                    what = "the current observation" if k == 0 else f"perturbed copy {k}"
                    return f"{new.path}: {why} on {what}; refused before the swap"
        finally:
            new.policy.reset()
        return ""

    def swap(self, path: str | Path) -> dict[str, Any]:
        """Load ``path``, check it, then switch to it (between two steps). Raises BundleError
        and keeps the current policy if the new one is refused."""
        new = _Loaded(self.spec, Path(path), self.threads, self.limits)
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
            self.last_target = None
            self._cur.policy.reset()

    def observe(self, state: RobotState, bundle: _Loaded | None = None,
                last_action: np.ndarray | None = None) -> np.ndarray:
        """The observation of ``state`` for the running bundle (or ``bundle``, with
        ``last_action``), the task command written into the state."""
        cur = self._cur if bundle is None else bundle
        state.command = self.command
        if cur.ik is not None and state.ee_pos is None:
            state.ee_pos = cur.ik.fk(state.q)[0]
        return cur.builder.build(state, self.last_action if last_action is None
                                 else last_action, last_target=self._last_target(state))

    def _last_target(self, state: RobotState) -> np.ndarray:
        """The target the next action moves: the last decoded one, or the measured pose."""
        return state.q if self.last_target is None else self.last_target

    def step(self, state: RobotState, t: float) -> JointCommand:
        """One policy tick: observation → action → joint command (robot gains). Raises
        BundleError on a non-finite observation (the caller sends nothing; the safety chain
        holds)."""
        t0 = time.perf_counter()
        with self._lock:
            cur = self._cur
            obs = self.observe(state)
            a = np.asarray(cur.policy.step(obs, t), dtype=np.float64).reshape(-1)
            self.last_fault = cur.output_fault(a, self.spec)
            if self.last_fault:  # judged raw, before any clip: NaN targets go on to the
                # safety chain (its non-finite guard latches its fallback), and the output
                # never into the next observation
                self.output_faults += 1
                q = np.full(self.spec.n_joints, np.nan)
            else:
                q = self._decode(cur, a, state)
                self.last_target = q.copy()
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
        return decode_action(cur.step_type, a, spec.q0, cur.scale, cur.clip, state.q, cur.ik,
                             last=self._last_target(state), bounds=cur.bounds, dq=state.dq)

__all__ = ["PolicyController"]
