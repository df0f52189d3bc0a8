"""quad12-walk's reward terms: each against numbers worked out by hand, for one env and for a
batch of envs; and a new term added as one function plus one config line."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from robot_rl.envs import EnvFactory, load_task_config
from robot_rl.envs.batch import StepBatch
from robot_rl.envs.quad12_walk import WALK_REWARDS, Quad12WalkEnv, WalkConfig, walk_reward
from robot_rl.envs.registry import task_config_path
from robot_rl.types import RobotState

N = 12


def _hand_state(standing: bool) -> tuple[SimpleNamespace, RobotState, np.ndarray]:
    """One env's quantities, chosen so that every term is easy to work out by hand.

    quad12-walk.yaml: tracking_sigma 0.25, base_height_target 0.27, feet_air_time_target 0.5,
    commands.standing_below 0.1; dt 0.02 s. Joint limits here: soft limits ±1 rad, q0 = 0.
    """
    cfg = load_task_config("quad12-walk")
    assert isinstance(cfg, WalkConfig)
    q = np.zeros(N)
    q[2], q[5] = 1.1, -1.05  # 0.1 above the upper soft limit, 0.05 below the lower one
    dq = np.zeros(N)
    dq[7] = 0.2  # from rest: acceleration 0.2 / 0.02 = 10 rad/s²
    tau = np.zeros(N)
    tau[3], tau[4] = 3.0, 4.0  # 9 + 16 N²m²
    action, last_action = np.zeros(N), np.zeros(N)
    action[0], last_action[0] = 1.0, 0.5  # 0.25
    action[1] = -1.0  # + 1.0
    command = np.array([0.05, 0.05, 0.2]) if standing else np.array([0.5, 0.0, 0.2])
    env = SimpleNamespace(
        cfg=cfg, dt=0.02, robot_spec=SimpleNamespace(q0=np.zeros(N)), command=command,
        gravity_b=np.array([0.6, 0.0, -0.8]), base_height=0.17, _tau=tau, last_dq=np.zeros(N),
        last_action=last_action, soft_q_min=np.full(N, -1.0), soft_q_max=np.full(N, 1.0),
        n_body_contacts=2, fell=True,
        first_contact=np.array([True, False, True, False]),
        air_time_at_touchdown=np.array([0.7, 0.0, 0.6, 0.0]))
    st = RobotState(t=0.0, q=q, dq=dq, imu_quat=np.array([1.0, 0.0, 0.0, 0.0]),
                    imu_gyro=np.array([0.1, -0.2, 0.7]), command=command,
                    base_lin_vel=np.array([0.3, 0.1, -0.2]))
    return env, st, action


def _expected(standing: bool) -> dict[str, float]:
    return {
        # command (0.5, 0) or (0.05, 0.05) against velocity (0.3, 0.1)
        "tracking_lin_vel": math.exp(-(0.25**2 + 0.05**2 if standing else 0.2**2 + 0.1**2)
                                     / 0.25),
        "tracking_ang_vel": math.exp(-(0.2 - 0.7) ** 2 / 0.25),  # e^-1
        "lin_vel_z": 0.04,
        "ang_vel_xy": 0.01 + 0.04,
        "orientation": 0.36,  # gravity (0.6, 0, -0.8) in the base frame
        "base_height": 0.01,  # (0.17 - 0.27)²
        "torques": 25.0,
        "dof_acc": 100.0,
        "action_rate": 1.25,
        "dof_pos_limits": 0.15,
        "collision": 2.0,
        # moving: (0.7 - 0.5) + (0.6 - 0.5) over the two feet touching down; standing: 0
        "feet_air_time": 0.0 if standing else 0.3,
        # standing: Σ|q - q0| = 1.1 + 1.05; moving: 0
        "stand_still": 2.15 if standing else 0.0,
        "termination": 1.0,
    }


def test_every_term_is_tested_here() -> None:
    assert set(_expected(False)) == set(WALK_REWARDS)


@pytest.mark.parametrize("standing", [False, True])
def test_terms_of_one_env_equal_hand_worked_values(standing: bool) -> None:
    env, st, action = _hand_state(standing)
    for name, value in _expected(standing).items():
        assert float(WALK_REWARDS[name](env, st, action)) == pytest.approx(value, abs=1e-12), name


def test_terms_of_a_batch_equal_hand_worked_values_row_by_row() -> None:
    """The same functions on (K, ...) arrays (K = 3: moving, standing, moving): one call per
    term gives every env's value."""
    rows = [_hand_state(s) for s in (False, True, False)]
    env = SimpleNamespace(**vars(rows[0][0]))
    for key in ("command", "gravity_b", "base_height", "_tau", "last_dq", "last_action",
                "n_body_contacts", "fell", "first_contact", "air_time_at_touchdown"):
        setattr(env, key, np.array([getattr(r[0], key) for r in rows]))
    states = [r[1] for r in rows]
    st = RobotState(t=np.zeros(3), q=np.array([s.q for s in states]),  # type: ignore[arg-type]
                    dq=np.array([s.dq for s in states]),
                    imu_quat=np.array([s.imu_quat for s in states]),
                    imu_gyro=np.array([s.imu_gyro for s in states]), command=env.command,
                    base_lin_vel=np.array([s.base_lin_vel for s in states]))
    action = np.array([r[2] for r in rows])
    for name, fn in WALK_REWARDS.items():
        got = fn(env, st, action)
        assert np.shape(got) == (3,), name
        want = [_expected(s)[name] for s in (False, True, False)]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=name)


# -- a new term: one function and one config line -------------------------------------------
@pytest.fixture
def forward_speed() -> Iterator[Any]:
    """A new reward term, the base's forward velocity [m/s], registered for the test only."""

    @walk_reward
    def forward_speed(env: Any, st: RobotState, a: np.ndarray) -> Any:
        assert st.base_lin_vel is not None
        return st.base_lin_vel[..., 0]

    yield forward_speed
    del WALK_REWARDS["forward_speed"]


def _config_with(tmp_path: Path, line: str) -> Path:
    """quad12-walk.yaml with ``line`` added to its ``rewards:`` block (the file's last)."""
    path = tmp_path / "quad12-walk.yaml"
    shutil.copy(task_config_path("quad12-walk"), path)
    text = path.read_text()
    assert text.rstrip().splitlines()[-1].startswith("  ") and "\nrewards:\n" in text
    path.write_text(text.rstrip("\n") + "\n" + line + "\n")
    return path


def test_new_term_is_one_function_and_one_config_line(forward_speed: Any,
                                                      tmp_path: Path) -> None:
    """Three envs stepped as a batch and one alone, with the new term weighted 2.0 in the
    config, against the same envs without it: each env logs the term's weighted value
    (2.0 · dt · v_x) every step and its episode sum at the episode end, and its reward is
    the reward without the term plus that value."""
    weight, short = 2.0, {"episode_s": 0.3}  # 15 steps, then a time-out
    with_term = EnvFactory("quad12-walk", _config_with(tmp_path, f"  forward_speed: {weight}"),
                           short)
    without = EnvFactory("quad12-walk", overrides=short)
    assert "forward_speed" not in without.cfg.rewards

    def batches(factory: EnvFactory) -> list[tuple[list[Quad12WalkEnv], StepBatch]]:
        out = []
        for k in (3, 1):
            envs = [factory(i) for i in range(k)]
            for i, e in enumerate(envs):
                e.reset(seed=20 + i)
            out.append((envs, StepBatch(envs) if k > 1 else envs[0]._solo_batch()))
        return out  # type: ignore[return-value]

    new, old = batches(with_term), batches(without)
    actions = np.random.default_rng(0).uniform(-1, 1, (15, 3, N))
    sums = [np.zeros(3), np.zeros(1)]
    ended = 0
    for a in actions:
        for j, ((envs, b), (_, b_old)) in enumerate(zip(new, old)):
            k = len(envs)
            _, rew, term, trunc, infos = b.step(a[:k])
            _, rew_old, *_ = b_old.step(a[:k])
            for i, e in enumerate(envs):
                assert e.state is not None and e.state.base_lin_vel is not None
                logged = e.last_terms["forward_speed"]
                assert logged == weight * e.dt * e.state.base_lin_vel[0]
                assert rew[i] == pytest.approx(rew_old[i] + logged, abs=1e-12)
                assert rew[i] == pytest.approx(sum(e.last_terms.values()), abs=1e-12)
                sums[j][i] += logged
                if term[i] or trunc[i]:
                    ended += 1
                    episode = infos[i]["episode"]
                    assert episode["rew_forward_speed"] == pytest.approx(sums[j][i], abs=1e-12)
                    sums[j][i] = 0.0
                    e.reset()
    assert ended >= 4  # every env's episode ended (time-out at 15 steps, or a fall)


def test_a_term_registered_twice_is_refused(forward_speed: Any) -> None:
    with pytest.raises(ValueError, match="'forward_speed' is registered twice"):
        walk_reward(forward_speed)


def test_a_term_without_a_config_weight_is_off(forward_speed: Any) -> None:
    env = EnvFactory("quad12-walk")()
    env.reset(seed=0)
    env.step(np.zeros(N, np.float32))
    assert "forward_speed" not in env.last_terms
