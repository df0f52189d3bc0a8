"""External-force disturbance on a legged robot's base, driven by an extra action.

`ForceDisturbanceEnv` wraps a `RobotEnv`: its action is the robot's action (A) followed by a
force [N] (3, world frame) on the base. The force is limited to the ball
``||f|| <= force_bound`` (scaled onto the sphere when longer) and held for the policy step.
It is what the H-infinity disturber acts through, and the force evaluation suite.

After each step, ``step_scalars`` = (task reward, applied force norm [N]) — read by the
vector env without per-step infos (``SubprocVectorEnv(scalars=2)``). The task reward is the
sum of the configured reward terms (already weighted and multiplied by dt);
``task_reward_max`` is its largest possible value per step (the terms are exp(-err) ≤ 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from robot_rl.envs.base import RobotEnv
from robot_rl.envs.registry import EnvFactory

TASK_TERMS = ("tracking_lin_vel", "tracking_ang_vel")


class ForceDisturbanceEnv(gym.Wrapper[Any, np.ndarray, Any, np.ndarray]):
    """Robot action + bounded base force (module docstring).

    Args:
        env: a floating-base `RobotEnv`. task_terms: reward terms whose sum is the task reward
            (each bounded by its weight x dt). force_bound: initial bound [N] (``set_attr``
            from a vector env to follow a curriculum).
    """

    def __init__(self, env: RobotEnv, task_terms: Sequence[str] = TASK_TERMS,
                 force_bound: float = 0.0) -> None:
        super().__init__(env)
        if not env.robot_spec.floating_base:
            raise ValueError(f"force disturbance needs a floating base; {env.robot_spec.name} "
                             "is fixed")
        weights = env._weights
        missing = [k for k in task_terms if k not in weights]
        if missing:
            raise ValueError(f"task reward terms {missing} are not active in this task's "
                             f"rewards (active: {sorted(weights)})")
        self.task_terms = tuple(task_terms)
        self.task_reward_max = float(sum(weights[k] for k in self.task_terms))
        self.force_bound = float(force_bound)
        space = env.action_space
        assert isinstance(space, gym.spaces.Box)
        self.n_robot = int(space.shape[0])
        low = np.concatenate([space.low, np.full(3, -np.inf, np.float32)])
        high = np.concatenate([space.high, np.full(3, np.inf, np.float32)])
        self.action_space = gym.spaces.Box(low, high, dtype=np.float32)
        # nominal weight [N] of everything in the scene (the robot: the scenes hold no free
        # objects besides it), used to express forces relative to the robot's weight
        self.robot_weight = float(mujoco.mj_getTotalmass(env.model)) * 9.81
        self.step_scalars = np.zeros(2)
        self.force = np.zeros(3)

    def bounded(self, force: np.ndarray) -> tuple[np.ndarray, float]:
        """``force`` scaled onto the ball of radius ``force_bound`` if it lies outside, and
        the norm of the result [N]."""
        f = np.asarray(force, dtype=np.float64)
        norm = float(np.linalg.norm(f))
        if not np.isfinite(norm):
            raise ValueError("disturbance force contains NaN or inf")
        if norm > self.force_bound:
            return f * (self.force_bound / norm), self.force_bound
        return f.copy(), norm

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, term, trunc, info = self.env.step(self.batch_pre(action))
        return self.batch_post(obs, float(reward), term, trunc, info)

    # the two halves of `step` around the robot env's own step; a vector env's worker calls
    # them around one `StepBatch` step of all its envs
    def batch_pre(self, action: np.ndarray) -> np.ndarray:
        """Check the action, apply its bounded force; the robot's part of the action."""
        a = np.asarray(action)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action has shape {a.shape}, expected {self.action_space.shape} "
                             f"(robot action + 3 force components)")
        self.force, self.step_scalars[1] = self.bounded(a[self.n_robot:])
        env: RobotEnv = self.env  # type: ignore[assignment]
        env.set_external_force(self.force)
        return a[: self.n_robot]

    def batch_post(self, obs: Any, reward: float, term: bool, trunc: bool,
                   info: dict[str, Any]) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """The task reward of the step into ``step_scalars``; the step result unchanged."""
        terms = self.env.last_terms  # type: ignore[attr-defined]
        self.step_scalars[0] = sum(terms[k] for k in self.task_terms)
        return obs, reward, term, trunc, info


class DisturbedEnvFactory(EnvFactory):
    """`EnvFactory` whose envs are wrapped in `ForceDisturbanceEnv` (picklable)."""

    def __init__(self, name: str, config: Any = None, overrides: dict[str, Any] | None = None,
                 task_terms: Sequence[str] = TASK_TERMS, **env_kwargs: Any) -> None:
        super().__init__(name, config, overrides, **env_kwargs)
        self.task_terms = tuple(task_terms)

    def __call__(self, index: int = 0) -> ForceDisturbanceEnv:  # type: ignore[override]
        return ForceDisturbanceEnv(super().__call__(index), self.task_terms)


__all__ = ["TASK_TERMS", "DisturbedEnvFactory", "ForceDisturbanceEnv"]
