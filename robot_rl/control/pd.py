"""Joint PD tracking controller, run at the physics / motor rate.

``tau = clip(kp (q_target - q) + kd (dq_target - dq) + tau_ff, -tau_max, tau_max)``

The same object drives the MuJoCo envs (one call per physics step, policy-rate
decimation around it) and the robot's command path, so the policy is trained with the
exact feedback law it meets on the motors.
"""

from __future__ import annotations

import numpy as np

from robot_rl.safety import _kernels as K
from robot_rl.types import JointCommand


class JointPDController:
    """Per-joint PD with torque saturation.

    Args:
        kp: stiffness [N m/rad], shape (n,).
        kd: damping [N m s/rad], shape (n,).
        tau_max: symmetric torque limit [N m], shape (n,).

    Gains of shape (K, n) make one controller for K robots (the training envs step a batch
    of robots with one call per physics step); ``torque`` then takes (K, n) arrays.
    """

    def __init__(self, kp: np.ndarray, kd: np.ndarray, tau_max: np.ndarray) -> None:
        self.kp = np.array(kp, dtype=np.float64)
        self.kd = np.array(kd, dtype=np.float64)
        self.tau_max = np.array(tau_max, dtype=np.float64)
        shape = self.kp.shape
        if (self.kp.ndim not in (1, 2) or self.kd.shape != shape
                or self.tau_max.shape != shape):
            raise ValueError(f"kp, kd and tau_max must all have shape (n,) (or (K, n) for a "
                             f"batch); got {self.kp.shape}, {self.kd.shape}, "
                             f"{self.tau_max.shape}")
        if np.any(self.kp < 0) or np.any(self.kd < 0) or np.any(self.tau_max <= 0):
            raise ValueError("PD gains must be >= 0 and tau_max > 0")
        self._neg_tau_max = -self.tau_max
        self._buf = np.zeros(shape)
        self._buf2 = np.zeros(shape)

    @property
    def n_joints(self) -> int:
        return self.kp.shape[-1]

    def torque(self, q_target: np.ndarray, q: np.ndarray, dq: np.ndarray,
               dq_target: np.ndarray | None = None, tau_ff: np.ndarray | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
        """Saturated PD torque [N m], shape (n,) (or (K, n)). Writes into ``out`` if given (no
        allocation).

        float64 C-contiguous arrays of the gains' shape take one C call
        (`robot_rl.safety._kernels.pd_torque`); anything else (lists, float32, views) the numpy
        formulation below: the same operations in the same order, so the same bits."""
        if out is None:
            out = np.empty(self.kp.shape)
        try:
            K.pd_torque(q_target, q, dq, self.kp, self.kd, self.tau_max, dq_target, tau_ff, out)
            return out
        except (TypeError, ValueError):
            pass
        buf = self._buf
        np.subtract(q_target, q, out=buf)
        buf *= self.kp
        if dq_target is None:
            np.multiply(self.kd, dq, out=self._buf2)
            buf -= self._buf2
        else:
            np.subtract(dq_target, dq, out=self._buf2)
            self._buf2 *= self.kd
            buf += self._buf2
        if tau_ff is not None:
            buf += tau_ff
        # minimum/maximum ufuncs: np.clip's Python wrapper costs more than the arithmetic
        np.minimum(buf, self.tau_max, out=out)
        return np.maximum(out, self._neg_tau_max, out=out)

    def torque_from_command(self, cmd: JointCommand, q: np.ndarray, dq: np.ndarray,
                            tau_max: np.ndarray | None = None) -> np.ndarray:
        """Torque for a full `JointCommand` (per-joint gains from the command)."""
        lim = self.tau_max if tau_max is None else tau_max
        tau = (cmd.kp * (cmd.q_target - q) + cmd.kd * (cmd.dq_target - dq) + cmd.tau_ff)
        return np.clip(tau, -lim, lim)
