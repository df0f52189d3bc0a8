"""`SubprocVectorEnv`: N environments over W worker processes, results in shared memory.

Each worker holds K consecutive sub-environments (N split as evenly as possible over W) and
steps them as one batch where it can (`robot_rl.envs.env_group`). Observations, actions,
rewards and flags live in one shared memory map (`robot_rl.envs.shared_arrays`); a step
writes the actions, sends one 1-byte message per worker and waits for a 1-byte reply
(`robot_rl.envs.worker_pool`, `robot_rl.envs.vector_worker`). Info dicts travel (pickled)
only when some env returned a non-empty one, e.g. at episode ends.

Autoreset is Gymnasium's ``SAME_STEP`` mode, with ``SyncVectorEnv``'s info conventions:
a done env is reset at once, ``obs[i]`` is the new episode's first observation, and
``infos["final_obs"]`` (object array, None where not done) / ``infos["final_info"]`` (a nested
info dict) with the masks ``infos["_final_obs"]`` / ``infos["_final_info"]`` hold the last step.
``num_workers=0`` runs the same code in the main process (reference / debugging).
A dead, failing or silent worker raises a `RuntimeError` naming the worker, its env indices
and the cause; the vector env is unusable afterwards (``close()`` still works).
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from robot_rl.envs.env_group import EnvGroup
from robot_rl.envs.shared_arrays import ArraySpecs, array_specs, layout, shared_file, views
from robot_rl.envs.worker_pool import WorkerPool, split_envs

__all__ = ["SubprocVectorEnv"]


class SubprocVectorEnv(VectorEnv):
    """N Gymnasium envs stepped by W worker processes through shared memory (SAME_STEP autoreset).

    Args:
        env_fn: ``env_fn(index) -> gym.Env`` builds env ``index`` (0..N-1). It runs in the
            workers; with ``context`` "spawn" / "forkserver" it must be picklable (e.g. a
            ``functools.partial`` of a module-level function).
        num_envs: N.
        num_workers: W (≥ 0, ≤ N); worker w holds envs ``[lo_w, hi_w)``. 0 runs every env in
            the main process through the same code (reference, debugging; exceptions propagate).
        context: multiprocessing start method; None → "fork" where available, else "spawn".
            Prefer "forkserver" when the main process already runs threads (torch, CUDA).
        copy: return copies of the observations (True) or views of the shared arrays, which
            the next ``step`` / ``reset`` overwrites (False).
        timeout: seconds to wait for a worker's reply before failing (None: forever; dead
            workers are detected immediately either way).
        spin_us: how long an idle worker busy-waits for the next command before sleeping
            (lower step latency); 0, or more workers than CPUs, disables it.
        scalars: k > 0: every env has a ``step_scalars`` attribute, float (k,), set by its
            ``step`` (e.g. reward parts an algorithm needs besides the reward); after each
            vector step `last_scalars` holds them, ``[N, k]``, without per-step infos.

    Spaces: ``single_observation_space`` is a Box or a Dict of Boxes, ``single_action_space``
    a Box; the batched spaces come from `gymnasium.vector.utils.batch_space`.
    ``step(actions[N, *act_shape])`` → obs ``[N, *obs_shape]`` (or dict of such), rewards
    ``[N]`` float64, terminated ``[N]`` bool, truncated ``[N]`` bool, infos (Gymnasium vector
    convention: ``infos[key][N]`` plus bool mask ``infos["_" + key][N]``).
    ``reset(seed=s)`` seeds env i with ``s + i``; a list gives one seed per env.
    """

    def __init__(self, env_fn: Callable[[int], gym.Env], num_envs: int, num_workers: int = 2,
                 context: str | None = None, *, copy: bool = True,
                 timeout: float | None = 300.0, spin_us: float = 150.0,
                 scalars: int = 0) -> None:
        self.closed = True  # until fully built (close() / __del__ of a half-built env are no-ops)
        self._arrays: dict[str, np.ndarray] = {}
        self._mm: mmap.mmap | None = None
        self._local: EnvGroup | None = None  # num_workers == 0: the envs, in this process
        self._pool: WorkerPool | None = None
        if num_envs < 1 or not 0 <= num_workers <= num_envs:
            raise ValueError(f"need num_envs ≥ 1 and 0 ≤ num_workers ≤ num_envs, "
                             f"got {num_envs}, {num_workers}")
        self.num_envs, self.num_workers = num_envs, num_workers
        self.copy, self.timeout = copy, timeout
        self.closed = False
        try:
            if num_workers == 0:
                self._ranges = [range(num_envs)]
                self._local = EnvGroup(range(num_envs)).build(env_fn, range(num_envs))
                e0 = self._local.envs[0]
                info = (e0.observation_space, e0.action_space, dict(e0.metadata), e0.render_mode)
            else:
                self._ranges = split_envs(num_envs, num_workers)
                self._pool = WorkerPool(self._ranges, timeout, spin_us)
                info = self._pool.start(env_fn, context)
            obs_space, act_space, self.metadata, self.render_mode = info
            self.metadata["autoreset_mode"] = AutoresetMode.SAME_STEP
            self.autoreset_mode = AutoresetMode.SAME_STEP
            self.single_observation_space, self.single_action_space = obs_space, act_space
            self.observation_space = batch_space(obs_space, num_envs)
            self.action_space = batch_space(act_space, num_envs)
            self._alloc(array_specs(obs_space, act_space, num_envs, scalars))
        except BaseException:
            self.close()
            raise

    # ---- construction -------------------------------------------------------------------
    def _alloc(self, specs: ArraySpecs) -> None:
        """Allocate the step arrays: a shared file map the workers map too, or plain memory
        in-process."""
        size = layout(specs)[1]
        if self._pool is None:
            assert self._local is not None
            self._arrays = views(bytearray(size), specs)
            self._local.bind(self._arrays)
        else:
            with shared_file(size) as (mm, path):
                self._mm = mm
                self._arrays = views(mm, specs)
                self._pool.run("bind", [(path, specs)] * len(self._ranges),
                               "binding shared memory")
        a = self._arrays
        self._act, self._rew, self._term, self._trunc = a["act"], a["rew"], a["term"], a["trunc"]
        self._scal = a.get("scal")
        self._obs_keys = [k[4:] for k in a if k.startswith("obs/")]

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("SubprocVectorEnv is closed")
        if self._pool is not None and self._pool.broken is not None:
            raise RuntimeError(f"SubprocVectorEnv is unusable after an earlier failure: "
                               f"{self._pool.broken}")

    def _run(self, cmd: str, args: list[Any], doing: str) -> list[Any]:
        """Worker w runs ``cmd`` with ``args[w]`` (in-process: the env group does); the
        results in worker order."""
        self._check()
        if self._pool is None:
            assert self._local is not None
            return [getattr(self._local, cmd)(*args[0])]
        return self._pool.run(cmd, args, doing)

    # ---- Gymnasium VectorEnv API --------------------------------------------------------
    def _obs_out(self) -> Any:
        a = self._arrays
        if self._obs_keys:
            return {k: a["obs/" + k].copy() if self.copy else a["obs/" + k] for k in self._obs_keys}
        return a["obs"].copy() if self.copy else a["obs"]

    def _merge(self, results: list[Any]) -> dict[str, Any]:
        infos: dict[str, Any] = {}
        for entries in results:
            for i, final, info in entries or ():
                if final is not None:
                    final_dict = {"final_obs": final[0], "final_info": final[1]}
                    infos = self._add_info(infos, final_dict, i)
                infos = self._add_info(infos, info, i)
        return infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step all envs with ``actions [N, *act_shape]``; done envs are reset in the same step.

        Returns obs ``[N, ...]`` (the new episode's first obs where done), rewards ``[N]``,
        terminated ``[N]``, truncated ``[N]``, infos (with ``final_obs`` / ``final_info``).
        """
        self._check()
        actions = np.asarray(actions)
        if actions.shape != self._act.shape:
            raise ValueError(f"actions must have shape {self._act.shape}, got {actions.shape}")
        self._act[...] = actions
        if self._pool is None:
            assert self._local is not None
            results = [self._local.step()]
        else:
            results = self._pool.step()
        return (self._obs_out(), self._rew.copy(), self._term.copy(), self._trunc.copy(),
                self._merge(results))

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset all envs (or those in ``options["reset_mask"]``, bool ``[N]``).

        ``seed``: None (fresh entropy), int s (env i gets s + i) or a list of N seeds.
        Returns obs ``[N, ...]`` and the merged reset infos.
        """
        n = self.num_envs
        if seed is None or isinstance(seed, int | np.integer):
            seeds = [None if seed is None else int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
        if len(seeds) != n:
            raise ValueError(f"need {n} seeds, got {len(seeds)}")
        mask = None
        if options is not None and "reset_mask" in options:
            options = dict(options)
            mask = options.pop("reset_mask")
            if not isinstance(mask, np.ndarray) or mask.shape != (n,) or mask.dtype != np.bool_:
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({n},)")
        args = [(seeds[r.start:r.stop], options, None if mask is None else mask[r.start:r.stop])
                for r in self._ranges]
        results = self._run("reset", args, "resetting")
        return self._obs_out(), self._merge(results)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` (or read attribute ``name``) of every env: N results."""
        out = self._run("call", [(name, args, kwargs)] * len(self._ranges), f"calling {name!r}")
        return tuple(x for part in out for x in part)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every env: N values."""
        return self.call(name)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        """Set attribute ``name`` of every env (one value for all, or a list of N)."""
        if not isinstance(values, list | tuple):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"need {self.num_envs} values, got {len(values)}")
        self._run("set_attr", [(name, list(values[r.start:r.stop])) for r in self._ranges],
                  f"setting {name!r}")

    @property
    def last_scalars(self) -> np.ndarray:
        """The envs' ``step_scalars`` of the last step, ``[N, k]`` (a copy)."""
        if self._scal is None:
            raise RuntimeError("this vector env was built without scalars=k")
        return self._scal.copy()

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """Process ids of the workers (empty in-process)."""
        return () if self._pool is None else tuple(p.pid for p in self._pool.procs)

    def close_extras(self, **kwargs: Any) -> None:
        """Close the envs, stop the workers (terminate / kill if needed), free shared memory."""
        if self._local is not None:
            self._local.close()
        if self._pool is not None:
            self._pool.close()
        self._arrays = {}  # drop every view of the map before closing it
        for name in ("_act", "_rew", "_term", "_trunc", "_scal"):
            self.__dict__.pop(name, None)
        if self._local is not None:
            self._local.a = {}
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:  # the caller still holds views (copy=False); GC frees it
                pass

    def __enter__(self) -> SubprocVectorEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self.closed:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"SubprocVectorEnv(num_envs={self.num_envs}, num_workers={self.num_workers})"
