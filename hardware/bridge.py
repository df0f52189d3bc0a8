"""`HardwareBridge`: the robot side of the deploy graph (what the `hardware_bridge` lifecycle
node wraps), ROS-free.

A fast loop in its own thread, on its own monotonic clock (not an executor timer: see
DESIGN.md's timing facts), at ``rate_hz``: read the state → hand it to ``on_state`` (the node
publishes it) every ``publish_every`` ticks → write the command in force → repeat.

Lifecycle (ros2 managed-node states):
- ``configure``: build the backend and connect; the loop starts and the robot is *passive*
  (damping: kp = 0, the robot's damping kd; servo arms go limp).
- ``activate``: torque on with a soft start: until the first safe command arrives, the pose
  at activation is held with gains ramping from 0 to the robot's over ``soft_start_s``; safe
  commands (`submit`) are followed as they come (the safety chain's own soft start ramps
  their targets in from the measured pose, at full gains, so the robot does not sag).
- ``deactivate``: hold the pose at that moment with the robot's gains (stiff, indefinitely).
- ``cleanup``: damp ``shutdown_damp_s``, stop the loop, disconnect. ``shutdown``: same from
  any state.

The bridge is the last line before the motors, so it trusts no command:
- every command is clamped to the robot's hard limits (position range, velocity and torque
  limits, gains at most the robot's own: its stand-up gains) whatever produced it
  (``clamped`` counts them);
- a command computed from a state older than ``max_command_age_s`` (its ``stamp``: a stalled
  policy or safety node that resumed) is refused;
- while active, a safe command is held at most ``command_timeout_s`` after it arrived;
- an invalid command (wrong size, non-finite), a stale one, or a timeout *latches* damping
  (``latched`` says why) until `reset` (the safety node's ``~/reset`` calls it after its own
  reset has re-armed the chain's soft start). After a reset the bridge follows a stiff
  command only once its targets are within ``reentry_tol`` of the measured pose (the chain's
  soft start starts there), so a reset alone can never make the robot jump.

Timing: every tick's lateness against its schedule (a *late tick* is more than one period
late) and every command's latency from the state it was computed from (``stamp``) to its
arrival here.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from hardware.errors import HardwareError
from hardware.robot import Robot
from robot_rl.robots.spec import RobotSpec
from robot_rl.runtime.realtime import freeze_heap, set_thread_realtime, thaw_heap, thread_policy
from robot_rl.runtime.ring import Ring
from robot_rl.types import JointCommand, RobotState


def _other_threads(depth: int = 3) -> dict[str, str]:
    """The innermost ``depth`` frames (file:line) of every thread but the caller."""
    names = {t.ident: t.name for t in threading.enumerate()}
    me = threading.get_ident()
    out = {}
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        at: list[str] = []
        f: Any = frame
        while f is not None and len(at) < depth:
            at.append(f"{Path(f.f_code.co_filename).name}:{f.f_lineno}")
            f = f.f_back
        out[names.get(ident, str(ident))] = " < ".join(at)
    return out


class Lifecycle(Enum):
    UNCONFIGURED = "unconfigured"
    INACTIVE = "inactive"
    ACTIVE = "active"
    FINALIZED = "finalized"


def percentiles(values: Any, digits: int = 1) -> dict[str, float]:
    """p50 / p99 / max of ``values`` (empty: NaN)."""
    a = np.asarray(values if isinstance(values, np.ndarray | Ring) else list(values),
                   dtype=np.float64)
    if not a.size:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    return {"p50": round(float(np.percentile(a, 50)), digits),
            "p99": round(float(np.percentile(a, 99)), digits),
            "max": round(float(a.max()), digits), "n": int(a.size)}


class HardwareBridge:
    """Args:
        spec: the robot (effective spec: gains, damping kd).
        make_robot: builds the (unconnected) `Robot` backend, called by `configure`.
        rate_hz, publish_every, command_timeout_s, soft_start_s, shutdown_damp_s: see
            `robot_rl.deploy.config.BridgeConfig`.
        on_state: called with (state, tick) from the loop thread every ``publish_every``.
        command_period_s: the expected period of safe commands (the policy period), for
            counting late and missing commands.
        history: how many ticks / commands of timing to keep (60,000: the last 2 min of
            ticks at 500 Hz, 20 min of commands at 50 Hz; the statistics are of those).
        realtime_priority: 0, or the loop thread's SCHED_FIFO priority (1-99); see
            `robot_rl.runtime.realtime.set_thread_realtime`.
    """

    def __init__(self, spec: RobotSpec, make_robot: Callable[[], Robot], *, rate_hz: float = 500.0,
                 publish_every: int = 1, command_timeout_s: float = 0.1,
                 soft_start_s: float = 1.0, shutdown_damp_s: float = 1.0,
                 on_state: Callable[[RobotState, int], None] | None = None,
                 on_tick: Callable[[HardwareBridge, RobotState], None] | None = None,
                 command_period_s: float | None = None, history: int = 60_000,
                 realtime_priority: int = 0, max_command_age_s: float = 0.1,
                 reentry_tol: float = 0.3) -> None:
        self.spec, self.make_robot = spec, make_robot
        self.period = 1.0 / rate_hz
        self.publish_every = publish_every
        self.command_timeout_s, self.soft_start_s = command_timeout_s, soft_start_s
        self.shutdown_damp_s = shutdown_damp_s
        self.on_state, self.on_tick = on_state, on_tick
        self.command_period_s = command_period_s
        self.realtime_priority = realtime_priority
        self.max_command_age_s, self.reentry_tol = max_command_age_s, reentry_tol
        self.latched = ""  # why damping is latched ("": not latched)
        self._reentry = False  # after a reset: wait for a command near the measured pose
        self.stale = 0
        self.clamped = 0
        self.resets = 0
        self.realtime_error: str | None = None
        self.loop_policy = ""  # the loop thread's scheduling policy once it runs
        self.state = Lifecycle.UNCONFIGURED
        self.robot: Robot | None = None
        self.fault: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._started = threading.Event()  # the loop thread runs (its scheduling is set)
        self._cmd: JointCommand | None = None
        self._cmd_arrival = -np.inf
        self._cmd_stamp = -np.inf
        self._hold: np.ndarray | None = None
        self.active_since = -np.inf
        self.active_tick: int | None = None
        self._mode = "passive"
        self.ticks = 0
        self.timeouts = 0
        self.refused = 0
        self.commands = 0
        self.last_state: RobotState | None = None
        self.last_sent: JointCommand | None = None
        # (fixed arrays: a deploy process runs for hours; `robot_rl.runtime.ring`)
        self.lateness_us = Ring(history)
        self.tick_us = Ring(history)
        self.latency_us = Ring(history)
        self.command_gaps = 0
        self.gap_log: deque[float] = deque(maxlen=10_000)  # missing time [s] of each gap
        # (arrival time, latency [s]) of each command later than its period: where a stall was
        self.late_log: deque[tuple[float, float]] = deque(maxlen=1_000)
        self.loop_cpu_s = 0.0
        self.frozen_objects = 0  # objects exempted from garbage collection at configure
        self.modes: deque[tuple[float, str]] = deque(maxlen=10_000)
        # per late tick (the first 100): where the process's other threads were when the loop
        # thread got to run again; one of them held the GIL while it waited
        self.late_where: list[dict[str, str]] = []
        n = spec.n_joints
        self._damping = JointCommand.damping(spec.joint_names, spec.damping_kd)
        self._zeros = np.zeros(n)
        # the hard limits every command is clamped to (gains: at most the robot's own)
        self._kp_max = np.maximum(spec.kp, spec.stand_kp)
        self._kd_max = np.maximum(np.maximum(spec.kd, spec.stand_kd), spec.damping_kd)

    # -- lifecycle ---------------------------------------------------------------------------
    def configure(self) -> None:
        if self.state != Lifecycle.UNCONFIGURED:
            raise HardwareError(f"configure: bridge is {self.state.value}, not unconfigured")
        # the process's objects exist now (models, sessions, nodes): a full collection from
        # here on would stop the loop for tens of ms (robot_rl.runtime.realtime). Frozen
        # before the robot connects: the collection itself takes that long, and a device's
        # threads (bus readers, emulators) would see the pause.
        # `cleanup` (or a failed configure) thaws it again.
        self.frozen_objects = freeze_heap()
        try:
            robot = self.make_robot()
            robot.connect()
        except (OSError, ValueError) as e:
            thaw_heap()
            raise HardwareError(f"cannot connect to the robot: {e}") from None
        if robot.spec.joint_names != self.spec.joint_names:
            robot.disconnect()
            thaw_heap()
            raise HardwareError(f"the backend drives joints {robot.spec.joint_names}, the "
                                f"deployment expects {self.spec.joint_names}")
        self.robot = robot
        self.last_state = robot.read_state()
        self._set_mode("passive")
        self.state = Lifecycle.INACTIVE
        self._stop.clear()
        self._started.clear()
        self._thread = threading.Thread(target=self._run, name="bridge-loop", daemon=True)
        self._thread.start()
        self._started.wait(1.0)  # realtime_error is known when configure returns

    def activate(self) -> None:
        if self.state != Lifecycle.INACTIVE:
            raise HardwareError(f"activate: bridge is {self.state.value}, not inactive")
        if self.robot is not None and self.robot.fault:
            raise HardwareError(f"activate refused: {self.robot.fault}")
        with self._lock:
            st = self.last_state
            self._hold = None if st is None else np.clip(st.q, self.spec.q_min, self.spec.q_max)
            self._cmd = None
            self.latched = ""  # (an explicit activation, with its own soft start)
            self._reentry = False
            self.active_since = time.monotonic()
            self.active_tick = self.ticks  # ticks from here on are the active phase's
            self.state = Lifecycle.ACTIVE
        self._set_mode("soft_start")

    def deactivate(self) -> None:
        if self.state != Lifecycle.ACTIVE:
            raise HardwareError(f"deactivate: bridge is {self.state.value}, not active")
        with self._lock:
            st = self.last_state
            self._hold = None if st is None else np.clip(st.q, self.spec.q_min, self.spec.q_max)
            self.state = Lifecycle.INACTIVE
        self._set_mode("hold")

    def damp(self) -> None:
        """Stop following commands and damp now (the first step of an orderly shutdown)."""
        with self._lock:
            if self.state == Lifecycle.ACTIVE:
                self.state = Lifecycle.INACTIVE
            self._hold = None
        self._set_mode("passive")

    def cleanup(self) -> None:
        if self.state == Lifecycle.UNCONFIGURED:
            return
        with self._lock:
            self.state = Lifecycle.INACTIVE
            self._hold = None
        self._set_mode("passive")  # damping while the robot settles
        if self.shutdown_damp_s > 0 and self._thread is not None:
            time.sleep(self.shutdown_damp_s)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self._thread = None
        if self.robot is not None:
            self.robot.disconnect()
        self.robot = None
        self.state = Lifecycle.UNCONFIGURED
        thaw_heap()

    def shutdown(self) -> None:
        self.cleanup()
        self.state = Lifecycle.FINALIZED

    # -- commands ----------------------------------------------------------------------------
    def submit(self, cmd: JointCommand, stamp: float, now: float | None = None) -> bool:
        """A safe command computed from the state read at ``stamp`` (monotonic s). Refused
        (False; damping latched at once) if its arrays are not n finite values or ``stamp``
        is older than ``max_command_age_s``; otherwise clamped to the hard limits."""
        now = time.monotonic() if now is None else now
        n = self.spec.n_joints
        arrays = (cmd.q_target, cmd.dq_target, cmd.kp, cmd.kd, cmd.tau_ff)
        ok = all(np.shape(a) == (n,) for a in arrays) and all(
            np.isfinite(a).all() for a in arrays)
        if not ok:
            self.refuse("refused a command with wrong sizes or non-finite values")
            return False
        if not np.isfinite(stamp) or now - stamp > self.max_command_age_s:
            if self.state == Lifecycle.ACTIVE:  # (a passive robot applies nothing)
                self.stale += 1
                self.refuse(f"refused a command computed from a state {now - stamp:.3f} s old "
                            f"(> max_command_age_s {self.max_command_age_s})")
            return False
        cmd = self._clamp(cmd)
        with self._lock:
            if (self.command_period_s and np.isfinite(self._cmd_stamp)
                    and stamp - self._cmd_stamp > 1.5 * self.command_period_s
                    and self.state == Lifecycle.ACTIVE):
                self.command_gaps += 1
                self.gap_log.append(stamp - self._cmd_stamp)
            if stamp != self._cmd_stamp and self.state == Lifecycle.ACTIVE:
                # (from the activation, as the deadline misses are counted: a passive robot
                # applies no command, and a backlog DDS delivers before it is no miss)
                self.latency_us.append((now - stamp) * 1e6)
                if self.command_period_s and now - stamp > self.command_period_s:
                    self.late_log.append((now, now - stamp))
            self._cmd, self._cmd_arrival, self._cmd_stamp = cmd, now, stamp
            self.commands += 1
        return True

    def _clamp(self, cmd: JointCommand) -> JointCommand:
        """``cmd`` inside the robot's hard limits (a new command if anything was clamped)."""
        spec = self.spec
        kp = np.clip(cmd.kp, 0.0, self._kp_max)
        # (a position target matters only where there is stiffness: a damping command's
        # zeros are not clamped, nor counted)
        q = np.where(kp > 0, np.clip(cmd.q_target, spec.q_min, spec.q_max), cmd.q_target)
        dq = np.clip(cmd.dq_target, -spec.dq_max, spec.dq_max)
        kd = np.clip(cmd.kd, 0.0, self._kd_max)
        tau = np.clip(cmd.tau_ff, -spec.tau_max, spec.tau_max)
        if (np.array_equal(q, cmd.q_target) and np.array_equal(dq, cmd.dq_target)
                and np.array_equal(kp, cmd.kp) and np.array_equal(kd, cmd.kd)
                and np.array_equal(tau, cmd.tau_ff)):
            return cmd
        self.clamped += 1
        return JointCommand(cmd.joint_names, q, dq, kp, kd, tau)

    def refuse(self, reason: str) -> None:
        """An invalid command arrived: forget the current one and latch damping now."""
        with self._lock:
            self.refused += 1
            self._cmd, self._cmd_arrival = None, -np.inf
            self.fault = reason
            if self.state == Lifecycle.ACTIVE:
                self._latch(reason)

    def _latch(self, reason: str) -> None:
        """(Lock held) damp until `reset`."""
        if not self.latched:
            self.latched = reason

    def reset(self) -> tuple[bool, str]:
        """Release latched damping (the safety node calls it after its own reset): (ok,
        message). The next stiff command is followed only once its targets are within
        ``reentry_tol`` of the measured pose."""
        with self._lock:
            was = self.latched
            self.latched = ""
            self._reentry = True
            self._cmd, self._cmd_arrival = None, -np.inf
            self.resets += 1
        return True, f"bridge reset ({'released: ' + was if was else 'nothing latched'})"

    def _select(self, now: float, st: RobotState) -> JointCommand:
        spec = self.spec
        with self._lock:
            if self.state != Lifecycle.ACTIVE:
                if self._hold is None:
                    return self._damping
                return JointCommand.hold(spec.joint_names, self._hold, spec.kp, spec.kd)
            if self.latched:
                self._set_mode("latched")
                return self._damping
            ramp = 1.0 if self.soft_start_s <= 0 else min(
                1.0, (now - self.active_since) / self.soft_start_s)
            cmd, arrival = self._cmd, self._cmd_arrival
            fresh = cmd is not None and now - arrival <= self.command_timeout_s
            if not fresh:
                if ramp < 1.0 and self._hold is not None and not self._reentry:
                    self._set_mode("soft_start")  # soft start, no command yet
                    return JointCommand.hold(spec.joint_names, self._hold, spec.kp * ramp,
                                             spec.kd)
                if self._reentry and cmd is None:
                    self._set_mode("reentry")  # reset: waiting for the chain's commands
                    return self._damping
                if cmd is None and now - self.active_since <= self.command_timeout_s:
                    self._set_mode("waiting")  # activated, no command yet: not a timeout
                    return self._damping
                self.timeouts += 1
                self._latch(f"no safe command for {self.command_timeout_s} s "
                            "(safety node dead or stalled?)")
                self._set_mode("latched")
                return self._damping
            assert cmd is not None
            if self._reentry:  # (until a stiff command near the measured pose)
                stiff = cmd.kp > 0
                if np.any(np.abs(cmd.q_target - st.q)[stiff] > self.reentry_tol):
                    self._set_mode("reentry")
                    return self._damping
                self._reentry = not stiff.any()
        self._set_mode("following")  # the safety chain ramps its targets in from the pose
        return cmd

    def _set_mode(self, mode: str) -> None:  # (any thread: the last writer wins)
        if mode != self._mode:
            self._mode = mode
            self.modes.append((time.monotonic(), mode))

    @property
    def mode(self) -> str:
        """passive | soft_start | waiting | following | latched | reentry | hold."""
        return self._mode

    # -- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        period = self.period
        t0 = time.monotonic()
        k = 0
        robot = self.robot
        assert robot is not None
        if self.realtime_priority:
            self.realtime_error = set_thread_realtime(self.realtime_priority)
        self.loop_policy = thread_policy()
        self._started.set()
        while not self._stop.is_set():
            due = t0 + k * period
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
                now = time.monotonic()
            late = now - due
            if late > period and len(self.late_where) < 100:
                self.late_where.append(_other_threads())  # who had the GIL meanwhile
            if late > 0.1:  # stalled (debugger, suspend): restart the schedule, count once
                t0, k = now, 0
                due = now
            try:
                st = robot.read_state()
                self.last_state = st
                if self.on_state is not None and self.ticks % self.publish_every == 0:
                    self.on_state(st, self.ticks)
                sent = robot.write_command(self._select(now, st))
                self.last_sent = sent
                if self.on_tick is not None:
                    self.on_tick(self, st)
                self.fault = robot.fault
            except Exception as e:  # keep the loop alive: the robot must keep a safe command
                self.fault = f"bridge tick failed: {type(e).__name__}: {e}"
                try:
                    robot.write_command(self._damping)
                except Exception:
                    pass
            self.lateness_us.append(late * 1e6)  # (with the duration: one tick, one index)
            self.tick_us.append((time.monotonic() - now) * 1e6)
            self.ticks += 1
            k += 1
            if not self.ticks % 50:
                self.loop_cpu_s = time.thread_time()
        self.loop_cpu_s = time.thread_time()  # CPU of the loop thread (all its ticks)

    # -- report ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Tick lateness and duration, command latency, late ticks and late/missing commands."""
        late = np.asarray(self.lateness_us)
        lat = np.asarray(self.latency_us)
        period_us = self.period * 1e6
        # a late tick after one that itself ran over a period: the loop's own work (a slow
        # policy step in the tick) delayed it; the others were woken late (scheduling)
        dur = np.asarray(self.tick_us)
        m = min(len(late), len(dur))  # (a tick may end between the two copies)
        late_idx = np.flatnonzero(late[1:m] > period_us) + 1
        after_slow = int((dur[late_idx - 1] > period_us).sum())
        # since the last activation (the ticks before it, passive, overlap the process's own
        # start-up: imports, node creation); the deque holds the last len(late) ticks
        first = None if self.active_tick is None else self.active_tick - (self.ticks - len(late))
        late_active = None if first is None else int((late[max(first, 0):] > period_us).sum())
        out: dict[str, Any] = {
            "state": self.state.value, "mode": self._mode, "ticks": self.ticks,
            "rate_hz": round(1.0 / self.period, 1),
            "tick_lateness_us": percentiles(late), "tick_us": percentiles(self.tick_us),
            "late_ticks": int((late > period_us).sum()), "late_ticks_after_slow_tick": after_slow,
            "late_ticks_active": late_active,
            "commands": self.commands, "refused": self.refused, "timeouts": self.timeouts,
            "stale_commands": self.stale, "clamped_commands": self.clamped,
            "latched": self.latched, "resets": self.resets,
            "command_latency_us": percentiles(lat), "fault": self.fault,
            "loop_cpu_s": round(self.loop_cpu_s, 3), "loop_policy": self.loop_policy,
            "realtime_error": self.realtime_error,
        }
        where = Counter(f"{name}: {at}" for w in self.late_where for name, at in w.items())
        out["late_tick_threads"] = dict(where.most_common(8))
        if self.command_period_s:
            out["late_commands"] = int((lat > self.command_period_s * 1e6).sum())
            out["command_gaps"] = self.command_gaps
            out["gap_s"] = [round(g, 3) for g in list(self.gap_log)[:20]]  # the first 20
            t0 = self.active_since if np.isfinite(self.active_since) else 0.0
            out["late_command_log"] = [{"at_s": round(t - t0, 3), "latency_ms": round(1e3 * d, 1)}
                                       for t, d in list(self.late_log)[:20]]  # the first 20
        return out


__all__ = ["HardwareBridge", "Lifecycle", "percentiles"]
