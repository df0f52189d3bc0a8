"""Errors a user can cause on the hardware side (a missing device, a wrong robot, no reply):
`HardwareError`, the root of the servo bus, CAN, camera and calibration errors."""

from robot_rl.errors import RobotRLError


class HardwareError(RobotRLError, RuntimeError):
    """The robot cannot be reached or configured; the message says what and what to try."""


__all__ = ["HardwareError"]
