"""Table-top tasks for the arm6 (SO-101-class) arm: ``arm6-reach``, ``arm6-lift``, ``arm6-insert``.

Positions are in the arm's base frame (the base sits at the world origin on the table top,
z = 0 is the table surface). ``RobotState.command`` carries the task goal: the reach target,
the lift target, or the hole opening. Objects a task does not use are parked out of reach.
Each episode reports ``success``: the goal condition holds at its last step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import mujoco
import numpy as np

from robot_rl.envs.base import RewardFn, RobotEnv, TaskConfig
from robot_rl.robots.spec import RobotSpec
from robot_rl.types import RobotState

PARKED = {"cube": (0.45, 0.4, 0.015), "peg": (0.45, -0.4, 0.03)}


@dataclass
class ArmTaskConfig(TaskConfig):
    """YAML schema of the arm6 tasks.

    Attributes:
        goal_low, goal_high: reach-target box [m] (base frame).
        object_x, object_y: placement ranges [m] of the task object on the table.
        object_yaw: max |yaw| [rad] of the placed object.
        lift_height: cube lift required for success [m].
        success_threshold: reach / insertion distance counted as success [m].
        shaped: False keeps only the sparse terms (``success``, ``action_rate``,
            ``joint_vel``) of the configured rewards.
        terminate_on_success: end the episode at the first success.
        init_joint_noise: uniform joint noise around q0 at reset [rad].
    """

    goal_low: tuple[float, float, float] = (0.12, -0.15, 0.03)
    goal_high: tuple[float, float, float] = (0.30, 0.15, 0.20)
    object_x: tuple[float, float] = (0.15, 0.26)
    object_y: tuple[float, float] = (-0.08, 0.12)
    object_yaw: float = 0.5
    lift_height: float = 0.05
    success_threshold: float = 0.02
    shaped: bool = True
    terminate_on_success: bool = False
    init_joint_noise: float = 0.05

    def validate(self) -> None:
        super().validate()
        if any(lo > hi for lo, hi in zip(self.goal_low, self.goal_high)):
            raise ValueError(f"goal_low {self.goal_low} must be <= goal_high {self.goal_high}")
        for key in ("object_x", "object_y"):
            lo, hi = getattr(self, key)
            if lo > hi:
                raise ValueError(f"{key}: low {lo} above high {hi}")
        if self.success_threshold <= 0 or self.lift_height <= 0:
            raise ValueError("success_threshold and lift_height must be > 0")


SPARSE_TERMS = frozenset({"success", "action_rate", "joint_vel", "torque", "limited"})


def _ee(env: ArmTaskEnv) -> np.ndarray:
    return env.data.site_xpos[env.robot.ee_site_id]


def _r_action_rate(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    d = a - env.last_action
    return float(np.dot(d, d))


def _r_joint_vel(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    return float(np.dot(st.dq, st.dq))


def _r_torque(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    """Sum of squared joint torques as fractions of their limits (last physics substep): a
    servo held at its torque limit heats and chatters."""
    t = env._tau / env.robot_spec.tau_max
    return float(np.dot(t, t))


def _r_limited(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    """How far [rad, the norm over joints] the safety chain's limits (applied in the env as
    on the robot, `robot_rl.safety.limits`) moved this step's target: a policy that asks for
    targets the robot will not get (beyond a joint limit, faster than the joints' rated
    speed, more torque than the motors have) pays in proportion, small misses too (a norm,
    not its square: a 5 cm overshoot of a joint limit is not free)."""
    return math.sqrt(env._limit_moved)


def _r_success(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    return float(env.is_success)


def _r_reach_goal(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    return float(1.0 - np.tanh(10.0 * np.linalg.norm(_ee(env) - env.goal)))


def _r_reach_object(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    obj = env.data.xpos[env.task_body]
    return float(1.0 - np.tanh(10.0 * np.linalg.norm(_ee(env) - obj)))


def _r_lift(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    rise = env.data.xpos[env.task_body][2] - env.rest_height
    return float(np.clip(rise / env.cfg.lift_height, 0.0, 1.0))


def _r_align(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    """Peg tip over the hole (only counts once the peg is lifted off the table)."""
    tip = env.data.site_xpos[env.peg_tip]
    if tip[2] < 0.01 + env.hole_top[2] - 0.04:
        return 0.0
    return float(1.0 - np.tanh(20.0 * np.linalg.norm(tip[:2] - env.hole_top[:2])))


def _r_insert(env: ArmTaskEnv, st: RobotState, a: np.ndarray) -> float:
    """Insertion depth below the hole opening, 0..1, while aligned within 5 mm."""
    tip = env.data.site_xpos[env.peg_tip]
    if np.linalg.norm(tip[:2] - env.hole_top[:2]) > 0.005:
        return 0.0
    depth = env.hole_top[2] - tip[2]
    return float(np.clip(depth / (env.hole_top[2] - env.hole_bottom[2]), 0.0, 1.0))


COMMON: dict[str, RewardFn] = {"action_rate": _r_action_rate, "joint_vel": _r_joint_vel,
                               "success": _r_success, "torque": _r_torque,
                               "limited": _r_limited}


class ArmTaskEnv(RobotEnv):
    """Base of the arm6 tasks: reset around q0, object placement, success bookkeeping."""

    objects: ClassVar[tuple[str, ...]] = ("cube", "peg")
    task_object: ClassVar[str] = ""
    cfg: ArmTaskConfig
    robot_class: ClassVar[str] = "arm"

    @classmethod
    def check_robot(cls, spec: RobotSpec) -> list[str]:
        """An arm: a fixed base, an end-effector site; for the object tasks a gripper joint
        (named ``gripper``); its scene the arm tasks' table (robot_rl/robots/scenes/table.xml)
        with a ``home`` keyframe, as `robot-rl robot import` writes it."""
        lacks = []
        if spec.floating_base:
            lacks.append("has a floating base (an arm's is fixed)")
        if not spec.ee_site:
            lacks.append("has no end-effector site (RobotSpec.ee_site)")
        if cls.task_object and "gripper" not in spec.joint_names:
            lacks.append("has no joint named 'gripper' to grasp the object with")
        return lacks

    def __init__(self, cfg: ArmTaskConfig, **kwargs: Any) -> None:
        super().__init__(cfg, **kwargs)
        m = self.model
        self.key_home = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_KEY, "home")
        if self.key_home < 0:
            raise ValueError(f"{self.scene_path()}: keyframe 'home' missing")
        if not cfg.shaped:
            self._term_fns = [t for t in self._term_fns if t[0] in SPARSE_TERMS]
            self._weights = {k: w for k, w in self._weights.items() if k in SPARSE_TERMS}
        self._obj_qpos = {name: int(m.jnt_qposadr[m.body_jntadr[self.robot.object_ids[name]]])
                          for name in self.objects}
        self.task_body = self.robot.object_ids.get(self.task_object, -1)
        self.peg_tip = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "peg_tip")
        hole_top = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "hole_top")
        hole_bottom = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "hole_bottom")
        mujoco.mj_forward(m, self.data)
        self.hole_top = self.data.site_xpos[hole_top].copy()
        self.hole_bottom = self.data.site_xpos[hole_bottom].copy()
        self.goal = np.zeros(3)
        self.command = np.zeros(3)
        self._goal_site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "goal")
        self.rest_height = 0.0
        self.is_success = False
        self.ever_success = False

    def _place(self, name: str, x: float, y: float, z: float, yaw: float = 0.0) -> None:
        adr = self._obj_qpos[name]
        self.data.qpos[adr: adr + 7] = [x, y, z, np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]

    def _place_task_object(self) -> None:
        rng, c = self.np_random, self.cfg
        x, y = rng.uniform(*c.object_x), rng.uniform(*c.object_y)
        z = PARKED[self.task_object][2]
        self._place(self.task_object, x, y, z, rng.uniform(-c.object_yaw, c.object_yaw))
        self.rest_height = z

    def _reset_task(self) -> None:
        mujoco.mj_resetDataKeyframe(self.model, self.data, self.key_home)
        for name in self.objects:
            if name != self.task_object:
                self._place(name, *PARKED[name])
        if self.task_object:
            self._place_task_object()
        noise = self.cfg.init_joint_noise
        q = self.robot_spec.q0 + self.np_random.uniform(-noise, noise, self.robot_spec.n_joints)
        spec = self.robot_spec
        self.data.qpos[self.robot.qpos_adr] = np.clip(q, spec.q_min, spec.q_max)
        self.is_success = self.ever_success = False
        self._sample_goal()
        if self._goal_site >= 0:  # visual marker (base frame = world frame for the arm)
            self.model.site_pos[self._goal_site] = self.goal

    def _sample_goal(self) -> None:
        self.goal = self.hole_top.copy()
        self.command = self.goal.copy()

    def _success(self) -> bool:
        return False

    def _compute(self, state: RobotState) -> None:
        self.is_success = self._success()
        self.ever_success = self.ever_success or self.is_success

    def _terminated(self, state: RobotState) -> bool:
        return self.cfg.terminate_on_success and self.is_success

    def _episode_info(self) -> dict[str, Any]:
        return {"success": self.is_success}


class Arm6ReachEnv(ArmTaskEnv):
    """Bring the end-effector site to a sampled goal point."""

    reward_terms: ClassVar[dict[str, RewardFn]] = {**COMMON, "reach_goal": _r_reach_goal}

    def _sample_goal(self) -> None:
        self.goal = self.np_random.uniform(self.cfg.goal_low, self.cfg.goal_high)
        self.command = self.goal.copy()

    def _success(self) -> bool:
        return bool(np.linalg.norm(_ee(self) - self.goal) < self.cfg.success_threshold)


class Arm6LiftEnv(ArmTaskEnv):
    """Grasp the cube and lift it by ``lift_height``."""

    task_object: ClassVar[str] = "cube"
    reward_terms: ClassVar[dict[str, RewardFn]] = {**COMMON, "reach_object": _r_reach_object,
                                                   "lift": _r_lift}

    def _sample_goal(self) -> None:
        pos = self.data.qpos[self._obj_qpos["cube"]: self._obj_qpos["cube"] + 3]
        self.goal = np.array([pos[0], pos[1], self.rest_height + self.cfg.lift_height])
        self.command = self.goal.copy()

    def _success(self) -> bool:
        rise = self.data.xpos[self.task_body][2] - self.rest_height
        return bool(rise >= self.cfg.lift_height)


class Arm6InsertEnv(ArmTaskEnv):
    """Pick up the peg and insert it into the hole (sparse success; optional shaping)."""

    task_object: ClassVar[str] = "peg"
    reward_terms: ClassVar[dict[str, RewardFn]] = {**COMMON, "reach_object": _r_reach_object,
                                                   "lift": _r_lift, "align": _r_align,
                                                   "insert": _r_insert}

    def _success(self) -> bool:
        tip = self.data.site_xpos[self.peg_tip]
        return bool(np.linalg.norm(tip - self.hole_bottom) < self.cfg.success_threshold)


__all__ = ["Arm6InsertEnv", "Arm6LiftEnv", "Arm6ReachEnv", "ArmTaskConfig", "ArmTaskEnv"]
