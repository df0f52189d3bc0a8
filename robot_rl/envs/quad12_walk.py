"""``quad12-walk``: velocity-command locomotion for the quad12 quadruped.

Command (vx [m/s], vy [m/s], yaw rate [rad/s]) in the base frame, resampled every
``commands.resample_s``. Reward terms follow legged_gym (Rudin et al. 2022); each is a
per-second rate multiplied by the policy period and logged separately. Termination on a
fall: trunk contact with the ground, tilt beyond ``termination.max_tilt`` or a base lower
than ``termination.min_base_height`` above the terrain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import mujoco
import numpy as np

from robot_rl.envs.base import RewardFn, RobotEnv, TaskConfig
from robot_rl.envs.terrain import HeightField, TerrainConfig
from robot_rl.geometry import projected_gravity
from robot_rl.types import RobotState


@dataclass
class VelocityCommandConfig:
    """Ranges of the uniformly sampled velocity command."""

    lin_vel_x: tuple[float, float] = (-1.0, 1.0)
    lin_vel_y: tuple[float, float] = (-0.5, 0.5)
    ang_vel_yaw: tuple[float, float] = (-1.0, 1.0)
    resample_s: float = 10.0
    standing_below: float = 0.1

    def validate(self) -> None:
        for key in ("lin_vel_x", "lin_vel_y", "ang_vel_yaw"):
            lo, hi = getattr(self, key)
            if lo > hi:
                raise ValueError(f"commands.{key}: low {lo} above high {hi}")
        if self.resample_s <= 0:
            raise ValueError("commands.resample_s must be > 0")


@dataclass
class WalkTerminationConfig:
    max_tilt: float = 1.0
    min_base_height: float = 0.15
    trunk_contact: bool = True


@dataclass
class WalkConfig(TaskConfig):
    """YAML schema of ``configs/tasks/quad12-walk*.yaml``."""

    commands: VelocityCommandConfig = field(default_factory=VelocityCommandConfig)
    terrain: TerrainConfig = field(default_factory=TerrainConfig)
    termination: WalkTerminationConfig = field(default_factory=WalkTerminationConfig)
    tracking_sigma: float = 0.25
    base_height_target: float = 0.27
    feet_air_time_target: float = 0.5
    init_joint_noise: float = 0.1
    random_yaw: bool = True

    def validate(self) -> None:
        super().validate()
        self.commands.validate()
        self.terrain.validate()
        if self.tracking_sigma <= 0:
            raise ValueError("tracking_sigma must be > 0")


def _r_tracking_lin_vel(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    v = st.base_lin_vel if st.base_lin_vel is not None else np.zeros(3)
    err = (env.command[0] - v[0]) ** 2 + (env.command[1] - v[1]) ** 2
    return float(np.exp(-err / env.cfg.tracking_sigma))


def _r_tracking_ang_vel(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    return float(np.exp(-(env.command[2] - st.imu_gyro[2]) ** 2 / env.cfg.tracking_sigma))


def _r_lin_vel_z(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    v = st.base_lin_vel if st.base_lin_vel is not None else np.zeros(3)
    return float(v[2] ** 2)


def _r_ang_vel_xy(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    return float(st.imu_gyro[0] ** 2 + st.imu_gyro[1] ** 2)


def _r_orientation(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    g = env.gravity_b
    return float(g[0] ** 2 + g[1] ** 2)


def _r_base_height(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    return float((env.base_height - env.cfg.base_height_target) ** 2)


def _r_torques(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    return float(np.dot(env._tau, env._tau))


def _r_dof_acc(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    acc = (st.dq - env.last_dq) / env.dt
    return float(np.dot(acc, acc))


def _r_action_rate(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    d = a - env.last_action
    return float(np.dot(d, d))


def _r_dof_pos_limits(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    below = np.maximum(env.soft_q_min - st.q, 0.0)
    above = np.maximum(st.q - env.soft_q_max, 0.0)
    return float(below.sum() + above.sum())


def _r_collision(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    return float(env.n_body_contacts)


def _r_feet_air_time(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    if np.hypot(env.command[0], env.command[1]) < env.cfg.commands.standing_below:
        return 0.0
    if not env.first_contact.any():
        return 0.0
    return float(((env.air_time_at_touchdown - env.cfg.feet_air_time_target)
                  * env.first_contact).sum())


def _r_stand_still(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    if np.hypot(env.command[0], env.command[1]) >= env.cfg.commands.standing_below:
        return 0.0
    return float(np.abs(st.q - env.robot_spec.q0).sum())


def _r_termination(env: Quad12WalkEnv, st: RobotState, a: np.ndarray) -> float:
    return float(env.fell)


WALK_REWARDS: dict[str, RewardFn] = {
    "tracking_lin_vel": _r_tracking_lin_vel, "tracking_ang_vel": _r_tracking_ang_vel,
    "lin_vel_z": _r_lin_vel_z, "ang_vel_xy": _r_ang_vel_xy, "orientation": _r_orientation,
    "base_height": _r_base_height, "torques": _r_torques, "dof_acc": _r_dof_acc,
    "action_rate": _r_action_rate, "dof_pos_limits": _r_dof_pos_limits,
    "collision": _r_collision, "feet_air_time": _r_feet_air_time,
    "stand_still": _r_stand_still, "termination": _r_termination,
}


class Quad12WalkEnv(RobotEnv):
    """Velocity-tracking locomotion on flat ground or a random height field."""

    reward_terms: ClassVar[dict[str, RewardFn]] = WALK_REWARDS
    cfg: WalkConfig

    def __init__(self, cfg: WalkConfig, **kwargs: Any) -> None:
        super().__init__(cfg, **kwargs)
        m = self.model
        self.key_home = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_KEY, "home")
        if self.key_home < 0:
            raise ValueError(f"{self.scene_path()}: keyframe 'home' missing")
        self.terrain = HeightField(m) if cfg.terrain.kind == "rough" else None
        # per geom: 1 = trunk (ground contact ends the episode), 2 = thigh / calf (penalised)
        trunk = self.robot.base_id
        feet = set(self.robot.foot_geom_ids.tolist())
        self._geom_category = np.zeros(m.ngeom, dtype=np.int8)
        for g, b in enumerate(m.geom_bodyid):
            body = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, int(b)) or ""
            if int(b) == trunk:
                self._geom_category[g] = 1
            elif ("thigh" in body or "calf" in body) and g not in feet:
                self._geom_category[g] = 2
        mid = 0.5 * (self.robot_spec.q_min + self.robot_spec.q_max)
        half = 0.5 * (self.robot_spec.q_max - self.robot_spec.q_min) * 0.9
        self.soft_q_min, self.soft_q_max = mid - half, mid + half
        self.command = np.zeros(3)
        self.last_dq = np.zeros(self.robot_spec.n_joints)
        self.air_time = np.zeros(len(self.robot_spec.feet))
        self.air_time_at_touchdown = np.zeros(len(self.robot_spec.feet))
        self.first_contact = np.zeros(len(self.robot_spec.feet), dtype=bool)
        self.last_contacts = np.zeros(len(self.robot_spec.feet), dtype=bool)
        self.gravity_b = np.array([0.0, 0.0, -1.0])
        self.base_height = 0.0
        self.n_body_contacts = 0
        self.fell = False
        self.trunk_contact = False
        self._resample_every = max(1, int(round(cfg.commands.resample_s / self.dt)))

    def scene_path(self) -> Path:
        name = "scene_rough.xml" if self.cfg.terrain.kind == "rough" else "scene_flat.xml"
        return self.robot_spec.mjcf.parent / name

    # -- episode -------------------------------------------------------------------------
    def sample_command(self) -> None:
        c, rng = self.cfg.commands, self.np_random
        cmd = np.array([rng.uniform(*c.lin_vel_x), rng.uniform(*c.lin_vel_y),
                        rng.uniform(*c.ang_vel_yaw)])
        if np.hypot(cmd[0], cmd[1]) < c.standing_below:
            cmd[:2] = 0.0
        self.command = cmd

    def _reset_task(self) -> None:
        mujoco.mj_resetDataKeyframe(self.model, self.data, self.key_home)
        rng = self.np_random
        ground = 0.0
        if self.terrain is not None:
            self.terrain.randomize(rng, self.cfg.terrain)
            ground = self.terrain.height_at(0.0, 0.0)
        self.data.qpos[2] += ground + 0.01
        if self.cfg.random_yaw:
            yaw = rng.uniform(-np.pi, np.pi)
            self.data.qpos[3:7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        noise = self.cfg.init_joint_noise
        q = self.robot_spec.q0 + rng.uniform(-noise, noise, self.robot_spec.n_joints)
        spec = self.robot_spec
        self.data.qpos[self.robot.qpos_adr] = np.clip(q, spec.q_min, spec.q_max)
        self.sample_command()
        self.last_dq[:] = 0.0
        self.air_time[:] = 0.0
        self.air_time_at_touchdown[:] = 0.0
        self.first_contact[:] = False
        self.last_contacts[:] = True
        self.fell = False

    def _update_contacts(self, st: RobotState) -> None:
        d = self.data
        self.n_body_contacts = 0
        self.trunk_contact = False
        if d.ncon:
            # the robot does not self-collide, so every contact of a trunk/limb geom is a
            # ground contact; category per geom: 0 other, 1 trunk, 2 thigh/calf
            cats = self._geom_category[d.contact.geom[: d.ncon]]
            self.trunk_contact = bool((cats == 1).any())
            self.n_body_contacts = int((cats == 2).sum())
        contact = st.contacts if st.contacts is not None else self.last_contacts
        self.first_contact = (self.air_time > 0.0) & contact & ~self.last_contacts
        self.air_time += self.dt
        self.air_time_at_touchdown = np.where(self.first_contact, self.air_time, 0.0)
        self.air_time[contact] = 0.0
        self.last_contacts = contact

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        out = super().step(action)
        self.last_dq[:] = self.state.dq if self.state is not None else 0.0
        return out

    def _compute(self, st: RobotState) -> None:
        self.gravity_b = projected_gravity(st.imu_quat)
        base = st.base_pos if st.base_pos is not None else np.zeros(3)
        ground = self.terrain.height_at(base[0], base[1]) if self.terrain is not None else 0.0
        self.base_height = float(base[2] - ground)
        self._update_contacts(st)
        t = self.cfg.termination
        self.fell = bool((t.trunk_contact and self.trunk_contact)
                         or self.gravity_b[2] > -np.cos(t.max_tilt)
                         or self.base_height < t.min_base_height)

    def _terminated(self, st: RobotState) -> bool:
        return self.fell

    def _post_physics(self, st: RobotState) -> None:
        if self.step_count % self._resample_every == 0:
            self.sample_command()

    def _truncated(self, st: RobotState) -> bool:
        if self.terrain is not None and st.base_pos is not None:
            if not self.terrain.inside(st.base_pos[0], st.base_pos[1]):
                return True
        return super()._truncated(st)

    def _episode_info(self) -> dict[str, Any]:
        return {"fell": self.fell}
