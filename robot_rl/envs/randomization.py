"""Domain randomisation of the MuJoCo tasks (YAML ``domain_rand`` section of a task config).

Per episode (at reset): ground / geom sliding friction scaled by a factor, mass added to the
robot's base body, per-joint motor strength (the controller's saturated PD torque is
scaled: a weak motor delivers less than commanded; the actuator's range still caps it), and
an action latency in control ticks (the new joint targets reach the PD loop that many
physics steps late, at most one policy period; the previous targets apply meanwhile). During the
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

    def validate(self) -> None:
        for key in ("friction", "added_base_mass", "motor_strength", "action_latency_ticks"):
            lo, hi = getattr(self, key)
            if lo > hi:
                raise ValueError(f"domain_rand.{key}: low {lo} above high {hi}")
        if self.friction[0] <= 0 or self.motor_strength[0] <= 0:
            raise ValueError("domain_rand.friction and motor_strength must be > 0")
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
                 n_joints: int) -> None:
        self.cfg = cfg
        self.model = model
        self.base_body = base_body
        self.nominal_friction = model.geom_friction[:, 0].copy()
        self.nominal_mass = float(model.body_mass[base_body]) if base_body >= 0 else 0.0
        self.strength = np.ones(n_joints)
        self.latency = 0
        self.added_mass = 0.0
        self.friction_scale = 1.0

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
        return self.params()

    def params(self) -> dict[str, float]:
        return {"friction_scale": self.friction_scale, "added_base_mass": self.added_mass,
                "motor_strength_mean": float(self.strength.mean()),
                "action_latency_ticks": float(self.latency)}

    @property
    def scales_torque(self) -> bool:
        return bool(np.any(self.strength != 1.0))


__all__ = ["DomainRandConfig", "DomainRandomizer"]
