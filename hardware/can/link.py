"""The python-can link of a CAN motor bus: its settings, opening it with clear errors.

Errors a user can cause (adapter unplugged, port busy or not permitted, interface down or
missing, no SocketCAN in the kernel) end in one `CanBusError` naming the cause and the fix.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import can

from hardware.can.slcan_line import SlcanLineBus
from hardware.errors import HardwareError

if TYPE_CHECKING:
    from hardware.can.bus import MotorReading


class CanBusError(HardwareError):
    """A CAN bus problem a user can fix; the message names the cause and the fix.

    ``motor_ids``: CAN ids of the motors concerned; ``readings``: the cycle's readings, if any.
    """

    def __init__(self, message: str, motor_ids: Sequence[int] = (),
                 readings: Mapping[str, MotorReading] | None = None) -> None:
        super().__init__(message)
        self.motor_ids = tuple(motor_ids)
        self.readings = dict(readings or {})


@dataclass(frozen=True)
class CanBusConfig:
    """python-can bus settings: e.g. ('socketcan', 'can0') or ('slcan', '/dev/ttyACM0').

    bitrate in bit/s (socketcan: set with ``ip link``, not here); ``options`` go to ``can.Bus``
    as they are (slcan defaults ``sleep_after_open`` to 0 s: CANable-class adapters need no
    settling time; Arduino-based ones want 2.0).
    """

    interface: str = "socketcan"
    channel: str = "can0"
    bitrate: int = 1_000_000
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.interface}:{self.channel}"


def hint(config: CanBusConfig) -> str:
    if config.interface == "socketcan":
        return (f"check `ip link show {config.channel}` (bring it up with `sudo ip link set "
                f"{config.channel} up type can bitrate {config.bitrate}`)")
    return "check `ls /dev/ttyACM* /dev/ttyUSB*` (is the USB-CAN adapter plugged in?)"


def _lock_port(path: str) -> int:
    """Open ``path`` and take an exclusive flock on it, so a second user finds it busy."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CanBusError(f"CAN adapter port {path} not found: check `ls /dev/ttyACM* "
                          "/dev/ttyUSB*` (is the USB-CAN adapter plugged in?)") from None
    except PermissionError:
        raise CanBusError(f"permission denied opening {path}: add your user to the 'dialout' "
                          "group (`sudo usermod -aG dialout $USER`, then log in again)") from None
    except OSError as e:
        if e.errno == errno.EBUSY:
            raise CanBusError(f"CAN adapter port {path} is busy: another process has it open "
                              f"(find it with `fuser {path}`)") from None
        raise CanBusError(f"cannot open CAN adapter port {path}: {e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise CanBusError(f"CAN adapter port {path} is busy: another process (or bus) has it "
                          f"open (find it with `fuser {path}`)") from None
    return fd


def open_can_bus(config: CanBusConfig) -> tuple[can.BusABC, int | None]:
    """Open a python-can bus; returns (bus, port lock fd or None). Raises CanBusError."""
    kwargs: dict[str, Any] = {}
    lock_fd: int | None = None
    if config.interface != "socketcan":
        kwargs["bitrate"] = config.bitrate
    if config.interface == "slcan":
        kwargs["sleep_after_open"] = 0.0
        path = config.channel.split("@")[0]
        if "://" not in path:
            lock_fd = _lock_port(path)
    kwargs.update(config.options)
    use_line = (config.interface == "slcan" and lock_fd is not None
                and kwargs.pop("driver", "line") == "line")
    try:
        if use_line:  # our buffered transport on the locked port (see slcan_line.py)
            assert lock_fd is not None
            return SlcanLineBus(lock_fd, config.bitrate, config.channel), lock_fd
        kwargs.pop("driver", None)
        return can.Bus(interface=config.interface, channel=config.channel, **kwargs), lock_fd
    except Exception as e:
        if lock_fd is not None:
            os.close(lock_fd)
        code = getattr(e, "errno", None) or getattr(e.__cause__, "errno", None)
        if isinstance(e, can.CanInterfaceNotImplementedError):
            msg = (f"python-can interface '{config.interface}' is not available ({e}); use "
                   "'socketcan' (can0) or 'slcan' (/dev/ttyACM0)")
        elif code == errno.ENODEV:
            msg = f"CAN interface {config.channel} not found: {hint(config)}"
        elif code == errno.EAFNOSUPPORT:
            msg = (f"cannot open {config.channel}: this kernel has no SocketCAN support (AF_CAN): "
                   "`sudo modprobe can can_raw`, or use a USB slcan adapter (interface 'slcan', "
                   "channel '/dev/ttyACM0')")
        else:
            msg = f"cannot open CAN bus {config.label}: {e}; {hint(config)}"
        raise CanBusError(msg) from e
