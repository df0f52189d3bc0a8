"""Each rule of the safety stages against numbers worked out by hand, NaN / inf included, on a
two-joint robot (joint a: limits ±1 rad, 2 rad/s, 10 N m, kp 10, kd 0.5; joint b: ±2 rad,
4 rad/s, 20 N m, kp 20, kd 1). The stages' modes and reasons on the real robots are in
test_stages.py; the PD law itself in tests/control/test_pd.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from robot_rl.geometry import roll_pitch
from robot_rl.robots.spec import RobotSpec
from robot_rl.safety.chain import SafetyChain
from robot_rl.safety.core import Mode, TickContext, all_finite, any_true, clamp_inplace, meet
from robot_rl.safety.fallback import HoldFallback, HoldFallbackConfig
from robot_rl.safety.stages import (
    FallDetect,
    FallDetectConfig,
    JointLimits,
    JointLimitsConfig,
    NonFinite,
    NonFiniteConfig,
    RateLimit,
    RateLimitConfig,
    SoftStart,
    SoftStartConfig,
    StateWatchdog,
    StateWatchdogConfig,
    TorqueLimit,
    TorqueLimitConfig,
    TrackingGuard,
    TrackingGuardConfig,
)
from robot_rl.types import JointCommand, RobotState

TWO = RobotSpec(name="two", mjcf=Path("unused.xml"), joint_names=("a", "b"), q0=np.zeros(2),
                q_min=np.array([-1.0, -2.0]), q_max=np.array([1.0, 2.0]),
                dq_max=np.array([2.0, 4.0]), tau_max=np.array([10.0, 20.0]),
                kp=np.array([10.0, 20.0]), kd=np.array([0.5, 1.0]), physics_dt=0.001,
                policy_dt=0.01, action_scale=1.0, floating_base=False, base_body="base")
DT = 0.01
NAN, INF = np.nan, np.inf


def command(q_target, dq_target=(0.0, 0.0), kp=(10.0, 20.0), kd=(0.5, 1.0),  # type: ignore[no-untyped-def]
            tau_ff=(0.0, 0.0)) -> JointCommand:
    """A command whose arrays are the rows of one block, as the chain's working copy."""
    block = np.array([q_target, dq_target, kp, kd, tau_ff], dtype=np.float64)
    return JointCommand.from_block(TWO.joint_names, block)


def state(q=(0.0, 0.0), dq=(0.0, 0.0), **kw) -> RobotState:  # type: ignore[no-untyped-def]
    return RobotState(t=0.0, q=np.array(q, dtype=np.float64),
                      dq=np.array(dq, dtype=np.float64), **kw)


def context(st: RobotState, last: JointCommand | None = None, t: float = 0.0) -> TickContext:
    return TickContext(TWO, st, t, t, t, DT, last)


# -- helpers ------------------------------------------------------------------------------
def test_clamp_inplace_moves_only_what_is_outside() -> None:
    lo, hi = np.array([-1.0, -2.0]), np.array([1.0, 2.0])
    x = np.array([1.5, -3.0])
    assert clamp_inplace(x, lo, hi) is True
    np.testing.assert_array_equal(x, [1.0, -2.0])
    x = np.array([0.5, -1.5])
    assert clamp_inplace(x, lo, hi) is False
    np.testing.assert_array_equal(x, [0.5, -1.5])
    x = np.array([NAN, INF])  # NaN stays NaN (not "moved"); +inf is above: to hi
    assert clamp_inplace(x, lo, hi) is True
    assert np.isnan(x[0]) and x[1] == 2.0
    x = np.array([NAN, 0.0])
    assert clamp_inplace(x, lo, hi) is False and np.isnan(x[0]) and x[1] == 0.0
    x = np.array([-INF, 0.0])
    assert clamp_inplace(x, lo, hi) is True
    np.testing.assert_array_equal(x, [-1.0, 0.0])
    x = np.array([5.0, 5.0])  # a NaN bound clamps nothing on its joint
    assert clamp_inplace(x, lo, np.array([NAN, 1.0])) is True
    np.testing.assert_array_equal(x, [5.0, 1.0])
    x = np.array([-0.5, 3.0])  # scalar bounds
    assert clamp_inplace(x, 0.0, 2.5) is True
    np.testing.assert_array_equal(x, [0.0, 2.5])


def test_all_finite_and_any_true() -> None:
    assert all_finite(np.array([1e308, -1e308]), np.array([0.0]), [1.0, 2.0])
    assert not all_finite(np.array([0.0, 1.0]), np.array([0.0, NAN]))
    assert not all_finite(np.array([INF, 0.0]))
    assert not all_finite(np.array([0.0, -INF]), np.array([0.0]))
    assert not all_finite(np.zeros(2), None)  # type: ignore[arg-type]  # (not a number)
    assert all_finite(np.zeros((2, 2)), np.float32(1.0), np.array([7], dtype=np.int64))
    assert any_true(np.array([0.0, NAN]))  # NaN is not zero
    assert any_true(np.array([False, True]))
    assert not any_true(np.array([0.0, -0.0]))
    assert not any_true(np.zeros(2, dtype=bool))


def test_meet_keeps_the_first_box_and_takes_the_nearest_point_where_they_miss() -> None:
    lo, hi = np.full(4, -1.0), np.full(4, 1.0)
    # overlapping the top, inside, wholly above, wholly below
    lo2, hi2 = np.array([0.5, -0.2, 1.5, -3.0]), np.array([2.0, 0.3, 2.0, -2.0])
    a, b = meet(lo, hi, lo2, hi2)
    np.testing.assert_array_equal(a, [0.5, -0.2, 1.0, -1.0])
    np.testing.assert_array_equal(b, [1.0, 0.3, 1.0, -1.0])
    out = (np.zeros(4), np.zeros(4))
    a2, b2 = meet(lo, hi, lo2, hi2, out=out)
    assert a2 is out[0] and b2 is out[1]
    np.testing.assert_array_equal(a2, a)
    np.testing.assert_array_equal(b2, b)


def test_roll_pitch_by_hand() -> None:
    roll, pitch = roll_pitch(np.array([math.cos(0.15), math.sin(0.15), 0.0, 0.0]))
    assert roll == pytest.approx(0.3) and pitch == pytest.approx(0.0, abs=1e-15)
    roll, pitch = roll_pitch(np.array([math.cos(0.2), 0.0, math.sin(0.2), 0.0]))
    assert roll == pytest.approx(0.0, abs=1e-15) and pitch == pytest.approx(0.4)
    # 120 deg about (1, 1, 1): roll = atan2(2 (0.25 + 0.25), 1 - 2 (0.25 + 0.25)) = pi / 2,
    # pitch = asin(2 (0.25 - 0.25)) = 0
    roll, pitch = roll_pitch(np.array([0.5, 0.5, 0.5, 0.5]))
    assert roll == pytest.approx(math.pi / 2) and pitch == pytest.approx(0.0, abs=1e-15)
    # slightly more than a unit quaternion: sin(pitch) = 2 x 0.7072^2 = 1.00027, clipped to 1
    assert roll_pitch(np.array([0.7072, 0.0, 0.7072, 0.0]))[1] == pytest.approx(math.pi / 2)
    roll, pitch = roll_pitch(np.array([NAN, 0.0, 0.0, 0.0]))
    assert math.isnan(roll) and math.isnan(pitch)


# -- monitors -------------------------------------------------------------------------------
def test_non_finite_guard_and_state_watchdog_tell_huge_from_non_finite() -> None:
    guard = NonFinite(TWO, NonFiniteConfig(latch=False), DT)
    guard.reset(None)
    for bad, mode in [((1e308, -1e308), Mode.ACTIVE), ((INF, 0.0), Mode.HOLD),
                      ((0.0, NAN), Mode.HOLD)]:
        cx = context(state())
        guard(command((0.0, 0.0), tau_ff=bad), cx)
        assert cx.mode == mode, bad
    dog = StateWatchdog(TWO, StateWatchdogConfig(latch=False), DT)
    dog.reset(None)
    for st, mode in [(state(dq=(1e308, 0.0)), Mode.ACTIVE),
                     (state(q=(0.0, -INF)), Mode.DAMPING),
                     (state(imu_quat=np.array([NAN, 0.0, 0.0, 0.0])), Mode.DAMPING)]:
        cx = context(st)
        dog(command((0.0, 0.0)), cx)
        assert cx.mode == mode


def test_fall_detect_on_a_nan_orientation_leaves_it_to_the_state_watchdog() -> None:
    stage = FallDetect(TWO, FallDetectConfig(max_roll=0.8, max_pitch=0.8), DT)
    stage.reset(None)
    cx = context(state(imu_quat=np.array([NAN, 0.0, 0.0, 0.0])))
    stage(command((0.0, 0.0)), cx)
    assert cx.mode == Mode.ACTIVE and not stage.fallen
    # pitch 0.9 rad (> 0.8): fallen
    cx = context(state(imu_quat=np.array([math.cos(0.45), 0.0, math.sin(0.45), 0.0])))
    stage(command((0.0, 0.0)), cx)
    assert cx.mode == Mode.DAMPING and "pitch 0.90 rad" in cx.events[0].reason


def _guard(max_error: float) -> TrackingGuard:
    stage = TrackingGuard(TWO, TrackingGuardConfig(max_error=max_error, duration_s=0.0), DT)
    stage.reset(None)
    return stage


def test_tracking_guard_error_and_torque_by_hand() -> None:
    last = command((0.3, 0.1))
    # |q - target| = (|0.1 - 0.3|, |-0.4 - 0.1|) = (0.2, 0.5): the largest, 0.5, on joint b
    far = state(q=(0.1, -0.4))
    cx = context(far, last)
    _guard(0.45)(command((0.0, 0.0)), cx)
    assert cx.mode == Mode.STOP
    assert cx.events[0].reason.startswith("b tracking error 0.50 rad > 0.45")
    cx = context(far, last)
    _guard(0.55)(command((0.0, 0.0)), cx)
    assert cx.mode == Mode.ACTIVE
    # a NaN error makes the largest error NaN, which trips nothing (the state watchdog's)
    cx = context(state(q=(NAN, -0.4)), last)
    _guard(0.45)(command((0.0, 0.0)), cx)
    assert cx.mode == Mode.ACTIVE
    # torque trip level 1.2 x (10, 20) = (12, 24): -25 on joint b is over, -23 is not
    for tau, mode in [((11.0, -25.0), Mode.STOP), ((11.0, -23.0), Mode.ACTIVE),
                      ((NAN, 0.0), Mode.STOP), ((0.0, -INF), Mode.STOP)]:
        cx = context(state(q=(0.3, 0.1), tau=np.array(tau)), last)
        _guard(0.45)(command((0.0, 0.0)), cx)
        assert cx.mode == mode, tau
    cx = context(state(q=(0.3, 0.1), tau=np.array([11.0, -25.0])), last)
    _guard(0.45)(command((0.0, 0.0)), cx)
    assert cx.events[0].reason.startswith("b torque -25.0 N m above 1.2 x the limit")
    # a damped last output (kp all zero) tracks nothing, however far or strained
    cx = context(state(q=(0.1, -0.4), tau=np.array([50.0, 50.0])),
                 command((0.3, 0.1), kp=(0.0, 0.0)))
    _guard(0.45)(command((0.0, 0.0)), cx)
    assert cx.mode == Mode.ACTIVE


# -- shaping stages -------------------------------------------------------------------------
def test_soft_start_ramp_by_hand() -> None:
    stage = SoftStart(TWO, SoftStartConfig(duration_s=1.0), DT)
    stage.reset(None)
    measured = state(q=(0.2, -0.4))
    stage(command((1.0, 0.6)), context(measured, t=0.0))  # the ramp starts here
    c = command((1.0, 0.6), dq_target=(2.0, -2.0), tau_ff=(1.0, 3.0))
    cx = context(measured, t=0.25)
    stage(c, cx)
    # alpha 0.25: 0.2 + 0.25 (1.0 - 0.2) = 0.4; -0.4 + 0.25 (0.6 + 0.4) = -0.15
    np.testing.assert_allclose(c.q_target, [0.4, -0.15], rtol=0, atol=1e-15)
    np.testing.assert_allclose(c.dq_target, [0.5, -0.5], rtol=0, atol=1e-15)
    np.testing.assert_allclose(c.tau_ff, [0.25, 0.75], rtol=0, atol=1e-15)
    assert cx.events[0].reason == "ramp"
    c = command((1.0, 0.6))
    cx = context(measured, t=1.0)
    stage(c, cx)  # alpha 1: the command as it is, no event
    np.testing.assert_array_equal(c.q_target, [1.0, 0.6])
    assert not cx.events


def test_joint_limits_by_hand() -> None:
    stage = JointLimits(TWO, JointLimitsConfig(margin=0.1), DT)
    c = command((1.5, -1.95))
    cx = context(state())
    stage(c, cx)
    np.testing.assert_allclose(c.q_target, [0.9, -1.9])  # limits ±1, ±2 less the margin
    assert cx.events[0].reason == "position target clamped to the joint limits"
    np.testing.assert_allclose(cx.q_lo, [-0.9, -1.9])
    np.testing.assert_allclose(cx.q_hi, [0.9, 1.9])
    c = command((NAN, 0.5))  # NaN is the non-finite guard's: left as it is
    cx = context(state())
    stage(c, cx)
    assert np.isnan(c.q_target[0]) and c.q_target[1] == 0.5 and not cx.events


def _rate(c: JointCommand, cx: TickContext) -> None:
    RateLimit(TWO, RateLimitConfig(scale=1.0), DT)(c, cx)


def test_rate_limit_box_by_hand() -> None:
    # step = dq_max x scale x dt = (2, 4) x 0.01 = (0.02, 0.04) rad
    last = command((0.0, 0.5))
    c = command((0.1, 0.45), dq_target=(3.0, -1.0))
    cx = context(state(q=(0.3, 0.0)), last)
    _rate(c, cx)
    # box around the last stiff target: [-0.02, 0.02] and [0.46, 0.54]
    np.testing.assert_allclose(c.q_target, [0.02, 0.46])
    np.testing.assert_allclose(c.dq_target, [2.0, -1.0])  # |dq_target| <= dq_max
    assert cx.r_lo is not None and cx.r_hi is not None
    np.testing.assert_allclose(cx.r_lo, [-0.02, 0.46])
    np.testing.assert_allclose(cx.r_hi, [0.02, 0.54])
    assert [e.stage for e in cx.events] == ["rate_limit"]
    # inside the box: untouched, no event
    c = command((0.01, 0.5), dq_target=(1.0, -4.0))
    cx = context(state(), last)
    _rate(c, cx)
    np.testing.assert_array_equal(c.q_target, [0.01, 0.5])
    np.testing.assert_array_equal(c.dq_target, [1.0, -4.0])
    assert not cx.events


def test_rate_limit_steps_from_the_measured_pose_after_damping() -> None:
    c = command((0.0, 0.0))
    _rate(c, context(state(q=(0.3, 0.0)), command((0.0, 0.5), kp=(0.0, 0.0))))
    np.testing.assert_allclose(c.q_target, [0.28, 0.0])  # [0.28, 0.32], [-0.04, 0.04]
    c = command((0.0, 0.0))
    _rate(c, context(state(q=(0.3, 0.0))))  # no output yet: the same
    np.testing.assert_allclose(c.q_target, [0.28, 0.0])


def test_rate_limit_position_bounds_have_priority() -> None:
    # the joint-limit stage's bounds (0.01 on joint a) cut the rate box [-0.02, 0.02]
    c = command((0.1, 0.0))
    cx = context(state(), command((0.0, 0.0)))
    cx.q_lo, cx.q_hi = np.array([-1.0, -2.0]), np.array([0.01, 2.0])
    _rate(c, cx)
    np.testing.assert_allclose(c.q_target, [0.01, 0.0])
    # the robot beyond its limits: the box [1.48, 1.52] lies above q_max 1, [-2.54, -2.46]
    # below q_min -2: the target goes to the nearest bound
    c = command((1.2, 0.0))
    _rate(c, context(state(q=(1.5, -2.5))))
    np.testing.assert_allclose(c.q_target, [1.0, -2.0])


def test_rate_limit_with_a_nan_reference_clamps_nothing_on_that_joint() -> None:
    c = command((0.5, 1.0))
    cx = context(state(q=(NAN, 0.0)))
    _rate(c, cx)
    np.testing.assert_allclose(c.q_target, [0.5, 0.04])  # joint b: [-0.04, 0.04]
    assert cx.r_lo is not None and np.isnan(cx.r_lo[0])


def _torque(c: JointCommand, cx: TickContext, scale: float = 1.0) -> None:
    TorqueLimit(TWO, TorqueLimitConfig(scale=scale, max_gain_ratio=5.0), DT)(c, cx)


def test_torque_limit_clamps_gains_and_feed_forward() -> None:
    # kp_max = 5 x (10, 20) = (50, 100); kd_max = 5 x max(kd, damping kd = 2 kd) = (5, 10)
    c = command((0.0, 0.0), kp=(-1.0, 500.0), kd=(6.0, -1.0), tau_ff=(15.0, -30.0))
    cx = context(state())
    _torque(c, cx)
    np.testing.assert_array_equal(c.kp, [0.0, 100.0])
    np.testing.assert_array_equal(c.kd, [5.0, 0.0])
    np.testing.assert_array_equal(c.tau_ff, [10.0, -20.0])
    assert [e.reason for e in cx.events] == ["gains clamped to [0, max_gain_ratio x spec]",
                                             "feed-forward torque clamped"]
    c = command((0.0, 0.0), kp=(50.0, 0.0), kd=(5.0, 10.0), tau_ff=(10.0, -20.0))
    cx = context(state())
    _torque(c, cx)  # all at their bounds: nothing to do
    assert not cx.events


def test_torque_limit_moves_the_target_by_hand() -> None:
    # joint a: tau = 20 (2 - 0) + 0.5 (0 - 1) = 39.5 > 10; rest = -0.5, so the largest
    # feasible target is q + (10 - rest) / kp = (10 + 0.5) / 20 = 0.525
    # joint b: tau = 20 (-0.5 - 0) = -10, within 20: untouched
    c = command((2.0, -0.5), kp=(20.0, 20.0))
    st = state(dq=(1.0, 0.0))
    cx = context(st)
    _torque(c, cx)
    np.testing.assert_allclose(c.q_target, [0.525, -0.5], rtol=0, atol=1e-15)
    assert cx.events[0].reason == "position target moved to keep the PD torque within limits"
    tau = c.kp * (c.q_target - st.q) + c.kd * (c.dq_target - st.dq) + c.tau_ff
    np.testing.assert_allclose(tau, [10.0, -10.0])
    # scale 0.5: limit (5, 10): a: (5 + 0.5) / 20 = 0.275; b: -10 is at the limit, untouched
    c = command((2.0, -0.5), kp=(20.0, 20.0))
    _torque(c, context(st), scale=0.5)
    np.testing.assert_allclose(c.q_target, [0.275, -0.5], rtol=0, atol=1e-15)


def test_torque_limit_priorities_position_then_torque_then_rate() -> None:
    # the rate box [0.3, 0.4] lies inside the torque box [-0.5, 0.5] (kp 20, limit 10)
    c = command((2.0, 0.0), kp=(20.0, 20.0))
    cx = context(state())
    cx.r_lo, cx.r_hi = np.array([0.3, -0.04]), np.array([0.4, 0.04])
    _torque(c, cx)
    np.testing.assert_allclose(c.q_target, [0.4, 0.0])
    # a rate box [0.6, 0.7] that misses the torque box is ignored: the torque limit holds
    c = command((2.0, 0.0), kp=(20.0, 20.0))
    cx = context(state())
    cx.r_lo, cx.r_hi = np.array([0.6, -0.04]), np.array([0.7, 0.04])
    _torque(c, cx)
    np.testing.assert_allclose(c.q_target, [0.5, 0.0])
    # torque box [1.8 - 0.5, 1.8 + 0.5] = [1.3, 2.3] wholly above q_max 1: position wins
    c = command((-1.0, 0.0), kp=(20.0, 20.0))
    _torque(c, context(state(q=(1.8, 0.0))))
    np.testing.assert_allclose(c.q_target, [1.0, 0.0])
    # the joint-limit stage's tighter bounds count as the position bounds: 0.3 < 0.5
    c = command((2.0, 0.0), kp=(20.0, 20.0))
    cx = context(state())
    cx.q_lo, cx.q_hi = np.array([-0.3, -1.0]), np.array([0.3, 1.0])
    _torque(c, cx)
    np.testing.assert_allclose(c.q_target, [0.3, 0.0])


def test_torque_limit_without_stiffness_removes_the_damping_torque() -> None:
    # joint a: kp 0, tau = 0.5 (0 - (-30)) = 15 > 10: dq_target = dq = -30 (tau 0);
    # joint b: kp 20, tau = 20 (0.1 - 0) + 1 (0 - 0) = 2: untouched
    c = command((0.7, 0.1), kp=(0.0, 20.0))
    _torque(c, context(state(dq=(-30.0, 0.0))))
    np.testing.assert_array_equal(c.dq_target, [-30.0, 0.0])
    np.testing.assert_array_equal(c.q_target, [0.7, 0.1])


def test_torque_limit_a_nan_torque_is_not_over() -> None:
    c = command((2.0, 2.0), kp=(20.0, 20.0))
    cx = context(state(dq=(NAN, 0.0)))
    _torque(c, cx)
    # joint a's predicted torque is NaN: untouched; joint b: 40 N m > 20 -> (20 - 0) / 20 = 1
    assert c.q_target[0] == 2.0 and c.q_target[1] == pytest.approx(1.0)


# -- the chain's working copy, the hold ---------------------------------------------------------
def test_working_copy_converts_and_refuses() -> None:
    chain = SafetyChain(TWO, [], DT)
    q_t = [0.5, -0.5]  # a list
    kp = np.array([10, 20])  # int64
    kd = np.array([0.5, 1.0], dtype=np.float32)
    dq_t, ff = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    work = chain._working_copy(JointCommand(TWO.joint_names, q_t, dq_t, kp, kd, ff))  # type: ignore[arg-type]
    assert work is not None and work.q_target.base is not None
    block = work.q_target.base
    assert block.shape == (5, 2) and block.dtype == np.float64
    np.testing.assert_array_equal(block, [[0.5, -0.5], [1.0, 2.0], [10.0, 20.0], [0.5, 1.0],
                                          [3.0, 4.0]])
    for row in (work.q_target, work.dq_target, work.kp, work.kd, work.tau_ff):
        assert row.base is block
    work.dq_target[:] = 0.0  # the caller's arrays are never touched
    np.testing.assert_array_equal(dq_t, [1.0, 2.0])
    for bad in (np.zeros(3), np.zeros((1, 2)), "ab", None, 1.0):
        assert chain._working_copy(JointCommand(TWO.joint_names, bad, dq_t, kp, kd, ff)) is None  # type: ignore[arg-type]


def test_hold_clamps_the_held_target_into_the_limits() -> None:
    hold = HoldFallback(TWO, HoldFallbackConfig(), DT)
    out = hold.hold(context(state(q=(0.0, 0.0)), command((1.5, -0.5))))
    np.testing.assert_array_equal(out.q_target, [1.0, -0.5])  # the last stiff target
    np.testing.assert_array_equal(out.kp, TWO.kp)
    out = hold.hold(context(state(q=(-3.0, 0.25)), command((0.5, 0.5), kp=(0.0, 0.0))))
    np.testing.assert_array_equal(out.q_target, [-1.0, 0.25])  # damped: the measured pose
