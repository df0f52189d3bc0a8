"""env-throughput: steps/s of quad12-walk against Gymnasium's MuJoCo Ant-v5, single env and
vectorised, and the speed-up of the project's vector env over one env.

What is compared (all with uniform random actions, pre-sampled so sampling is not timed, and
every episode that ends reset at once):

* ``ratio_vs_ant``: one quad12-walk env (`robot_rl.envs.make_env`) against one
  ``gym.make("Ant-v5")``, both stepped in this process. Reported as information.
* ``batched_ratio_vs_ant``: env steps/s of ``SubprocVectorEnv`` with ``batched_envs`` (16)
  quad12-walk envs on ``num_workers`` (2) worker processes, each worker stepping its 8 envs as
  one batch (`robot_rl.envs.batch.StepBatch`), against Gymnasium's
  ``gymnasium.vector.AsyncVectorEnv`` of 16 ``gym.make("Ant-v5")`` envs with
  ``shared_memory=True`` (one process per env, observations in shared memory). Both use
  ``SAME_STEP`` autoreset, so both do the same work per step. Ant's vector env runs one
  process per env, ours ``num_workers`` processes holding several envs each; with 2 workers on
  a 2-core machine both use every core.
* ``vector_speedup``: ``SubprocVectorEnv`` with ``envs_per_worker`` (32) envs per worker
  (64 in all, a typical PPO batch) against the single env; ``vector_speedup_8_envs_per_worker``
  the same for the 16-env vector env above.
* ``independent_pair_speedup``: the machine's own ceiling, the summed rate of
  ``num_workers`` single envs stepped at the same time in separate processes (no IPC, nothing
  shared) over the single env's rate; ``vector_efficiency`` is ``vector_speedup`` over it.

The machines are shared and their speed drifts by tens of percent over tens of seconds, so
everything is measured in many short interleaved rounds (a second or so per figure), each
ratio is taken within a round between figures measured back to back, and the reported ratio is
the median over rounds with its inter-quartile range. Goals: ``batched_ratio_vs_ant`` ≥ 2.0
(issue 22) and ``vector_speedup`` ≥ 1.6 (issue #3).
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode

from robot_rl.envs import EnvFactory, make_env
from robot_rl.envs.vector import SubprocVectorEnv

GOALS = {"batched_ratio_vs_ant": 2.0, "vector_speedup": 1.6}


def _single_env_rate(env: gym.Env[Any, Any], steps: int, seed: int) -> float:
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def _vector_rate(venv: gym.vector.VectorEnv[Any, Any, Any], steps: int, seed: int) -> float:
    """Env steps/s of ``steps`` vector steps (autoreset inside the vector env)."""
    venv.reset(seed=seed)
    venv.action_space.seed(seed)
    actions = [venv.action_space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    for a in actions:
        venv.step(a)
    return steps * venv.num_envs / (time.perf_counter() - t0)


def _pair_member(conn: Any, task: str) -> None:
    """A process with its own single env: on each (steps, seed) request, step and reply
    the rate (the parent starts every member at once)."""
    env = make_env(task)
    _single_env_rate(env, 100, 0)
    conn.send("ready")
    while (msg := conn.recv()) is not None:
        conn.send(_single_env_rate(env, *msg))
    env.close()


class _IndependentPair:
    """``n`` processes stepping single envs concurrently: the summed rate."""

    def __init__(self, task: str, n: int) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for _ in range(n):
            a, b = ctx.Pipe()
            p = ctx.Process(target=_pair_member, args=(b, task), daemon=True)
            p.start()
            self.conns.append(a)
            self.procs.append(p)
        for c in self.conns:
            c.recv()

    def rate(self, steps: int, seed: int) -> float:
        for c in self.conns:
            c.send((steps, seed))
        return float(sum(c.recv() for c in self.conns))

    def close(self) -> None:
        for c in self.conns:
            c.send(None)
        for p in self.procs:
            p.join(10)


def _iqr(x: np.ndarray) -> list[float]:
    return [round(float(np.percentile(x, 25)), 3), round(float(np.percentile(x, 75)), 3)]


def run(quick: bool = False, task: str = "quad12-walk", num_workers: int = 2,
        envs_per_worker: int = 32, batched_envs: int = 16, rounds: int = 15) -> dict[str, Any]:
    steps = 200 if quick else 1000  # env steps per figure per round
    rounds = 2 if quick else rounds
    vec_steps = max(4, steps // envs_per_worker)
    batch_steps = max(4, 2 * steps // batched_envs)
    quad = make_env(task)
    ant = gym.make("Ant-v5")
    venv = SubprocVectorEnv(EnvFactory(task), num_envs=num_workers * envs_per_worker,
                            num_workers=num_workers)
    batched = SubprocVectorEnv(EnvFactory(task), num_envs=batched_envs, num_workers=num_workers)
    ant_async = AsyncVectorEnv([functools.partial(gym.make, "Ant-v5")] * batched_envs,
                               shared_memory=True, autoreset_mode=AutoresetMode.SAME_STEP)
    pair = _IndependentPair(task, num_workers)
    names = ("quad", "ant", "vector", "batched", "ant_async", "pair")
    rates: dict[str, list[float]] = {k: [] for k in names}
    try:
        _single_env_rate(quad, 100, 0)  # warm-up
        _single_env_rate(ant, 100, 0)
        _vector_rate(venv, 10, 0)
        _vector_rate(batched, 10, 0)
        _vector_rate(ant_async, 10, 0)
        for r in range(rounds):
            rates["quad"].append(_single_env_rate(quad, steps, r))
            rates["ant"].append(_single_env_rate(ant, steps, r))
            rates["vector"].append(_vector_rate(venv, vec_steps, r))
            rates["batched"].append(_vector_rate(batched, batch_steps, r))
            rates["ant_async"].append(_vector_rate(ant_async, batch_steps, r))
            rates["pair"].append(pair.rate(steps, r))
    finally:
        pair.close()
        venv.close()
        batched.close()
        ant_async.close()
        quad.close()
        ant.close()
    q, a, v, b, aa, p = (np.array(rates[k]) for k in names)
    vs_ant, speedup, speedup_b, ceiling, b_vs_ant = q / a, v / q, b / q, p / q, b / aa
    med = statistics.median
    ratio, vec, b_ratio = med(vs_ant.tolist()), med(speedup.tolist()), med(b_vs_ant.tolist())

    def min_max(x: np.ndarray) -> list[int]:
        return [round(float(x.min())), round(float(x.max()))]

    return {
        "benchmark": "env-throughput",
        "task": task,
        "quad12_steps_per_s": round(med(rates["quad"]), 1),
        "ant_v5_steps_per_s": round(med(rates["ant"]), 1),
        "ratio_vs_ant": round(ratio, 3),
        "vector_steps_per_s": round(med(rates["vector"]), 1),
        "vector_speedup": round(vec, 3),
        "vector_workers": num_workers,
        "vector_envs": num_workers * envs_per_worker,
        "vector_speedup_8_envs_per_worker": round(med(speedup_b.tolist()), 3),
        "batched_steps_per_s": round(med(rates["batched"]), 1),
        "ant_v5_async_steps_per_s": round(med(rates["ant_async"]), 1),
        "batched_ratio_vs_ant": round(b_ratio, 3),
        "batched_envs": batched_envs,
        "batched_workers": num_workers,
        "ant_v5_async_processes": batched_envs,
        "independent_pair_speedup": round(med(ceiling.tolist()), 3),
        "vector_efficiency": round(med((speedup / ceiling).tolist()), 3),
        "rounds": rounds,
        "steps_per_round": steps,
        "spread": {"quad12_min_max": min_max(q), "ant_min_max": min_max(a),
                   "vector_min_max": min_max(v), "batched_min_max": min_max(b),
                   "ant_async_min_max": min_max(aa),
                   "ratio_vs_ant_iqr": _iqr(vs_ant), "vector_speedup_iqr": _iqr(speedup),
                   "batched_ratio_vs_ant_iqr": _iqr(b_vs_ant),
                   "independent_pair_speedup_iqr": _iqr(ceiling)},
        "goals": GOALS,
        "pass": bool(b_ratio >= GOALS["batched_ratio_vs_ant"]
                     and vec >= GOALS["vector_speedup"]),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
