"""Intra-process hand-over for the in-process graph.

rclpy has no intra-process communication (rclcpp's ``use_intra_process_comms``): a message
between two nodes of one process still goes through the middleware and a wake-up of the
executor thread, ~1 ms per hop on these VMs, three hops from a state to its command. In the
in-process graph the nodes therefore also hand the deploy chain's data to each other by a
direct call in the publishing thread, as ros2_control chains controllers in one process:

- ``state``: the bridge's `RobotState` (fresh per reading) to the policy and safety nodes;
- ``policy_command``: ``(JointCommand, stamp)`` from the policy node to the safety node;
- ``command``: ``(JointCommand, stamp)`` from the safety node to the bridge.

The bridge's loop thread only hands each state over: the policy and safety nodes take it in
their own worker threads (`robot_rl_ros.worker.Mailbox`), so no node's work runs in the
loop (a slow policy step must not stall it; issue 21). Every topic is still published for observers
(recorders, tools, other processes); only the nodes of this process skip their subscription
to what the bus carries. A failing subscriber is logged and counted, never raised into the
publisher (the bridge's loop): the safety node's watchdog turns a missing command into hold,
then damping, as it does for a dead node. The multi-process graph has no bus.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from robot_rl_ros.log import NodeLog

TOPICS = ("state", "policy_command", "command")


class LocalBus:
    def __init__(self) -> None:
        self._subs: dict[str, tuple[tuple[Any, Callable[..., None], int], ...]] = {
            t: () for t in TOPICS}
        self._lock = threading.Lock()
        self.errors = 0
        self._inflight = 0
        self.last_error = ""
        self._log = NodeLog("local_bus")

    def subscribe(self, owner: Any, topic: str, callback: Callable[..., None],
                  order: int = 0) -> None:
        """``callback(*args)`` on every `deliver` of ``topic``, in the delivering thread;
        subscribers with a lower ``order`` first (the safety node takes the state before the
        policy runs on it, so that the chain judges the command against that state)."""
        if topic not in self._subs:
            raise ValueError(f"LocalBus has no topic '{topic}'; topics: {', '.join(TOPICS)}")
        with self._lock:  # copy-on-write: deliver() takes a snapshot
            subs = (*self._subs[topic], (owner, callback, order))
            self._subs[topic] = tuple(sorted(subs, key=lambda s: s[2]))

    def drop(self, owner: Any, timeout: float = 1.0) -> None:
        """``owner`` receives nothing more (its node was taken out of the graph): on return
        no call into it is under way (deliveries that began before are waited for, up to
        ``timeout``; call it from outside the bus's callbacks)."""
        with self._lock:
            self._subs = {t: tuple(s for s in subs if s[0] is not owner)
                          for t, subs in self._subs.items()}
        t_end = time.monotonic() + timeout
        while self._inflight and time.monotonic() < t_end:
            time.sleep(0.0005)

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._subs[topic])

    def deliver(self, topic: str, *args: Any) -> None:
        with self._lock:
            self._inflight += 1
            subs = self._subs[topic]
        try:
            for owner, callback, _ in subs:
                try:
                    callback(*args)
                except Exception as e:  # never into the publisher's (the bridge's) loop
                    self.errors += 1
                    name = owner.get_name() if hasattr(owner, "get_name") else repr(owner)
                    self.last_error = f"{name} on {topic}: {type(e).__name__}: {e}"
                    self._log.error(f"subscriber failed: {self.last_error}", throttle_s=1.0)
        finally:
            with self._lock:
                self._inflight -= 1
