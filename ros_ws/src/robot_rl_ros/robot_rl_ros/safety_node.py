"""``safety_node``: the safety chain, the teleop/policy mux and the e-stop latch, over
`robot_rl.safety.supervisor.SafetySupervisor`.

One chain tick per ``/policy/command`` (or ``/teleop/command`` while ``/teleop/intervention``
is true), published at once on ``/command`` with the stamp of the state the command came
from. The command watchdog runs on every state (``/joint_states``, 100 Hz at the default bridge
settings), in this node's worker thread (`robot_rl_ros.worker.Mailbox`: the thread that
delivers a state, the executor or the in-process graph's bridge loop, only leaves it there):
whenever no command arrived for 1.5 policy periods it ticks the chain, so a dead policy node
turns into hold, then damping. ``/estop`` (std_msgs/Bool,
true) latches the e-stop and ticks at once (damping in the same tick); ``~/reset``
(std_srvs/Trigger) releases it, refused while the robot moves. When the bridge activates
(its lifecycle ``/hardware_bridge/transition_event``), the chain is re-armed: latches from
the passive phase are cleared, the e-stop and tracking faults are kept. ``/diagnostics`` at
2 Hz and at every change of mode: mode, source, interventions per stage with their last
reason, refused inputs and contained callback errors.

Freshness is judged by the stamp of the state a policy command was computed from, not by its
arrival: a command from a stalled policy node (SIGSTOP, a long GC) that arrives late carries
an old stamp and is treated as missing (hold, then damping). ``/command`` carries this node's
session token and a sequence number (`robot_rl_ros.convert.command_frame`), so the bridge
follows this node only. A successful ``~/reset`` also resets the bridge's latched damping
(``/hardware_bridge/reset``), after the chain has re-armed its soft start.

The state, the policy command and ``/command`` travel by the graph's transport
(`robot_rl_ros.transport`: topics, or in the in-process graph a direct hand-over beside the
topics); a lock keeps the worker's ticks and the executor's (commands, e-stop, reset) apart.
The watchdog's ticks run outside this node's executor, so they check that the executor still
runs (a heartbeat timer in it): if it has stopped, ``/estop`` and ``~/reset`` would go unheard,
and the chain latches STOP.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from lifecycle_msgs.msg import State, TransitionEvent
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from hardware.bridge import percentiles
from robot_rl.deploy.build import load_robot
from robot_rl.deploy.config import DeployConfig
from robot_rl.runtime.ring import Ring
from robot_rl.safety.core import Mode
from robot_rl.safety.robot_config import make_supervisor
from robot_rl.types import JointCommand, RobotState
from robot_rl_ros.contain import contained, error_counts
from robot_rl_ros.log import NodeLog
from robot_rl_ros.qos import COMMAND_QOS, EVENT_QOS, publisher, subscribe
from robot_rl_ros.timing import ArrivalGaps, NodeClock
from robot_rl_ros.transport import (
    COMMAND,
    POLICY_COMMAND,
    Command,
    Middleware,
    Transport,
    read_command,
)
from robot_rl_ros.worker import Mailbox

_MODE_WORD = {Mode.ACTIVE: "active", Mode.HOLD: "hold", Mode.DAMPING: "damping",
              Mode.STOP: "stop"}
EXECUTOR_STALE_S = 1.0  # the executor's heartbeat older than this: STOP
# a watchdog check this many watchdog periods (``watchdog_hz``) after the previous one: the
# state stream or this process stalled (the states come 4x faster at the default settings)
WATCHDOG_LATE = 1.25


def mode_word(mode: Mode, out: JointCommand, spec: Any = None) -> str:
    """The mode a command goes out with. /command carries the mode, not gains (the bridge
    takes the robot's gains for it), so a stiff output of DAMPING / STOP (a fallback's
    controlled sit-down) goes as ``hold``, a damped output of HOLD as ``damping``, and an
    output with gains above the robot's (the soft start's stand-up) as ``stand``."""
    stiff = bool(out.kp.any())
    if stiff and spec is not None and bool(np.any(out.kp > spec.kp + 1e-9)):
        return "stand"
    if mode in (Mode.DAMPING, Mode.STOP):
        return "hold" if stiff else _MODE_WORD[mode]
    if mode == Mode.HOLD and not stiff:
        return "damping"
    return _MODE_WORD[mode]


class SafetyNode(Node):
    def __init__(self, cfg: DeployConfig, policy_dt: float, name: str = "safety_node",
                 transport: Transport | None = None, session: str = "", **kwargs: Any
                 ) -> None:
        kwargs.setdefault("start_parameter_services", False)  # fewer entities to wait on
        super().__init__(name, **kwargs)
        self.log = NodeLog(name)
        self.cfg, self.policy_dt = cfg, policy_dt
        rcfg, self.spec = load_robot(cfg)
        self.sup = make_supervisor(rcfg, self.spec, policy_dt)
        self.sup.set_motors_on(False)  # the bridge starts passive; its activation arms it
        transport = Middleware() if transport is None else transport
        self.pub = transport.command_publisher(self, COMMAND)
        self.pub_diag = publisher(self, DiagnosticArray, "/diagnostics", EVENT_QOS)
        self.session = session
        self.seq = 0
        self._exec_beat = time.monotonic()
        self.executor_stalls = 0
        self.state_age_ms = Ring(60_000)  # (the last 10-20 min of ticks)
        # the state watchdog's limit (inf without one): `_submit_policy` compares ages to it
        self._state_timeout = next((float(st.cfg.timeout_s) for st in self.sup.chain.stages
                                    if st.name == "state_watchdog"), float("inf"))
        self.ticks_waiting_for_state = 0
        self.worker = Mailbox(self, "state", self._on_state_work, cfg.executor_realtime_priority)
        subscribe(self, JointState, "/teleop/command", self._on_teleop, COMMAND_QOS)
        subscribe(self, Bool, "/teleop/intervention", self._on_intervention, EVENT_QOS)
        subscribe(self, Bool, "/estop", self._on_estop, EVENT_QOS)
        subscribe(self, TransitionEvent, "/hardware_bridge/transition_event",
                  self._on_bridge_transition, EVENT_QOS)
        self.create_service(Trigger, "~/reset", contained(self, "~/reset", self._on_reset))
        self.bridge_reset = self.create_client(Trigger, "/hardware_bridge/reset")
        # watchdog checks that came late (this process stalled) and yielded once
        self.watchdog_deferred = 0
        self._wd_period = 1.0 / cfg.watchdog_hz
        self._wd_last = time.monotonic()
        self._wd_resume = -float("inf")  # after a stall, the watchdog judges from here on
        self.create_timer(0.1, self._beat)  # the executor's heartbeat, checked by the worker
        self.create_timer(0.5, contained(self, "diagnostics", self._publish_diagnostics))
        self._lock = threading.RLock()
        self._st: RobotState | None = None  # the newest state taken
        self._state_stamp = -float("inf")
        self._last_tick = -float("inf")
        self.bad_inputs = 0
        self.policy_gaps = ArrivalGaps()  # wall-clock gaps between policy commands arriving
        self._live_since = 0.0  # since when policy commands arrive without a lapse
        self.watchdog_ticks = 0
        self.modes: list[tuple[float, str]] = []
        self.cpu = NodeClock()
        # the inputs last: their callbacks may come at once
        transport.subscribe_state(self, self.spec, self._on_state, self._refuse)
        transport.subscribe_command(self, self.spec, POLICY_COMMAND, self._on_policy)

    # -- state -------------------------------------------------------------------------------
    def _beat(self) -> None:
        self._exec_beat = time.monotonic()

    def _on_state(self, st: RobotState) -> None:
        """(In the delivering thread) the newest state for the chain, and a watchdog check
        for the worker; never tick here."""
        self._st = st
        self.worker.post(st)

    def _on_state_work(self, st: RobotState) -> None:
        self._on_watchdog()

    def _refuse(self, topic: str, why: str) -> None:
        self.bad_inputs += 1
        self.log.error(f"refused {topic}: {why}", throttle_s=1.0)

    def stop_worker(self) -> None:
        self.worker.stop()

    def _refresh_state(self) -> bool:
        st = self._st
        if st is None:
            return False
        self.sup.update_state(st)
        self._state_stamp = st.t
        return True

    # -- commands ----------------------------------------------------------------------------
    def _readable(self, topic: str, c: Command) -> JointCommand | None:
        if c.cmd is None:
            self._refuse(topic, c.error)
        return c.cmd

    def _on_policy(self, c: Command) -> None:
        c0 = time.thread_time()
        cmd = self._readable(POLICY_COMMAND, c)
        if cmd is not None:
            self._submit_policy(cmd, c.stamp)
        self.cpu.add(time.thread_time() - c0)

    def _newest_state_t(self) -> float:
        """The stamp of the newest state this node holds (taken, not yet judged)."""
        return self._st.t if self._st is not None else -float("inf")

    def _submit_policy(self, cmd: JointCommand, stamp: float) -> None:
        now = time.monotonic()
        last = self.policy_gaps.last
        gap = 0.0 if last is None else now - last  # since the previous command arrived
        if not self.policy_live(now):  # the first command, or the first after a lapse
            self._live_since = now
        self.policy_gaps.add(now)
        with self._lock:
            # (its time is the state's it was computed from: a late command is an old one)
            self.sup.submit_policy(cmd, min(stamp, now))
            if self.sup.intervention:
                return
            if (now - self._newest_state_t() > self._state_timeout
                    and (now - stamp <= self._state_timeout or gap > self._state_timeout)):
                # The policy computed this from a fresh state while ours is stale, or the
                # commands themselves paused longer than the state limit (this process
                # stalled: what came meanwhile is still queued): the robot's newest state
                # waits in this node's queue, taken after this command. Judging now would
                # damp a robot for our own delay; the command is kept, and the next tick (the
                # state's, or the watchdog's) judges it with the state that is on its way.
                self.ticks_waiting_for_state += 1
                return
            self._tick(stamp)
        if self.policy_gaps.count == 1:  # the chain is live end to end: say so at once
            self._publish_diagnostics()

    def policy_live(self, now: float | None = None) -> bool:
        """A policy command arrived within the last three policy periods (before ``now``,
        default: now)."""
        last = self.policy_gaps.last
        now = time.monotonic() if now is None else now
        return last is not None and now - last < 3.0 * self.policy_dt

    def policy_live_s(self) -> float:
        """How long policy commands have been arriving without a lapse of three periods [s]
        (0 when they are not)."""
        return time.monotonic() - self._live_since if self.policy_live() else 0.0

    def _on_teleop(self, msg: JointState) -> None:
        c = read_command(self.spec, msg)
        cmd = self._readable("/teleop/command", c)
        if cmd is not None:
            with self._lock:
                self.sup.submit_teleop(cmd, time.monotonic())
                if self.sup.intervention:
                    self._tick(c.stamp)

    def _on_intervention(self, msg: Bool) -> None:
        with self._lock:
            self.sup.set_intervention(bool(msg.data))

    def _on_estop(self, msg: Bool) -> None:
        if msg.data:
            with self._lock:
                self.sup.engage_estop("e-stop from /estop")
                self.log.warning("E-STOP engaged (latched until ~/reset)")
                self._tick(None)

    def _reset_bridge(self) -> None:
        """After the chain's own reset (soft start re-armed): the bridge's latched damping."""
        if self.bridge_reset.service_is_ready():
            self.bridge_reset.call_async(Trigger.Request())
        else:
            self.log.warning("reset: /hardware_bridge/reset is not available; the bridge "
                             "keeps any latched damping")

    def _on_bridge_transition(self, msg: TransitionEvent) -> None:
        if msg.goal_state.id != State.PRIMARY_STATE_ACTIVE:
            self.sup.set_motors_on(False)  # inactive / finalized: the motors hold or damp
            self._publish_diagnostics()
            return
        with self._lock:
            self._refresh_state()
            cleared = self.sup.rearm()
        self._publish_diagnostics()  # (the graph waits for this before it goes on)
        if cleared:
            self.log.warning(f"bridge activated: cleared latches from the passive phase "
                             f"({', '.join(cleared)})")

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        with self._lock:
            self._refresh_state()
            response.success, response.message = self.sup.reset()
        if response.success:
            self._reset_bridge()
        (self.log.info if response.success else self.log.warning)(
            response.message)
        return response

    def _on_watchdog(self) -> None:
        now = time.monotonic()
        gap, self._wd_last = now - self._wd_last, now
        if gap > WATCHDOG_LATE * self._wd_period:
            # This process itself stalled (scheduling, a page fault, SIGSTOP): what the
            # middleware received meanwhile is still being handed over, oldest first (the
            # states of the stall, the policy commands computed from them). Judging one of
            # those old states now would take our own stall for a stale robot and a silent
            # policy (hold at once). The watchdog waits one period for the backlog to drain,
            # as a timer's next tick would; the commands judge meanwhile.
            self.watchdog_deferred += 1
            self._wd_resume = now + self._wd_period
            return
        if now < self._wd_resume:
            return
        if now - self._last_tick > 1.5 * self.policy_dt:
            c0 = time.thread_time()
            with self._lock:
                if time.monotonic() - self._last_tick > 1.5 * self.policy_dt:
                    self.watchdog_ticks += 1
                    self._tick(None)
            self.cpu.add(time.thread_time() - c0)

    def _check_executor(self, now: float) -> None:
        """(Ticks outside the executor) latch STOP if the executor has stopped serving."""
        if now - self._exec_beat > EXECUTOR_STALE_S and self.sup.chain.motors_on:
            self.executor_stalls += 1
            if self.sup.mode != Mode.STOP:
                why = (f"safety node's executor silent for {now - self._exec_beat:.1f} s "
                       "(/estop and ~/reset unheard)")
                self.log.error(why + ": STOP", throttle_s=1.0)
                self.sup.engage_estop(why)

    def _tick(self, stamp: float | None) -> None:
        """One chain tick and its ``/command`` (the caller holds the lock)."""
        now = time.monotonic()
        if not self._refresh_state():
            return
        self._check_executor(now)
        if self.sup.chain.motors_on:  # how old the state the chain judges is (active only)
            self.state_age_ms.append((now - self._state_stamp) * 1e3)
        out = self.sup.tick(now)
        if out is None:
            return
        self._last_tick = now
        mode = mode_word(self.sup.mode, out, self.spec)
        # the stamp of the state the output stands on: the policy's for an active command,
        # the state the chain judged for its own (hold, fallback, damping)
        t = self._state_stamp if stamp is None or self.sup.mode != Mode.ACTIVE else stamp
        self.seq += 1
        nested = self.pub.publish(Command(out, t, mode, self.session, self.seq))
        self.cpu.exclude(nested)  # (the bridge counts its own share of this thread)
        if not self.modes or self.modes[-1][1] != mode:  # a new mode is reported at once
            self.modes.append((now, mode))
            self._publish_diagnostics()

    # -- diagnostics -------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        with self._lock:
            d = self.sup.diagnostics()
        status = DiagnosticStatus(name="safety_node", hardware_id=self.spec.name)
        status.level = {"ACTIVE": DiagnosticStatus.OK, "HOLD": DiagnosticStatus.WARN}.get(
            d["mode"], DiagnosticStatus.ERROR)
        status.message = f"mode {d['mode']} (source {d['source']})"
        status.values = [KeyValue(key="mode", value=d["mode"]),
                         KeyValue(key="estop", value=str(d["estop"])),
                         KeyValue(key="motors_on", value=str(self.sup.chain.motors_on)),
                         KeyValue(key="policy_live", value=str(self.policy_live())),
                         KeyValue(key="policy_live_s", value=f"{self.policy_live_s():.3f}"),
                         KeyValue(key="bad_inputs", value=str(self.bad_inputs)),
                         KeyValue(key="callback_errors",
                                  value=str(sum(error_counts(self).values())))] + [
            KeyValue(key=f"{k}.count", value=str(v["count"]))
            for k, v in d["interventions"].items()] + [
            KeyValue(key=f"{k}.last_reason", value=v["last_reason"])
            for k, v in d["interventions"].items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        self.pub_diag.publish(arr)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            d = self.sup.diagnostics()
        d.update(watchdog_ticks=self.watchdog_ticks, bad_inputs=self.bad_inputs,
                 callback_errors=error_counts(self), executor_stalls=self.executor_stalls,
                 watchdog_deferred=self.watchdog_deferred,
                 ticks_waiting_for_state=self.ticks_waiting_for_state,
                 state_age_ms=percentiles(self.state_age_ms),
                 policy_gaps=self.policy_gaps.summary(),
                 modes=[m for _, m in self.modes][-20:], cpu_s=round(self.cpu.total, 3))
        return d
