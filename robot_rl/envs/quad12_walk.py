"""``quad12-walk``: velocity-command locomotion for the quad12 quadruped.

Command (vx [m/s], vy [m/s], yaw rate [rad/s]) in the base frame, resampled every
``commands.resample_s``. Reward terms follow legged_gym (Rudin et al. 2022); each is a
per-second rate multiplied by the policy period and logged separately. Termination on a
fall: trunk contact with the ground, tilt beyond ``termination.max_tilt`` or a base lower
than ``termination.min_base_height`` above the terrain.

How to add a reward term: write one function decorated with ``@walk_reward``, named after
the term, that takes ``(env, st, a)`` and returns the unweighted term, and give it a weight
under ``rewards:`` in ``configs/tasks/quad12-walk*.yaml`` (``my_term: -0.5``; a term without
a weight is off). The function must work both on one env and on a batch: ``env`` is either a
`Quad12WalkEnv` (scalars, (n,) arrays) or a `StepBatch` of K envs that carries the same
names as (K,) / (K, n) arrays (``env.command``, ``env.base_height``, ``env.gravity_b``,
``env.last_action``, ...; see `Quad12WalkEnv.batch_compute`), ``st`` the matching
`RobotState` and ``a`` the clipped action; write it with ``[..., i]`` indexing and
``axis=-1`` reductions and it is one numpy call per operation for all K envs. The env
weights it, multiplies it by ``dt``, adds it to the reward and reports its episode sum as
``info["episode"]["rew_my_term"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import mujoco
import numpy as np

from robot_rl.envs.base import RewardFn, RobotEnv, TaskConfig, add_reward_term
from robot_rl.envs.batch import StepBatch
from robot_rl.envs.terrain import HeightField, TerrainConfig
from robot_rl.geometry import projected_gravity
from robot_rl.robots.spec import RobotSpec
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


WALK_REWARDS: dict[str, RewardFn] = {}
_Term = TypeVar("_Term", bound=RewardFn)


def walk_reward(fn: _Term) -> _Term:
    """Register ``fn`` as the quad12-walk reward term named after it (module docstring)."""
    return add_reward_term(WALK_REWARDS, fn)


# The terms. ``env``: one env or a `StepBatch`; ``st``: its state; ``a``: the clipped action.
# Each returns the unweighted term: a scalar for one env, a (K,) array for a batch.
@walk_reward
def tracking_lin_vel(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """exp(-|command_xy - v_xy|² / tracking_sigma): 1 at perfect horizontal tracking."""
    assert st.base_lin_vel is not None
    err = env.command[..., :2] - st.base_lin_vel[..., :2]
    return np.exp(np.add.reduce(err * err, -1) / -env.cfg.tracking_sigma)


@walk_reward
def tracking_ang_vel(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """exp(-(command_yaw - yaw rate)² / tracking_sigma)."""
    return np.exp(-(env.command[..., 2] - st.imu_gyro[..., 2]) ** 2 / env.cfg.tracking_sigma)


@walk_reward
def lin_vel_z(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Vertical base velocity squared [m²/s²]."""
    assert st.base_lin_vel is not None
    return st.base_lin_vel[..., 2] ** 2


@walk_reward
def ang_vel_xy(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Roll and pitch rates squared [rad²/s²]."""
    return st.imu_gyro[..., 0] ** 2 + st.imu_gyro[..., 1] ** 2


@walk_reward
def orientation(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Horizontal part of gravity in the base frame squared (0 when level)."""
    g = env.gravity_b
    return g[..., 0] ** 2 + g[..., 1] ** 2


@walk_reward
def base_height(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """(base height over the terrain - base_height_target)² [m²]."""
    return (env.base_height - env.cfg.base_height_target) ** 2


@walk_reward
def torques(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Σ joint torque² [N²m²] (the last physics step's PD torques)."""
    return (env._tau * env._tau).sum(-1)


@walk_reward
def dof_acc(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Σ joint acceleration² over the policy step [rad²/s⁴]."""
    acc = (st.dq - env.last_dq) / env.dt
    return (acc * acc).sum(-1)


@walk_reward
def action_rate(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Σ (action - last action)²."""
    d = a - env.last_action
    return (d * d).sum(-1)


@walk_reward
def dof_pos_limits(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Σ distance [rad] of the joints beyond their soft limits (90 % of the range)."""
    below = np.maximum(env.soft_q_min - st.q, 0.0)
    above = np.maximum(st.q - env.soft_q_max, 0.0)
    return np.add.reduce(below + above, -1)


@walk_reward
def collision(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Number of thigh / calf contacts with the ground."""
    return np.asarray(env.n_body_contacts, dtype=np.float64)


def _moving(env: Any) -> Any:
    """The command asks for horizontal motion (not a standing command)."""
    c = env.command
    return np.hypot(c[..., 0], c[..., 1]) >= env.cfg.commands.standing_below


@walk_reward
def feet_air_time(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Σ over feet touching down this step of (air time - feet_air_time_target) [s]; 0 under
    a standing command."""
    air = ((env.air_time_at_touchdown - env.cfg.feet_air_time_target)
           * env.first_contact).sum(-1)
    return np.where(_moving(env), air, 0.0)


@walk_reward
def stand_still(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """Σ |q - q0| [rad] under a standing command; 0 when moving."""
    return np.where(_moving(env), 0.0, np.abs(st.q - env.robot_spec.q0).sum(-1))


@walk_reward
def termination(env: Any, st: RobotState, a: np.ndarray) -> Any:
    """1 on the step the robot falls."""
    return np.asarray(env.fell, dtype=np.float64)


def advance_air_time(air: np.ndarray, last_contacts: np.ndarray, contacts: np.ndarray,
                     dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One policy step of the feet's air-time clocks ((n_feet,) or (K, n_feet) arrays).

    Returns the clocks after the step (``air`` is updated in place: + dt, 0 for feet in
    contact), the first-contact flags (touchdown this step after time in the air) and each
    touching-down foot's air time (0 for the others).
    """
    first = (air > 0.0) & contacts & ~last_contacts
    air += dt
    at_touchdown = np.where(first, air, 0.0)
    air[contacts] = 0.0
    return air, first, at_touchdown


class Quad12WalkEnv(RobotEnv):
    """Velocity-tracking locomotion on flat ground or a random height field."""

    reward_terms: ClassVar[dict[str, RewardFn]] = WALK_REWARDS
    batched: ClassVar[bool] = True
    cfg: WalkConfig
    robot_class: ClassVar[str] = "quadruped"

    @classmethod
    def check_robot(cls, spec: RobotSpec) -> list[str]:
        """A quadruped: a floating base, 12 actuated joints, four feet (FR, FL, RR, RL, each
        with a ``<LEG>_touch`` sensor), an IMU site (``imu_gyro`` / ``imu_acc`` / ``imu_quat``
        sensors); its scenes ``scene_flat.xml`` and ``scene_rough.xml`` beside its mjcf, as
        `robot-rl robot import` writes them."""
        lacks = []
        if not spec.floating_base:
            lacks.append("has a fixed base (a walking robot's floats)")
        if spec.n_joints != 12:
            lacks.append(f"has {spec.n_joints} joints (a quadruped task drives 12)")
        if len(spec.feet) != 4:
            lacks.append(f"has {len(spec.feet)} feet {list(spec.feet)} (four: FR, FL, RR, RL)")
        if not spec.imu_site:
            lacks.append("has no IMU site (RobotSpec.imu_site)")
        return lacks

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
        # fresh arrays, not in-place writes: after a step these are rows of the step's arrays
        n_feet = len(self.robot_spec.feet)
        self.last_dq = np.zeros(self.robot_spec.n_joints)
        self.air_time, self.air_time_at_touchdown = np.zeros(n_feet), np.zeros(n_feet)
        self.first_contact = np.zeros(n_feet, dtype=bool)
        self.last_contacts = np.ones(n_feet, dtype=bool)
        self.fell = False

    # -- the step, for a batch of envs (robot_rl/envs/batch.py) ------------------------------
    @staticmethod
    def batch_compute(b: StepBatch) -> None:
        """Gravity in the base frame, base height over the terrain, contacts, feet air time and
        the fall test, for all K envs. Each env gets its values (``env.base_height``, ...) and
        the batch the (K, ...) arrays under the same names, which the reward terms read."""
        envs: list[Quad12WalkEnv] = b.envs  # type: ignore[assignment]
        e0, st = envs[0], b.st
        assert st is not None and st.base_pos is not None and st.contacts is not None
        cfg, dt = e0.cfg, e0.dt
        gravity = projected_gravity(st.imu_quat)
        base = st.base_pos
        height = base[:, 2]
        if e0.terrain is not None:
            height = height - np.array([e.terrain.height_at(p[0], p[1])  # type: ignore[union-attr]
                       for e, p in zip(envs, base.tolist())])
        k = b.k
        trunk, n_body = np.zeros(k, dtype=bool), np.zeros(k, dtype=np.int64)
        for i, e in enumerate(envs):
            d = e.data
            if d.ncon:
                # the robot does not self-collide, so every contact of a trunk/limb geom is a
                # ground contact; category per geom: 0 other, 1 trunk, 2 thigh/calf
                counts = np.bincount(e._geom_category[d.contact.geom[: d.ncon]].ravel(),
                                     minlength=3)
                trunk[i], n_body[i] = counts[1] > 0, counts[2]
        contact = st.contacts
        air, first, at_touchdown = advance_air_time(np.array([e.air_time for e in envs]),
                                                    np.array([e.last_contacts for e in envs]),
                                                    contact, dt)
        t = cfg.termination
        fell = ((trunk & t.trunk_contact) | (gravity[:, 2] > -math.cos(t.max_tilt))
                | (height < t.min_base_height))
        vars(b).update(gravity_b=gravity, base_height=height, fell=fell, n_body_contacts=n_body,
                       first_contact=first, air_time_at_touchdown=at_touchdown,
                       command=st.command, last_dq=np.array([e.last_dq for e in envs]),
                       soft_q_min=e0.soft_q_min, soft_q_max=e0.soft_q_max,
                       trunk_contact=trunk, air_time=air, last_contacts=contact)
        for i, e in enumerate(envs):
            e.gravity_b, e.base_height = gravity[i], float(height[i])
            e.trunk_contact, e.n_body_contacts = bool(trunk[i]), int(n_body[i])
            e.first_contact, e.air_time_at_touchdown = first[i], at_touchdown[i]
            e.air_time, e.last_contacts = air[i], contact[i]
            e.fell = bool(fell[i])

    @staticmethod
    def batch_terminated(b: StepBatch) -> np.ndarray:
        return b.fell  # type: ignore[no-any-return]

    @staticmethod
    def batch_post_physics(b: StepBatch) -> None:
        """Resample the commands that are due; remember this step's joint velocities."""
        assert b.st is not None
        for i, e in enumerate(b.envs):
            assert isinstance(e, Quad12WalkEnv)
            if e.step_count % e._resample_every == 0:
                e.sample_command()
            e.last_dq = b.st.dq[i].copy()

    @staticmethod
    def batch_truncated(b: StepBatch) -> np.ndarray:
        """Episode time-out, or (rough terrain) the base near the edge of the height field."""
        envs: list[Quad12WalkEnv] = b.envs  # type: ignore[assignment]
        out = np.array([e.step_count >= e.max_episode_steps for e in envs])
        st = b.st
        if envs[0].terrain is not None and st is not None and st.base_pos is not None:
            for i, (e, p) in enumerate(zip(envs, st.base_pos.tolist())):
                out[i] |= not e.terrain.inside(p[0], p[1])  # type: ignore[union-attr]
        return out

    def _episode_info(self) -> dict[str, Any]:
        return {"fell": self.fell}
