"""`Mailbox`: a node's own worker thread fed with the newest item only. The thread that
delivers a state (the node's executor, or in the in-process graph the bridge's loop thread,
`robot_rl_ros.transport`) only posts it here.

The bridge's 500 Hz loop must never run a node's work: a policy step (or a safety chain tick
that runs a recovery policy) that takes 330 ms would stall the loop and every timeout in it.
So the loop only posts the state here and returns; the node's worker takes the newest one
(older ones not yet taken are dropped: a late state is worthless) and runs the node's
callback on it. An exception in it is contained (logged and counted on the
node, `robot_rl_ros.contain`), and the worker goes on with the next item.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from robot_rl.runtime.realtime import set_thread_realtime
from robot_rl_ros.contain import record


class Mailbox:
    """Args: owner: the node (its errors are counted there); what: the thread's name;
    fn: the work, called with each item taken; priority: 0, or the worker's SCHED_FIFO
    priority (the deploy config's ``executor_realtime_priority``: below the bridge loop's, so
    a wake-up is not left waiting behind normal threads; where refused, ``realtime_error``
    says why and it runs normally)."""

    def __init__(self, owner: Any, what: str, fn: Callable[[Any], None],
                 priority: int = 0) -> None:
        self.owner, self.what, self.fn = owner, what, fn
        self.priority = priority
        self.realtime_error: str | None = None
        self._item: Any = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.dropped = 0  # items replaced before the worker took them
        self.thread = threading.Thread(target=self._run, daemon=True, name=what)
        self.thread.start()

    def post(self, item: Any) -> None:
        """(Any thread) leave ``item`` for the worker, replacing one not yet taken."""
        if self._item is not None:
            self.dropped += 1
        self._item = item
        self._wake.set()

    def _run(self) -> None:
        if self.priority:
            self.realtime_error = set_thread_realtime(self.priority)
        while not self._stop.is_set():
            if not self._wake.wait(0.2):
                continue
            self._wake.clear()
            item, self._item = self._item, None
            if item is None or self._stop.is_set():
                continue
            try:
                self.fn(item)
            except Exception as e:  # contained: the next item is handled as usual
                record(self.owner, self.what, e)

    def stop(self, timeout: float = 1.0) -> None:
        """No item is taken after this; on return the work under way is over (waited for up
        to ``timeout``), so the node can be destroyed."""
        self._stop.set()
        self._wake.set()
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)


__all__ = ["Mailbox"]
