"""Domain randomisation of the MuJoCo tasks (YAML ``domain_rand`` section of a task config).

Per episode (at reset): ground / geom sliding friction scaled by a factor, mass added to the
robot's base body, per-joint motor strength (the controller's saturated PD torque is
scaled: a weak motor delivers less than commanded; the actuator's range still caps it), and
an action latency in control ticks (the new joint targets reach the PD loop that many
physics steps late, at most one policy period; the previous targets apply meanwhile).
Also, each only when set: every robot body's mass (inertia with it) by a factor and its
centre of mass shifted; the contacts' damping ratio (MuJoCo's solref[1]: below 1 contacts
bounce, MuJoCo's form of restitution); per-joint PD gains kp and kd by factors; a constant
gyro bias in the state the observation is built from. During the
episode: random pushes, a velocity change of the floating base every ``push_interval_s``
(legged_gym's push model). Observation noise is the ``obs.noise`` / ``obs_noise`` setting of
the task. Every range is ``[low, high]``, sampled uniformly; the defaults switch everything
off. External forces (the H-infinity disturber, the force evaluation suite) go through
`RobotEnv.set_external_force`.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass
class DomainRandConfig:
    """Ranges of the per-episode physics randomisation (all off by default)."""

    friction: tuple[float, float] = (1.0, 1.0)  # factor on every geom's sliding friction
    added_base_mass: tuple[float, float] = (0.0, 0.0)  # kg added to the base body
    motor_strength: tuple[float, float] = (1.0, 1.0)  # factor on the PD torque, per joint
    action_latency_ticks: tuple[int, int] = (0, 0)  # physics steps before new targets apply
    push_interval_s: float = 0.0  # 0: no pushes
    push_vel: float = 0.0  # max |dv| per horizontal axis [m/s]
    link_mass: tuple[float, float] = (1.0, 1.0)  # factor per robot body (inertia with it)
    com_shift: float = 0.0  # max |offset| of each robot body's CoM per axis [m]
    contact_damping_ratio: tuple[float, float] = (1.0, 1.0)  # factor on solref[1]: restitution
    kp_scale: tuple[float, float] = (1.0, 1.0)  # factor on the PD stiffness, per joint
    kd_scale: tuple[float, float] = (1.0, 1.0)  # factor on the PD damping, per joint
    gyro_bias: float = 0.0  # max |bias| per axis of the IMU's gyro, per episode [rad/s]

    def validate(self) -> None:
        for key in ("friction", "added_base_mass", "motor_strength", "action_latency_ticks",
                    "link_mass", "contact_damping_ratio", "kp_scale", "kd_scale"):
            lo, hi = getattr(self, key)
            if lo > hi:
                raise ValueError(f"domain_rand.{key}: low {lo} above high {hi}")
        for key in ("friction", "motor_strength", "link_mass", "contact_damping_ratio"):
            if getattr(self, key)[0] <= 0:
                raise ValueError(f"domain_rand.{key} must be > 0")
        if self.kp_scale[0] < 0 or self.kd_scale[0] < 0:
            raise ValueError("domain_rand.kp_scale and kd_scale must be >= 0")
        if self.com_shift < 0 or self.gyro_bias < 0:
            raise ValueError("domain_rand.com_shift and gyro_bias must be >= 0")
        if self.action_latency_ticks[0] < 0:
            raise ValueError("domain_rand.action_latency_ticks must be >= 0")
        if self.push_interval_s < 0 or self.push_vel < 0:
            raise ValueError("domain_rand.push_interval_s and push_vel must be >= 0")

    @property
    def pushes(self) -> bool:
        return self.push_interval_s > 0 and self.push_vel > 0


class DomainRandomizer:
    """Applies a `DomainRandConfig` to one env's model; keeps the nominal values to restore.

    Args:
        cfg: the ranges. model: the env's own MjModel (edited in place). base_body: body id
            that gets the added mass (-1: none). n_joints: actuated joints (motor strength).
    """

    def __init__(self, cfg: DomainRandConfig, model: mujoco.MjModel, base_body: int,
                 n_joints: int, robot_bodies: np.ndarray | None = None) -> None:
        self.cfg = cfg
        self.model = model
        self.base_body = base_body
        self.bodies = (np.asarray(robot_bodies, dtype=np.int64) if robot_bodies is not None
                       else np.zeros(0, dtype=np.int64))
        self.nominal_friction = model.geom_friction[:, 0].copy()
        self.nominal_mass = float(model.body_mass[base_body]) if base_body >= 0 else 0.0
        self.nominal_body_mass = model.body_mass[self.bodies].copy()
        self.nominal_inertia = model.body_inertia[self.bodies].copy()
        self.nominal_ipos = model.body_ipos[self.bodies].copy()
        self.nominal_dampratio = model.geom_solref[:, 1].copy()
        self.strength = np.ones(n_joints)
        self.kp_scale = np.ones(n_joints)
        self.kd_scale = np.ones(n_joints)
        self.gyro_bias = np.zeros(3)
        self.latency = 0
        self.added_mass = 0.0
        self.friction_scale = 1.0
        self.mass_scale = np.ones(len(self.bodies))
        self.dampratio_scale = 1.0

    def sample(self, rng: np.random.Generator) -> dict[str, float]:
        """Draw this episode's parameters and write them into the model."""
        c = self.cfg
        self.friction_scale = float(rng.uniform(*c.friction))
        self.model.geom_friction[:, 0] = self.nominal_friction * self.friction_scale
        self.added_mass = float(rng.uniform(*c.added_base_mass))
        if self.base_body >= 0:
            self.model.body_mass[self.base_body] = self.nominal_mass + self.added_mass
        self.strength[:] = rng.uniform(*c.motor_strength, size=self.strength.shape)
        lo, hi = c.action_latency_ticks
        self.latency = int(rng.integers(lo, hi + 1))
        # the wider randomisation: drawn only where switched on, so that configs without it
        # keep their random streams (and their trained policies' reproducibility)
        m, b = self.model, self.bodies
        if c.link_mass != (1.0, 1.0) or c.com_shift > 0:
            self.mass_scale = rng.uniform(*c.link_mass, size=len(b))
            m.body_mass[b] = self.nominal_body_mass * self.mass_scale
            m.body_inertia[b] = self.nominal_inertia * self.mass_scale[:, None]
            if self.base_body >= 0:  # the added base mass goes on top of the scaled one
                m.body_mass[self.base_body] += self.added_mass
            m.body_ipos[b] = self.nominal_ipos + rng.uniform(-c.com_shift, c.com_shift,
                                                             (len(b), 3))
        if c.contact_damping_ratio != (1.0, 1.0):
            self.dampratio_scale = float(rng.uniform(*c.contact_damping_ratio))
            m.geom_solref[:, 1] = self.nominal_dampratio * self.dampratio_scale
        if c.kp_scale != (1.0, 1.0) or c.kd_scale != (1.0, 1.0):
            self.kp_scale[:] = rng.uniform(*c.kp_scale, size=self.kp_scale.shape)
            self.kd_scale[:] = rng.uniform(*c.kd_scale, size=self.kd_scale.shape)
        if c.gyro_bias > 0:
            self.gyro_bias[:] = rng.uniform(-c.gyro_bias, c.gyro_bias, 3)
        return self.params()

    def params(self) -> dict[str, float]:
        return {"friction_scale": self.friction_scale, "added_base_mass": self.added_mass,
                "motor_strength_mean": float(self.strength.mean()),
                "action_latency_ticks": float(self.latency),
                "link_mass_scale_mean": float(self.mass_scale.mean()) if len(
                    self.mass_scale) else 1.0,
                "contact_damping_ratio_scale": self.dampratio_scale,
                "kp_scale_mean": float(self.kp_scale.mean()),
                "kd_scale_mean": float(self.kd_scale.mean()),
                "gyro_bias_norm": float(np.linalg.norm(self.gyro_bias))}

    @property
    def scales_gains(self) -> bool:
        return bool(np.any(self.kp_scale != 1.0) or np.any(self.kd_scale != 1.0))


__all__ = ["DomainRandConfig", "DomainRandomizer"]
