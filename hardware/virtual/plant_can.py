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
from hardware.can.mit import (
    GO2_CALF,
    GO2_HIP,
    GO2_THIGH,
    MitCommand,
    MitLimits,
)
from hardware.sim_plant import MitLaw, SimPlant
from hardware.virtual.slcan import EmulatedMitMotor, VirtualSlcanAdapter

LEGS = ("FR", "FL", "RR", "RL")
LEG_LIMITS: tuple[MitLimits, MitLimits, MitLimits] = (GO2_HIP, GO2_THIGH, GO2_CALF)


@dataclass(frozen=True)
class MotorSlot:
    """Where one joint's motor sits: bus index, CAN id, its joint index and limits."""

    bus: int
    can_id: int
    joint: int
    limits: MitLimits


def quad12_layout(n_joints: int = 12) -> list[MotorSlot]:
    """Joints in RobotSpec order (hip, thigh, calf per leg, legs FR FL RR RL)."""
    return [MotorSlot(j // 3, j % 3 + 1, j, LEG_LIMITS[j % 3]) for j in range(n_joints)]


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


def quad12_adapters(plant: SimPlant) -> list[VirtualSlcanAdapter]:
    """Four emulated slcan adapters (one per leg) whose motors drive ``plant``."""
    slots = quad12_layout(plant.spec.n_joints)
    adapters = []
    for bus in range(len(LEGS)):
        mine = [s for s in slots if s.bus == bus]
        backend = _PlantBackend(plant, {s.can_id: s.joint for s in mine})
        adapter = VirtualSlcanAdapter({s.can_id: s.limits for s in mine}, backend)
        adapter.motors = {s.can_id: PlantMitMotor(s, plant, backend) for s in mine}
        adapters.append(adapter)
    return adapters


def quad12_bus_specs(adapters: list[VirtualSlcanAdapter], joint_names: tuple[str, ...]
                     ) -> list[tuple[Any, dict[str, tuple[int, MitLimits]]]]:
    """(CanBusConfig, motors) per adapter, for `MultiCanBus.open`: python-can's slcan
    interface on each adapter's pty, the leg's motors by joint name."""

    slots = quad12_layout(len(joint_names))
    return [(CanBusConfig("slcan", a.port), {joint_names[s.joint]: (s.can_id, s.limits)
                                            for s in slots if s.bus == b})
            for b, a in enumerate(adapters)]


__all__ = ["LEGS", "MotorSlot", "PlantMitMotor", "quad12_adapters", "quad12_bus_specs",
           "quad12_layout"]
