"""What the safety chain commands when the policy's command cannot go through: the robot's
fallback behaviour, chosen by its config (``safety.fallback: {type: NAME, ...options}``).

Two situations, two outputs:

- HOLD (a stale, missing or non-finite command; an operator intervening without a teleop
  command): `Fallback.hold` gives a stiff command every tick.
- DAMPING / STOP: `Fallback.stop` may give a *controlled stop* (stiff targets that bring the
  robot to rest) before the chain damps, but only where the chain allows it: every stage
  that asked for DAMPING / STOP this tick must leave the state trustworthy and a stiff
  command harmless (`Stage.controlled_stop`: the e-stop, a silent policy). A fall, a stale or
  non-finite state or a motor that cannot follow (tracking guard) always damp at once.

Behaviours (`FALLBACKS`):

- ``hold`` (default; arms): hold the last stiff target (else the measured pose), clipped to
  the joint limits, with the robot's gains; damping at once on DAMPING / STOP.
- ``stand`` (legged robots): a frozen mid-stride pose tips a walking quadruped over (a swing
  leg stays in the air, the stance legs are wherever the gait left them), so HOLD ramps to
  the robot's standing pose ``q0`` (all feet down) and holds it; the controlled stop stands,
  then sits down to the robot's resting pose ``q_rest`` (low, feet under the hips), holds it
  while the body settles, and only then damps.

Every trajectory is a function of time since it began (the chain runs at the policy period
in deployment, and on a watchdog of 25-100 Hz while the policy is silent), not of ticks.
The gains are always the robot's own kp / kd: the ROS graph's ``/command`` carries no gains
(they come from the mode, `RobotSpec.command`), so a fallback must not depend on others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from robot_rl.config import ConfigError, from_dict
from robot_rl.robots.spec import RobotSpec
from robot_rl.safety import _kernels as K
from robot_rl.safety.core import Mode, TickContext
from robot_rl.types import JointCommand


def _smooth(a: float) -> float:
    """Smoothstep of ``a`` clipped to [0, 1]: zero slope at both ends, so a ramp starts and
    ends without a velocity jump in the targets."""
    a = min(max(a, 0.0), 1.0)
    return a * a * (3.0 - 2.0 * a)


class Fallback:
    """Base class: ``hold`` and ``stop`` are given the tick's context (`TickContext`: state,
    time, the previous output and mode, whether the motors are on)."""

    name: ClassVar[str] = "fallback"

    def __init__(self, spec: RobotSpec, cfg: Any, control_dt: float) -> None:
        self.spec, self.cfg, self.control_dt = spec, cfg, control_dt

    def reset(self) -> None:
        """Forget any trajectory in progress (the chain's reset and re-arm)."""

    def hold(self, ctx: TickContext) -> JointCommand:
        """The HOLD command of this tick (a fresh command)."""
        raise NotImplementedError

    def stop(self, ctx: TickContext, allowed: bool) -> JointCommand | None:
        """The DAMPING / STOP command of this tick, or None for plain damping. ``allowed``:
        every stage that asked for it permits a controlled stop this tick."""
        return None


# -- hold --
@dataclass
class HoldFallbackConfig:
    """No options: hold the last stiff target; damp at once on DAMPING / STOP."""


class HoldFallback(Fallback):
    """Hold the last stiff target (else the measured pose), clipped to the joint limits, with
    the normal gains. Stateless: the same inputs give the same command in any tick."""

    name: ClassVar[str] = "hold"

    def hold(self, ctx: TickContext) -> JointCommand:
        spec = self.spec
        last = ctx.last_safe
        q = last.q_target if last is not None and last.kp.any() else ctx.state.q
        out = JointCommand.hold(spec.joint_names, q, spec.kp, spec.kd)
        K.clamp(out.q_target, spec.q_min, spec.q_max)
        return out


# -- stand --
@dataclass
class StandFallbackConfig:
    """Options of ``type: stand`` [s].

    Attributes:
        stand_s: ramp from the last stiff target to the standing pose ``q0`` (HOLD, and the
            first phase of the controlled stop).
        standup_s: ramp from the measured pose to ``q0`` when the robot was not held stiffly
            before the HOLD (damped or passive: it may have sunk to the ground), as slow as
            a stand-up from the floor needs.
        sit_s: controlled stop: ramp from ``q0`` down to the resting pose ``q_rest``.
        settle_s: controlled stop: ``q_rest`` held stiffly while the body comes to rest,
            then damping.
    """

    stand_s: float = 0.3
    standup_s: float = 2.0
    sit_s: float = 1.5
    settle_s: float = 0.5

    def validate(self) -> None:
        if not (self.stand_s > 0 and self.standup_s > 0 and self.sit_s > 0
                and self.settle_s >= 0):
            raise ValueError("stand_s, standup_s and sit_s must be > 0 and settle_s >= 0, got "
                             f"{self.stand_s}, {self.standup_s}, {self.sit_s}, "
                             f"{self.settle_s}")


class StandFallback(Fallback):
    """HOLD: stand on all feet at ``q0``; controlled stop: stand, sit down to ``q_rest``,
    settle, damp. See the module docstring for why."""

    name: ClassVar[str] = "stand"
    cfg: StandFallbackConfig

    def __init__(self, spec: RobotSpec, cfg: StandFallbackConfig, control_dt: float) -> None:
        super().__init__(spec, cfg, control_dt)
        if spec.q_rest.shape != (spec.n_joints,):
            raise ValueError(f"fallback 'stand' sits the robot down to its resting pose, and "
                             f"{spec.name} defines none (RobotSpec.q_rest); add one to its "
                             "robot module or use fallback type 'hold'")
        self.q_stand, self.q_rest = spec.q0, spec.q_rest
        self.reset()

    def reset(self) -> None:
        self._hold: tuple[float, np.ndarray, float] | None = None  # (t0, q_from, ramp [s])
        self._sit: tuple[float, np.ndarray] | None = None  # (t0, q_from)

    def _from(self, ctx: TickContext) -> tuple[np.ndarray, bool]:
        """Where a trajectory starts: the last stiff target, else the measured pose (clipped
        to the joint limits); and whether the robot was held stiffly."""
        last = ctx.last_safe
        stiff = last is not None and bool(last.kp.any())
        q = np.array(last.q_target if stiff and last is not None else ctx.state.q,
                     dtype=np.float64)
        K.clamp(q, self.spec.q_min, self.spec.q_max)
        return q, stiff

    def _command(self, q: np.ndarray) -> JointCommand:
        s = self.spec
        return JointCommand.hold(s.joint_names, q, s.kp, s.kd)

    def hold(self, ctx: TickContext) -> JointCommand:
        # a new HOLD starts a new stand (the chain may call this twice in one tick; the same
        # inputs give the same start, so that is harmless)
        if ctx.last_mode != Mode.HOLD or self._hold is None:
            q_from, stiff = self._from(ctx)
            self._hold = (ctx.t, q_from, self.cfg.stand_s if stiff else self.cfg.standup_s)
        t0, q_from, ramp = self._hold
        a = _smooth((ctx.t - t0) / ramp)
        ctx.record(self.name, "stand: ramp to the standing pose" if a < 1.0
                   else "stand: holding the standing pose")
        return self._command(q_from + a * (self.q_stand - q_from))

    def stop(self, ctx: TickContext, allowed: bool) -> JointCommand | None:
        if not allowed or not ctx.motors_on:  # damping; a sit-down is never resumed
            self._sit = None
            return None
        if ctx.last_mode < Mode.DAMPING:  # entering from a stiff mode (ACTIVE / HOLD)
            q_from, stiff = self._from(ctx)
            self._sit = (ctx.t, q_from) if stiff else None  # not held stiffly: stay damped
        if self._sit is None:
            return None
        t0, q_from = self._sit
        since, cfg, q_stand = ctx.t - t0, self.cfg, self.q_stand
        if since < cfg.stand_s:  # all feet down first
            q = q_from + _smooth(since / cfg.stand_s) * (q_stand - q_from)
            what = "stand before the sit-down"
        elif since < cfg.stand_s + cfg.sit_s + cfg.settle_s:
            q = q_stand + _smooth((since - cfg.stand_s) / cfg.sit_s) * (self.q_rest - q_stand)
            what = "sit-down to the resting pose"
        else:
            return None  # seated: damping from here on
        ctx.record(self.name, what)
        return self._command(q)


FALLBACKS: dict[str, tuple[type[Fallback], type[Any]]] = {
    HoldFallback.name: (HoldFallback, HoldFallbackConfig),
    StandFallback.name: (StandFallback, StandFallbackConfig),
}


def build_fallback(entry: dict[str, Any], spec: RobotSpec, control_dt: float,
                   source: str = "safety") -> Fallback:
    """The fallback of a ``safety.fallback`` entry (``{type: NAME, ...options}``; no type =
    ``hold``); options are validated and errors name the file and the entry."""
    kind = entry.get("type", HoldFallback.name)
    if kind not in FALLBACKS:
        raise ConfigError(f"{source}: safety.fallback: unknown type {kind!r}; available: "
                          f"{', '.join(sorted(FALLBACKS))}")
    cls, cfg_cls = FALLBACKS[kind]
    where = f"{source}: safety.fallback ({kind})"
    cfg = from_dict(cfg_cls, {k: v for k, v in entry.items() if k != "type"}, where)
    try:
        return cls(spec, cfg, control_dt)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None


__all__ = ["FALLBACKS", "Fallback", "HoldFallback", "HoldFallbackConfig", "StandFallback",
           "StandFallbackConfig", "build_fallback"]
