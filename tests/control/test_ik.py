"""DampedLeastSquaresIK on arm6's ee site: convergence, limits, workspace edge, null space."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.control.ik import DampedLeastSquaresIK
from robot_rl.robots.arm6 import ARM6

ARM_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll")
GRIPPER = 5

# Upper bound on the ee distance from the base origin: the sum of the body offsets
# base → shoulder → upper_arm → lower_arm → wrist → gripper → ee site in arm6.xml
# (|(0,0,.0624)| + |(.0304,-.0183,.0542)| + |(.028,0,.1126)| + |(.1349,0,.0052)|
#  + |(.0611,.0183,0)| + |(.0825,0,0)|), by the triangle inequality.
REACH = float(sum(np.linalg.norm(v) for v in (
    (0, 0, 0.0624), (0.0304, -0.0183, 0.0542), (0.028, 0, 0.1126), (0.1349, 0, 0.0052),
    (0.0611, 0.0183, 0), (0.0825, 0, 0))))  # = 0.5245 m


@pytest.fixture(scope="module")
def ik() -> DampedLeastSquaresIK:
    return DampedLeastSquaresIK(ARM6)


def test_default_joints_are_the_arm_not_the_gripper(ik: DampedLeastSquaresIK) -> None:
    assert ik.joints == ARM_JOINTS
    assert REACH == pytest.approx(0.5245, abs=1e-3)


@pytest.mark.parametrize("delta", [(0.03, 0.0, 0.0), (0.0, 0.03, 0.0), (0.0, 0.0, -0.03),
                                   (-0.0173, 0.0173, 0.0173)])
def test_reaches_a_point_3cm_away_below_1mm(ik: DampedLeastSquaresIK,
                                            delta: tuple[float, float, float]) -> None:
    q = ARM6.q0.copy()
    q[GRIPPER] = 0.37
    p0, _ = ik.fk(q)
    target = p0 + np.array(delta)
    for _ in range(3):  # "a few calls", each feeding its targets back as the new state
        res = ik.solve_to(q, target)
        q = res.q_target
    p, _ = ik.fk(q)
    assert np.linalg.norm(p - target) < 1e-3
    assert res.pos_err < 1e-3 and res.converged
    np.testing.assert_allclose(res.residual, target - p, atol=1e-12)
    assert q[GRIPPER] == 0.37  # gripper untouched
    # the delta form is the same goal
    res2 = ik.solve(ARM6.q0, np.array(delta))
    assert res2.pos_err < 1e-3


def test_orientation_delta_about_roll_axis_is_pure_wrist_roll() -> None:
    """Rotating the ee about its own x axis (the wrist_roll axis, on which the ee site lies)
    by 0.3 rad is done by wrist_roll alone: axis (-1, 0, 0) ⇒ wrist_roll = -0.3."""
    ik = DampedLeastSquaresIK(ARM6, tol_rot=1e-6, tol_pos=1e-6, n_iter=30)
    _, rot = ik.fk(ARM6.q0)
    res = ik.solve(ARM6.q0, np.zeros(3), drot=0.3 * rot[:, 0])
    assert res.converged and res.residual.shape == (6,)
    expected = ARM6.q0.copy()
    expected[4] = -0.3
    np.testing.assert_allclose(res.q_target, expected, atol=1e-4)


def test_null_space_pull_moves_only_the_redundant_joint() -> None:
    """wrist_roll does not move the ee point (its Jacobian column is 0), so it sits wholly in
    the null space of the position task: each iteration takes (1 - k) of its offset away."""
    ik = DampedLeastSquaresIK(ARM6, null_gain=0.5, max_step=1.0)
    q = ARM6.q0.copy()
    q[4] = 1.0
    res = ik.solve(q, np.array([0.03, 0.0, 0.0]))
    assert res.converged and res.iterations >= 1
    assert res.q_target[4] == pytest.approx(0.5 ** res.iterations, abs=1e-9)
    # without the pull, wrist_roll stays
    res0 = DampedLeastSquaresIK(ARM6, max_step=1.0).solve(q, np.array([0.03, 0.0, 0.0]))
    assert res0.q_target[4] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("target", [(1.0, 0.5, 0.3), (0.1, 0.0, -0.5), (0.0, 0.0, 1.0)])
def test_unreachable_target_stays_in_limits_and_reports_residual(
        ik: DampedLeastSquaresIK, target: tuple[float, float, float]) -> None:
    tgt = np.array(target)
    q = ARM6.q0.copy()
    for _ in range(6):
        res = ik.solve_to(q, tgt)
        q = res.q_target
    assert np.all(np.isfinite(q)) and np.all(np.isfinite(res.residual))
    assert np.all(q >= ARM6.q_min) and np.all(q <= ARM6.q_max)
    assert not res.converged
    assert res.pos_err >= np.linalg.norm(tgt) - REACH  # hand bound: 0.63, 0.04, 0.48 m
    if target == (0.1, 0.0, -0.5):  # straight down through the table: shoulder at its limit
        assert q[1] == pytest.approx(ARM6.q_max[1])


@settings(max_examples=40, deadline=None)
@given(target=st.tuples(*[st.floats(-0.8, 0.8)] * 3),
       u=st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6),
       with_rot=st.booleans())
def test_joint_limits_never_exceeded(ik: DampedLeastSquaresIK, target: tuple, u: list,
                                     with_rot: bool) -> None:
    q = ARM6.q_min + np.array(u) * (ARM6.q_max - ARM6.q_min)
    rot = np.array([0.0, 1.0, 0.0, 0.0]) if with_rot else None  # 180 deg about x
    res = ik.solve_to(q, np.array(target), rot)
    assert np.all(np.isfinite(res.q_target))
    assert np.all(res.q_target >= ARM6.q_min) and np.all(res.q_target <= ARM6.q_max)
    assert res.q_target[GRIPPER] == q[GRIPPER]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="subset"):
        DampedLeastSquaresIK(ARM6, joints=("shoulder_pan", "nope"))
    with pytest.raises(ValueError, match="no site"):
        DampedLeastSquaresIK(ARM6, site="nope")
    ik = DampedLeastSquaresIK(ARM6)
    with pytest.raises(ValueError, match="shape"):
        ik.solve(np.zeros(5), np.zeros(3))
