"""`robot_rl.envs.batch.StepBatch`: K envs stepped as one batch follow exactly the trajectories
they follow alone (vector-env workers batch their envs; a single env is a batch of one)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from robot_rl.control.pd import JointPDController
from robot_rl.envs import EnvFactory, make_env
from robot_rl.envs.batch import StepBatch
from robot_rl.envs.disturbance import DisturbedEnvFactory
from robot_rl.envs.vector import SubprocVectorEnv
from robot_rl.geometry import projected_gravity
from robot_rl.robots import get_robot
from robot_rl.runtime.obs import ObsBuilder, ObsConfig
from robot_rl.types import RobotState


def _rollout(venv: Any, actions: np.ndarray) -> list[Any]:
    out: list[Any] = [venv.reset(seed=11)]
    out += [venv.step(a) for a in actions]
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["walk", "rough", "disturbed", "arm"])
def test_batched_workers_match_single_envs_bit_for_bit(kind: str) -> None:
    """Observations, rewards, terminations, time-outs (and the disturber's scalars) of a
    vector env whose workers step their envs as batches equal those of the same envs stepped
    one by one, over episodes that end and auto-reset."""
    n, steps = 5, 120
    factory: Any = {"walk": EnvFactory("quad12-walk"), "rough": EnvFactory("quad12-walk-rough"),
                    "disturbed": DisturbedEnvFactory("quad12-walk"),
                    "arm": EnvFactory("arm6-reach")}[kind]
    act_dim = 15 if kind == "disturbed" else (6 if kind == "arm" else 12)
    actions = np.random.default_rng(1).uniform(-4, 4, (steps, n, act_dim)).astype(np.float32)
    if kind == "disturbed":
        actions[..., 12:] *= 30.0  # N
    sync = SyncVectorEnv([functools.partial(factory, i) for i in range(n)],
                         autoreset_mode=AutoresetMode.SAME_STEP)
    if kind == "disturbed":
        sync.set_attr("force_bound", 40.0)
    ref = _rollout(sync, actions)
    ref_scalars = []
    for a in actions[:20]:  # the disturber's scalars, env by env
        sync.step(a)
        if kind == "disturbed":
            ref_scalars.append(np.array(sync.get_attr("step_scalars")))
    sync.close()
    if kind != "arm":
        assert sum(int(r[2].sum()) for r in ref[1:]) >= 3  # falls: episodes end and reset
    for workers in (0, 2):
        with SubprocVectorEnv(factory, n, workers, scalars=2 if kind == "disturbed" else 0) as v:
            if workers == 0:
                assert v._local is not None and v._local.batch is not None
            if kind == "disturbed":
                v.set_attr("force_bound", 40.0)
            got = _rollout(v, actions)
            scalars = []
            for a in actions[:20]:
                v.step(a)
                if kind == "disturbed":
                    scalars.append(v.last_scalars)
        for r, g in zip(ref[1:], got[1:]):
            for x, y in zip(r[:4], g[:4]):
                np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(ref[0][0], got[0][0])
        for x, y in zip(ref_scalars, scalars):
            np.testing.assert_array_equal(x, y)


def test_batch_refuses_mixed_tasks_and_a_worker_then_steps_env_by_env() -> None:
    walk, rough = make_env("quad12-walk"), make_env("quad12-walk-rough")
    with pytest.raises(ValueError, match="one task and config"):
        StepBatch([walk, rough])
    mixed = functools.partial(_mixed_env)
    with SubprocVectorEnv(mixed, 2, 0) as v:
        assert v._local is not None and v._local.batch is None
        v.reset(seed=0)
        obs, rew, *_ = v.step(np.zeros((2, 12), np.float32))
        assert obs.shape == (2, 45) and np.isfinite(rew).all()


def _mixed_env(index: int) -> Any:
    return make_env("quad12-walk" if index == 0 else "quad12-walk-rough")


def test_non_finite_action_in_a_batch_names_the_env() -> None:
    with SubprocVectorEnv(EnvFactory("quad12-walk"), 4, 2) as v:
        v.reset(seed=0)
        a = np.zeros((4, 12), np.float32)
        a[3, 5] = np.nan
        with pytest.raises(RuntimeError, match=r"raised in env 3: ValueError: action contains"):
            v.step(a)


def test_build_batch_rows_equal_build_of_each_state() -> None:
    spec = get_robot("quad12")
    cfg = ObsConfig(terms=("base_ang_vel", "projected_gravity", "velocity_command", "joint_pos",
                           "joint_vel", "last_action", "foot_contacts"),
                    scales={"joint_vel": 0.05}, noise={"joint_vel": 1.5, "base_ang_vel": 0.2})
    b = ObsBuilder(spec, cfg)
    rng = np.random.default_rng(0)
    k = 7
    quat = rng.normal(size=(k, 4))
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    st = RobotState(t=np.zeros(k), q=rng.normal(size=(k, 12)),  # type: ignore[arg-type]
                    dq=rng.normal(size=(k, 12)), imu_quat=quat, imu_gyro=rng.normal(size=(k, 3)),
                    command=rng.normal(size=(k, 3)), contacts=rng.random((k, 4)) > 0.5)
    last = rng.normal(size=(k, 12))
    batch = b.build_batch(st, last, [np.random.default_rng(i) for i in range(k)])
    assert batch.shape == (k, b.dim) and batch.dtype == np.float32
    for i in range(k):
        one = RobotState(t=0.0, q=st.q[i], dq=st.dq[i], imu_quat=quat[i],
                         imu_gyro=st.imu_gyro[i], command=st.command[i],
                         contacts=st.contacts[i])  # type: ignore[index]
        np.testing.assert_array_equal(batch[i], b.build(one, last[i], np.random.default_rng(i)))
    # projected gravity: the batch forms (few rows, many rows) equal the single one
    for rows in (1, 3, 9):
        g = projected_gravity(np.tile(quat, (2, 1))[:rows])
        assert g.shape == (rows, 3)
        for i in range(rows):
            np.testing.assert_array_equal(g[i], projected_gravity(quat[i % k]))


def test_batched_pd_rows_equal_single_controllers() -> None:
    rng = np.random.default_rng(2)
    k, n = 5, 12
    kp, kd, lim = rng.uniform(5, 30, (k, n)), rng.uniform(0.1, 1, (k, n)), np.full((k, n), 20.0)
    pd = JointPDController(kp, kd, lim)
    target, q, dq = rng.normal(size=(3, k, n)) * 2
    tau = pd.torque(target, q, dq)
    assert np.abs(tau).max() == 20.0  # some rows saturate
    for i in range(k):
        one = JointPDController(kp[i], kd[i], lim[i]).torque(target[i], q[i], dq[i])
        np.testing.assert_array_equal(tau[i], one)
    with pytest.raises(ValueError, match=r"shape \(n,\) \(or \(K, n\)"):
        JointPDController(kp, kd[0], lim)
