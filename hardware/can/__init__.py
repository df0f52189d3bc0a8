"""CAN motors speaking the MIT mini-cheetah protocol, through python-can.

`mit`: the byte-exact frame codec and per-motor ranges (`MitLimits`, presets);
`link`: `CanBusConfig` and opening a python-can bus with clear `CanBusError`s;
`bus`: `CanMotorBus` (one bus: socketcan ``can0`` or an slcan adapter ``/dev/ttyACM0``);
`multi`: `MultiCanBus` (several buses, e.g. one per leg of a quadruped, cycled together).
"""

from hardware.can.bus import BusStats, CanMotorBus, MotorReading
from hardware.can.link import CanBusConfig, CanBusError, open_can_bus
from hardware.can.mit import (
    AK80_9,
    DEFAULT_LIMITS,
    MINI_CHEETAH,
    PRESETS,
    MitCommand,
    MitLimits,
    MitReply,
    MitSpecial,
    pack_command,
    pack_reply,
    parse_special,
    special_frame,
    unpack_command,
    unpack_reply,
)
from hardware.can.multi import MultiCanBus

__all__ = [
    "AK80_9",
    "DEFAULT_LIMITS",
    "MINI_CHEETAH",
    "PRESETS",
    "BusStats",
    "CanBusConfig",
    "CanBusError",
    "CanMotorBus",
    "MitCommand",
    "MitLimits",
    "MitReply",
    "MitSpecial",
    "MotorReading",
    "MultiCanBus",
    "open_can_bus",
    "pack_command",
    "pack_reply",
    "parse_special",
    "special_frame",
    "unpack_command",
    "unpack_reply",
]
