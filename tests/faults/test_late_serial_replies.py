"""Issue case 11: serial replies 30–70 ms late, past the bus's 20 ms timeout (a USB adapter's
latency timer), must never be taken as the answer to the next request.

Both servo families have position and velocity registers of one size (STS3215: 2 bytes,
Dynamixel X: 4 bytes), so a late position reply has exactly the shape of the velocity reply
that follows it. Before the fix the bus took it: velocity read as position, no fault.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

import numpy as np
import pytest

from hardware.servo import BUSES, JointCalibration, MotorBus, MotorTimeoutError, RobotCalibration
from hardware.servo_robot import ServoRobot
from hardware.virtual.servo_bus import VirtualServoBus
from robot_rl.robots import get_robot
from robot_rl.safety.core import Mode
from robot_rl.safety.robot_config import load_robot_config, make_safety_chain
from robot_rl.types import JointCommand

BAUD = 1_000_000
MODELS = {"feetech": "sts3215", "dynamixel": "xl430-w250"}
LATE_S = (0.03, 0.07)  # how late the replies come, after the request
TIMEOUT_S = 0.02  # the deploy path's bus timeout (robot_rl/deploy/backends.py)
REGISTERS = ("Present_Position", "Present_Velocity")


class CountingBackend:
    """Every refresh (one per READ / SYNC_READ) moves every motor: positions and velocities
    differ from request to request and between the two registers (positions 400..2700,
    velocities negative), so a reply taken for another request or register shows."""

    def __init__(self, ids: list[int]) -> None:
        self.ids, self.n = ids, 0

    def read_positions(self) -> dict[int, int]:
        self.n += 1
        return {i: 400 * i + self.n % 300 for i in self.ids}

    def read_velocities(self) -> dict[int, float]:  # ticks/s
        return {i: -(4000.0 * i + 16.0 * (self.n % 300)) for i in self.ids}

    def write_goals(self, goals: Mapping[int, int]) -> None:
        pass

    def set_torque(self, motor_id: int, on: bool) -> None:
        pass

    def set_gains(self, motor_id: int, kp: float, kd: float) -> None:
        pass


class StaticBackend(CountingBackend):
    """An arm standing still at known ticks, with known (nonzero) velocity readings."""

    def __init__(self, positions: dict[int, int], velocities: dict[int, float]) -> None:
        super().__init__(list(positions))
        self.positions, self.velocities = positions, velocities

    def read_positions(self) -> dict[int, int]:
        return dict(self.positions)

    def read_velocities(self) -> dict[int, float]:
        return dict(self.velocities)


@pytest.fixture(params=["feetech", "dynamixel"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _count_remaining(virtual: VirtualServoBus, bus: MotorBus) -> None:
    """Stop injecting, then one clean read: late replies still on the line get counted."""
    virtual.clear_faults()
    bus.sync_read("Present_Position")


def test_sync_reads_never_return_another_registers_or_requests_value(protocol: str) -> None:
    ids = [1, 2, 3]
    motors = {f"m{i}": (i, MODELS[protocol]) for i in ids}
    with VirtualServoBus(protocol, dict.fromkeys(ids, MODELS[protocol]),
                         CountingBackend(ids), seed=11) as virtual:
        bus = BUSES[protocol](motors, virtual.port, BAUD, timeout_s=TIMEOUT_S, retries=2)
        bus.open()
        virtual.late_replies(LATE_S, probability=0.3)
        wrong, reads, failed = [], 0, 0
        for _ in range(40):
            for register in REGISTERS:
                try:
                    got = bus.sync_read(register)
                except MotorTimeoutError:  # a raised failure is allowed, a wrong value is not
                    failed += 1
                    continue
                reads += 1
                # the virtual table holds what the last request was answered with
                truth = {name: virtual.register(i, register) for name, (i, _) in motors.items()}
                if got != truth:
                    wrong.append((register, got, truth))
        _count_remaining(virtual, bus)
        print(f"{protocol}: {reads} reads, {failed} failed, {len(wrong)} wrong; late status "
              f"packets sent {virtual.stats['late']}, counted {bus.stats.late_replies}, "
              f"latest {bus.stats.late_max_s * 1e3:.0f} ms")
        bus.close()
    assert wrong == [], f"{len(wrong)} of {reads} reads returned another request's value"
    # every late status packet was recognised (none was taken as an answer)
    assert bus.stats.late_replies >= virtual.stats["late"] > 0


def test_a_late_reply_of_another_length_or_motor_is_never_taken(protocol: str) -> None:
    """Without settling (``settle_s=0``) the id and length checks alone still refuse a late
    reply of another register's size or of another motor."""
    model = MODELS[protocol]
    with VirtualServoBus(protocol, {1: model, 2: model}) as virtual:
        bus = BUSES[protocol]({"a": (1, model), "b": (2, model)}, virtual.port, BAUD,
                              timeout_s=TIMEOUT_S, settle_s=0.0)
        bus.open()
        virtual.late_replies(0.03, count=1)  # the next request is answered 30 ms late
        with pytest.raises(MotorTimeoutError):
            bus.read("Present_Temperature", "a", retries=0)  # 1 byte
        assert bus.read("Present_Position", "a") == 2048  # 2 or 4 bytes: not the 30 (°C)
        virtual.late_replies(0.03, count=1)
        with pytest.raises(MotorTimeoutError):
            bus.read("Present_Position", "b", retries=0)
        bus.read("Present_Position", "a")  # (the id check was there before: only counted now)
        time.sleep(0.05)
        _count_remaining(virtual, bus)
        assert bus.stats.late_replies >= virtual.stats["late"] == 2
        bus.close()


def _arm(protocol: str, backend: StaticBackend | None = None
         ) -> tuple[VirtualServoBus, ServoRobot, RobotCalibration]:
    spec = get_robot("arm6")
    cal = RobotCalibration(spec.name, {n: JointCalibration(motor_id=j + 1)
                                       for j, n in enumerate(spec.joint_names)})
    offsets = np.array([0.3, -0.2, 0.25, -0.15, 0.1, 0.05])[:spec.n_joints]
    q = np.clip(spec.q0 + offsets, spec.q_min + 0.05, spec.q_max - 0.05)
    positions = {j + 1: int(cal[n].rad_to_ticks(float(q[j])))
                 for j, n in enumerate(spec.joint_names)}
    velocities = {j + 1: (-1) ** j * (1500.0 + 400.0 * j) for j in range(spec.n_joints)}
    virtual = VirtualServoBus(protocol, dict.fromkeys(positions, MODELS[protocol]),
                              backend or StaticBackend(positions, velocities), seed=5)
    bus = BUSES[protocol]({n: (j + 1, MODELS[protocol]) for j, n in
                           enumerate(spec.joint_names)}, virtual.port, timeout_s=TIMEOUT_S)
    return virtual.start(), ServoRobot(spec, bus, cal), cal


def _truth(virtual: VirtualServoBus, robot: ServoRobot, cal: RobotCalibration
           ) -> tuple[np.ndarray, np.ndarray]:
    q, dq = [], []
    for name in robot.names:
        c, unit = cal[name], robot.bus.motors[name][1].velocity_unit_rad_s
        q.append(c.ticks_to_rad(virtual.register(c.motor_id, "Present_Position")))
        dq.append(c.velocity_to_rad_s(virtual.register(c.motor_id, "Present_Velocity"), unit))
    return np.array(q), np.array(dq)


@pytest.fixture
def arm(protocol: str) -> Iterator[tuple[VirtualServoBus, ServoRobot, RobotCalibration]]:
    virtual, robot, cal = _arm(protocol)
    try:
        robot.connect()
        yield virtual, robot, cal
    finally:
        robot.disconnect()
        virtual.close()


def test_arm_state_is_the_plants_under_late_replies(
        arm: tuple[VirtualServoBus, ServoRobot, RobotCalibration]) -> None:
    """The issue's set-up: arm6 on its servo bus, a third of the requests answered 30–70 ms
    late. Every state read is the plant's (or a counted failure keeping its old time)."""
    virtual, robot, cal = arm
    q_true, dq_true = _truth(virtual, robot, cal)
    virtual.late_replies(LATE_S, probability=0.3)
    err_q, err_dq, faults = [], [], 0
    for _ in range(30):
        st = robot.read_state()
        faults += robot.fault is not None
        err_q.append(np.abs(st.q - q_true).max())
        err_dq.append(np.abs(st.dq - dq_true).max())
    _count_remaining(virtual, robot.bus)
    stats = robot.bus.stats
    print(f"max |q error| {max(err_q):.3f} rad (mean {np.mean(err_q):.3f}), max |dq error| "
          f"{max(err_dq):.3f} rad/s, {faults} failed reads; late packets sent "
          f"{virtual.stats['late']}, counted {stats.late_replies}")
    assert max(err_q) < 1e-9 and max(err_dq) < 1e-9  # exactly the plant's ticks
    assert stats.late_replies >= virtual.stats["late"] > 0


def test_persistent_late_replies_end_in_a_named_fault_and_damping(
        arm: tuple[VirtualServoBus, ServoRobot, RobotCalibration]) -> None:
    virtual, robot, cal = arm
    spec = robot.spec
    chain = make_safety_chain(load_robot_config(robot="arm6"))
    q_true, _ = _truth(virtual, robot, cal)
    hold = JointCommand(spec.joint_names, q_true, np.zeros(spec.n_joints), spec.kp.copy(),
                        spec.kd.copy(), np.zeros(spec.n_joints))

    def tick() -> float:
        st = robot.read_state()
        now = time.monotonic()
        robot.write_command(chain.step(hold, st, now, state_t=st.t, command_t=now))
        return st.t

    for _ in range(5):
        tick()
    assert robot.fault is None and chain.mode < Mode.DAMPING
    virtual.late_replies(LATE_S)  # every request, from now on
    stamps = [tick() for _ in range(4)]
    fault = robot.fault or ""
    print(f"fault: {fault!r}; chain {chain.summary()}")
    assert "late" in fault and "motor 1 (" in fault and "Present_Position" in fault
    assert stamps[-1] == stamps[0]  # the state keeps its old time: never re-stamped fresh
    assert chain.mode >= Mode.DAMPING and not robot.torque_on
    assert "state_watchdog" in chain.summary()["interventions"]
