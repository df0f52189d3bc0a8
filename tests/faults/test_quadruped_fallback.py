"""Issue case 6: a position HOLD tipped a walking quadruped over. Forced into HOLD the three
ways of the issue — an operator's intervention without a teleop command, a dead policy, a
NaN policy output — quad12, walking at 1 m/s on the reality proxy (`DeployLoop`, backend
``proxy``, the shipped PPO policy), must stay up: its fallback (robot_rl/safety/fallback.py,
``stand``) stops it with the recovery bundle, stands it at q0, and a controlled stop (the
e-stop; the dead policy's damping) sits it down, then damps it. Judged on the simulator's
ground truth, never the chain's own view. The e-stop's sequence is also checked on the chain
alone, against the arm's immediate damping."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from robot_rl.config import load_config, resolve
from robot_rl.deploy.config import DeployConfig
from robot_rl.deploy.loop import DeployLoop
from robot_rl.geometry import roll_pitch
from robot_rl.safety.core import Mode
from robot_rl.safety.fallback import StandFallback
from robot_rl.safety.robot_config import load_robot_config, make_safety_chain
from robot_rl.types import JointCommand, RobotState

PROXY = "configs/deploy/quad12_proxy.yaml"
SPEED = 1.0      # m/s, commanded from the activation on
AT_SPEED_S = 0.5  # s: the fault comes this long after the robot first walks at 0.6 x SPEED
STAND_Z = 0.18   # m: the base stays above this until the sit-down (standing ~0.26, fall 0.15)
UPRIGHT = 0.5    # rad: |roll|, |pitch| stay below this (the old HOLD: roll 0.82, then a fall)


class FaultyPolicy:
    """The deployed `PolicyController`, made to fail on demand: ``dead`` (it raises, as a
    stalled or crashed policy: nothing is submitted) or ``nan`` (NaN targets)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.fault = inner, ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def step(self, state: RobotState, t: float) -> JointCommand:
        if self.fault == "dead":
            raise ValueError("policy dead (test)")
        cmd = self.inner.step(state, t)
        if self.fault == "nan":
            cmd.q_target[:] = np.nan
        return cmd


@dataclass
class Trace:
    """Samples at 50 Hz from the bridge's loop: time since activation [s], the simulator's base
    height [m], roll, pitch [rad], forward speed [m/s]; the chain's mode; the sent command's
    targets and whether it was stiff. ``fault``: when the fault came [s since activation];
    ``safety``: the supervisor's diagnostics at the end."""

    t: np.ndarray
    z: np.ndarray
    roll: np.ndarray
    pitch: np.ndarray
    vx: np.ndarray
    mode: np.ndarray
    q_target: np.ndarray
    stiff: np.ndarray
    fault: float
    safety: dict[str, Any]

    def at(self, t: float) -> int:
        return int(np.searchsorted(self.t, t))

    def window(self, t0: float, t1: float) -> slice:
        return slice(self.at(t0), self.at(t1))


class Probe:
    """``on_tick`` hook of the `DeployLoop`: every 10th bridge tick (50 Hz at 500 Hz)."""

    def __init__(self) -> None:
        self.loop: DeployLoop | None = None
        self.rows: list[tuple[Any, ...]] = []
        self._k = 0

    def __call__(self, bridge: Any, state: RobotState) -> None:
        self._k += 1
        loop, sent = self.loop, bridge.last_sent
        if self._k % 10 or loop is None or sent is None or bridge.active_since is None:
            return
        read_truth = loop.backend.truth
        assert read_truth is not None  # (a simulated backend)
        truth = read_truth()
        assert truth.base_pos is not None and truth.base_lin_vel is not None  # (simulator)
        r, p = roll_pitch(truth.imu_quat)
        self.rows.append((time.monotonic() - bridge.active_since, float(truth.base_pos[2]), r,
                          p, float(truth.base_lin_vel[0]), int(loop.supervisor.mode),
                          sent.q_target.copy(), bool(sent.kp.any())))

    def walking(self, speed: float) -> bool:
        """The last 0.2 s averaged over 0.6 x ``speed`` forward (the policy is in control)."""
        rows = self.rows[-10:]
        return len(rows) == 10 and float(np.mean([r[4] for r in rows])) > 0.6 * speed

    def trace(self, fault: float, safety: dict[str, Any]) -> Trace:
        c = list(zip(*self.rows))
        return Trace(t=np.asarray(c[0]), z=np.asarray(c[1]), roll=np.asarray(c[2]),
                     pitch=np.asarray(c[3]), vx=np.asarray(c[4]), mode=np.asarray(c[5]),
                     q_target=np.stack(c[6]), stiff=np.asarray(c[7]), fault=fault,
                     safety=safety)


def run_proxy(fault: str, seed: int = 3, speed: float = SPEED, estop_after: float | None = None,
              after: float = 3.8) -> Trace:
    """Walk at ``speed`` on the proxy of ``seed``; ``fault`` (intervention | dead | nan)
    ``AT_SPEED_S`` after it walks (the soft start's stand-up and ramp take 3-6 s); the e-stop
    ``estop_after`` s later if given; ``after`` s of the fault's aftermath recorded."""
    cfg = load_config(DeployConfig, resolve(PROXY), {
        "backend": {"proxy_seed": seed},
        "bridge": {"realtime_priority": 0, "shutdown_damp_s": 0.0}})
    probe = Probe()
    loop = DeployLoop(cfg, on_tick=probe)
    probe.loop = loop
    policy = FaultyPolicy(loop.controller)
    loop.controller = policy
    policy.set_command((speed, 0.0, 0.0))
    loop.start()
    try:
        t0 = loop.bridge.active_since
        while not probe.walking(speed):
            assert time.monotonic() < t0 + 10.0, "the policy never walked"
            time.sleep(0.02)
        t_fault = time.monotonic() + AT_SPEED_S
        _sleep_until(t_fault)
        if fault == "intervention":  # the operator takes over, no teleop command arrives
            loop.supervisor.set_intervention(True)
        else:
            policy.fault = fault
        if estop_after is not None:
            _sleep_until(t_fault + estop_after)
            loop.supervisor.engage_estop("test e-stop")
        _sleep_until(t_fault + after)
        safety = loop.supervisor.diagnostics()
    finally:
        loop.stop()
    return probe.trace(t_fault - t0, safety)


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


def fallback_cfg() -> StandFallback:
    fb = make_safety_chain(load_robot_config(robot="quad12")).fallback
    assert isinstance(fb, StandFallback)
    return fb


def check_stood(tr: Trace, until: float) -> None:
    """Walking when the fault came; upright and standing from then until ``until`` s after
    it (the sit-down); fall detection and the tracking guard never tripped."""
    fault = tr.at(tr.fault)
    assert tr.vx[fault - 5: fault].mean() > 0.5, "not walking when the fault came"
    w = tr.window(tr.fault, tr.fault + until)
    assert tr.z[w].min() > STAND_Z, f"base down to {tr.z[w].min():.3f} m"
    assert np.abs(tr.roll[w]).max() < UPRIGHT and np.abs(tr.pitch[w]).max() < UPRIGHT, (
        np.abs(tr.roll[w]).max(), np.abs(tr.pitch[w]).max())
    assert np.all(tr.stiff[w]), "damped before the sit-down"
    for stage in ("fall_detect", "tracking_guard"):
        assert stage not in tr.safety["interventions"], tr.safety["interventions"]


def check_sat_down(tr: Trace, fb: StandFallback, limp_at: float) -> None:
    """Sat down to q_rest (stiff), then damped from ``limp_at`` s after the fault on; low and
    still upright."""
    limp_at += tr.fault
    before = tr.window(limp_at - 0.3, limp_at - 0.05)
    assert np.all(tr.stiff[before])
    np.testing.assert_allclose(tr.q_target[before], np.repeat(fb.q_rest[None], before.stop -
                                                             before.start, axis=0), atol=1e-9)
    after = tr.window(limp_at + 0.1, tr.t[-1] + 1)
    assert after.stop - after.start >= 5 and not tr.stiff[after].any()
    assert np.all(tr.mode[after] >= Mode.DAMPING)
    assert tr.z[-1] < 0.17, f"not low: {tr.z[-1]:.3f} m"  # (standing: ~0.26 m)
    w = tr.window(tr.fault, tr.t[-1] + 1)
    assert np.abs(tr.roll[w]).max() < UPRIGHT and np.abs(tr.pitch[w]).max() < UPRIGHT
    assert "fall_detect" not in tr.safety["interventions"]


@pytest.mark.parametrize("fault", ["intervention", "nan"])
def test_hold_while_walking_stands_then_the_estop_sits_down(fault: str) -> None:
    """HOLD (latched: no teleop command / a NaN output) stops and stands the robot at q0;
    the e-stop 1.5 s later sits it down, then damps it."""
    fb = fallback_cfg()
    estop = 1.5
    tr = run_proxy(fault, estop_after=estop)
    check_stood(tr, estop)
    hold = tr.window(tr.fault + 0.1, tr.fault + estop)
    assert np.all(tr.mode[hold] == Mode.HOLD)
    stood = tr.window(tr.fault + fb.cfg.recover_s + fb.cfg.stand_s + 0.05, tr.fault + estop)
    assert stood.stop - stood.start >= 5
    np.testing.assert_allclose(tr.q_target[stood], np.repeat(fb.q_stand[None], stood.stop -
                                                            stood.start, axis=0), atol=1e-9)
    check_sat_down(tr, fb, estop + fb.cfg.sit_s + fb.cfg.settle_s)


def test_dead_policy_holds_standing_then_sits_down_and_damps() -> None:
    """The policy stops answering: HOLD after hold_after_s (recovery, stand), DAMPING after
    damp_after_s, which for a quadruped with a fresh state is the controlled stop: the
    episode goes on to the standing pose, then sits down, then damps."""
    fb = fallback_cfg()
    chain = make_safety_chain(load_robot_config(robot="quad12"))
    hold_after = next(s for s in chain.stages if s.name == "command_watchdog").cfg.hold_after_s
    tr = run_proxy("dead")
    sit = hold_after + fb.cfg.recover_s + fb.cfg.stand_s  # after the fault
    check_stood(tr, sit - 0.05)
    assert np.any(tr.mode[tr.window(tr.fault, tr.fault + sit)] == Mode.HOLD)
    assert tr.safety["interventions"]["command_watchdog"]["count"] > 0
    check_sat_down(tr, fb, sit + fb.cfg.sit_s + fb.cfg.settle_s)


# -- the chain alone --------------------------------------------------------------------------
def _standing(spec: Any, t: float) -> RobotState:
    return RobotState(t=t, q=spec.q0.copy(), dq=np.zeros(spec.n_joints),
                      tau=np.zeros(spec.n_joints))


@pytest.mark.parametrize("rate_hz", [25.0, 50.0, 100.0])
def test_estop_sits_the_quadruped_down_then_damps_and_damps_the_arm_at_once(
        rate_hz: float) -> None:
    """E-stop at t = 4 s, chain ticks at ``rate_hz`` (50 Hz: the policy period; 25-100 Hz:
    the safety node's watchdog). arm6: damping in the same tick. quad12: STOP in the same
    tick, stiff through recovery, stand and sit-down (a function of time, the same at every
    tick rate), q_rest during the settle, damping from then on."""
    dt, t_e = 1.0 / rate_hz, 4.0
    for robot in ("arm6", "quad12"):
        chain = make_safety_chain(load_robot_config(robot=robot))
        spec = chain.spec
        ts = np.arange(0.0, 8.0, dt)
        outs, modes = [], []
        for t in ts:
            if abs(t - t_e) < dt / 2:
                chain.engage_estop("operator")
            cmd = JointCommand(spec.joint_names, spec.q0.copy(), np.zeros(spec.n_joints),
                               spec.kp.copy(), spec.kd.copy(), np.zeros(spec.n_joints))
            outs.append(chain.step(cmd, _standing(spec, t), t))
            modes.append(chain.mode)
        e = int(np.argmin(np.abs(ts - t_e)))
        assert modes[e - 1] == Mode.ACTIVE and all(m == Mode.STOP for m in modes[e:])
        damped = [not o.kp.any() and np.array_equal(o.kd, spec.damping_kd) for o in outs]
        if robot == "arm6":
            assert all(damped[e:]), "the arm damps at once"
            continue
        fb = chain.fallback
        assert isinstance(fb, StandFallback)
        c = fb.cfg
        t_sit = ts[e] + c.recover_s + c.stand_s
        limp = e + damped[e:].index(True)  # (the phase ends fall on ticks: either side)
        assert abs(ts[limp] - (t_sit + c.sit_s + c.settle_s)) <= dt + 1e-9
        assert not any(damped[e:limp]) and all(damped[limp:])
        for k in range(e, limp):
            o = outs[k]
            assert np.isfinite(o.q_target).all() and np.array_equal(o.kp, spec.kp)
            assert np.all((o.q_target >= spec.q_min) & (o.q_target <= spec.q_max))
            if ts[k] >= t_sit:  # the sit-down: q0 → q_rest, smoothstep in time
                a = min((ts[k] - t_sit) / c.sit_s, 1.0)
                want = spec.q0 + a * a * (3 - 2 * a) * (fb.q_rest - spec.q0)
                np.testing.assert_allclose(o.q_target, want, atol=1e-9)
        np.testing.assert_allclose(outs[limp - 1].q_target, fb.q_rest, atol=1e-9)
        assert chain.summary()["interventions"]["fallback"]["count"] >= limp - e


def test_only_faults_that_leave_the_state_trustworthy_get_a_controlled_stop() -> None:
    """The e-stop and a dead policy (command watchdog) on a level, fresh state begin the
    controlled stop (stiff); a fall (even with the e-stop pressed in the same tick) or a
    stale state damps at once, as before."""
    quad = load_robot_config(robot="quad12")
    spec = quad.effective_spec()
    cmd = JointCommand(spec.joint_names, spec.q0.copy(), np.zeros(12), spec.kp.copy(),
                       spec.kd.copy(), np.zeros(12))

    def walking() -> Any:  # a chain after 10 policy ticks, ACTIVE
        chain = make_safety_chain(quad)
        for k in range(10):
            chain.step(cmd, _standing(spec, k * 0.02), k * 0.02)
        assert chain.mode == Mode.ACTIVE
        return chain

    tipped = _standing(spec, 0.2)
    tipped.imu_quat = np.array([np.cos(0.5), np.sin(0.5), 0.0, 0.0])  # roll 1.0 rad
    cases = [  # (e-stop?, now, state, when the command was made, expected mode, stiff?)
        (True, 0.2, _standing(spec, 0.2), 0.2, Mode.STOP, True),
        (False, 0.75, _standing(spec, 0.75), 0.18, Mode.DAMPING, True),  # 0.57 s old
        (True, 0.2, tipped, 0.2, Mode.STOP, False),
        (False, 0.2, _standing(spec, 0.1), 0.2, Mode.DAMPING, False),  # state 100 ms old
    ]
    for estop, t, st, command_t, mode, stiff in cases:
        chain = walking()
        if estop:
            chain.engage_estop("operator")
        out = chain.step(cmd, st, t, command_t=command_t)
        assert chain.mode == mode and bool(out.kp.any()) == stiff, (estop, mode, chain.summary())


def test_fallback_config_is_checked_at_load(tmp_path: Any) -> None:
    """``safety.fallback`` mistakes are refused when the robot config loads, naming the cause:
    an unknown type, a stand for a robot without a resting pose, bad times, a bundle that
    does not load."""
    import yaml

    from robot_rl.config import ConfigError
    from robot_rl.safety.robot_config import CONFIG_DIR

    def load(robot: str, fallback: dict[str, Any]) -> None:
        data = yaml.safe_load((CONFIG_DIR / f"{robot}.yaml").read_text())
        data["safety"]["fallback"] = fallback
        path = tmp_path / f"{robot}.yaml"
        path.write_text(yaml.safe_dump(data))
        load_robot_config(path)

    with pytest.raises(ConfigError, match="unknown type 'jump'"):
        load("quad12", {"type": "jump"})
    with pytest.raises(ConfigError, match=r"arm6 defines none \(RobotSpec.q_rest\)"):
        load("arm6", {"type": "stand"})
    with pytest.raises(ConfigError, match="sit_s must be > 0"):
        load("quad12", {"type": "stand", "sit_s": 0.0})
    with pytest.raises(ConfigError, match="recovery_bundle refused"):
        load("quad12", {"type": "stand", "recovery_bundle": "pretrained/nope.onnx"})
    with pytest.raises(ConfigError, match="unknown key"):
        load("quad12", {"type": "hold", "stand_s": 0.3})
    load("arm6", {"type": "hold"})
