"""CPU accounting of a node's callbacks (thread CPU time, so it is per node even when several
nodes share one process and executor)."""

from __future__ import annotations


class NodeClock:
    def __init__(self) -> None:
        self.total = 0.0
        self.calls = 0

    def add(self, seconds: float) -> None:
        self.total += seconds
        self.calls += 1

    def exclude(self, seconds: float) -> None:
        """Take back time spent in another node's callback called from this one's."""
        self.total -= seconds
