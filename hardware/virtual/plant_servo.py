"""A robot's servos emulated on a virtual bus (its description, `RobotHardware.servo_motors`),
driving a `SimPlant`.

Each servo is one joint. The servo's own position loop runs in the plant at the physics rate
(`PositionServoLaw`, saturated at the motor's torque) with the gains its P and D registers hold
(`VirtualServoBus` sets them: the factory defaults until the driver writes the command's,
never the spec's kp / kd by construction); ticks <-> radians
through the virtual robot's calibration (4096 ticks/rev, 2048 = 0 rad, direction +1), the
same conversion the driver side uses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hardware.errors import HardwareError
from hardware.servo.calibration import JointCalibration, RobotCalibration
from hardware.sim_plant import PositionServoLaw, SimPlant
from hardware.virtual.servo_bus import VirtualServoBus
from robot_rl.robots.spec import RobotSpec, ServoMotor


def servo_motors(spec: RobotSpec) -> tuple[ServoMotor, ...]:
    """The robot's servos, one per joint in RobotSpec order."""
    motors = spec.hardware.servo_motors
    if len(motors) != spec.n_joints:
        raise HardwareError(f"{spec.name} describes {len(motors)} servos for {spec.n_joints} "
                            "joints (RobotHardware.servo_motors in its robot package); it "
                            "cannot run on a servo bus")
    return motors


def bus_motors(spec: RobotSpec, protocol: str) -> dict[str, tuple[int, str]]:
    """joint name -> (servo id, model) on a bus of ``protocol``, for the bus drivers."""
    return {name: (m.motor_id, m.model(protocol))
            for name, m in zip(spec.joint_names, servo_motors(spec), strict=True)}


def identity_calibration(plant: SimPlant) -> RobotCalibration:
    """The virtual robot's calibration: its servo ids, zero at 2048, range = the joint
    limits."""
    spec = plant.spec
    ids = [m.motor_id for m in servo_motors(spec)]
    joints = {}
    for j, name in enumerate(spec.joint_names):
        lo = int(math.floor(2048 + spec.q_min[j] * 4096 / (2 * math.pi)))
        hi = int(math.ceil(2048 + spec.q_max[j] * 4096 / (2 * math.pi)))
        joints[name] = JointCalibration(motor_id=ids[j], range_min=max(0, lo),
                                        range_max=min(4095, hi))
    return RobotCalibration(spec.name, joints)


class PlantServoBackend:
    """`ServoBackend` over a plant: goals and torque switches go to the joints' servo laws."""

    def __init__(self, plant: SimPlant, calibration: RobotCalibration) -> None:
        self.plant, self.cal = plant, calibration
        spec = plant.spec
        self.joint_of: dict[int, int] = {}
        self.laws: dict[int, PositionServoLaw] = {}
        for j, name in enumerate(spec.joint_names):
            mid = calibration[name].motor_id
            self.joint_of[mid] = j
            law = PositionServoLaw(kp=0.0, kd=0.0, tau_max=float(spec.tau_max[j]),
                                   goal=float(spec.q0[j]))  # (gains: from the registers)
            self.laws[mid] = law
            plant.set_law(j, law)
        self._names = {calibration[n].motor_id: n for n in spec.joint_names}

    def read_positions(self) -> dict[int, int]:
        out = {}
        for mid, j in self.joint_of.items():
            q = self.plant.joint_state(j)[0]
            out[mid] = int(round(float(self.cal[self._names[mid]].rad_to_ticks(q, clip=False))))
        return out

    def read_velocities(self) -> dict[int, float]:
        scale = 4096 / (2 * math.pi)
        return {mid: self.plant.joint_state(j)[1] * scale for mid, j in self.joint_of.items()}

    def write_goals(self, goals: Mapping[int, int]) -> None:
        with self.plant.lock:
            for mid, ticks in goals.items():
                self.laws[mid].goal = float(self.cal[self._names[mid]].ticks_to_rad(ticks))

    def set_torque(self, motor_id: int, on: bool) -> None:
        with self.plant.lock:
            self.laws[motor_id].enabled = on

    def set_gains(self, motor_id: int, kp: float, kd: float) -> None:
        with self.plant.lock:
            self.laws[motor_id].kp, self.laws[motor_id].kd = kp, kd


def virtual_servo_bus(plant: SimPlant, protocol: str = "feetech") -> VirtualServoBus:
    """A virtual servo chain (the robot's servo ids and models) whose servos drive
    ``plant``."""
    motors = bus_motors(plant.spec, protocol)
    cal = identity_calibration(plant)
    backend = PlantServoBackend(plant, cal)
    return VirtualServoBus(protocol, dict(motors.values()), backend)


__all__ = ["PlantServoBackend", "bus_motors", "identity_calibration", "servo_motors",
           "virtual_servo_bus"]
