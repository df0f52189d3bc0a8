"""The `Robot` interface. Backends: `hardware.can_robot.CanRobot`,
`hardware.servo_robot.ServoRobot`, `hardware.sim_robot.SimRobot`.

A `Robot` connects, reads a `RobotState`, writes a `JointCommand` (returning the command
actually sent, e.g. after the motor protocol's quantisation) and disconnects; it is a context
manager. ``fault`` names what is wrong (a lost motor, a dead bus) or is None.

Freshness: ``RobotState.t`` is the time (``time.monotonic()``) of the *oldest* joint reading
in the state. A motor that stops answering therefore makes the state age grow tick by tick,
and the safety chain's state watchdog damps the robot; a stale reading is never stamped as
fresh.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from hardware.errors import HardwareError
from robot_rl.robots.spec import RobotSpec
from robot_rl.types import JointCommand, RobotState


class ImuSource(Protocol):
    """An IMU: orientation (w, x, y, z), body angular velocity [rad/s], specific force."""

    def read(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """(t [s, monotonic], quat (4,), gyro (3,), acc (3,))."""
        ...


class Robot:
    """Base class of robot backends (sim, servo bus, CAN motors)."""

    spec: RobotSpec
    fault: str | None = None

    def connect(self) -> None:
        raise NotImplementedError

    def read_state(self) -> RobotState:
        raise NotImplementedError

    def write_command(self, cmd: JointCommand) -> JointCommand:
        raise NotImplementedError

    def disconnect(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Robot:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()


__all__ = ["HardwareError", "ImuSource", "Robot"]
