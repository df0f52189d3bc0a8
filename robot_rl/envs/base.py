"""`RobotEnv`: the MuJoCo + Gymnasium base of every task.

One policy step: clip the action → decode it to joint targets → run the joint PD
tracking controller (`robot_rl.control.JointPDController`) at the physics rate for
``decimation`` MuJoCo steps → read a `RobotState` → build the observation with the shared
`ObsBuilder` → task reward terms, termination, truncation.

Reward terms are registered per task (name → function, `add_reward_term`), weighted by the
YAML ``rewards`` scales and multiplied by the policy period ``dt`` (legged_gym convention, so
scales are per-second rates). Each term's per-episode sum is reported in ``info["episode"]``
when the episode ends; per-step infos are otherwise empty (cheap for vector envs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import gymnasium as gym
import mujoco
import numpy as np

from robot_rl.config import load_config
from robot_rl.control.actions import decode_action, delta_bounds
from robot_rl.control.pd import JointPDController
from robot_rl.envs.batch import StepBatch
from robot_rl.envs.randomization import DomainRandConfig, DomainRandomizer
from robot_rl.robots import RobotSpec, get_robot
from robot_rl.robots.mjstate import MjRobot, robot_bodies
from robot_rl.runtime.obs import ObsBuilder, ObsConfig
from robot_rl.safety.limits import CommandLimits, limit_entries
from robot_rl.safety.robot_config import RobotConfig, robot_config_file
from robot_rl.types import RobotState


@dataclass
class ImageObsConfig:
    """Rendered camera observations (arm tasks). Images are uint8 RGB (H, W, 3)."""

    cameras: tuple[str, ...] = ()
    height: int = 84
    width: int = 84

    def validate(self) -> None:
        if self.height < 8 or self.width < 8 or self.height > 1024 or self.width > 1024:
            raise ValueError(f"image size {self.height}x{self.width} must be within 8..1024")


@dataclass
class TaskConfig:
    """Settings common to every task (YAML top level)."""

    robot: str = ""
    episode_s: float = 20.0
    # how actions become joint targets (`robot_rl.control.actions`): joint_pos_offset
    # (q0 + scale * a) or joint_pos_delta (the previous target + scale * a, in the range)
    action_type: str = "joint_pos_offset"
    action_scale: float | None = None  # rad per action unit; None: the robot's action_scale
    action_clip: float = 1.0
    obs: ObsConfig = field(default_factory=ObsConfig)
    obs_noise: bool = True
    images: ImageObsConfig = field(default_factory=ImageObsConfig)
    rewards: dict[str, float] = field(default_factory=dict)
    domain_rand: DomainRandConfig = field(default_factory=DomainRandConfig)
    # The safety chain's limit stages the env applies to every target, as on the robot
    # (`robot_rl.safety.limits`): ``{type, ...options}`` entries of joint_limits, rate_limit,
    # torque_limit. None: those of the robot's deploy config (`robot_config_file`),
    # filled in when the config is loaded (`resolve_limits`); []: none (not what the robot
    # runs: the bundle's contract then says the policy was trained without them).
    safety_limits: tuple[dict[str, Any], ...] | None = None

    def validate(self) -> None:
        from robot_rl.robots import ROBOTS

        if self.robot not in ROBOTS:
            raise ValueError(f"robot: unknown robot '{self.robot}'; available: "
                             f"{', '.join(sorted(ROBOTS))}")
        if self.episode_s <= 0:
            raise ValueError(f"episode_s must be > 0, got {self.episode_s}")
        if self.action_clip <= 0:
            raise ValueError(f"action_clip must be > 0, got {self.action_clip}")
        if self.action_type not in ENV_ACTION_TYPES:
            raise ValueError(f"action_type: '{self.action_type}' is not an action type the "
                             f"envs decode; use one of {', '.join(ENV_ACTION_TYPES)}")
        if self.action_scale is not None and not 0 < self.action_scale < float("inf"):
            raise ValueError(f"action_scale must be > 0 and finite, got {self.action_scale}")
        self.obs.validate()
        self.images.validate()
        self.domain_rand.validate()
        decimation = ROBOTS[self.robot].decimation
        if self.domain_rand.action_latency_ticks[1] > decimation:
            raise ValueError(f"domain_rand.action_latency_ticks: at most one policy period "
                             f"({decimation} physics steps) on {self.robot}")
        if self.safety_limits is not None:
            spec = ROBOTS[self.robot]
            CommandLimits(spec, list(self.safety_limits), spec.policy_dt, "safety_limits")


ENV_ACTION_TYPES = ("joint_pos_offset", "joint_pos_delta")


def resolve_limits(cfg: TaskConfig) -> TaskConfig:
    """Fill in ``cfg.safety_limits`` (in place) from the robot's deploy config when it is
    None: the limit stages that will hold the policy's commands on the robot. Returns cfg."""
    if cfg.safety_limits is None:
        path = robot_config_file(cfg.robot)
        rcfg = load_config(RobotConfig, path)
        cfg.safety_limits = tuple(limit_entries(rcfg.safety, str(path)))
    return cfg


RewardFn = Callable[[Any, RobotState, np.ndarray], Any]
_Term = TypeVar("_Term", bound=RewardFn)


def add_reward_term(terms: dict[str, RewardFn], fn: _Term, name: str = "") -> _Term:
    """Register ``fn`` in a task's ``terms`` (its ``reward_terms``) under ``name`` (default:
    the function's name), the key of its weight in the task's YAML ``rewards``."""
    name = name or fn.__name__
    if name in terms:
        raise ValueError(f"reward term {name!r} is registered twice "
                         f"({terms[name].__qualname__} and {fn.__qualname__})")
    terms[name] = fn
    return fn


NON_FINITE_ACTION = ("action contains NaN or inf; the env refuses it (on the robot the safety "
                     "chain holds the last safe command instead)")


class RobotEnv(gym.Env[Any, np.ndarray]):
    """Base MuJoCo robot task. Subclasses set ``scene`` / ``objects`` and implement hooks.

    Action: float32 (n_joints,) in [-action_clip, action_clip]; joint targets [rad] as the
    task's ``action_type`` says: ``q0 + action_scale * action`` (``joint_pos_offset``) or
    the previous target moved by ``action_scale * action`` (``joint_pos_delta``).
    Observation: float32 (obs_dim,) from `ObsBuilder`, or a Dict with key ``state`` and one
    uint8 (H, W, 3) image per configured camera when ``images.cameras`` is set.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012
    reward_terms: ClassVar[dict[str, RewardFn]] = {}
    objects: ClassVar[tuple[str, ...]] = ()
    # True: the task's hooks and reward terms are written for batches of envs (``batch_*``
    # static methods, terms that take a `StepBatch` and return (K,) arrays); see batch.py
    batched: ClassVar[bool] = False
    # the robot class the task runs on ("" = any robot); `check_robot` says what it needs
    robot_class: ClassVar[str] = ""

    @classmethod
    def check_robot(cls, spec: RobotSpec) -> list[str]:
        """What ``spec`` lacks for this task's robot class ([] = it fits)."""
        return []

    def __init__(self, cfg: TaskConfig, render_mode: Literal["rgb_array"] | None = None,
                 render_size: tuple[int, int] = (480, 640), render_camera: str = "") -> None:
        resolve_limits(cfg)
        cfg.validate()
        unknown = set(cfg.rewards) - set(self.reward_terms)
        if unknown:
            raise ValueError(f"unknown reward term(s) {sorted(unknown)}; known terms for "
                             f"{type(self).__name__}: {', '.join(sorted(self.reward_terms))}")
        self.cfg = cfg
        self.robot_spec = get_robot(cfg.robot)
        lacks = self.check_robot(self.robot_spec)
        if lacks:
            raise ValueError(f"robot '{cfg.robot}' cannot run {type(self).__name__} (a task "
                             f"for {self.robot_class} robots): it {'; it '.join(lacks)}")
        self.model = mujoco.MjModel.from_xml_path(str(self.scene_path()))
        self.model.opt.timestep = self.robot_spec.physics_dt
        self.data = mujoco.MjData(self.model)
        self.robot = MjRobot(self.robot_spec, self.model, self.data, objects=self.objects)
        self.pd = JointPDController(self.robot_spec.kp, self.robot_spec.kd, self.robot_spec.tau_max)
        floating = self.robot_spec.floating_base
        self.dr = DomainRandomizer(cfg.domain_rand, self.model,
                                   self.robot.base_id if floating else -1,
                                   self.robot_spec.n_joints,
                                   robot_bodies(self.model, self.robot_spec))
        if cfg.domain_rand.pushes and not floating:
            raise ValueError(f"domain_rand pushes need a floating base; {cfg.robot} is fixed")
        self.external_force = np.zeros(3)  # world-frame force on the base [N] (set_external_force)
        self.obs_builder = ObsBuilder(self.robot_spec, cfg.obs)
        self.decimation = self.robot_spec.decimation
        self.dt = self.robot_spec.policy_dt
        self.action_scale = (self.robot_spec.action_scale if cfg.action_scale is None
                             else cfg.action_scale)
        spec = self.robot_spec  # (the nominal gains: those the commands carry on the robot)
        self._bounds = delta_bounds(spec.q_min, spec.q_max, spec.kp, spec.kd, spec.tau_max,
                                    cfg.safety_limits)
        self.max_episode_steps = int(round(cfg.episode_s / self.dt))
        n = self.robot_spec.n_joints
        clip = cfg.action_clip
        self.action_space = gym.spaces.Box(-clip, clip, (n,), np.float32)
        state_space = gym.spaces.Box(-cfg.obs.clip, cfg.obs.clip, (self.obs_builder.dim,),
                                     np.float32)
        self._cameras = cfg.images.cameras
        if self._cameras:
            spaces: dict[str, gym.spaces.Space[Any]] = {"state": state_space}
            for cam in self._cameras:
                if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, cam) < 0:
                    raise ValueError(f"images.cameras: robot {self.robot_spec.name} has no camera "
                                     f"'{cam}'; cameras: {', '.join(self.robot_spec.cameras)}")
                spaces[cam] = gym.spaces.Box(0, 255, (cfg.images.height, cfg.images.width, 3),
                                             np.uint8)
            self.observation_space: gym.spaces.Space[Any] = gym.spaces.Dict(spaces)
        else:
            self.observation_space = state_space
        self._weights = {k: v * self.dt for k, v in cfg.rewards.items() if v != 0.0}
        self._term_fns = [(k, self.reward_terms[k], w) for k, w in self._weights.items()]
        self.render_mode = render_mode
        self._render_size = render_size
        cams = self.robot_spec.cameras
        preferred: list[str] = [c for c in ("scene", "track") if c in cams]
        self._render_camera = render_camera or (preferred or [*cams, ""])[0]
        self._renderer: mujoco.Renderer | None = None
        self._obs_renderer: mujoco.Renderer | None = None
        self._tau = np.zeros(n)
        self.q_target = self.robot_spec.q0.copy()
        self._prev_target = self.robot_spec.q0.copy()
        # the decoded target before the limits (what a joint_pos_delta action moves; the
        # policy runtime's own on the robot): the measured joint positions after a reset
        self.action_target = self.robot_spec.q0.copy()
        self._push_every = (max(1, int(round(cfg.domain_rand.push_interval_s / self.dt)))
                            if cfg.domain_rand.pushes else 0)
        self.action = np.zeros(n)
        self.last_action = np.zeros(n)
        self.command = np.zeros(0)
        self._state: RobotState | None = None
        self._state_row: tuple[RobotState, int] | None = None  # (batch state, row) not yet read
        self.step_count = 0
        self._sums = np.zeros(len(self._term_fns) + 1)  # per term, then the total
        self._terms_row = np.zeros(len(self._term_fns))
        self._limited_steps = 0  # policy steps whose target a limit stage moved
        # smoothness, over the episode: summed mean |a_t - a_t-1| (executed actions, from
        # the second step) and steps ending with a joint at 99.9 % of its torque limit
        self._rate_sum, self._at_limit_steps = 0.0, 0
        self._limit_moved = 0.0  # this step's: how far [rad^2] (reward terms may read it)
        self._dr_epoch = 0  # counts episodes: a step batch re-reads the DR draws when it moves
        self._solo: StepBatch | None = None

    # -- hooks for tasks -------------------------------------------------------------------
    def scene_path(self) -> Path:
        return self.robot_spec.mjcf

    def _reset_task(self) -> None:
        """Place the robot / objects / terrain and sample the command (data is reset)."""

    def _pre_physics(self) -> None:
        """Once per policy step before the physics substeps (e.g. pushes)."""

    def _compute(self, state: RobotState) -> None:
        """Once per policy step after the state is read: derived quantities used by the
        reward terms and the termination test (contacts, heights, success flags)."""

    def _post_physics(self, state: RobotState) -> None:
        """Once per policy step after rewards (e.g. command resampling); ``self.command``
        as left here is what the observation of this step shows."""

    def _terminated(self, state: RobotState) -> bool:
        return False

    def _truncated(self, state: RobotState) -> bool:
        return self.step_count >= self.max_episode_steps

    def _episode_info(self) -> dict[str, Any]:
        """Task metrics reported at episode end (e.g. success)."""
        return {}

    # -- the same hooks for a batch of envs (robot_rl/envs/batch.py) --------------------------
    # A task that sets ``batched = True`` overrides these with array code over the batch's
    # (K, ...) quantities; the defaults call the per-env hooks above, env by env.
    @staticmethod
    def batch_compute(b: StepBatch) -> None:
        for e in b.envs:
            e._compute(e.state)  # type: ignore[arg-type]

    @staticmethod
    def batch_terminated(b: StepBatch) -> np.ndarray:
        return np.array([bool(e._terminated(e.state)) for e in b.envs])  # type: ignore[arg-type]

    @staticmethod
    def batch_post_physics(b: StepBatch) -> None:
        for e in b.envs:
            e._post_physics(e.state)  # type: ignore[arg-type]

    @staticmethod
    def batch_truncated(b: StepBatch) -> np.ndarray:
        return np.array([bool(e._truncated(e.state)) for e in b.envs])  # type: ignore[arg-type]

    @property
    def state(self) -> RobotState | None:
        """The state of the last step or reset (None before the first reset). After a step
        of a batched task it is made from the batch's arrays when first asked for."""
        if self._state_row is not None:
            st, i = self._state_row
            self._state_row = None
            self._state = RobotState(
                t=float(st.t[i]), q=st.q[i], dq=st.dq[i],  # type: ignore[index]
                tau=None if st.tau is None else st.tau[i], imu_quat=st.imu_quat[i],
                imu_gyro=st.imu_gyro[i], imu_acc=st.imu_acc[i], command=st.command[i],
                base_lin_vel=None if st.base_lin_vel is None else st.base_lin_vel[i],
                base_pos=None if st.base_pos is None else st.base_pos[i],
                contacts=None if st.contacts is None else st.contacts[i])
        return self._state

    @state.setter
    def state(self, value: RobotState | None) -> None:
        self._state, self._state_row = value, None

    @property
    def episode_sums(self) -> dict[str, float]:
        """This episode's sum of each weighted reward term and ``total``."""
        names = [name for name, _, _ in self._term_fns]
        return dict(zip([*names, "total"], self._sums.tolist()))

    @property
    def last_terms(self) -> dict[str, float]:
        """The weighted reward terms of the last step."""
        return dict(zip([name for name, _, _ in self._term_fns], self._terms_row.tolist()))

    def _solo_batch(self) -> StepBatch:
        """This env alone as a batch of one: how `step` runs."""
        if self._solo is None:
            self._solo = StepBatch([self])
        return self._solo

    # -- Gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self.step_count = 0
        self._limited_steps, self._limit_moved = 0, 0.0
        self._rate_sum, self._at_limit_steps = 0.0, 0
        n = self.robot_spec.n_joints
        self.action, self.last_action = np.zeros(n), np.zeros(n)
        self.q_target = self.robot_spec.q0.copy()
        self._prev_target = self.robot_spec.q0.copy()
        self.dr.sample(self.np_random)
        if self.dr.scales_gains:
            self.pd.kp[:] = self.robot_spec.kp * self.dr.kp_scale
            self.pd.kd[:] = self.robot_spec.kd * self.dr.kd_scale
        self._dr_epoch += 1
        self.set_external_force(None)
        self._sums = np.zeros(len(self._term_fns) + 1)
        self._terms_row = np.zeros(len(self._term_fns))
        self._reset_task()
        mujoco.mj_forward(self.model, self.data)
        self.action_target = self.robot.q.copy()
        if self.cfg.action_type == "joint_pos_delta":  # the first action moves the pose the
            # robot is in (the limits' rate box too: the chain holds it before activation)
            self.q_target = self.action_target.copy()
            self._prev_target = self.action_target.copy()
        return self._solo_batch().observe_reset(), {}

    def _read_state(self) -> RobotState:
        st = self.robot.read_state(self.command)
        if self.cfg.domain_rand.gyro_bias > 0 and st.imu_gyro is not None:
            st.imu_gyro = st.imu_gyro + self.dr.gyro_bias
        return st

    def set_external_force(self, force: np.ndarray | None) -> None:
        """Apply a constant world-frame force [N] (3,) to the base from the next step on, until
        changed or the episode ends (None: remove it). Disturbers and evaluations use it."""
        self.external_force[:] = 0.0 if force is None else force
        self.data.xfrc_applied[self.robot.base_id, :3] = self.external_force

    def push(self, dv_xy: np.ndarray) -> None:
        """Change the floating base's horizontal velocity by ``dv_xy`` [m/s] (world frame)."""
        if not self.robot_spec.floating_base:
            raise ValueError(f"push needs a floating base; {self.robot_spec.name} is fixed")
        self.data.qvel[0:2] += dv_xy

    def decode_action(self, action: np.ndarray, last: np.ndarray, q: np.ndarray,
                      dq: np.ndarray) -> np.ndarray:
        """Joint position targets [rad] for a (clipped) action (n,) or batch of them (K, n);
        ``last``: the previous decoded targets, ``q``, ``dq``: the measured joint state, of
        the same shape."""
        return decode_action(self.cfg.action_type, action, self.robot_spec.q0,
                             self.action_scale, float("inf"), q, last=last, bounds=self._bounds,
                             dq=dq)

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """One policy step (`robot_rl.envs.batch.StepBatch`, this env as a batch of one)."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action has shape {a.shape}, expected {self.action_space.shape}")
        if not np.isfinite(a).all():
            raise ValueError(NON_FINITE_ACTION)
        obs, reward, terminated, truncated, infos = self._solo_batch().step(a[None])
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), infos[0]

    def _observe(self, state: RobotState) -> Any:
        rng = self.np_random if self.cfg.obs_noise else None
        obs = self.obs_builder.build(state, self.action, rng=rng, last_target=self.action_target)
        if not self._cameras:
            return obs
        if self._obs_renderer is None:
            self._obs_renderer = mujoco.Renderer(self.model, self.cfg.images.height,
                                                 self.cfg.images.width)
        out: dict[str, np.ndarray] = {"state": obs}
        for cam in self._cameras:
            self._obs_renderer.update_scene(self.data, camera=cam)
            out[cam] = self._obs_renderer.render().copy()
        return out

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            h, w = self._render_size
            self.model.vis.global_.offwidth = max(self.model.vis.global_.offwidth, w)
            self.model.vis.global_.offheight = max(self.model.vis.global_.offheight, h)
            self._renderer = mujoco.Renderer(self.model, h, w)
        cam = self._render_camera if self._render_camera else -1
        self._renderer.update_scene(self.data, camera=cam)
        return self._renderer.render()

    def close(self) -> None:
        for r in (self._renderer, self._obs_renderer):
            if r is not None:
                r.close()
        self._renderer = self._obs_renderer = None
