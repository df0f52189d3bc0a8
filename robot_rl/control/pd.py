"""Joint PD tracking law, run at the physics / motor rate.

``tau = clip(kp (q_target - q) + kd (dq_target - dq) + tau_ff, -tau_max, tau_max)``

`pd_torque` is the one definition of this law: the MuJoCo envs (through `JointPDController`,
one call per physics step, policy-rate decimation around it), the safety chain's torque
prediction and checks (`robot_rl.safety`) and the fault-injection harness all call it, so the
policy is trained with the exact feedback law it meets on the motors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from robot_rl.types import JointCommand


def pd_torque(q_target: ArrayLike, q: ArrayLike, dq: ArrayLike, kp: ArrayLike, kd: ArrayLike,
              dq_target: ArrayLike | None = None, tau_ff: ArrayLike | None = None,
              tau_max: ArrayLike | None = None, out: np.ndarray | None = None) -> Any:
    """The PD law ``clip(kp (q_target - q) + (kd (dq_target - dq) + tau_ff), ±tau_max)`` [N m].

    Element by element, with numpy broadcasting over any leading batch dimensions: scalars
    for one motor (a virtual motor's driver: a numpy scalar back), (n,) for one robot,
    (K, n) for K robots, (T, M, n) for M sub-steps of T ticks (gains of shape (n,) or
    (T, 1, n) broadcast against them).

    Args:
        dq_target: None = 0 (a velocity target of zero: pure damping ``-kd dq``).
        tau_ff: feed-forward torque; None = 0.
        tau_max: symmetric saturation; None = no saturation (the torque the law asks for).
        out: where to write the result (the broadcast shape of the inputs); None = a new
            array.

    NaN stays NaN (never clipped into a plausible torque); ±inf saturates to ∓/±tau_max.
    """
    vel_err = np.negative(dq) if dq_target is None else np.subtract(dq_target, dq)
    rest = np.multiply(kd, vel_err)  # damping and feed-forward
    if tau_ff is not None:
        rest = np.add(rest, tau_ff)
    tau = np.add(np.multiply(kp, np.subtract(q_target, q)), rest, out=out)
    if tau_max is None:
        return tau
    # minimum/maximum ufuncs propagate NaN (and cost less than np.clip's wrapper)
    tau = np.minimum(tau, tau_max, out=out)  # (the full broadcast shape from here on)
    return np.maximum(tau, np.negative(tau_max), out=tau if isinstance(tau, np.ndarray) else None)


def pd_target_range(tau_lo: np.ndarray, tau_hi: np.ndarray, q: np.ndarray, dq: np.ndarray,
                    kp: np.ndarray, kd: np.ndarray, dq_target: np.ndarray | None = None,
                    tau_ff: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The position targets whose (unsaturated) PD torque lies in [tau_lo, tau_hi]: the law
    solved for the target, ``q + (tau - rest) / kp`` with ``rest`` the torque at target = q
    (the damping and feed-forward terms). Needs kp > 0 (with kp = 0 the target has no
    effect on the torque). Returns (lowest, highest) target [rad]."""
    rest = pd_torque(q, q, dq, kp, kd, dq_target, tau_ff)
    return q + (tau_lo - rest) / kp, q + (tau_hi - rest) / kp


class JointPDController:
    """Per-joint PD with torque saturation (`pd_torque` with fixed gains and limits).

    Args:
        kp: stiffness [N m/rad], shape (n,).
        kd: damping [N m s/rad], shape (n,).
        tau_max: symmetric torque limit [N m], shape (n,).

    Gains of shape (K, n) make one controller for K robots (the training envs step a batch
    of robots with one call per physics step); ``torque`` then takes (K, n) arrays. The gain
    arrays may be changed in place between calls (domain randomisation).
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

    @property
    def n_joints(self) -> int:
        return self.kp.shape[-1]

    def torque(self, q_target: np.ndarray, q: np.ndarray, dq: np.ndarray,
               dq_target: np.ndarray | None = None, tau_ff: np.ndarray | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
        """Saturated PD torque [N m], shape (n,) (or (K, n)); written into ``out`` if given."""
        return pd_torque(q_target, q, dq, self.kp, self.kd, dq_target, tau_ff, self.tau_max,
                         out)

    def torque_from_command(self, cmd: JointCommand, q: np.ndarray, dq: np.ndarray,
                            tau_max: np.ndarray | None = None) -> np.ndarray:
        """Torque for a full `JointCommand` (per-joint gains from the command)."""
        return pd_torque(cmd.q_target, q, dq, cmd.kp, cmd.kd, cmd.dq_target, cmd.tau_ff,
                         self.tau_max if tau_max is None else tau_max)
