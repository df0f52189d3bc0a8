"""quad12-walk specifics: standing, fall termination, reward terms, commands, rough terrain."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.envs import make_env
from robot_rl.envs.quad12_walk import Quad12WalkEnv

STILL = {"commands": {"lin_vel_x": [0.0, 0.0], "lin_vel_y": [0.0, 0.0],
                      "ang_vel_yaw": [0.0, 0.0]}, "obs_noise": False}


def _env(**overrides: object) -> Quad12WalkEnv:
    env = make_env("quad12-walk", overrides={**STILL, **overrides})
    assert isinstance(env, Quad12WalkEnv)
    return env


def test_zero_action_stands_for_10_s_without_falling() -> None:
    env = _env()
    env.reset(seed=0)
    zero = np.zeros(12, dtype=np.float32)
    for _ in range(500):
        _, _, term, _, _ = env.step(zero)
        assert not term
    assert 0.24 < env.base_height < 0.30
    assert env.gravity_b[2] < -0.99
    assert env.state is not None and env.state.contacts is not None
    assert env.state.contacts.all()


def test_upside_down_is_a_fall() -> None:
    env = _env()
    env.reset(seed=0)
    env.data.qpos[3:7] = [0.0, 1.0, 0.0, 0.0]  # rolled by pi
    env.data.qpos[2] = 0.5
    _, _, term, trunc, info = env.step(np.zeros(12, dtype=np.float32))
    assert term and not trunc
    assert info["episode"]["fell"] is True


def test_low_base_is_a_fall_and_termination_penalty_counts() -> None:
    env = _env(rewards={"termination": -5.0})
    env.reset(seed=0)
    env.data.qpos[2] = 0.05  # below min_base_height (0.15)
    _, _, term, _, info = env.step(np.zeros(12, dtype=np.float32))
    assert term
    assert info["episode"]["rew_termination"] == pytest.approx(-5.0 * env.dt)


def test_perfect_velocity_tracking_earns_full_tracking_reward() -> None:
    env = _env(rewards={"tracking_lin_vel": 1.0, "tracking_ang_vel": 0.5})
    env.reset(seed=0)
    env.step(np.zeros(12, dtype=np.float32))
    st = env.state
    assert st is not None and st.base_lin_vel is not None
    # command = measured velocity → exp(0) = 1, times scale and dt
    env.command = np.array([st.base_lin_vel[0], st.base_lin_vel[1], st.imu_gyro[2]])
    from robot_rl.envs.quad12_walk import WALK_REWARDS

    assert WALK_REWARDS["tracking_lin_vel"](env, st, env.action) == pytest.approx(1.0)
    assert WALK_REWARDS["tracking_ang_vel"](env, st, env.action) == pytest.approx(1.0)
    env.command = np.array([st.base_lin_vel[0] + 0.5, st.base_lin_vel[1], st.imu_gyro[2]])
    # exp(-0.25 / 0.25) = e^-1
    assert WALK_REWARDS["tracking_lin_vel"](env, st, env.action) == pytest.approx(np.exp(-1.0))


def test_feet_air_time_rewards_touchdown_after_long_swing() -> None:
    from robot_rl.envs.quad12_walk import WALK_REWARDS, advance_air_time

    env = _env()
    env.reset(seed=0)
    env.command = np.array([0.5, 0.0, 0.0])
    st = env.state
    assert st is not None
    last, air = np.array([True, True, True, True]), np.zeros(4)
    # FR foot in the air for 35 steps (0.7 s), then lands
    for _ in range(35):
        contacts = np.array([False, True, True, True])
        air, first, _ = advance_air_time(air, last, contacts, env.dt)
        last = contacts
        assert not first.any()
    air, first, at_touchdown = advance_air_time(air, last, np.ones(4, dtype=bool),
                                                env.dt)
    assert first.tolist() == [True, False, False, False]
    assert air.tolist() == [0.0] * 4 and at_touchdown[1:].tolist() == [0.0] * 3
    env.first_contact, env.air_time_at_touchdown = first, at_touchdown
    # air time at touchdown = 36 * dt = 0.72 s → reward 0.72 - 0.5
    assert WALK_REWARDS["feet_air_time"](env, st, env.action) == pytest.approx(0.72 - 0.5)
    env.command = np.zeros(3)  # standing command: no air-time reward
    assert WALK_REWARDS["feet_air_time"](env, st, env.action) == 0.0


def test_commands_are_sampled_in_range_and_resampled() -> None:
    env = make_env("quad12-walk", overrides={"commands": {"resample_s": 0.1}})
    assert isinstance(env, Quad12WalkEnv)
    env.reset(seed=0)
    seen = set()
    for _ in range(25):
        env.step(np.zeros(12, dtype=np.float32))
        c = env.command
        assert -1.0 <= c[0] <= 1.0 and -0.5 <= c[1] <= 0.5 and -1.0 <= c[2] <= 1.0
        seen.add(tuple(np.round(c, 6)))
        if env.state is not None:  # the observation's command is the current one
            np.testing.assert_array_equal(env.state.command, env.command)
    assert len(seen) >= 4


def test_rough_terrain_is_random_per_reset_flat_at_spawn_and_seeded() -> None:
    env = make_env("quad12-walk-rough")
    assert isinstance(env, Quad12WalkEnv) and env.terrain is not None
    env.reset(seed=0)
    h1 = env.terrain.heights.copy()
    env.reset()
    h2 = env.terrain.heights.copy()
    assert h1.max() - h1.min() > 0.03, "rough terrain has no relief"
    assert not np.array_equal(h1, h2), "terrain not regenerated at reset"
    env.reset(seed=0)
    np.testing.assert_array_equal(env.terrain.heights, h1)
    # flat patch under the robot, and the feet start above the ground there
    ground = env.terrain.height_at(0.0, 0.0)
    for dx, dy in [(0.3, 0.0), (-0.3, 0.0), (0.0, 0.3), (0.0, -0.3)]:
        assert env.terrain.height_at(dx, dy) == pytest.approx(ground)
    assert env.base_height > 0.25
    # the MuJoCo height field holds the same elevations (normalised by the z size)
    hf = env.terrain
    np.testing.assert_allclose(hf._view.reshape(hf.nrow, hf.ncol) * hf.size[2], h1)


def test_unknown_reward_term_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reward term.*'trackin'"):
        make_env("quad12-walk", overrides={"rewards": {"trackin": 1.0}})
