"""`robot_rl.envs.vector.SubprocVectorEnv`, checked against Gymnasium's SAME_STEP SyncVectorEnv."""

from __future__ import annotations

import functools
import gc
import os
import signal
import time
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from robot_rl.envs.shared_arrays import array_specs, layout, views
from robot_rl.envs.vector import SubprocVectorEnv
from robot_rl.envs.worker_pool import split_envs


class RandomWalkEnv(gym.Env):
    """2-D point pushed by the action plus seeded noise; episodes end after a random length.

    Obs (float32 [4]): position (m), step count / 30, env index. Action (float32 [2]) in [-1, 1].
    Odd lengths terminate, even ones truncate. Info is non-empty only at episode ends.
    """

    def __init__(self, index: int = 0, fail_at: int | None = None, burn_us: float = 0.0,
                 image: bool = False) -> None:
        self.index, self.fail_at, self.burn_s, self.image = index, fail_at, burn_us * 1e-6, image
        box = spaces.Box(-100.0, 100.0, (4,), np.float32)
        self.observation_space = (
            spaces.Dict({"state": box, "image": spaces.Box(0, 255, (2, 3, 3), np.uint8)})
            if image else box)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.steps_total = 0
        self.tag = "walk"

    def _obs(self) -> Any:
        state = np.array([*self.pos, self.t / 30.0, self.index], dtype=np.float32)
        if not self.image:
            return state
        img = self.np_random.integers(0, 256, (2, 3, 3), dtype=np.uint8)
        return {"state": state, "image": img}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.pos = self.np_random.normal(size=2)
        self.t = 0
        self.length = int(self.np_random.integers(3, 12))
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        if self.burn_s:
            end = time.perf_counter() + self.burn_s
            while time.perf_counter() < end:
                pass
        self.steps_total += 1
        if self.fail_at is not None and self.steps_total >= self.fail_at:
            raise ValueError(f"boom in env {self.index} at step {self.steps_total}")
        self.pos = self.pos + 0.1 * np.asarray(action) + 0.05 * self.np_random.normal(size=2)
        self.t += 1
        reward = float(-np.linalg.norm(self.pos))
        done = self.t >= self.length
        info = {"episode_len": self.t, "dist": np.abs(self.pos)} if done else {}
        odd = self.length % 2 == 1
        return self._obs(), reward, done and odd, done and not odd, info

    def double(self, x: float) -> float:
        return 2 * x + self.index


def make_walk(index: int, **kwargs: Any) -> RandomWalkEnv:
    return RandomWalkEnv(index, **kwargs)


def make_fail_env3(index: int) -> RandomWalkEnv:
    return RandomWalkEnv(index, fail_at=5 if index == 3 else None)


def _actions(n: int, steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (steps, n, 2)).astype(np.float32)


def _assert_tree_equal(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (a, b)
        for k in a:
            _assert_tree_equal(a[k], b[k])
    elif isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_tree_equal(x, y)
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert isinstance(b, np.ndarray) and b.dtype == object and a.shape == b.shape
        for x, y in zip(a, b):
            _assert_tree_equal(x, y)
    elif a is None:
        assert b is None
    else:
        np.testing.assert_array_equal(a, b, strict=True)


def _procs(venv: SubprocVectorEnv) -> list[Any]:
    assert venv._pool is not None
    return venv._pool.procs


def _rollout(venv: gym.vector.VectorEnv, actions: np.ndarray, seed: int = 7) -> list[Any]:
    out: list[Any] = [venv.reset(seed=seed)]
    out += [venv.step(a) for a in actions]
    return out


def test_spaces_and_metadata() -> None:
    with SubprocVectorEnv(make_walk, 5, 2) as venv:
        assert venv.single_observation_space == spaces.Box(-100.0, 100.0, (4,), np.float32)
        assert venv.observation_space.shape == (5, 4)
        assert venv.action_space.shape == (5, 2) and venv.action_space.dtype == np.float32
        assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
        assert len(venv.worker_pids) == 2
        obs, _ = venv.reset(seed=0)
        assert obs.dtype == np.float32 and obs.shape == (5, 4)
        assert venv.observation_space.contains(obs)
        obs, rew, term, trunc, _ = venv.step(venv.action_space.sample())
        assert rew.dtype == np.float64 and term.dtype == np.bool_ and trunc.dtype == np.bool_
        np.testing.assert_array_equal(obs[:, 3], np.arange(5))  # env i holds index i


@pytest.mark.timeout(30)
@pytest.mark.parametrize("image", [False, True])
def test_matches_sync_vector_env_bit_for_bit(image: bool) -> None:
    """In-process, 2 and 3 workers and Gymnasium's SyncVectorEnv agree exactly over 200 steps."""
    n = 6
    fn = functools.partial(make_walk, image=image)
    actions = _actions(n, 200)
    sync = SyncVectorEnv([functools.partial(fn, i) for i in range(n)],
                         autoreset_mode=AutoresetMode.SAME_STEP)
    ref = _rollout(sync, actions)
    sync.close()
    assert sum(int(r[2].sum() + r[3].sum()) for r in ref[1:]) > 50  # many auto-resets
    for workers in (0, 2, 3):
        with SubprocVectorEnv(fn, n, workers) as venv:
            got = _rollout(venv, actions)
        for r, g in zip(ref, got):
            _assert_tree_equal(r, g)


def test_final_obs_and_info_at_episode_end() -> None:
    with SubprocVectorEnv(make_walk, 4, 2) as venv:
        obs, infos = venv.reset(seed=3)
        assert infos == {}
        ends = 0
        for a in _actions(4, 60, seed=1):
            prev = obs
            obs, _, term, trunc, infos = venv.step(a)
            done = term | trunc
            if not done.any():
                assert infos == {}
                continue
            ends += int(done.sum())
            np.testing.assert_array_equal(infos["_final_obs"], done)
            np.testing.assert_array_equal(infos["_final_info"], done)
            fi = infos["final_info"]
            for i in range(4):
                if done[i]:
                    final = infos["final_obs"][i]
                    # final obs continues the old episode; obs[i] starts a new one (t = 0)
                    assert round(final[2] * 30) == round(prev[i, 2] * 30) + 1
                    assert obs[i, 2] == 0.0
                    assert fi["episode_len"][i] == round(final[2] * 30)
                    assert fi["dist"][i].shape == (2,)
                else:
                    assert infos["final_obs"][i] is None
            np.testing.assert_array_equal(fi["_episode_len"], done)
        assert ends >= 10


def test_reset_seed_determinism_and_seed_list() -> None:
    with SubprocVectorEnv(make_walk, 4, 2) as venv:
        a, _ = venv.reset(seed=11)
        venv.step(np.zeros((4, 2), np.float32))
        b, _ = venv.reset(seed=11)
        c, _ = venv.reset(seed=[11, 12, 13, 14])
        d, _ = venv.reset(seed=12)
        e, _ = venv.reset()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, d) and not np.array_equal(a[:, :2], e[:, :2])
    np.testing.assert_array_equal(a[1:, :2], d[:-1, :2])  # env i with seed s+i


def test_reset_mask_resets_only_selected_envs() -> None:
    with SubprocVectorEnv(make_walk, 4, 2) as venv:
        venv.reset(seed=0)
        obs, *_ = venv.step(np.ones((4, 2), np.float32))
        mask = np.array([True, False, False, True])
        new, _ = venv.reset(seed=5, options={"reset_mask": mask})
        np.testing.assert_array_equal(new[~mask], obs[~mask])
        np.testing.assert_array_equal(new[mask, 2], [0.0, 0.0])


def test_call_get_attr_set_attr() -> None:
    with SubprocVectorEnv(make_walk, 5, 2) as venv:
        assert venv.call("double", 1.5) == (3.0, 4.0, 5.0, 6.0, 7.0)
        assert venv.get_attr("tag") == ("walk",) * 5
        venv.set_attr("tag", "x")
        venv.set_attr("index", [9, 8, 7, 6, 5])
        assert venv.get_attr("tag") == ("x",) * 5 and venv.get_attr("index") == (9, 8, 7, 6, 5)
        with pytest.raises(AttributeError):
            venv.get_attr("no_such_attribute")
        venv.reset(seed=0)  # a failed call does not break the vector env


@pytest.mark.timeout(30)
def test_killed_worker_raises_clear_error() -> None:
    venv = SubprocVectorEnv(make_walk, 4, 2)
    venv.reset(seed=0)
    os.kill(venv.worker_pids[1], signal.SIGKILL)
    with pytest.raises(RuntimeError, match=r"worker 1 .*envs 2\.\.3.*SIGKILL"):
        for _ in range(3):
            venv.step(np.zeros((4, 2), np.float32))
    with pytest.raises(RuntimeError, match="unusable"):
        venv.step(np.zeros((4, 2), np.float32))
    venv.close()
    venv.close()


@pytest.mark.timeout(30)
def test_env_exception_is_reported_with_text_and_traceback() -> None:
    venv = SubprocVectorEnv(make_fail_env3, 4, 2)
    venv.reset(seed=0)
    with pytest.raises(RuntimeError) as err:
        for _ in range(10):
            venv.step(np.zeros((4, 2), np.float32))
    msg = str(err.value)
    assert "worker 1" in msg and "env 3" in msg and "boom in env 3 at step 5" in msg
    assert "Traceback" in msg and "ValueError" in msg
    venv.close()
    assert all(not p.is_alive() for p in _procs(venv))


def make_bad_env2(index: int) -> RandomWalkEnv:
    if index == 2:
        raise OSError("no such robot model")
    return RandomWalkEnv(index)


def make_hanging_env1(index: int) -> RandomWalkEnv:
    return RandomWalkEnv(index, burn_us=3e6 if index == 1 else 0.0)


@pytest.mark.timeout(30)
def test_failing_env_constructor_and_hanging_worker() -> None:
    with pytest.raises(RuntimeError, match=r"worker 1 .*building the envs.*no such robot model"):
        SubprocVectorEnv(make_bad_env2, 4, 2)
    venv = SubprocVectorEnv(make_hanging_env1, 2, 2, timeout=0.3)
    venv.reset(seed=0)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r"worker 1 .*did not reply within 0.3 s"):
        venv.step(np.zeros((2, 2), np.float32))
    procs = _procs(venv)
    venv.close()
    assert time.monotonic() - t0 < 2.5 and all(not p.is_alive() for p in procs)


@pytest.mark.timeout(30)
def test_spawn_context_and_uneven_split() -> None:
    actions = _actions(5, 30)
    with SubprocVectorEnv(make_walk, 5, 2, context="spawn") as venv:
        got = _rollout(venv, actions)
    with SubprocVectorEnv(make_walk, 5, 0) as venv:
        ref = _rollout(venv, actions)
    for r, g in zip(ref, got):
        _assert_tree_equal(r, g)


def test_close_idempotent_gc_and_copy_false() -> None:
    venv = SubprocVectorEnv(make_walk, 2, 2, copy=False)
    obs, _ = venv.reset(seed=0)
    obs2, *_ = venv.step(np.zeros((2, 2), np.float32))
    assert obs is obs2 or np.shares_memory(obs, obs2)  # views of the shared array
    procs = _procs(venv)
    venv.close()
    venv.close()
    assert venv.closed and all(not p.is_alive() for p in procs)
    with pytest.raises(RuntimeError, match="closed"):
        venv.step(np.zeros((2, 2), np.float32))
    venv2 = SubprocVectorEnv(make_walk, 2, 1)
    procs = _procs(venv2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del venv2
        gc.collect()
    assert all(not p.is_alive() for p in procs)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        SubprocVectorEnv(make_walk, 2, 3)
    with SubprocVectorEnv(make_walk, 2, 0) as venv:
        venv.reset(seed=0)
        with pytest.raises(ValueError, match="shape"):
            venv.step(np.zeros((3, 2)))
        with pytest.raises(ValueError, match="seeds"):
            venv.reset(seed=[1])


def test_single_env_passes_gymnasium_checker() -> None:
    check_env(RandomWalkEnv(0), skip_render_check=True)
    check_env(RandomWalkEnv(0, image=True), skip_render_check=True)


def test_env_split_and_shared_array_layout() -> None:
    assert split_envs(5, 2) == [range(0, 3), range(3, 5)]
    assert split_envs(4, 4) == [range(i, i + 1) for i in range(4)]
    env = RandomWalkEnv(0, image=True)
    specs = array_specs(env.observation_space, env.action_space, 3, scalars=2)
    assert sorted(name for name, _, _ in specs) == ["act", "obs/image", "obs/state", "rew",
                                                    "scal", "term", "trunc"]
    offsets, size = layout(specs)
    arrays = views(bytearray(size), specs)
    assert arrays["obs/image"].shape == (3, 2, 3, 3) and arrays["obs/image"].dtype == np.uint8
    assert arrays["scal"].shape == (3, 2) and arrays["term"].dtype == np.bool_
    ends = [off + arrays[name].nbytes for (name, _, _), off in zip(specs, offsets)]
    assert all(off % 64 == 0 for off in offsets) and ends[-1] == size
    assert all(end <= nxt for end, nxt in zip(ends, offsets[1:]))  # no overlap
    with pytest.raises(TypeError, match="action space must be a Box"):
        array_specs(env.observation_space, spaces.Discrete(3), 3)
