"""Each robot's hardware description (`RobotHardware`, in its robot package) is complete and
what the rest of the code runs on: every declared backend exists, the motor lists cover the
joints, the CAN motors' ranges cover the spec's limits, and the virtual devices and
deployment backends are built from it (no robot is named outside its package)."""

from __future__ import annotations

import pytest

from hardware.can.mit import MitLimits
from hardware.errors import HardwareError
from hardware.virtual.plant_can import can_layout
from hardware.virtual.plant_servo import bus_motors
from robot_rl.deploy.backends import BACKENDS
from robot_rl.deploy.config import robot_backends
from robot_rl.robots import ROBOTS
from robot_rl.robots.spec import RobotHardware


@pytest.mark.parametrize("name", sorted(ROBOTS))
def test_every_declared_backend_is_implemented(name: str) -> None:
    spec = ROBOTS[name]
    assert set(robot_backends(spec)) <= set(BACKENDS), set(robot_backends(spec)) - set(BACKENDS)


@pytest.mark.parametrize("name", sorted(ROBOTS))
def test_motors_cover_the_joints_and_their_limits(name: str) -> None:
    spec = ROBOTS[name]
    hw = spec.hardware
    assert hw.can_motors or hw.servo_motors, f"{name} describes no motors"
    if hw.can_motors:
        slots = can_layout(spec)
        assert [s.joint for s in slots] == list(range(spec.n_joints))
        assert len({(s.bus, s.can_id) for s in slots}) == spec.n_joints  # no id twice on a bus
        for j, s in enumerate(slots):  # the MIT ranges must not clip the robot's own limits
            assert s.limits.t_max >= spec.tau_max[j] and s.limits.v_max >= spec.dq_max[j]
            assert s.limits.p_max >= max(abs(spec.q_min[j]), abs(spec.q_max[j]))
    if hw.servo_motors:
        for protocol in ("feetech", "dynamixel"):
            motors = bus_motors(spec, protocol)
            assert list(motors) == list(spec.joint_names)
            assert len({mid for mid, _ in motors.values()}) == spec.n_joints


def test_a_robot_without_can_motors_is_refused_on_can_with_the_fix() -> None:
    arm = ROBOTS["arm6"]
    with pytest.raises(HardwareError, match="RobotHardware.can_motors"):
        can_layout(arm)
    assert MitLimits.of(ROBOTS["quad12"].hardware.can_motors[2]).t_max == 45.0


def test_gains_must_say_where_they_live() -> None:
    with pytest.raises(ValueError, match="per_message"):
        RobotHardware(gains="servo")
