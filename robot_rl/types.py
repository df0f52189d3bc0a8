"""Contracts shared by training envs, the deploy loop and the hardware layer.

Units are SI, angles in radians, quaternions in MuJoCo order (w, x, y, z).
Arrays are float64 numpy arrays unless stated otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.float64)


@dataclass
class RobotState:
    """One reading of the robot, from the sim or from the hardware.

    Attributes:
        t: time of the reading [s] (sim time, or the robot's monotonic clock).
        q: joint positions [rad], shape (n_joints,), in ``RobotSpec.joint_names`` order.
        dq: joint velocities [rad/s], shape (n_joints,).
        tau: measured joint torques [N m], shape (n_joints,), or None if not measured.
        imu_quat: base orientation (w, x, y, z) in the world frame, shape (4,).
        imu_gyro: base angular velocity in the IMU/body frame [rad/s], shape (3,).
        imu_acc: specific force in the IMU/body frame [m/s^2], shape (3,).
        base_lin_vel: base linear velocity in the body frame [m/s], shape (3,), or None
            where no estimate exists (real robots without an estimator).
        base_pos: base position in the world [m], shape (3,), or None (sim / mocap only).
        ee_pos: end-effector position in the robot base frame [m], shape (3,), or None.
        ee_quat: end-effector orientation (w, x, y, z) in the robot base frame, or None.
        command: task command, e.g. (vx [m/s], vy [m/s], yaw rate [rad/s]) for the
            quadruped or a goal position [m] for the arm; shape (n_cmd,).
        objects: poses of tracked objects (name → (x, y, z, qw, qx, qy, qz)) in the robot
            base frame, from the sim or a perception/mocap system.
        images: camera name → uint8 image, shape (H, W, 3), RGB.
        contacts: per-foot contact flags (quadruped), shape (n_feet,), or None.
    """

    t: float
    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray | None = None
    imu_quat: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    imu_gyro: np.ndarray = field(default_factory=lambda: _zeros(3))
    imu_acc: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 9.81]))
    base_lin_vel: np.ndarray | None = None
    base_pos: np.ndarray | None = None
    ee_pos: np.ndarray | None = None
    ee_quat: np.ndarray | None = None
    command: np.ndarray = field(default_factory=lambda: _zeros(0))
    objects: dict[str, np.ndarray] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    contacts: np.ndarray | None = None


@dataclass(slots=True)
class JointCommand:
    """Per-joint command for a PD-capable motor (MIT-protocol style).

    The motor applies ``tau = kp (q_target - q) + kd (dq_target - dq) + tau_ff``.
    All arrays have shape (n_joints,) in ``joint_names`` order.
    """

    joint_names: tuple[str, ...]
    q_target: np.ndarray
    dq_target: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    tau_ff: np.ndarray

    @classmethod
    def from_block(cls, joint_names: tuple[str, ...], block: np.ndarray) -> JointCommand:
        """A command whose five arrays are the rows of ``block`` (5, n): q_target, dq_target,
        kp, kd, tau_ff (views, not copies)."""
        return cls(joint_names, block[0], block[1], block[2], block[3], block[4])

    @classmethod
    def hold(cls, joint_names: tuple[str, ...], q: np.ndarray, kp: np.ndarray,
             kd: np.ndarray) -> JointCommand:
        """A command that holds position ``q`` with gains ``kp``/``kd`` (its five arrays are
        rows of one fresh block: one allocation, as the safety chain's fallback needs)."""
        b = np.zeros((5, len(joint_names)))
        b[0], b[2], b[3] = q, kp, kd
        return cls.from_block(joint_names, b)

    @classmethod
    def damping(cls, joint_names: tuple[str, ...], kd: np.ndarray) -> JointCommand:
        """Pure damping (kp = 0): the safe fallback when the state cannot be trusted."""
        b = np.zeros((5, len(joint_names)))
        b[3] = kd
        return cls.from_block(joint_names, b)
