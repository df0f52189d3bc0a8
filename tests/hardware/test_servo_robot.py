"""arm6 through its real servo path: ServoRobot → MotorBus (pyserial) → virtual servo chain on a
pty → servo position loops in a real-time MuJoCo plant; a lost motor damps the arm."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hardware.servo import BUSES
from hardware.servo_robot import ServoRobot
from hardware.sim_plant import SimPlant
from hardware.virtual.plant_servo import bus_motors, identity_calibration, virtual_servo_bus
from robot_rl.safety.core import Mode
from robot_rl.safety.robot_config import load_robot_config, make_safety_chain
from robot_rl.types import JointCommand


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
def test_arm6_tracks_goals_over_the_bus_and_a_lost_servo_damps_it(protocol: str) -> None:
    plant = SimPlant("arm6", realtime=1.0).start()
    virtual = virtual_servo_bus(plant, protocol).start()
    spec = plant.spec
    cal = identity_calibration(plant)
    bus = BUSES[protocol](bus_motors(spec, protocol), virtual.port, timeout_s=0.02)
    robot = ServoRobot(spec, bus, cal)
    chain = make_safety_chain(load_robot_config(robot="arm6"))
    goal = spec.q0 + np.array([0.4, -0.3, 0.3, 0.2, 0.6, 0.0])
    try:
        robot.connect()
        np.testing.assert_allclose(robot.read_state().q, plant.state().q, atol=0.01)
        modes = []
        t_end = time.monotonic() + 3.5
        while time.monotonic() < t_end:
            now = time.monotonic()
            st = robot.read_state()
            cmd = JointCommand(spec.joint_names, goal.copy(), np.zeros(6), spec.kp.copy(),
                               spec.kd.copy(), np.zeros(6))
            robot.write_command(chain.step(cmd, st, now, state_t=st.t, command_t=now))
            modes.append(chain.mode)
            time.sleep(max(0.0, 0.01 - (time.monotonic() - now)))
        assert chain.mode == Mode.ACTIVE and robot.torque_on
        q = plant.state().q
        assert np.abs(q - goal).max() < 0.1  # the arm went there (soft start 2 s)
        virtual.disconnect([3])  # the elbow servo stops answering
        for _ in range(20):
            now = time.monotonic()
            st = robot.read_state()
            robot.write_command(chain.step(cmd, st, now, state_t=st.t, command_t=now))
            time.sleep(0.01)
        assert robot.fault is not None and "3" in robot.fault
        assert chain.mode >= Mode.DAMPING and not robot.torque_on
    finally:
        robot.disconnect()
        virtual.close()
        plant.stop()
