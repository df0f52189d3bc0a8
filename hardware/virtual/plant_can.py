"""quad12's 12 MIT motors emulated on 4 slcan adapters (one per leg), driving a `SimPlant`.

Each emulated motor sets the plant's `MitLaw` for its joint, so the PD law runs at every
physics step on the last command, as in a real MIT driver (not once per CAN frame), and
replies with the joint's measured position, velocity and torque. Leg k (FR, FL, RR, RL) is
bus k with CAN ids 1 (hip), 2 (thigh), 3 (calf).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hardware.can.link import CanBusConfig
from hardware.can.mit import MitCommand, MitLimits
from hardware.errors import HardwareError
from hardware.sim_plant import MitLaw, SimPlant
from hardware.virtual.slcan import EmulatedMitMotor, VirtualSlcanAdapter
from robot_rl.robots.spec import RobotSpec


@dataclass(frozen=True)
class MotorSlot:
    """Where one joint's motor sits: bus index, CAN id, its joint index and limits."""

    bus: int
    can_id: int
    joint: int
    limits: MitLimits


def can_layout(spec: RobotSpec) -> list[MotorSlot]:
    """The robot's CAN motors, one slot per joint in RobotSpec order."""
    motors = spec.hardware.can_motors
    if len(motors) != spec.n_joints:
        raise HardwareError(f"{spec.name} describes {len(motors)} CAN motors for "
                            f"{spec.n_joints} joints (RobotHardware.can_motors in its robot "
                            "package); it cannot run on CAN motors")
    return [MotorSlot(m.bus, m.can_id, j, MitLimits.of(m)) for j, m in enumerate(motors)]


class _PlantBackend:
    """MotorBackend over the plant: the joints' measured state (torques come from the laws)."""

    def __init__(self, plant: SimPlant, joints: dict[int, int]) -> None:
        self.plant, self.joints = plant, joints

    def apply(self, can_id: int, tau: float) -> None:
        raise NotImplementedError("plant motors drive their MitLaw, not a held torque")

    def state(self, can_id: int) -> tuple[float, float, float]:
        return self.plant.joint_state(self.joints[can_id])


class PlantMitMotor(EmulatedMitMotor):
    """An emulated MIT motor whose PD loop runs in the plant at the physics rate: the
    firmware model (modes, zero offset, replies) is `EmulatedMitMotor`'s; only what the
    driver does to the joint differs."""

    def __init__(self, slot: MotorSlot, plant: SimPlant, backend: _PlantBackend) -> None:
        super().__init__(slot.can_id, slot.limits, backend)
        self.plant = plant
        self.law = MitLaw(tau_max=min(slot.limits.t_max, float(plant.spec.tau_max[slot.joint])))
        plant.set_law(slot.joint, self.law)

    def set_mode(self, motor_mode: bool) -> None:
        with self.plant.lock:
            self.law.kp = self.law.kd = self.law.t_ff = 0.0
            self.law.enabled = motor_mode

    def drive(self, c: MitCommand) -> None:
        with self.plant.lock:
            law = self.law
            law.p_des, law.v_des = c.p_des + self.offset, c.v_des
            law.kp, law.kd, law.t_ff = c.kp, c.kd, c.t_ff


def mit_adapters(plant: SimPlant) -> list[VirtualSlcanAdapter]:
    """Emulated slcan adapters (one per CAN bus, in bus order) whose motors drive
    ``plant``."""
    slots = can_layout(plant.spec)
    adapters = []
    for bus in sorted({s.bus for s in slots}):
        mine = [s for s in slots if s.bus == bus]
        backend = _PlantBackend(plant, {s.can_id: s.joint for s in mine})
        adapter = VirtualSlcanAdapter({s.can_id: s.limits for s in mine}, backend)
        adapter.motors = {s.can_id: PlantMitMotor(s, plant, backend) for s in mine}
        adapters.append(adapter)
    return adapters


def can_bus_specs(adapters: list[VirtualSlcanAdapter], spec: RobotSpec
                  ) -> list[tuple[Any, dict[str, tuple[int, MitLimits]]]]:
    """(CanBusConfig, motors) per adapter of `mit_adapters`, for `MultiCanBus.open`:
    python-can's slcan interface on each adapter's pty, the bus's motors by joint name."""
    slots = can_layout(spec)
    buses = sorted({s.bus for s in slots})
    return [(CanBusConfig("slcan", a.port), {spec.joint_names[s.joint]: (s.can_id, s.limits)
                                            for s in slots if s.bus == b})
            for b, a in zip(buses, adapters, strict=True)]


__all__ = ["MotorSlot", "PlantMitMotor", "can_bus_specs", "can_layout", "mit_adapters"]
