"""A virtual servo chain on a pseudo-terminal, byte for byte like real servos.

:class:`VirtualServoBus` opens a pty (``os.openpty``, raw mode) and answers on its master
side; any serial client (our :class:`~hardware.servo.bus.MotorBus`, ``dynamixel_sdk``,
``scservo_sdk``) opens :attr:`VirtualServoBus.port` (e.g. ``/dev/pts/5``) as if it were a
USB adapter. Incoming bytes go through the same incremental parser a servo's firmware
runs; each motor keeps a control table of its real size and factory defaults and answers
PING / READ / WRITE / SYNC_READ / SYNC_WRITE (and Dynamixel REBOOT) with status packets
after its Return Delay Time. A sync read gets one status packet per id, in the requested
order. A motor only understands the line if the baud rate the client set equals the one
in its Baud_Rate register, so a wrong baud rate means silence, as on a real bus.

Motion comes from a ``backend`` (:class:`ServoBackend`): the bus reads positions (ticks)
and velocities (ticks/s) from it and forwards goal positions, torque switches and the
position loop's gains: the kp and kd its P and D registers hold (through the model's
`hardware.servo.protocol.PositionGains`, the driver's own conversion), from the factory
defaults on, never the gains a policy was trained with. Backend methods are called from the
server thread. :class:`FirstOrderBackend` is a small
in-memory one for tests.

Fault injection: ``drop_replies``, ``corrupt_replies``, ``delay_replies``, ``late_replies``,
``disconnect``, ``set_hardware_error``, ``clear_faults``. Stand-alone on a pty: ``python -m
hardware.virtual servo-bus`` (`hardware.virtual.__main__`).
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import random
import select
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from hardware.servo import protocol as sp

_BAUD_CONSTANTS = {getattr(termios, f"B{n}"): n for n in (
    9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000,
    1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000) if hasattr(termios, f"B{n}")}
_INTERBYTE_TIMEOUT_S = 0.05  # a half-received instruction is discarded after this silence


class ServoBackend(Protocol):
    """What moves the motors (a physics model, or :class:`FirstOrderBackend`).

    ``read_positions`` -> {id: ticks}; ``read_velocities`` -> {id: ticks/s};
    ``write_goals({id: ticks})``; ``set_torque(id, on)`` (on = track the goal, off = limp);
    ``set_gains(id, kp, kd)``: the position loop's gains its registers hold [N m/rad, N m s/rad].
    """

    def read_positions(self) -> dict[int, int]: ...
    def read_velocities(self) -> dict[int, float]: ...
    def write_goals(self, goals: Mapping[int, int]) -> None: ...
    def set_torque(self, motor_id: int, on: bool) -> None: ...
    def set_gains(self, motor_id: int, kp: float, kd: float) -> None: ...


class FirstOrderBackend:
    """Each position follows its goal as a first-order lag (time constant ``tau_s``, s)
    while torque is on, and stays where it is while torque is off (its gains are kept in
    ``gains`` and do not change the lag)."""

    def __init__(self, ids: Iterable[int], *, tau_s: float = 0.05, initial_ticks: int = 2048,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tau_s = tau_s
        self._clock = clock
        self._t = clock()
        self.positions = {i: float(initial_ticks) for i in ids}
        self.goals = dict(self.positions)
        self.torque = dict.fromkeys(self.positions, False)
        self.gains: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _advance(self) -> None:
        now = self._clock()
        dt, self._t = now - self._t, now
        if dt > 0:
            a = 1.0 - math.exp(-dt / self.tau_s)
            for i, on in self.torque.items():
                if on:
                    self.positions[i] += (self.goals[i] - self.positions[i]) * a

    def read_positions(self) -> dict[int, int]:
        with self._lock:
            self._advance()
            return {i: round(x) for i, x in self.positions.items()}

    def read_velocities(self) -> dict[int, float]:
        with self._lock:
            self._advance()
            return {i: (self.goals[i] - x) / self.tau_s if self.torque[i] else 0.0
                    for i, x in self.positions.items()}

    def write_goals(self, goals: Mapping[int, int]) -> None:
        with self._lock:
            self._advance()
            self.goals.update({i: float(g) for i, g in goals.items() if i in self.goals})

    def set_torque(self, motor_id: int, on: bool) -> None:
        with self._lock:
            self._advance()
            self.torque[motor_id] = bool(on)

    def set_gains(self, motor_id: int, kp: float, kd: float) -> None:
        self.gains[motor_id] = (kp, kd)

    def set_position(self, motor_id: int, ticks: float) -> None:
        """Move a joint by hand (ticks), e.g. while its torque is off."""
        with self._lock:
            self._advance()
            self.positions[motor_id] = float(ticks)


@dataclass
class FaultRule:
    """Fires for ``ids`` (None = every motor) with ``probability``, ``remaining`` times."""

    ids: frozenset[int] | None
    probability: float = 1.0
    remaining: int | None = None

    def fires(self, motor_id: int, rng: random.Random) -> bool:
        if self.ids is not None and motor_id not in self.ids:
            return False
        if self.remaining is not None and self.remaining <= 0:
            return False
        if rng.random() >= self.probability:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


class _Servo:
    """One motor's control table (a bytearray of the model's real size)."""

    def __init__(self, motor_id: int, spec: sp.ModelSpec) -> None:
        self.id, self.spec = motor_id, spec
        self.table = bytearray(spec.table_size)
        self.writable = bytearray(spec.table_size)
        for reg in spec.table.values():
            if reg.writable:
                self.writable[reg.address:reg.address + reg.size] = b"\x01" * reg.size
        for name, value in spec.defaults.items():
            self.set(name, value)
        self.set("Model_Number", spec.model_number)
        self.set("ID", motor_id)
        self.hw_error = 0

    def get(self, name: str) -> int:
        reg = self.spec.register(name)
        return reg.decode(self.table[reg.address:reg.address + reg.size])

    def set(self, name: str, value: int) -> None:
        reg = self.spec.register(name)
        lo, hi = reg.limits
        self.table[reg.address:reg.address + reg.size] = reg.encode(min(max(value, lo), hi))

    def overlaps(self, name: str, address: int, length: int) -> bool:
        reg = self.spec.table.get(name)
        return reg is not None and reg.address < address + length \
            and address < reg.address + reg.size


class VirtualServoBus:
    """Emulated servo chain behind a pty.

    Parameters
    ----------
    protocol : {"dynamixel", "feetech"}
    motors : mapping id -> model
        e.g. ``{1: "xl430-w250", 2: "xl430-w250"}`` or ``{1: "sts3215"}``.
    backend : ServoBackend, optional
        Default: a :class:`FirstOrderBackend` over the ids.
    seed : int
        Seed of the fault-injection random generator.
    """

    def __init__(self, protocol: str, motors: Mapping[int, str],
                 backend: ServoBackend | None = None, *, seed: int = 0) -> None:
        if protocol not in sp.PROTOCOLS:
            raise ValueError(f"protocol must be one of {sorted(sp.PROTOCOLS)}, not {protocol!r}")
        self.protocol = sp.PROTOCOLS[protocol]
        self.servos = {int(i): _Servo(int(i), sp.model_spec(m, protocol))
                       for i, m in motors.items()}
        self.backend: ServoBackend = backend or FirstOrderBackend(self.servos)
        self.stats = dict.fromkeys(("instructions", "replies", "dropped", "corrupted",
                                    "checksum_errors", "late"), 0)
        self._rng = random.Random(seed)
        self._drop: list[FaultRule] = []
        self._corrupt: list[FaultRule] = []
        self._delay: dict[int | None, float] = {}
        self._late: list[tuple[FaultRule, float, float]] = []  # rule, min and max delay
        self._fifo_until = 0.0  # nothing leaves before a late status packet still held back
        self._dead: set[int] = set()
        self._lock = threading.RLock()
        self._pending: list[tuple[float, int, bytes]] = []
        self._seq = itertools.count()
        self._parser = sp.PacketParser(self.protocol, status=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port: str = os.ttyname(self._slave)
        self._fds: tuple[int, ...] = (self._master, self._slave)
        self._serving = False
        self.last_exception: Exception | None = None  # last error raised while serving
        with self._lock:
            self._refresh()
            for servo in self.servos.values():
                servo.set("Goal_Position", servo.get("Present_Position"))
                self._apply_gains(servo)  # (the factory defaults' until written)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> VirtualServoBus:
        """Serve in a background (daemon) thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, daemon=True,
                                            name=f"virtual-servo-bus {self.port}")
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`close` (for a CLI process)."""
        self._serving, last_rx = True, time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                wait = min(0.02, max(0.0, self._pending[0][0] - now)) if self._pending else 0.02
                if select.select([self._master], [], [], wait)[0]:
                    try:
                        data = os.read(self._master, 4096)
                    except OSError:  # EAGAIN, or EIO while no client has the port open
                        data = b""
                    last_rx = time.monotonic() if data else last_rx
                    for packet in self._parser.feed(data):
                        with self._lock:
                            try:
                                self._handle(packet, last_rx)
                            except Exception as exc:  # a backend bug must not kill the bus
                                self.last_exception = exc
                elif self._parser.pending and now - last_rx > _INTERBYTE_TIMEOUT_S:
                    self._parser.clear()
                self._flush(time.monotonic())
        finally:
            self._serving = False
            self._close_fds()

    def close(self) -> None:
        """Stop serving and close the pty (clients then see the port vanish)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        if not self._serving:
            self._close_fds()

    def _close_fds(self) -> None:
        with self._lock:
            fds, self._fds = self._fds, ()
        for fd in fds:
            os.close(fd)

    def __enter__(self) -> VirtualServoBus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------- fault injection
    @staticmethod
    def _ids(ids: int | Iterable[int] | None) -> frozenset[int] | None:
        if ids is None:
            return None
        return frozenset([ids]) if isinstance(ids, int) else frozenset(ids)

    def drop_replies(self, ids: int | Iterable[int] | None = None, *, probability: float = 1.0,
                     count: int | None = None) -> None:
        """Swallow status packets of ``ids`` (None = all) with ``probability``; ``count``
        limits how many are dropped."""
        with self._lock:
            self._drop.append(FaultRule(self._ids(ids), probability, count))

    def corrupt_replies(self, ids: int | Iterable[int] | None = None, *,
                        probability: float = 1.0, count: int | None = None) -> None:
        """Send status packets with a wrong CRC / checksum."""
        with self._lock:
            self._corrupt.append(FaultRule(self._ids(ids), probability, count))

    def delay_replies(self, seconds: float, ids: int | Iterable[int] | None = None) -> None:
        """Answer ``seconds`` late (on top of the Return Delay Time)."""
        with self._lock:
            for i in self._ids(ids) or [None]:
                self._delay[i] = float(seconds)

    def late_replies(self, delay_s: float | tuple[float, float],
                     ids: int | Iterable[int] | None = None, *, probability: float = 1.0,
                     count: int | None = None) -> None:
        """Answer a fraction ``probability`` of the requests to ``ids`` (None = all; at most
        ``count`` requests) ``delay_s`` s late (or uniformly (min, max) s), past a client's
        timeout if longer, as a USB adapter's latency timer does: the line stays in order,
        later replies leave after the late ones. ``stats["late"]``: packets sent late."""
        lo, hi = (delay_s, delay_s) if isinstance(delay_s, int | float) else delay_s
        if not 0.0 <= lo <= hi:
            raise ValueError(f"delay_s must be >= 0 (or a range lo <= hi), not {delay_s!r}")
        with self._lock:
            self._late.append((FaultRule(self._ids(ids), probability, count), lo, hi))

    def disconnect(self, ids: int | Iterable[int]) -> None:
        """These motors vanish: they neither act on nor answer anything."""
        with self._lock:
            self._dead |= self._ids(ids) or set()

    def reconnect(self, ids: int | Iterable[int] | None = None) -> None:
        with self._lock:
            self._dead -= self._ids(ids) or set(self._dead)

    def set_hardware_error(self, motor_id: int, bits: int) -> None:
        """Raise hardware error ``bits`` (0x20 overload, 0x04 overheating; 0 clears).

        Dynamixel: sets Hardware Error Status (70) and the alert bit of every status
        packet; torque switches off when ``bits`` hit the Shutdown mask (until REBOOT).
        Feetech: the bits go into every status ERROR byte; torque switches off when they
        hit the Unloading Condition mask.
        """
        with self._lock:
            servo = self.servos[motor_id]
            servo.hw_error = bits
            dxl = self.protocol is sp.DYNAMIXEL
            servo.set("Hardware_Error_Status" if dxl else "Status", bits)
            if bits & servo.get("Shutdown" if dxl else "Unloading_Condition"):
                servo.set("Torque_Enable", 0)
                self.backend.set_torque(motor_id, False)

    def clear_faults(self) -> None:
        """Remove all injected drops, corruptions, delays, late replies, disconnections."""
        with self._lock:
            self._drop.clear()
            self._corrupt.clear()
            self._delay.clear()
            self._late.clear()
            self._dead.clear()

    # ----------------------------------------------------------- inspection
    def register(self, motor_id: int, name: str) -> int:
        """Current value of a named register of one motor."""
        with self._lock:
            return self.servos[motor_id].get(name)

    def set_register(self, motor_id: int, name: str, value: int) -> None:
        with self._lock:
            self.servos[motor_id].set(name, value)

    # -------------------------------------------------------------- serving
    def _line_baud(self) -> int | None:
        try:
            return _BAUD_CONSTANTS.get(termios.tcgetattr(self._slave)[4])
        except termios.error:
            return None

    def _listening(self) -> dict[int, _Servo]:
        baud = self._line_baud()
        return {i: s for i, s in self.servos.items() if i not in self._dead and
                (baud is None or s.spec.baudrates.get(s.get("Baud_Rate")) == baud)}

    def _refresh(self) -> None:
        positions = self.backend.read_positions()
        velocities = self.backend.read_velocities()
        sign = 1 if self.protocol is sp.DYNAMIXEL else -1  # Feetech subtracts its offset
        for i, servo in self.servos.items():
            if i in positions:
                servo.set("Present_Position", positions[i] + sign * servo.get("Homing_Offset"))
            if i in velocities:
                unit = servo.spec.velocity_unit_rad_s
                raw = round(velocities[i] * 2 * math.pi / servo.spec.ticks_per_rev / unit)
                servo.set("Present_Velocity", raw)
                servo.set("Moving", int(raw != 0))

    def _error(self, servo: _Servo, code: int = 0) -> int:
        if self.protocol is sp.DYNAMIXEL:
            return code | (0x80 if servo.hw_error else 0)
        return servo.hw_error

    def _read(self, servo: _Servo, address: int, length: int) -> tuple[int, bytes]:
        if length <= 0 or address + length > len(servo.table):
            return 7, b""
        return 0, bytes(servo.table[address:address + length])

    def _write(self, servo: _Servo, address: int, data: bytes, goals: dict[int, int]) -> int:
        """Apply a write like the firmware would; returns the Dynamixel error code."""
        end = address + len(data)
        if end > len(servo.table) or not all(servo.writable[address:end]):
            return 7
        dxl = self.protocol is sp.DYNAMIXEL
        if address < servo.spec.eeprom_end and dxl and servo.get("Torque_Enable"):
            return 7  # EEPROM is locked while torque is on
        old = bytes(servo.table[address:end])
        servo.table[address:end] = data
        goal = servo.get("Goal_Position")
        lo, hi = servo.get("Min_Position_Limit"), servo.get("Max_Position_Limit")
        if servo.overlaps("Goal_Position", address, len(data)) and not lo <= goal <= hi:
            if dxl and servo.get("Operating_Mode") == 3:
                servo.table[address:end] = old
                return 6  # data limit error
            servo.set("Goal_Position", min(max(goal, lo), hi))
        if servo.overlaps("Torque_Enable", address, len(data)):
            mask = servo.get("Shutdown" if dxl else "Unloading_Condition")
            if servo.hw_error & mask:
                servo.set("Torque_Enable", 0)
            self.backend.set_torque(servo.id, bool(servo.get("Torque_Enable")))
        if servo.overlaps("Goal_Position", address, len(data)):
            sign = 1 if dxl else -1
            goals[servo.id] = servo.get("Goal_Position") - sign * servo.get("Homing_Offset")
        g = servo.spec.gains
        if g is not None and (servo.overlaps(g.p_register, address, len(data))
                              or servo.overlaps(g.d_register, address, len(data))):
            self._apply_gains(servo)
        return 0

    def _apply_gains(self, servo: _Servo) -> None:
        """The backend's position loop takes the gains this servo's registers hold."""
        g = servo.spec.gains
        if g is not None:
            self.backend.set_gains(servo.id, *g.to_gains(servo.get(g.p_register),
                                                         servo.get(g.d_register)))

    def _wants_reply(self, servo: _Servo, instruction: int) -> bool:
        if self.protocol is sp.DYNAMIXEL:
            level = servo.get("Status_Return_Level")
            reading = instruction in (sp.READ, sp.SYNC_READ)
            return instruction == sp.PING or level >= 2 or (level == 1 and reading)
        reading = instruction in (sp.PING, sp.READ, sp.SYNC_READ)
        return reading or servo.get("Response_Status_Level") >= 1

    def _handle(self, packet: sp.Packet, now: float) -> None:
        self.stats["instructions"] += 1
        servos = self._listening()
        replies: list[tuple[_Servo, int, bytes]] = []
        goals: dict[int, int] = {}
        target = servos.get(packet.motor_id)
        if not packet.valid:
            self.stats["checksum_errors"] += 1
            if target is not None and self.protocol is sp.DYNAMIXEL:
                replies.append((target, self._error(target, sp.DXL_CRC_ERROR), b""))
            self._schedule(replies, now)
            return
        instr, broadcast = packet.instruction, packet.motor_id == sp.BROADCAST_ID
        try:
            if instr == sp.SYNC_WRITE and broadcast:
                address, _, items = self.protocol.unpack_sync_write(packet.params)
                for i, data in items.items():
                    if i in servos:
                        self._write(servos[i], address, data, goals)
            elif instr == sp.SYNC_READ and broadcast:
                address, length, ids = self.protocol.unpack_sync_read(packet.params)
                self._refresh()
                for i in ids:
                    if i in servos:
                        code, data = self._read(servos[i], address, length)
                        replies.append((servos[i], self._error(servos[i], code), data))
            elif instr == sp.PING:
                for servo in servos.values() if broadcast else [target] if target else []:
                    model = servo.spec.model_number.to_bytes(2, "little")
                    params = model + bytes([servo.get("Firmware_Version")]) \
                        if self.protocol is sp.DYNAMIXEL else b""
                    replies.append((servo, self._error(servo), params))
            elif instr == sp.READ and target is not None:
                self._refresh()
                code, data = self._read(target, *self.protocol.unpack_read(packet.params))
                replies.append((target, self._error(target, code), data))
            elif instr == sp.WRITE:
                address, data = self.protocol.unpack_write(packet.params)
                for servo in servos.values() if broadcast else [target] if target else []:
                    code = self._write(servo, address, data, goals)
                    if not broadcast and self._wants_reply(servo, sp.WRITE):
                        replies.append((servo, self._error(servo, code), b""))
            elif instr == sp.REBOOT and self.protocol is sp.DYNAMIXEL and target is not None:
                target.hw_error = 0
                target.set("Hardware_Error_Status", 0)
                target.set("Torque_Enable", 0)
                self.backend.set_torque(target.id, False)
                replies.append((target, 0, b""))
            elif target is not None and self.protocol is sp.DYNAMIXEL:
                replies.append((target, self._error(target, 2), b""))  # instruction error
        except ValueError:  # malformed parameters
            if target is not None and self.protocol is sp.DYNAMIXEL:
                replies.append((target, self._error(target, 5), b""))  # data length error
        if goals:
            self.backend.write_goals(goals)
        if self.protocol is not sp.DYNAMIXEL:  # Feetech servos stay silent on a bad request
            replies = [r for r in replies if r[2] or instr in (sp.PING, sp.WRITE)]
        self._schedule([r for r in replies if self._wants_reply(r[0], instr)], now)
        for servo in list(self.servos.values()):  # an ID write re-addresses the motor
            new_id = servo.get("ID")
            if new_id != servo.id and new_id not in self.servos:
                del self.servos[servo.id]
                servo.id = new_id
                self.servos[new_id] = servo

    def _lateness(self, ids: list[int]) -> float:
        """Extra delay (s) of one request's status packets: each ``late_replies`` rule draws
        once per request, for the first of ``ids`` it covers."""
        late = 0.0
        for rule, lo, hi in self._late:
            first = next((i for i in ids if rule.ids is None or i in rule.ids), None)
            if first is not None and rule.fires(first, self._rng):
                late = max(late, self._rng.uniform(lo, hi))
        return late

    def _schedule(self, replies: list[tuple[_Servo, int, bytes]], now: float) -> None:
        """Queue status packets; within one instruction they leave in order, and none
        overtakes a late one (``late_replies``) queued before it."""
        due = now
        byte_s = 10.0 / (self._line_baud() or 1_000_000)
        late = self._lateness([servo.id for servo, _, _ in replies]) if self._late else 0.0
        for servo, error, params in replies:
            if any(rule.fires(servo.id, self._rng) for rule in self._drop):
                self.stats["dropped"] += 1
                continue
            frame = self.protocol.status(servo.id, error, params)
            if any(rule.fires(servo.id, self._rng) for rule in self._corrupt):
                frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
                self.stats["corrupted"] += 1
            delay = servo.get("Return_Delay_Time") * servo.spec.return_delay_unit_s
            delay += self._delay.get(servo.id, self._delay.get(None, 0.0)) + late
            held = self._fifo_until > now + delay
            due = max(due, now + delay, self._fifo_until)
            heapq.heappush(self._pending, (due, next(self._seq), frame))
            due += len(frame) * byte_s
            if late or held:
                self._fifo_until = max(self._fifo_until, due)
                self.stats["late"] += bool(late)

    def _flush(self, now: float) -> None:
        while self._pending and self._pending[0][0] <= now:
            _, _, frame = heapq.heappop(self._pending)
            try:
                os.write(self._master, frame)
                self.stats["replies"] += 1
            except (BlockingIOError, OSError):
                pass  # nobody is reading the port: the bytes are lost, as on a real line

