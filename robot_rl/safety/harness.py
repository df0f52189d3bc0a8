"""Fault-injection harness: the safety chain closed around a MuJoCo robot.

Each control tick: read the state (or, under a stale-state fault, keep the old one) → the
policy callback proposes a command at the policy rate (faults can corrupt, freeze or
replace it) → `SafetyChain.step` → the motor-side PD law applies the output command with
the motor's own torque saturation → MuJoCo steps. Every tick is checked with
`robot_rl.safety.check.violations` and logged, so tests and `robot-rl bench safety` can assert
what happened and when.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from robot_rl.control.pd import pd_torque
from robot_rl.geometry import roll_pitch
from robot_rl.robots.mjstate import MjRobot
from robot_rl.safety.check import violations
from robot_rl.safety.robot_config import RobotConfig, load_robot_config, make_safety_chain
from robot_rl.types import JointCommand, RobotState

Policy = Callable[[RobotState, float], JointCommand | None]


@dataclass
class Fault:
    """One injected fault over [start, end) seconds.

    kinds: ``nan`` (NaN in the policy's command), ``freeze`` (no new commands), ``stale_state``
    (the state stops updating), ``spike`` (targets jump by ``value`` rad), ``oscillate``
    (targets alternate between the joint limits every policy step), ``estop`` (engaged at
    ``start``).
    """

    kind: str
    start: float
    end: float = float("inf")
    value: float = 100.0


@dataclass
class TickLog:
    t: np.ndarray
    mode: np.ndarray
    q: np.ndarray
    tau: np.ndarray
    q_target: np.ndarray
    kp: np.ndarray
    fell: np.ndarray
    chain_us: np.ndarray
    violations: list[tuple[float, list[str]]] = field(default_factory=list)

    def first(self, condition: np.ndarray) -> int | None:
        idx = np.flatnonzero(condition)
        return int(idx[0]) if idx.size else None


class SafetyHarness:
    """A robot in MuJoCo behind its configured safety chain.

    Args:
        robot: robot name (its ``configs/robots/<robot>.yaml`` gives control_dt and stages),
            or a ready `RobotConfig`.
        fall_roll_pitch, fall_height: the "true fall" criterion computed from the sim for the
            log (defaults: the chain's fall_detect thresholds).
    """

    def __init__(self, robot: str | RobotConfig, seed: int = 0) -> None:
        self.cfg = robot if isinstance(robot, RobotConfig) else load_robot_config(robot=robot)
        self.spec = self.cfg.effective_spec()
        self.chain = make_safety_chain(self.cfg)
        self.model = mujoco.MjModel.from_xml_path(str(self.spec.mjcf))
        self.data = mujoco.MjData(self.model)
        self.robot = MjRobot(self.spec, self.model, self.data)
        key = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_KEY, "home")
        if key >= 0:
            mujoco.mj_resetDataKeyframe(self.model, self.data, key)
        mujoco.mj_forward(self.model, self.data)
        # split stepping (mj_step1 → read state → set torque → mj_step2) keeps the sensors
        # consistent with the state the chain sees, so detection latency is measured exactly
        mujoco.mj_step1(self.model, self.data)
        self.control_dt = self.cfg.control_dt
        self.substeps = max(1, round(self.control_dt / self.model.opt.timestep))
        self.policy_every = max(1, round(self.spec.policy_dt / self.control_dt))
        self.rng = np.random.default_rng(seed)
        stages = {s.name: s for s in self.chain.stages}
        fd = stages.get("fall_detect")
        self.fall_roll_pitch = (fd.cfg.max_roll, fd.cfg.max_pitch) if fd else (np.inf, np.inf)
        self.fall_height = fd.cfg.min_base_height if fd else -np.inf

    def true_fall(self) -> bool:
        """The fall criterion from the simulator's ground truth (not the sensors)."""
        if not self.spec.floating_base:
            return False
        roll, pitch = roll_pitch(self.data.qpos[3:7])
        return bool(abs(roll) > self.fall_roll_pitch[0] or abs(pitch) > self.fall_roll_pitch[1]
                    or self.data.qpos[2] < self.fall_height)

    def run(self, policy: Policy, seconds: float, faults: list[Fault] | None = None,
            on_tick: Callable[[SafetyHarness, float], Any] | None = None) -> TickLog:
        faults = faults or []
        n = int(round(seconds / self.control_dt))
        nj = self.spec.n_joints
        log = TickLog(t=np.zeros(n), mode=np.zeros(n, dtype=np.int8), q=np.zeros((n, nj)),
                      tau=np.zeros((n, nj)), q_target=np.zeros((n, nj)), kp=np.zeros((n, nj)),
                      fell=np.zeros(n, dtype=bool), chain_us=np.zeros(n))
        state = self.robot.read_state()
        state_t = 0.0
        cmd: JointCommand | None = None
        cmd_t: float | None = None
        prev_out: JointCommand | None = None
        flip = 1.0
        estop_done = set()
        spec = self.spec
        for k in range(n):
            t = k * self.control_dt
            log.fell[k] = self.true_fall()  # ground truth of the state the chain sees now
            active = {f.kind: f for f in faults if f.start <= t < f.end}
            if "stale_state" not in active:
                state = self.robot.read_state()
                state.t = t
                state_t = t
            for f in faults:
                if f.kind == "estop" and t >= f.start and id(f) not in estop_done:
                    self.chain.engage_estop("injected e-stop")
                    estop_done.add(id(f))
            if k % self.policy_every == 0 and "freeze" not in active:
                new = policy(state, t)
                if new is not None:
                    new = JointCommand(new.joint_names, new.q_target.copy(),
                                       new.dq_target.copy(), new.kp.copy(), new.kd.copy(),
                                       new.tau_ff.copy())
                    if "nan" in active:
                        new.q_target[self.rng.integers(nj)] = np.nan
                    if "spike" in active:
                        new.q_target += active["spike"].value * self.rng.choice([-1.0, 1.0], nj)
                    if "oscillate" in active:
                        flip = -flip
                        new.q_target = np.where(flip > 0, spec.q_max, spec.q_min).astype(float)
                    cmd, cmd_t = new, t
            t0 = time.perf_counter_ns()
            out = self.chain.step(cmd, state, t, state_t=state_t, command_t=cmd_t)
            log.chain_us[k] = (time.perf_counter_ns() - t0) / 1e3
            bad = violations(self.chain, out, state, prev_out)
            if bad:
                log.violations.append((t, bad))
            prev_out = out
            q, dq = self.robot.q.copy(), self.robot.dq.copy()
            tau = pd_torque(out.q_target, q, dq, out.kp, out.kd, out.dq_target, out.tau_ff,
                            spec.tau_max)
            self.robot.set_torque(tau)
            for i in range(self.substeps):
                if i:
                    mujoco.mj_step1(self.model, self.data)
                mujoco.mj_step2(self.model, self.data)
            mujoco.mj_step1(self.model, self.data)
            log.t[k], log.mode[k] = t, int(self.chain.mode)
            log.q[k], log.tau[k] = q, tau
            log.q_target[k], log.kp[k] = out.q_target, out.kp
            if on_tick is not None:
                on_tick(self, t)
        return log


__all__ = ["Fault", "SafetyHarness", "TickLog"]
