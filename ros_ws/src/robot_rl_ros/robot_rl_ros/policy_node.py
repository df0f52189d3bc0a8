"""``policy_node``: the ONNX policy at the policy rate, over
`robot_rl.runtime.controller.PolicyController`.

Triggered by the state stream, not a timer: the first state (``/joint_states`` with the latest
``/imu/data``, `robot_rl_ros.transport`) at or after the next policy time runs one step
(observation from that state, task command from ``/cmd_vel`` or ``/goal``) and publishes
``/policy/command`` stamped with that state's stamp. An observation that cannot be built or is
not finite publishes nothing: the safety node's command watchdog then holds, then damps.
The state is only left in this node's mailbox by the thread that delivers it (the executor, or
in the in-process graph the bridge's loop thread); the policy runs in the node's own worker
thread (`robot_rl_ros.worker.Mailbox`): a slow policy step must not stall the 500 Hz loop and
its timeouts, nor the executor that takes the parameter calls.

Task commands (``/cmd_vel``, ``/goal``) are clamped to the ranges the policy was trained on; a
non-finite one is refused and the command in force kept (`PolicyController.set_command`).

Hot swap: setting the ``policy_path`` parameter checks the new bundle's metadata at once
(refused: the parameter is not changed, the reason is returned), then loads it in a
background thread (onnxruntime session creation must not stall the policy ticks), runs it on
the current observation and perturbed copies (`PolicyController.probe`: any non-finite or
out-of-bounds output refuses it) and switches between two steps; if the load or the probe
fails, the old policy keeps running and the parameter is set back.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from geometry_msgs.msg import PointStamped, Twist
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from hardware.bridge import percentiles
from robot_rl.deploy.build import load_robot, make_controller
from robot_rl.deploy.config import DeployConfig
from robot_rl.runtime.controller import _Loaded
from robot_rl.runtime.policy import BundleError, bundle_metadata
from robot_rl.runtime.ring import Ring
from robot_rl.types import RobotState
from robot_rl_ros.contain import error_counts
from robot_rl_ros.log import NodeLog
from robot_rl_ros.qos import EVENT_QOS, subscribe
from robot_rl_ros.timing import ArrivalGaps, NodeClock
from robot_rl_ros.transport import POLICY_COMMAND, Command, Middleware, Transport
from robot_rl_ros.worker import Mailbox


def check_bundle_metadata(path: Path, robot: str, policy_dt: float) -> str | None:
    """Fast checks of a candidate bundle (file, metadata, robot, rate): the reason it is
    refused, or None."""
    try:
        meta = bundle_metadata(path)
    except BundleError as e:
        return str(e)
    if meta["robot"] != robot:
        return f"{path}: bundle is for robot '{meta['robot']}', not '{robot}'"
    if abs(float(meta["policy_dt"]) - policy_dt) > 1e-9:
        return (f"{path}: policy_dt {meta['policy_dt']} s differs from the running policy's "
                f"{policy_dt} s")
    return None


class PolicyNode(Node):
    def __init__(self, cfg: DeployConfig, name: str = "policy_node",
                 transport: Transport | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.log = NodeLog(name)
        self.cfg = cfg
        rcfg, self.spec = load_robot(cfg)
        self.controller = make_controller(cfg, self.spec, rcfg)  # DeployError: refuse to start
        self.dt = self.controller.policy_dt
        self.tol = 0.5 / cfg.bridge.rate_hz
        self.declare_parameter("policy_path", str(self.controller.path))
        self.add_on_set_parameters_callback(self._on_params)
        transport = Middleware() if transport is None else transport
        self.pub = transport.command_publisher(self, POLICY_COMMAND)
        self.commands_refused = 0
        self.commands_clamped = 0
        subscribe(self, Twist, "/cmd_vel", self._on_cmd_vel, EVENT_QOS)
        subscribe(self, PointStamped, "/goal", self._on_goal, EVENT_QOS)
        self._next_t = -float("inf")
        self._pending: Any = None
        self._loading = False
        self.swap_log: list[dict[str, Any]] = []
        self.errors = 0
        self.published = 0
        self.states_received = 0
        self.state_gaps = ArrivalGaps()  # wall-clock gaps between states arriving here
        self.step_us = Ring(30_000)  # (the last 10 min at 50 Hz)
        self.cpu = NodeClock()
        self._lock = threading.Lock()  # the worker's steps and the executor's task commands
        self._last_state: RobotState | None = None  # (what a swap candidate is probed on)
        self.worker = Mailbox(self, "policy step", self._step, cfg.executor_realtime_priority)
        # after the safety node's: it takes the state before the policy runs on it, so that
        # the chain judges the command against that state
        transport.subscribe_state(self, self.spec, self._on_state, self._refuse, order=1)

    # -- inputs ------------------------------------------------------------------------------
    def _on_cmd_vel(self, msg: Twist) -> None:
        self._set_command("/cmd_vel", [msg.linear.x, msg.linear.y, msg.angular.z])

    def _on_goal(self, msg: PointStamped) -> None:
        self._set_command("/goal", [msg.point.x, msg.point.y, msg.point.z])

    def _set_command(self, topic: str, values: list[float]) -> None:
        with self._lock:
            try:
                clamped = self.controller.set_command(values)
            except ValueError as e:
                self.commands_refused += 1
                self.log.error(f"refused {topic}: {e}", throttle_s=1.0)
                return
        if clamped:
            self.commands_clamped += 1
            self.log.warning(f"{topic} {values} clamped to the policy's trained range: "
                             f"{self.controller.command.tolist()}", throttle_s=1.0)

    def _on_state(self, st: RobotState) -> None:
        """(In the delivering thread) leave the state for the worker; never run here."""
        self.worker.post(st)

    def _refuse(self, topic: str, why: str) -> None:
        """A state message that cannot be read: no step on it (the chain holds, then damps)."""
        self.errors += 1
        self.log.error(f"refused {topic}: {why}", throttle_s=1.0)

    def stop_worker(self) -> None:
        self.worker.stop()

    def _due(self, t: float) -> bool:
        if t < self._next_t - self.tol:
            return False
        # keep to the schedule (aligned with the bridge's ticks); re-anchor after a gap
        self._next_t = self._next_t + self.dt if t - self._next_t < self.dt else t + self.dt
        return True

    def _step(self, st: RobotState) -> None:
        """(In the worker) one policy step on ``st`` if one is due."""
        c0, t = time.thread_time(), st.t
        self.state_gaps.add(time.monotonic())
        with self._lock:
            self.states_received += 1
            if not self._due(t):
                self.cpu.add(time.thread_time() - c0)
                return
            if self._pending is not None:
                self._swap_in()
            t0 = time.perf_counter()
            try:
                self._last_state = st
                cmd = self.controller.step(st, t)
            except ValueError as e:  # bad observation: publish nothing, the chain holds
                self.errors += 1
                self.log.error(f"policy step failed: {e}", throttle_s=1.0)
                self.cpu.add(time.thread_time() - c0)
                return
            self.published += 1
            self.step_us.append((time.perf_counter() - t0) * 1e6)
        nested = self.pub.publish(Command(cmd, t))
        self.cpu.exclude(nested)  # (the safety node counts its share of this thread)
        self.cpu.add(time.thread_time() - c0)

    # -- hot swap ----------------------------------------------------------------------------
    def _on_params(self, params: list[Parameter]) -> SetParametersResult:
        try:
            return self._check_params(params)
        except Exception as e:  # contained: the running policy is kept
            self._loading = False
            return SetParametersResult(successful=False, reason=f"{type(e).__name__}: {e}")

    def _check_params(self, params: list[Parameter]) -> SetParametersResult:
        for p in params:
            if p.name != "policy_path":
                continue
            path = Path(str(p.value))
            if path == self.controller.path:
                continue
            if self._loading:
                return SetParametersResult(successful=False,
                                           reason="a policy swap is already loading")
            reason = check_bundle_metadata(path, self.spec.name, self.dt)
            if reason is not None:
                self._log_swap(path, False, reason)
                return SetParametersResult(successful=False, reason=reason)
            self._loading = True
            threading.Thread(target=self._load, args=(path, self.controller.path),
                             daemon=True, name="policy-load").start()
        return SetParametersResult(successful=True)

    def _load(self, path: Path, old: Path) -> None:
        try:
            new = _Loaded(self.spec, path, self.cfg.policy.threads)
            why = self.controller.probe(new, self._last_state)
            if why:
                raise ValueError(why)
            self._pending = new
        except Exception as e:  # refused: the old policy keeps running, the parameter reverts
            self._log_swap(path, False, str(e))
            self._loading = False
            self.set_parameters([Parameter("policy_path", value=str(old))])

    def _swap_in(self) -> None:
        new, self._pending = self._pending, None
        try:
            self.controller.install(new)
            self._log_swap(new.path, True, "swapped")
        except ValueError as e:
            self._log_swap(new.path, False, str(e))
        self._loading = False

    def _log_swap(self, path: Path, ok: bool, reason: str) -> None:
        self.swap_log.append({"t": time.monotonic(), "path": str(path), "ok": ok,
                              "reason": reason})
        log = self.log
        (log.info if ok else log.error)(f"policy swap {'done' if ok else 'refused'}: {path}: "
                                        f"{reason}")

    def stats(self) -> dict[str, Any]:
        return {"published": self.published, "errors": self.errors,
                "output_faults": self.controller.output_faults,
                "commands_refused": self.commands_refused,
                "commands_clamped": self.commands_clamped,
                "callback_errors": error_counts(self),
                "states_received": self.states_received,
                "state_gaps": self.state_gaps.summary(),
                "step_us": percentiles(self.step_us), "swaps": self.swap_log,
                "policy": str(self.controller.path), "cpu_s": round(self.cpu.total, 3)}
