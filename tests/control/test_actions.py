"""Action decoding (`robot_rl.control.actions`), the one decoding of the training envs and of
the robot's policy controller, against hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot_rl.control.actions import DeltaBounds, clip_action, decode_action, delta_bounds
from robot_rl.control.ik import DampedLeastSquaresIK
from robot_rl.robots import get_robot

Q0 = np.array([0.1, -0.2])


def test_joint_pos_offset_clips_then_scales() -> None:
    a = np.array([0.5, -3.0], dtype=np.float32)
    q = decode_action("joint_pos_offset", a, Q0, 0.25, 1.0)
    np.testing.assert_array_equal(q, [0.1 + 0.125, -0.2 - 0.25])
    assert q.dtype == np.float64
    # a batch (K, n) of actions decodes row by row
    qb = decode_action("joint_pos_offset", np.array([[1.0, 0.0], [-1.0, 2.0]]), Q0, 0.5, 1.0)
    np.testing.assert_array_equal(qb, [[0.6, -0.2], [-0.4, 0.3]])


def test_clip_keeps_nan_and_an_infinite_clip_clips_nothing() -> None:
    out = clip_action(np.array([np.nan, 5.0, -np.inf]), 1.0)
    assert math.isnan(out[0]) and out[1] == 1.0 and out[2] == -1.0
    np.testing.assert_array_equal(clip_action(np.array([7.0, -9.0]), math.inf), [7.0, -9.0])
    a = np.array([2.0, 0.0])
    clip_action(a, 1.0)
    assert a[0] == 2.0  # a new array: the caller's action is untouched


def test_joint_pos_is_the_action_itself_and_unknown_types_are_refused() -> None:
    a = np.array([0.3, 0.4], dtype=np.float32)
    q = decode_action("joint_pos", a, Q0, 0.25, 1.0)
    np.testing.assert_array_equal(q, a.astype(np.float64))
    assert q is not a
    with pytest.raises(ValueError, match="unknown action type 'torque'"):
        decode_action("torque", a, Q0, 0.25, 1.0)
    with pytest.raises(ValueError, match="need the IK"):
        decode_action("ee_delta", a, Q0, 0.25, 1.0)


def test_ee_delta_moves_the_end_effector_and_sets_the_gripper() -> None:
    spec = get_robot("arm6")
    ik = DampedLeastSquaresIK(spec)
    q = spec.q0.copy()
    free = [j for j in range(spec.n_joints) if j not in set(ik.idx.tolist())]
    assert len(free) == 1  # the gripper
    a = np.array([0.0, 0.0, 1.0, 0.7])  # up, x scale 0.02 m; gripper to 0.7 rad
    target = decode_action("ee_delta", a, spec.q0, 0.02, 1.0, q=q, ik=ik)
    assert target[free[0]] == 0.7
    expected = ik.solve(q, np.array([0.0, 0.0, 0.02])).q_target
    np.testing.assert_array_equal(target[ik.idx], expected[ik.idx])
    assert not np.allclose(target[ik.idx], q[ik.idx])  # the arm moved


def _bounds(lo: list[float], hi: list[float], tau: list[float] | None = None) -> DeltaBounds:
    return DeltaBounds(np.array(lo), np.array(hi), np.array([10.0, 10.0]),
                       np.array([1.0, 1.0]), None if tau is None else np.array(tau))


def test_joint_pos_delta_moves_the_previous_target_inside_the_bounds() -> None:
    last, q, dq = np.array([0.5, -0.95]), np.array([0.5, -0.95]), np.zeros(2)
    bounds = _bounds([-1.0, -1.0], [0.53, 1.0])
    a = np.array([0.2, -3.0], dtype=np.float32)  # clipped to [0.2, -1]
    out = decode_action("joint_pos_delta", a, Q0, 0.1, 1.0, q, last=last, bounds=bounds, dq=dq)
    np.testing.assert_allclose(out, [0.52, -1.0])  # -0.95 - 0.1 = -1.05: held at the bound
    out = decode_action("joint_pos_delta", np.array([1.0, 0.0]), Q0, 0.1, 1.0, q, last=last,
                        bounds=bounds, dq=dq)
    np.testing.assert_allclose(out, [0.53, -0.95])  # 0.6 beyond the upper bound 0.53
    assert last[0] == 0.5  # a new array
    qb = np.array([[0.0, 0.0], [0.2, 0.2]])
    out = decode_action("joint_pos_delta", np.array([[1.0, 1.0], [-1.0, 0.5]]), Q0, 0.1, 1.0,
                        qb, last=qb.copy(), bounds=bounds, dq=np.zeros((2, 2)))
    np.testing.assert_allclose(out, [[0.1, 0.1], [0.1, 0.25]])
    with pytest.raises(ValueError, match="previous targets"):
        decode_action("joint_pos_delta", a, Q0, 0.1, 1.0)


def test_a_delta_target_does_not_wind_up_beyond_what_the_motors_can_pull() -> None:
    """kp 10, kd 1, 2 N m: at q = 0, dq = 1 the damping asks -1 N m, so the targets whose PD
    torque stays within +-2 N m lie in [0 + (-2 + 1) / 10, 0 + (2 + 1) / 10] = [-0.1, 0.3];
    a previous target of 0.8 (the joints held back, damped or stuck) is moved from 0.3."""
    bounds = _bounds([-2.0, -2.0], [2.0, 2.0], tau=[2.0, 2.0])
    q, dq = np.zeros(2), np.ones(2)
    np.testing.assert_allclose(bounds.hold(np.array([0.8, -0.5]), q, dq), [0.3, -0.1])
    np.testing.assert_allclose(bounds.hold(np.array([0.2, 0.0]), q, dq), [0.2, 0.0])  # inside
    out = decode_action("joint_pos_delta", np.array([1.0, -1.0]), Q0, 0.05, 1.0, q,
                        last=np.array([0.8, -0.5]), bounds=bounds, dq=dq)
    np.testing.assert_allclose(out, [0.35, -0.15])
    free = DeltaBounds(bounds.lo, bounds.hi, np.array([0.0, 10.0]), bounds.kd, bounds.tau)
    np.testing.assert_allclose(free.hold(np.array([0.8, 0.8]), q, dq), [0.8, 0.3])  # kp 0: as is


def test_delta_bounds_take_the_chains_margin_and_torque_scale() -> None:
    q_min, q_max = np.array([-1.0, 0.0]), np.array([2.0, 0.5])
    kp, kd, tau = np.array([10.0, 10.0]), np.array([1.0, 1.0]), np.array([4.0, 2.0])
    limits = [{"type": "joint_limits", "margin": 0.05}, {"type": "rate_limit", "scale": 1.0},
              {"type": "torque_limit", "scale": 0.5, "max_gain_ratio": 5.0}]
    b = delta_bounds(q_min, q_max, kp, kd, tau, limits)
    np.testing.assert_allclose(b.lo, [-0.95, 0.05])
    np.testing.assert_allclose(b.hi, [1.95, 0.45])
    assert b.tau is not None
    np.testing.assert_allclose(b.tau, [2.0, 1.0])
    for none in (None, [], [{"type": "rate_limit", "scale": 1.0}]):  # no position stage
        b = delta_bounds(q_min, q_max, kp, kd, tau, none)
        np.testing.assert_array_equal(b.lo, q_min)
        np.testing.assert_array_equal(b.hi, q_max)
        assert b.tau is None
