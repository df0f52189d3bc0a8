"""``hardware_bridge``: a lifecycle node over `hardware.bridge.HardwareBridge`.

configure = build the backend and connect (the robot is passive: damped); activate = torque
on + soft start; deactivate = hold; cleanup = damp, disconnect. Publishes ``/joint_states``
and ``/imu/data`` for every state of the bridge's own loop thread (not an executor timer; the
messages are written in a thread of their own, so a middleware that blocks never stalls the
loop: `robot_rl_ros.transport`) and takes
``/command`` (sensor_msgs/JointState, see `robot_rl_ros.convert`) from this graph's safety
node only: its frame must carry the graph's session token and a sequence number above the last
one followed. Anything else (a stray publisher, a second graph on the same domain, a replay or
a reordered duplicate) is ignored, counted (``foreign_commands``) and logged: it never reaches
the motors, and it cannot take the robot away from its safety node either (refusing it by
damping would let any stray node drop a walking robot). A malformed command from the safety
node itself is refused and damping latched. ``~/reset`` (std_srvs/Trigger, called by the
safety node's own reset) releases latched damping (`hardware.bridge.HardwareBridge.reset`).
Publishers of
``/command`` other than ``safety_node`` are also looked for in the ROS graph once a second and
reported (``stray_publishers``). A failed transition returns FAILURE with the reason in the
log and in ``last_error``; the robot stays damped.
The state and the command travel by the graph's transport (`robot_rl_ros.transport`: topics,
or in the in-process graph a direct hand-over beside the topics); the checks are the same.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_srvs.srv import Trigger

from robot_rl.deploy.backends import open_backend
from robot_rl.deploy.build import load_robot, make_bridge
from robot_rl.deploy.config import DeployConfig
from robot_rl.deploy.report import TruthRecorder, foot_slip_probe
from robot_rl.types import RobotState
from robot_rl_ros.contain import contained, error_counts
from robot_rl_ros.log import NodeLog
from robot_rl_ros.timing import NodeClock
from robot_rl_ros.transport import COMMAND, Command, Middleware, Transport


class HardwareBridgeNode(LifecycleNode):
    def __init__(self, cfg: DeployConfig, policy_dt: float, name: str = "hardware_bridge",
                 transport: Transport | None = None, session: str = "", **kwargs: Any
                 ) -> None:
        kwargs.setdefault("start_parameter_services", False)  # fewer entities to wait on
        super().__init__(name, **kwargs)
        self.log = NodeLog(name)
        self.cfg, self.policy_dt = cfg, policy_dt
        _, self.spec = load_robot(cfg)
        transport = Middleware() if transport is None else transport
        # (the loop hands each state over; its messages are written in another thread)
        self.pub_state = transport.state_publisher(self, self.spec,
                                                   cfg.executor_realtime_priority)
        self.session = session
        self.last_seq = -1
        self.foreign_commands = 0
        self.stray_publishers: list[str] = []
        transport.subscribe_command(self, self.spec, COMMAND, self._on_command)
        self.create_timer(1.0, contained(self, "graph check", self._check_publishers))
        self.create_service(Trigger, "~/reset", contained(self, "~/reset", self._on_reset))
        self.backend: Any = None
        self.bridge: Any = None
        self.recorder: TruthRecorder | None = None
        self.last_error = ""
        self.bad_commands = 0
        # CPU: the loop thread's own (hardware.bridge: loop_cpu_s) less what the policy and
        # safety nodes did in it (nested_cpu), plus this node's callbacks (clock_cpu)
        self.clock_cpu = NodeClock()
        self.nested_cpu = NodeClock()

    # -- lifecycle ---------------------------------------------------------------------------
    def _fail(self, what: str, err: Exception) -> TransitionCallbackReturn:
        self.last_error = f"{what}: {err}"
        self.log.error(self.last_error)
        return TransitionCallbackReturn.FAILURE

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.backend = open_backend(self.cfg.robot, self.cfg.backend)
            if self.backend.truth is not None:
                self.recorder = TruthRecorder(self.backend.truth, round(
                    self.policy_dt * self.cfg.bridge.rate_hz), foot_slip_probe(self.backend))
            self.bridge = make_bridge(self.cfg, self.spec, self.backend, self.policy_dt,
                                      on_state=self._publish, on_tick=self.recorder)
            self.bridge.configure()
        except Exception as e:  # a missing device, a wrong robot: refuse, say why
            if self.backend is not None:
                self.backend.close()
            self.backend = self.bridge = None
            return self._fail("configure failed", e)
        self.log.info(f"connected ({self.cfg.backend.kind}); robot passive (damped)")
        if self.bridge.realtime_error:
            self.log.warning(f"loop thread not real-time: {self.bridge.realtime_error}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.bridge.activate()
        except Exception as e:
            return self._fail("activate refused", e)
        self.log.info("active: torque on, soft start")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.bridge.deactivate()
        except Exception as e:
            return self._fail("deactivate failed", e)
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._close()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._close()
        return TransitionCallbackReturn.SUCCESS

    def _close(self) -> None:
        if self.bridge is not None:
            self.bridge.cleanup()
        if self.backend is not None:
            self.backend.close()
        self.backend = None

    def stop_worker(self) -> None:
        """The state messages' writer thread ends (the node is going away)."""
        self.pub_state.stop()

    # -- topics ------------------------------------------------------------------------------
    def _publish(self, st: RobotState, tick: int) -> None:
        """(In the loop thread: its CPU is in the loop's.)"""
        self.nested_cpu.add(self.pub_state.publish(st))

    def _check_publishers(self) -> None:
        names = sorted({f"{i.node_namespace.rstrip('/')}/{i.node_name}"
                        for i in self.get_publishers_info_by_topic("/command")
                        if i.node_name != "safety_node"})
        if names and names != self.stray_publishers:
            self.log.error(f"other publishers on /command: {names}; their commands are "
                           "refused (and the robot damped if they send)")
        self.stray_publishers = names

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        if self.bridge is None:
            response.success, response.message = False, "bridge not configured"
        else:
            response.success, response.message = self.bridge.reset()
            self.log.info(response.message)
        return response

    def _on_command(self, c: Command) -> None:
        t0 = time.thread_time()
        if self.bridge is None:
            return
        if c.session != self.session or (self.session and c.seq <= self.last_seq):
            self.foreign_commands += 1
            detail = f"; {c.error}" if c.session == "?" else ""
            self.log.error(f"ignored a /command not from this graph's safety node (session "
                           f"'{c.session[:16]}', seq {c.seq} after {self.last_seq}{detail})",
                           throttle_s=1.0)
            return
        if c.cmd is None:  # from our safety node, and unreadable: a fault of the chain
            self.bad_commands += 1
            self.log.error(f"refused /command: {c.error}; damping", throttle_s=1.0)
            self.bridge.refuse(f"refused /command: {c.error}")
            return
        self.last_seq = c.seq
        self.bridge.submit(c.cmd, c.stamp)
        self.clock_cpu.add(time.thread_time() - t0)

    def stats(self) -> dict[str, Any]:
        out = self.bridge.stats() if self.bridge is not None else {"state": "unconfigured"}
        out["bad_commands"] = self.bad_commands
        out["stray_publishers"] = self.stray_publishers
        out["foreign_commands"] = self.foreign_commands
        out["callback_errors"] = error_counts(self)
        out["latency_samples_us"] = list(self.bridge.latency_us) if self.bridge else []
        out["truth"] = self.recorder.to_dict() if self.recorder is not None else None
        out["modes"] = [m for _, m in self.bridge.modes] if self.bridge else []
        out["cpu_s"] = round(self.clock_cpu.total, 3)
        out["nested_cpu_s"] = round(self.nested_cpu.total, 3)
        out["state_messages"] = self.pub_state.stats()
        return out

