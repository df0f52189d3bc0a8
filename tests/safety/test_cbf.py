"""Workspace CBF stage (`robot_rl.safety.cbf`) on arm6: hand-worked projections, properties of
the QP output, closed-loop MuJoCo runs, infeasibility and config errors.

Kinematics in these tests come from the test's own MjData through ``mj_forward`` (the stage uses
``mj_kinematics`` + ``mj_comPos`` + ``mj_rne`` on its private copy), the finite-difference
Jacobian of the hand-worked case from neither.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from robot_rl.config import ConfigError
from robot_rl.control import JointPDController
from robot_rl.robots.arm6 import ARM6
from robot_rl.robots.quad12 import QUAD12
from robot_rl.safety.cbf import WorkspaceCBF, WorkspaceCBFConfig, register
from robot_rl.safety.chain import SafetyChain, SafetyConfig, build_stages
from robot_rl.safety.check import violations
from robot_rl.safety.core import Mode, Stage, TickContext
from robot_rl.safety.stages import (
    STAGES,
    JointLimits,
    JointLimitsConfig,
    RateLimit,
    RateLimitConfig,
    TorqueLimit,
    TorqueLimitConfig,
)
from robot_rl.types import JointCommand, RobotState

register(STAGES)  # robot_rl/safety/__init__.py does not register the stage (yet)

DT = ARM6.policy_dt  # chain period [s]
N_ARM = 5  # arm6: every joint but the gripper moves "ee"
BOX_MIN, BOX_MAX = (0.05, -0.3, 0.0), (0.45, 0.3, 0.4)
BOX = {"box_min": list(BOX_MIN), "box_max": list(BOX_MAX)}  # as in a YAML entry
# the stages every chain must have (`SafetyConfig.MANDATORY`), as YAML entries
MONITORS = tuple({"type": k} for k in ("estop", "state_watchdog", "command_watchdog",
                                       "non_finite"))
MANDATORY = (*MONITORS, {"type": "joint_limits"}, {"type": "rate_limit"},
             {"type": "torque_limit"})
SPHERE = (0.25, 0.12, 0.15, 0.05)
# 5 cm clearance: the jaws reach ~4 cm below "ee" and would otherwise touch the table
CFG = WorkspaceCBFConfig(BOX_MIN, BOX_MAX, table_margin=0.05, spheres=(SPHERE,), gamma=0.2)
MODEL = mujoco.MjModel.from_xml_path(str(ARM6.mjcf))
EE = MODEL.site("ee").id
_DATA = mujoco.MjData(MODEL)


def kin(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ee position (3,) [m], its position Jacobian w.r.t. the arm joints (3, 5) and the
    gravity torque on them (5,) [N m], at joints q (6,) with zero velocity."""
    d = _DATA
    d.qpos[:] = MODEL.qpos0
    d.qpos[:6] = q
    d.qvel[:] = 0.0
    mujoco.mj_forward(MODEL, d)
    jac = np.zeros((3, MODEL.nv))
    mujoco.mj_jacSite(MODEL, d, jac, None, EE)
    return d.site_xpos[EE].copy(), jac[:, :N_ARM], d.qfrc_bias[:N_ARM].copy()


def barriers(p: np.ndarray, jac: np.ndarray,
             cfg: WorkspaceCBFConfig = CFG) -> tuple[np.ndarray, np.ndarray]:
    """h (m,) and grad h J (m, 5) of every box face / sphere at ee position p."""
    lo = np.array(cfg.box_min)
    lo[2] = max(lo[2], cfg.table_z + cfg.table_margin)
    hi = np.array(cfg.box_max)
    h, g = [*(p - lo), *(hi - p)], [*jac, *(-jac)]
    for x, y, z, r in cfg.spheres:
        diff = p - np.array([x, y, z])
        h.append(diff @ diff - r * r)
        g.append(2 * diff @ jac)
    return np.array(h), np.array(g)


def outside(p: np.ndarray, cfg: WorkspaceCBFConfig = CFG) -> float:
    """Signed distance [m] of point p outside the safe set (< 0: that far inside)."""
    lo = np.array(cfg.box_min)
    lo[2] = max(lo[2], cfg.table_z + cfg.table_margin)
    v = [*(lo - p), *(p - np.array(cfg.box_max))]
    v += [r - np.linalg.norm(p - np.array([x, y, z])) for x, y, z, r in cfg.spheres]
    return float(max(v))


def command(q_target: np.ndarray) -> JointCommand:
    return JointCommand.hold(ARM6.joint_names, q_target, ARM6.kp, ARM6.kd)


def context(q: np.ndarray, dq: np.ndarray | None = None,
            last: JointCommand | None = None) -> TickContext:
    state = RobotState(0.0, np.array(q, float), np.zeros(6) if dq is None else dq)
    return TickContext(ARM6, state, 0.0, 0.0, 0.0, DT, last)


def copy(cmd: JointCommand) -> JointCommand:
    return JointCommand(cmd.joint_names, cmd.q_target.copy(), cmd.dq_target.copy(),
                        cmd.kp.copy(), cmd.kd.copy(), cmd.tau_ff.copy())


def same(a: JointCommand, b: JointCommand) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k))
               for k in ("q_target", "dq_target", "kp", "kd", "tau_ff"))


_STAGE: dict[str, WorkspaceCBF] = {}


def stage() -> WorkspaceCBF:
    """One stage for all hypothesis examples (building it loads the MJCF)."""
    if "s" not in _STAGE:
        _STAGE["s"] = WorkspaceCBF(ARM6, CFG, DT)
    return _STAGE["s"]


# -- hand-worked ------------------------------------------------------------------------------
def test_safe_reference_passes_unchanged() -> None:
    q = ARM6.q0.copy()  # ee 0.21 m out, 0.11 m up: well inside
    cmd = command(q + np.array([0.03, -0.02, 0.02, -0.01, 0.05, 0.1]))
    before = copy(cmd)
    ctx = context(q)
    stage()(cmd, ctx)
    assert same(cmd, before)
    assert ctx.events == [] and ctx.mode == Mode.ACTIVE


@pytest.mark.parametrize("h0", [0.01, -0.005])
def test_single_active_constraint_is_the_analytic_projection(h0: float) -> None:
    """Only the table face matters (huge box, no sag model): the QP output is the Euclidean
    projection of u_ref onto {u : g (u - q) >= -min(gamma h, h)}, g = dp_z/dq."""
    q = ARM6.q0.copy()
    p, _, _ = kin(q)
    gamma = 0.3
    cfg = WorkspaceCBFConfig(box_min=(-1.0, -1.0, -1.0), box_max=(1.0, 1.0, 1.0),
                             table_margin=float(p[2]) - h0, gamma=gamma, predict_sag=False)
    eps = 1e-6  # central differences of p_z, independent of mj_jacSite
    g = np.zeros(N_ARM)
    for j in range(N_ARM):
        dq = np.zeros(6)
        dq[j] = eps
        g[j] = (kin(q + dq)[0][2] - kin(q - dq)[0][2]) / (2 * eps)
    # h0 > 0: push the ee 8 cm/rad-ish down; h0 < 0: stay where it is (already outside)
    u_ref = q[:N_ARM] - (0.08 * g / np.linalg.norm(g) if h0 > 0 else 0.0)
    rhs = -min(gamma * h0, h0)
    expected = u_ref + max(0.0, rhs - g @ (u_ref - q[:N_ARM])) / (g @ g) * g
    step = ARM6.dq_max[:N_ARM] * DT  # the rate box (last target = q) must not be active
    assert np.all(np.abs(expected - q[:N_ARM]) < step - 1e-3)
    cmd = command(np.r_[u_ref, 0.8])
    ctx = context(q)
    WorkspaceCBF(ARM6, cfg, DT)(cmd, ctx)
    assert ctx.mode == Mode.ACTIVE
    np.testing.assert_allclose(cmd.q_target[:N_ARM], expected, atol=1e-6)
    assert cmd.q_target[5] == 0.8  # the gripper target is not the CBF's
    assert [e.reason for e in ctx.events] == ["target projected by the workspace CBF"]


# -- properties of the QP output ----------------------------------------------------------------
_LO = np.array([-0.9, -1.0, -1.0, -1.65806, -2.7])  # a sub-range where ~40 % of poses are safe
_HI = np.array([0.9, 1.5, 1.69, 1.65806, 2.8])
unit5 = st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(qf=unit5, uf=st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6),
       dqf=unit5, lastf=st.none() | unit5, near=st.booleans())
def test_output_satisfies_linearised_constraints_and_bounds(
        qf: list[float], uf: list[float], dqf: list[float], lastf: list[float] | None,
        near: bool) -> None:
    q = np.r_[_LO + np.array(qf) * (_HI - _LO), 0.8]
    p, jac, tau_g = kin(q)
    h, g = barriers(p, jac)
    assume(np.all(h >= 0))  # measured state inside the safe set
    if near:  # a small step (often safe, so passed through untouched)
        u_ref = q + (np.array(uf) - 0.5) * 0.1
    else:  # anywhere in the joint range
        u_ref = ARM6.q_min + np.array(uf) * (ARM6.q_max - ARM6.q_min)
    dq = np.r_[(np.array(dqf) - 0.5) * 2.0, 0.0]  # |dq| <= 1 rad/s
    last = None if lastf is None else command(q + np.r_[(np.array(lastf) - 0.5) * 0.1, 0])
    cmd = command(u_ref)
    before = copy(cmd)
    ctx = context(q, dq, last)
    stage()(cmd, ctx)
    event(f"mode {ctx.mode.name}, {len(ctx.events)} event(s)")
    if ctx.mode == Mode.HOLD:  # allowed only with a reason and an untouched command
        assert ctx.events[-1].reason.startswith("workspace CBF QP") and same(cmd, before)
        return
    u, qa = cmd.q_target[:N_ARM], q[:N_ARM]
    off = -tau_g / ARM6.kp[:N_ARM]  # settled PD position = u + off (no feed-forward)
    assert np.all(g @ (u + off - qa) >= -np.minimum(0.2 * h, h) - 1e-6)
    c = qa if last is None else last.q_target[:N_ARM]  # target rows, at c + off
    hc, gc = barriers(*kin(np.r_[c + off, q[5]])[:2])
    assert np.all(hc + gc @ (u - c) >= -1e-6)
    lb = np.maximum.reduce([ARM6.q_min[:N_ARM], c - ARM6.dq_max[:N_ARM] * DT,
                            qa + (-ARM6.tau_max[:N_ARM] + ARM6.kd[:N_ARM] * dq[:N_ARM])
                            / ARM6.kp[:N_ARM]])
    ub = np.minimum.reduce([ARM6.q_max[:N_ARM], c + ARM6.dq_max[:N_ARM] * DT,
                            qa + (ARM6.tau_max[:N_ARM] + ARM6.kd[:N_ARM] * dq[:N_ARM])
                            / ARM6.kp[:N_ARM]])
    assert np.all(lb <= ub) and np.all(u >= lb - 1e-6) and np.all(u <= ub + 1e-6)
    assert cmd.q_target[5] == u_ref[5]
    changed = np.abs(u - u_ref[:N_ARM]).max() > 1e-9
    assert changed == bool(ctx.events)


def test_chain_outputs_respect_the_other_stages_bounds() -> None:
    """In a chain after joint_limits (margin), rate_limit (scale 0.5) and torque_limit (scale
    0.8), the CBF's projections stay inside their boxes (`robot_rl.safety.check`)."""
    entries = (*MONITORS, {"type": "joint_limits", "margin": 0.05},
               {"type": "rate_limit", "scale": 0.5}, {"type": "torque_limit", "scale": 0.8},
               {"type": "cbf_workspace", **BOX, "table_margin": 0.05, "torque_scale": 0.8})
    chain = SafetyChain.from_config(SafetyConfig(stages=entries), ARM6, DT)
    rng = np.random.default_rng(0)
    n_proj = 0
    for k in range(300):
        while True:
            q = np.r_[rng.uniform(_LO, _HI), 0.8]
            if outside(kin(q)[0]) < 0:
                break
        state = RobotState(k * DT, q, rng.uniform(-1.0, 1.0, 6))
        prev = chain.last_safe
        out = chain.step(command(rng.uniform(ARM6.q_min, ARM6.q_max)), state, k * DT)
        if chain.mode == Mode.ACTIVE:
            assert violations(chain, out, state, prev) == [], k
        n_proj += any(e.stage == "cbf_workspace" for e in chain.last_events)
    assert n_proj > 30


# -- closed loop in MuJoCo ------------------------------------------------------------------------
def _tick(stages: list[Stage], cmd: JointCommand, state: RobotState,
          last: JointCommand | None, t: float) -> tuple[JointCommand, TickContext]:
    """The shaping part of `SafetyChain.step`, honouring a HOLD requested by a shaping stage
    (hold the last safe target)."""
    ctx = TickContext(ARM6, state, t, t, t, DT, last)
    work = copy(cmd)
    for s in stages:
        s(work, ctx)
        if ctx.mode != Mode.ACTIVE:
            q = last.q_target if last is not None else state.q
            return JointCommand.hold(ARM6.joint_names, q, ARM6.kp, ARM6.kd), ctx
    return work, ctx


def closed_loop(q_start: np.ndarray, waypoints: list[np.ndarray],
                ticks_each: int = 100) -> tuple[float, float, int]:
    """Chain (joint limits, rate, torque, CBF) at DT, joint PD at physics dt in the arm6 scene
    (objects moved off the workspace). Returns the worst violation [m], the smallest barrier
    margin reached by the true ee [m] and the number of CBF interventions."""
    m = mujoco.MjModel.from_xml_path(str(ARM6.mjcf))
    m.body_pos[m.body("hole").id] = (-0.15, -0.42, 0.0)
    d = mujoco.MjData(m)
    mujoco.mj_resetDataKeyframe(m, d, m.key("home").id)
    d.qpos[6:9], d.qpos[13:16] = (0.55, 0.45, 0.015), (0.55, -0.45, 0.03)
    d.qpos[:6] = q_start
    mujoco.mj_forward(m, d)
    cbf = WorkspaceCBF(ARM6, CFG, DT)
    stages = [JointLimits(ARM6, JointLimitsConfig(), DT), RateLimit(ARM6, RateLimitConfig(), DT),
              TorqueLimit(ARM6, TorqueLimitConfig(), DT), cbf]
    pd = JointPDController(ARM6.kp, ARM6.kd, ARM6.tau_max)
    worst, closest, last, n_proj = 0.0, np.inf, None, 0
    decimation = round(DT / m.opt.timestep)
    for k in range(ticks_each * len(waypoints)):
        state = RobotState(d.time, d.qpos[:6].copy(), d.qvel[:6].copy())
        last, ctx = _tick(stages, command(waypoints[k // ticks_each]), state, last, d.time)
        n_proj += any(e.stage == cbf.name for e in ctx.events)
        for _ in range(decimation):
            d.ctrl[:6] = pd.torque(last.q_target, d.qpos[:6], d.qvel[:6], last.dq_target,
                                   last.tau_ff)
            mujoco.mj_step(m, d)
            v = outside(d.site_xpos[EE])
            worst, closest = max(worst, v), min(closest, -v)
    return worst, closest, n_proj


TOL = 0.005  # [m]; measured worst over 600 random runs: 3.5 mm


def test_closed_loop_adversarial_dives() -> None:
    """Targets straight into the table, far out past x_max, across y_max and back down."""
    q0 = ARM6.q0
    dives = [np.r_[0.0, 1.5, 1.2, 1.4, 0.0, 0.8], np.r_[0.0, 1.6, -1.6, 0.0, 0.0, 0.8],
             np.r_[-1.9, 1.2, 0.3, 1.6, 2.0, 0.8], np.r_[1.2, 1.7, 1.6, 1.6, -2.0, 0.8]]
    worst, closest, n_proj = closed_loop(q0, dives)
    assert worst <= TOL, f"ee left the safe set by {worst * 1e3:.1f} mm"
    assert closest < 0.01 and n_proj > 50  # the runs did push against the boundary


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_closed_loop_random_reference_stays_inside(seed: int) -> None:
    rng = np.random.default_rng(seed)
    while True:  # a start 1 cm inside the safe set, jaws half open
        q = np.r_[rng.uniform(ARM6.q_min[:N_ARM], ARM6.q_max[:N_ARM]), 0.8]
        if outside(kin(q)[0]) <= -0.01:
            break
    waypoints = [np.r_[rng.uniform(ARM6.q_min[:N_ARM], ARM6.q_max[:N_ARM]), 0.8]
                 for _ in range(3)]
    worst, _, _ = closed_loop(q, waypoints)
    assert worst <= TOL, f"ee left the safe set by {worst * 1e3:.1f} mm (seed {seed})"


# -- infeasible → HOLD ----------------------------------------------------------------------------
def test_infeasible_requests_hold_and_leaves_command_untouched() -> None:
    cfg = WorkspaceCBFConfig(box_min=(0.3, 0.2, 0.25), box_max=(0.45, 0.3, 0.4))
    q = ARM6.q0.copy()  # ee at (0.21, 0, 0.11): 20 cm from the box, one rate step away
    cmd = command(q + 0.02)
    before = copy(cmd)
    ctx = context(q)
    WorkspaceCBF(ARM6, cfg, DT)(cmd, ctx)
    assert ctx.mode == Mode.HOLD
    reason = ctx.events[-1].reason
    assert "infeasible" in reason and "violated" in reason and "'ee'" in reason
    assert same(cmd, before)


def test_row_certificate_skips_the_solver_and_never_refuses_a_feasible_problem() -> None:
    cfg = WorkspaceCBFConfig(box_min=(0.3, 0.2, 0.25), box_max=(0.45, 0.3, 0.4))
    s = WorkspaceCBF(ARM6, cfg, DT)
    solve, calls = s._qp.solve, []
    s._qp.solve = lambda *a, **k: (calls.append(1), solve(*a, **k))[1]
    ctx = context(ARM6.q0.copy())  # the box 20 cm away: no target one rate step away reaches it
    s(command(ARM6.q0 + 0.02), ctx)
    assert ctx.mode == Mode.HOLD and "infeasible" in ctx.events[-1].reason and calls == []
    # the certificate is exact: wherever it fires, the solver finds the QP infeasible too
    s = stage()
    rng = np.random.default_rng(0)
    mid, half = (ARM6.q_max + ARM6.q_min) / 2, (ARM6.q_max - ARM6.q_min) / 2
    fired = solved = 0
    for _ in range(300):
        q = mid + 0.8 * half * rng.uniform(-1, 1, 6)
        cmd = command(q + rng.normal(0, 0.3, 6))
        lb, ub = s.constraints(cmd, context(q))
        g, nc = s.G, 2 * s.mc
        cert = bool((np.where(g > 0, g * ub, g * lb).sum(axis=1) < s.lc - 1e-9).any())
        s._l[:nc], s._l[nc:], s._u[nc:] = s.lc, lb, ub
        s._ax[:, :nc] = g.T
        s._qp.update(q=-cmd.q_target[s.arm], l=s._l, u=s._u, Ax=s._ax.ravel())
        status = s._qp.solve(raise_error=False).info.status_val
        if cert:
            fired += 1
            assert status in s._infeasible, (q, status)
        solved += status in s._solved
    assert fired > 20 and solved > 20  # both kinds were drawn


def test_non_finite_state_requests_hold() -> None:
    q = ARM6.q0.copy()
    q[1] = np.nan
    cmd = command(ARM6.q0)
    before = copy(cmd)
    ctx = context(q)
    stage()(cmd, ctx)
    assert ctx.mode == Mode.HOLD and same(cmd, before)


def test_chain_outputs_hold_when_the_cbf_is_infeasible() -> None:
    cfg = WorkspaceCBFConfig(box_min=(0.3, 0.2, 0.25), box_max=(0.45, 0.3, 0.4))
    chain = SafetyChain(ARM6, [WorkspaceCBF(ARM6, cfg, DT)], DT)
    state = RobotState(0.0, ARM6.q0.copy(), np.zeros(6))
    out = chain.step(command(ARM6.q0 + 0.02), state, 0.0)
    assert chain.mode == Mode.HOLD
    np.testing.assert_array_equal(out.q_target, ARM6.q0)  # holds the measured pose


# -- configuration --
def build(**options: object) -> list[Stage]:
    """The mandatory stages (entries 0-6) and the CBF from ``options`` (entry 7)."""
    entry = {"type": "cbf_workspace", **BOX, **options}
    return build_stages(SafetyConfig(stages=(*MANDATORY, entry)), ARM6, DT, "arm6.yaml")


def test_registered_and_built_from_yaml_entry() -> None:
    s = build(table_z=0.0, table_margin=0.02, spheres=[[0.2, 0.0, 0.1, 0.04]], gamma=0.2,
              sites=["ee"])[-1]
    assert isinstance(s, WorkspaceCBF) and s.shaping and s.arm.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("options", "words"), [
    ({"box_min": [0.5, -0.3, 0.0]}, ["box_min", "box_max"]),
    ({"spheres": [[0.2, 0.0, 0.1, 0.0]]}, ["spheres[0]", "radius > 0"]),
    ({"gamma": 0.0}, ["gamma", "(0, 1]"]),
    ({"gamma": 1.5}, ["gamma", "(0, 1]"]),
    ({"torque_scale": 0.0}, ["torque_scale", "(0, 1]"]),
    ({"table_margin": 0.5}, ["table_margin", "empty"]),
    ({"table_margin": -0.01}, ["table_margin >= 0"]),
    ({"sites": ["jaw_tip"]}, ["site 'jaw_tip' not found", "available sites", "ee"]),
    ({"sites": ["cube_site"]}, ["'cube_site' is not on robot 'arm6'"]),
    ({"sites": []}, ["sites"]),
    ({"gama": 0.2}, ["gama", "unknown key"]),
])
def test_bad_config_is_refused_with_a_clear_message(options: dict[str, object],
                                                    words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        build(**options)
    msg = str(err.value)
    assert msg.startswith("arm6.yaml: safety.stages[7] (cbf_workspace)")
    for w in words:
        assert w in msg


def test_floating_base_robot_is_refused() -> None:
    with pytest.raises(ValueError, match="fixed-base arm.*quad12"):
        WorkspaceCBF(QUAD12, WorkspaceCBFConfig(BOX_MIN, BOX_MAX), DT)
