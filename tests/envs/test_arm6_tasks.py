"""arm6 tasks: success conditions, sparse vs shaped rewards, image observations."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from robot_rl.envs import make_env
from robot_rl.envs.arm6_tasks import PARKED, ArmTaskEnv


def _env(task: str, **overrides: object) -> ArmTaskEnv:
    env = make_env(task, overrides={"obs_noise": False, **overrides})
    assert isinstance(env, ArmTaskEnv)
    return env


def test_reach_success_when_ee_at_goal() -> None:
    env = _env("arm6-reach")
    env.reset(seed=0)
    ee = env.data.site_xpos[env.robot.ee_site_id].copy()
    env.goal = ee.copy()
    env.command = ee.copy()
    env._compute(env.robot.read_state(env.command))
    assert env.is_success
    env.goal = ee + np.array([0.0, 0.0, 0.05])
    env._compute(env.robot.read_state(env.command))
    assert not env.is_success


def test_reach_goal_is_in_configured_box_and_in_obs() -> None:
    env = _env("arm6-reach")
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        assert np.all(env.goal >= np.array(env.cfg.goal_low))
        assert np.all(env.goal <= np.array(env.cfg.goal_high))
        layout = env.obs_builder.layout()
        i = [t["name"] for t in layout].index("goal_rel")
        start = sum(t["dim"] for t in layout[:i])
        ee = env.state.ee_pos if env.state is not None else None
        assert ee is not None
        np.testing.assert_allclose(obs[start:start + 3], env.goal - ee, atol=1e-6)


def test_lift_success_and_reward_when_cube_raised() -> None:
    env = _env("arm6-lift")
    env.reset(seed=0)
    adr = env._obj_qpos["cube"]
    env.data.qpos[adr + 2] = env.rest_height + 0.06
    mujoco.mj_forward(env.model, env.data)
    env._compute(env.robot.read_state(env.command))
    assert env.is_success
    from robot_rl.envs.arm6_tasks import _r_lift

    assert _r_lift(env, env.state, env.action) == pytest.approx(1.0)  # type: ignore[arg-type]


def test_unused_objects_are_parked() -> None:
    env = _env("arm6-lift")
    env.reset(seed=0)
    adr = env._obj_qpos["peg"]
    np.testing.assert_allclose(env.data.qpos[adr:adr + 3], PARKED["peg"])
    cube = env.data.qpos[env._obj_qpos["cube"]: env._obj_qpos["cube"] + 2]
    assert env.cfg.object_x[0] <= cube[0] <= env.cfg.object_x[1]


def test_insert_success_when_peg_dropped_in_hole() -> None:
    env = _env("arm6-insert")
    env.reset(seed=0)
    adr = env._obj_qpos["peg"]
    env.data.qpos[adr:adr + 7] = [*env.hole_top[:2], env.hole_top[2] + 0.04, 1, 0, 0, 0]
    zero = np.zeros(6, dtype=np.float32)
    info: dict[str, object] = {}
    for _ in range(50):
        _, _, _, _, info = env.step(zero)
    assert env.is_success
    env.max_episode_steps = env.step_count + 1
    _, _, _, trunc, info = env.step(zero)
    assert trunc and info["episode"]["success"] is True  # type: ignore[index]


def test_insert_sparse_mode_drops_shaped_terms() -> None:
    shaped = _env("arm6-insert")
    sparse = _env("arm6-insert", shaped=False)
    assert {"reach_object", "align", "insert", "lift"} <= {t[0] for t in shaped._term_fns}
    assert {t[0] for t in sparse._term_fns} == {"success", "action_rate", "joint_vel"}


def test_image_observations() -> None:
    env = _env("arm6-lift", images={"cameras": ["wrist", "scene"], "height": 48, "width": 64})
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"state", "wrist", "scene"}
    assert env.observation_space.contains(obs)
    for cam in ("wrist", "scene"):
        img = obs[cam]
        assert img.shape == (48, 64, 3) and img.dtype == np.uint8
        assert img.std() > 5.0, f"{cam} image is blank"
    obs2, *_ = env.step(np.full(6, 0.5, dtype=np.float32))
    assert not np.array_equal(obs2["wrist"], obs["wrist"]), "wrist camera does not move"
    env.close()


def test_unknown_camera_is_refused() -> None:
    with pytest.raises(ValueError, match="no camera 'top'"):
        _env("arm6-lift", images={"cameras": ["top"]})
