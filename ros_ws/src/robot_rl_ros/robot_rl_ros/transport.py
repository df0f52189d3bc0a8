"""How the deploy chain's streams travel between the graph's nodes: one interface, two
transports. The nodes are the same code in every graph; only the transport they are given
differs, as rclcpp's nodes are the same with or without ``use_intra_process_comms``.

The streams (topic: what a subscriber's callback receives):

- ``/joint_states`` with ``/imu/data``: a `RobotState` (the bridge's reading);
- ``/policy/command`` and ``/command``: a `Command` (a `JointCommand` with the robot's gains
  for its mode, the stamp of the state it stands on, its mode and on ``/command`` the safety
  node's session token and sequence number; `robot_rl_ros.convert`).

`Middleware` (one process per node; the in-process graph with ``intra_process=False``): a ROS
subscription per topic, the message converted on arrival. A malformed state is refused
(``refuse(topic, why)``, the node counts it); a malformed command arrives as a `Command`
without ``cmd`` and with ``error`` saying why, so the node decides (the bridge refuses one from
its own safety node, and damps; it ignores one from a stranger).

`IntraProcess` (the in-process graph): rclpy has no intra-process communication (rclcpp's
``use_intra_process_comms``): a message between two nodes of one process still goes through
the middleware and a wake-up of an executor thread, ~1 ms per hop on these VMs, three hops from
a state to its command. This transport does what rclcpp's does: a publish hands the object to
the subscribers of the same topic in this process by a direct call in the publishing thread
(the safety node's before the policy node's), and publishes the message for everyone else
(recorders, tools, other processes); the nodes of this process take those topics from the
direct hand-over only. A command is given the receiver's gains for its mode on the way
(`robot_rl_ros.convert.with_mode_gains`), so it carries the gains the message would give. A
failing subscriber is logged and counted (``errors``), never raised into the publisher (the
bridge's loop); the safety node's watchdog turns a missing command into hold, then damping, as
for a dead node.

Whatever the transport, a node never does its work in the thread that delivers a state (the
bridge's 500 Hz loop, or its executor): it leaves the state in its own worker
(`robot_rl_ros.worker.Mailbox`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sensor_msgs.msg import Imu, JointState

from robot_rl.robots.spec import RobotSpec
from robot_rl.types import JointCommand, RobotState
from robot_rl_ros.convert import (
    StateMessages,
    command_to_msg,
    joint_state_to_state,
    msg_to_command,
    parse_frame,
    with_mode_gains,
)
from robot_rl_ros.log import NodeLog
from robot_rl_ros.qos import COMMAND_QOS, STATE_QOS, publisher, subscribe
from robot_rl_ros.worker import Mailbox

STATE = "/joint_states"
POLICY_COMMAND = "/policy/command"
COMMAND = "/command"
TOPICS = (STATE, POLICY_COMMAND, COMMAND)


@dataclass(frozen=True)
class Command:
    """A command on ``/policy/command`` or ``/command``. ``cmd`` None: the message could not be
    read, ``error`` says why (``session`` "?" and ``seq`` -1 if not even its frame)."""

    cmd: JointCommand | None
    stamp: float
    mode: str = "active"
    session: str = ""
    seq: int = 0
    error: str = ""


class StatePublisher(Protocol):
    def publish(self, st: RobotState) -> float:
        """Publish ``st`` (never blocking on the middleware: the bridge's loop calls it);
        returns the thread CPU [s] other nodes' callbacks took in it."""

    def stats(self) -> dict[str, Any]:
        """The message writer's figures (`_MessageStatePublisher.stats`)."""

    def stop(self) -> None:
        """No message is written after this (the node is going away)."""


class CommandPublisher(Protocol):
    def publish(self, c: Command) -> float:
        """Publish ``c``; returns the thread CPU [s] other nodes' callbacks took in it."""


class Transport(Protocol):
    def state_publisher(self, node: Any, spec: RobotSpec, priority: int = 0
                        ) -> StatePublisher: ...

    def command_publisher(self, node: Any, topic: str) -> CommandPublisher: ...

    def subscribe_state(self, node: Any, spec: RobotSpec, callback: Callable[[RobotState], None],
                        refuse: Callable[[str, str], None], order: int = 0) -> None: ...

    def subscribe_command(self, node: Any, spec: RobotSpec, topic: str,
                          callback: Callable[[Command], None]) -> None: ...

    def drop(self, node: Any) -> None: ...


# -- messages ---------------------------------------------------------------------------------
class _MessageStatePublisher:
    """``/joint_states`` and ``/imu/data``, written from this publisher's own thread
    (`robot_rl_ros.worker.Mailbox` "state messages", at ``priority``): the bridge's loop, which
    calls `publish`, never enters the middleware. A DDS write can block (seen once for 3 s
    after a subscriber's process was killed); in the loop it would have stopped the commands
    to the motors and the loop's own command timeout with them. Here only the messages stop:
    the states not yet written are replaced by newer ones (``dropped``), and `stuck_s` says
    for how long the write under way has not returned."""

    def __init__(self, node: Any, spec: RobotSpec, priority: int = 0) -> None:
        self.msgs = StateMessages(spec)
        self.joints = publisher(node, JointState, STATE, STATE_QOS)
        self.imu = publisher(node, Imu, "/imu/data", STATE_QOS)
        self._since = 0.0  # when the write under way began (0: none under way)
        self.longest_s = 0.0  # the longest write so far
        self.worker = Mailbox(node, "state messages", self._write, priority)

    def publish(self, st: RobotState) -> float:
        self.worker.post(st)
        return 0.0

    def _write(self, st: RobotState) -> None:
        self._since = t0 = time.monotonic()
        try:
            js, imu = self.msgs.fill(st)
            self.imu.publish(imu)  # IMU first: a subscriber reads it with the joint state
            self.joints.publish(js)
        finally:
            self._since = 0.0
            self.longest_s = max(self.longest_s, time.monotonic() - t0)

    def stuck_s(self) -> float:
        """How long the write under way has been in the middleware (0: none under way)."""
        since = self._since
        return 0.0 if not since else time.monotonic() - since

    def stats(self) -> dict[str, Any]:
        return {"dropped": self.worker.dropped, "longest_write_ms": round(
            1e3 * self.longest_s, 2), "stuck_s": round(self.stuck_s(), 3),
                "realtime_error": self.worker.realtime_error}

    def stop(self) -> None:
        self.worker.stop()


class _MessageCommandPublisher:
    def __init__(self, node: Any, topic: str) -> None:
        self.pub = publisher(node, JointState, topic, COMMAND_QOS)
        self.msg = JointState()

    def publish(self, c: Command) -> float:
        assert c.cmd is not None
        self.pub.publish(command_to_msg(c.cmd, c.stamp, c.mode, self.msg, c.session, c.seq))
        return 0.0


def read_command(spec: RobotSpec, msg: JointState) -> Command:
    """A command message as a `Command` (``cmd`` None and ``error`` set if it cannot be read)."""
    try:
        mode, session, seq = parse_frame(msg.header.frame_id)
    except ValueError as e:
        return Command(None, 0.0, "", "?", -1, str(e))
    try:
        cmd, mode, stamp = msg_to_command(spec, msg, mode)
    except ValueError as e:
        return Command(None, 0.0, "", session, seq, str(e))
    return Command(cmd, stamp, mode, session, seq)


class Middleware:
    """Every stream through the ROS middleware (topics, `robot_rl_ros.qos`)."""

    def state_publisher(self, node: Any, spec: RobotSpec, priority: int = 0
                        ) -> StatePublisher:
        """(``priority``: the message writer's SCHED_FIFO priority; the messages are the
        route to the policy and safety nodes here.)"""
        return _MessageStatePublisher(node, spec, priority)

    def command_publisher(self, node: Any, topic: str) -> CommandPublisher:
        return _MessageCommandPublisher(node, topic)

    def subscribe_state(self, node: Any, spec: RobotSpec, callback: Callable[[RobotState], None],
                        refuse: Callable[[str, str], None], order: int = 0) -> None:
        latest: list[Imu | None] = [None]

        def on_imu(msg: Imu) -> None:
            latest[0] = msg

        def on_joints(msg: JointState) -> None:
            try:
                st = joint_state_to_state(spec, msg, latest[0])
            except ValueError as e:
                refuse(STATE, str(e))
                return
            callback(st)

        subscribe(node, Imu, "/imu/data", on_imu, STATE_QOS)
        subscribe(node, JointState, STATE, on_joints, STATE_QOS)

    def subscribe_command(self, node: Any, spec: RobotSpec, topic: str,
                          callback: Callable[[Command], None]) -> None:
        subscribe(node, JointState, topic, lambda msg: callback(read_command(spec, msg)),
                  COMMAND_QOS)

    def drop(self, node: Any) -> None:
        """(A node's subscriptions go with the node.)"""


# -- direct hand-over -------------------------------------------------------------------------
class _Bus:
    """Direct calls to the subscribers of each topic, in the publishing thread."""

    def __init__(self) -> None:
        self._subs: dict[str, tuple[tuple[Any, Callable[[Any], None], int], ...]] = {
            t: () for t in TOPICS}
        self._lock = threading.Lock()
        self.errors = 0
        self._inflight = 0
        self.last_error = ""
        self._log = NodeLog("intra_process")

    def subscribe(self, owner: Any, topic: str, callback: Callable[[Any], None],
                  order: int = 0) -> None:
        """``callback(item)`` on every `deliver` of ``topic``, in the delivering thread;
        subscribers with a lower ``order`` first."""
        if topic not in self._subs:
            raise ValueError(f"no direct hand-over for topic '{topic}'; topics: "
                             f"{', '.join(TOPICS)}")
        with self._lock:  # copy-on-write: deliver() takes a snapshot
            subs = (*self._subs[topic], (owner, callback, order))
            self._subs[topic] = tuple(sorted(subs, key=lambda s: s[2]))

    def drop(self, owner: Any, timeout: float = 1.0) -> None:
        """``owner`` receives nothing more (its node was taken out of the graph): on return
        no call into it is under way (deliveries that began before are waited for, up to
        ``timeout``; call it from outside the subscribers' callbacks)."""
        with self._lock:
            self._subs = {t: tuple(s for s in subs if s[0] is not owner)
                          for t, subs in self._subs.items()}
        t_end = time.monotonic() + timeout
        while self._inflight and time.monotonic() < t_end:
            time.sleep(0.0005)

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._subs[topic])

    def deliver(self, topic: str, item: Any) -> float:
        """Hand ``item`` to every subscriber of ``topic``; the thread CPU [s] they took."""
        with self._lock:
            self._inflight += 1
            subs = self._subs[topic]
        c0 = time.thread_time()
        try:
            for owner, callback, _ in subs:
                try:
                    callback(item)
                except Exception as e:  # never into the publisher's (the bridge's) loop
                    self.errors += 1
                    name = owner.get_name() if hasattr(owner, "get_name") else repr(owner)
                    self.last_error = f"{name} on {topic}: {type(e).__name__}: {e}"
                    self._log.error(f"subscriber failed: {self.last_error}", throttle_s=1.0)
        finally:
            with self._lock:
                self._inflight -= 1
        return time.thread_time() - c0


class _DirectPublisher:
    def __init__(self, bus: _Bus, topic: str, messages: Any) -> None:
        self.bus, self.topic, self.messages = bus, topic, messages

    def publish(self, item: Any) -> float:
        cpu = self.bus.deliver(self.topic, item)  # this process's nodes first: the latency path
        self.messages.publish(item)  # then everyone else
        return cpu

    def stats(self) -> dict[str, Any]:
        return self.messages.stats()  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.messages.stop()


class IntraProcess(_Bus):
    """The chain's streams by direct call between this process's nodes, every message still
    published for the rest of the ROS graph."""

    def state_publisher(self, node: Any, spec: RobotSpec, priority: int = 0
                        ) -> StatePublisher:
        """(The messages are for the rest of the graph: their writer runs at normal priority
        whatever ``priority``.)"""
        return _DirectPublisher(self, STATE, _MessageStatePublisher(node, spec))

    def command_publisher(self, node: Any, topic: str) -> CommandPublisher:
        return _DirectPublisher(self, topic, _MessageCommandPublisher(node, topic))

    def subscribe_state(self, node: Any, spec: RobotSpec, callback: Callable[[RobotState], None],
                        refuse: Callable[[str, str], None], order: int = 0) -> None:
        self.subscribe(node, STATE, callback, order)

    def subscribe_command(self, node: Any, spec: RobotSpec, topic: str,
                          callback: Callable[[Command], None]) -> None:
        def with_gains(c: Command) -> None:
            assert c.cmd is not None
            callback(replace(c, cmd=with_mode_gains(spec, c.cmd, c.mode)))

        self.subscribe(node, topic, with_gains)


__all__ = ["COMMAND", "POLICY_COMMAND", "STATE", "Command", "IntraProcess", "Middleware",
           "Transport", "read_command"]
