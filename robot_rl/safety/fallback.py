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
  leg stays in the air, the stance legs are wherever the gait left them), and so does a ramp
  to any fixed pose at 0.5-1 m/s (the body's momentum pitches it over its front feet while
  the soft PD legs give way). So a HOLD that interrupts the policy first runs a shipped
  recovery bundle (a walking policy) at a zero velocity command for ``recover_s``, which
  stops the robot within a few steps, then ramps to the standing pose ``q0`` (all feet down)
  and holds it. The controlled stop runs the same episode (continuing a HOLD's), then sits
  down to the robot's resting pose ``q_rest`` (low, feet under the hips), holds it while the
  body settles, and only then damps: Spot's "settle, then cut".

Every trajectory is a function of time since it began (the chain runs at the policy period
in deployment, and on a watchdog of 25-100 Hz while the policy is silent), not of ticks; the
recovery bundle steps once per its own policy period, whatever the tick rate. The gains are
always the robot's own kp / kd: the ROS graph's ``/command`` carries no gains (they come from
the mode, `RobotSpec.command`), so a fallback must not depend on others.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from robot_rl.config import ConfigError, from_dict
from robot_rl.robots.spec import RobotSpec
from robot_rl.safety.core import Mode, TickContext, clamp_inplace
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
        clamp_inplace(out.q_target, spec.q_min, spec.q_max)
        return out


# -- stand --
@dataclass
class StandFallbackConfig:
    """Options of ``type: stand`` (times in s).

    Attributes:
        recovery_bundle: a shipped locomotion bundle (``.onnx``, relative paths from the
            repository) run with a zero velocity command at the start of a HOLD that
            interrupts the policy, and of a controlled stop: a robot walking at 0.5-1 m/s
            cannot be stopped by any fixed pose of soft PD legs (it pitches over its front
            feet), a walking policy stops it in a step or two. "" = none: straight to the
            stand ramp. Any fault of it (bad observation, non-finite output) ends it early.
        recover_s: how long the recovery bundle runs.
        recovery_max_error: its targets are kept within this of the measured pose [rad]: a
            walking policy braking from 1 m/s asks for PD errors beyond 1.2 rad, and with the
            stale command before a HOLD those can outlast the tracking guard's patience
            (quad12: 0.8 rad for 0.25 s), whose STOP would drop the robot.
        stand_s: ramp from the last stiff target to the standing pose ``q0``.
        standup_s: ramp from the measured pose to ``q0`` when the robot was not held stiffly
            before the HOLD (damped or passive: it may have sunk to the ground).
        sit_s: controlled stop: ramp from ``q0`` down to the resting pose ``q_rest``.
        settle_s: controlled stop: ``q_rest`` held stiffly while the body comes to rest,
            then damping.
    """

    recovery_bundle: str = ""
    recover_s: float = 1.0
    recovery_max_error: float = 0.75
    stand_s: float = 0.3
    standup_s: float = 2.0
    sit_s: float = 1.5
    settle_s: float = 0.5

    def validate(self) -> None:
        if not (self.stand_s > 0 and self.standup_s > 0 and self.sit_s > 0
                and self.settle_s >= 0 and self.recover_s >= 0):
            raise ValueError("stand_s, standup_s and sit_s must be > 0, settle_s and "
                             f"recover_s >= 0, got {self.stand_s}, {self.standup_s}, "
                             f"{self.sit_s}, {self.settle_s}, {self.recover_s}")
        if not self.recovery_max_error > 0:
            raise ValueError(f"recovery_max_error must be > 0 rad, got "
                             f"{self.recovery_max_error}")


@dataclass
class _Episode:
    """One fallback episode, from the tick the chain left ACTIVE (or a stiff mode) [s]."""

    recover_until: float  # end of the recovery phase (= its start: none)
    q_from: np.ndarray | None = None  # start of the stand ramp (None: not begun)
    ramp: float = 0.0  # its length (it begins at ``recover_until``)
    t_stop: float | None = None  # when the controlled stop was asked for
    t_sit: float | None = None  # when the sit-down began: once stood, not before t_stop


class StandFallback(Fallback):
    """HOLD: [recovery bundle] → ramp to ``q0`` → hold ``q0``. Controlled stop: the same
    episode (continued from a HOLD, or begun afresh from ACTIVE), then a sit-down to
    ``q_rest``, ``settle_s`` there, then damping. See the module docstring for why."""

    name: ClassVar[str] = "stand"
    cfg: StandFallbackConfig

    def __init__(self, spec: RobotSpec, cfg: StandFallbackConfig, control_dt: float) -> None:
        super().__init__(spec, cfg, control_dt)
        if spec.q_rest.shape != (spec.n_joints,):
            raise ValueError(f"fallback 'stand' sits the robot down to its resting pose, and "
                             f"{spec.name} defines none (RobotSpec.q_rest); add one to its "
                             "robot module or use fallback type 'hold'")
        self.q_stand, self.q_rest = spec.q0, spec.q_rest
        self.recovery: Any = None
        if cfg.recovery_bundle and cfg.recover_s > 0:
            # lazy: onnxruntime is loaded only where a recovery bundle is configured
            from robot_rl.config import resolve
            from robot_rl.runtime.controller import PolicyController

            try:  # (zero task command: stand still)
                self.recovery = PolicyController(spec, resolve(cfg.recovery_bundle))
            except ValueError as err:  # BundleError: missing, malformed, another robot
                raise ValueError(f"recovery_bundle refused: {err}") from None
        self.reset()

    def reset(self) -> None:
        self._ep: _Episode | None = None
        self._rec_q: np.ndarray | None = None  # the recovery's last target and its time
        self._rec_t = -np.inf

    def _begin(self, ctx: TickContext) -> _Episode:
        """A new episode: with the recovery phase when it interrupts the policy (ACTIVE)."""
        recover = self.recovery is not None and ctx.last_mode == Mode.ACTIVE
        if recover:
            self.recovery.reset()
            self._rec_q, self._rec_t = None, -np.inf
        self._ep = _Episode(ctx.t + (self.cfg.recover_s if recover else 0.0))
        return self._ep

    def _recover(self, ctx: TickContext) -> np.ndarray | None:
        """The recovery bundle's target (stepped once per its policy period, whatever the
        tick rate; held in between), kept within ``recovery_max_error`` of the measured pose
        and inside the joint limits; None if it failed."""
        rec = self.recovery
        if self._rec_q is not None and ctx.t - self._rec_t < rec.policy_dt - 1e-6:
            return self._rec_q
        try:  # (on a copy: the controller writes its task command into the state)
            q = rec.step(copy.copy(ctx.state), ctx.t).q_target
        except ValueError:  # a non-finite observation
            return None
        if not np.isfinite(q).all():
            return None
        e = self.cfg.recovery_max_error
        q = np.clip(q, ctx.state.q - e, ctx.state.q + e)
        clamp_inplace(q, self.spec.q_min, self.spec.q_max)
        self._rec_q, self._rec_t = q, ctx.t
        return q

    def _stand(self, ctx: TickContext, ep: _Episode) -> tuple[np.ndarray, str, bool]:
        """(target, what, stand reached) of the episode's recovery / stand phases at ctx.t."""
        if ctx.t < ep.recover_until:
            q = self._recover(ctx)
            if q is not None:
                return q, "recovery policy at a zero command", False
            ep.recover_until = ctx.t  # failed: stand from here
        if ep.q_from is None:  # the stand ramp begins: from the last stiff target
            last = ctx.last_safe
            stiff = last is not None and bool(last.kp.any())
            q_from = np.array(last.q_target if stiff and last is not None else ctx.state.q,
                              dtype=np.float64)
            clamp_inplace(q_from, self.spec.q_min, self.spec.q_max)
            ep.q_from = q_from
            ep.ramp = self.cfg.stand_s if stiff else self.cfg.standup_s
        # (timed from the end of the recovery, not from this tick: every phase boundary after
        # it is a fixed time, whatever the tick rate)
        a = _smooth((ctx.t - ep.recover_until) / ep.ramp)
        return (ep.q_from + a * (self.q_stand - ep.q_from),
                "ramp to the standing pose" if a < 1.0 else "standing pose", a >= 1.0)

    def _command(self, q: np.ndarray) -> JointCommand:
        s = self.spec
        return JointCommand.hold(s.joint_names, q, s.kp, s.kd)

    def hold(self, ctx: TickContext) -> JointCommand:
        ep = self._ep
        if ctx.last_mode != Mode.HOLD or ep is None:
            ep = self._begin(ctx)
        q, what, _ = self._stand(ctx, ep)
        ctx.record("fallback", f"stand: {what}")
        return self._command(q)

    def stop(self, ctx: TickContext, allowed: bool) -> JointCommand | None:
        if not allowed or not ctx.motors_on:  # damping; an episode is never resumed
            self._ep = None
            return None
        if ctx.last_mode < Mode.DAMPING:  # entering from a stiff mode
            last = ctx.last_safe
            if last is None or not last.kp.any():  # nothing held stiffly: stay damped
                self._ep = None
            elif ctx.last_mode == Mode.ACTIVE or self._ep is None:
                self._begin(ctx)  # (from HOLD: its episode goes on, then sits down)
        ep = self._ep
        if ep is None:
            return None
        if ep.t_stop is None:
            ep.t_stop = ctx.t
        if ep.t_sit is None:
            q, what, stood = self._stand(ctx, ep)
            if not stood:
                ctx.record("fallback", f"controlled stop: {what}")
                return self._command(q)
            ep.t_sit = max(ep.t_stop, ep.recover_until + ep.ramp)
        since, cfg = ctx.t - ep.t_sit, self.cfg
        if since >= cfg.sit_s + cfg.settle_s:
            self._ep = None  # seated: damping from here on
            return None
        ctx.record("fallback", "controlled stop: sit-down to the resting pose")
        a = _smooth(since / cfg.sit_s)
        return self._command(self.q_stand + a * (self.q_rest - self.q_stand))


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
