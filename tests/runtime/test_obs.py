"""The shared observation builder: hand-worked values, scaling, noise, clipping, errors."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.robots import get_robot
from robot_rl.runtime.obs import ObsBuilder, ObsConfig, ObsError
from robot_rl.types import RobotState

QUAD = get_robot("quad12")
ARM = get_robot("arm6")


def _quad_state() -> RobotState:
    q = QUAD.q0 + 0.1
    dq = np.arange(12, dtype=np.float64)
    # rotated by +30 deg about x (roll): gravity in body frame = (0, -sin30, -cos30)
    half = np.deg2rad(30) / 2
    quat = np.array([np.cos(half), np.sin(half), 0.0, 0.0])
    return RobotState(t=0.0, q=q, dq=dq, imu_quat=quat, imu_gyro=np.array([1.0, 2.0, 3.0]),
                      base_lin_vel=np.array([0.5, 0.0, 0.0]), command=np.array([1.0, 0.0, 0.2]))


def test_hand_worked_quadruped_observation() -> None:
    cfg = ObsConfig(terms=("base_ang_vel", "projected_gravity", "velocity_command", "joint_pos",
                           "joint_vel", "last_action"),
                    scales={"base_ang_vel": 0.25, "joint_vel": 0.05})
    b = ObsBuilder(QUAD, cfg)
    assert b.dim == 3 + 3 + 3 + 12 + 12 + 12
    last = np.linspace(-1, 1, 12)
    obs = b.build(_quad_state(), last)
    assert obs.dtype == np.float32
    np.testing.assert_allclose(obs[0:3], [0.25, 0.5, 0.75])
    np.testing.assert_allclose(obs[3:6], [0.0, -0.5, -np.sqrt(3) / 2], atol=1e-6)
    np.testing.assert_allclose(obs[6:9], [1.0, 0.0, 0.2])
    np.testing.assert_allclose(obs[9:21], np.full(12, 0.1), atol=1e-6)
    np.testing.assert_allclose(obs[21:33], np.arange(12) * 0.05, atol=1e-6)
    np.testing.assert_allclose(obs[33:45], last, atol=1e-6)
    assert [t["name"] for t in b.layout()] == list(cfg.terms)
    assert sum(t["dim"] for t in b.layout()) == b.dim


def test_clip_and_noise_only_with_rng() -> None:
    cfg = ObsConfig(terms=("joint_vel",), noise={"joint_vel": 0.5}, clip=5.0)
    b = ObsBuilder(QUAD, cfg)
    st = _quad_state()
    clean = b.build(st)
    np.testing.assert_allclose(clean, np.minimum(np.arange(12), 5.0))
    noisy = b.build(st, rng=np.random.default_rng(0))
    assert not np.array_equal(clean, noisy)
    assert np.all(np.abs(noisy) <= 5.0)
    again = b.build(st, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(noisy, again)


def test_arm_object_terms() -> None:
    cfg = ObsConfig(terms=("ee_pos", "object_pos:cube", "object_rel:cube", "goal_rel"))
    b = ObsBuilder(ARM, cfg)
    st = RobotState(t=0.0, q=ARM.q0.copy(), dq=np.zeros(6), ee_pos=np.array([0.2, 0.0, 0.1]),
                    objects={"cube": np.array([0.25, 0.05, 0.015, 1, 0, 0, 0])},
                    command=np.array([0.3, 0.1, 0.2]))
    obs = b.build(st)
    np.testing.assert_allclose(obs, [0.2, 0, 0.1, 0.25, 0.05, 0.015, 0.05, 0.05, -0.085,
                                     0.1, 0.1, 0.1], atol=1e-6)


def test_missing_state_fields_give_clear_errors() -> None:
    st = RobotState(t=0.0, q=QUAD.q0.copy(), dq=np.zeros(12))
    with pytest.raises(ObsError, match="base_lin_vel.*needs a base linear velocity estimate"):
        ObsBuilder(QUAD, ObsConfig(terms=("base_lin_vel",))).build(st)
    with pytest.raises(ObsError, match="needs a command of 3 values, got 0"):
        ObsBuilder(QUAD, ObsConfig(terms=("velocity_command",))).build(st)
    with pytest.raises(ObsError, match="object 'peg'"):
        ObsBuilder(ARM, ObsConfig(terms=("object_pos:peg",))).build(
            RobotState(t=0.0, q=ARM.q0.copy(), dq=np.zeros(6)))


def test_bad_obs_config_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown term 'jiont_pos'"):
        ObsBuilder(QUAD, ObsConfig(terms=("jiont_pos",)))
    with pytest.raises(ValueError, match="not in obs.terms"):
        ObsBuilder(QUAD, ObsConfig(terms=("joint_pos",), scales={"joint_vel": 0.1}))
    with pytest.raises(ValueError, match="obs.terms is empty"):
        ObsBuilder(QUAD, ObsConfig(terms=()))
