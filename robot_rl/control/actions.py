"""Action decoding: a policy's action → joint position targets [rad], written once for the
training envs (`robot_rl.envs.base.RobotEnv`, `robot_rl.envs.batch.StepBatch`) and the robot
(`robot_rl.runtime.controller.PolicyController`).

Action types (a bundle's ``action_type``; a chunk bundle's per-step type):

- ``joint_pos_offset``: ``q* = q0 + action_scale * clip(a, ±action_clip)``, (n,) or a batch
  (K, n);
- ``joint_pos_delta``: ``q*_t = clip(q*_t-1 + action_scale * clip(a, ±action_clip), lo,
  hi)``: the action moves the previous target (the decoder's own, before the safety
  chain), which starts at the measured joint positions; ``lo, hi`` is the joint range less
  the chain's ``joint_limits`` margin (`target_bounds`). With ``action_scale x action_clip``
  at or below ``dq_max x policy_dt`` a policy cannot ask for a target the chain's rate or
  position limits would move (the observation term ``joint_target`` shows it ``q*_t-1``);
- ``joint_pos``: ``q* = a`` (absolute targets);
- ``ee_delta``: ``q*`` = damped-least-squares IK of the end effector moved by
  ``action_scale * a[:3]`` [m] from its pose at the measured ``q``; the joints the IK does
  not drive (a gripper) take ``a[3:]`` as positions, in joint order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from robot_rl.control.ik import DampedLeastSquaresIK


def clip_action(a: np.ndarray, clip: float) -> np.ndarray:
    """``a`` clipped to ``±clip`` as float64 (a new array; an infinite clip clips nothing;
    NaN stays NaN: the deploy path judges a raw output before it is clipped)."""
    out = np.minimum(a, clip, dtype=np.float64)
    return np.maximum(out, -clip, out=out)


def joint_offset_targets(q0: np.ndarray, scale: float, a: np.ndarray) -> np.ndarray:
    """``joint_pos_offset``: ``q0 + scale * a`` for an already clipped action."""
    return q0 + scale * a


def joint_delta_targets(last: np.ndarray, scale: float, a: np.ndarray, q_min: np.ndarray,
                        q_max: np.ndarray) -> np.ndarray:
    """``joint_pos_delta``: ``last + scale * a`` inside ``[q_min, q_max]`` for an already
    clipped action (a new array; NaN stays NaN)."""
    out = last + scale * a
    np.maximum(out, q_min, out=out)
    return np.minimum(out, q_max, out=out)


def target_bounds(q_min: np.ndarray, q_max: np.ndarray,
                  limits: Sequence[Mapping[str, Any]] | None) -> tuple[np.ndarray, np.ndarray]:
    """The range a ``joint_pos_delta`` target is kept in: the joint range less the margin of
    the safety chain's ``joint_limits`` stage among ``limits`` (limit entries as a bundle's
    contract lists them: ``{type, margin, ...}``), so that the stage never moves it; the
    whole range where there is no such stage."""
    margin = max((float(e["margin"]) for e in limits or () if e.get("type") == "joint_limits"),
                 default=0.0)
    return q_min + margin, q_max - margin


def decode_action(action_type: str, a: np.ndarray, q0: np.ndarray, scale: float,
                  clip: float, q: np.ndarray | None = None,
                  ik: DampedLeastSquaresIK | None = None, last: np.ndarray | None = None,
                  bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Joint position targets for one action (n,) or a batch (K, n) of ``action_type``
    (module docstring); ``q`` (the measured joint positions) and ``ik`` only for
    ``ee_delta``; ``last`` (the previous targets) and ``bounds`` (the joint range) only for
    ``joint_pos_delta``."""
    if action_type == "joint_pos_offset":
        return joint_offset_targets(q0, scale, clip_action(a, clip))
    if action_type == "joint_pos_delta":
        if last is None or bounds is None:
            raise ValueError("joint_pos_delta actions need the previous targets and the joint "
                             "range")
        return joint_delta_targets(last, scale, clip_action(a, clip), *bounds)
    if action_type == "joint_pos":
        return np.array(a, dtype=np.float64)
    if action_type != "ee_delta":
        raise ValueError(f"unknown action type '{action_type}'; use joint_pos_offset, "
                         "joint_pos_delta, joint_pos or ee_delta")
    if ik is None or q is None:
        raise ValueError("ee_delta actions need the IK and the measured joint positions")
    target = ik.solve(q, scale * a[:3]).q_target.copy()
    driven = set(ik.idx.tolist())
    rest = [j for j in range(len(q0)) if j not in driven]
    for k, j in enumerate(rest):
        if 3 + k < a.shape[0]:
            target[j] = a[3 + k]
    return target
