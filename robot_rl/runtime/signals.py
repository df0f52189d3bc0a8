"""`StopRequest`: a shutdown asked for by a signal (SIGINT, SIGTERM), safe to set from the
signal's handler.

Python runs a signal handler in the main thread between two bytecodes, wherever that thread
is, also inside ``threading.Event.wait`` on the very Event the handler would set: ``Event.set``
then waits for the Event's lock, which its own thread holds, and the process hangs for good,
every other thread that waits on that Event with it (seen: a node process outlived its
killed parent with its main thread blocked in ``Event.set`` three handlers deep, and its
watchdog thread blocked in ``Event.wait``). So the handler only assigns a string, and whoever
waits polls with ``time.sleep``, which a signal interrupts harmlessly.
"""

from __future__ import annotations

import signal
import time
from typing import Any

POLL_S = 0.05  # how often `wait` looks [s]


class StopRequest:
    """``is_set`` / ``wait`` / ``set`` as a ``threading.Event`` has them (so it can stand
    where one is expected), without a lock; ``reason`` says what asked (a signal's name)."""

    def __init__(self) -> None:
        self.reason = ""

    def set(self, reason: str = "stop requested") -> None:
        if not self.reason:
            self.reason = reason

    def is_set(self) -> bool:
        return bool(self.reason)

    def wait(self, timeout: float | None = None) -> bool:
        """Until set or ``timeout`` [s] (None: no limit); whether it is set."""
        t_end = None if timeout is None else time.monotonic() + timeout
        while not self.reason:
            left = POLL_S if t_end is None else min(POLL_S, t_end - time.monotonic())
            if left <= 0:
                break
            time.sleep(left)
        return bool(self.reason)

    def on_signals(self, *signals: signal.Signals) -> dict[signal.Signals, Any]:
        """Set this on each of ``signals`` (main thread only); returns the handlers replaced."""

        def handler(signum: int, frame: Any) -> None:
            self.set(signal.Signals(signum).name)

        return {sig: signal.signal(sig, handler) for sig in signals}


__all__ = ["StopRequest"]
