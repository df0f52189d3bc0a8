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


class ArrivalGaps:
    """Wall-clock gaps between a stream's arrivals at a node (states at the policy node,
    policy commands at the safety node): the longest ones, to say where a stall was."""

    def __init__(self, keep: int = 5) -> None:
        self.keep = keep
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.longest: list[tuple[float, float]] = []  # (gap s, at s since the first), longest first

    def add(self, now: float) -> None:
        if self.last is not None:
            gap = now - self.last
            if len(self.longest) < self.keep or gap > self.longest[-1][0]:
                assert self.first is not None
                self.longest.append((gap, self.last - self.first))
                self.longest.sort(reverse=True)
                del self.longest[self.keep:]
        else:
            self.first = now
        self.last = now
        self.count += 1

    def summary(self) -> dict[str, object]:
        return {"arrivals": self.count,
                "longest_gaps_ms": [round(g * 1e3, 1) for g, _ in self.longest],
                "at_s": [round(t, 2) for _, t in self.longest]}
