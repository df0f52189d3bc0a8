"""The safety stages (ROS-free, torch-free). Each has a config dataclass (YAML ``safety.stages``
entries, ``type: <name>``) and a `Stage` subclass; `STAGES` maps names to both.

Each stage's rule is written once, in its ``__call__``, as vectorised numpy over the joints
(buffers allocated once per stage; the shaping stages edit the chain's working command in
place). Hand-worked numbers for every rule, NaN / inf included, are in
tests/safety/test_rules.py; each stage's modes and reasons in tests/safety/test_stages.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from robot_rl.control.pd import pd_target_range, pd_torque
from robot_rl.geometry import roll_pitch
from robot_rl.robots.spec import RobotSpec
from robot_rl.safety.core import (
    Mode,
    Stage,
    TickContext,
    all_finite,
    any_true,
    clamp_inplace,
    meet,
)
from robot_rl.types import JointCommand, RobotState


# -- e-stop --
@dataclass
class EStopConfig:
    """No options: the e-stop latch is engaged from the API / the /estop topic."""


class EStop(Stage):
    """Latched emergency stop: STOP (damping) from the tick it is engaged until a reset."""

    name: ClassVar[str] = "estop"
    rearm_clears: ClassVar[bool] = False
    controlled_stop: ClassVar[bool] = True  # an operator's stop: the robot itself is sound

    def __init__(self, spec: RobotSpec, cfg: EStopConfig, control_dt: float) -> None:
        super().__init__(spec, cfg, control_dt)
        self.engaged = False
        self.reason = ""

    def engage(self, reason: str = "e-stop") -> None:
        self.engaged, self.reason = True, reason

    def release(self) -> None:
        self.engaged, self.reason = False, ""

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        if self.engaged:
            ctx.request(self.name, self.reason, Mode.STOP)


# -- watchdogs --
@dataclass
class StateWatchdogConfig:
    """Stale joint state, or NaN / inf in the measured joints or IMU orientation (a sensor or
    decoding fault: nothing computed from it can be trusted) → damping. ``timeout_s``:
    maximum age of the state, in (0, ``TIMEOUT_MAX``] = (0, 1] s (a robot left blind for a
    second has fallen or hit something; typical: 2-10 control periods, 50-100 ms);
    ``latch``: keep damping until a reset."""

    TIMEOUT_MAX: ClassVar[float] = 1.0

    timeout_s: float = 0.05
    latch: bool = True

    def validate(self) -> None:
        if not 0 < self.timeout_s <= self.TIMEOUT_MAX:
            raise ValueError(f"timeout_s must be > 0 and <= {self.TIMEOUT_MAX:g} s, got "
                             f"{self.timeout_s}")


class StateWatchdog(Stage):
    name: ClassVar[str] = "state_watchdog"
    cfg: StateWatchdogConfig

    @property
    def latched(self) -> bool:
        return self.tripped

    def reset(self, state: RobotState | None) -> None:
        self.tripped = False
        self.why = ""  # what tripped it (kept in the latched reason: the cause, not a count)

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        age = ctx.t - ctx.state_t
        st = ctx.state
        why = ""
        if age > self.cfg.timeout_s:
            why = (f"joint state is {age * 1e3:.0f} ms old "
                   f"(> {self.cfg.timeout_s * 1e3:.0f} ms)")
        elif not all_finite(st.q, st.dq, st.imu_quat):
            why = "non-finite value in the measured joint state or IMU orientation (sensor fault?)"
        if why:
            if not self.tripped:
                self.why = why
            self.tripped = self.cfg.latch
            ctx.request(self.name, why, Mode.DAMPING)
        elif self.tripped:
            ctx.request(self.name, f"latched after: {self.why}", Mode.DAMPING)


@dataclass
class CommandWatchdogConfig:
    """Stale policy command → hold after ``hold_after_s``, damping after ``damp_after_s``;
    0 < hold_after_s <= damp_after_s <= ``DAMP_MAX`` = 2 s (holding a pose for longer
    without a policy is a robot nobody controls; typical: 0.1 s and 0.5 s). A command's age
    is that of the state it was computed from, so a late command is an old one. ``latch``
    (default): once damping, keep damping until a reset (a policy that resumes after a stall
    must not take a robot that has begun to sit or sag straight back)."""

    DAMP_MAX: ClassVar[float] = 2.0

    hold_after_s: float = 0.1
    damp_after_s: float = 0.5
    latch: bool = True

    def validate(self) -> None:
        if not 0 < self.hold_after_s <= self.damp_after_s <= self.DAMP_MAX:
            raise ValueError(f"need 0 < hold_after_s <= damp_after_s <= {self.DAMP_MAX:g} s, got "
                             f"{self.hold_after_s}, {self.damp_after_s}")


class CommandWatchdog(Stage):
    name: ClassVar[str] = "command_watchdog"
    controlled_stop: ClassVar[bool] = True  # a silent policy: the state is still fresh
    cfg: CommandWatchdogConfig
    tripped = False  # (damping latched; `reset` clears it)

    @property
    def latched(self) -> bool:
        return self.tripped

    def reset(self, state: RobotState | None) -> None:
        self.tripped = False

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        if self.tripped:
            ctx.request(self.name, "latched after a stale command (reset to resume)",
                        Mode.DAMPING)
            return
        if ctx.command_t is None:
            ctx.request(self.name, "no command received yet", Mode.HOLD)
            return
        age = ctx.t - ctx.command_t
        if age > self.cfg.damp_after_s:
            self.tripped = self.cfg.latch  # (the bridge's activation re-arms it)
            ctx.request(self.name, f"command is {age * 1e3:.0f} ms old "
                        f"(> {self.cfg.damp_after_s * 1e3:.0f} ms)", Mode.DAMPING)
        elif age > self.cfg.hold_after_s:
            ctx.request(self.name, f"command is {age * 1e3:.0f} ms old "
                        f"(> {self.cfg.hold_after_s * 1e3:.0f} ms)", Mode.HOLD)


# -- non-finite guard --
@dataclass
class NonFiniteConfig:
    """NaN / inf anywhere in the command → hold the last safe command; ``latch`` keeps holding
    until a reset."""

    latch: bool = True


class NonFinite(Stage):
    name: ClassVar[str] = "non_finite"
    cfg: NonFiniteConfig

    @property
    def latched(self) -> bool:
        return self.faulted

    def reset(self, state: RobotState | None) -> None:
        self.faulted = False

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        if not all_finite(cmd.q_target, cmd.dq_target, cmd.kp, cmd.kd, cmd.tau_ff):
            self.faulted = self.cfg.latch
            ctx.request(self.name, "non-finite value in the command", Mode.HOLD)
        elif self.faulted:
            ctx.request(self.name, "latched after a non-finite command", Mode.HOLD)


# -- fall / tilt --
@dataclass
class FallDetectConfig:
    """Legged robots: |roll| or |pitch| beyond the limits [rad], or the base lower than
    ``min_base_height`` [m] (when the state has a base position) → damping, latched.
    max_roll, max_pitch in (0, pi) rad (pi: upside down, never trips); min_base_height in
    [0, ``HEIGHT_MAX``) = [0, 2) m (0: no height check; a base-height threshold of 2 m is
    beyond any legged robot this stack drives)."""

    HEIGHT_MAX: ClassVar[float] = 2.0

    max_roll: float = 0.8
    max_pitch: float = 0.8
    min_base_height: float = 0.12

    def validate(self) -> None:
        if not (0 < self.max_roll < np.pi and 0 < self.max_pitch < np.pi):
            raise ValueError(f"max_roll and max_pitch must be in (0, pi) rad, got "
                             f"{self.max_roll}, {self.max_pitch}")
        if not 0 <= self.min_base_height < self.HEIGHT_MAX:
            raise ValueError(f"min_base_height must be >= 0 and < {self.HEIGHT_MAX:g} m, got "
                             f"{self.min_base_height}")


class FallDetect(Stage):
    name: ClassVar[str] = "fall_detect"
    cfg: FallDetectConfig

    @property
    def latched(self) -> bool:
        return self.fallen

    def reset(self, state: RobotState | None) -> None:
        self.fallen = False

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        if self.fallen:
            ctx.request(self.name, "latched after a fall", Mode.DAMPING)
            return
        st = ctx.state
        # (a NaN orientation gives NaN angles, which trip nothing here: the state watchdog
        # damps a non-finite state)
        roll, pitch = roll_pitch(np.asarray(st.imu_quat, dtype=np.float64))
        reason = ""
        if abs(roll) > self.cfg.max_roll:
            reason = f"roll {roll:.2f} rad beyond {self.cfg.max_roll}"
        elif abs(pitch) > self.cfg.max_pitch:
            reason = f"pitch {pitch:.2f} rad beyond {self.cfg.max_pitch}"
        elif st.base_pos is not None and st.base_pos[2] < self.cfg.min_base_height:
            reason = f"base height {st.base_pos[2]:.2f} m below {self.cfg.min_base_height}"
        if reason:
            self.fallen = True
            ctx.request(self.name, reason, Mode.DAMPING)


# -- tracking error / over-current --
@dataclass
class TrackingGuardConfig:
    """|q - last target| > ``max_error`` [rad] or |measured torque| > ``max_torque_ratio`` x
    tau_max on any joint for longer than ``duration_s`` → stop (latched).

    Ranges: max_error in (0, pi/2] rad (a joint a quarter turn off its target is not
    tracking); max_torque_ratio in (0, 2] (a motor's peak torque is at most about twice its
    rated limit, so a larger ratio never trips); duration_s in [0, 1] s."""

    ERROR_MAX: ClassVar[float] = float(np.pi / 2)
    TORQUE_RATIO_MAX: ClassVar[float] = 2.0
    DURATION_MAX: ClassVar[float] = 1.0

    max_error: float = 0.6
    max_torque_ratio: float = 1.2
    duration_s: float = 0.2

    def validate(self) -> None:
        if not 0 < self.max_error <= self.ERROR_MAX:
            raise ValueError(f"max_error must be > 0 and <= pi/2 rad, got {self.max_error}")
        if not 0 < self.max_torque_ratio <= self.TORQUE_RATIO_MAX:
            raise ValueError(f"max_torque_ratio must be > 0 and <= {self.TORQUE_RATIO_MAX:g}, "
                             f"got {self.max_torque_ratio}")
        if not 0 <= self.duration_s <= self.DURATION_MAX:
            raise ValueError(f"duration_s must be >= 0 and <= {self.DURATION_MAX:g} s, got "
                             f"{self.duration_s}")


class TrackingGuard(Stage):
    name: ClassVar[str] = "tracking_guard"
    cfg: TrackingGuardConfig
    rearm_clears: ClassVar[bool] = False

    @property
    def latched(self) -> bool:
        return bool(self.stopped)

    def __init__(self, spec: RobotSpec, cfg: TrackingGuardConfig, control_dt: float) -> None:
        super().__init__(spec, cfg, control_dt)
        self.tau_trip = cfg.max_torque_ratio * spec.tau_max

    def reset(self, state: RobotState | None) -> None:
        self.since: float | None = None
        self.stopped = ""

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        if self.stopped:
            ctx.request(self.name, self.stopped, Mode.STOP)
            return
        last = ctx.last_safe
        if last is None or not ctx.motors_on or not any_true(last.kp):
            # (a passive robot tracks nothing; nor does a damped one, kp all zero)
            self.since = None
            return
        st = ctx.state
        # the largest |q - target| (NaN if one is NaN: NaN > max_error is False, a NaN state
        # is the state watchdog's); a measured torque above the trip level, or NaN (not
        # within it), is over
        err = float(np.abs(st.q - last.q_target).max())
        over = (st.tau is not None
                and np.count_nonzero(np.abs(st.tau) <= self.tau_trip) < self.tau_trip.size)
        if err > self.cfg.max_error or over:
            if self.since is None:
                self.since = ctx.t
            if ctx.t - self.since >= self.cfg.duration_s:
                # (which joint: computed only here, on the tick that trips)
                if over and st.tau is not None:
                    j = int(np.argmax(np.abs(st.tau) / self.tau_trip))
                    what = (f"{self.spec.joint_names[j]} torque {st.tau[j]:.1f} N m above "
                            f"{self.cfg.max_torque_ratio} x the limit")
                else:
                    j = int(np.argmax(np.where(last.kp > 0, np.abs(st.q - last.q_target), 0)))
                    what = (f"{self.spec.joint_names[j]} tracking error {err:.2f} rad > "
                            f"{self.cfg.max_error}")
                self.stopped = f"{what} for {self.cfg.duration_s} s"
                ctx.request(self.name, self.stopped, Mode.STOP)
        else:
            self.since = None


# -- command shaping --
@dataclass
class SoftStartConfig:
    """Ramp from the measured pose to the command over ``duration_s`` after (re)activation.

    ``stand_s`` > 0: first a stand-up, ``stand_s`` long, from the measured pose to the
    robot's default pose with the robot's stand-up gains (`RobotSpec.stand_kp`; the policy's
    command ignored meanwhile), then the default pose held until the robot is there (every
    joint within ``stand_tol`` [rad] of it, at most ``stand_wait_s`` more), then the ramp
    from the default pose to the command. A legged robot sinks while it is passive (damped,
    before its activation): from its belly, quad12's rear calves were still 0.6-0.7 rad
    short of the standing pose when a 2 s stand-up at the policy's gains ended, and ramping
    to the policy from there tripped the tracking guard; a locomotion
    policy trained from standing starts gets observations it never saw from a crouch.

    duration_s, stand_s and stand_wait_s in [0, ``DURATION_MAX``] = [0, 10] s (a stand-up or
    ramp takes seconds; longer leaves the robot half-way, neither passive nor controlled);
    stand_tol in (0, 1] rad."""

    DURATION_MAX: ClassVar[float] = 10.0

    duration_s: float = 2.0
    stand_s: float = 0.0
    stand_tol: float = 0.15
    stand_wait_s: float = 3.0

    def validate(self) -> None:
        for key in ("duration_s", "stand_s", "stand_wait_s"):
            v = getattr(self, key)
            if not 0 <= v <= self.DURATION_MAX:
                raise ValueError(f"{key} must be >= 0 and <= {self.DURATION_MAX:g} s, got {v}")
        if not 0 < self.stand_tol <= 1.0:
            raise ValueError(f"stand_tol must be in (0, 1] rad, got {self.stand_tol}")


class SoftStart(Stage):
    shaping: ClassVar[bool] = True
    name: ClassVar[str] = "soft_start"
    cfg: SoftStartConfig

    def reset(self, state: RobotState | None) -> None:
        self.q_start: np.ndarray | None = None
        self.t0 = 0.0
        self.t_stood: float | None = None  # when the stand-up reached the default pose

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        if self.q_start is None:
            self.q_start = ctx.state.q.copy()
            self.t0 = ctx.t
        since, stand = ctx.t - self.t0, self.cfg.stand_s
        if stand > 0 and self.t_stood is None:
            q0 = self.spec.q0
            if since < stand:  # stand up: measured pose -> default pose, command ignored
                a = since / stand
                what = "stand-up to the default pose"
            else:  # hold the default pose until the robot is there (or the wait is over)
                a = 1.0
                there = float(np.abs(ctx.state.q - q0).max()) <= self.cfg.stand_tol
                if there or since >= stand + self.cfg.stand_wait_s:  # (timed, not ticked)
                    self.t_stood = ctx.t if there else self.t0 + stand + self.cfg.stand_wait_s
                what = "stand-up: waiting to reach the default pose"
            if self.t_stood is None:  # (with the robot's stand-up gains)
                cmd.q_target[:] = self.q_start + a * (q0 - self.q_start)
                cmd.dq_target[:] = 0.0
                cmd.tau_ff[:] = 0.0
                cmd.kp[:] = self.spec.stand_kp
                cmd.kd[:] = self.spec.stand_kd
                ctx.record(self.name, what)
                return
        if stand > 0:
            assert self.t_stood is not None
            since = ctx.t - self.t_stood
        alpha = since / self.cfg.duration_s if self.cfg.duration_s > 0 else 1.0
        if alpha < 1.0:
            # the command pulled toward where the ramp starts (in place):
            # q_target = start + alpha (q_target - start); dq_target, tau_ff x alpha
            start = self.spec.q0 if stand > 0 else self.q_start
            q_t = cmd.q_target
            q_t -= start
            q_t *= alpha
            q_t += start
            cmd.dq_target *= alpha
            cmd.tau_ff *= alpha
            ctx.record(self.name, "ramp")


@dataclass
class JointLimitsConfig:
    """Position targets kept ``margin`` [rad] inside the joint limits; margin >= 0 and below
    half the robot's smallest joint range (checked against the robot when the stage is
    built)."""

    margin: float = 0.05

    def validate(self) -> None:
        if not self.margin >= 0:
            raise ValueError(f"margin must be >= 0 (rad), got {self.margin}")


class JointLimits(Stage):
    shaping: ClassVar[bool] = True
    name: ClassVar[str] = "joint_limits"
    cfg: JointLimitsConfig

    def __init__(self, spec: RobotSpec, cfg: JointLimitsConfig, control_dt: float) -> None:
        super().__init__(spec, cfg, control_dt)
        if not np.all(spec.q_max - spec.q_min > 2 * cfg.margin):
            raise ValueError(f"joint_limits margin {cfg.margin} rad leaves no range on some "
                             f"joint; use a margin below half the smallest joint range "
                             f"({float(np.min(spec.q_max - spec.q_min)) / 2:.3f} rad)")
        self.lo = spec.q_min + cfg.margin
        self.hi = spec.q_max - cfg.margin

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        ctx.q_lo, ctx.q_hi = self.lo, self.hi
        if clamp_inplace(cmd.q_target, self.lo, self.hi):
            ctx.record(self.name, "position target clamped to the joint limits")


@dataclass
class RateLimitConfig:
    """|target change per tick| ≤ ``scale`` x dq_max x control_dt; |dq_target| ≤ dq_max.
    ``scale`` in (0, ``SCALE_MAX``] = (0, 2]: 1 = the joints' rated speed; up to 2 leaves room
    for a conservative spec, beyond that the "limit" no longer limits anything."""

    SCALE_MAX: ClassVar[float] = 2.0

    scale: float = 1.0

    def validate(self) -> None:
        if not 0 < self.scale <= self.SCALE_MAX:
            raise ValueError(f"scale must be > 0 and <= {self.SCALE_MAX:g}, got {self.scale}")


class RateLimit(Stage):
    shaping: ClassVar[bool] = True
    name: ClassVar[str] = "rate_limit"
    cfg: RateLimitConfig

    def __init__(self, spec: RobotSpec, cfg: RateLimitConfig, control_dt: float) -> None:
        super().__init__(spec, cfg, control_dt)
        n = spec.n_joints
        self.step = spec.dq_max * cfg.scale * control_dt
        self._r_lo, self._r_hi = np.zeros(n), np.zeros(n)  # this tick's rate box (ctx.r_lo/hi)
        self._box = (np.zeros(n), np.zeros(n))  # the target's box
        self._neg_dq_max = -spec.dq_max

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        last = ctx.last_safe
        # the rate box: one step either side of the last stiff target (after damping, or with
        # no output yet: of the measured position)
        ref = last.q_target if last is not None and any_true(last.kp) else ctx.state.q
        if ref.shape != self._r_lo.shape:  # a batch of commands (K, n): the training envs
            self._r_lo, self._r_hi = np.zeros(ref.shape), np.zeros(ref.shape)
            self._box = (np.zeros(ref.shape), np.zeros(ref.shape))
        r_lo = np.subtract(ref, self.step, out=self._r_lo)
        r_hi = np.add(ref, self.step, out=self._r_hi)
        # the target's box: the rate box inside the position bounds, which have priority
        # (where the rate box lies wholly outside them, the robot beyond a limit: the nearest
        # bound). A NaN reference (a NaN measured state: the state watchdog's) gives a NaN
        # box, which clamps nothing.
        q_lo = self.spec.q_min if ctx.q_lo is None else ctx.q_lo
        q_hi = self.spec.q_max if ctx.q_hi is None else ctx.q_hi
        lo, hi = meet(q_lo, q_hi, r_lo, r_hi, out=self._box)
        moved = clamp_inplace(cmd.q_target, lo, hi)
        moved |= clamp_inplace(cmd.dq_target, self._neg_dq_max, self.spec.dq_max)
        if moved:
            ctx.record(self.name, "target step / velocity limited by the joint velocity limits")
        ctx.r_lo, ctx.r_hi = r_lo, r_hi


@dataclass
class TorqueLimitConfig:
    """Predicted PD torque ``kp (q_t - q) + kd (dq_t - dq) + tau_ff`` kept within ``scale`` x
    tau_max by moving the position target (not by clipping the torque). Gains are first
    clamped to [0, ``max_gain_ratio`` x the spec's kp / kd] (negative or runaway gains are
    refused the way a motor driver's gain range would). scale in (0, 1]; max_gain_ratio in
    [1, ``GAIN_RATIO_MAX``] = [1, 10]."""

    GAIN_RATIO_MAX: ClassVar[float] = 10.0

    scale: float = 1.0
    max_gain_ratio: float = 5.0

    def validate(self) -> None:
        if not 0 < self.scale <= 1.0:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")
        if not 1.0 <= self.max_gain_ratio <= self.GAIN_RATIO_MAX:
            raise ValueError(f"max_gain_ratio must be >= 1 and <= {self.GAIN_RATIO_MAX:g}, got "
                             f"{self.max_gain_ratio}")


class TorqueLimit(Stage):
    shaping: ClassVar[bool] = True
    name: ClassVar[str] = "torque_limit"
    cfg: TorqueLimitConfig

    def __init__(self, spec: RobotSpec, cfg: TorqueLimitConfig, control_dt: float) -> None:
        super().__init__(spec, cfg, control_dt)
        self.lim = spec.tau_max * cfg.scale
        self._neg_lim = -self.lim
        self.kp_max = spec.kp * cfg.max_gain_ratio
        self.kd_max = np.maximum(spec.kd, spec.damping_kd) * cfg.max_gain_ratio
        self._tau = np.zeros(spec.n_joints)

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        st = ctx.state
        # gains into [0, max_gain_ratio x spec], feed-forward into [-lim, lim] ("|" not "or":
        # both gains are clamped)
        if clamp_inplace(cmd.kp, 0.0, self.kp_max) | clamp_inplace(cmd.kd, 0.0, self.kd_max):
            ctx.record(self.name, "gains clamped to [0, max_gain_ratio x spec]")
        if clamp_inplace(cmd.tau_ff, self._neg_lim, self.lim):
            ctx.record(self.name, "feed-forward torque clamped")
        # the PD torque the command asks for at the measured state (a NaN torque is not over:
        # a NaN command or state never gets here, the non-finite guard and watchdog hold or
        # damp first)
        if self._tau.shape != cmd.q_target.shape:  # a batch of commands (K, n)
            self._tau = np.zeros(cmd.q_target.shape)
        tau = pd_torque(cmd.q_target, st.q, st.dq, cmd.kp, cmd.kd, cmd.dq_target, cmd.tau_ff,
                        out=self._tau)
        over = np.abs(tau) > self.lim
        if not any_true(over):
            return
        # stiff joints: the target moves to the nearest torque-feasible one, kept inside the
        # position bounds always (where the feasible targets lie wholly outside them: the
        # nearest bound) and inside the rate box too wherever that box meets the rest
        stiff = cmd.kp > 1e-6
        kp = np.where(stiff, cmd.kp, 1.0)  # (1.0: a stand-in gain on the joints not moved so)
        lo, hi = pd_target_range(self._neg_lim, self.lim, st.q, st.dq, kp, cmd.kd,
                                 cmd.dq_target, cmd.tau_ff)
        q_lo = self.spec.q_min if ctx.q_lo is None else ctx.q_lo
        q_hi = self.spec.q_max if ctx.q_hi is None else ctx.q_hi
        meet(q_lo, q_hi, lo, hi, out=(lo, hi))
        if ctx.r_lo is not None and ctx.r_hi is not None:
            r_lo, r_hi = np.maximum(lo, ctx.r_lo), np.minimum(hi, ctx.r_hi)
            rate_ok = r_lo <= r_hi
            np.copyto(lo, r_lo, where=rate_ok)
            np.copyto(hi, r_hi, where=rate_ok)
        np.copyto(cmd.q_target, np.minimum(np.maximum(cmd.q_target, lo), hi),
                  where=over & stiff)
        # joints without stiffness to work with: the damping torque is removed (dq_target = dq)
        np.copyto(cmd.dq_target, st.dq, where=over & ~stiff)
        ctx.record(self.name, "position target moved to keep the PD torque within limits")


STAGES: dict[str, tuple[type[Stage], type[Any]]] = {
    EStop.name: (EStop, EStopConfig),
    StateWatchdog.name: (StateWatchdog, StateWatchdogConfig),
    CommandWatchdog.name: (CommandWatchdog, CommandWatchdogConfig),
    NonFinite.name: (NonFinite, NonFiniteConfig),
    FallDetect.name: (FallDetect, FallDetectConfig),
    TrackingGuard.name: (TrackingGuard, TrackingGuardConfig),
    SoftStart.name: (SoftStart, SoftStartConfig),
    JointLimits.name: (JointLimits, JointLimitsConfig),
    RateLimit.name: (RateLimit, RateLimitConfig),
    TorqueLimit.name: (TorqueLimit, TorqueLimitConfig),
}
