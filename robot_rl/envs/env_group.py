"""`EnvGroup`: the envs one vector-env worker holds, stepped into shared arrays.

A worker process (`robot_rl.envs.vector_worker`), or the main process when a vector env has no
workers, holds K consecutive envs of the vector env. On each step it reads their actions from
its rows of the shared arrays, steps them and writes observations, rewards and flags back
into those rows; an env whose episode ended is reset in the same step (Gymnasium's
``SAME_STEP`` autoreset) and its final observation and info are handed back to the caller.

When all K envs are `RobotEnv` instances of one task and config (wrapped, if at all, only in
wrappers with ``batch_pre`` / ``batch_post``), the group steps them as one
`robot_rl.envs.batch.StepBatch`: one numpy call per operation for all K instead of K.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["EnvGroup"]


class EnvGroup:
    """K consecutive envs of a vector env (indices ``[start, start + K)``), stepped into their
    rows of the vector env's arrays (`bind`), done envs reset at once (``SAME_STEP``)."""

    def __init__(self, indices: range) -> None:
        self.start = indices.start
        self.current = indices.start  # env being worked on (for error messages)
        self.envs: list[gym.Env] = []
        self.a: dict[str, np.ndarray] = {}
        self.obs_keys: list[str] = []
        self.batch: Any = None  # a StepBatch of the robot envs inside, if all allow it
        self.chains: list[list[Any]] = []  # per env: its wrappers, outermost first

    def build(self, env_fn: Callable[[int], gym.Env], indices: range) -> EnvGroup:
        """Create env i = ``env_fn(i)`` for each index; their spaces must agree."""
        for i in indices:
            self.current = i
            self.envs.append(env_fn(i))
        e0 = self.envs[0]
        for i, env in zip(indices, self.envs):
            if env.observation_space != e0.observation_space or env.action_space != e0.action_space:
                raise RuntimeError(f"env {i} spaces differ from env {indices.start}'s")
        self._batch_envs()
        return self

    def _batch_envs(self) -> None:
        """Step the envs as one `robot_rl.envs.batch.StepBatch` when every env is a
        `RobotEnv` of one task and config, wrapped (if at all) only in wrappers that
        can take part (``batch_pre`` / ``batch_post``); otherwise env by env."""
        from robot_rl.envs.base import RobotEnv
        from robot_rl.envs.batch import StepBatch

        robots, chains = [], []
        for outer in self.envs:
            chain, env = [], outer
            while isinstance(env, gym.Wrapper):
                if not (hasattr(env, "batch_pre") and hasattr(env, "batch_post")):
                    return
                chain.append(env)
                env = env.env
            if not isinstance(env, RobotEnv):
                return
            robots.append(env)
            chains.append(chain)
        try:
            self.batch = StepBatch(robots)
        except ValueError:  # different tasks / configs: env by env
            return
        self.chains = chains

    def bind(self, arrays: dict[str, np.ndarray]) -> None:
        """Use rows ``[start, start + K)`` of the full ``[N, ...]`` arrays."""
        rows = slice(self.start, self.start + len(self.envs))
        self.a = {k: v[rows] for k, v in arrays.items()}
        self.obs_keys = [k[4:] for k in arrays if k.startswith("obs/")]

    def _write_obs(self, j: int, obs: Any) -> None:
        if self.obs_keys:
            for k in self.obs_keys:
                self.a["obs/" + k][j] = obs[k]
        else:
            self.a["obs"][j] = obs

    def step(self) -> list[tuple[int, Any, dict]] | None:
        """Step every env with its row of ``act``; auto-reset done envs (SAME_STEP).

        Returns ``(env index, (final_obs, final_info) or None, info)`` for the envs with
        something to report, or None when no env has (the common case).
        """
        a = self.a
        act, rew, term, trunc = a["act"], a["rew"], a["term"], a["trunc"]
        scal = a.get("scal")
        entries = None
        results = self._step_batch() if self.batch is not None else None
        for j, env in enumerate(self.envs):
            self.current = self.start + j
            if results is None:
                obs, r, te, tr, info = env.step(act[j].copy())
            else:
                obs, r, te, tr, info = results[j]
            rew[j], term[j], trunc[j] = r, te, tr
            if scal is not None:  # per-step numbers beside the reward (before any reset)
                scal[j] = env.step_scalars  # type: ignore[attr-defined]
            final = None
            if te or tr:
                final_obs = {k: np.array(obs[k]) for k in obs} if self.obs_keys else np.array(obs)
                final = (final_obs, info)
                obs, info = env.reset()
            self._write_obs(j, obs)
            if final is not None or info:
                entries = entries or []
                entries.append((self.start + j, final, info))
        return entries

    def _step_batch(self) -> list[tuple[Any, float, bool, bool, dict]]:
        """All envs' step results through the batch (each wrapper's part before and after)."""
        from robot_rl.envs.base import NON_FINITE_ACTION

        act = self.a["act"]
        inner = []
        for j, chain in enumerate(self.chains):
            self.current = self.start + j
            x = act[j].copy()
            for w in chain:
                x = w.batch_pre(x)
            inner.append(x)
        actions = np.array(inner, dtype=np.float64)
        bad = ~np.isfinite(actions).all(axis=1)
        if bad.any():
            self.current = self.start + int(np.argmax(bad))
            raise ValueError(NON_FINITE_ACTION)
        obs, rews, terms, truncs, infos = self.batch.step(actions)
        out = []
        for j, chain in enumerate(self.chains):
            self.current = self.start + j
            res = (obs[j], float(rews[j]), bool(terms[j]), bool(truncs[j]), infos[j])
            for w in reversed(chain):
                res = w.batch_post(*res)
            out.append(res)
        return out

    def reset(self, seeds: Sequence[int | None], options: dict | None,
              mask: np.ndarray | None) -> list[tuple[int, Any, dict]]:
        """Reset the envs (those with ``mask[j]`` if given) with ``seeds[j]``."""
        entries = []
        for j, env in enumerate(self.envs):
            if mask is not None and not mask[j]:
                continue
            self.current = self.start + j
            obs, info = env.reset(seed=seeds[j], options=options)
            self._write_obs(j, obs)
            self.a["term"][j] = self.a["trunc"][j] = False
            entries.append((self.start + j, None, info))
        return entries

    def call(self, name: str, args: tuple, kwargs: dict) -> list[Any]:
        out = []
        for env in self.envs:
            fn = env.get_wrapper_attr(name)
            out.append(fn(*args, **kwargs) if callable(fn) else fn)
        return out

    def set_attr(self, name: str, values: Sequence[Any]) -> None:
        for env, value in zip(self.envs, values):
            env.set_wrapper_attr(name, value)

    def close(self) -> None:
        for env in self.envs:
            env.close()
