"""Serial-bus servos: packet codecs, drivers (Dynamixel Protocol 2.0, Feetech STS) and
joint calibration. See ``protocol``, ``bus`` and ``calibration``."""

from hardware.servo.bus import (
    BusError,
    BusStats,
    ChecksumError,
    DynamixelBus,
    FeetechBus,
    MissingMotorsError,
    MotorBus,
    MotorError,
    MotorHardwareError,
    MotorStatusError,
    MotorTimeoutError,
    NoResponseError,
    PortError,
)
from hardware.servo.calibration import CalibrationError, JointCalibration, RobotCalibration
from hardware.servo.protocol import DYNAMIXEL, FEETECH, MODELS, ModelSpec, Register

BUSES: dict[str, type[MotorBus]] = {"dynamixel": DynamixelBus, "feetech": FeetechBus}

__all__ = [
    "BUSES", "DYNAMIXEL", "FEETECH", "MODELS", "BusError", "BusStats", "CalibrationError",
    "ChecksumError", "DynamixelBus", "FeetechBus", "JointCalibration", "MissingMotorsError",
    "ModelSpec", "MotorBus", "MotorError", "MotorHardwareError", "MotorStatusError",
    "MotorTimeoutError", "NoResponseError", "PortError", "Register", "RobotCalibration",
]
