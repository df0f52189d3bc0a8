"""Virtual devices that emulate real hardware byte for byte on pseudo-terminals: a servo chain
(`servo_bus`, Dynamixel Protocol 2.0 / Feetech SCS-STS) and an slcan USB-CAN adapter with MIT
motors (`slcan`); `plant_servo` / `plant_can` put them on a real-time MuJoCo robot."""

from hardware.virtual.servo_bus import FaultRule, FirstOrderBackend, ServoBackend, VirtualServoBus
from hardware.virtual.slcan import EmulatedMitMotor, InertiaBackend, VirtualSlcanAdapter

__all__ = ["EmulatedMitMotor", "FaultRule", "FirstOrderBackend", "InertiaBackend",
           "ServoBackend", "VirtualServoBus", "VirtualSlcanAdapter"]
