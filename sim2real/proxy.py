"""The reality proxy: a per-seed perturbed copy of a robot's MuJoCo model — the "real robot"
of every test — different enough from the training sim that transfer is a real question.

Per seed (`ProxyParams.sample`), partly *outside* the training domain randomisation
(`configs/tasks/*.yaml` ``domain_rand``):

- link masses × U(0.85, 1.2) each, centres of mass shifted by up to 1 cm;
- sliding friction × U(0.4, 1.4) (training: 0.5–1.25);
- joint damping × U(0.5, 2.0), armature × U(0.7, 1.5), dry friction × U(0.5, 2.0);
- motor strength × U(0.8, 1.05) per joint (training: 0.9–1.1);
- physics: timestep 1 ms with the implicit-fast integrator (training: the robot's
  physics_dt, Euler);
- sensors: joint-position noise σ 2 mrad, velocity noise σ 0.05 rad/s, gyro bias up to
  0.02 rad/s, gyro noise σ 0.01 rad/s;
- an actuation latency of U{0, 2} physics ticks (applied by `SimPlant`);
- motors (`sim2real.motor.DCMotorModel`, with the robot's spec): torque-speed envelope
  with a no-load speed U(1.0, 1.4) x the velocity limit, gearbox friction (Coulomb up to 1.5 %
  of the torque limit, viscous up to 0.02 N m s/rad) and backlash up to 0.01 rad.

`ProxyParams.apply(model)` edits a loaded model in place. A `SimPlant` becomes the proxy of
seed ``s`` with ``SimPlant(robot, perturbation=reality_proxy(s))``: the plant is handed the
perturbation, it does not import this module (the virtual devices: ``robot-rl hardware
virtual-bus --proxy-seed S``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import mujoco
import numpy as np

from robot_rl.robots.spec import RobotSpec
from sim2real.motor import DCMotorModel

PROXY_DT = 0.001


@dataclass
class ProxyParams:
    seed: int
    mass_scale: list[float] = field(default_factory=list)  # per body (world excluded)
    com_shift: list[list[float]] = field(default_factory=list)  # per body [m]
    friction_scale: float = 1.0
    damping_scale: float = 1.0
    armature_scale: float = 1.0
    frictionloss_scale: float = 1.0
    motor_strength: list[float] = field(default_factory=list)  # per actuator
    timestep: float = PROXY_DT
    integrator: str = "implicitfast"
    q_noise: float = 0.002
    dq_noise: float = 0.05
    gyro_bias: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    gyro_noise: float = 0.01
    latency_ticks: int = 0
    motor: dict[str, list[float]] | None = None  # `DCMotorModel` per joint (robot order)

    @classmethod
    def sample(cls, seed: int, model: mujoco.MjModel, spec: RobotSpec | None = None
               ) -> ProxyParams:
        """This seed's robot (deterministic in ``seed``); with ``spec``, also its motors'
        `DCMotorModel` (torque-speed envelope, gearbox friction, backlash)."""
        rng = np.random.default_rng(10_007 + seed)
        nb, nu = model.nbody - 1, model.nu
        p = cls(
            seed=seed,
            mass_scale=rng.uniform(0.85, 1.2, nb).round(4).tolist(),
            com_shift=rng.uniform(-0.01, 0.01, (nb, 3)).round(5).tolist(),
            friction_scale=round(float(rng.uniform(0.4, 1.4)), 4),
            damping_scale=round(float(rng.uniform(0.5, 2.0)), 4),
            armature_scale=round(float(rng.uniform(0.7, 1.5)), 4),
            frictionloss_scale=round(float(rng.uniform(0.5, 2.0)), 4),
            motor_strength=rng.uniform(0.8, 1.05, nu).round(4).tolist(),
            gyro_bias=rng.uniform(-0.02, 0.02, 3).round(5).tolist(),
            latency_ticks=int(rng.integers(0, 3)))
        if spec is not None:  # drawn after the rest: the other parameters keep their values
            p.motor = DCMotorModel.sample(rng, spec.tau_max, spec.dq_max).to_dict()
        return p

    def sensor_model(self) -> SensorModel:
        return SensorModel(self)

    def motor_model(self) -> DCMotorModel | None:
        return None if self.motor is None else DCMotorModel(
            **{k: np.asarray(v) for k, v in self.motor.items()})

    def apply(self, model: mujoco.MjModel) -> None:
        """Write the perturbations into ``model`` (a fresh load of the robot's MJCF)."""
        body = slice(1, model.nbody)
        model.body_mass[body] *= np.asarray(self.mass_scale)
        model.body_inertia[body] *= np.asarray(self.mass_scale)[:, None]
        model.body_ipos[body] += np.asarray(self.com_shift)
        model.geom_friction[:, 0] *= self.friction_scale
        model.dof_damping[:] *= self.damping_scale
        model.dof_armature[:] *= self.armature_scale
        model.dof_frictionloss[:] *= self.frictionloss_scale
        model.actuator_gear[:, 0] *= np.asarray(self.motor_strength)
        model.opt.timestep = self.timestep
        model.opt.integrator = getattr(mujoco.mjtIntegrator, f"mjINT_{self.integrator.upper()}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SensorModel:
    """The proxy's sensor errors on joint readings and the gyro (seeded)."""

    def __init__(self, params: ProxyParams) -> None:
        self.p = params
        self.rng = np.random.default_rng(20_011 + params.seed)

    def joints(self, q: float, dq: float) -> tuple[float, float]:
        return (q + self.p.q_noise * float(self.rng.standard_normal()),
                dq + self.p.dq_noise * float(self.rng.standard_normal()))

    def gyro(self, w: np.ndarray) -> np.ndarray:
        return w + np.asarray(self.p.gyro_bias) + self.p.gyro_noise * self.rng.standard_normal(3)


def reality_proxy(seed: int) -> Callable[[mujoco.MjModel, RobotSpec], ProxyParams]:
    """The perturbation of a `SimPlant` that makes it the proxy of ``seed``: called with the
    plant's freshly loaded model and its robot."""

    def sample(model: mujoco.MjModel, spec: RobotSpec) -> ProxyParams:
        return ProxyParams.sample(seed, model, spec)

    return sample


__all__ = ["PROXY_DT", "ProxyParams", "SensorModel", "reality_proxy"]
