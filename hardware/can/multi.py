"""Several CAN motor buses as one (`MultiCanBus`), e.g. quad12's 12 motors on 4 buses, one per leg.

Each cycle first sends on every bus, then serves all of them from one thread with ``select()``
on their file descriptors (socketcan sockets, slcan serial ports), so the buses' round trips
overlap without Python threads contending for the GIL. Buses whose python-can interface has no
file descriptor are run in worker threads instead. Units as in `hardware.can.bus`.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from hardware.can.bus import BusStats, CanMotorBus, MotorMap, MotorReading, _Cycle
from hardware.can.link import CanBusConfig, CanBusError
from hardware.can.mit import MitCommand

Result = tuple[dict[str, MotorReading], list[str]]


class MultiCanBus:
    """Several CanMotorBus cycled together, results merged (same API as CanMotorBus).

    Motor names must be unique across buses (CAN ids may repeat: each bus is its own id space).
    CanBusErrors of several buses are merged into one naming every motor concerned.
    """

    def __init__(self, buses: Sequence[CanMotorBus]) -> None:
        if not buses:
            raise ValueError("MultiCanBus needs at least one bus")
        self.buses = tuple(buses)
        self._owner: dict[str, CanMotorBus] = {}
        for b in self.buses:
            for name in b.motor_names:
                if name in self._owner:
                    raise ValueError(f"motor {name!r} is on both {self._owner[name].label} "
                                     f"and {b.label}")
                self._owner[name] = b
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def open(cls, specs: Sequence[tuple[CanBusConfig, MotorMap]], **kwargs: Any) -> MultiCanBus:
        """Open one CanMotorBus per (config, motors), all with the same keyword settings."""
        opened: list[CanMotorBus] = []
        try:
            for config, motors in specs:
                opened.append(CanMotorBus(config, motors, **kwargs))
        except BaseException:
            for b in opened:
                b.close()
            raise
        return cls(opened)

    @property
    def motor_names(self) -> tuple[str, ...]:
        return tuple(self._owner)

    @property
    def faulted(self) -> frozenset[str]:
        return frozenset(n for b in self.buses for n in b.faulted)

    @property
    def readings(self) -> dict[str, MotorReading]:
        return {k: v for b in self.buses for k, v in b.readings.items()}

    @property
    def stats(self) -> dict[str, BusStats]:
        return {b.label: b.stats for b in self.buses}

    def command(self, cmds: Mapping[str, MitCommand]) -> dict[str, MotorReading]:
        """One cycle on every bus concerned; readings of all commanded motors."""
        parts: dict[CanMotorBus, dict[str, MitCommand]] = {}
        for name, cmd in cmds.items():
            parts.setdefault(self._bus_of(name), {})[name] = cmd
        return self._run("command", parts)

    def enable(self, motors: Iterable[str] | None = None) -> dict[str, MotorReading]:
        """Enter motor mode on ``motors`` (names; default all)."""
        return self._run("enable", self._split_names(motors))

    def disable(self, motors: Iterable[str] | None = None) -> dict[str, MotorReading]:
        """Exit motor mode on ``motors`` (names; default all)."""
        return self._run("disable", self._split_names(motors))

    def zero(self, motors: Iterable[str] | None = None) -> dict[str, MotorReading]:
        """Set the current positions of ``motors`` (names; default all) as zero."""
        return self._run("zero", self._split_names(motors))

    def close(self) -> None:
        for b in self.buses:
            b.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> MultiCanBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bus_of(self, name: str) -> CanMotorBus:
        try:
            return self._owner[name]
        except KeyError:
            raise KeyError(f"no motor {name!r}; have {list(self._owner)}") from None

    def _split_names(self, motors: Iterable[str] | None) -> dict[CanMotorBus, Any]:
        if motors is None:
            return dict.fromkeys(self.buses)
        parts: dict[CanMotorBus, Any] = {}
        for name in motors:
            parts.setdefault(self._bus_of(name), []).append(name)
        return parts

    def _run(self, op: str, parts: Mapping[CanMotorBus, Any]) -> dict[str, MotorReading]:
        frames = {b: b._prepare(op, arg) for b, arg in parts.items()}
        fds = {b: b._fileno() for b in frames}
        if all(fd is not None for fd in fds.values()):
            results = self._cycle_select(frames, {b: fd for b, fd in fds.items() if fd is not None})
        else:
            results = self._cycle_threads(frames)
        out: dict[str, MotorReading] = {}
        errors: list[CanBusError] = []
        for b, (readings, missing) in results.items():
            out.update(readings)
            err = b._conclude(op, frames[b], readings, missing)
            if err is not None:
                errors.append(err)
        if errors:
            raise CanBusError("; ".join(str(e) for e in errors),
                              [i for e in errors for i in e.motor_ids], out)
        return out

    @staticmethod
    def _cycle_select(frames: Mapping[CanMotorBus, Mapping[str, bytes]],
                      fds: Mapping[CanMotorBus, int]) -> dict[CanMotorBus, Result]:
        with ExitStack() as stack:
            for b in frames:
                stack.enter_context(b._lock)
            cycles: dict[CanMotorBus, _Cycle] = {}
            try:
                for b, f in frames.items():
                    cycles[b] = b._begin(f)
                while True:
                    now = time.monotonic()
                    for b, cyc in cycles.items():
                        if not cyc.done and cyc.deadline <= now:
                            b._expire(cyc)
                    active = [b for b, cyc in cycles.items() if not cyc.done]
                    if not active:
                        break
                    # a buffering transport may hold frames already read off its fd
                    buffered = {b for b in active if b.has_buffered()}
                    wait = 0.0 if buffered else max(
                        0.0, min(cycles[b].deadline for b in active) - time.monotonic())
                    ready, _, _ = select.select([fds[b] for b in active], [], [], wait)
                    for b in active:
                        if fds[b] in ready or b in buffered:
                            b._take(cycles[b], b._receive(0.0))
                            while b.has_buffered() and not cycles[b].done:
                                b._take(cycles[b], b._receive(0.0))
            finally:  # also on errors: book unanswered frames as owed
                results = {b: b._end(cyc) for b, cyc in cycles.items()}
            return results

    def _cycle_threads(self, frames: Mapping[CanMotorBus, Mapping[str, bytes]]
                       ) -> dict[CanMotorBus, Result]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=len(self.buses),
                                            thread_name_prefix="can-bus")
        futures = {b: self._pool.submit(b._cycle_blocking, f) for b, f in frames.items()}
        return {b: fut.result() for b, fut in futures.items()}
