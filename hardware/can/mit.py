"""MIT mini-cheetah CAN protocol: byte-exact codec for command / reply / special frames.

The protocol (Ben Katz's mini-cheetah motor firmware, also spoken by T-Motor / CubeMars AK
actuators in "MIT mode" and by many Go1-class actuator drivers), 1 Mbit/s, standard 11-bit ids:

- Special frames (8 bytes, to CAN id = motor id): ``FF FF FF FF FF FF FF FC`` enter motor mode,
  ``... FD`` exit motor mode, ``... FE`` set the current position as zero.
- Command frame (8 bytes, to CAN id = motor id): position 16 bit, velocity 12 bit, kp 12 bit,
  kd 12 bit, torque feed-forward 12 bit, packed big-end first::

      [p 15:8] [p 7:0] [v 11:4] [v 3:0 | kp 11:8] [kp 7:0] [kd 11:4] [kd 3:0 | t 11:8] [t 7:0]

- Reply frame (6 bytes; CubeMars firmware appends temperature and error code to make 8),
  sent to the host (CAN id 0, "CAN_MASTER", in the reference firmware)::

      [motor id] [p 15:8] [p 7:0] [v 11:4] [v 3:0 | tau 11:8] [tau 7:0] ([temperature] [error code])

Layout confirmed against the CubeMars "AK Series Actuator Driver Manual" V1.0.8, section 5.3
"MIT power mode communication protocol" (pp. 48-49), and the reference ``pack_cmd`` /
``unpack_reply`` / ``float_to_uint`` routines of the mini-cheetah firmware and its ports
(e.g. threevc/TMotor-Motor-Control-via-ROS ``motor_functions.ino``, "Function by Ben Katz").

Float <-> uint mapping: ``x_int = trunc((clamp(x) - x_min) * (2**bits - 1) / (x_max - x_min))``.
Truncation (not rounding) is what the firmware's ``(int)`` cast does, so our frames are bit-for-bit
the ones the reference C code produces. Consequences (tested): p = 0 on +-12.5 rad encodes to
0x7FFF (32767.5 truncated), kp = 500 on 0..500 to 0xFFF, and an encode/decode round trip lands
within one LSB below the input (never above).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from robot_rl.robots.spec import CanMotor

__all__ = [
    "AK80_9",
    "DEFAULT_LIMITS",
    "MINI_CHEETAH",
    "PRESETS",
    "MitCommand",
    "MitLimits",
    "MitReply",
    "MitSpecial",
    "float_to_uint",
    "pack_command",
    "pack_reply",
    "parse_special",
    "special_frame",
    "uint_to_float",
    "unpack_command",
    "unpack_reply",
]

P_BITS = 16
V_BITS = 12
KP_BITS = 12
KD_BITS = 12
T_BITS = 12

COMMAND_DLC = 8
REPLY_DLC = 6


@dataclass(frozen=True)
class MitLimits:
    """Ranges one motor's firmware maps its fixed-point fields onto (must match the firmware).

    p_max: position range [-p_max, p_max] in rad; v_max: velocity range in rad/s;
    kp_max: stiffness range [0, kp_max] in N m/rad; kd_max: damping range [0, kd_max] in
    N m s/rad; t_max: torque range [-t_max, t_max] in N m (feed-forward and reply).
    """

    p_max: float = 12.5
    v_max: float = 65.0
    kp_max: float = 500.0
    kd_max: float = 5.0
    t_max: float = 18.0

    def __post_init__(self) -> None:
        for name in ("p_max", "v_max", "kp_max", "kd_max", "t_max"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"MitLimits.{name} must be a positive finite number, got {value}")

    @classmethod
    def of(cls, motor: CanMotor) -> MitLimits:
        """The ranges of a robot's CAN motor (its `RobotHardware` description)."""
        return cls(p_max=motor.p_max, v_max=motor.v_max, kp_max=motor.kp_max,
                   kd_max=motor.kd_max, t_max=motor.t_max)


# Reference mini-cheetah firmware ranges (benkatz, "mini_cheetah_can_protocol.h"-style headers:
# P +-12.5 rad, V +-65 rad/s, KP 0..500, KD 0..5; torque +-18 N m as in its common ports).
MINI_CHEETAH = MitLimits(p_max=12.5, v_max=65.0, kp_max=500.0, kd_max=5.0, t_max=18.0)
# T-Motor / CubeMars AK80-9 in MIT mode: P +-12.5 rad, V +-50 rad/s, T +-18 N m, KP 0..500,
# KD 0..5 (neurobionics/TMotorCANControl ``mit_can.py`` MIT_Params['AK80-9'], from the
# cubemars.com datasheet).
AK80_9 = MitLimits(p_max=12.5, v_max=50.0, kp_max=500.0, kd_max=5.0, t_max=18.0)
DEFAULT_LIMITS = MINI_CHEETAH

PRESETS: dict[str, MitLimits] = {
    "mini-cheetah": MINI_CHEETAH,
    "ak80-9": AK80_9,
    "default": DEFAULT_LIMITS,
}


class MitSpecial(IntEnum):
    """Last byte of the special frames ``FF FF FF FF FF FF FF xx``."""

    ENTER_MOTOR_MODE = 0xFC
    EXIT_MOTOR_MODE = 0xFD
    SET_ZERO = 0xFE


def special_frame(kind: MitSpecial) -> bytes:
    """The 8 data bytes of a special frame (enter / exit motor mode, set zero)."""
    return bytes([0xFF] * 7 + [int(kind)])


def parse_special(data: bytes | bytearray) -> MitSpecial | None:
    """The special command ``data`` encodes, or None for any other frame."""
    if len(data) == COMMAND_DLC and all(b == 0xFF for b in data[:7]):
        try:
            return MitSpecial(data[7])
        except ValueError:
            return None
    return None


def float_to_uint(x: float, x_min: float, x_max: float, bits: int) -> int:
    """Map ``x`` (clamped to [x_min, x_max]) onto 0 .. 2**bits - 1, truncating like the firmware.

    Raises ValueError for a non-finite ``x`` (never send NaN to a motor).
    """
    if not math.isfinite(x):
        raise ValueError(f"cannot encode non-finite value {x}")
    max_int = (1 << bits) - 1
    x = min(max(x, x_min), x_max)
    value = int((x - x_min) * max_int / (x_max - x_min))
    return min(max(value, 0), max_int)


def uint_to_float(x_int: int, x_min: float, x_max: float, bits: int) -> float:
    """Inverse of :func:`float_to_uint`: ``x_min + x_int * (x_max - x_min) / (2**bits - 1)``."""
    return x_min + float(x_int) * (x_max - x_min) / float((1 << bits) - 1)


@dataclass(frozen=True)
class MitCommand:
    """One MIT command: tau = kp (p_des - p) + kd (v_des - v) + t_ff, evaluated by the motor.

    p_des in rad, v_des in rad/s, kp in N m/rad, kd in N m s/rad, t_ff in N m.
    """

    p_des: float = 0.0
    v_des: float = 0.0
    kp: float = 0.0
    kd: float = 0.0
    t_ff: float = 0.0


@dataclass(frozen=True)
class MitReply:
    """A decoded reply: motor id, position (rad), velocity (rad/s), torque (N m).

    ``temperature`` (raw byte) and ``error`` (code, 0 = none) only in 8-byte CubeMars replies.
    """

    motor_id: int
    p: float
    v: float
    tau: float
    temperature: int | None = None
    error: int | None = None


def pack_command(cmd: MitCommand, limits: MitLimits = DEFAULT_LIMITS) -> bytes:
    """Encode a command into the 8 data bytes of a command frame (values clamped to limits)."""
    p = float_to_uint(cmd.p_des, -limits.p_max, limits.p_max, P_BITS)
    v = float_to_uint(cmd.v_des, -limits.v_max, limits.v_max, V_BITS)
    kp = float_to_uint(cmd.kp, 0.0, limits.kp_max, KP_BITS)
    kd = float_to_uint(cmd.kd, 0.0, limits.kd_max, KD_BITS)
    t = float_to_uint(cmd.t_ff, -limits.t_max, limits.t_max, T_BITS)
    return bytes([
        p >> 8,
        p & 0xFF,
        v >> 4,
        ((v & 0xF) << 4) | (kp >> 8),
        kp & 0xFF,
        kd >> 4,
        ((kd & 0xF) << 4) | (t >> 8),
        t & 0xFF,
    ])


def unpack_command(data: bytes | bytearray, limits: MitLimits = DEFAULT_LIMITS) -> MitCommand:
    """Decode the 8 data bytes of a command frame (what the motor firmware does)."""
    if len(data) != COMMAND_DLC:
        raise ValueError(f"MIT command frame needs {COMMAND_DLC} bytes, got {len(data)}")
    p = (data[0] << 8) | data[1]
    v = (data[2] << 4) | (data[3] >> 4)
    kp = ((data[3] & 0xF) << 8) | data[4]
    kd = (data[5] << 4) | (data[6] >> 4)
    t = ((data[6] & 0xF) << 8) | data[7]
    return MitCommand(
        p_des=uint_to_float(p, -limits.p_max, limits.p_max, P_BITS),
        v_des=uint_to_float(v, -limits.v_max, limits.v_max, V_BITS),
        kp=uint_to_float(kp, 0.0, limits.kp_max, KP_BITS),
        kd=uint_to_float(kd, 0.0, limits.kd_max, KD_BITS),
        t_ff=uint_to_float(t, -limits.t_max, limits.t_max, T_BITS),
    )


def pack_reply(motor_id: int, p: float, v: float, tau: float,
               limits: MitLimits = DEFAULT_LIMITS) -> bytes:
    """Encode a motor's state into the 6 data bytes of a reply (what the firmware sends)."""
    if not 0 <= motor_id <= 0xFF:
        raise ValueError(f"motor id {motor_id} does not fit the reply's id byte (0..255)")
    pi = float_to_uint(p, -limits.p_max, limits.p_max, P_BITS)
    vi = float_to_uint(v, -limits.v_max, limits.v_max, V_BITS)
    ti = float_to_uint(tau, -limits.t_max, limits.t_max, T_BITS)
    return bytes([motor_id, pi >> 8, pi & 0xFF, vi >> 4, ((vi & 0xF) << 4) | (ti >> 8), ti & 0xFF])


def unpack_reply(data: bytes | bytearray, limits: MitLimits = DEFAULT_LIMITS) -> MitReply:
    """Decode a 6-byte reply (or an 8-byte CubeMars reply with temperature and error code)."""
    if len(data) not in (REPLY_DLC, COMMAND_DLC):
        raise ValueError(f"MIT reply needs {REPLY_DLC} (or 8) bytes, got {len(data)}")
    p = (data[1] << 8) | data[2]
    v = (data[3] << 4) | (data[4] >> 4)
    t = ((data[4] & 0xF) << 8) | data[5]
    return MitReply(
        motor_id=data[0],
        p=uint_to_float(p, -limits.p_max, limits.p_max, P_BITS),
        v=uint_to_float(v, -limits.v_max, limits.v_max, V_BITS),
        tau=uint_to_float(t, -limits.t_max, limits.t_max, T_BITS),
        temperature=data[6] if len(data) == COMMAND_DLC else None,
        error=data[7] if len(data) == COMMAND_DLC else None,
    )
