"""Action decoding: a policy's action → joint position targets [rad], written once for the
training envs (`robot_rl.envs.base.RobotEnv`, `robot_rl.envs.batch.StepBatch`) and the robot
(`robot_rl.runtime.controller.PolicyController`).

Action types (a bundle's ``action_type``; a chunk bundle's per-step type):

- ``joint_pos_offset``: ``q* = q0 + action_scale * clip(a, ±action_clip)``, (n,) or a batch
  (K, n);
- ``joint_pos_delta``: ``q*_t = clip(q*_t-1 + action_scale * clip(a, ±action_clip), lo,
  hi)``: the action moves the previous target (the decoder's own, before the safety
  chain), which starts at the measured joint positions and is first kept where the motors'
  torque can pull the joints to it (`DeltaBounds.hold`: no windup while the chain holds the
  robot); ``lo, hi`` is the joint range less the chain's ``joint_limits`` margin
  (`delta_bounds`). With ``action_scale x action_clip``
  at or below ``dq_max x policy_dt`` a policy cannot ask for a target the chain's rate or
  position limits would move (the observation term ``joint_target`` shows it ``q*_t-1``);
- ``joint_pos``: ``q* = a`` (absolute targets);
- ``ee_delta``: ``q*`` = damped-least-squares IK of the end effector moved by
  ``action_scale * a[:3]`` [m] from its pose at the measured ``q``; the joints the IK does
  not drive (a gripper) take ``a[3:]`` as positions, in joint order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_rl.control.ik import DampedLeastSquaresIK
from robot_rl.control.pd import pd_target_range


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


@dataclass(frozen=True)
class DeltaBounds:
    """What holds a ``joint_pos_delta`` target (`delta_bounds`): the range ``[lo, hi]`` it is
    kept in, and the torque ``tau`` the motors may give at gains ``kp``, ``kd`` (None: no
    torque limit), which bounds the previous target it moves from (`hold`)."""

    lo: np.ndarray
    hi: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    tau: np.ndarray | None

    def hold(self, last: np.ndarray, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """``last`` kept among the targets whose PD torque at the measured state stays within
        ``±tau`` (a new array), the box the chain's ``torque_limit`` stage holds a target in
        (`pd_target_range`, its own inversion of the PD law): while the chain holds a target
        back, holds or damps the robot, the decoder's target cannot wind up away from the
        joints (anti-windup); the next action moves the target the motors can pull to."""
        if self.tau is None:
            return np.array(last, dtype=np.float64)
        stiff = self.kp > 0.0
        lo, hi = pd_target_range(-self.tau, self.tau, q, dq, np.where(stiff, self.kp, 1.0),
                                 self.kd)
        out = np.minimum(np.maximum(last, lo), hi)
        return np.where(stiff, out, last)  # (without stiffness the target moves no torque)


def delta_bounds(q_min: np.ndarray, q_max: np.ndarray, kp: np.ndarray, kd: np.ndarray,
                 tau_max: np.ndarray, limits: Sequence[Mapping[str, Any]] | None
                 ) -> DeltaBounds:
    """The `DeltaBounds` of a robot (its range, gains and torque limits) under the safety
    chain's limit stages ``limits`` (entries as a bundle's contract lists them: ``{type,
    margin | scale, ...}``): the range less the ``joint_limits`` margin, the torque
    ``tau_max x`` the ``torque_limit`` scale; the whole range, no torque bound, where the
    stage is absent."""
    entries = list(limits or ())
    margin = max((float(e["margin"]) for e in entries if e.get("type") == "joint_limits"),
                 default=0.0)
    scale = [float(e["scale"]) for e in entries if e.get("type") == "torque_limit"]
    tau = None if not scale else np.asarray(tau_max, dtype=np.float64) * min(scale)
    return DeltaBounds(q_min + margin, q_max - margin, np.asarray(kp, dtype=np.float64),
                       np.asarray(kd, dtype=np.float64), tau)


def decode_action(action_type: str, a: np.ndarray, q0: np.ndarray, scale: float,
                  clip: float, q: np.ndarray | None = None,
                  ik: DampedLeastSquaresIK | None = None, last: np.ndarray | None = None,
                  bounds: DeltaBounds | None = None, dq: np.ndarray | None = None
                  ) -> np.ndarray:
    """Joint position targets for one action (n,) or a batch (K, n) of ``action_type``
    (module docstring); ``q`` (the measured joint positions) and ``ik`` for ``ee_delta``;
    ``last`` (the previous targets), ``bounds``, ``q`` and ``dq`` (the measured joint
    velocities) for ``joint_pos_delta``."""
    if action_type == "joint_pos_offset":
        return joint_offset_targets(q0, scale, clip_action(a, clip))
    if action_type == "joint_pos_delta":
        if last is None or bounds is None or q is None or dq is None:
            raise ValueError("joint_pos_delta actions need the previous targets, their bounds "
                             "and the measured joint state")
        return joint_delta_targets(bounds.hold(last, q, dq), scale, clip_action(a, clip),
                                   bounds.lo, bounds.hi)
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
