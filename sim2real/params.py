"""What system identification finds (`SysIdParams`), and the prior of the per-body inertial
parameters (`sim2real.linear_fit`'s ``inertia: per_body``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

BODY_MASS_PRIOR = 0.1  # per-body mass scale: prior 1 ± this (std; a CAD model's tolerance)
COM_PRIOR = 0.006  # m: per-body CoM offset, prior 0 ± this per axis (std)
OBSERVABLE = 0.5  # a body's mass counts as identified below this x the prior's std


@dataclass
class SysIdParams:
    """What is identified, per joint in the robot's joint order where a list: the motor
    strength (delivered / commanded torque), the joint's lumped viscous damping [N m s/rad]
    and dry friction [N m] (joint and gearbox together); globally, the mass scale of the
    moving links and the armature scale (relative to the nominal MJCF); the actuation
    latency in physics steps of the fitting model. Empty lists mean nominal."""

    mass_scale: float = 1.0
    armature_scale: float = 1.0
    motor_strength: list[float] = field(default_factory=list)
    joint_damping: list[float] = field(default_factory=list)
    joint_friction: list[float] = field(default_factory=list)
    latency_ticks: int = 0
    anchor: str = "mass"  # what set the absolute scale: "mass" (weighed), "strength" or
    # "payload" (a second log carrying a known mass)
    inertia: str = "global"  # "global": one mass scale; "per_body": per moving body
    body_mass_scale: list[float] = field(default_factory=list)  # per moving body (per_body)
    body_com_shift: list[list[float]] = field(default_factory=list)  # [m], body frame
    body_mass_std: list[float] = field(default_factory=list)  # posterior std of each scale
    body_names: list[str] = field(default_factory=list)
    equation_rms: float = 0.0  # the weighted equation rows' residual at this solution

    SCALES = ("mass_scale", "armature_scale")
    PER_JOINT = ("motor_strength", "joint_damping", "joint_friction")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def observable(self) -> np.ndarray:
        """Per body (per_body fits): whether the data pinned its mass down, i.e. its
        posterior std is under half the prior's; the others are the prior's guess (a quadruped's
        hip on its stand: only its small roll inertia moves the joints)."""
        return np.asarray(self.body_mass_std) < OBSERVABLE * BODY_MASS_PRIOR


__all__ = ["BODY_MASS_PRIOR", "COM_PRIOR", "OBSERVABLE", "SysIdParams"]
