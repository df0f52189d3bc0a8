"""Serial-bus servo drivers (Dynamixel Protocol 2.0, Feetech STS) over pyserial.

One base class, :class:`MotorBus`, holds all the logic (opening, transactions, retries,
statistics, sync read/write); :class:`DynamixelBus` and :class:`FeetechBus` only pick the
wire protocol. Every value returned was read from the motor in that call: on a failure
the driver raises, it never falls back to a cached value.

Timing: ``timeout_s`` bounds the wait for each status packet (per attempt); a failed
attempt (timeout, bad CRC/checksum, CRC error reported by the motor) is retried
``retries`` times, then a :class:`MotorError` subclass names the motor, register and cause.

Replies are matched to requests; neither protocol has sequence numbers, and a late status
packet can have the very shape of the next answer (Present_Position and Present_Velocity
are both 2 bytes on an STS3215, both 4 on a Dynamixel X). An attempt takes a packet only
from the motor it awaits next (request order), with a valid CRC/checksum and the data
length the instruction returns (an empty Dynamixel error status is taken, and raises);
any other is discarded and counted in ``stats.late_replies``. When an attempt is given up,
the motors it still awaited *settle* for ``settle_s``: no request expecting their replies
is sent before then, and every packet arriving meanwhile is read, discarded and counted
(``stats.late_max_s``: how long after its request the latest came). The attempt stays a
failed one, so retries and the final error follow the dropped-reply path; the error is a
:class:`LateReplyError` when the motor's replies were seen arriving late. Input left over
before a request is read, counted and flushed.

Guaranteed: a value returned was sent by that motor in a reply of that register's length,
and no packet arriving within ``settle_s`` of its request being given up (``timeout_s +
settle_s`` of its sending) is taken for another request's answer. Not guaranteed: a packet
later than that, with the id and length of a later request's answer, cannot be told apart
on the wire (raise ``settle_s``, or set an FTDI adapter's ``latency_timer`` to 1 ms). A
write expecting no reply (SYNC_WRITE, e.g. torque off) never waits for settling. Cost: a
given-up attempt delays the next request to its motors by ``settle_s``.
"""

from __future__ import annotations

import errno
import glob
import math
import os
import select
import termios
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn

import serial

from hardware.errors import HardwareError
from hardware.servo import protocol as sp

MotorRef = int | str
SCAN_HINT = "`robot-rl hardware scan`"


class BusError(HardwareError):
    """Anything that went wrong on a servo bus."""


class PortError(BusError):
    """The serial port could not be opened (missing, busy, no permission)."""


class NoResponseError(BusError):
    """The port opened but none of the declared motors answered (wrong baud, no power)."""


class MissingMotorsError(BusError):
    """Some declared motors did not answer, or answered with another model number."""


class MotorError(BusError):
    """A transaction with one motor failed; names the motor id, register and cause."""

    def __init__(self, motor_id: int, register: str, cause: str, name: str | None = None):
        self.motor_id, self.register, self.cause = motor_id, register, cause
        who = f"motor {motor_id}" + (f" ({name})" if name else "")
        super().__init__(f"{who}, register {register}: {cause}")


class MotorTimeoutError(MotorError):
    """No status packet arrived within the timeout, after every retry."""


class LateReplyError(MotorTimeoutError):
    """Every attempt timed out while the motor's status packets kept arriving late (after
    the timeout): they were discarded, never taken as another request's answer."""


class ChecksumError(MotorError):
    """Replies kept failing their CRC/checksum (or the motor reported a CRC error)."""


class MotorStatusError(MotorError):
    """The motor rejected the instruction (Dynamixel error codes 1..7)."""


class MotorHardwareError(MotorError):
    """The motor reports a hardware fault (overload, overheating, ...)."""

    def __init__(self, motor_id: int, register: str, cause: str, name: str | None = None,
                 bits: int = 0):
        self.bits = bits
        super().__init__(motor_id, register, cause, name)


@dataclass
class BusStats:
    """Counters since the bus was opened (or :meth:`MotorBus.reset_stats`)."""

    packets_sent: int = 0
    packets_received: int = 0
    retries: int = 0
    timeouts: int = 0
    checksum_errors: int = 0
    hardware_errors: int = 0
    late_replies: int = 0  # status packets that answered no request in flight: discarded
    late_max_s: float = 0.0  # latest of those from a given-up request: s after it was sent
    last_rtt_s: float = math.nan  # send -> last expected status packet, seconds


class _AttemptFailed(Exception):
    def __init__(self, kind: str, motor_id: int, detail: str, pending: Sequence[int]) -> None:
        super().__init__(detail)
        self.kind, self.motor_id, self.detail = kind, motor_id, detail
        self.pending = tuple(pending)  # motors whose status packets may still come


def _serial_ports() -> list[str]:
    pats = ("/dev/ttyUSB*", "/dev/ttyACM*", "/dev/serial/by-id/*", "/dev/tty.usb*")
    return sorted(p for pat in pats for p in glob.glob(pat))


class MotorBus:
    """A chain of servos on one serial port.

    Parameters
    ----------
    motors : mapping name -> (id, model)
        e.g. ``{"shoulder_pan": (1, "sts3215")}``; ids 0..252, models from
        :data:`hardware.servo.protocol.MODELS` of this bus's protocol.
    port : str, optional
        Serial device, e.g. ``/dev/ttyUSB0`` (can also be given to :meth:`open`).
    baudrate : int
        Bits per second (Dynamixel X and STS3215 are usually set to 1,000,000).
    timeout_s : float
        Wait for each status packet, seconds.
    retries : int
        Extra attempts after a timeout or a corrupted reply.
    settle_s : float
        How long a given-up attempt's replies may still come late, seconds (see above).
    raise_on_hardware_error : bool
        Raise :class:`MotorHardwareError` when a reply flags a hardware fault; when False
        the fault is counted in ``stats.hardware_errors`` and kept in ``hardware_alerts``.
    """

    protocol: ClassVar[sp.ServoProtocol]
    scan_baudrates: ClassVar[tuple[int, ...]]

    def __init__(self, motors: Mapping[str, tuple[int, str]], port: str | None = None,
                 baudrate: int = 1_000_000, *, timeout_s: float = 0.02, retries: int = 2,
                 settle_s: float = 0.1, raise_on_hardware_error: bool = True) -> None:
        self.motors: dict[str, tuple[int, sp.ModelSpec]] = {}
        seen: dict[int, str] = {}
        for name, (motor_id, model) in motors.items():
            if not 0 <= int(motor_id) < sp.BROADCAST_ID - 1:
                raise ValueError(f"motor {name!r}: id {motor_id} is outside 0..252")
            if motor_id in seen:
                raise ValueError(f"motors {seen[motor_id]!r} and {name!r} share id {motor_id}")
            seen[motor_id] = name
            self.motors[name] = (int(motor_id), sp.model_spec(model, self.protocol.name))
        self._names = {motor_id: name for name, (motor_id, _) in self.motors.items()}
        if timeout_s <= 0 or retries < 0 or settle_s < 0:
            raise ValueError("timeout_s must be > 0, retries >= 0 and settle_s >= 0")
        self.port, self.baudrate = port, baudrate
        self.timeout_s, self.retries, self.settle_s = timeout_s, retries, settle_s
        self.raise_on_hardware_error = raise_on_hardware_error
        self.stats = BusStats()
        self.hardware_alerts: dict[int, int] = {}
        self._ser: serial.Serial | None = None
        self._parser = sp.PacketParser(self.protocol, status=True)
        self._queue: deque[sp.Packet] = deque()
        self._settling: dict[int, tuple[float, float]] = {}  # id -> (request sent, until)
        self._late_log: list[tuple[int, float]] = []  # this exchange's (id, lateness s)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ port
    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def open(self, port: str | None = None, baudrate: int | None = None, *,
             check_motors: bool = True) -> None:
        """Open the port; with ``check_motors`` ping every declared motor and check models.

        Raises
        ------
        PortError
            The port does not exist, is used by another program, or is not accessible.
        NoResponseError
            None of the declared motors answered at this baud rate.
        MissingMotorsError
            Some motors are missing or report another model.
        """
        self.port = port or self.port
        self.baudrate = baudrate or self.baudrate
        if not self.port:
            raise PortError(f"no serial port given; list them with {SCAN_HINT}")
        self.close()
        if not os.path.exists(self.port):
            found = ", ".join(_serial_ports()) or "none found"
            raise PortError(f"serial port {self.port} does not exist (serial ports here: "
                            f"{found}); check the USB cable, then find the port with "
                            f"{SCAN_HINT} or `ls /dev/tty*`")
        try:
            self._ser = serial.Serial(self.port, self.baudrate, timeout=0, exclusive=True)
        except (serial.SerialException, OSError) as exc:
            code = getattr(exc, "errno", None)
            if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY) or "lock" in str(exc):
                raise PortError(f"serial port {self.port} is busy: another program holds it "
                                f"(close it; `fuser {self.port}` shows who)") from exc
            if code == errno.EACCES:
                raise PortError(f"no permission to open {self.port}: add yourself to the "
                                "'dialout' group (sudo usermod -aG dialout $USER), "
                                "then log in again") from exc
            raise PortError(f"cannot open serial port {self.port}: {exc}") from exc
        self.reset_stats()
        self._settling.clear()
        if check_motors and self.motors:
            try:
                self.check_motors()
            except BusError:
                self.close()
                raise

    def check_motors(self) -> None:
        """Ping every declared motor and compare model numbers (see :meth:`open`)."""
        found = self.scan([motor_id for motor_id, _ in self.motors.values()],
                          retries=self.retries)
        expected = {f"{motor_id} ({name})": spec for name, (motor_id, spec) in
                    self.motors.items()}
        if not found:
            raise NoResponseError(
                f"no motor answered on {self.port} at {self.baudrate} baud; expected ids "
                f"{', '.join(expected)} ({self.protocol.name}). Check the motor power "
                f"supply and the cable, then try other baud rates "
                f"({', '.join(map(str, self.scan_baudrates))}) with {SCAN_HINT}")
        problems = []
        for name, (motor_id, spec) in self.motors.items():
            if motor_id not in found:
                problems.append(f"motor {motor_id} ({name}) did not answer")
            elif found[motor_id] != spec.model_number:
                problems.append(f"motor {motor_id} ({name}) is model number "
                                f"{found[motor_id]}, expected {spec.name} "
                                f"({spec.model_number})")
        if problems:
            raise MissingMotorsError(f"on {self.port}: " + "; ".join(problems) +
                                     f"; motors that answered: {sorted(found)}. Check the "
                                     f"daisy chain and ids with {SCAN_HINT}")

    def close(self) -> None:
        with self._lock:
            if self._ser is not None:
                try:
                    self._ser.close()
                finally:
                    self._ser = None

    def __enter__(self) -> MotorBus:
        if not self.is_open:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset_stats(self) -> None:
        self.stats = BusStats()

    # ------------------------------------------------------------ transport
    def _resolve(self, motor: MotorRef) -> tuple[int, sp.ModelSpec | None]:
        if isinstance(motor, str):
            if motor not in self.motors:
                raise KeyError(f"unknown motor {motor!r}; declared: {sorted(self.motors)}")
            return self.motors[motor]
        name = self._names.get(int(motor))
        return int(motor), (self.motors[name][1] if name else None)

    def _register(self, motor: MotorRef, register: str) -> tuple[int, sp.Register]:
        motor_id, spec = self._resolve(motor)
        if spec is None:
            raise KeyError(f"motor id {motor_id} is not declared on this bus; declare it in "
                           f"the motors mapping to use named registers")
        return motor_id, spec.register(register)

    def _next_packet(self, deadline: float) -> sp.Packet | None:
        ser = self._ser
        assert ser is not None
        while not self._queue:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([ser.fileno()], [], [], remaining)
            if ready:
                self._queue.extend(self._parser.feed(ser.read(max(1, ser.in_waiting))))
        return self._queue.popleft()

    def _late(self, packet: sp.Packet) -> None:
        """Count and drop a status packet that answers no request in flight."""
        self.stats.late_replies += 1
        if packet.motor_id in self._settling:  # from a given-up request: how long after
            late = time.monotonic() - self._settling[packet.motor_id][0]
            self.stats.late_max_s = max(self.stats.late_max_s, late)
            self._late_log.append((packet.motor_id, late))

    def _settle(self, expect: Sequence[int]) -> None:
        """Read, count and drop the line's input; first until none of ``expect`` settles."""
        ser = self._ser
        assert ser is not None
        until = max((self._settling[i][1] for i in expect if i in self._settling),
                    default=0.0)
        while (packet := self._next_packet(until)) is not None:
            self._late(packet)
        for packet in self._parser.feed(ser.read(ser.in_waiting)):
            self._late(packet)
        self._parser.clear()  # a partial frame: its tail would look like garbage
        ser.reset_input_buffer()

    def _attempt(self, data: bytes, expect: Sequence[int], timeout_s: float,
                 reply_len: int | None) -> dict[int, sp.Packet]:
        ser = self._ser
        if ser is None:
            raise BusError("the bus is not open; call open() first")
        try:
            if expect:  # a write without replies goes out at once (it may be a torque off)
                self._settle(expect)
            t0 = time.monotonic()
            ser.write(data)
            self.stats.packets_sent += 1
            try:
                return self._collect(expect, timeout_s, t0, reply_len)
            except _AttemptFailed as fail:
                until = time.monotonic() + self.settle_s
                self._settling.update(dict.fromkeys(fail.pending, (t0, until)))
                raise
        except (serial.SerialException, OSError, termios.error) as exc:
            self.close()
            raise PortError(f"serial port {self.port} failed ({exc}); was the adapter "
                            "unplugged? Reconnect it and open the bus again") from exc

    def _fits(self, packet: sp.Packet, reply_len: int | None) -> bool:
        if reply_len is None or len(packet.params) == reply_len:
            return True  # a Dynamixel error status has no data (then _check_status raises)
        return self.protocol is sp.DYNAMIXEL and not packet.params and bool(packet.error & 0x7F)

    def _collect(self, expect: Sequence[int], timeout_s: float, t0: float,
                 reply_len: int | None) -> dict[int, sp.Packet]:
        replies: dict[int, sp.Packet] = {}
        for k, motor_id in enumerate(expect):
            deadline = time.monotonic() + timeout_s
            while True:
                packet = self._next_packet(deadline)
                if packet is None:
                    raise _AttemptFailed("timeout", motor_id, f"no status packet within "
                                         f"{timeout_s * 1e3:.0f} ms", expect[k:])
                if not packet.valid:
                    raise _AttemptFailed("checksum", motor_id, "bad CRC/checksum in reply",
                                         expect[k:])
                if packet.motor_id == motor_id and self._fits(packet, reply_len):
                    break
                self._late(packet)  # another motor's, or of another length: not this answer
            self.stats.packets_received += 1
            if self.protocol is sp.DYNAMIXEL and packet.error & 0x7F == sp.DXL_CRC_ERROR:
                raise _AttemptFailed("checksum", motor_id, "motor reported a CRC error",
                                     expect[k + 1:])
            replies[motor_id] = packet
        if expect:
            self.stats.last_rtt_s = time.monotonic() - t0
        return replies

    def _exchange(self, target: int, instruction: int, params: bytes, expect: Sequence[int],
                  register: str, *, reply_len: int | None = None,
                  timeout_s: float | None = None, retries: int | None = None
                  ) -> dict[int, sp.Packet]:
        """Send one instruction, collect status packets from ``expect`` in order (each with
        ``reply_len`` data bytes, None = any), retrying."""
        data = self.protocol.instruction(target, instruction, params)
        attempts = 1 + (self.retries if retries is None else retries)
        with self._lock:
            self._late_log.clear()
            for attempt in range(attempts):
                if attempt:
                    self.stats.retries += 1
                try:
                    replies = self._attempt(data, expect, timeout_s or self.timeout_s,
                                            reply_len)
                    break
                except _AttemptFailed as fail:
                    last = fail
                    if fail.kind == "timeout":
                        self.stats.timeouts += 1
                    else:
                        self.stats.checksum_errors += 1
            else:
                self._raise(last, register, attempts)
        for motor_id, packet in replies.items():
            self._check_status(motor_id, packet, register)
        return replies

    def _raise(self, last: _AttemptFailed, register: str, attempts: int) -> NoReturn:
        kind: type[MotorError] = MotorTimeoutError if last.kind == "timeout" else ChecksumError
        late = [s for i, s in self._late_log if i == last.motor_id]
        detail = last.detail
        if kind is MotorTimeoutError and late:
            kind = LateReplyError
            detail += (f"; {len(late)} of its replies came late (up to {max(late) * 1e3:.0f} "
                       "ms after the request), discarded: a USB adapter's latency timer?")
        raise kind(last.motor_id, register, f"{detail} (after {attempts} attempt"
                   f"{'s' * (attempts > 1)} at {self.baudrate} baud)",
                   self._names.get(last.motor_id))

    def _check_status(self, motor_id: int, packet: sp.Packet, register: str) -> None:
        error, name = packet.error, self._names.get(motor_id)
        if self.protocol is sp.DYNAMIXEL and error & 0x7F:
            raise MotorStatusError(motor_id, register, f"motor rejected the instruction: "
                                   f"{sp.DXL_ERRORS.get(error & 0x7F, hex(error))}", name)
        alert = error & sp.DXL_ALERT if self.protocol is sp.DYNAMIXEL else error
        if not alert:
            self.hardware_alerts.pop(motor_id, None)
            return
        self.stats.hardware_errors += 1
        self.hardware_alerts[motor_id] = error
        if not self.raise_on_hardware_error or register == "Hardware_Error_Status":
            return
        bits = error
        if self.protocol is sp.DYNAMIXEL:
            try:
                bits = self.read("Hardware_Error_Status", motor_id)
            except BusError:
                bits = 0
        raise MotorHardwareError(motor_id, register, "hardware error: " +
                                 self.protocol.describe_hardware_error(bits) +
                                 "; the motor may have switched its torque off" +
                                 (" until rebooted" if self.protocol is sp.DYNAMIXEL else ""),
                                 name, bits)

    # ------------------------------------------------------------- commands
    def ping(self, motor: MotorRef, *, timeout_s: float | None = None,
             retries: int | None = None) -> int:
        """Ping one motor; returns its model number. Raises :class:`MotorError`."""
        motor_id, _ = self._resolve(motor)
        ping_len = 3 if self.protocol.ping_reports_model else 0  # model (2) + firmware (1)
        reply = self._exchange(motor_id, sp.PING, b"", [motor_id], "PING", reply_len=ping_len,
                               timeout_s=timeout_s, retries=retries)[motor_id]
        if self.protocol.ping_reports_model:
            return int.from_bytes(reply.params[:2], "little")
        model_addr = 3  # Feetech: the PING status is empty; Model_Number lives at 3 (2 B)
        params = self.protocol.read_params(model_addr, 2)
        reply = self._exchange(motor_id, sp.READ, params, [motor_id], "Model_Number",
                               reply_len=2, timeout_s=timeout_s, retries=retries)[motor_id]
        return int.from_bytes(reply.params[:2], "little")

    def scan(self, ids: Iterable[int] = range(sp.BROADCAST_ID - 1), *,
             timeout_s: float | None = None, retries: int = 0) -> dict[int, int]:
        """Ping ``ids``; returns {id: model number} of those that answered."""
        found = {}
        with self._lock:
            raising, self.raise_on_hardware_error = self.raise_on_hardware_error, False
            try:
                for motor_id in ids:
                    try:
                        found[motor_id] = self.ping(motor_id, timeout_s=timeout_s,
                                                    retries=retries)
                    except (MotorTimeoutError, ChecksumError):
                        continue
                    except MotorError:  # answered, but rejected the request: it is there
                        found[motor_id] = -1
            finally:
                self.raise_on_hardware_error = raising
        return found

    @classmethod
    def scan_port(cls, port: str, baudrates: Iterable[int] | None = None,
                  ids: Iterable[int] = range(sp.BROADCAST_ID - 1), *, timeout_s: float = 0.01
                  ) -> dict[int, dict[int, int]]:
        """Try each baud rate on ``port``; returns {baudrate: {id: model}} where found."""
        results = {}
        for baud in baudrates or cls.scan_baudrates:
            bus = cls({}, port, baud, timeout_s=timeout_s)
            bus.open(check_motors=False)
            try:
                found = bus.scan(list(ids))
            finally:
                bus.close()
            if found:
                results[baud] = found
        return results

    def read(self, register: str, motor: MotorRef, *, timeout_s: float | None = None,
             retries: int | None = None) -> int:
        """Read a named register of one motor (integer, decoded sign)."""
        motor_id, reg = self._register(motor, register)
        params = self.protocol.read_params(reg.address, reg.size)
        reply = self._exchange(motor_id, sp.READ, params, [motor_id], register,
                               reply_len=reg.size, timeout_s=timeout_s,
                               retries=retries)[motor_id]
        return self._decode(reg, reply, motor_id)

    def _decode(self, reg: sp.Register, reply: sp.Packet, motor_id: int) -> int:
        if len(reply.params) != reg.size:
            raise MotorError(motor_id, reg.name, f"reply has {len(reply.params)} data bytes, "
                             f"expected {reg.size}", self._names.get(motor_id))
        return reg.decode(reply.params)

    def write(self, register: str, motor: MotorRef, value: int, *,
              timeout_s: float | None = None, retries: int | None = None) -> None:
        """Write a named register of one motor and wait for its status packet."""
        motor_id, reg = self._register(motor, register)
        if not reg.writable:
            raise ValueError(f"register {register} is read-only")
        params = self.protocol.write_params(reg.address, reg.encode(value))
        self._exchange(motor_id, sp.WRITE, params, [motor_id], register, reply_len=0,
                       timeout_s=timeout_s, retries=retries)

    def _group(self, register: str, motors: Iterable[MotorRef]
               ) -> tuple[sp.Register, list[tuple[MotorRef, int]]]:
        items, reg = [], None
        for motor in motors:
            motor_id, r = self._register(motor, register)
            if reg is not None and (r.address, r.size) != (reg.address, reg.size):
                raise ValueError(f"{register} differs between the motors of this group")
            reg = r
            items.append((motor, motor_id))
        if reg is None:
            raise ValueError("no motors given")
        return reg, items

    def sync_read(self, register: str, motors: Iterable[MotorRef] | None = None, *,
                  timeout_s: float | None = None, retries: int | None = None
                  ) -> dict[Any, int]:
        """Read one register of several motors with a single SYNC_READ.

        Returns a dict keyed like ``motors`` (names or ids; default: all declared motors by
        name). Status packets come back one per motor, in order.
        """
        reg, items = self._group(register, self.motors if motors is None else motors)
        ids = [motor_id for _, motor_id in items]
        params = self.protocol.sync_read_params(reg.address, reg.size, ids)
        replies = self._exchange(sp.BROADCAST_ID, sp.SYNC_READ, params, ids, register,
                                 reply_len=reg.size, timeout_s=timeout_s, retries=retries)
        return {ref: self._decode(reg, replies[motor_id], motor_id) for ref, motor_id in items}

    def sync_write(self, register: str, values: Mapping[Any, int]) -> None:
        """Write one register of several motors with a single SYNC_WRITE (no replies)."""
        reg, items = self._group(register, values)
        if not reg.writable:
            raise ValueError(f"register {register} is read-only")
        data = {motor_id: reg.encode(values[ref]) for ref, motor_id in items}
        params = self.protocol.sync_write_params(reg.address, reg.size, data)
        self._exchange(sp.BROADCAST_ID, sp.SYNC_WRITE, params, [], register)

    def torque_enable(self, motors: Iterable[MotorRef] | None = None, on: bool = True) -> None:
        """Switch torque on/off for ``motors`` (default: all), then read it back."""
        refs = list(self.motors if motors is None else motors)
        self.sync_write("Torque_Enable", {ref: int(on) for ref in refs})
        state = self.sync_read("Torque_Enable", refs)
        wrong = [ref for ref, value in state.items() if bool(value) != on]
        if wrong:
            motor_id, _ = self._resolve(wrong[0])
            raise MotorError(motor_id, "Torque_Enable", f"torque is still "
                             f"{'off' if on else 'on'} for {wrong} (hardware error?)",
                             self._names.get(motor_id))


class DynamixelBus(MotorBus):
    """ROBOTIS Dynamixel X series over Protocol 2.0."""

    protocol = sp.DYNAMIXEL
    scan_baudrates = (57_600, 1_000_000, 115_200, 2_000_000, 3_000_000, 4_000_000, 9_600)

    def reboot(self, motor: MotorRef) -> None:
        """REBOOT a motor (clears its hardware error; torque comes back off)."""
        motor_id, _ = self._resolve(motor)
        self._exchange(motor_id, sp.REBOOT, b"", [motor_id], "REBOOT", reply_len=0)


class FeetechBus(MotorBus):
    """Feetech STS series (STS3215) over the SCS/STS protocol."""

    protocol = sp.FEETECH
    scan_baudrates = (1_000_000, 500_000, 250_000, 128_000, 115_200, 57_600, 38_400)
