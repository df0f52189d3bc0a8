"""Action-chunk execution: policy chunks (policy rate) → targets at the control rate.

A chunk is an array ``[H, act_dim]`` produced at time ``t_c``; its step ``k`` is the target
for time ``t_c + k * step_dt``. Between steps the target is interpolated linearly:

    s = (t - t_c) / step_dt,  k = floor(s),  a = s - k
    v_c(t) = (1 - a) * chunk[k] + a * chunk[min(k + 1, H - 1)]

Execute horizon: a chunk is *active* on ``t_c <= t < t_c + n_exec * step_dt``, i.e. only its
first ``n_exec`` step intervals are used (step ``n_exec`` is still the interpolation end
point of the last interval when ``n_exec < H``; with ``n_exec = H`` the last step is held
for its final interval). The next chunk is expected by then.

Without ensembling, the newest active chunk gives the target (a new chunk takes over as soon
as its time ``t_c`` is reached). With ``temporal_ensemble=True`` all active chunks are
averaged as in ACT (Zhao et al. 2023, ``imitate_episodes.py``): with the active chunks
ordered oldest first, i = 0, 1, ..., the target is

    target(t) = sum_i w_i v_i(t) / sum_i w_i,    w_i = exp(-m * i)

so for ``m > 0`` the oldest prediction gets the largest weight (ACT's sign convention,
m = 0.01 there). ``i`` is the rank among the active chunks, not their age in seconds.

Starvation: when no chunk is active at ``t`` (the next chunk is late, or none has come yet)
the last output target (or the ``initial`` hold target) is held and ``starved`` is True.
Every output is therefore a convex combination of chunk values (or a held one).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class _Chunk:
    t0: float  # time of step 0 [s]
    t_end: float  # end of the active window [s]
    actions: np.ndarray  # (H, act_dim)


class ChunkExecutor:
    """Turns action chunks into per-tick targets; pure numpy and deterministic.

    Args:
        act_dim: action dimension.
        horizon: chunk length H (steps).
        step_dt: time between chunk steps [s] (usually the policy period).
        n_exec: steps of each chunk to use, 1..H; default H.
        temporal_ensemble: average overlapping active chunks (ACT weights, module docstring).
        ensemble_m: the ACT weight constant m [1/chunk]; >0 favours older chunks.
        control_dt: control period [s] for `tick`; optional.
        initial: target (act_dim,) held before the first chunk arrives; see `reset`.
        max_chunks: chunks kept at most; the oldest is dropped beyond it.
    """

    def __init__(self, act_dim: int, horizon: int, step_dt: float, n_exec: int | None = None,
                 temporal_ensemble: bool = False, ensemble_m: float = 0.01,
                 control_dt: float | None = None, initial: np.ndarray | None = None,
                 max_chunks: int = 256) -> None:
        if act_dim < 1 or horizon < 1:
            raise ValueError(f"act_dim and horizon must be >= 1; got {act_dim}, {horizon}")
        if not step_dt > 0 or not math.isfinite(step_dt):
            raise ValueError(f"step_dt must be a positive number of seconds; got {step_dt}")
        n_exec = horizon if n_exec is None else n_exec
        if not 1 <= n_exec <= horizon:
            raise ValueError(f"n_exec must be in [1, horizon={horizon}]; got {n_exec}")
        if not math.isfinite(ensemble_m):
            raise ValueError(f"ensemble_m must be finite; got {ensemble_m}")
        if control_dt is not None and not control_dt > 0:
            raise ValueError(f"control_dt must be > 0; got {control_dt}")
        if max_chunks < 1:
            raise ValueError(f"max_chunks must be >= 1; got {max_chunks}")
        self.act_dim, self.horizon, self.step_dt = act_dim, horizon, float(step_dt)
        self.n_exec = n_exec
        self.temporal_ensemble = temporal_ensemble
        self.ensemble_m = float(ensemble_m)
        self.control_dt = control_dt
        self.max_chunks = max_chunks
        self._span = n_exec * self.step_dt
        self._chunks: deque[_Chunk] = deque()
        self._last = np.zeros(act_dim)
        self._acc = np.zeros(act_dim)
        self._tmp = np.zeros(act_dim)
        self._tmp2 = np.zeros(act_dim)
        self.starved = True
        self.n_active = 0
        self._has_last = False
        self._t_push: float | None = None
        self._t_query: float | None = None
        self._tick_t0: float | None = None
        self._tick_i = 0
        self.reset(initial)

    def reset(self, initial: np.ndarray | None = None) -> None:
        """Forget all chunks and times; hold ``initial`` (act_dim,) until a chunk is active.

        Without ``initial``, `target` raises until the first chunk is active.
        """
        self._chunks.clear()
        self._t_push = None
        self._t_query = None
        self._tick_t0 = None
        self._tick_i = 0
        self.starved = True
        self.n_active = 0
        self._has_last = initial is not None
        if initial is not None:
            init = np.asarray(initial, dtype=np.float64)
            if init.shape != (self.act_dim,) or not np.all(np.isfinite(init)):
                raise ValueError(f"initial target must be finite with shape ({self.act_dim},);"
                                 f" got shape {init.shape}")
            self._last[:] = init

    def push(self, chunk: np.ndarray, t: float) -> None:
        """Add a chunk (H, act_dim) produced at time ``t`` [s] (its step 0 is at ``t``).

        Raises:
            ValueError: wrong shape, non-finite values, or ``t`` not after the previous push.
        """
        arr = np.array(chunk, dtype=np.float64)  # own copy: the caller may reuse its buffer
        if arr.shape != (self.horizon, self.act_dim):
            raise ValueError(f"chunk has shape {arr.shape}; expected (horizon={self.horizon}, "
                             f"act_dim={self.act_dim})")
        if not np.all(np.isfinite(arr)):
            raise ValueError("chunk contains NaN or inf")
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"chunk time must be finite; got {t}")
        if self._t_push is not None and t <= self._t_push:
            raise ValueError(f"chunk timestamps must increase: got t={t} after {self._t_push}")
        self._t_push = t
        self._chunks.append(_Chunk(t, t + self._span, arr))
        while len(self._chunks) > self.max_chunks:
            self._chunks.popleft()

    def _interp(self, c: _Chunk, t: float, out: np.ndarray) -> None:
        s = (t - c.t0) / self.step_dt
        k = min(int(s), self.horizon - 1)  # s >= 0 for an active chunk
        a = s - k
        if k == self.horizon - 1 or a <= 0.0:
            out[:] = c.actions[k]
            return
        np.multiply(c.actions[k], 1.0 - a, out=out)
        np.multiply(c.actions[k + 1], a, out=self._tmp2)
        out += self._tmp2

    def target(self, t: float, out: np.ndarray | None = None) -> np.ndarray:
        """Target (act_dim,) at time ``t`` [s]; sets ``starved`` and ``n_active``.

        Args:
            t: query time [s], non-decreasing across calls.
            out: optional (act_dim,) array written in place (no allocation); otherwise a
                new array is returned.

        Raises:
            ValueError: ``t`` earlier than the previous query.
            RuntimeError: nothing is active and there is nothing to hold (no chunk has ever
                been active and no ``initial`` target was given).
        """
        t = float(t)
        if self._t_query is not None and t < self._t_query:
            raise ValueError(f"query time went backwards: t={t} after {self._t_query}")
        self._t_query = t
        chunks = self._chunks
        while chunks and chunks[0].t_end <= t:  # windows end in push order
            chunks.popleft()
        n = 0
        for c in chunks:  # t0 increases, so the active chunks are a prefix
            if c.t0 > t:
                break
            n += 1
        self.n_active = n
        self.starved = n == 0
        if n == 0:
            if not self._has_last:
                raise RuntimeError("ChunkExecutor has no target yet: push a chunk whose time "
                                   "has come, or reset(initial=current target) to hold one")
        elif not self.temporal_ensemble or n == 1:
            self._interp(chunks[n - 1], t, self._last)
        else:
            acc, tmp = self._acc, self._tmp
            acc[:] = 0.0
            w_sum = 0.0
            for i in range(n):
                w = math.exp(-self.ensemble_m * i)  # i = 0: oldest active chunk
                self._interp(chunks[i], t, tmp)
                tmp *= w
                acc += tmp
                w_sum += w
            np.divide(acc, w_sum, out=self._last)
        self._has_last = True
        if out is None:
            return self._last.copy()
        out[:] = self._last
        return out

    def tick(self, out: np.ndarray | None = None) -> np.ndarray:
        """`target` on a fixed grid ``t_start + i * control_dt``, i = 0, 1, ... (no drift).

        ``t_start`` is the previous query time, or the first chunk's time. Requires
        ``control_dt``; `reset` restarts the grid.
        """
        if self.control_dt is None:
            raise ValueError("tick() needs control_dt; pass it to ChunkExecutor or call target(t)")
        if self._tick_t0 is None:
            if self._t_query is not None:
                self._tick_t0 = self._t_query
            elif self._chunks:
                self._tick_t0 = self._chunks[0].t0
            else:
                raise RuntimeError("tick() before any chunk: push a chunk or call target(t)")
            self._tick_i = 0
        else:
            self._tick_i += 1
        return self.target(self._tick_t0 + self._tick_i * self.control_dt, out=out)

    @property
    def last_push_time(self) -> float | None:
        """Time [s] of the newest chunk, or None."""
        return self._t_push


__all__ = ["ChunkExecutor"]
