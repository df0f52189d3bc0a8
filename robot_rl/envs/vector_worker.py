"""The vector env's worker process: builds its envs, then serves the main process's commands.

Protocol, over one `multiprocessing` pipe per worker: the hot-path command, a step, is the
single byte `STEP` (the actions are already in shared memory); every other command is a
pickled ``(name, argument)`` tuple: "bind" (map the shared arrays), "reset", "call",
"set_attr", "close". Each command gets one reply whose first byte says its kind: `OK`
(nothing to report), `DATA` + pickled result, `EXC` + a pickled exception of a "call" /
"set_attr" (the worker carries on) or `FATAL` + the text and traceback of an error after
which the worker has exited. A step's reply is `OK` unless some env has an info to report
(e.g. at episode ends), so a step costs one byte each way.
"""

from __future__ import annotations

import mmap
import os
import pickle
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from robot_rl.envs.env_group import EnvGroup
from robot_rl.envs.shared_arrays import map_shared_file

__all__ = ["DATA", "EXC", "FATAL", "OK", "STEP", "worker_main"]

OK, DATA, FATAL, EXC = b"\x00", b"\x01", b"\x02", b"\x03"  # reply kinds (first byte)
STEP = b"s"


def worker_main(conn: Any, env_fn: Callable[[int], gym.Env], indices: range,
                inherited: list[Any], spin_s: float) -> None:
    """Worker process main loop: build envs ``env_fn(i)`` for ``i`` in ``indices``, send
    their spaces, then serve commands from ``conn`` until "close" (or the parent is gone).

    ``inherited``: pipe ends this process got from its parent by fork and must close. After
    each reply it busy-polls for the next command for ``spin_s`` seconds before
    sleeping: in a tight step loop this skips a process wake-up (tens of µs on VMs).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    for c in inherited:  # (fork) other workers' / our own parent ends: keep EOF detection exact
        c.close()
    parent = os.getppid()
    group = EnvGroup(indices)
    mm: mmap.mmap | None = None
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    try:
        group.build(env_fn, indices)
        e0 = group.envs[0]
        conn.send_bytes(DATA + pickle.dumps(
            (e0.observation_space, e0.action_space, dict(e0.metadata), e0.render_mode)))
        while True:
            end = time.perf_counter() + spin_s
            while spin_s and not poller.poll(0) and time.perf_counter() < end:
                pass
            while not poller.poll(2000):
                if os.getppid() != parent:  # main process gone
                    return
            msg = conn.recv_bytes()
            if msg == STEP:
                entries = group.step()
                conn.send_bytes(OK if entries is None else DATA + pickle.dumps(entries, -1))
                continue
            cmd, arg = pickle.loads(msg)
            if cmd == "bind":
                mm, arrays = map_shared_file(*arg)
                group.bind(arrays)
                conn.send_bytes(OK)
            elif cmd == "reset":
                conn.send_bytes(DATA + pickle.dumps(group.reset(*arg), -1))
            elif cmd == "close":
                group.close()
                conn.send_bytes(OK)
                return
            else:  # call / set_attr: failures are reported, not fatal
                try:
                    out = group.call(*arg) if cmd == "call" else None
                    if cmd == "set_attr":
                        group.set_attr(*arg)
                    conn.send_bytes(DATA + pickle.dumps(out, -1))
                except Exception as e:
                    try:
                        conn.send_bytes(EXC + pickle.dumps(e, -1))
                    except Exception:
                        conn.send_bytes(EXC + pickle.dumps(RuntimeError(repr(e))))
    except BaseException as e:
        cause = f"raised in env {group.current}: {type(e).__name__}: {e}\n{traceback.format_exc()}"
        try:
            conn.send_bytes(FATAL + pickle.dumps(cause))
        except Exception:
            pass
    finally:
        group.a = {}
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass
        conn.close()
