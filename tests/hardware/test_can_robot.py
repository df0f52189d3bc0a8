"""quad12 through its real CAN path: CanRobot → MultiCanBus → python-can slcan → 4 emulated
adapters on ptys → MIT motors driving a real-time MuJoCo plant; a lost motor stops the robot."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from hardware.can.multi import MultiCanBus
from hardware.can_robot import CanRobot
from hardware.sim_plant import PlantImu, SimPlant
from hardware.virtual.plant_can import can_bus_specs, can_layout, mit_adapters
from robot_rl.safety.core import Mode
from robot_rl.safety.robot_config import load_robot_config, make_safety_chain
from robot_rl.types import JointCommand


@pytest.fixture
def rig() -> Iterator[tuple[SimPlant, list, CanRobot]]:
    plant = SimPlant("quad12", realtime=1.0).start()
    adapters = [a.start() for a in mit_adapters(plant)]
    slots = can_layout(plant.spec)
    bus = MultiCanBus.open(can_bus_specs(adapters, plant.spec), timeout=0.01, max_misses=3)
    robot = CanRobot(plant.spec, bus, [s.limits for s in slots], imu=PlantImu(plant))
    try:
        yield plant, adapters, robot
    finally:
        robot.disconnect()
        for a in adapters:
            a.close()
        plant.stop()


def _run(robot: CanRobot, chain, seconds: float, hz: float = 200.0,
         on_tick=None) -> list[Mode]:
    spec = robot.spec
    modes = []
    t_end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < t_end:
        now = time.monotonic()
        if on_tick is not None:
            on_tick(k)
        st = robot.read_state()
        cmd = JointCommand(spec.joint_names, spec.q0.copy(), np.zeros(12), spec.kp.copy(),
                           spec.kd.copy(), np.zeros(12))
        out = chain.step(cmd, st, now, state_t=st.t, command_t=now)
        robot.write_command(out)
        modes.append(chain.mode)
        k += 1
        time.sleep(max(0.0, 1.0 / hz - (time.monotonic() - now)))
    return modes


def test_quad12_stands_through_the_can_path_and_a_lost_motor_damps_it(rig) -> None:
    plant, adapters, robot = rig
    # (the chain first: building it loads quad12's recovery bundle, ~0.15 s, and the state
    # read just after connect would be that old: the state watchdog would latch damping)
    chain = make_safety_chain(load_robot_config(robot="quad12"))
    robot.connect()
    assert robot.fault is None
    modes = _run(robot, chain, 3.0)
    st = plant.state()
    assert Mode.ACTIVE in modes and chain.mode == Mode.ACTIVE, chain.summary()
    assert st.base_pos is not None and st.base_pos[2] > 0.2  # standing, soft start done
    q_robot = robot.read_state().q
    np.testing.assert_allclose(q_robot, st.q, atol=0.02)  # the CAN readings are the joints
    # the calf motor of the RL leg goes silent mid-run
    adapters[3].disappear(3)
    modes = _run(robot, chain, 0.6)
    assert robot.fault is not None and "RL_calf" in robot.fault
    assert chain.mode in (Mode.DAMPING, Mode.STOP)
    assert chain.report["state_watchdog"].count > 0
    out = chain.last_safe
    assert out is not None and not out.kp.any()  # damping: kp = 0 on every joint
    first_damp = modes.index(next(m for m in modes if m >= Mode.DAMPING))
    assert first_damp * 0.005 <= 0.05 + 0.1  # within the 50 ms state timeout (+ scheduling)
