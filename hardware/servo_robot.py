"""`ServoRobot`: an arm of position-controlled serial-bus servos (arm6: STS3215 or Dynamixel X).

One read = SYNC_READ of Present_Position and Present_Velocity; one write = SYNC_WRITE of
Goal_Position. Position servos run their own position loop, so a `JointCommand` reaches them
as goal positions and as that loop's gains: the command's kp and kd are written to the
servo's P and D registers (`hardware.servo.protocol.PositionGains`: the conversion, per
model) whenever they change, each write confirmed by the servo, before torque goes on; a
command whose gains the registers cannot hold is refused (HardwareError). What
`write_command` returns is what the servos got: the goal positions in whole ticks and the
gains the registers hold. A damping command (kp = 0 on every joint: the safety chain's
DAMPING / STOP) switches torque off (the servos go limp), anything else keeps torque on.

Freshness as in `hardware.robot`: a failed read keeps the previous values *with their old
time* and sets ``fault``; the state watchdog of the safety chain then damps the arm. Late
serial replies (a USB adapter's latency timer) are failed attempts, never another register's
or request's value (`hardware.servo.bus`); if they persist the read fails (``LateReplyError``).
"""

from __future__ import annotations

import math
import time

import numpy as np

from hardware.robot import HardwareError, Robot
from hardware.servo.bus import BusError, MotorBus
from hardware.servo.calibration import RobotCalibration
from robot_rl.robots.spec import RobotSpec
from robot_rl.types import JointCommand, RobotState


class ServoRobot(Robot):
    """Args: spec; bus (declared motors named after the joints, not yet opened or opened);
    calibration: per joint ticks <-> rad."""

    def __init__(self, spec: RobotSpec, bus: MotorBus, calibration: RobotCalibration) -> None:
        missing = [n for n in spec.joint_names if n not in bus.motors]
        if missing:
            raise HardwareError(f"the servo bus lacks motors for joints {missing}; declared: "
                                f"{sorted(bus.motors)}")
        self.spec, self.bus, self.cal = spec, bus, calibration
        self.names = spec.joint_names
        n = spec.n_joints
        self._q, self._dq = np.zeros(n), np.zeros(n)
        self._t = -math.inf
        self._vel_unit = [bus.motors[name][1].velocity_unit_rad_s for name in self.names]
        gains = {name: bus.motors[name][1].gains for name in self.names}
        missing = [n for n, g in gains.items() if g is None]
        if missing:
            raise HardwareError(f"no position-gain registers known for the servos of joints "
                                f"{missing} (hardware.servo.protocol.MODELS); their gains "
                                "cannot be set")
        self._gains = {name: g for name, g in gains.items() if g is not None}
        self._written: dict[str, tuple[int, int]] = {}  # (P, D) each servo confirmed
        self.torque_on = False
        self.fault: str | None = None

    def connect(self) -> None:
        """Open the bus if needed (checks every motor answers with the right model) and read
        the pose; torque stays off until the first stiff command."""
        try:
            if not self.bus.is_open:
                self.bus.open()
            self.bus.torque_enable(on=False)
        except BusError as e:
            raise HardwareError(str(e)) from None
        self.torque_on = False
        self._written.clear()  # (written again before torque goes on)
        self._read()
        if self.fault:
            raise HardwareError(f"cannot read the arm's pose: {self.fault}")

    def _read(self) -> None:
        try:
            pos = self.bus.sync_read("Present_Position", self.names)
            vel = self.bus.sync_read("Present_Velocity", self.names)
        except BusError as e:
            self.fault = str(e)
            return
        t = time.monotonic()
        for j, name in enumerate(self.names):
            c = self.cal[name]
            self._q[j] = c.ticks_to_rad(pos[name])
            self._dq[j] = c.velocity_to_rad_s(vel[name], self._vel_unit[j])
        self._t = t
        self.fault = None

    def read_state(self) -> RobotState:
        self._read()
        return RobotState(t=self._t, q=self._q.copy(), dq=self._dq.copy())

    def write_command(self, cmd: JointCommand) -> JointCommand:
        """Goal positions (or torque off for a damping command); returns what was sent."""
        n = self.spec.n_joints
        try:
            if not np.any(cmd.kp):
                if self.torque_on:  # one broadcast SYNC_WRITE: reaches every servo still
                    # listening, needs no reply (a lost motor must not block the others)
                    self.bus.sync_write("Torque_Enable", {name: 0 for name in self.names})
                    self.torque_on = False
                return JointCommand.damping(self.names, np.zeros(n))
            regs = self._registers(cmd)
            goals = {name: int(self.cal[name].rad_to_ticks(float(cmd.q_target[j])))
                     for j, name in enumerate(self.names)}
            self._write_gains(regs)
            self.bus.sync_write("Goal_Position", goals)
            if not self.torque_on:
                self.bus.torque_enable(on=True)
                self.torque_on = True
        except BusError as e:
            self.fault = str(e)
            return JointCommand.damping(self.names, np.zeros(n))
        q = np.array([self.cal[name].ticks_to_rad(goals[name]) for name in self.names])
        applied = [self._gains[name].to_gains(*self._written[name]) for name in self.names]
        return JointCommand.hold(self.names, q, np.array([g[0] for g in applied]),
                                 np.array([g[1] for g in applied]))

    def _registers(self, cmd: JointCommand) -> dict[str, tuple[int, int]]:
        """Each servo's (P, D) for the command's gains; HardwareError naming the joint if its
        registers cannot hold them."""
        out = {}
        for j, name in enumerate(self.names):
            try:
                out[name] = self._gains[name].to_registers(float(cmd.kp[j]), float(cmd.kd[j]))
            except ValueError as e:
                raise HardwareError(f"{name}: {e}; this servo cannot track the command as "
                                    "asked (refused)") from None
        return out

    def _write_gains(self, regs: dict[str, tuple[int, int]]) -> None:
        """Write the P and D registers that differ from what each servo holds (one confirmed
        write each: a gain must not be lost silently as a broadcast could be)."""
        for name, (p, d) in regs.items():
            old = self._written.get(name)
            g = self._gains[name]
            if old is None or old[0] != p:
                self.bus.write(g.p_register, name, p)
            if old is None or old[1] != d:
                self.bus.write(g.d_register, name, d)
            self._written[name] = (p, d)

    def disconnect(self) -> None:
        if self.bus.is_open:
            try:
                self.bus.torque_enable(on=False)
            except BusError:
                pass
            self.bus.close()
        self.torque_on = False


__all__ = ["ServoRobot"]
