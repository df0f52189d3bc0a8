"""`WorkerPool`: the main process's side of a vector env's worker processes.

It starts the workers (`robot_rl.envs.vector_worker.worker_main`), each holding a range of
consecutive envs, sends them commands and gathers exactly one reply per worker. It watches
each worker's pipe and its process sentinel together, so a worker that dies is noticed at
once, not at a timeout. A dead, failing or silent worker raises a `RuntimeError` naming the
worker, its pid, its env indices and the cause; the pool is unusable after that
(``broken``), and `close` still stops every process.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any, NoReturn

import gymnasium as gym
import numpy as np

from robot_rl.envs.vector_worker import EXC, FATAL, STEP, worker_main

__all__ = ["WorkerPool", "split_envs"]


def split_envs(num_envs: int, num_workers: int) -> list[range]:
    """Env indices per worker: consecutive ranges, as even as possible."""
    base, extra = divmod(num_envs, num_workers)
    bounds = np.cumsum([0] + [base + (w < extra) for w in range(num_workers)])
    return [range(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]


def _cpus() -> set[int]:
    """CPUs this process may run on."""
    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


class WorkerPool:
    """Worker processes, one per range of env indices (`start` launches them).

    Args:
        ranges: the env indices of each worker.
        timeout: seconds to wait for a reply before failing (None: forever).
        spin_us: how long an idle worker busy-waits for the next command before sleeping;
            0, or more workers than CPUs, disables it (spinning would steal CPU time).
    """

    def __init__(self, ranges: list[range], timeout: float | None, spin_us: float) -> None:
        self.ranges = ranges
        self.timeout = timeout
        self.spin_s = spin_us * 1e-6 if len(ranges) <= len(_cpus()) else 0.0
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        self.broken: str | None = None  # the failure that made the pool unusable
        self._poller = select.poll()
        self._fds: dict[int, tuple[int, bool]] = {}  # fd → (worker, is process sentinel)

    def start(self, env_fn: Callable[[int], gym.Env], context: str | None) -> Any:
        """Start the workers; each builds its envs and replies with their (observation space,
        action space, metadata, render mode). Returns worker 0's; all must have its spaces."""
        if context is None:
            context = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        ctx: Any = mp.get_context(context)
        for w, rng in enumerate(self.ranges):
            parent_end, child_end = ctx.Pipe()
            inherited = [*self.conns, parent_end] if context == "fork" else []
            args = (child_end, env_fn, rng, inherited, self.spin_s)
            proc = ctx.Process(target=worker_main, args=args,
                               name=f"SubprocVectorEnv-worker-{w}", daemon=True)
            proc.start()
            child_end.close()
            self.conns.append(parent_end)
            self.procs.append(proc)
            for fd, sentinel in ((parent_end.fileno(), False), (proc.sentinel, True)):
                self._poller.register(fd, select.POLLIN)
                self._fds[fd] = (w, sentinel)
        hello = self.collect("building the envs")
        for w, h in enumerate(hello[1:], 1):
            if h[0] != hello[0][0] or h[1] != hello[0][1]:
                self.fail(w, f"has env spaces {h[:2]} != worker 0's {hello[0][:2]}")
        return hello[0]

    # ---- failures -----------------------------------------------------------------------
    def fail(self, w: int, cause: str) -> NoReturn:
        """Mark the pool broken because of worker ``w`` and raise."""
        rng, pid = self.ranges[w], self.procs[w].pid
        self.broken = (f"SubprocVectorEnv worker {w} (pid {pid}, envs {rng.start}..{rng.stop - 1})"
                       f" {cause}")
        raise RuntimeError(self.broken)

    def _death(self, w: int, doing: str) -> NoReturn:
        proc = self.procs[w]
        proc.join(1.0)
        code = proc.exitcode
        if code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        else:
            how = "exited" if code is not None else "closed its pipe"
        self.fail(w, f"died while {doing}: it {how} (exit code {code})")

    # ---- messaging ----------------------------------------------------------------------
    def send_all(self, msg: bytes, doing: str) -> None:
        """The same message to every worker."""
        for w, conn in enumerate(self.conns):
            try:
                conn.send_bytes(msg)
            except OSError:
                self._death(w, doing)

    def collect(self, doing: str) -> list[Any]:
        """One reply per worker (index order): None for `OK`, else the unpickled payload
        (an `EXC` reply as `RaiseInCaller`). Raises `RuntimeError` on a worker's death,
        `FATAL` reply or timeout."""
        results: list[Any] = [None] * len(self.conns)
        pending = set(range(len(self.conns)))
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while pending:
            ms = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            events = self._poller.poll(ms)
            if not events and deadline is not None and time.monotonic() >= deadline:
                self.fail(min(pending), f"did not reply within {self.timeout} s while {doing}")
            for fd, _ in events:
                w, is_sentinel = self._fds[fd]
                conn = self.conns[w]
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
                if kind == FATAL:
                    self.fail(w, f"failed while {doing}: {pickle.loads(msg[1:])}")
                results[w] = pickle.loads(msg[1:]) if len(msg) > 1 else None
                if kind == EXC:
                    results[w] = RaiseInCaller(results[w])
        return results

    def step(self) -> list[Any]:
        """One step of every worker's envs (actions already in the shared arrays)."""
        self.send_all(STEP, "stepping")
        return self.collect("stepping")

    def run(self, cmd: str, args: list[Any], doing: str) -> list[Any]:
        """Send worker w ``(cmd, args[w])`` and gather the replies; an exception a worker
        reports (`EXC`) is raised here."""
        for w, conn in enumerate(self.conns):
            try:
                conn.send_bytes(pickle.dumps((cmd, args[w]), -1))
            except OSError:
                self._death(w, doing)
        results = self.collect(doing)
        for r in results:
            if isinstance(r, RaiseInCaller):
                raise r.exc
        return results

    def close(self) -> None:
        """Ask every worker to close its envs and exit; terminate, then kill, those that do
        not within 5 s (1 s when the pool is broken)."""
        for conn in self.conns:
            try:
                conn.send_bytes(pickle.dumps(("close", None)))
            except Exception:
                pass
        deadline = time.monotonic() + (5.0 if self.broken is None else 1.0)
        for proc in self.procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()


class RaiseInCaller:
    """A non-fatal exception from a worker's call / set_attr, raised in the main process."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
