"""Safety stages, one by one, with hand-worked numbers; the chain's mode logic; configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl.config import ConfigError
from robot_rl.robots import get_robot
from robot_rl.safety import Mode, SafetyChain, SafetyConfig, build_stages
from robot_rl.safety.core import TickContext
from robot_rl.safety.robot_config import load_robot_config, make_safety_chain
from robot_rl.safety.stages import (
    CommandWatchdog,
    CommandWatchdogConfig,
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

QUAD = get_robot("quad12")
ARM = get_robot("arm6")
DT = 0.005


def state(spec=QUAD, t: float = 0.0, q=None, dq=None, **kw) -> RobotState:  # type: ignore[no-untyped-def]
    return RobotState(t=t, q=spec.q0.copy() if q is None else np.asarray(q, float),
                      dq=np.zeros(spec.n_joints) if dq is None else np.asarray(dq, float), **kw)


def cmd(spec=QUAD, q=None) -> JointCommand:  # type: ignore[no-untyped-def]
    n = spec.n_joints
    return JointCommand(spec.joint_names, spec.q0.copy() if q is None else np.asarray(q, float),
                        np.zeros(n), spec.kp.copy(), spec.kd.copy(), np.zeros(n))


def ctx(st: RobotState, t: float = 0.0, command_t: float | None = 0.0,
        last: JointCommand | None = None, spec=QUAD) -> TickContext:  # type: ignore[no-untyped-def]
    return TickContext(spec, st, t, st.t, command_t, DT, last)


# -- shaping stages --------------------------------------------------------------------
def test_joint_limits_clamp_with_margin() -> None:
    stage = JointLimits(QUAD, JointLimitsConfig(margin=0.05), DT)
    c = cmd()
    c.q_target[0] = 2.0      # hip limit 1.0472 → 0.9972
    c.q_target[2] = -3.0     # calf limit -2.7227 → -2.6727
    cx = ctx(state())
    stage(c, cx)
    assert c.q_target[0] == pytest.approx(1.0472 - 0.05)
    assert c.q_target[2] == pytest.approx(-2.7227 + 0.05)
    assert c.q_target[1] == QUAD.q0[1]
    assert [e.stage for e in cx.events] == ["joint_limits"] and cx.mode == Mode.ACTIVE


def test_rate_limit_steps_from_last_safe_target() -> None:
    stage = RateLimit(QUAD, RateLimitConfig(scale=0.5), DT)
    last = cmd()
    c = cmd()
    c.q_target += 1.0
    stage(c, ctx(state(), last=last))
    # hip/thigh: 30.1 * 0.5 * 0.005 = 0.07525 rad; calf: 20.06 * 0.5 * 0.005 = 0.05015 rad
    np.testing.assert_allclose(c.q_target - QUAD.q0, np.tile([0.07525, 0.07525, 0.05015], 4))
    c2 = cmd()
    c2.dq_target[:] = 100.0
    stage(c2, ctx(state(), last=last))
    np.testing.assert_allclose(c2.dq_target, QUAD.dq_max)


def test_torque_limit_moves_target_not_torque() -> None:
    stage = TorqueLimit(QUAD, TorqueLimitConfig(), DT)
    st = state(dq=np.r_[0.0, 2.0, np.zeros(10)])
    c = cmd()
    c.q_target[1] = st.q[1] + 2.0   # FR thigh: 20 * 2 - 0.5 * 2 = 39 Nm > 23.7
    c.q_target[4] = st.q[4] - 3.0   # FL thigh: -60 Nm < -23.7
    c.q_target[0] = st.q[0] + 2.0   # FR hip: the torque-feasible target lies beyond the limit
    stage(c, ctx(st))
    # q_t = q + (tau_lim - kd (0 - dq)) / kp = q + (23.7 + 0.5 * 2) / 20
    assert c.q_target[1] == pytest.approx(st.q[1] + (23.7 + 1.0) / 20)
    assert c.q_target[4] == pytest.approx(st.q[4] - 23.7 / 20)
    tau = c.kp * (c.q_target - st.q) + c.kd * (c.dq_target - st.dq) + c.tau_ff
    assert np.all(np.abs(tau[1:]) <= QUAD.tau_max[1:] + 1e-9)
    # position limits win over the torque bound: hip target = q + 23.7/20 = 1.085 > 1.0472
    assert c.q_target[0] == pytest.approx(QUAD.q_max[0])


def test_torque_limit_keeps_rate_box_when_feasible() -> None:
    stage = TorqueLimit(QUAD, TorqueLimitConfig(), DT)
    st = state()
    c = cmd()
    c.q_target[1] = st.q[1] + 2.0  # 40 Nm → torque box [q - 1.185, q + 1.185]
    cx = ctx(st)
    cx.r_lo = QUAD.q0 + 1.0        # rate box [q + 1.0, q + 1.1] (fully inside the torque box)
    cx.r_hi = QUAD.q0 + 1.1
    stage(c, cx)
    assert c.q_target[1] == pytest.approx(st.q[1] + 1.1)


def test_torque_limit_clamps_feed_forward_and_handles_zero_kp() -> None:
    stage = TorqueLimit(QUAD, TorqueLimitConfig(scale=0.5), DT)
    c = cmd()
    c.kp[:] = 0.0
    c.tau_ff[:] = 100.0
    st = state(dq=np.full(12, -100.0))
    stage(c, ctx(st))
    np.testing.assert_allclose(c.tau_ff, QUAD.tau_max * 0.5)
    tau = c.kd * (c.dq_target - st.dq) + c.tau_ff
    assert np.all(np.abs(tau) <= QUAD.tau_max * 0.5 + 1e-9)


def test_soft_start_ramps_from_measured_pose() -> None:
    stage = SoftStart(QUAD, SoftStartConfig(duration_s=2.0), DT)
    stage.reset(None)
    q_meas = QUAD.q0 + 0.4
    for t, alpha in [(10.0, 0.0), (10.5, 0.25), (11.0, 0.5), (12.0, 1.0), (13.0, 1.0)]:
        c = cmd()
        cx = ctx(state(q=q_meas, t=t), t=t)
        stage(c, cx)
        np.testing.assert_allclose(c.q_target, q_meas + alpha * (QUAD.q0 - q_meas))
        assert bool(cx.events) == (alpha < 1.0)


def test_soft_start_stands_up_to_the_default_pose_first() -> None:
    """stand_s: from a crouch to the default pose with the stand-up gains (the command
    ignored), the default pose held until the robot is there, then the ramp from the default
    pose to the command."""
    stage = SoftStart(QUAD, SoftStartConfig(duration_s=2.0, stand_s=1.0, stand_tol=0.1), DT)
    stage.reset(None)
    crouch, target = QUAD.q0 + 0.6, QUAD.q0 - 0.2
    q0 = QUAD.q0
    for t, meas, want, dq, standing in [
            (10.0, crouch, crouch, 0.0, True), (10.5, crouch, crouch + 0.5 * (q0 - crouch), 0.0,
                                                True),
            (11.0, crouch, q0, 0.0, True),  # ramp over, the robot not there: wait
            (11.5, q0 + 0.3, q0, 0.0, True),
            (12.0, q0 + 0.05, q0, 0.0, False),  # there (within 0.1 rad): the ramp begins
            (13.0, q0, q0 + 0.5 * (target - q0), 0.15, False), (14.0, q0, target, 0.3, False),
            (15.0, q0, target, 0.3, False)]:
        c = cmd()
        c.q_target[:], c.dq_target[:] = target, 0.3
        cx = ctx(state(q=meas, t=t), t=t)
        stage(c, cx)
        np.testing.assert_allclose(c.q_target, want)
        np.testing.assert_allclose(c.dq_target, dq)
        assert bool(cx.events) == (t < 14.0)
        np.testing.assert_allclose(c.kp, QUAD.stand_kp if standing else QUAD.kp)
    assert QUAD.stand_gain_ratio > 1.0  # (quad12: stiffer to lift itself off the ground)
    with pytest.raises(ValueError, match="stand_s must be >= 0"):
        SoftStartConfig(stand_s=-1.0).validate()


def test_soft_start_waits_for_the_default_pose_at_most_stand_wait_s() -> None:
    stage = SoftStart(QUAD, SoftStartConfig(duration_s=1.0, stand_s=1.0, stand_wait_s=2.0), DT)
    stage.reset(None)
    crouch, target = QUAD.q0 + 0.6, QUAD.q0 - 0.2  # the robot never gets up
    for t, want, what in [(0.0, crouch, "stand-up to the default pose"),
                          (2.9, QUAD.q0, "stand-up: waiting to reach the default pose"),
                          (3.5, QUAD.q0 + 0.5 * (target - QUAD.q0), "ramp")]:
        c = cmd()
        c.q_target[:] = target
        cx = ctx(state(q=crouch, t=t), t=t)
        stage(c, cx)
        np.testing.assert_allclose(c.q_target, want)
        assert cx.events[0].reason == what


# -- monitor stages ----------------------------------------------------------------------
def test_non_finite_holds_and_latches() -> None:
    stage = NonFinite(QUAD, NonFiniteConfig(latch=True), DT)
    stage.reset(None)
    c = cmd()
    c.kd[3] = np.inf
    cx = ctx(state())
    stage(c, cx)
    assert cx.mode == Mode.HOLD
    cx2 = ctx(state())
    stage(cmd(), cx2)
    assert cx2.mode == Mode.HOLD and "latched" in cx2.events[0].reason
    stage.reset(None)
    cx3 = ctx(state())
    stage(cmd(), cx3)
    assert cx3.mode == Mode.ACTIVE


def test_watchdogs() -> None:
    cw = CommandWatchdog(QUAD, CommandWatchdogConfig(hold_after_s=0.1, damp_after_s=0.5), DT)
    for age, mode in [(0.05, Mode.ACTIVE), (0.2, Mode.HOLD), (0.6, Mode.DAMPING)]:
        cx = ctx(state(t=1.0), t=1.0, command_t=1.0 - age)
        cw(cmd(), cx)
        assert cx.mode == mode
    cx = ctx(state(t=1.0), t=1.0, command_t=1.0)  # fresh again: damping stays latched
    cw(cmd(), cx)
    assert cx.mode == Mode.DAMPING and "latched" in cx.events[0].reason and cw.latched
    cw.reset(None)
    cx = ctx(state(), command_t=None)
    cw(cmd(), cx)
    assert cx.mode == Mode.HOLD and cx.events[0].reason == "no command received yet"
    sw = StateWatchdog(QUAD, StateWatchdogConfig(timeout_s=0.05), DT)
    sw.reset(None)
    cx = ctx(state(t=0.9), t=1.0)
    sw(cmd(), cx)
    assert cx.mode == Mode.DAMPING and "100 ms old" in cx.events[0].reason
    cx = ctx(state(t=1.0), t=1.0)  # fresh again: still latched
    sw(cmd(), cx)
    assert cx.mode == Mode.DAMPING


def test_fall_detect_roll_pitch_height() -> None:
    stage = FallDetect(QUAD, FallDetectConfig(max_roll=0.8, max_pitch=0.8,
                                             min_base_height=0.12), DT)
    half = 0.9 / 2
    cases = [(np.array([np.cos(half), np.sin(half), 0, 0]), 0.3, "roll 0.90"),
             (np.array([np.cos(half), 0, np.sin(half), 0]), 0.3, "pitch 0.90"),
             (np.array([1.0, 0, 0, 0]), 0.05, "base height 0.05"),
             (np.array([np.cos(0.3), 0, 0, np.sin(0.3)]), 0.3, "")]  # yaw only: fine
    for quat, z, reason in cases:
        stage.reset(None)
        cx = ctx(state(imu_quat=quat, base_pos=np.array([0, 0, z])))
        stage(cmd(), cx)
        if reason:
            assert cx.mode == Mode.DAMPING and reason in cx.events[0].reason
        else:
            assert cx.mode == Mode.ACTIVE


def test_tracking_guard_stops_after_duration() -> None:
    stage = TrackingGuard(QUAD, TrackingGuardConfig(max_error=0.5, duration_s=0.1), DT)
    stage.reset(None)
    last = cmd()
    far = state(q=QUAD.q0 + np.r_[0.0, 0.7, np.zeros(10)])
    modes = []
    for k in range(25):
        cx = ctx(far, t=k * DT, last=last)
        stage(cmd(), cx)
        modes.append(cx.mode)
    assert modes[:20] == [Mode.ACTIVE] * 20 and modes[20] == Mode.STOP  # 0.1 s = 20 ticks
    assert QUAD.joint_names[1] in cx.events[0].reason  # the joint that tripped it is named
    tau5 = 1.5 * QUAD.tau_max[5]
    over = state(tau=np.r_[np.zeros(5), tau5, np.zeros(6)])
    stage2 = TrackingGuard(QUAD, TrackingGuardConfig(duration_s=0.0), DT)
    stage2.reset(None)
    cx = ctx(over, last=last)
    stage2(cmd(), cx)
    assert cx.mode == Mode.STOP and "torque" in cx.events[0].reason
    assert f"{QUAD.joint_names[5]} torque {tau5:.1f}" in cx.events[0].reason
    # a passive robot (the bridge not yet active: its motors apply nothing) is not judged,
    # however far it sits from the targets: a stand-up after a long passive phase
    stage3 = TrackingGuard(QUAD, TrackingGuardConfig(max_error=0.5, duration_s=0.1), DT)
    stage3.reset(None)
    for k in range(40):
        cx = ctx(far, t=k * DT, last=last)
        cx.motors_on = False
        stage3(cmd(), cx)
        assert cx.mode == Mode.ACTIVE
    cx = ctx(far, t=40 * DT, last=last)
    stage3(cmd(), cx)  # motors on: the error counts from now, not from the passive phase
    assert cx.mode == Mode.ACTIVE and stage3.since == pytest.approx(40 * DT)


# -- the chain -------------------------------------------------------------------------------
def _chain(spec=QUAD) -> SafetyChain:  # type: ignore[no-untyped-def]
    return make_safety_chain(load_robot_config(robot=spec.name))


def test_chain_holds_before_first_command_then_ramps() -> None:
    chain = _chain()
    st = state(q=QUAD.q0 + 0.2, base_pos=np.array([0, 0, 0.3]))
    out = chain.step(None, st, t=0.0)
    assert chain.mode == Mode.HOLD
    np.testing.assert_allclose(out.q_target, st.q)
    out = chain.step(cmd(), st, t=DT)  # first command: soft start from the measured pose
    assert chain.mode == Mode.ACTIVE
    np.testing.assert_allclose(out.q_target, st.q)


def test_chain_estop_damps_in_the_same_tick_and_needs_reset() -> None:
    """(The arm: its fallback damps at once. The quadruped's e-stop sits it down first:
    tests/faults/test_quadruped_fallback.py.)"""
    chain = _chain(ARM)
    st = state(ARM)
    for k in range(3):
        chain.step(cmd(ARM), st, t=k * DT)
    chain.engage_estop("operator")
    out = chain.step(cmd(ARM), st, t=3 * DT)
    assert chain.mode == Mode.STOP
    np.testing.assert_array_equal(out.kp, np.zeros(6))
    np.testing.assert_array_equal(out.kd, ARM.damping_kd)
    for k in range(4, 10):  # a fresh command does not release it
        assert chain.step(cmd(ARM), st, t=k * DT).kp.sum() == 0.0
    moving = state(ARM, dq=np.full(6, 2.0))
    with pytest.raises(ValueError, match="reset refused: a joint moves at 2.00 rad/s"):
        chain.reset(moving)
    chain.reset(st)
    chain.step(cmd(ARM), st, t=10 * DT)
    assert chain.mode == Mode.ACTIVE
    assert chain.summary()["interventions"]["estop"]["count"] == 7


def test_rearm_clears_passive_phase_latches_but_keeps_stop_latches() -> None:
    chain = _chain()
    st = state(t=0.0, base_pos=np.array([0, 0, 0.3]))
    chain.step(None, st, t=0.2)  # a joint state 200 ms old while the robot was passive
    assert chain.mode == Mode.DAMPING
    chain.step(cmd(), state(t=0.25, base_pos=np.array([0, 0, 0.3])), t=0.25)
    assert chain.mode == Mode.DAMPING  # latched, though the state is fresh again
    moving = state(t=0.3, dq=np.full(12, 2.0), base_pos=np.array([0, 0, 0.3]))
    assert chain.rearm(moving) == ["state_watchdog"]  # no stillness check: soft start follows
    out = chain.step(cmd(), moving, t=0.3)
    assert chain.mode == Mode.ACTIVE
    np.testing.assert_allclose(out.q_target, moving.q)  # ramping in from the measured pose
    chain.engage_estop("operator")
    chain.step(cmd(), moving, t=0.305)
    assert chain.rearm(moving) == []  # the e-stop is not a passive-phase latch
    assert chain.step(cmd(), moving, t=0.31).kp.sum() == 0.0 and chain.mode == Mode.STOP


def test_chain_nan_burst_holds_last_safe_command() -> None:
    """(The arm's ``hold`` fallback; the quadruped stands instead:
    tests/faults/test_quadruped_fallback.py.)"""
    chain = _chain(ARM)
    st = state(ARM)
    for k in range(500):  # past the soft start
        st.t = k * DT
        good = chain.step(cmd(ARM), st, t=k * DT)
    bad = cmd(ARM)
    bad.q_target[5] = np.nan
    st.t = 500 * DT
    out = chain.step(bad, st, t=500 * DT)
    assert chain.mode == Mode.HOLD
    np.testing.assert_allclose(out.q_target, good.q_target)
    assert np.all(np.isfinite(out.q_target))


@pytest.mark.parametrize("field", ["q", "dq", "imu_quat"])
def test_non_finite_measured_state_damps_with_a_finite_output(field: str) -> None:
    """A NaN in the measured joints or IMU (an encoder / decoding fault) must not reach the
    motors: before this guard, a hold from the measured pose copied the NaN into q_target."""
    chain = _chain()
    st = state(base_pos=np.array([0, 0, 0.3]))
    chain.step(None, st, t=0.0)  # holding the measured pose, nothing stiff yet
    getattr(st, field)[1] = np.nan
    st.t = DT
    for command in (None, cmd()):
        out = chain.step(command, st, t=DT)
        assert chain.mode == Mode.DAMPING
        ev = {e.stage: e for e in chain.last_events}["state_watchdog"]
        assert "non-finite value in the measured" in ev.reason and ev.mode == Mode.DAMPING
        assert all(np.all(np.isfinite(a)) for a in (out.q_target, out.dq_target, out.kp,
                                                    out.kd, out.tau_ff))
        assert not out.kp.any()
    good = state(t=2 * DT, base_pos=np.array([0, 0, 0.3]))
    chain.step(cmd(), good, t=2 * DT)
    assert chain.mode == Mode.DAMPING  # latched until a reset, like a stale state
    chain.reset(good)
    chain.step(cmd(), good, t=3 * DT)
    assert chain.mode == Mode.ACTIVE


def test_wrong_command_size_is_held() -> None:
    chain = _chain()
    st = state(base_pos=np.array([0, 0, 0.3]))
    short = JointCommand(QUAD.joint_names[:6], np.zeros(6), np.zeros(6), np.ones(6),
                         np.ones(6), np.zeros(6))
    out = chain.step(short, st, t=0.0)
    assert chain.mode == Mode.HOLD and out.q_target.shape == (12,)


# -- configuration -----------------------------------------------------------------------------
MANDATORY = ("estop", "state_watchdog", "command_watchdog", "non_finite", "joint_limits",
             "rate_limit", "torque_limit")


def chain_yaml(**entries: str) -> str:
    """A ``safety:`` section with every mandatory stage, ``entries`` (flow-style YAML, keyed by
    stage type) in place of the default entry of that type or appended."""
    stages = [entries.pop(k, f"{{type: {k}}}") for k in MANDATORY] + list(entries.values())
    return f"safety: {{stages: [{', '.join(stages)}]}}\n"


@pytest.mark.parametrize(("yaml", "message"), [
    ("robot: quad12\njoints: {FR_hip_joint: {q_min: 0.5, q_max: 0.2}}\n", "missing joint"),
    ("robot: arm6\njoints:\n" + "".join(f"  {j}: {{}}\n" for j in ARM.joint_names[:5])
     + "  gripper: {q_min: 1.0, q_max: 0.5}\n", "joints.gripper: limits inverted"),
    ("robot: arm6\njoints:\n" + "".join(f"  {j}: {{}}\n" for j in ARM.joint_names[:5])
     + "  gripper: {kp: -3}\n", "joints.gripper.kp: gains must be >= 0"),
    ("robot: arm6\njoints:\n" + "".join(f"  {j}: {{}}\n" for j in ARM.joint_names[:5])
     + "  gripper: {q_max: 9.0}\n", "exceed the hardware range"),
    ("robot: arm6\njoints: {elbow: {}}\n", "unknown joint(s) ['elbow']"),
    ("robot: arm6\n" + chain_yaml(estopp="{type: estopp}"), "unknown stage type 'estopp'"),
    ("robot: arm6\n" + chain_yaml(rate_limit="{type: rate_limit, scale: -1}"),
     "safety.stages[5] (rate_limit): invalid value: scale must be > 0"),
    ("robot: arm6\n" + chain_yaml(joint_limits="{type: joint_limits, margni: 0.1}"),
     "key 'margni': unknown key"),
    ("robot: arm6\n" + chain_yaml(joint_limits="{type: joint_limits, margin: 2.0}"),
     "leaves no range"),
    ("robot: arm6\n" + chain_yaml(command_watchdog="{type: command_watchdog, hold_after_s: 1.0, "
                                  "damp_after_s: 0.5}"), "hold_after_s <= damp_after_s"),
])
def test_bad_robot_config_refused_at_load(tmp_path: Path, yaml: str, message: str) -> None:
    if "safety" not in yaml:
        yaml += chain_yaml()
    path = tmp_path / "robot.yaml"
    path.write_text(yaml)
    with pytest.raises(ConfigError) as err:
        load_robot_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_joint_overrides_tighten_the_spec(tmp_path: Path) -> None:
    joints = "".join(f"  {j}: {{}}\n" for j in ARM.joint_names[:5])
    path = tmp_path / "arm.yaml"
    path.write_text(f"robot: arm6\njoints:\n{joints}  gripper: {{q_min: 0.0, q_max: 1.0, "
                    f"kp: 5.0}}\n" + chain_yaml(joint_limits="{type: joint_limits, margin: 0.0}"))
    cfg = load_robot_config(path)
    spec = cfg.effective_spec()
    assert spec.q_min[5] == 0.0 and spec.q_max[5] == 1.0 and spec.kp[5] == 5.0
    chain = make_safety_chain(cfg)
    c = cmd(ARM)
    c.q_target[5] = 1.5
    q = ARM.q0.copy()
    q[5] = 1.0  # at the new limit: the rate limit (from the measured pose) leaves it there
    out = chain.step(c, state(ARM, q=q), t=0.0)
    assert out.q_target[5] == pytest.approx(1.0)


def test_build_stages_requires_stages() -> None:
    with pytest.raises(ValueError, match="safety.stages is empty"):
        build_stages(SafetyConfig(), QUAD, DT)


def test_torque_stage_clamps_gains() -> None:
    stage = TorqueLimit(QUAD, TorqueLimitConfig(max_gain_ratio=2.0), DT)
    c = cmd()
    c.kp[:] = 1e9
    c.kd[:] = -1.0
    cx = ctx(state())
    stage(c, cx)
    np.testing.assert_allclose(c.kp, QUAD.kp * 2.0)   # 40 N m/rad
    np.testing.assert_allclose(c.kd, 0.0)
    assert "gains clamped" in cx.events[0].reason
