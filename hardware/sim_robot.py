"""`SimRobot`: the `Robot` interface straight onto a `SimPlant` (no bus in between).

Each joint gets an MIT-style motor law (``tau = clip(kp (q* - q) + kd (dq* - dq) + tau_ff)``
evaluated by the plant at every physics step), so a `JointCommand` means on the sim exactly
what it means on the CAN motors. On a plant perturbed as the reality proxy
(``SimPlant(perturbation=reality_proxy(seed))``, `sim2real.proxy`): perturbed physics, sensor
errors and actuation latency behind the same interface as the hardware.

The state comes from the plant's sensors: joints (with the proxy's sensor errors), the IMU,
foot contacts; ``base_lin_vel`` and ``base_pos`` are *not* reported, as a real robot without
an estimator would not have them (`read_truth` gives the simulator's full state for
evaluation only).
"""

from __future__ import annotations

import time

import numpy as np

from hardware.robot import Robot
from hardware.sim_plant import MitLaws, SimPlant
from robot_rl.types import JointCommand, RobotState


class SimRobot(Robot):
    """Args: plant: a `SimPlant` (started by `connect` if its thread is not running);
    lockstep: never start the plant's thread: the caller advances it with ``plant.step``
    (experiments that run faster than real time, such as system identification)."""

    def __init__(self, plant: SimPlant, lockstep: bool = False) -> None:
        self.plant, self.spec = plant, plant.spec
        self.lockstep = lockstep  # the caller steps the plant (no real-time thread)
        self.laws = MitLaws(self.spec.tau_max)  # (every joint's driver, as arrays)
        self.fault = None
        self.connected = False
        self._started_plant = False

    def connect(self) -> None:
        self.plant.set_all_laws(self.laws)
        if self.plant._thread is None and not self.lockstep:
            self.plant.start()
            self._started_plant = True
        self.connected = True

    def read_state(self) -> RobotState:
        plant = self.plant
        with plant.lock:
            n = self.spec.n_joints
            q, dq, tau = np.empty(n), np.empty(n), np.empty(n)
            for j in range(n):
                q[j], dq[j], tau[j] = plant.joint_state(j)
            st = RobotState(t=time.monotonic(), q=q, dq=dq, tau=tau)
            if self.spec.imu_site:
                _, st.imu_quat, st.imu_gyro, st.imu_acc = plant.imu()
            if plant.robot.touch_adr:
                st.contacts = plant.robot.foot_contacts().copy()
        return st

    def read_truth(self) -> RobotState:
        """The simulator's own full state (base velocity and position included): for
        evaluation and reports, never for the policy."""
        st = self.plant.state()
        st.t = time.monotonic()
        return st

    def write_command(self, cmd: JointCommand) -> JointCommand:
        law = self.laws
        with self.plant.lock:
            law.p_des[:], law.v_des[:] = cmd.q_target, cmd.dq_target
            law.kp[:], law.kd[:], law.t_ff[:] = cmd.kp, cmd.kd, cmd.tau_ff
            law.enabled = True
        return cmd

    def disconnect(self) -> None:
        with self.plant.lock:
            self.laws.enabled = False
        if self._started_plant:
            self.plant.stop()
            self._started_plant = False
        self.connected = False


__all__ = ["SimRobot"]
