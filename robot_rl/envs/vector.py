"""`SubprocVectorEnv`: N environments over W worker processes, results in shared memory.

Each worker holds K consecutive sub-environments (N split as evenly as possible over W).
Observations ``[N, *obs_shape]``, actions ``[N, *act_shape]``, rewards ``[N]`` float64 and
terminated / truncated ``[N]`` bool live in one shared memory map; a step writes the actions,
sends one 1-byte message per worker and waits for a 1-byte reply. Info dicts travel (pickled)
only when some env returned a non-empty one, e.g. at episode ends.

Autoreset is Gymnasium's ``SAME_STEP`` mode, with ``SyncVectorEnv``'s info conventions:
a done env is reset at once, ``obs[i]`` is the new episode's first observation, and
``infos["final_obs"]`` (object array, None where not done) / ``infos["final_info"]`` (a nested
info dict) with the masks ``infos["_final_obs"]`` / ``infos["_final_info"]`` hold the last step.
``num_workers=0`` runs the same batched code in the main process (reference / debugging).
A dead, failing or silent worker raises a `RuntimeError` naming the worker, its env indices
and the cause; the vector env is unusable afterwards (``close()`` still works).
"""

from __future__ import annotations

import itertools
import mmap
import multiprocessing as mp
import os
import pickle
import select
import signal
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

__all__ = ["SubprocVectorEnv"]

_OK, _DATA, _FATAL, _EXC = b"\x00", b"\x01", b"\x02", b"\x03"  # reply kinds (first byte)
_STEP = b"s"  # the hot-path command; every other command is a pickled (name, arg) tuple
_ALIGN = 64
_Specs = list[tuple[str, tuple[int, ...], str]]  # (array name, shape, dtype string)


def _array_specs(obs_space: gym.Space, act_space: gym.Space, n: int,
                 scalars: int = 0) -> _Specs:
    """Names, shapes and dtypes of the shared arrays for ``n`` envs."""
    boxes: dict[str, Any] = {"obs": obs_space}
    if isinstance(obs_space, spaces.Dict):
        boxes = {f"obs/{k}": s for k, s in obs_space.spaces.items()}
    if not all(isinstance(s, spaces.Box) for s in boxes.values()):
        raise TypeError(f"observation space must be a Box or a Dict of Boxes, got {obs_space}")
    if not isinstance(act_space, spaces.Box):
        raise TypeError(f"action space must be a Box, got {act_space}")
    boxes["act"] = act_space
    specs: _Specs = [(k, (n, *s.shape), np.dtype(s.dtype).str) for k, s in boxes.items()]
    specs += [("rew", (n,), "<f8"), ("term", (n,), "|b1"), ("trunc", (n,), "|b1")]
    return [*specs, ("scal", (n, scalars), "<f8")] if scalars else specs


def _layout(specs: _Specs) -> tuple[list[int], int]:
    """Byte offsets (64-byte aligned) of each array and the total size."""
    offsets, end = [], 0
    for _, shape, dtype in specs:
        start = -(-end // _ALIGN) * _ALIGN
        offsets.append(start)
        end = start + int(np.prod(shape)) * np.dtype(dtype).itemsize
    return offsets, max(end, 1)


def _views(buf: Any, specs: _Specs) -> dict[str, np.ndarray]:
    """Numpy views of every array in ``buf`` (a writable buffer laid out by `_layout`)."""
    offsets, _ = _layout(specs)
    return {
        name: np.frombuffer(buf, np.dtype(dt), int(np.prod(shape)), off).reshape(shape)
        for (name, shape, dt), off in zip(specs, offsets)
    }


def _cpus() -> set[int]:
    """CPUs this process may run on."""
    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


class _EnvBatch:
    """K consecutive sub-environments, stepped in a loop into their slice of the arrays."""

    def __init__(self, indices: range) -> None:
        self.start = indices.start
        self.current = indices.start  # env being worked on (for error messages)
        self.envs: list[gym.Env] = []
        self.a: dict[str, np.ndarray] = {}
        self.obs_keys: list[str] = []
        self.batch: Any = None  # a StepBatch of the robot envs inside, if all allow it
        self.chains: list[list[Any]] = []  # per env: its wrappers, outermost first

    def build(self, env_fn: Callable[[int], gym.Env], indices: range) -> _EnvBatch:
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


def _worker(conn: Any, env_fn: Callable[[int], gym.Env], indices: range,
            inherited: list[Any], spin_s: float) -> None:
    """Worker process main loop: build the envs, then serve commands until "close".

    After each reply it busy-polls for the next command for ``spin_s`` seconds before
    sleeping: in a tight step loop this skips a process wake-up (tens of µs on VMs).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    for c in inherited:  # (fork) other workers' / our own parent ends: keep EOF detection exact
        c.close()
    parent = os.getppid()
    batch = _EnvBatch(indices)
    mm: mmap.mmap | None = None
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    try:
        batch.build(env_fn, indices)
        e0 = batch.envs[0]
        conn.send_bytes(_DATA + pickle.dumps(
            (e0.observation_space, e0.action_space, dict(e0.metadata), e0.render_mode)))
        while True:
            end = time.perf_counter() + spin_s
            while spin_s and not poller.poll(0) and time.perf_counter() < end:
                pass
            while not poller.poll(2000):
                if os.getppid() != parent:  # main process gone
                    return
            msg = conn.recv_bytes()
            if msg == _STEP:
                entries = batch.step()
                conn.send_bytes(_OK if entries is None else _DATA + pickle.dumps(entries, -1))
                continue
            cmd, arg = pickle.loads(msg)
            if cmd == "bind":
                path, specs = arg
                with open(path, "r+b") as f:
                    mm = mmap.mmap(f.fileno(), _layout(specs)[1])
                batch.bind(_views(mm, specs))
                conn.send_bytes(_OK)
            elif cmd == "reset":
                conn.send_bytes(_DATA + pickle.dumps(batch.reset(*arg), -1))
            elif cmd == "close":
                batch.close()
                conn.send_bytes(_OK)
                return
            else:  # call / set_attr: failures are reported, not fatal
                try:
                    out = batch.call(*arg) if cmd == "call" else None
                    if cmd == "set_attr":
                        batch.set_attr(*arg)
                    conn.send_bytes(_DATA + pickle.dumps(out, -1))
                except Exception as e:
                    try:
                        conn.send_bytes(_EXC + pickle.dumps(e, -1))
                    except Exception:
                        conn.send_bytes(_EXC + pickle.dumps(RuntimeError(repr(e))))
    except BaseException as e:
        cause = f"raised in env {batch.current}: {type(e).__name__}: {e}\n{traceback.format_exc()}"
        try:
            conn.send_bytes(_FATAL + pickle.dumps(cause))
        except Exception:
            pass
    finally:
        batch.a = {}
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass
        conn.close()


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
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        self._arrays: dict[str, np.ndarray] = {}
        self._mm: mmap.mmap | None = None
        self._local: _EnvBatch | None = None
        self._broken: str | None = None
        if num_envs < 1 or not 0 <= num_workers <= num_envs:
            raise ValueError(f"need num_envs ≥ 1 and 0 ≤ num_workers ≤ num_envs, "
                             f"got {num_envs}, {num_workers}")
        self.num_envs, self.num_workers = num_envs, num_workers
        self.copy, self.timeout = copy, timeout
        self._spin_s = spin_us * 1e-6 if num_workers <= len(_cpus()) else 0.0
        self.closed = False
        try:
            if num_workers == 0:
                self._ranges = [range(num_envs)]
                self._local = _EnvBatch(range(num_envs)).build(env_fn, range(num_envs))
                e0 = self._local.envs[0]
                info = (e0.observation_space, e0.action_space, dict(e0.metadata), e0.render_mode)
            else:
                info = self._start_workers(env_fn, context)
            obs_space, act_space, self.metadata, self.render_mode = info
            self.metadata["autoreset_mode"] = AutoresetMode.SAME_STEP
            self.autoreset_mode = AutoresetMode.SAME_STEP
            self.single_observation_space, self.single_action_space = obs_space, act_space
            self.observation_space = batch_space(obs_space, num_envs)
            self.action_space = batch_space(act_space, num_envs)
            self._alloc(_array_specs(obs_space, act_space, num_envs, scalars))
        except BaseException:
            self.close()
            raise

    # ---- construction -------------------------------------------------------------------
    def _start_workers(self, env_fn: Callable[[int], gym.Env], context: str | None) -> tuple:
        if context is None:
            context = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        ctx: Any = mp.get_context(context)
        base, extra = divmod(self.num_envs, self.num_workers)
        bounds = np.cumsum([0] + [base + (w < extra) for w in range(self.num_workers)])
        self._ranges = [range(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]
        self._poller = select.poll()
        self._fds: dict[int, tuple[int, bool]] = {}  # fd → (worker, is process sentinel)
        for w, rng in enumerate(self._ranges):
            parent_end, child_end = ctx.Pipe()
            inherited = [*self._conns, parent_end] if context == "fork" else []
            args = (child_end, env_fn, rng, inherited, self._spin_s)
            proc = ctx.Process(target=_worker, args=args, name=f"SubprocVectorEnv-worker-{w}",
                               daemon=True)
            proc.start()
            child_end.close()
            self._conns.append(parent_end)
            self._procs.append(proc)
            for fd, sentinel in ((parent_end.fileno(), False), (proc.sentinel, True)):
                self._poller.register(fd, select.POLLIN)
                self._fds[fd] = (w, sentinel)
        hello = self._collect("building the envs")
        for w, h in enumerate(hello[1:], 1):
            if h[0] != hello[0][0] or h[1] != hello[0][1]:
                self._fail(w, f"has env spaces {h[:2]} != worker 0's {hello[0][:2]}")
        return hello[0]

    def _alloc(self, specs: _Specs) -> None:
        """Allocate the arrays: a shared file map for workers, plain memory in-process."""
        size = _layout(specs)[1]
        if self._local is not None:
            self._arrays = _views(bytearray(size), specs)
            self._local.bind(self._arrays)
        else:
            shm = "/dev/shm"
            ok = os.path.isdir(shm) and (s := os.statvfs(shm)).f_bavail * s.f_frsize > 2 * size
            fd, path = tempfile.mkstemp(prefix="robot_rl_vec_", dir=shm if ok else None)
            try:
                os.ftruncate(fd, size)
                self._mm = mmap.mmap(fd, size)
                self._arrays = _views(self._mm, specs)
                self._send_all(pickle.dumps(("bind", (path, specs))), "binding shared memory")
                self._collect("binding shared memory")
            finally:
                os.close(fd)
                os.unlink(path)  # memory lives on in the maps; nothing to leak after this
        a = self._arrays
        self._act, self._rew, self._term, self._trunc = a["act"], a["rew"], a["term"], a["trunc"]
        self._scal = a.get("scal")
        self._obs_keys = [k[4:] for k in a if k.startswith("obs/")]

    # ---- messaging ----------------------------------------------------------------------
    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("SubprocVectorEnv is closed")
        if self._broken is not None:
            raise RuntimeError(f"SubprocVectorEnv is unusable after an earlier failure: "
                               f"{self._broken}")

    def _fail(self, w: int, cause: str) -> NoReturn:
        rng, pid = self._ranges[w], self._procs[w].pid
        self._broken = (f"SubprocVectorEnv worker {w} (pid {pid}, envs {rng.start}..{rng.stop - 1})"
                        f" {cause}")
        raise RuntimeError(self._broken)

    def _death(self, w: int, doing: str) -> NoReturn:
        proc = self._procs[w]
        proc.join(1.0)
        code = proc.exitcode
        if code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        else:
            how = "exited" if code is not None else "closed its pipe"
        self._fail(w, f"died while {doing}: it {how} (exit code {code})")

    def _send_all(self, msg: bytes, doing: str) -> None:
        for w, conn in enumerate(self._conns):
            try:
                conn.send_bytes(msg)
            except OSError:
                self._death(w, doing)

    def _collect(self, doing: str) -> list[Any]:
        """One reply per worker (index order); raises `RuntimeError` on death / error / timeout."""
        results: list[Any] = [None] * len(self._conns)
        pending = set(range(len(self._conns)))
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while pending:
            ms = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            events = self._poller.poll(ms)
            if not events and deadline is not None and time.monotonic() >= deadline:
                self._fail(min(pending), f"did not reply within {self.timeout} s while {doing}")
            for fd, _ in events:
                w, is_sentinel = self._fds[fd]
                conn = self._conns[w]
                if w not in pending or (is_sentinel and not conn.poll(0)):
                    if is_sentinel:
                        self._death(w, doing)
                    continue
                try:
                    msg = conn.recv_bytes()
                except (EOFError, OSError):
                    self._death(w, doing)
                pending.discard(w)
                kind = msg[:1]
                if kind == _FATAL:
                    self._fail(w, f"failed while {doing}: {pickle.loads(msg[1:])}")
                results[w] = pickle.loads(msg[1:]) if len(msg) > 1 else None
                if kind == _EXC:
                    results[w] = _Raise(results[w])
        return results

    def _run(self, cmd: str, args: list[Any], doing: str) -> list[Any]:
        """Send worker w ``(cmd, args[w])`` (in-process: call the batch) and gather replies."""
        self._check()
        if self._local is not None:
            return [getattr(self._local, cmd)(*args[0])]
        for w, conn in enumerate(self._conns):
            try:
                conn.send_bytes(pickle.dumps((cmd, args[w]), -1))
            except OSError:
                self._death(w, doing)
        results = self._collect(doing)
        for r in results:
            if isinstance(r, _Raise):
                raise r.exc
        return results

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
        if self._local is not None:
            results = [self._local.step()]
        else:
            self._send_all(_STEP, "stepping")
            results = self._collect("stepping")
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
        return tuple(p.pid for p in self._procs)

    def close_extras(self, **kwargs: Any) -> None:
        """Close the envs, stop the workers (terminate / kill if needed), free shared memory."""
        if self._local is not None:
            self._local.close()
        for conn in self._conns:  # healthy workers close their envs and exit
            try:
                conn.send_bytes(pickle.dumps(("close", None)))
            except Exception:
                pass
        deadline = time.monotonic() + (5.0 if self._broken is None else 1.0)
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
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


class _Raise:
    """A non-fatal exception from a worker's call / set_attr, re-raised in the main process."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
