"""A robot's deployment configuration (``configs/robots/<robot>.yaml``): the robot, its
control period, optional per-joint limits / gains that tighten its spec (every joint must
then be listed), and its safety chain. Mistakes are refused at load
time naming the file, key and reason: inverted limits, a missing or unknown joint, negative
gains or gains beyond the robot's own range, limits wider than the hardware's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from robot_rl.config import ConfigError, load_config
from robot_rl.robots import ROBOTS, RobotSpec, get_robot
from robot_rl.robots.contract import with_contract_gains
from robot_rl.safety.chain import SafetyChain, SafetyConfig, build_stages
from robot_rl.safety.fallback import build_fallback
from robot_rl.safety.supervisor import SafetySupervisor


@dataclass
class JointConfig:
    """One joint's deployment settings; None keeps the spec's value.

    Ranges (the robot's own, from its `RobotSpec`): q_min < q_max inside the spec's
    [q_min, q_max] [rad]; kp in [0, ``GAIN_RATIO_MAX`` x the spec's kp] [N m/rad]; kd in
    [0, ``GAIN_RATIO_MAX`` x the larger of the spec's kd and damping kd] [N m s/rad] (the
    factor is the torque_limit stage's default gain clamp: gains a motor driver accepts);
    tau_max in (0, the spec's tau_max] [N m]; dq_max in (0, the spec's dq_max] [rad/s]."""

    GAIN_RATIO_MAX: ClassVar[float] = 5.0

    q_min: float | None = None
    q_max: float | None = None
    kp: float | None = None
    kd: float | None = None
    tau_max: float | None = None
    dq_max: float | None = None


@dataclass
class RobotConfig:
    """YAML schema of ``configs/robots/*.yaml``."""

    robot: str = ""
    control_dt: float = 0.005
    joints: dict[str, JointConfig] = field(default_factory=dict)
    safety: SafetyConfig = field(default_factory=SafetyConfig)

    def validate(self) -> None:
        if self.robot not in ROBOTS:
            raise ValueError(f"robot: unknown robot '{self.robot}'; available: "
                             f"{', '.join(sorted(ROBOTS))}")
        if not 0 < self.control_dt <= 0.1:
            raise ValueError(f"control_dt must be in (0, 0.1] s, got {self.control_dt}")
        spec = ROBOTS[self.robot]
        if self.joints:
            unknown = sorted(set(self.joints) - set(spec.joint_names))
            if unknown:
                raise ValueError(f"joints: unknown joint(s) {unknown}; {spec.name} has "
                                 f"{', '.join(spec.joint_names)}")
            missing = [j for j in spec.joint_names if j not in self.joints]
            if missing:
                raise ValueError(f"joints: missing joint(s) {missing}: list every joint of "
                                 f"{spec.name} or none")
        for name, j in self.joints.items():
            i = spec.joint_names.index(name)
            lo = spec.q_min[i] if j.q_min is None else j.q_min
            hi = spec.q_max[i] if j.q_max is None else j.q_max
            if not lo < hi:
                raise ValueError(f"joints.{name}: limits inverted (q_min {lo} >= q_max {hi})")
            if not (spec.q_min[i] - 1e-9 <= lo and hi <= spec.q_max[i] + 1e-9):
                raise ValueError(f"joints.{name}: limits [{lo}, {hi}] exceed the hardware "
                                 f"range [{spec.q_min[i]}, {spec.q_max[i]}]")
            ratio = JointConfig.GAIN_RATIO_MAX
            gain_max = {"kp": ratio * float(spec.kp[i]),
                        "kd": ratio * float(max(spec.kd[i], spec.damping_kd[i]))}
            for key, top in gain_max.items():
                v = getattr(j, key)
                if v is not None and not v >= 0:
                    raise ValueError(f"joints.{name}.{key}: gains must be >= 0, got {v}")
                if v is not None and not v <= top:
                    raise ValueError(f"joints.{name}.{key}: {v} is beyond {spec.name}'s range "
                                     f"[0, {top:g}] ({ratio:g} x its nominal {key}); use a "
                                     "gain the motors are specified for")
            for key, hw in (("tau_max", spec.tau_max[i]), ("dq_max", spec.dq_max[i])):
                v = getattr(j, key)
                if v is not None and not 0 < v <= hw:
                    raise ValueError(f"joints.{name}.{key}: must be in (0, {hw}], got {v}")

    def effective_spec(self, gains_from: dict[str, Any] | None = None) -> RobotSpec:
        """The robot spec with this config's per-joint settings applied; with ``gains_from``
        (a bundle's control contract: the deploy config's ``policy.adopt_bundle_gains``), its
        kp and kd instead of the robot's and this config's."""
        spec = self._with_joints(get_robot(self.robot))
        return spec if gains_from is None else with_contract_gains(spec, gains_from)

    def _with_joints(self, spec: RobotSpec) -> RobotSpec:
        if not self.joints:
            return spec
        arrays = {k: np.array(getattr(spec, k), dtype=np.float64)
                  for k in ("q_min", "q_max", "kp", "kd", "tau_max", "dq_max")}
        for name, j in self.joints.items():
            i = spec.joint_names.index(name)
            for key, arr in arrays.items():
                v = getattr(j, key)
                if v is not None:
                    arr[i] = v
        q0 = np.clip(spec.q0, arrays["q_min"], arrays["q_max"])
        rest = (np.clip(spec.q_rest, arrays["q_min"], arrays["q_max"]) if spec.q_rest.size
                else spec.q_rest)
        return dataclasses.replace(spec, q0=q0, q_rest=rest, **arrays)  # type: ignore[arg-type]


CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "robots"


def robot_config_file(robot: str) -> Path:
    """A robot's deploy config: ``configs/robots/<robot>.yaml``, else the ``robot.yaml`` in its
    own folder (``robot_rl/robots/<robot>/``, where `robot-rl robot import` writes it)."""
    shared = CONFIG_DIR / f"{robot}.yaml"
    if shared.is_file():
        return shared
    own = get_robot(robot).mjcf.resolve().parent.parent / "robot.yaml"
    return own if own.is_file() else shared


def load_robot_config(path: str | Path | None = None, robot: str = "",
                      gains_from: dict[str, Any] | None = None) -> RobotConfig:
    """Load and validate a robot config (default: ``configs/robots/<robot>.yaml``); the
    safety stages and fallback are built once here so their options are checked at load
    time too (on ``effective_spec(gains_from)``: a recovery bundle is checked against the
    gains the robot will run)."""
    if path is None:
        if not robot:
            raise ConfigError("give a robot config file or a robot name")
        path = robot_config_file(robot)
    cfg = load_config(RobotConfig, path)
    try:
        spec = cfg.effective_spec(gains_from)
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None
    build_stages(cfg.safety, spec, cfg.control_dt, str(path))
    build_fallback(cfg.safety.fallback, spec, cfg.control_dt, str(path))
    return cfg


def make_safety_chain(cfg: RobotConfig, source: str = "safety") -> SafetyChain:
    """The robot's chain at its own control period (tests, the safety bench)."""
    return SafetyChain.from_config(cfg.safety, cfg.effective_spec(), cfg.control_dt, source)


def make_supervisor(cfg: RobotConfig, spec: RobotSpec, dt: float) -> SafetySupervisor:
    """The operator's view of the robot's chain (mux, e-stop, resets), ticked every ``dt``
    seconds (in deployment: the policy period, so its rate limit is per policy step)."""
    return SafetySupervisor(SafetyChain.from_config(cfg.safety, spec, dt, str(cfg.robot)))


__all__ = ["CONFIG_DIR", "JointConfig", "RobotConfig", "load_robot_config", "make_safety_chain",
           "make_supervisor", "robot_config_file"]
