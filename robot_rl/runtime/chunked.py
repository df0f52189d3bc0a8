"""Chunk policies on the robot: a diffusion chunk bundle plus an action queue.

`ChunkPolicy` runs the bundle's sampler every ``replan_every`` policy periods and feeds the
chunks to a `robot_rl.control.ChunkExecutor`, which gives a target at any control tick
(linear interpolation between chunk steps, optional ACT temporal ensembling, hold on
starvation). Torch-free: numpy + onnxruntime.
"""

from __future__ import annotations

import numpy as np

from robot_rl.control.chunk import ChunkExecutor
from robot_rl.runtime.policy import BundleError, OnnxPolicy


class ChunkPolicy:
    """A chunk bundle (``action_type == "chunk"``) with its action queue.

    Args:
        policy: the loaded bundle.
        control_dt: control period [s] (for ``executor.tick``); optional.
        replan_every: policy periods between inferences; default the bundle's ``n_exec``
            (1 with ``temporal_ensemble``: ACT queries every step and averages).
        n_exec: chunk steps to execute (default the bundle's); temporal_ensemble,
            ensemble_m: see `ChunkExecutor`.
    """

    def __init__(self, policy: OnnxPolicy, control_dt: float | None = None,
                 replan_every: int | None = None, n_exec: int | None = None,
                 temporal_ensemble: bool = False, ensemble_m: float = 0.01) -> None:
        if policy.kind != "chunk":
            raise BundleError(f"{policy.path}: not a chunk bundle (action_type "
                              f"'{policy.metadata['action_type']}')")
        meta = policy.metadata
        self.policy = policy
        self.step_dt = float(meta["policy_dt"])
        n_exec = int(meta["chunk"]["n_exec"]) if n_exec is None else n_exec
        if replan_every is None:
            replan_every = 1 if temporal_ensemble else n_exec
        if not 1 <= replan_every <= n_exec:
            raise ValueError(f"replan_every must be in [1, n_exec={n_exec}] (a longer gap "
                             f"starves the queue), got {replan_every}")
        self.replan_every = replan_every
        self.executor = ChunkExecutor(policy.act_dim, policy.horizon, self.step_dt,
                                      n_exec=n_exec, temporal_ensemble=temporal_ensemble,
                                      ensemble_m=ensemble_m, control_dt=control_dt)
        self.inferences = 0

    @property
    def metadata(self) -> dict:
        return self.policy.metadata

    @property
    def obs_dim(self) -> int:
        return self.policy.obs_dim

    @property
    def act_dim(self) -> int:
        return self.policy.act_dim

    @property
    def starved(self) -> bool:
        """True when the last target was held because no chunk was active."""
        return self.executor.starved

    def reset(self, initial: np.ndarray | None = None) -> None:
        """Drop queued chunks; hold ``initial`` (act_dim,) until the first chunk."""
        self.executor.reset(initial)

    def due(self, t: float) -> bool:
        """Whether a new chunk should be inferred at time ``t`` [s]."""
        last = self.executor.last_push_time
        return last is None or t >= last + (self.replan_every - 1e-6) * self.step_dt

    def step(self, obs: np.ndarray, t: float, noise: np.ndarray | None = None) -> np.ndarray:
        """One policy tick at time ``t``: infer a chunk if due, then the target at ``t``.

        ``noise``: the sampler's initial noise [H, A] (None: the bundle's seeded generator).
        Returns the target (act_dim,) in the bundle's per-step action units."""
        if self.due(t):
            self.executor.push(self.policy.act(obs, noise=noise), t)
            self.inferences += 1
        return self.executor.target(t)

    def action_at(self, t: float) -> np.ndarray:
        """Target (act_dim,) at a control tick ``t`` between policy ticks."""
        return self.executor.target(t)


__all__ = ["ChunkPolicy"]
