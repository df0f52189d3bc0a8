"""Node logging through Python's `logging`, not rclpy's logger.

rclpy's logger looks up its caller with `inspect` on every call, which walks every loaded
module (thousands in a process that also imported torch): a single warning could stall an
executor for seconds. A node must never block on a log line, so nodes log here: same
``[LEVEL] [node]: message`` lines on stderr, with an optional per-call-site throttle.
"""

from __future__ import annotations

import logging
import sys
import time


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the call (a handler that kept the
    stream it was made with writes into a closed file once that stream is swapped, as
    pytest's capture and daemonising shells do)."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


_handler = _StderrHandler()
_handler.setFormatter(logging.Formatter("[%(levelname)s] [%(name)s]: %(message)s"))


class NodeLog:
    def __init__(self, name: str) -> None:
        self.log = logging.getLogger(f"robot_rl_ros.{name}")
        self.log.name = name
        if _handler not in self.log.handlers:
            self.log.addHandler(_handler)
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        self._last: dict[str, float] = {}

    def _emit(self, level: int, msg: str, throttle_s: float, key: str | None) -> None:
        if throttle_s > 0:
            k = key or msg[:40]
            now = time.monotonic()
            if now - self._last.get(k, -1e9) < throttle_s:
                return
            self._last[k] = now
        self.log.log(level, msg)

    def info(self, msg: str, throttle_s: float = 0.0, key: str | None = None) -> None:
        self._emit(logging.INFO, msg, throttle_s, key)

    def warning(self, msg: str, throttle_s: float = 0.0, key: str | None = None) -> None:
        self._emit(logging.WARNING, msg, throttle_s, key)

    def error(self, msg: str, throttle_s: float = 0.0, key: str | None = None) -> None:
        self._emit(logging.ERROR, msg, throttle_s, key)
