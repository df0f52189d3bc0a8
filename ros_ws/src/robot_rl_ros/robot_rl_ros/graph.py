"""Bring the deploy graph up: all nodes in one process with one executor (`InProcessGraph`),
or one process per node (`ProcessGraph`), driven by an operator node that runs the lifecycle
transitions and the scripted ``/cmd_vel`` (or ``/goal``) sequence.

Order on the way up: the policy node first (it loads and checks the bundle: a refusal stops
the bring-up before the robot is touched), the safety node, the bridge (configure = connect,
the robot passive), then activate. On the way down (end of run, Ctrl-C, an error): the policy
node goes, the bridge damps for ``shutdown_damp_s`` and disconnects, then the rest.

Discovery stays on this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``).

Supervision: `failures` lists every node process that exited and every executor that stopped
while the graph runs (checked every 0.1 s by `run`); the bring-up then stops the graph (the
bridge damps) and reports non-zero. Node processes die with this one (a parent-death signal,
and each also watches its parent), so a ``kill -9`` of the bring-up never leaves motors on.
Each graph has a random session token that the safety node's ``/command`` carries and the
bridge checks (`robot_rl_ros.convert.command_frame`).
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped, Twist
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.context import Context
from rclpy.exceptions import InvalidHandle
from rclpy.executors import ExternalShutdownException, ShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from robot_rl.deploy.build import DeployError
from robot_rl.deploy.config import DeployConfig
from robot_rl.robots import get_robot
from robot_rl.runtime.realtime import process_info, tune_process
from robot_rl.runtime.signals import StopRequest
from robot_rl_ros.bridge_node import HardwareBridgeNode
from robot_rl_ros.log import NodeLog
from robot_rl_ros.policy_node import PolicyNode
from robot_rl_ros.qos import COMMAND_QOS, EVENT_QOS, publisher, subscribe
from robot_rl_ros.safety_node import SafetyNode
from robot_rl_ros.transport import IntraProcess, Middleware

_log = NodeLog("executor")


def ros_environment(domain_id: int | None = None) -> None:
    """Localhost-only discovery; an explicit domain id if given; Fast DDS over UDP only.

    Fast DDS's default transports add shared memory between local processes. With it, 3 of
    32 starts of the one-process-per-node graph had a stream stall 270-320 ms and then
    deliver its backlog in one burst (14 commands 272 down to 35 ms old within 22 ms, for a
    best-effort depth-1 topic); over UDPv4 none of 32 did (8 s runs, this 2-core machine).
    Set FASTDDS_BUILTIN_TRANSPORTS yourself to choose otherwise."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4")
    if domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(domain_id)


def make_executor(context: Context) -> Any:
    """The single-threaded executor. (rclpy's experimental EventsExecutor starved the other
    threads of the GIL in this rclpy 7.1 build: the bring-up stalled in configure.)"""
    return SingleThreadedExecutor(context=context)


def spin(executor: Any, health: dict[str, Any] | None = None) -> None:
    """Run ``executor`` until its context shuts down or it has no node left
    (``Executor.shutdown()`` drops its nodes; nodes are added before this starts).

    It never ends on an error: every node callback is fault-contained already
    (`robot_rl_ros.contain`), and anything else rclpy raises out of one pass (a node
    destroyed from another thread while the wait set was built: ``InvalidHandle``; an error in
    rclpy itself) is logged, counted in ``health["executor_errors"]`` and the next pass goes
    on, so ``/estop``, ``~/reset`` and the watchdogs stay served. ``health["alive"]`` is
    False once the loop has ended (the graph reports a node whose executor stopped)."""
    health = {} if health is None else health
    health.update(alive=True, executor_errors=0, last_error="")
    try:
        while executor.context.ok() and executor.get_nodes():
            try:
                executor.spin_once(timeout_sec=0.2)
            except InvalidHandle:  # (a node going away; never a hot loop at real-time priority)
                time.sleep(0.0005)
                continue
            except (ShutdownException, ExternalShutdownException):
                return
            except Exception as e:
                if not executor.context.ok() or not executor.get_nodes():
                    return  # shutting down (rclpy's shutdown() races the wait set too)
                health["executor_errors"] += 1
                health["last_error"] = f"{type(e).__name__}: {e}"
                _log.error(f"executor pass failed ({type(e).__name__}: {e}; nodes "
                           f"{[n.get_name() for n in executor.get_nodes()]}); going on",
                           throttle_s=1.0)
                time.sleep(0.001)
    finally:
        health["alive"] = False


def die_with_parent() -> None:
    """(Called by a node process first thing) SIGTERM when the parent dies: Linux
    prctl(PR_SET_PDEATHSIG). A node's SIGTERM handler damps and disconnects the robot; the
    node also checks its parent's pid (the parent may have died before this call)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass  # (not Linux: the node's own parent watch still ends it)


class Operator(Node):
    """The bring-up's own node: publishes the task command, e-stop and reset requests."""

    def __init__(self, cfg: DeployConfig, watch_commands: bool = False, **kwargs: Any) -> None:
        super().__init__("deploy_operator", start_parameter_services=False, **kwargs)

        self.cfg = cfg
        self.quadruped = get_robot(cfg.robot).floating_base
        self.pub_twist = publisher(self, Twist, "/cmd_vel", EVENT_QOS)
        self.pub_goal = publisher(self, PointStamped, "/goal", EVENT_QOS)
        self.pub_estop = publisher(self, Bool, "/estop", EVENT_QOS)
        self.reset_client = self.create_client(Trigger, "/safety_node/reset")
        self.lifecycle = self.create_client(ChangeState, "/hardware_bridge/change_state")
        # what reaches the motors, seen from outside the nodes: /command count and the
        # sequence of safety modes it carried (off by default: one more /command reader)
        self.commands_seen = 0
        self.modes_seen: list[str] = []
        if watch_commands:
            subscribe(self, JointState, "/command", self._on_command, COMMAND_QOS)
        # the safety node's /diagnostics (2 Hz, off the command path): the activation check
        self.safety_status: dict[str, str] = {}
        self.safety_reports = 0
        subscribe(self, DiagnosticArray, "/diagnostics", self._on_diagnostics, EVENT_QOS)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == "safety_node":
                self.safety_status = {kv.key: kv.value for kv in status.values}
                self.safety_reports += 1

    def _on_command(self, msg: JointState) -> None:
        self.commands_seen += 1
        mode = (msg.header.frame_id or "active").split(";")[0]
        if not self.modes_seen or self.modes_seen[-1] != mode:
            self.modes_seen.append(mode)

    def send_command(self, cmd: tuple[float, ...] | list[float]) -> None:
        """(A script step's command: 3 finite values, checked when the config loaded.)"""
        if self.quadruped:
            m = Twist()
            m.linear.x, m.linear.y, m.angular.z = float(cmd[0]), float(cmd[1]), float(cmd[2])
            self.pub_twist.publish(m)
        else:
            g = PointStamped()
            g.point.x, g.point.y, g.point.z = (float(c) for c in cmd[:3])
            self.pub_goal.publish(g)

    def estop(self, on: bool = True) -> None:
        self.pub_estop.publish(Bool(data=on))

    def call(self, client: Any, request: Any, timeout: float = 10.0) -> Any:
        if not client.wait_for_service(timeout_sec=timeout):
            raise DeployError(f"service {client.srv_name} not available after {timeout} s")
        fut = client.call_async(request)
        t_end = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < t_end:
            time.sleep(0.005)
        if not fut.done():
            raise DeployError(f"service {client.srv_name} did not answer in {timeout} s")
        return fut.result()

    def reset(self) -> tuple[bool, str]:
        res = self.call(self.reset_client, Trigger.Request())
        return bool(res.success), str(res.message)

    def transition(self, transition_id: int) -> bool:
        req = ChangeState.Request()
        req.transition.id = transition_id
        return bool(self.call(self.lifecycle, req).success)


class TopicCounter(Node):
    """Counts the JointState messages on ``topics`` (an observer outside the deploy chain:
    tests, tools checking that topics arrive at their rates)."""

    def __init__(self, topics: tuple[str, ...] | list[str], name: str = "topic_counter",
                 **kwargs: Any) -> None:
        super().__init__(name, start_parameter_services=False, **kwargs)
        self.counts = dict.fromkeys(topics, 0)
        for topic in topics:
            subscribe(self, JointState, topic, lambda _m, t=topic: self._count(t), COMMAND_QOS)

    def _count(self, topic: str) -> None:
        self.counts[topic] += 1


class _GraphBase:
    """What both bring-ups share: the operator, the script, the run loop."""

    cfg: DeployConfig
    operator: Operator
    t_active: float | None = None

    def run(self, seconds: float, script: bool = True,
            until: threading.Event | StopRequest | None = None) -> None:
        """Drive the scripted command for ``seconds`` (10 Hz), or until ``until`` is set."""
        t_end = time.monotonic() + seconds
        last = None
        while time.monotonic() < t_end and not (until is not None and until.is_set()):
            if self.failures():
                return
            if script and self.t_active is not None:
                cmd = self.cfg.command_at(time.monotonic() - self.t_active)
                if cmd is not None and (cmd != last or int(time.monotonic() * 10) % 10 == 0):
                    self.operator.send_command(cmd)
                    last = cmd
            time.sleep(0.1)

    def estop(self) -> None:
        self.operator.estop(True)

    def failures(self) -> list[str]:
        """What of the graph has died (a node process, an executor thread): empty while all
        runs."""
        return []

    POLICY_STEADY_S = 0.5  # policy commands arriving this long without a lapse: activate

    def _policy_stream(self, seen: int) -> tuple[bool, float] | None:
        """(policy commands arriving at the safety node, for how long [s]) from its
        /diagnostics; None until a report newer than ``seen`` reports came."""
        op = self.operator
        if op.safety_reports <= seen:
            return None
        try:
            live_s = float(op.safety_status.get("policy_live_s", "0"))
        except ValueError:
            live_s = 0.0
        return op.safety_status.get("policy_live") == "True", live_s

    def _check_before_activation(self, timeout: float = 10.0) -> None:
        """Activation needs the safety node judging the passive robot, no STOP latch (an
        engaged e-stop, a tracking fault: those take an explicit reset first), and the
        policy's commands reaching the safety node steadily for `POLICY_STEADY_S` (in a
        report newer than this call). Read from the safety node's /diagnostics, which it
        publishes every 0.5 s and at every change of mode. (Latches of the passive phase,
        such as a stalled state stream while the processes started, are cleared by the
        safety node itself when the bridge activates.)"""
        op = self.operator
        t_end = time.monotonic() + timeout
        seen = op.safety_reports
        while not op.safety_reports and time.monotonic() < t_end:
            time.sleep(0.01)
        if not op.safety_reports:
            raise DeployError(f"no /diagnostics from the safety node within {timeout} s of "
                              "configure; is safety_node running and receiving /joint_states?")
        self._refuse_if_stopped()
        # the policy's commands must reach the safety node, steadily, before the motors take
        # torque: between processes DDS matches each publisher with each subscription on its
        # own schedule (seen: the policy node's /joint_states subscription matched 2.3 s
        # after the others; /policy/command delivered, then stalled 0.33-0.35 s within the
        # first 0.5 s of the stream, 1 start in ~10, the executors idle meanwhile)
        def steady() -> bool:
            got = self._policy_stream(seen)
            return got is not None and got[0] and got[1] >= self.POLICY_STEADY_S

        while not steady() and time.monotonic() < t_end:
            time.sleep(0.01)
        if not steady():
            got = self._policy_stream(seen)
            raise DeployError(
                f"the policy's commands reached the safety node only intermittently in the "
                f"{timeout} s after configure (not {self.POLICY_STEADY_S} s without a lapse)"
                if got is not None and got[0] else
                f"no policy command reached the safety node within {timeout} s of configure: "
                "is policy_node running with its bundle loaded, and do /joint_states reach "
                "it?")
        self._refuse_if_stopped()  # (again: a latch may have come during the wait)

    def _refuse_if_stopped(self) -> None:
        op = self.operator
        if op.safety_status.get("mode") == "STOP":
            why = ("the e-stop is engaged" if op.safety_status.get("estop") == "True"
                   else "a fault is latched")
            raise DeployError(f"the safety node is stopped ({why}); release it with `ros2 "
                              "service call /safety_node/reset std_srvs/srv/Trigger` before "
                              "activating")

    ARMED_WITHIN_S = 2.0  # the safety node reports the bridge's activation within this

    def _activate_bridge(self) -> bool:
        raise NotImplementedError

    def _deactivate_bridge(self) -> None:
        raise NotImplementedError

    def _activate_confirmed(self) -> None:
        """Activate the bridge, then wait for the safety node to report that it saw it
        (``motors_on`` in its /diagnostics). The safety node learns of the activation from
        one message, the bridge's lifecycle transition event; one that is lost (a DDS match
        not yet made) would leave its chain judging a passive robot while the motors take
        its commands: the tracking guard off, an e-stop damping at once instead of the
        controlled stop. So a lost one is not tolerated: the bridge is deactivated
        (damped) and activated once more, and a second loss refuses to run."""
        op = self.operator
        for attempt in (1, 2):
            seen = op.safety_reports
            if not self._activate_bridge():
                raise DeployError("hardware_bridge refused to activate: " + self._why_refused())
            t_end = time.monotonic() + self.ARMED_WITHIN_S
            while time.monotonic() < t_end:
                if op.safety_reports > seen and op.safety_status.get("motors_on") == "True":
                    self.t_active = time.monotonic()
                    return
                time.sleep(0.01)
            self._deactivate_bridge()
            _log.warning(f"activation {attempt}: the safety node did not report the bridge's "
                         f"activation within {self.ARMED_WITHIN_S} s; bridge deactivated")
        raise DeployError(
            "the safety node did not see the hardware bridge's activation (its "
            "/hardware_bridge/transition_event) twice; the bridge is deactivated (damped). "
            "Check that both nodes run in one ROS domain and restart the graph")

    def _why_refused(self) -> str:
        return ""

    def reset(self) -> tuple[bool, str]:
        return self.operator.reset()


class InProcessGraph(_GraphBase):
    """bridge, policy and safety nodes + the operator in this process, one executor thread.

    The same nodes as `ProcessGraph`'s, with the same topics; ``intra_process`` (default)
    gives them the `robot_rl_ros.transport.IntraProcess` transport (the state → policy →
    safety → bridge chain handed over by direct calls, as rclcpp's intra-process
    communication does, every message still published); False: `Middleware`, as across
    processes.
    """

    def __init__(self, cfg: DeployConfig, intra_process: bool = True) -> None:
        self.cfg = cfg
        self.transport: IntraProcess | Middleware = (IntraProcess() if intra_process
                                                     else Middleware())
        self.context = Context()
        self.session = secrets.token_hex(8)
        self.nodes: dict[str, Any] = {}
        self.executors: dict[str, Any] = {}
        self.health: dict[str, dict[str, Any]] = {}  # executor name -> `spin`'s health
        self._group_of: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.final: dict[str, Any] = {}

    def start(self) -> InProcessGraph:
        ros_environment()
        tune_process()  # (the bridge freezes the heap at configure, thaws at cleanup)
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        try:
            tr, session = self.transport, self.session
            policy = PolicyNode(self.cfg, transport=tr, context=self.context)
            self.nodes["policy_node"] = policy
            self.nodes["safety_node"] = SafetyNode(self.cfg, policy.dt, transport=tr,
                                                   session=session, context=self.context)
            self.nodes["hardware_bridge"] = HardwareBridgeNode(
                self.cfg, policy.dt, transport=tr, session=session, context=self.context)
            self.operator = Operator(self.cfg, context=self.context)
            self.nodes["deploy_operator"] = self.operator
            # two executor threads: the policy node's (its parameter callbacks, and with
            # topics its inference: a slow policy step must not delay /estop), and one for
            # the rest (a command hop between two nodes of one executor costs no extra
            # wake-up, ~1 ms on these VMs)
            groups = {"policy": ["policy_node"],
                      "graph": ["safety_node", "hardware_bridge", "deploy_operator"]}
            for group, names in groups.items():
                ex = make_executor(self.context)
                for name in names:
                    ex.add_node(self.nodes[name])
                    self.executors[name] = ex
                self.health[group] = {}
                for name in names:
                    self._group_of[name] = group
                th = threading.Thread(target=spin, args=(ex, self.health[group]), daemon=True,
                                      name=f"executor-{group}")
                th.start()
                self._threads.append(th)
            bridge = self.nodes["hardware_bridge"]
            if bridge.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise DeployError(f"hardware_bridge: {bridge.last_error or 'configure failed'}")
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def bridge(self) -> Any:
        return self.nodes["hardware_bridge"]

    @property
    def policy(self) -> Any:
        return self.nodes.get("policy_node")

    @property
    def safety(self) -> Any:
        return self.nodes.get("safety_node")

    # one process: the policy's commands reach the safety node by direct call (or through
    # the process's own DDS participant), with no matching between processes to wait out;
    # waiting here would only let a passive quadruped sink further before its soft start
    POLICY_STEADY_S = 0.0

    def _policy_stream(self, seen: int) -> tuple[bool, float] | None:
        safety = self.safety
        if safety is None:  # (taken out of the graph: the diagnostics check says so first)
            return None
        return safety.policy_live(), safety.policy_live_s()

    def failures(self) -> list[str]:
        if self._stopping:
            return []
        return [f"executor '{g}' stopped ({h.get('last_error') or 'no error'})"
                for g, h in self.health.items() if h and not h.get("alive", True)]

    def activate(self, timeout: float = 10.0) -> None:
        """Activate the bridge once `_check_before_activation` passes (within ``timeout``)."""
        self._check_before_activation(timeout)
        self._activate_confirmed()

    def _activate_bridge(self) -> bool:
        return bool(self.bridge.trigger_activate() == TransitionCallbackReturn.SUCCESS)

    def _deactivate_bridge(self) -> None:
        self.bridge.trigger_deactivate()

    def _why_refused(self) -> str:
        return str(self.bridge.last_error or "activate failed")

    def set_policy(self, path: str | Path) -> Any:
        """Set the policy node's ``policy_path`` (a hot swap): the SetParametersResult."""
        return self.policy.set_parameters([Parameter("policy_path", value=str(path))])[0]

    def kill(self, name: str) -> None:
        """Take a node out of the graph abruptly (as if its process died)."""
        node = self.nodes.pop(name)
        self.transport.drop(node)
        if hasattr(node, "stop_worker"):
            node.stop_worker()
        stats = getattr(node, "stats", None)
        if stats is not None:
            self.final[name] = stats()
        ex = self.executors.pop(name, None)
        if ex is not None:
            ex.remove_node(node)
            if ex not in self.executors.values():  # its last node: the executor goes too
                self.health.pop(self._group_of.get(name, ""), None)  # (not a failure)
                ex.shutdown(timeout_sec=1.0)
        node.destroy_node()

    def stop(self) -> dict[str, Any]:
        """Shut down in order: the bridge damps at once, the policy goes, the bridge
        disconnects after its damping time, then the rest."""
        self._stopping = True
        bridge = self.nodes.get("hardware_bridge")
        if bridge is not None and bridge.bridge is not None:
            bridge.bridge.damp()
        if "policy_node" in self.nodes:
            self.kill("policy_node")
        if bridge is not None:
            try:
                bridge.trigger_shutdown()
            except Exception:
                bridge._close()
        for name in list(self.nodes):
            self.kill(name)
        for th in self._threads:
            th.join(2.0)
        if self.context.ok():
            rclpy.shutdown(context=self.context)
        self.final["process"] = process_info()
        return self.final


class ProcessGraph(_GraphBase):
    """One process per node (``python -m robot_rl_ros.run_node NODE``); this process runs the
    operator. Each node writes its stats JSON into ``work_dir`` when it exits."""

    NODES = ("policy_node", "safety_node", "hardware_bridge")

    def __init__(self, cfg_path: str | Path, cfg: DeployConfig, work_dir: str | Path,
                 watch_commands: bool = False, policy_path: str | None = None) -> None:
        self.cfg_path, self.cfg = str(cfg_path), cfg
        self.policy_path = policy_path  # (overrides the config's in every node)
        self.session = secrets.token_hex(8)
        self.killed: set[str] = set()
        self._stopping = False
        self.watch_commands = watch_commands
        self.work = Path(work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.context = Context()
        self.executor: Any = None
        self._thread: threading.Thread | None = None

    def _spawn(self, name: str) -> None:
        for suffix in (".ready", ".error", ".json"):
            (self.work / f"{name}{suffix}").unlink(missing_ok=True)
        log = open(self.work / f"{name}.log", "wb")
        cmd = [sys.executable, "-m", "robot_rl_ros.run_node", name, self.cfg_path,
               "--work-dir", str(self.work), "--session", self.session,
               "--parent", str(os.getpid())]
        if self.policy_path:
            cmd += ["--policy", str(self.policy_path)]
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            env=dict(os.environ))

    def _wait_ready(self, name: str, timeout: float = 60.0) -> None:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if (self.work / f"{name}.ready").exists():
                return
            err = self.work / f"{name}.error"
            if err.exists() or self.procs[name].poll() is not None:
                msg = err.read_text() if err.exists() else (
                    self.work / f"{name}.log").read_text()[-800:]
                raise DeployError(f"{name} did not start: {msg.strip()}")
            time.sleep(0.05)
        raise DeployError(f"{name} did not start within {timeout} s; see "
                          f"{self.work / (name + '.log')}")

    def start(self) -> ProcessGraph:
        ros_environment()
        try:
            for name in self.NODES:  # the policy first: a refused bundle stops it all here
                self._spawn(name)
                self._wait_ready(name)
            rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
            self.operator = Operator(self.cfg, self.watch_commands, context=self.context)
            self.executor = make_executor(self.context)
            self.executor.add_node(self.operator)
            self._thread = threading.Thread(target=spin, args=(self.executor,), daemon=True)
            self._thread.start()
            self._wait_connected()
            if not self.operator.transition(Transition.TRANSITION_CONFIGURE):
                raise DeployError("hardware_bridge refused to configure: " + self._log_tail(
                    "hardware_bridge"))
        except BaseException:
            self.stop()
            raise
        return self

    # topic -> (publishers, subscribers) the running graph has once discovery is complete
    WIRING: ClassVar[dict[str, tuple[int, int]]] = {
        "/joint_states": (1, 2), "/imu/data": (1, 2), "/policy/command": (1, 1),
        "/command": (1, 1), "/hardware_bridge/transition_event": (1, 1)}

    def _wait_connected(self, timeout: float = 30.0) -> None:
        """Until every node's endpoints are discovered (DDS discovery between processes
        takes a second or two): commands then flow from the first policy period on."""
        op = self.operator
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if all(op.count_publishers(t) >= p and op.count_subscribers(t) >= s
                   for t, (p, s) in self.WIRING.items()):
                return
            time.sleep(0.05)
        raise DeployError(f"the nodes did not discover each other within {timeout} s (DDS "
                          "discovery: ROS_DOMAIN_ID / ROS_AUTOMATIC_DISCOVERY_RANGE differ?)")

    def _log_tail(self, name: str) -> str:
        p = self.work / f"{name}.log"
        return p.read_text()[-600:].strip() if p.exists() else "(no log)"

    def activate(self, timeout: float = 10.0) -> None:
        """Activate the bridge once `_check_before_activation` passes (within ``timeout``)."""
        self._check_before_activation(timeout)
        self._activate_confirmed()

    def _activate_bridge(self) -> bool:
        return self.operator.transition(Transition.TRANSITION_ACTIVATE)

    def _deactivate_bridge(self) -> None:
        self.operator.transition(Transition.TRANSITION_DEACTIVATE)

    def _why_refused(self) -> str:
        return self._log_tail("hardware_bridge")

    def failures(self) -> list[str]:
        if self._stopping:
            return []
        out = []
        for name, p in self.procs.items():
            rc = p.poll()
            if rc is not None and name not in self.killed:
                out.append(f"{name} exited (code {rc}): {self._log_tail(name)[-300:]}")
        return out

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        if not self._stopping:
            self.killed.add(name)
        p = self.procs.get(name)
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(15.0)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop(self) -> dict[str, Any]:
        """The bridge first (it damps at once, then disconnects), then policy and safety."""
        self._stopping = True
        for name in ("hardware_bridge", "policy_node", "safety_node"):
            self.kill(name, signal.SIGINT)
        if self.executor is not None:
            self.executor.shutdown(timeout_sec=1.0)
        if self.context.ok():
            rclpy.shutdown(context=self.context)
        out: dict[str, Any] = {}
        for name in self.NODES:
            p = self.work / f"{name}.json"
            if p.exists():
                out[name] = json.loads(p.read_text())
        out["operator_process"] = process_info()
        return out


__all__ = ["InProcessGraph", "Operator", "ProcessGraph", "die_with_parent", "ros_environment",
           "spin"]
