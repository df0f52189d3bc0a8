"""The vector env's step arrays, laid out in one block of memory that processes share.

Observations ``[N, *obs_shape]`` (one array per key for Dict spaces), actions
``[N, *act_shape]``, rewards ``[N]`` float64, terminated / truncated ``[N]`` bool and
optional per-env scalars ``[N, k]`` float64 live side by side in one buffer, each 64-byte
aligned. The main process creates the buffer as a file mapped into memory; each worker maps
the same file and writes its envs' rows in place, so a step moves no array through a pipe.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["ArraySpecs", "array_specs", "layout", "map_shared_file", "shared_file", "views"]

ArraySpecs = list[tuple[str, tuple[int, ...], str]]  # (array name, shape, dtype string)
_ALIGN = 64


def array_specs(obs_space: gym.Space[Any], act_space: gym.Space[Any], n: int,
                scalars: int = 0) -> ArraySpecs:
    """Names, shapes and dtypes of the step arrays of ``n`` envs: ``obs`` (or ``obs/<key>``
    per key of a Dict space), ``act``, ``rew``, ``term``, ``trunc`` and, with ``scalars`` k
    > 0, ``scal`` (n, k)."""
    boxes: dict[str, Any] = {"obs": obs_space}
    if isinstance(obs_space, spaces.Dict):
        boxes = {f"obs/{k}": s for k, s in obs_space.spaces.items()}
    if not all(isinstance(s, spaces.Box) for s in boxes.values()):
        raise TypeError(f"observation space must be a Box or a Dict of Boxes, got {obs_space}")
    if not isinstance(act_space, spaces.Box):
        raise TypeError(f"action space must be a Box, got {act_space}")
    boxes["act"] = act_space
    specs: ArraySpecs = [(k, (n, *s.shape), np.dtype(s.dtype).str) for k, s in boxes.items()]
    specs += [("rew", (n,), "<f8"), ("term", (n,), "|b1"), ("trunc", (n,), "|b1")]
    return [*specs, ("scal", (n, scalars), "<f8")] if scalars else specs


def layout(specs: ArraySpecs) -> tuple[list[int], int]:
    """Byte offsets (64-byte aligned) of each array and the total size."""
    offsets, end = [], 0
    for _, shape, dtype in specs:
        start = -(-end // _ALIGN) * _ALIGN
        offsets.append(start)
        end = start + int(np.prod(shape)) * np.dtype(dtype).itemsize
    return offsets, max(end, 1)


def views(buf: Any, specs: ArraySpecs) -> dict[str, np.ndarray]:
    """Numpy views of every array in ``buf`` (a writable buffer laid out by `layout`)."""
    offsets, _ = layout(specs)
    return {
        name: np.frombuffer(buf, np.dtype(dt), int(np.prod(shape)), off).reshape(shape)
        for (name, shape, dt), off in zip(specs, offsets)
    }


@contextmanager
def shared_file(size: int) -> Iterator[tuple[mmap.mmap, str]]:
    """A new file of ``size`` bytes mapped into memory, and its path for other processes to
    map (`map_shared_file`) inside the ``with`` block.

    The file lives in /dev/shm when that has room (memory, not disk). It is deleted when the
    block ends: the maps made by then stay valid, and nothing is left behind if a process dies.
    """
    shm = "/dev/shm"
    ok = os.path.isdir(shm) and (s := os.statvfs(shm)).f_bavail * s.f_frsize > 2 * size
    fd, path = tempfile.mkstemp(prefix="robot_rl_vec_", dir=shm if ok else None)
    try:
        os.ftruncate(fd, size)
        yield mmap.mmap(fd, size), path
    finally:
        os.close(fd)
        os.unlink(path)


def map_shared_file(path: str, specs: ArraySpecs) -> tuple[mmap.mmap, dict[str, np.ndarray]]:
    """Map the file at ``path`` (made by `shared_file`) and view the arrays of ``specs`` in it."""
    with open(path, "r+b") as f:
        mm = mmap.mmap(f.fileno(), layout(specs)[1])
    return mm, views(mm, specs)
