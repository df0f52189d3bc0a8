"""`CanRobot`: the quadruped's joints as MIT-protocol CAN motors (quad12: 12 motors on 4
buses), behind the `Robot` interface. Its own module so that robots without CAN never load
python-can (17 MB resident).

Freshness as in `hardware.robot`: ``RobotState.t`` is the time of the oldest joint reading.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from hardware.can.bus import MotorReading
from hardware.can.link import CanBusError
from hardware.can.mit import MitCommand, MitLimits, pack_command, unpack_command
from hardware.can.multi import MultiCanBus
from hardware.errors import HardwareError
from hardware.robot import ImuSource, Robot
from robot_rl.robots.spec import RobotSpec
from robot_rl.types import JointCommand, RobotState


class CanRobot(Robot):
    """A robot whose joints are MIT-protocol CAN motors (quad12: 12 motors on 4 buses).

    Args:
        spec: the robot. bus: the motor buses; motor names are the spec's joint names.
        limits: per joint, the firmware ranges (to report the quantised command sent).
        imu: orientation / rates source (None: identity orientation, zero rates).
        offsets, directions: joint angle = direction * motor angle + offset (calibration).
    """

    def __init__(self, spec: RobotSpec, bus: MultiCanBus, limits: Sequence[MitLimits],
                 imu: ImuSource | None = None, offsets: Sequence[float] | None = None,
                 directions: Sequence[int] | None = None) -> None:
        missing = [n for n in spec.joint_names if n not in bus.motor_names]
        if missing:
            raise HardwareError(f"the CAN buses lack motors for joints {missing}; configured "
                                f"motors: {list(bus.motor_names)}")
        self.spec, self.bus, self.imu = spec, bus, imu
        n = spec.n_joints
        self.limits = list(limits)
        self.offsets = np.zeros(n) if offsets is None else np.asarray(offsets, float)
        self.directions = np.ones(n) if directions is None else np.asarray(directions, float)
        self._q, self._dq, self._tau = np.zeros(n), np.zeros(n), np.zeros(n)
        self._stamp = np.full(n, -math.inf)
        self.fault = None
        self.connected = False

    def _absorb(self, readings: Mapping[str, MotorReading]) -> None:
        lost = []
        for j, name in enumerate(self.spec.joint_names):
            r = readings.get(name)
            if r is None or not r.fresh:
                lost.append(name)
                continue  # keep the old values *and their old time*
            d = self.directions[j]
            self._q[j] = d * r.p + self.offsets[j]
            self._dq[j], self._tau[j] = d * r.v, d * r.tau
            self._stamp[j] = r.stamp
        self.fault = f"no reply from motor(s) {lost}" if lost else None

    def connect(self) -> None:
        try:
            self._absorb(self.bus.enable())
        except CanBusError as e:
            self.fault = str(e)
            raise HardwareError(f"cannot enable the motors: {e}") from None
        self.connected = True

    def read_state(self) -> RobotState:
        """The latest readings (from the last command cycle) with the IMU's."""
        st = RobotState(t=float(self._stamp.min()), q=self._q.copy(), dq=self._dq.copy(),
                        tau=self._tau.copy())
        if self.imu is not None:
            t_imu, st.imu_quat, st.imu_gyro, st.imu_acc = self.imu.read()
            st.t = min(st.t, t_imu)
        return st

    def write_command(self, cmd: JointCommand) -> JointCommand:
        """One command cycle. Returns the command as the motors decode it."""
        sent = JointCommand(cmd.joint_names, np.zeros(len(cmd.q_target)), *(
            np.zeros(len(cmd.q_target)) for _ in range(4)))
        cmds = {}
        for j, name in enumerate(self.spec.joint_names):
            d = self.directions[j]
            c = MitCommand(p_des=d * (float(cmd.q_target[j]) - self.offsets[j]),
                           v_des=d * float(cmd.dq_target[j]), kp=float(cmd.kp[j]),
                           kd=float(cmd.kd[j]), t_ff=d * float(cmd.tau_ff[j]))
            cmds[name] = c
            q = unpack_command(pack_command(c, self.limits[j]), self.limits[j])
            sent.q_target[j] = d * q.p_des + self.offsets[j]
            sent.dq_target[j], sent.kp[j], sent.kd[j] = d * q.v_des, q.kp, q.kd
            sent.tau_ff[j] = d * q.t_ff
        try:
            self._absorb(self.bus.command(cmds))
        except CanBusError as e:  # a motor lost for several cycles: keep what did answer
            if e.readings:
                self._absorb(e.readings)
            self.fault = str(e)
        return sent

    def disconnect(self) -> None:
        if self.connected:
            try:
                self.bus.disable()
            except CanBusError:
                pass
        self.bus.close()
        self.connected = False

    def state_age(self, now: float | None = None) -> float:
        """Seconds since the oldest joint reading."""
        return (time.monotonic() if now is None else now) - float(self._stamp.min())


__all__ = ["CanRobot"]
