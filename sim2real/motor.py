"""A physical model of a joint's motor and gearbox, torch-free (numpy).

`DCMotorModel` (per joint): the brushless motor + gearbox of a
quadruped or servo joint as a physical model:

* torque-speed envelope: the driver's voltage limit caps the torque while the motor
  drives, ``|tau| <= tau_stall (1 - |dq| / omega_max)`` when ``tau dq > 0`` (never below
  zero); braking torque is capped at ``tau_stall`` only;
* gearbox friction, Coulomb and viscous: ``tau_out = tau - f_c tanh(dq / 0.01) - f_v dq``;
* backlash: the encoder sits on the motor side of the gearbox, so the driver's PD loop and
  the reported position follow the link through a play of width ``backlash`` (the plant's
  play operator, `hardware.sim_plant.Backlash`).

The reported torque (the driver's current times its nominal torque constant) is the
enveloped command; gearbox friction and the motor-strength error act after it.
The reality proxy (`sim2real.proxy`) samples one per seed and `SimPlant` runs it at every
physics step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class DCMotorModel:
    """Per-joint arrays, shape (n,): stall torque [N m], no-load speed [rad/s] (joint side),
    Coulomb and viscous gearbox friction [N m, N m s/rad], backlash [rad]."""

    tau_stall: np.ndarray
    omega_max: np.ndarray
    coulomb: np.ndarray
    viscous: np.ndarray
    backlash: np.ndarray

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            a = np.asarray(v, dtype=np.float64)
            if a.ndim != 1 or np.any(a < 0) or not np.all(np.isfinite(a)):
                raise ValueError(f"DCMotorModel.{k} must be a 1-D array of finite values "
                                 f">= 0, got {v!r}")
            setattr(self, k, a)
        if np.any(self.tau_stall <= 0) or np.any(self.omega_max <= 0):
            raise ValueError("DCMotorModel: tau_stall and omega_max must be > 0")

    @classmethod
    def sample(cls, rng: np.random.Generator, tau_max: np.ndarray, dq_max: np.ndarray
               ) -> DCMotorModel:
        """One robot's motors: stall torque = the spec's limit, no-load speed
        U(1.0, 1.4) x the spec's velocity limit, gearbox friction U(0, 0.015) x the torque
        limit (Coulomb) and U(0, 0.02) N m s/rad, backlash U(0, 0.01) rad."""
        n = len(tau_max)
        return cls(tau_stall=np.asarray(tau_max, dtype=np.float64).copy(),
                   omega_max=rng.uniform(1.0, 1.4, n) * dq_max,
                   coulomb=rng.uniform(0.0, 0.015, n) * tau_max,
                   viscous=rng.uniform(0.0, 0.02, n),
                   backlash=rng.uniform(0.0, 0.01, n))

    def envelope(self, tau: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """The torque the driver can deliver for command ``tau`` at speed ``dq``."""
        motoring = tau * dq > 0
        cap = np.where(motoring, self.tau_stall * np.clip(1.0 - np.abs(dq) / self.omega_max,
                                                          0.0, 1.0), self.tau_stall)
        return np.clip(tau, -cap, cap)

    def friction(self, dq: np.ndarray) -> np.ndarray:
        """Gearbox friction torque opposing the motion [N m]."""
        return self.coulomb * np.tanh(dq / 0.01) + self.viscous * dq

    def to_dict(self) -> dict[str, Any]:
        return {k: np.round(v, 6).tolist() for k, v in asdict(self).items()}


__all__ = ["DCMotorModel"]
