"""Fault injection in simulation on both robots, the safety chain closed around MuJoCo:
NaN bursts, a frozen policy, a stale state, spikes, ± max oscillation, e-stop mid-motion, and
10 s of pure noise as the quadruped's policy. What HOLD and a controlled stop command is each
robot's fallback (arm6 ``hold``: the last safe target, damping at once; quad12 ``stand``:
recovery, stand, sit-down; robot_rl/safety/fallback.py)."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.safety.core import Mode
from robot_rl.safety.fallback import HoldFallback, StandFallback
from robot_rl.safety.harness import Fault, SafetyHarness, TickLog
from robot_rl.types import JointCommand, RobotState

ROBOTS = ["quad12", "arm6"]


def wave_policy(h: SafetyHarness, amp: float = 0.15) -> object:
    """A smooth, benign policy: small sinusoids around the default pose."""
    s = h.spec
    phase = np.linspace(0, np.pi, s.n_joints)

    def act(state: RobotState, t: float) -> JointCommand:
        q = s.q0 + amp * np.sin(2 * np.pi * 0.5 * t + phase)
        return JointCommand(s.joint_names, q, np.zeros(s.n_joints), s.kp.copy(), s.kd.copy(),
                            np.zeros(s.n_joints))
    return act


def run(robot: str, faults: list[Fault], seconds: float = 4.0) -> tuple[SafetyHarness, TickLog]:
    h = SafetyHarness(robot)
    log = h.run(wave_policy(h), seconds, faults)  # type: ignore[arg-type]
    assert log.violations == [], log.violations[:3]
    assert np.all(np.isfinite(log.q_target)) and np.all(np.isfinite(log.tau))
    assert np.all(np.abs(log.tau) <= h.spec.tau_max + 1e-9)
    return h, log


def tick(h: SafetyHarness, t: float) -> int:
    return int(round(t / h.control_dt))


def stand_until(fb: StandFallback, t0: float) -> float:
    """When a stand episode begun at ``t0`` from ACTIVE reaches the standing pose [s]."""
    return t0 + (fb.cfg.recover_s if fb.recovery is not None else 0.0) + fb.cfg.stand_s


@pytest.mark.parametrize("robot", ROBOTS)
def test_benign_policy_runs_active_without_interventions_after_soft_start(robot: str) -> None:
    h, log = run(robot, [], seconds=4.0)
    after = log.mode[tick(h, 2.5):]
    assert np.all(after == Mode.ACTIVE)
    assert not log.fell.any()


@pytest.mark.parametrize("robot", ROBOTS)
def test_nan_burst_holds_the_last_safe_target(robot: str) -> None:
    h, log = run(robot, [Fault("nan", start=2.5, end=2.6)])
    k = tick(h, 2.5)
    assert log.mode[k - 1] == Mode.ACTIVE and log.mode[k] == Mode.HOLD
    assert np.all(log.mode[k:] == Mode.HOLD)  # latched until reset
    assert h.chain.summary()["interventions"]["non_finite"]["count"] > 0
    fb = h.chain.fallback
    if isinstance(fb, HoldFallback):  # the last safe target, unchanged
        np.testing.assert_allclose(log.q_target[k:], np.repeat(log.q_target[k - 1:k], len(
            log.q_target) - k, axis=0))
        return
    assert isinstance(fb, StandFallback)  # stiff all along, then the standing pose, upright
    assert np.all(log.kp[k:] > 0) and not log.fell.any()
    stood = tick(h, stand_until(fb, 2.5)) + 1
    np.testing.assert_allclose(log.q_target[stood:], np.repeat(fb.q_stand[None], len(
        log.q_target) - stood, axis=0))


@pytest.mark.parametrize("robot", ROBOTS)
def test_frozen_policy_holds_then_damps(robot: str) -> None:
    h, log = run(robot, [Fault("freeze", start=2.5)], seconds=6.5)
    cw = next(s for s in h.chain.stages if s.name == "command_watchdog").cfg
    last_cmd_t = (tick(h, 2.5) - 1) // h.policy_every * h.policy_every * h.control_dt
    first_hold = log.first(log.mode == Mode.HOLD)
    first_damp = log.first(log.mode == Mode.DAMPING)
    assert first_hold is not None and first_damp is not None
    # hold in the first tick past hold_after_s, damping in the first tick past damp_after_s
    tol = 1.01 * h.control_dt
    assert log.t[first_hold] - last_cmd_t == pytest.approx(cw.hold_after_s, abs=tol)
    assert log.t[first_damp] - last_cmd_t == pytest.approx(cw.damp_after_s, abs=tol)
    fb = h.chain.fallback
    limp = first_damp  # the hold fallback damps at once
    if isinstance(fb, StandFallback):  # the HOLD's episode goes on, then sits down, then damps
        sit = max(log.t[first_damp], stand_until(fb, log.t[first_hold]))
        limp = tick(h, sit + fb.cfg.sit_s + fb.cfg.settle_s) + 1
        assert np.all(log.kp[first_damp:limp - 1] > 0)
        np.testing.assert_allclose(log.q_target[limp - 2], fb.q_rest)
    # (damped, the quadruped then sinks onto its belly, below the fall height: no tip-over)
    assert np.all(log.kp[limp:] == 0.0) and not log.fell[:limp].any()


@pytest.mark.parametrize("robot", ROBOTS)
def test_stale_state_damps_within_timeout(robot: str) -> None:
    h, log = run(robot, [Fault("stale_state", start=2.5, end=3.0)])
    sw = next(s for s in h.chain.stages if s.name == "state_watchdog").cfg
    first = log.first(log.mode == Mode.DAMPING)
    assert first is not None
    assert log.t[first] - 2.5 == pytest.approx(sw.timeout_s, abs=1.5 * h.control_dt)
    assert np.all(log.mode[first:] == Mode.DAMPING)  # latched, also after the state recovers


@pytest.mark.parametrize("robot", ROBOTS)
def test_spikes_are_rate_limited(robot: str) -> None:
    ss = next(s for s in SafetyHarness(robot).chain.stages if s.name == "soft_start").cfg
    t0 = ss.stand_s + ss.duration_s + 0.5  # once the soft start is done
    h, log = run(robot, [Fault("spike", start=t0, end=t0 + 0.5, value=100.0)],
                 seconds=t0 + 1.5)
    k0 = tick(h, t0 - 0.1)
    steps = np.abs(np.diff(log.q_target[k0:], axis=0))
    rl = next(s for s in h.chain.stages if s.name == "rate_limit")
    # a step beyond the rate limit happens only where the torque limit had to pull the target
    # back towards the measured position (documented priority: torque over rate)
    # (between stiff commands: a damping command's target means nothing, its kp is 0)
    stiff = log.kp[k0:].any(axis=1)
    steps[~(stiff[1:] & stiff[:-1])] = 0.0
    big = np.argwhere(steps > rl.step + 1e-9)
    for i, j in big:
        k = k0 + i + 1
        assert abs(log.q_target[k, j] - log.q[k, j]) < abs(log.q_target[k - 1, j] - log.q[k, j])
    assert len(big) < 0.01 * steps.size
    lo, hi = h.spec.q_min, h.spec.q_max
    held = log.q_target[log.kp.any(axis=1)]
    assert np.all((held >= lo) & (held <= hi))


@pytest.mark.parametrize("robot", ROBOTS)
def test_max_oscillation_stays_within_limits(robot: str) -> None:
    h, log = run(robot, [Fault("oscillate", start=2.0)], seconds=4.0)
    jl = next(s for s in h.chain.stages if s.name == "joint_limits")
    stiff = log.kp.any(axis=1)
    assert np.all(log.q_target[stiff] >= jl.lo - 1e-9)
    assert np.all(log.q_target[stiff] <= jl.hi + 1e-9)


@pytest.mark.parametrize("robot", ROBOTS)
def test_estop_mid_motion_damps_in_the_same_tick(robot: str) -> None:
    """STOP in the same tick; damping at once (arm6) or after the controlled stop (quad12)."""
    h, log = run(robot, [Fault("estop", start=2.5)], seconds=6.5)
    k = tick(h, 2.5)
    assert log.mode[k - 1] == Mode.ACTIVE
    assert log.mode[k] == Mode.STOP and np.all(log.mode[k:] == Mode.STOP)
    fb = h.chain.fallback
    limp = k
    if isinstance(fb, StandFallback):
        limp = tick(h, stand_until(fb, 2.5) + fb.cfg.sit_s + fb.cfg.settle_s) + 1
        assert np.all(log.kp[k:limp - 1] > 0) and not log.fell[:limp].any()
    assert np.all(log.kp[limp:] == 0.0)
    state = h.robot.read_state()
    state.dq[:] = 0.0
    state.t = 10.0
    h.chain.reset(state)
    out = h.chain.step(None, state, t=10.0)
    if h.true_fall():  # a damped quadruped ends on the ground: fall detection keeps it damped
        assert h.chain.mode == Mode.DAMPING
        assert "fall_detect" in {e.stage for e in h.chain.last_events}
    else:  # released into hold (no command yet), not straight back into motion
        assert h.chain.mode == Mode.HOLD and out.kp.any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quad12_pure_noise_policy_for_10_s(seed: int) -> None:
    """10 s of uniform noise in the full action range: no limit exceeded, the fall is
    detected and damping commanded in the tick the fall is visible."""
    h = SafetyHarness("quad12")
    s = h.spec
    rng = np.random.default_rng(seed)

    def noise(state: RobotState, t: float) -> JointCommand:
        q = s.q0 + s.action_scale * rng.uniform(-4.0, 4.0, s.n_joints)
        return JointCommand(s.joint_names, q, np.zeros(12), s.kp.copy(), s.kd.copy(),
                            np.zeros(12))

    log = h.run(noise, 10.0)
    assert log.violations == []
    assert np.all(np.abs(log.tau) <= s.tau_max + 1e-9)
    jl = next(st for st in h.chain.stages if st.name == "joint_limits")
    stiff = log.kp.any(axis=1)
    assert np.all((log.q_target[stiff] >= jl.lo - 1e-9) & (log.q_target[stiff] <= jl.hi + 1e-9))
    # measured joints stay within the hardware range up to the joint stops' compliance
    excess = np.maximum(log.q - s.q_max, s.q_min - log.q).max()
    assert excess < 0.05
    fall = log.first(log.fell)
    assert fall is not None, "the noise policy did not make the robot fall"
    damp = log.first(log.mode >= Mode.DAMPING)
    assert damp is not None and damp - fall <= 1
    assert np.all(log.kp[damp:] == 0.0)
