"""Byte-exact packet codecs and control tables for serial-bus servos.

Two wire protocols are implemented, both little-endian:

- **Dynamixel Protocol 2.0** (ROBOTIS X series: XL430, XM430, ...)::

      FF FF FD 00 | ID | LEN_L LEN_H | INST | PARAMS... | CRC_L CRC_H

  ``LEN`` counts INST + PARAMS + CRC after byte stuffing (any ``FF FF FD`` inside
  INST/PARAMS is sent as ``FF FF FD FD``). The CRC is CRC-16 with polynomial 0x8005,
  initial value 0, no reflection (the ROBOTIS e-manual's table), over the stuffed frame
  from the header up to the last parameter. Status packets carry INST = 0x55 then an
  ERROR byte (bit 7 = hardware alert, bits 0-6 = instruction error code 1..7).
- **Feetech SCS/STS** (STS3215)::

      FF FF | ID | LEN | INST or ERROR | PARAMS... | CHECKSUM

  ``LEN`` = len(PARAMS) + 2 and ``CHECKSUM = ~(ID + LEN + INST + sum(PARAMS)) & 0xFF``.
  Signed registers use sign-magnitude (bit 15 for position/speed, bit 10 for load).

Control-table addresses follow the ROBOTIS e-manual (X series) and the Feetech STS
memory table (as used by the vendor's ``SMS_STS`` library and ``scservo_sdk``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

BROADCAST_ID = 0xFE
PING, READ, WRITE, REBOOT, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x08, 0x82, 0x83
DXL_STATUS = 0x55
DXL_ALERT = 0x80
DXL_ERRORS = {1: "result fail", 2: "instruction error", 3: "CRC error", 4: "data range error",
              5: "data length error", 6: "data limit error", 7: "access error"}
DXL_CRC_ERROR = 3
MAX_DXL_LENGTH = 1024


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


CRC_TABLE = _crc_table()


def crc16(data: bytes | bytearray, crc: int = 0) -> int:
    """Dynamixel CRC-16 (poly 0x8005, init 0, MSB first) of ``data``; returns 0..65535."""
    for b in data:
        crc = ((crc << 8) ^ CRC_TABLE[((crc >> 8) ^ b) & 0xFF]) & 0xFFFF
    return crc


def stuff(body: bytes | bytearray) -> bytes:
    """Byte-stuff INST+PARAMS: every ``FF FF FD`` is followed by an extra ``FD``."""
    out = bytearray()
    for i, b in enumerate(body):
        out.append(b)
        if b == 0xFD and i >= 2 and body[i - 1] == 0xFF and body[i - 2] == 0xFF:
            out.append(0xFD)
    return bytes(out)


def unstuff(body: bytes | bytearray) -> bytes:
    """Inverse of :func:`stuff`: drop the ``FD`` that follows each ``FF FF FD``."""
    out = bytearray()
    i = 0
    while i < len(body):
        out.append(body[i])
        if body[i] == 0xFD and len(out) >= 3 and out[-2] == 0xFF and out[-3] == 0xFF \
                and i + 1 < len(body) and body[i + 1] == 0xFD:
            i += 1
        i += 1
    return bytes(out)


def feetech_checksum(data: bytes | bytearray) -> int:
    """Feetech checksum of ID..last parameter: ``~sum & 0xFF``."""
    return ~sum(data) & 0xFF


@dataclass(frozen=True)
class Packet:
    """One decoded packet. ``instruction`` is the INST byte (``DXL_STATUS`` for Dynamixel
    status packets, -1 for Feetech status packets); ``error`` is the status ERROR byte;
    ``valid`` is False when the CRC/checksum did not match."""

    motor_id: int
    instruction: int
    params: bytes
    error: int = 0
    valid: bool = True


class ServoProtocol(ABC):
    """A wire protocol: framing, checksum and the parameter layout of each instruction."""

    name: str
    addr_size: int  # bytes of the address / length fields in READ and SYNC parameters
    ping_reports_model: bool  # Dynamixel's PING status carries the model number
    hardware_error_bits: ClassVar[Mapping[int, str]]

    @abstractmethod
    def _frame(self, motor_id: int, body: bytes) -> bytes:
        """Wrap ``body`` (INST or STATUS/ERROR bytes + params) into a full frame."""

    @abstractmethod
    def split(self, buf: bytes | bytearray, status: bool) -> tuple[int, Packet | None]:
        """Frame the front of ``buf``: ``(0, None)`` = need more bytes, ``(n, None)`` =
        discard n bytes, ``(n, packet)`` = the first n bytes were this packet."""

    def instruction(self, motor_id: int, instruction: int, params: bytes = b"") -> bytes:
        """Encode an instruction packet."""
        return self._frame(motor_id, bytes([instruction]) + bytes(params))

    @abstractmethod
    def status(self, motor_id: int, error: int, params: bytes = b"") -> bytes:
        """Encode a status (reply) packet."""

    def _field(self, value: int) -> bytes:
        return value.to_bytes(self.addr_size, "little")

    def _unfield(self, data: bytes, offset: int) -> int:
        return int.from_bytes(data[offset:offset + self.addr_size], "little")

    def read_params(self, address: int, length: int) -> bytes:
        return self._field(address) + self._field(length)

    def write_params(self, address: int, data: bytes) -> bytes:
        return self._field(address) + bytes(data)

    def sync_read_params(self, address: int, length: int, ids: Sequence[int]) -> bytes:
        return self._field(address) + self._field(length) + bytes(ids)

    def sync_write_params(self, address: int, length: int, data: Mapping[int, bytes]) -> bytes:
        out = bytearray(self._field(address) + self._field(length))
        for motor_id, value in data.items():
            if len(value) != length:
                raise ValueError(f"sync write to id {motor_id}: {len(value)} bytes, not {length}")
            out += bytes([motor_id]) + value
        return bytes(out)

    def unpack_read(self, params: bytes) -> tuple[int, int]:
        """READ / SYNC_READ head -> (address, length)."""
        if len(params) < 2 * self.addr_size:
            raise ValueError("read parameters too short")
        return self._unfield(params, 0), self._unfield(params, self.addr_size)

    def unpack_write(self, params: bytes) -> tuple[int, bytes]:
        if len(params) < self.addr_size + 1:
            raise ValueError("write parameters too short")
        return self._unfield(params, 0), params[self.addr_size:]

    def unpack_sync_read(self, params: bytes) -> tuple[int, int, list[int]]:
        address, length = self.unpack_read(params)
        return address, length, list(params[2 * self.addr_size:])

    def unpack_sync_write(self, params: bytes) -> tuple[int, int, dict[int, bytes]]:
        address, length = self.unpack_read(params)
        rest = params[2 * self.addr_size:]
        if length <= 0 or len(rest) % (length + 1):
            raise ValueError("sync write parameters do not divide into (id, data) groups")
        return address, length, {rest[i]: rest[i + 1:i + 1 + length]
                                 for i in range(0, len(rest), length + 1)}

    def describe_hardware_error(self, bits: int) -> str:
        names = [name for bit, name in self.hardware_error_bits.items() if bits & bit]
        return ", ".join(names) or f"0x{bits:02X}"


class DynamixelProtocol(ServoProtocol):
    """ROBOTIS Dynamixel Protocol 2.0."""

    name = "dynamixel"
    addr_size = 2
    ping_reports_model = True
    header = b"\xff\xff\xfd\x00"
    hardware_error_bits: ClassVar[Mapping[int, str]] = {
        0x01: "input voltage error", 0x04: "overheating",
        0x08: "motor encoder error", 0x10: "electrical shock", 0x20: "overload"}

    def _frame(self, motor_id: int, body: bytes) -> bytes:
        stuffed = stuff(body)
        head = self.header + bytes([motor_id]) + (len(stuffed) + 2).to_bytes(2, "little")
        frame = head + stuffed
        return frame + crc16(frame).to_bytes(2, "little")

    def status(self, motor_id: int, error: int, params: bytes = b"") -> bytes:
        return self._frame(motor_id, bytes([DXL_STATUS, error]) + bytes(params))

    def split(self, buf: bytes | bytearray, status: bool) -> tuple[int, Packet | None]:
        start = buf.find(b"\xff\xff\xfd")
        while start >= 0 and start + 3 < len(buf) and buf[start + 3] == 0xFD:
            start = buf.find(b"\xff\xff\xfd", start + 1)  # FF FF FD FD is stuffed data
        if start < 0:
            return max(0, len(buf) - 2), None
        if start > 0:
            return start, None
        if len(buf) < 7:
            return 0, None
        length = buf[5] | buf[6] << 8
        if buf[3] != 0x00 or buf[4] == 0xFF or not 3 <= length <= MAX_DXL_LENGTH:
            return 1, None
        total = 7 + length
        if len(buf) < total:
            return 0, None
        valid = crc16(buf[:total - 2]) == (buf[total - 2] | buf[total - 1] << 8)
        body = unstuff(buf[7:total - 2])
        if status:
            if body[0] != DXL_STATUS or len(body) < 2:
                return total, None  # an instruction packet on the line: not a reply
            return total, Packet(buf[4], DXL_STATUS, body[2:], body[1], valid)
        return total, Packet(buf[4], body[0], body[1:], 0, valid)


class FeetechProtocol(ServoProtocol):
    """Feetech SCS/STS protocol (STS3215), little-endian register layout."""

    name = "feetech"
    addr_size = 1
    ping_reports_model = False
    hardware_error_bits: ClassVar[Mapping[int, str]] = {
        0x01: "input voltage error", 0x02: "angle sensor error", 0x04: "overheating",
        0x08: "overcurrent", 0x20: "overload"}

    def _frame(self, motor_id: int, body: bytes) -> bytes:
        if len(body) + 1 > 0xFF:
            raise ValueError(f"Feetech packet too long ({len(body) + 1} bytes after LEN)")
        core = bytes([motor_id, len(body) + 1]) + body
        return b"\xff\xff" + core + bytes([feetech_checksum(core)])

    def status(self, motor_id: int, error: int, params: bytes = b"") -> bytes:
        return self._frame(motor_id, bytes([error]) + bytes(params))

    def split(self, buf: bytes | bytearray, status: bool) -> tuple[int, Packet | None]:
        start = buf.find(b"\xff\xff")
        if start < 0:
            return max(0, len(buf) - 1), None
        if start > 0:
            return start, None
        if len(buf) < 4:
            return 0, None
        if buf[2] == 0xFF or buf[3] < 2:
            return 1, None
        total = 4 + buf[3]
        if len(buf) < total:
            return 0, None
        valid = feetech_checksum(buf[2:total - 1]) == buf[total - 1]
        params = bytes(buf[5:total - 1])
        if status:
            return total, Packet(buf[2], -1, params, buf[4], valid)
        return total, Packet(buf[2], buf[4], params, 0, valid)


class PacketParser:
    """Incremental parser: feed it bytes as they arrive, get whole packets back."""

    def __init__(self, protocol: ServoProtocol, *, status: bool) -> None:
        self.protocol = protocol
        self.status = status
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes buffered that are not yet a whole packet."""
        return len(self._buf)

    def clear(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Packet]:
        self._buf += data
        packets = []
        while self._buf:
            used, packet = self.protocol.split(self._buf, self.status)
            if used == 0:
                break
            del self._buf[:used]
            if packet is not None:
                packets.append(packet)
        return packets


# ---------------------------------------------------------------- control tables
@dataclass(frozen=True)
class Register:
    """One control-table entry. ``sign_bit``: sign-magnitude with this sign bit (Feetech);
    ``twos``: two's complement (Dynamixel); neither = unsigned."""

    name: str
    address: int
    size: int
    writable: bool = False
    twos: bool = False
    sign_bit: int | None = None

    @property
    def limits(self) -> tuple[int, int]:
        """Smallest and largest encodable value."""
        bits = 8 * self.size
        if self.sign_bit is not None:
            return -((1 << self.sign_bit) - 1), (1 << self.sign_bit) - 1
        if self.twos:
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return 0, (1 << bits) - 1

    def encode(self, value: int) -> bytes:
        """Integer register value -> ``size`` little-endian bytes (raises ValueError)."""
        value, (lo, hi) = int(value), self.limits
        if not lo <= value <= hi:
            raise ValueError(f"{self.name}: {value} is outside [{lo}, {hi}]")
        if self.sign_bit is not None and value < 0:
            value = -value | 1 << self.sign_bit
        return (value & ((1 << 8 * self.size) - 1)).to_bytes(self.size, "little")

    def decode(self, data: bytes | bytearray) -> int:
        """``size`` little-endian bytes -> integer register value."""
        raw = int.from_bytes(bytes(data[:self.size]), "little")
        if self.sign_bit is not None and raw & (1 << self.sign_bit):
            return -(raw & ~(1 << self.sign_bit))
        if self.twos and raw >= 1 << (8 * self.size - 1):
            return raw - (1 << (8 * self.size))
        return raw


def _table(rows: str, signed: Mapping[str, int]) -> dict[str, Register]:
    """Rows of ``name address size access``; ``signed`` maps name -> sign bit (0 = twos)."""
    out = {}
    for line in rows.split(";"):
        name, addr, size, access = line.split()
        bit = signed.get(name)
        out[name] = Register(name, int(addr), int(size), access == "RW",
                             twos=bit == 0, sign_bit=bit or None)
    return out


X_SERIES_TABLE = _table(
    "Model_Number 0 2 R; Model_Information 2 4 R; Firmware_Version 6 1 R; ID 7 1 RW;"
    "Baud_Rate 8 1 RW; Return_Delay_Time 9 1 RW; Drive_Mode 10 1 RW; Operating_Mode 11 1 RW;"
    "Secondary_ID 12 1 RW; Protocol_Type 13 1 RW; Homing_Offset 20 4 RW;"
    "Moving_Threshold 24 4 RW; Temperature_Limit 31 1 RW; Max_Voltage_Limit 32 2 RW;"
    "Min_Voltage_Limit 34 2 RW; PWM_Limit 36 2 RW; Current_Limit 38 2 RW;"
    "Velocity_Limit 44 4 RW; Max_Position_Limit 48 4 RW; Min_Position_Limit 52 4 RW;"
    "Shutdown 63 1 RW; Torque_Enable 64 1 RW; LED 65 1 RW; Status_Return_Level 68 1 RW;"
    "Registered_Instruction 69 1 R; Hardware_Error_Status 70 1 R; Velocity_I_Gain 76 2 RW;"
    "Velocity_P_Gain 78 2 RW; Position_D_Gain 80 2 RW; Position_I_Gain 82 2 RW;"
    "Position_P_Gain 84 2 RW; Feedforward_2nd_Gain 88 2 RW; Feedforward_1st_Gain 90 2 RW;"
    "Bus_Watchdog 98 1 RW; Goal_PWM 100 2 RW; Goal_Current 102 2 RW; Goal_Velocity 104 4 RW;"
    "Profile_Acceleration 108 4 RW; Profile_Velocity 112 4 RW; Goal_Position 116 4 RW;"
    "Realtime_Tick 120 2 R; Moving 122 1 R; Moving_Status 123 1 R; Present_PWM 124 2 R;"
    "Present_Current 126 2 R; Present_Velocity 128 4 R; Present_Position 132 4 R;"
    "Velocity_Trajectory 136 4 R; Position_Trajectory 140 4 R; Present_Input_Voltage 144 2 R;"
    "Present_Temperature 146 1 R",
    {n: 0 for n in ("Homing_Offset", "Goal_PWM", "Goal_Current", "Goal_Velocity",
                    "Goal_Position", "Present_PWM", "Present_Current", "Present_Velocity",
                    "Present_Position", "Velocity_Trajectory", "Position_Trajectory")})

STS_TABLE = _table(
    "Firmware_Major_Version 0 1 R; Firmware_Minor_Version 1 1 R; Model_Number 3 2 R; ID 5 1 RW;"
    "Baud_Rate 6 1 RW; Return_Delay_Time 7 1 RW; Response_Status_Level 8 1 RW;"
    "Min_Position_Limit 9 2 RW; Max_Position_Limit 11 2 RW; Max_Temperature_Limit 13 1 RW;"
    "Max_Voltage_Limit 14 1 RW; Min_Voltage_Limit 15 1 RW; Max_Torque_Limit 16 2 RW;"
    "Phase 18 1 RW; Unloading_Condition 19 1 RW; LED_Alarm_Condition 20 1 RW;"
    "P_Coefficient 21 1 RW; D_Coefficient 22 1 RW; I_Coefficient 23 1 RW;"
    "Minimum_Startup_Force 24 2 RW; CW_Dead_Zone 26 1 RW; CCW_Dead_Zone 27 1 RW;"
    "Protection_Current 28 2 RW; Angular_Resolution 30 1 RW; Homing_Offset 31 2 RW;"
    "Operating_Mode 33 1 RW; Protective_Torque 34 1 RW; Protection_Time 35 1 RW;"
    "Overload_Torque 36 1 RW; Torque_Enable 40 1 RW; Acceleration 41 1 RW;"
    "Goal_Position 42 2 RW; Goal_Time 44 2 RW; Goal_Velocity 46 2 RW; Torque_Limit 48 2 RW;"
    "Lock 55 1 RW; Present_Position 56 2 R; Present_Velocity 58 2 R; Present_Load 60 2 R;"
    "Present_Voltage 62 1 R; Present_Temperature 63 1 R; Status 65 1 R; Moving 66 1 R;"
    "Present_Current 69 2 R",
    {"Homing_Offset": 11, "Goal_Position": 15, "Goal_Velocity": 15, "Present_Position": 15,
     "Present_Velocity": 15, "Present_Load": 10, "Present_Current": 15})


@dataclass(frozen=True)
class PositionGains:
    """Where a servo model keeps its position loop's gains and what one register unit is in
    joint space: ``kp_per_unit`` [N m/rad] of ``p_register``, ``kd_per_unit`` [N m s/rad] of
    ``d_register``, each register 0 .. ``max_value``. The one conversion between a command's
    kp / kd and the registers: the driver writes with it (`hardware.servo_robot`) and the
    virtual servos apply their registers through it (`hardware.virtual.servo_bus`).

    The model (``basis`` says where each figure comes from): the loop's output is a PWM duty
    ``P e / p_counts_full + ...``, the motor's torque ``duty x stall_torque`` (back-EMF and
    friction left to the joint model), ``e`` in position counts (4096 a turn)."""

    p_register: str
    d_register: str
    max_value: int
    kp_per_unit: float
    kd_per_unit: float
    basis: str

    def to_registers(self, kp: float, kd: float) -> tuple[int, int]:
        """(P, D) register values for joint gains ``kp``, ``kd``; ValueError if a gain is
        beyond the registers (or a stiffness > 0 rounds to none)."""
        p, d = round(kp / self.kp_per_unit), round(kd / self.kd_per_unit)
        top_kp, top_kd = self.max_value * self.kp_per_unit, self.max_value * self.kd_per_unit
        if not (0 <= p <= self.max_value and (p > 0 or kp <= 0)):
            raise ValueError(f"kp {kp:g} N m/rad is beyond {self.p_register} (0 .. "
                             f"{self.max_value}: {self.kp_per_unit:.4g} .. {top_kp:.4g} N m/rad)")
        if not 0 <= d <= self.max_value:
            raise ValueError(f"kd {kd:g} N m s/rad is beyond {self.d_register} (0 .. "
                             f"{self.max_value}: up to {top_kd:.4g} N m s/rad)")
        return int(p), int(d)

    def to_gains(self, p: int, d: int) -> tuple[float, float]:
        """(kp, kd) the registers ``p``, ``d`` hold."""
        return p * self.kp_per_unit, d * self.kd_per_unit


_COUNTS_PER_RAD = 4096 / (2 * math.pi)


def _dynamixel_gains(stall_torque: float, voltage: float) -> PositionGains:
    # KPP = P / 128 and KPD = D / 16 PWM units (of 885 = 100 %) per position count and per
    # count of the error's change (ROBOTIS e-Manual, "Position PID Gain"); the D term's time
    # base is not disclosed ("the constant includes sampling time"): taken as a 1 ms loop
    return PositionGains(
        "Position_P_Gain", "Position_D_Gain", 16383,
        kp_per_unit=stall_torque * _COUNTS_PER_RAD / (128 * 885),
        kd_per_unit=stall_torque * _COUNTS_PER_RAD * 1e-3 / (16 * 885),
        basis=f"e-Manual KPP = P/128, KPD = D/16 in PWM/885; stall torque {stall_torque} N m at "
              f"{voltage} V; D's 1 ms time base assumed (not disclosed)")


def _feetech_gains(stall_torque: float, voltage: float) -> PositionGains:
    # P = 1: a 4000-count error gives 100 % duty (Feetech's ftservo-bam model; Rhoban's bam
    # measured 0.166 duty per rad, 0.163 here). No source documents D_Coefficient's scale: its
    # factory default 32 is taken as arm6's model kd 0.6 N m s/rad (to identify on a real arm)
    return PositionGains(
        "P_Coefficient", "D_Coefficient", 254,
        kp_per_unit=stall_torque * _COUNTS_PER_RAD / 4000, kd_per_unit=0.6 / 32,
        basis=f"duty = P e_counts / 4000 (ftservo-bam, Rhoban bam); stall torque "
              f"{stall_torque} N m at {voltage} V; D scale assumed: default 32 = 0.6 N m s/rad")


@dataclass(frozen=True)
class ModelSpec:
    """A servo model: protocol, model number, control table and its factory defaults.

    ``velocity_unit_rad_s`` is the size of one Present/Goal_Velocity unit in rad/s;
    ``eeprom_end`` is the first RAM address (EEPROM below it is locked while torque is on);
    ``gains``: its position loop's gain registers (`PositionGains`).
    """

    name: str
    protocol: str
    model_number: int
    table: Mapping[str, Register]
    table_size: int
    eeprom_end: int
    velocity_unit_rad_s: float
    return_delay_unit_s: float = 2e-6
    ticks_per_rev: int = 4096
    defaults: Mapping[str, int] = field(default_factory=dict)
    baudrates: Mapping[int, int] = field(default_factory=dict)  # Baud_Rate value -> bit/s
    gains: PositionGains | None = None

    def register(self, name: str) -> Register:
        try:
            return self.table[name]
        except KeyError:
            raise KeyError(f"{self.name} has no register {name!r}; known: "
                           f"{', '.join(sorted(self.table))}") from None


_X_DEFAULTS = {"Firmware_Version": 46, "Baud_Rate": 3, "Return_Delay_Time": 250,
               "Operating_Mode": 3, "Secondary_ID": 255, "Protocol_Type": 2,
               "Moving_Threshold": 10, "PWM_Limit": 885, "Max_Position_Limit": 4095,
               "Shutdown": 52, "Status_Return_Level": 2, "Velocity_P_Gain": 100,
               "Present_Input_Voltage": 120, "Present_Temperature": 30}
_RPM = 2.0 * math.pi / 60.0
_X_BAUDS = {0: 9_600, 1: 57_600, 2: 115_200, 3: 1_000_000, 4: 2_000_000, 5: 3_000_000,
            6: 4_000_000, 7: 4_500_000}
_STS_BAUDS = {0: 1_000_000, 1: 500_000, 2: 250_000, 3: 128_000, 4: 115_200, 5: 76_800,
              6: 57_600, 7: 38_400}


def _x(name: str, number: int, gains: PositionGains, **extra: int) -> ModelSpec:
    return ModelSpec(name, "dynamixel", number, X_SERIES_TABLE, 662, 64, 0.229 * _RPM,
                     defaults={**_X_DEFAULTS, **extra}, baudrates=_X_BAUDS, gains=gains)


MODELS: dict[str, ModelSpec] = {
    "xl430-w250": _x("xl430-w250", 1060, _dynamixel_gains(1.4, 11.1), Temperature_Limit=72,
                     Max_Voltage_Limit=140, Min_Voltage_Limit=60, Velocity_Limit=265,
                     Velocity_I_Gain=1000, Position_P_Gain=640, Position_D_Gain=4000),
    "xm430-w350": _x("xm430-w350", 1020, _dynamixel_gains(4.1, 12.0), Temperature_Limit=80,
                     Max_Voltage_Limit=160, Min_Voltage_Limit=95, Current_Limit=1193,
                     Velocity_Limit=200, Velocity_I_Gain=1920, Position_P_Gain=800),
    "xm430-w210": _x("xm430-w210", 1030, _dynamixel_gains(3.0, 12.0), Temperature_Limit=80,
                     Max_Voltage_Limit=160, Min_Voltage_Limit=95, Current_Limit=1193,
                     Velocity_Limit=230, Velocity_I_Gain=1920, Position_P_Gain=800),
    "sts3215": ModelSpec(
        "sts3215", "feetech", 777, STS_TABLE, 87, 40, 2.0 * math.pi / 4096,
        defaults={"Firmware_Major_Version": 3, "Firmware_Minor_Version": 10,
                  "Response_Status_Level": 1, "Max_Position_Limit": 4095,
                  "Max_Temperature_Limit": 70, "Max_Voltage_Limit": 140,
                  "Min_Voltage_Limit": 40, "Max_Torque_Limit": 1000, "Phase": 12,
                  "Unloading_Condition": 44, "LED_Alarm_Condition": 47, "P_Coefficient": 32,
                  "D_Coefficient": 32, "Minimum_Startup_Force": 16, "CW_Dead_Zone": 1,
                  "CCW_Dead_Zone": 1, "Protection_Current": 500, "Angular_Resolution": 1,
                  "Protective_Torque": 20, "Protection_Time": 200, "Overload_Torque": 80,
                  "Torque_Limit": 1000, "Present_Voltage": 120, "Present_Temperature": 30},
        baudrates=_STS_BAUDS, gains=_feetech_gains(2.94, 12.0)),
}

DYNAMIXEL = DynamixelProtocol()
FEETECH = FeetechProtocol()
PROTOCOLS: dict[str, ServoProtocol] = {"dynamixel": DYNAMIXEL, "feetech": FEETECH}


def model_spec(model: str, protocol: str | None = None) -> ModelSpec:
    """Look up a model by name (case-insensitive), optionally checking its protocol."""
    spec = MODELS.get(model.lower())
    if spec is None or (protocol is not None and spec.protocol != protocol):
        known = sorted(m for m, s in MODELS.items() if protocol in (None, s.protocol))
        raise ValueError(f"unknown {protocol or 'servo'} model {model!r}; known: {known}")
    return spec
