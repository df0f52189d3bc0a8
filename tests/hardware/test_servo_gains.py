"""The gains a command asks for reach the servos' position loops: the driver writes them to
the P and D registers, the virtual servos apply what their registers hold (from the factory
defaults on, not the training gains), and `write_command` returns what the servos got."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hardware.errors import HardwareError
from hardware.servo import BUSES
from hardware.servo.protocol import MODELS
from hardware.servo_robot import ServoRobot
from hardware.sim_plant import SimPlant
from hardware.virtual.plant_servo import bus_motors, identity_calibration, virtual_servo_bus
from robot_rl.types import JointCommand

COUNTS_PER_RAD = 4096 / (2 * math.pi)


def test_conversions_against_hand_worked_numbers() -> None:
    sts = MODELS["sts3215"].gains
    assert sts is not None
    # P = 1: 4000 counts of error give full duty, i.e. the stall torque 2.94 N m
    assert sts.kp_per_unit == pytest.approx(2.94 * COUNTS_PER_RAD / 4000)  # 0.4791
    assert sts.to_registers(17.8, 0.6) == (37, 32)  # 17.8 / 0.4791 = 37.15
    assert sts.to_gains(37, 32) == pytest.approx((17.728, 0.6), abs=1e-3)
    xl = MODELS["xl430-w250"].gains
    assert xl is not None
    # KPP = P / 128 PWM units (885 = stall torque 1.4 N m) per count of error
    assert xl.kp_per_unit == pytest.approx(1.4 * COUNTS_PER_RAD / 128 / 885)  # 0.008057
    assert xl.to_registers(17.8, 0.6) == (2209, 9309)
    assert MODELS["xl430-w250"].defaults["Position_P_Gain"] * xl.kp_per_unit == pytest.approx(
        5.156, abs=1e-3)  # the factory default 640: 5.2 N m/rad
    with pytest.raises(ValueError, match=r"kp 200 N m/rad is beyond P_Coefficient"):
        sts.to_registers(200.0, 0.6)
    with pytest.raises(ValueError, match=r"kd 5 N m s/rad is beyond D_Coefficient"):
        sts.to_registers(17.8, 5.0)
    with pytest.raises(ValueError, match="beyond P_Coefficient"):
        sts.to_registers(0.1, 0.0)  # a stiffness that rounds to none: not silently limp
    assert sts.to_registers(0.0, 0.0) == (0, 0)


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
def test_command_gains_reach_the_registers_and_the_servo_loops(protocol: str) -> None:
    plant = SimPlant("arm6", realtime=1.0).start()
    virtual = virtual_servo_bus(plant, protocol).start()
    spec = plant.spec
    bus = BUSES[protocol](bus_motors(spec, protocol), virtual.port, timeout_s=0.02)
    robot = ServoRobot(spec, bus, identity_calibration(plant))
    model = MODELS[bus_motors(spec, protocol)[spec.joint_names[0]][1]]
    g = model.gains
    assert g is not None
    ids = {n: m for n, (m, _) in bus_motors(spec, protocol).items()}
    laws = virtual.backend.laws  # type: ignore[attr-defined]

    def registers() -> list[tuple[int, int]]:
        return [(virtual.register(ids[n], g.p_register), virtual.register(ids[n], g.d_register))
                for n in spec.joint_names]

    try:
        robot.connect()
        # before any command the servos run their factory gains, not the training kp
        default = (model.defaults.get(g.p_register, 0), model.defaults.get(g.d_register, 0))
        assert registers() == [default] * 6
        assert laws[ids[spec.joint_names[0]]].kp == pytest.approx(default[0] * g.kp_per_unit)
        assert abs(default[0] * g.kp_per_unit - spec.kp[0]) > 1.0
        for kp, kd in ((spec.kp, spec.kd), (0.5 * spec.kp, 0.5 * spec.kd)):
            cmd = JointCommand(spec.joint_names, spec.q0.copy(), np.zeros(6), kp.copy(),
                               kd.copy(), np.zeros(6))
            sent = robot.write_command(cmd)
            want = [g.to_registers(float(kp[j]), float(kd[j])) for j in range(6)]
            assert registers() == want  # read back from the servos' control tables
            applied = np.array([g.to_gains(*r) for r in want])
            np.testing.assert_allclose(sent.kp, applied[:, 0])  # what the servos got
            np.testing.assert_allclose(sent.kd, applied[:, 1])
            assert np.abs(sent.kp - kp).max() <= g.kp_per_unit / 2 + 1e-12  # (one register
            assert np.abs(sent.kd - kd).max() <= g.kd_per_unit / 2 + 1e-12  # step at most)
            np.testing.assert_allclose(  # the servo loops in the plant run those gains
                [(laws[ids[n]].kp, laws[ids[n]].kd) for n in spec.joint_names], applied)
            assert robot.torque_on and robot.fault is None
        too_stiff = JointCommand(spec.joint_names, spec.q0.copy(), np.zeros(6),
                                 np.full(6, 1e4), spec.kd.copy(), np.zeros(6))
        with pytest.raises(HardwareError, match=rf"{spec.joint_names[0]}: kp 10000 .*beyond "
                                                rf"{g.p_register}.*refused"):
            robot.write_command(too_stiff)
        assert registers() == want  # nothing half-written
    finally:
        robot.disconnect()
        virtual.close()
        plant.stop()
