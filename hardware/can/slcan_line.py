"""A buffered slcan (LAWICEL) transport: python-can's `BusABC` on a serial-line CAN adapter.

python-can's own ``slcan`` interface reads the serial line one byte per ``read()`` call; a
12-motor MIT cycle (24 frames of ~20 ASCII characters) then costs hundreds of system calls.
This transport reads whatever the line holds in one ``os.read`` and splits it into frames,
and writes each frame as one ``os.write``. It speaks the same subset python-can uses:
``C`` close, ``Sn`` bitrate, ``O`` open, ``tIIILDD..`` / ``TIIIIIIIILDD..`` frames (received
frames may carry a 4-hex-digit timestamp), ``\\r`` OK, ``\\a`` error, ``z`` / ``Z`` transmit
acknowledgements (ignored).

The port is a file descriptor the caller opened (and locked); it is set to raw mode here.
"""

from __future__ import annotations

import os
import select
import time
import tty
from typing import Any

import can

BITRATE_CODES = {10_000: 0, 20_000: 1, 50_000: 2, 100_000: 3, 125_000: 4, 250_000: 5,
                 500_000: 6, 800_000: 7, 1_000_000: 8}


class SlcanLineBus(can.BusABC):
    """Args: fd: the adapter's serial port (opened O_RDWR | O_NONBLOCK); bitrate: CAN bit/s
    (one of ``BITRATE_CODES``); channel: its path, for messages."""

    def __init__(self, fd: int, bitrate: int = 1_000_000, channel: str = "",
                 open_timeout: float = 1.0, **kwargs: Any) -> None:
        if bitrate not in BITRATE_CODES:
            raise ValueError(f"slcan bitrate {bitrate} is not one of {sorted(BITRATE_CODES)}")
        self.fd, self.channel_info = fd, f"slcan {channel}"
        try:
            tty.setraw(fd)
        except Exception:  # not a tty (a pipe in tests): nothing to configure
            pass
        self._buf = bytearray()
        super().__init__(channel=channel, **kwargs)
        # close (in case it was left open), set the bitrate, open; each answered by \r or \a
        for cmd in (b"C", b"S%d" % BITRATE_CODES[bitrate], b"O"):
            self._write(cmd + b"\r")
            if not self._await_ack(open_timeout) and cmd != b"C":
                raise can.CanInitializationError(
                    f"slcan adapter {channel} did not acknowledge {cmd.decode()!r}: is it a "
                    "CANable-class (slcan) adapter, and is nothing else using it?")

    # -- line I/O ------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                select.select([], [self.fd], [], 0.01)
                continue
            view = view[n:]

    def _fill(self, timeout: float | None) -> bool:
        """Read what the line holds (waiting up to ``timeout``); False if nothing came."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return False
        if not chunk:
            raise can.CanOperationError(f"{self.channel_info}: the adapter went away (EOF)")
        self._buf += chunk
        return True

    def _next_line(self) -> bytes | None:
        """Pop one record (without its terminator) if a complete one is buffered. A lone
        ``\\r`` (OK) or ``\\a`` (error) is returned as b"" / b"\\a"."""
        buf = self._buf
        for i, c in enumerate(buf):
            if c in (13, 7):
                line = bytes(buf[:i]) if c == 13 else b"\a"
                del buf[: i + 1]
                return line
        return None

    def _await_ack(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while True:
            line = self._next_line()
            if line is not None:
                if line == b"":
                    return True
                if line == b"\a":
                    return False
                continue  # a frame or a transmit ack arriving meanwhile
            left = end - time.monotonic()
            if left <= 0 or not self._fill(left):
                return False

    # -- BusABC ----------------------------------------------------------------------------------
    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        data = bytes(msg.data)
        if msg.is_extended_id:
            head = b"%s%08X%d" % (b"R" if msg.is_remote_frame else b"T", msg.arbitration_id,
                                  len(data))
        else:
            head = b"%s%03X%d" % (b"r" if msg.is_remote_frame else b"t", msg.arbitration_id,
                                  len(data))
        self._write(head + data.hex().upper().encode() + b"\r")

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            line = self._next_line()
            while line is not None:
                msg = _parse(line)
                if msg is not None:
                    return msg, False
                line = self._next_line()
            left = None if end is None else max(0.0, end - time.monotonic())
            if not self._fill(left) and left is not None and left <= 0.0:
                return None, False
            if not self._buf and end is not None and time.monotonic() >= end:
                return None, False

    def fileno(self) -> int:
        return self.fd

    @property
    def pending(self) -> bool:
        """A complete record is buffered (select on the fd would not show it)."""
        return 13 in self._buf or 7 in self._buf

    def shutdown(self) -> None:
        try:
            self._write(b"C\r")
        except OSError:
            pass
        super().shutdown()


def _parse(line: bytes) -> can.Message | None:
    """A received frame record, or None for acknowledgements and unknown records."""
    if not line or line[0] not in b"tTrR":
        return None
    ext = line[0] in b"TR"
    n_id = 8 if ext else 3
    can_id = int(line[1:1 + n_id], 16)
    dlc = int(line[1 + n_id:2 + n_id], 16)
    remote = line[0] in b"rR"
    start = 2 + n_id
    data = b"" if remote else bytes.fromhex(line[start:start + 2 * dlc].decode())
    if not remote and len(data) != dlc:
        raise ValueError(f"slcan frame {line!r}: {len(data)} data bytes for DLC {dlc}")
    return can.Message(arbitration_id=can_id, data=data, is_extended_id=ext,
                       is_remote_frame=remote, dlc=dlc, timestamp=time.time())


__all__ = ["BITRATE_CODES", "SlcanLineBus"]
