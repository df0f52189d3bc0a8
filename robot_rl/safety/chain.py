"""`SafetyChain`: ordered stages between the policy and the motors, run once per control tick.

Monitor stages (e-stop, watchdogs, non-finite guard, fall and tracking guards) run every
tick and may escalate the mode; shaping stages (soft start, joint limits, rate limit, torque
limit, workspace CBF) edit the command and run only while the mode is ACTIVE. The chain's
output for each mode is described in `robot_rl.safety.core`; what HOLD commands, and whether
DAMPING / STOP begin with a controlled stop, is the robot's fallback
(`robot_rl.safety.fallback`, ``safety.fallback`` in the robot config). Every intervention is
counted per stage with its last reason (`SafetyChain.report`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot_rl.config import ConfigError, from_dict
from robot_rl.robots.spec import RobotSpec
from robot_rl.safety.core import Mode, SafetyEvent, Stage, TickContext
from robot_rl.safety.fallback import Fallback, HoldFallback, HoldFallbackConfig, build_fallback
from robot_rl.safety.stages import STAGES, EStop, SoftStart
from robot_rl.types import JointCommand, RobotState


@dataclass
class SafetyConfig:
    """YAML ``safety`` section: ``stages`` is an ordered list of ``{type: NAME, ...options}``;
    ``reset_max_speed`` [rad/s], in (0, 2]: a reset is refused while any joint moves faster.

    Mandatory stages (``MANDATORY``); a chain without any of them is refused, because nothing
    else in the deploy path does their job:

    - ``estop``: the operator's stop (the /estop topic, `SafetyChain.engage_estop`);
    - ``state_watchdog``: stale or non-finite measured state (a dead bus or sensor) → damping;
    - ``command_watchdog``: stale policy command (a dead or slow policy) → hold, then damping;
    - ``non_finite``: NaN / inf in the command → hold;
    - ``joint_limits``, ``rate_limit``, ``torque_limit``: the position, velocity and torque
      limits of the hardware; in this order, since each keeps its target inside the boxes
      of the ones before it (``TickContext.q_lo`` / ``r_lo``), so a later stage never undoes
      an earlier one's limit.

    Optional: ``fall_detect`` (legged robots), ``tracking_guard``, ``soft_start`` and extra
    shaping stages such as ``cbf_workspace``.
    """

    MANDATORY = ("estop", "state_watchdog", "command_watchdog", "non_finite", "joint_limits",
                 "rate_limit", "torque_limit")
    ORDERED = ("joint_limits", "rate_limit", "torque_limit")
    RESET_SPEED_MAX = 2.0

    stages: tuple[dict[str, Any], ...] = ()
    reset_max_speed: float = 0.5
    # ``{type: NAME, ...options}`` of `robot_rl.safety.fallback` (checked by `build_fallback`)
    fallback: dict[str, Any] = field(default_factory=lambda: {"type": "hold"})

    def validate(self) -> None:
        if not self.stages:
            raise ValueError("safety.stages is empty: list the stages in order")
        seen: list[str] = []
        for i, entry in enumerate(self.stages):
            kind = entry.get("type")
            if kind not in STAGES:
                raise ValueError(f"safety.stages[{i}]: unknown stage type {kind!r}; available: "
                                 f"{', '.join(sorted(STAGES))}")
            if kind in seen:
                raise ValueError(f"safety.stages[{i}]: stage '{kind}' listed twice")
            seen.append(kind)
        missing = [k for k in self.MANDATORY if k not in seen]
        if missing:
            raise ValueError(f"safety.stages: mandatory stage(s) {', '.join(missing)} missing; "
                             f"every chain needs {', '.join(self.MANDATORY)} (add e.g. "
                             f"'- {{type: {missing[0]}}}'; see configs/robots/*.yaml)")
        order = [k for k in seen if k in self.ORDERED]
        if order != list(self.ORDERED):
            raise ValueError(f"safety.stages: {', '.join(self.ORDERED)} must come in this "
                             f"order (each keeps its target inside the limits of the ones "
                             f"before it), got {', '.join(order)}")
        if not 0 < self.reset_max_speed <= self.RESET_SPEED_MAX:
            raise ValueError(f"safety.reset_max_speed must be in (0, {self.RESET_SPEED_MAX}] "
                             f"rad/s, got {self.reset_max_speed}")


def build_stages(cfg: SafetyConfig, spec: RobotSpec, control_dt: float,
                 source: str = "safety") -> list[Stage]:
    """Instantiate the configured stages (options validated, errors name the entry)."""
    cfg.validate()
    return [build_stage(entry, spec, control_dt, f"{source}: safety.stages[{i}] "
                                                 f"({entry['type']})")
            for i, entry in enumerate(cfg.stages)]


def build_stage(entry: dict[str, Any], spec: RobotSpec, control_dt: float,
                where: str = "safety stage") -> Stage:
    """One stage from its ``{type: NAME, ...options}`` entry (ConfigError naming ``where``)."""
    kind = entry.get("type")
    if kind not in STAGES:
        raise ConfigError(f"{where}: unknown stage type {kind!r}; known: "
                          f"{', '.join(STAGES)}")
    stage_cls, cfg_cls = STAGES[kind]
    options = {k: v for k, v in entry.items() if k != "type"}
    stage_cfg = from_dict(cfg_cls, options, where)
    try:
        return stage_cls(spec, stage_cfg, control_dt)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None


@dataclass
class StageReport:
    count: int = 0
    last_reason: str = ""


class SafetyChain:
    """Runs the stages each tick and produces the command sent to the motors.

    Args:
        spec: robot constants (limits, gains, damping gains).
        stages: ordered stages (see `build_stages`).
        control_dt: control period [s].
        reset_max_speed: `reset` is refused while any joint is faster than this [rad/s].
        fallback: what HOLD commands and how DAMPING / STOP begin (default: ``hold``).
    """

    def __init__(self, spec: RobotSpec, stages: list[Stage], control_dt: float,
                 reset_max_speed: float = 0.5, fallback: Fallback | None = None) -> None:
        self.spec, self.stages, self.control_dt = spec, stages, control_dt
        self.reset_max_speed = reset_max_speed
        # the plain hold is also what the monitors see on a tick without a usable command
        self._hold = (fallback if isinstance(fallback, HoldFallback)
                      else HoldFallback(spec, HoldFallbackConfig(), control_dt))
        self.fallback = fallback if fallback is not None else self._hold
        # stages whose DAMPING / STOP may begin with the fallback's controlled stop
        self._controlled_stop = frozenset(s.name for s in stages if s.controlled_stop)
        self._block_shape = (5, spec.n_joints)  # the working copy of a command
        self._monitors = [s for s in stages if not s.shaping]
        self._shapers = [s for s in stages if s.shaping]

        self.estop: EStop | None = next((s for s in stages if isinstance(s, EStop)), None)
        self.mode = Mode.HOLD
        self.motors_on = True  # False while the bridge is passive (`TickContext.motors_on`)
        self.last_safe: JointCommand | None = None
        self._last_ctx: TickContext | None = None
        self.report: dict[str, StageReport] = {s.name: StageReport() for s in stages}
        self.ticks = 0
        for s in stages:
            s.reset(None)

    @classmethod
    def from_config(cls, cfg: SafetyConfig, spec: RobotSpec, control_dt: float,
                    source: str = "safety") -> SafetyChain:
        return cls(spec, build_stages(cfg, spec, control_dt, source), control_dt,
                   cfg.reset_max_speed, build_fallback(cfg.fallback, spec, control_dt, source))

    # -- operator API --------------------------------------------------------------------
    def engage_estop(self, reason: str = "e-stop engaged") -> None:
        """Latch the e-stop: the next tick (and every tick until `reset`) outputs damping."""
        if self.estop is None:
            raise RuntimeError("this safety chain has no 'estop' stage; add it to the config")
        self.estop.engage(reason)

    def reset(self, state: RobotState) -> None:
        """Clear latched faults and the e-stop, re-arm the soft start. Refused (ValueError)
        while the robot still moves faster than ``reset_max_speed``."""
        speed = float(np.abs(state.dq).max()) if state.dq.size else 0.0
        if not np.isfinite(speed) or speed > self.reset_max_speed:
            raise ValueError(f"reset refused: a joint moves at {speed:.2f} rad/s "
                             f"(> {self.reset_max_speed}); wait until the robot is still")
        if self.estop is not None:
            self.estop.release()
        for s in self.stages:
            s.reset(state)
        self.fallback.reset()
        self.last_safe = None

    def rearm(self, state: RobotState) -> list[str]:
        """The robot is being (re)activated from passive: clear what stages latched while it
        was passive (a stale state while the processes started, a robot that sank while
        damped) and re-arm the soft start, as `reset` does, but keep the STOP latches (an
        engaged e-stop, a tracking fault) and skip the stillness check (the soft start
        ramps in from wherever the robot is). Returns the latches it cleared."""
        cleared = [s.name for s in self.stages if s.rearm_clears and s.latched]
        self.motors_on = True
        for s in self.stages:
            if s.rearm_clears:
                s.reset(state)
        self.fallback.reset()
        self.last_safe = None
        return cleared

    # -- the tick ----------------------------------------------------------------------------
    def step(self, command: JointCommand | None, state: RobotState, t: float,
             state_t: float | None = None, command_t: float | None = None) -> JointCommand:
        """One control tick: the command to send to the motors (a new object).

        Args:
            command: the proposed command (policy / teleop), or None if none has arrived.
            state: latest measured state; ``state_t`` its time (default ``state.t``).
            t: now [s]; ``command_t``: when ``command`` was produced (default ``t``).
        """
        spec = self.spec
        ctx = TickContext(spec, state, t, state.t if state_t is None else state_t,
                          (t if command_t is None else command_t) if command is not None
                          else None, self.control_dt, self.last_safe, last_mode=self.mode,
                          motors_on=self.motors_on)
        work = None if command is None else self._working_copy(command)
        held = work is None  # no usable command: the hold command goes through the monitors
        if work is None:
            if command is not None:
                ctx.request("chain", f"command arrays must all be numeric with shape "
                            f"({spec.n_joints},)", Mode.HOLD)
            work = self._hold.hold(ctx)
        for stage in self._monitors:
            stage(work, ctx)
        if ctx.mode == Mode.ACTIVE:
            if self.mode != Mode.ACTIVE:  # (re)activation: ramp in from where the robot is
                for s in self._shapers:
                    if isinstance(s, SoftStart):
                        s.reset(state)
            for stage in self._shapers:
                stage(work, ctx)
                if ctx.mode != Mode.ACTIVE:  # a shaper escalated (e.g. an infeasible CBF QP)
                    break
        if ctx.mode == Mode.ACTIVE:
            out = work
        elif ctx.mode == Mode.HOLD:  # (`held`: work is this tick's hold; monitors never edit)
            out = work if held and self.fallback is self._hold else self.fallback.hold(ctx)
        else:
            stop = self.fallback.stop(ctx, self._controlled_stop_allowed(ctx))
            out = JointCommand.damping(spec.joint_names, spec.damping_kd) if stop is None else stop
        self.mode = ctx.mode
        self.last_safe = out
        self._last_ctx = ctx
        report = self.report
        for stage_name, reason, _ in ctx.raw_events:
            rep = report.get(stage_name)
            if rep is None:
                rep = report[stage_name] = StageReport()
            rep.count += 1
            rep.last_reason = reason
        self.ticks += 1
        return out

    @property
    def last_events(self) -> list[SafetyEvent]:
        """The interventions of the last tick."""
        return [] if self._last_ctx is None else self._last_ctx.events

    def _working_copy(self, command: JointCommand) -> JointCommand | None:
        """The proposed command copied into one fresh (5, n) float64 block, its rows q_target,
        dq_target, kp, kd, tau_ff (the stages edit it in place; the caller's arrays are never
        touched); None if an array has another shape or is not numeric."""
        try:  # (np.array copies; arrays of unequal shapes are a ValueError)
            block = np.array((command.q_target, command.dq_target, command.kp, command.kd,
                              command.tau_ff), dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if block.shape != self._block_shape:
            return None
        return JointCommand.from_block(command.joint_names, block)

    def _controlled_stop_allowed(self, ctx: TickContext) -> bool:
        """Every stage that asked for DAMPING / STOP this tick permits a controlled stop."""
        ok = self._controlled_stop
        return all(name in ok for name, _, mode in ctx.raw_events if mode >= Mode.DAMPING)

    def summary(self) -> dict[str, Any]:
        """Interventions per stage (count, last reason), ticks and the current mode."""
        return {"mode": self.mode.name, "ticks": self.ticks,
                "interventions": {k: {"count": v.count, "last_reason": v.last_reason}
                                  for k, v in self.report.items() if v.count}}


__all__ = ["SafetyChain", "SafetyConfig", "build_stage", "build_stages"]
