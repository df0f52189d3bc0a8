"""MIT-protocol motors on one CAN bus through python-can (`CanMotorBus`).

A cycle sends one frame per motor and collects the replies, waiting at most ``timeout`` s per
attempt and resending to the silent motors ``retries`` times. MIT replies carry no sequence
number, so the bus keeps count of the frames each motor still owes: a reply arriving after its
cycle ended is counted as late and dropped, never returned as a fresh reading of a later cycle.
Before a motor that owes replies is commanded again, the bus waits for them for up to
``late_horizon`` s after the unanswered frame (default 2 x timeout); replies later than that are
indistinguishable from fresh ones. A motor without a fresh reply is marked faulted and its last
reading is returned with ``fresh=False``; after ``max_misses`` consecutive misses `CanBusError`
names it. Units: rad, rad/s, N m, seconds (``time.monotonic``).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import can

from hardware.can.link import CanBusConfig, CanBusError, hint, open_can_bus
from hardware.can.mit import (
    COMMAND_DLC,
    REPLY_DLC,
    MitCommand,
    MitLimits,
    MitSpecial,
    pack_command,
    special_frame,
    unpack_reply,
)

MotorMap = Mapping[str, tuple[int, MitLimits]]


@dataclass(frozen=True)
class MotorReading:
    """One motor's state from a reply: p (rad), v (rad/s), tau (N m).

    ``stamp``: time.monotonic() at receipt (s, NaN if never); ``cycle``: the bus cycle whose frame
    it answered (-1 if never); ``fresh``: True only for a reply to the cycle just run.
    """

    name: str
    can_id: int
    p: float
    v: float
    tau: float
    stamp: float
    cycle: int
    fresh: bool
    temperature: int | None = None
    error: int | None = None


@dataclass
class BusStats:
    """Counters of one bus; times in seconds."""

    cycles: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    replies: int = 0
    timeouts: int = 0
    retries: int = 0
    late_replies: int = 0
    bad_frames: int = 0
    unsolicited: int = 0
    last_cycle_s: float = 0.0
    max_cycle_s: float = 0.0
    total_cycle_s: float = 0.0

    @property
    def mean_cycle_s(self) -> float:
        return self.total_cycle_s / self.cycles if self.cycles else 0.0


_SPECIALS = {"enable": (MitSpecial.ENTER_MOTOR_MODE, "enter motor mode"),
             "disable": (MitSpecial.EXIT_MOTOR_MODE, "exit motor mode"),
             "zero": (MitSpecial.SET_ZERO, "set zero")}


@dataclass
class _Cycle:
    """One cycle in progress: frames per motor, send / answer counts, fresh readings so far."""

    frames: dict[str, bytes]
    t0: float
    sent: dict[str, int]
    answered: dict[str, int]
    last_send: dict[str, float]
    fresh: dict[str, MotorReading] = field(default_factory=dict)
    attempt: int = 0
    deadline: float = 0.0
    done: bool = False


class CanMotorBus:
    """MIT-protocol motors on one CAN bus: ``motors`` maps name -> (CAN id, MitLimits).

    timeout: reply wait per attempt (s); retries: resends to silent motors per cycle;
    max_misses: consecutive missed cycles before CanBusError; late_horizon: how long after an
    unanswered frame a reply is still expected (s, default 2 x timeout); bus: an already open
    python-can bus (then ``config`` only labels it); disable_on_close: exit motor mode on
    `close`. Calls from several threads are serialised by a lock.
    """

    def __init__(self, config: CanBusConfig, motors: MotorMap, *, timeout: float = 0.005,
                 retries: int = 1, max_misses: int = 3, late_horizon: float | None = None,
                 bus: can.BusABC | None = None, disable_on_close: bool = True) -> None:
        if not motors:
            raise ValueError("CanMotorBus needs at least one motor")
        ids = [cid for cid, _ in motors.values()]
        bad = [cid for cid in ids if not 1 <= cid <= 0xFF]
        if bad or len(set(ids)) != len(ids):
            raise ValueError(f"motor CAN ids must be unique and in 1..255, got {ids}")
        if timeout <= 0 or retries < 0 or max_misses < 1:
            raise ValueError("need timeout > 0, retries >= 0, max_misses >= 1")
        self.config = config
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.max_misses = int(max_misses)
        self.late_horizon = 2.0 * self.timeout if late_horizon is None else float(late_horizon)
        self.disable_on_close = disable_on_close
        self.stats = BusStats()
        self._motors = {name: (int(cid), lim) for name, (cid, lim) in motors.items()}
        self._by_id = {cid: name for name, (cid, _) in self._motors.items()}
        nan = float("nan")
        self._last = {n: MotorReading(n, cid, nan, nan, nan, nan, -1, False)
                      for n, (cid, _) in self._motors.items()}
        self._misses = dict.fromkeys(self._motors, 0)
        self._owed: dict[str, tuple[int, float]] = {}  # name -> (replies owed, wait deadline)
        self._sent_data: dict[int, bytes] = {}
        self._enabled: set[str] = set()
        self._cycle = 0
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        if bus is None:
            bus, self._lock_fd = open_can_bus(config)
        self._bus: can.BusABC | None = bus

    # ---- public API -------------------------------------------------------------------------
    @property
    def label(self) -> str:
        return self.config.label

    @property
    def motor_names(self) -> tuple[str, ...]:
        return tuple(self._motors)

    @property
    def readings(self) -> dict[str, MotorReading]:
        """Last reading of every motor (``fresh`` as of the last cycle that commanded it)."""
        return dict(self._last)

    @property
    def faulted(self) -> frozenset[str]:
        """Motors whose last cycle brought no fresh reply."""
        return frozenset(n for n, k in self._misses.items() if k > 0)

    def enable(self, motors: Iterable[str | int] | None = None) -> dict[str, MotorReading]:
        """Enter motor mode (``FF..FC``); raises CanBusError naming motors that do not answer."""
        return self._run("enable", motors)

    def disable(self, motors: Iterable[str | int] | None = None) -> dict[str, MotorReading]:
        """Exit motor mode (``FF..FD``, zero torque); raises CanBusError for silent motors."""
        return self._run("disable", motors)

    def zero(self, motors: Iterable[str | int] | None = None) -> dict[str, MotorReading]:
        """Make the current positions the zero (``FF..FE``); raises CanBusError for silent ones."""
        return self._run("zero", motors)

    def command(self, cmds: Mapping[str, MitCommand]) -> dict[str, MotorReading]:
        """One cycle: send each command, collect replies; returns readings of the commanded motors.

        Commands outside a motor's limits are clamped (as the firmware would); a non-finite
        value raises ValueError before anything is sent. Raises CanBusError when a motor has
        missed ``max_misses`` cycles in a row (its ``readings`` attribute holds this cycle's).
        """
        return self._run("command", cmds)

    def close(self) -> None:
        """Exit motor mode on enabled motors (if ``disable_on_close``), then release the bus."""
        if self._bus is None:
            return
        if self.disable_on_close and self._enabled:
            try:
                self.disable(sorted(self._enabled))
            except CanBusError:
                pass
        try:
            self._bus.shutdown()
        except Exception:
            pass
        self._bus = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> CanMotorBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals ----------------------------------------------------------------------------
    def _motor(self, name: str) -> tuple[int, MitLimits]:
        try:
            return self._motors[name]
        except KeyError:
            have = list(self._motors)
            raise KeyError(f"no motor {name!r} on {self.label}; have {have}") from None

    def _resolve(self, motors: Iterable[str | int] | None) -> list[str]:
        if motors is None:
            return list(self._motors)
        names = []
        for m in motors:
            if isinstance(m, int):
                if m not in self._by_id:
                    raise KeyError(f"no motor with CAN id {m} on {self.label}")
                names.append(self._by_id[m])
            else:
                self._motor(m)
                names.append(m)
        return names

    def _prepare(self, op: str, arg: Any) -> dict[str, bytes]:
        """The frames of one operation: 'command' (arg: {name: MitCommand}) or a special one."""
        if op != "command":
            return dict.fromkeys(self._resolve(arg), special_frame(_SPECIALS[op][0]))
        frames: dict[str, bytes] = {}
        for name, cmd in arg.items():
            cid, lim = self._motor(name)
            try:
                frames[name] = pack_command(cmd, lim)
            except ValueError as e:
                raise ValueError(f"command for motor {name} (id {cid}): {e}") from None
        return frames

    def _conclude(self, op: str, frames: Mapping[str, bytes], readings: dict[str, MotorReading],
                  missing: list[str]) -> CanBusError | None:
        """Book-keeping after a cycle; the error to raise, if any."""
        if op == "command":
            dead = [n for n in missing if self._misses[n] >= self.max_misses]
            when = f"for {self.max_misses} consecutive cycles"
        else:
            dead, when = missing, f"to '{_SPECIALS[op][1]}'"
            if op == "enable":
                self._enabled.update(n for n in frames if n not in missing)
            elif op == "disable":
                self._enabled.difference_update(frames)
        if not dead:
            return None
        return CanBusError(self._silent(dead, when), [self._motors[n][0] for n in dead], readings)

    def _run(self, op: str, arg: Any) -> dict[str, MotorReading]:
        frames = self._prepare(op, arg)
        readings, missing = self._cycle_blocking(frames)
        err = self._conclude(op, frames, readings, missing)
        if err is not None:
            raise err
        return readings

    def _cycle_blocking(self, frames: Mapping[str, bytes]) -> tuple[dict[str, MotorReading],
                                                                     list[str]]:
        with self._lock:
            cyc = self._begin(frames)
            try:
                while not cyc.done:
                    left = cyc.deadline - time.monotonic()
                    if left > 0:
                        self._take(cyc, self._receive(left))
                    else:
                        self._expire(cyc)
            finally:
                result = self._end(cyc)
            return result

    def _silent(self, names: Sequence[str], when: str) -> str:
        who = ", ".join(f"id {self._motors[n][0]} ({n})" for n in names)
        late = self.stats.late_replies
        msg = (f"CAN bus {self.label}: motor {who} did not answer {when}"
               f"{f' ({late} late replies so far: raise the timeout?)' if late else ''}; check the "
               f"motor's power, its CAN id, the CAN-H/CAN-L wiring and 120 ohm termination, and "
               f"that the bus runs at {self.config.bitrate} bit/s")
        if len(names) == len(self._motors):
            msg += f"; no motor on this bus answers (adapter / bus-off?): {hint(self.config)}"
        return msg

    # A cycle in steps (so that MultiCanBus can interleave several buses in one thread):
    # _begin sends, _take books a received reply, _expire retries or ends an attempt, _end books.
    def _begin(self, frames: Mapping[str, bytes]) -> _Cycle:
        t0 = time.monotonic()
        self._cycle += 1
        self._await_owed(frames)
        cyc = _Cycle(dict(frames), t0, dict.fromkeys(frames, 0), dict.fromkeys(frames, 0),
                     dict.fromkeys(frames, t0), done=not frames)
        try:
            self._transmit(cyc, list(frames))
        except BaseException:
            self._end(cyc)  # book what was sent as owed, so its replies are never taken as fresh
            raise
        return cyc

    def _transmit(self, cyc: _Cycle, names: Iterable[str]) -> None:
        for name in names:
            self._send(self._motors[name][0], cyc.frames[name])
            cyc.sent[name] += 1
            cyc.last_send[name] = time.monotonic()
        cyc.deadline = time.monotonic() + self.timeout

    def _take(self, cyc: _Cycle, got: MotorReading | None) -> None:
        if got is None:
            return
        if got.name not in cyc.frames:
            self.stats.unsolicited += 1
            return
        cyc.answered[got.name] += 1
        cyc.fresh.setdefault(got.name, got)
        cyc.done = len(cyc.fresh) == len(cyc.frames)

    def _expire(self, cyc: _Cycle) -> None:
        """The attempt's deadline passed: resend to the silent motors, or end the cycle."""
        if cyc.attempt >= self.retries:
            cyc.done = True
            return
        cyc.attempt += 1
        pending = [n for n in cyc.frames if n not in cyc.fresh]
        self.stats.retries += len(pending)
        self._transmit(cyc, pending)

    def _end(self, cyc: _Cycle) -> tuple[dict[str, MotorReading], list[str]]:
        pending = [n for n in cyc.frames if n not in cyc.fresh]
        for name in cyc.frames:
            owed = cyc.sent[name] - cyc.answered[name]
            if owed > 0:
                self._owed[name] = (owed, cyc.last_send[name] + self.late_horizon)
            if name in cyc.fresh:
                self._last[name] = cyc.fresh[name]
                self._misses[name] = 0
            else:
                self._last[name] = replace(self._last[name], fresh=False)
                self._misses[name] += 1
        self.stats.replies += len(cyc.fresh)
        self.stats.timeouts += len(pending)
        dt = time.monotonic() - cyc.t0
        self.stats.cycles += 1
        self.stats.last_cycle_s = dt
        self.stats.max_cycle_s = max(self.stats.max_cycle_s, dt)
        self.stats.total_cycle_s += dt
        return {n: self._last[n] for n in cyc.frames}, pending

    def _fileno(self) -> int | None:
        """The bus's file descriptor for select(), if the interface has one."""
        try:
            return None if self._bus is None else int(self._bus.fileno())
        except (NotImplementedError, OSError, can.CanError):
            return None

    def _await_owed(self, names: Iterable[str]) -> None:
        """Wait for late replies still owed by ``names`` (up to their deadlines), dropping them."""
        waiting = [n for n in names if n in self._owed]
        while waiting:
            left = max(self._owed[n][1] for n in waiting) - time.monotonic()
            if left <= 0:
                break
            got = self._receive(left)
            if got is not None:
                self.stats.unsolicited += 1
            waiting = [n for n in waiting if n in self._owed]
        for n in names:
            self._owed.pop(n, None)

    def has_buffered(self) -> bool:
        """Whether the transport holds received frames not yet taken (no fd readiness)."""
        return bool(getattr(self._bus, "pending", False))

    def _receive(self, timeout: float) -> MotorReading | None:
        """Next reply as a fresh reading; None on timeout or for bad / late / foreign frames."""
        bus = self._bus
        if bus is None:
            raise CanBusError(f"CAN bus {self.label} is closed")
        try:
            msg = bus.recv(timeout)
        except (ValueError, IndexError):  # garbage on a serial adapter line
            self.stats.frames_received += 1
            self.stats.bad_frames += 1
            return None
        except can.CanError as e:
            raise CanBusError(f"CAN bus {self.label}: receive failed ({e}); {hint(self.config)}"
                              ) from e
        if msg is None:
            return None
        stamp = time.monotonic()
        self.stats.frames_received += 1
        data = bytes(msg.data)
        if msg.is_error_frame or msg.is_remote_frame or len(data) not in (REPLY_DLC, COMMAND_DLC):
            self.stats.bad_frames += 1
            return None
        if len(data) == COMMAND_DLC and self._sent_data.get(msg.arbitration_id) == data:
            return None  # our own frame echoed back by the adapter
        name = self._by_id.get(data[0])
        if name is None:
            self.stats.unsolicited += 1
            return None
        cid, lim = self._motors[name]
        owed = self._owed.get(name)
        if owed is not None:
            count, deadline = owed
            if count > 1 and stamp <= deadline:
                self._owed[name] = (count - 1, deadline)
            else:
                del self._owed[name]
            if stamp <= deadline:
                self.stats.late_replies += 1
                return None
        reply = unpack_reply(data, lim)
        return MotorReading(name, cid, reply.p, reply.v, reply.tau, stamp, self._cycle, True,
                            reply.temperature, reply.error)

    def _send(self, can_id: int, data: bytes) -> None:
        bus = self._bus
        if bus is None:
            raise CanBusError(f"CAN bus {self.label} is closed")
        msg = can.Message(arbitration_id=can_id, data=data, is_extended_id=False)
        try:
            bus.send(msg, timeout=self.timeout)
        except (can.CanError, OSError) as e:
            code = getattr(e, "errno", None) or getattr(e.__cause__, "errno", None)
            reasons = {errno.ENETDOWN: f"{self.config.channel} is down",
                       errno.ENOBUFS: "transmit queue full: no node acknowledges frames or the "
                                      "bus is off (check wiring, termination and bitrate)"}
            why = reasons.get(code or 0, str(e))
            raise CanBusError(f"CAN bus {self.label}: sending to motor id {can_id} failed: {why}; "
                              f"{hint(self.config)}", [can_id]) from e
        self._sent_data[can_id] = data
        self.stats.frames_sent += 1
