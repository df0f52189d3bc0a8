"""Emulated slcan (LAWICEL) USB-CAN adapter on a pty, with emulated MIT motors behind it.

`VirtualSlcanAdapter` opens ``os.openpty()``; ``.port`` is the slave path that python-can's
``slcan`` interface (or any serial client) opens like ``/dev/ttyACM0``. It speaks the ASCII
protocol the way CANable-class adapters do: ``Sn`` bitrate (closed only), ``O``/``L`` open
(normal / listen-only), ``C`` close, ``V``/``v`` version, ``N`` serial number, ``F`` status
flags, ``Z0``/``Z1`` timestamps, ``tIIILDD..``/``TIIIIIIIILDD..`` data and ``r``/``R`` remote
frames, each ended by ``\\r``. Answers: ``\\r`` OK, ``\\a`` error, ``z\\r``/``Z\\r`` after a
transmit; received frames come as ``tIIILDD..[TTTT]\\r``.

Behind it sit emulated MIT mini-cheetah motors (`EmulatedMitMotor`): like the reference firmware
they answer every frame addressed to them (special frames included) with a 6-byte reply to CAN
id ``reply_id`` (0, "CAN_MASTER"), ignore commands outside motor mode, and apply
tau = kp (p_des - p) + kd (v_des - v) + t_ff, saturated at +-t_max, to a `MotorBackend`. The PD law
is evaluated at each command frame and the torque held in between (the real firmware runs it at
tens of kHz; at 1 kHz-class command rates the difference is small). Faults: dropped, late,
corrupt replies, vanished motors, bus-off, bitrate mismatch. Units: rad, rad/s, N m, s.
"""

from __future__ import annotations

import heapq
import math
import os
import random
import select
import threading
import time
import tty
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from hardware.can.mit import (
    MitCommand,
    MitLimits,
    MitSpecial,
    pack_reply,
    parse_special,
    unpack_command,
)
from robot_rl.control.pd import pd_torque

# LAWICEL bitrate codes S0..S8 (bit/s)
SLCAN_BITRATES = {0: 10_000, 1: 20_000, 2: 50_000, 3: 100_000, 4: 125_000, 5: 250_000,
                  6: 500_000, 7: 800_000, 8: 1_000_000}
_OK, _ERR = b"\r", b"\a"
STATUS_ERROR_PASSIVE, STATUS_BUS_ERROR = 0x20, 0x80


class MotorBackend(Protocol):
    """What the emulated motors drive: per CAN id, a torque input and a measured state."""

    def apply(self, can_id: int, tau: float) -> None:
        """Set the joint torque (N m) from now on."""

    def state(self, can_id: int) -> tuple[float, float, float]:
        """(position rad, velocity rad/s, torque N m) now."""
        ...


class InertiaBackend:
    """Per motor a 1-DoF rotor: J dv/dt = tau - b v, dp/dt = v (semi-implicit Euler substeps).

    inertia J in kg m^2, damping b in N m s/rad. ``realtime``: integrate along the wall clock,
    holding each torque for at most ``hold_s`` (the drive's command timeout; then it coasts);
    otherwise every ``apply`` advances the motor by ``dt`` s with the new torque.
    """

    def __init__(self, ids: Iterable[int], *, inertia: float = 0.05, damping: float = 0.5,
                 q0: Mapping[int, float] | None = None, realtime: bool = True,
                 dt: float = 0.002, hold_s: float = 0.1, substep: float = 2.5e-4) -> None:
        self.inertia, self.damping = float(inertia), float(damping)
        self.realtime, self.dt, self.hold_s, self.substep = realtime, dt, hold_s, substep
        now = time.monotonic()
        self._p = {int(i): float((q0 or {}).get(int(i), 0.0)) for i in ids}
        self._v = dict.fromkeys(self._p, 0.0)
        self._tau = dict.fromkeys(self._p, 0.0)
        self._t = dict.fromkeys(self._p, now)
        self._t_apply = dict.fromkeys(self._p, now)
        self._lock = threading.Lock()

    def _integrate(self, i: int, duration: float, tau: float) -> None:
        steps = max(1, math.ceil(duration / self.substep))
        h = duration / steps
        p, v = self._p[i], self._v[i]
        for _ in range(steps):
            v += h * (tau - self.damping * v) / self.inertia
            p += h * v
        self._p[i], self._v[i] = p, v

    def _advance(self, i: int) -> None:
        if not self.realtime:
            return
        now = time.monotonic()
        held_until = self._t_apply[i] + self.hold_s
        if self._t[i] < held_until:
            end = min(now, held_until)
            self._integrate(i, end - self._t[i], self._tau[i])
            self._t[i] = end
        if now > self._t[i]:  # coasting, torque off: exact solution of J dv/dt = -b v
            if self._tau[i] != 0.0:
                self._tau[i] = 0.0
            decay = math.exp(-self.damping * (now - self._t[i]) / self.inertia)
            self._p[i] += self._v[i] * self.inertia / self.damping * (1.0 - decay)
            self._v[i] *= decay
            self._t[i] = now

    def apply(self, can_id: int, tau: float) -> None:
        with self._lock:
            self._advance(can_id)
            self._tau[can_id] = float(tau)
            self._t_apply[can_id] = time.monotonic()
            if not self.realtime:
                self._integrate(can_id, self.dt, float(tau))

    def state(self, can_id: int) -> tuple[float, float, float]:
        with self._lock:
            self._advance(can_id)
            return self._p[can_id], self._v[can_id], self._tau[can_id]


class EmulatedMitMotor:
    """Firmware model of one MIT motor: motor-mode state, encoder zero offset, PD law."""

    def __init__(self, can_id: int, limits: MitLimits, backend: MotorBackend) -> None:
        self.can_id, self.limits, self.backend = can_id, limits, backend
        self.motor_mode = False
        self.offset = 0.0  # rad, backend position that reads as zero
        self.command = MitCommand()
        self.frames = 0

    def handle(self, data: bytes) -> bytes | None:
        """Process one frame addressed to this motor; the 6-byte reply, or None (wrong DLC)."""
        if len(data) != 8:
            return None
        self.frames += 1
        special = parse_special(data)
        if special is MitSpecial.ENTER_MOTOR_MODE:
            self.motor_mode, self.command = True, MitCommand()
            self.set_mode(True)
        elif special is MitSpecial.EXIT_MOTOR_MODE:
            self.motor_mode = False
            self.set_mode(False)
        elif special is MitSpecial.SET_ZERO:
            self.offset = self.backend.state(self.can_id)[0]
        elif self.motor_mode:
            self.command = unpack_command(data, self.limits)
            self.drive(self.command)
        p_raw, v, tau_now = self.backend.state(self.can_id)
        return pack_reply(self.can_id, p_raw - self.offset, v, tau_now, self.limits)

    # -- what the driver does to the joint (a plant-backed motor overrides these) ----------
    def set_mode(self, motor_mode: bool) -> None:
        """Entering or leaving motor mode: no torque until the first command."""
        self.backend.apply(self.can_id, 0.0)

    def drive(self, c: MitCommand) -> None:
        """The PD law on this command, evaluated once and held until the next frame."""
        p_raw, v, _ = self.backend.state(self.can_id)
        tau = pd_torque(c.p_des, p_raw - self.offset, v, c.kp, c.kd, c.v_des, c.t_ff,
                        self.limits.t_max)
        self.backend.apply(self.can_id, float(tau))


@dataclass
class AdapterStats:
    """Counters of the emulated adapter."""

    host_lines: int = 0
    host_frames: int = 0
    errors: int = 0
    replies: int = 0
    dropped: int = 0
    delayed: int = 0
    corrupted: int = 0


class VirtualSlcanAdapter:
    """An slcan adapter on a pty with MIT motors ``{can_id: MitLimits}`` on its CAN side.

    backend: the motors' physics (default `InertiaBackend`); bitrate: the motors' bus bitrate
    (bit/s; a host that sets another one reaches no motor). Fault knobs (change any time):
    ``drop_prob``, ``drop_ids``, ``delay_s`` / ``delays`` {id: s}, ``corrupt`` {id: 'dlc' |
    'garbage'}, ``bus_off``, and `disappear` / `reappear`. Use ``with`` (or `start` / `close`) to
    serve from a background thread, or `serve_forever` in a process of its own.
    """

    def __init__(self, motors: Mapping[int, MitLimits], backend: MotorBackend | None = None,
                 bitrate: int = 1_000_000, *, reply_id: int = 0, seed: int = 0) -> None:
        self.backend: MotorBackend = backend or InertiaBackend(motors)
        self.motors = {int(i): EmulatedMitMotor(int(i), lim, self.backend)
                       for i, lim in motors.items()}
        self.bitrate, self.reply_id = bitrate, reply_id
        self.drop_prob = 0.0
        self.drop_ids: set[int] = set()
        self.delay_s = 0.0
        self.delays: dict[int, float] = {}
        self.corrupt: dict[int, Literal["dlc", "garbage"]] = {}
        self.bus_off = False
        self.gone: set[int] = set()
        self.stats = AdapterStats()
        self.is_open = False
        self.listen_only = False
        self.timestamps = False
        self.host_bitrate: int | None = None  # set by Sn / sxxyy (0); None: the motors' rate
        self._status = 0
        self._rng = random.Random(seed)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._out = bytearray()
        self._late: list[tuple[float, int, bytes]] = []
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ---- control -----------------------------------------------------------------------------
    def disappear(self, can_id: int) -> None:
        """The motor stops answering (unpowered / cable cut)."""
        self.gone.add(can_id)

    def reappear(self, can_id: int) -> None:
        self.gone.discard(can_id)

    def start(self) -> VirtualSlcanAdapter:
        """Serve from a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, daemon=True,
                                            name=f"slcan-emu {self.port}")
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve until `close` (from another thread)."""
        buf = bytearray()
        while not self._stop.is_set():
            timeout = 0.5
            if self._late:
                timeout = max(0.0, min(timeout, self._late[0][0] - time.monotonic()))
            wlist = [self._master] if self._out else []
            r, _, _ = select.select([self._master, self._wake_r], wlist, [], timeout)
            if self._wake_r in r:
                os.read(self._wake_r, 64)
            if self._master in r:
                try:
                    buf += os.read(self._master, 4096)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    break
                while (end := buf.find(b"\r")) >= 0:
                    line = bytes(buf[:end])
                    del buf[:end + 1]
                    self._line(line)
                if len(buf) > 256:  # no terminator in sight: junk
                    buf.clear()
                    self._out += _ERR
            now = time.monotonic()
            while self._late and self._late[0][0] <= now:
                self._out += heapq.heappop(self._late)[2]
            self._flush()

    def close(self) -> None:
        """Stop serving and close the pty (the host then sees the device vanish)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> VirtualSlcanAdapter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- protocol ----------------------------------------------------------------------------
    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self._master, self._out)
            except (BlockingIOError, InterruptedError):
                return
            del self._out[:n]

    def _line(self, line: bytes) -> None:
        self.stats.host_lines += 1
        reply = self._command(line.decode("ascii", errors="replace"))
        if reply == _ERR:
            self.stats.errors += 1
        self._out += reply

    def _command(self, s: str) -> bytes:
        if not s:
            return _OK
        c, arg = s[0], s[1:]
        if c == "S":
            if self.is_open or not (arg.isdigit() and int(arg) in SLCAN_BITRATES):
                return _ERR
            self.host_bitrate = SLCAN_BITRATES[int(arg)]
            return _OK
        if c == "s":  # custom BTR0/BTR1: not the motors' timing
            if self.is_open or len(arg) != 4:
                return _ERR
            self.host_bitrate = 0
            return _OK
        if c in "OL":
            if self.is_open:
                return _ERR
            self.is_open, self.listen_only = True, c == "L"
            return _OK
        if c == "C":
            self.is_open = False
            return _OK
        if c == "V":
            return b"V1013\r"
        if c == "v":
            return b"v0107\r"
        if c == "N":
            return b"NEMU1\r"
        if c == "F":
            if not self.is_open:
                return _ERR
            status = self._status | (STATUS_BUS_ERROR if self.bus_off else 0)
            self._status = 0
            return f"F{status:02X}\r".encode()
        if c == "Z" and arg in ("0", "1"):
            self.timestamps = arg == "1"
            return _OK
        if c in "MmWQU" and arg:
            return _OK
        if c in "tTrR":
            return self._transmit(c, arg)
        return _ERR

    def _transmit(self, c: str, arg: str) -> bytes:
        if not self.is_open or self.listen_only or self.bus_off:
            return _ERR
        n_id = 8 if c in "TR" else 3
        try:
            can_id = int(arg[:n_id], 16)
            dlc = int(arg[n_id])
            if len(arg[:n_id]) != n_id or dlc > 8:
                return _ERR
            data = b"" if c in "rR" else bytes.fromhex(arg[n_id + 1:n_id + 1 + 2 * dlc])
            if len(data) != dlc and c in "tT":
                return _ERR
        except (ValueError, IndexError):
            return _ERR
        self.stats.host_frames += 1
        self._out += b"z\r" if c in "tr" else b"Z\r"  # acknowledged before any reply arrives
        if self.host_bitrate not in (None, self.bitrate):  # no ACK: error frames on the bus
            self._status |= STATUS_ERROR_PASSIVE
        elif c == "t":
            self._deliver(can_id, data)
        return b""

    def _deliver(self, can_id: int, data: bytes) -> None:
        motor = self.motors.get(can_id)
        if motor is None or can_id in self.gone:
            return
        reply = motor.handle(data)
        if reply is None:
            return
        if can_id in self.drop_ids or (self.drop_prob and self._rng.random() < self.drop_prob):
            self.stats.dropped += 1
            return
        mode = self.corrupt.get(can_id)
        if mode == "dlc":
            reply = reply[:3]
        line = self._frame_line(self.reply_id, reply)
        if mode == "garbage":
            line = b"tZZZ" + line[4:]
        if mode:
            self.stats.corrupted += 1
        self.stats.replies += 1
        delay = self.delays.get(can_id, self.delay_s)
        if delay > 0:
            self.stats.delayed += 1
            self._seq += 1
            heapq.heappush(self._late, (time.monotonic() + delay, self._seq, line))
        else:
            self._out += line

    def _frame_line(self, can_id: int, data: bytes) -> bytes:
        s = f"t{can_id:03X}{len(data)}{data.hex().upper()}"
        if self.timestamps:
            s += f"{int(time.monotonic() * 1000) % 60000:04X}"
        return (s + "\r").encode()

