"""Errors a user can cause on the hardware side (a missing device, a wrong robot, no reply)."""


class HardwareError(RuntimeError):
    """The robot cannot be reached or configured; the message says what and what to try."""


__all__ = ["HardwareError"]
