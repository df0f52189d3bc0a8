"""Independent checks of a safety chain's output: what counts as a violation.

Used by the property tests, the fault-injection tests and `robot-rl bench safety`. The
checks recompute every bound from the robot spec and the configured stages; they do not
trust the stages' own bookkeeping.

Priorities when bounds conflict (documented behaviour of the torque stage): position limits
are never violated; the PD-torque limit holds unless the torque-feasible targets lie wholly
outside the position bounds (then the motor's own saturation applies); the rate limit holds
unless it is incompatible with the other two.

Tolerance: a bound counts as compatible with the others when their boxes meet within ``EPS``
[rad]. Where they miss each other by less than that, the stage keeps the higher-priority
bound and may pass the lower one by up to the gap, so the checks allow the same ``EPS`` on
the target (``kp x EPS`` on the PD torque) and never call the stages' priority rule a
violation.

DAMPING / STOP: pure damping, except a controlled stop (`robot_rl.safety.fallback`) where
every stage that asked for DAMPING / STOP this tick allows one (`Stage.controlled_stop`,
judged from the tick's events): then a stiff hold, inside the hardware limits, with at most
the robot's own gains, no velocity target and no feed-forward.
"""

from __future__ import annotations

import numpy as np

from robot_rl.control.pd import pd_target_range, pd_torque
from robot_rl.safety.chain import SafetyChain
from robot_rl.safety.core import Mode
from robot_rl.safety.stages import JointLimits, RateLimit, TorqueLimit
from robot_rl.types import JointCommand, RobotState

EPS = 1e-7


def violations(chain: SafetyChain, out: JointCommand, state: RobotState,
               prev: JointCommand | None) -> list[str]:
    """Violations of ``out`` (the chain's output this tick) given the measured ``state`` and
    the previous output ``prev``. Empty list = safe."""
    spec = chain.spec
    found: list[str] = []
    arrays = (out.q_target, out.dq_target, out.kp, out.kd, out.tau_ff)
    if not all(np.all(np.isfinite(a)) for a in arrays):
        return ["non-finite value in the output command"]
    if any(a.shape != (spec.n_joints,) for a in arrays):
        return ["output command has the wrong size"]
    if np.any(out.kp < 0) or np.any(out.kd < 0):
        found.append("negative gain in the output")
    stages = {type(s): s for s in chain.stages}
    tl = stages.get(TorqueLimit)
    if isinstance(tl, TorqueLimit) and (np.any(out.kp > tl.kp_max + EPS)
                                        or np.any(out.kd > tl.kd_max + EPS)):
        found.append("gain above max_gain_ratio x the spec")
    if chain.mode >= Mode.DAMPING:
        if not out.kp.any() and np.allclose(out.kd, spec.damping_kd) and not out.tau_ff.any():
            return found  # pure damping
        allowed = {s.name for s in chain.stages if s.controlled_stop}
        asked = {e.stage for e in chain.last_events if e.mode >= Mode.DAMPING}
        if not asked or not asked <= allowed:
            found.append(f"mode {chain.mode.name} but the output is not pure damping "
                         f"(asked by {', '.join(sorted(asked - allowed)) or 'nobody'})")
            return found
        if (np.any(out.kp > spec.kp + EPS) or np.any(out.kd > spec.kd + EPS)
                or out.dq_target.any() or out.tau_ff.any()):
            found.append("controlled stop with gains above the robot's, a velocity target or "
                         "a feed-forward torque")
        if np.any((out.q_target < spec.q_min - EPS) | (out.q_target > spec.q_max + EPS)):
            found.append("controlled stop target outside the joint limits")
        return found
    jl = stages.get(JointLimits)
    lo = jl.lo if isinstance(jl, JointLimits) else spec.q_min
    hi = jl.hi if isinstance(jl, JointLimits) else spec.q_max
    stiff = out.kp > 0
    if chain.mode == Mode.HOLD:  # hold targets are clipped to the hardware limits only
        lo, hi = spec.q_min, spec.q_max
    if np.any((out.q_target[stiff] < lo[stiff] - EPS) | (out.q_target[stiff] > hi[stiff] + EPS)):
        found.append("position target outside the joint limits")
    t_lo = t_hi = None
    if isinstance(tl, TorqueLimit) and chain.mode == Mode.ACTIVE:
        # the PD torque predicted at the measured state (unsaturated), and the targets whose
        # torque is within the limit (inf / NaN on joints with kp = 0: not stiff, see below)
        tau = pd_torque(out.q_target, state.q, state.dq, out.kp, out.kd, out.dq_target,
                        out.tau_ff)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            t_lo, t_hi = pd_target_range(-tl.lim, tl.lim, state.q, state.dq, out.kp, out.kd,
                                         out.dq_target, out.tau_ff)
        feasible = ~stiff | (np.maximum(t_lo, lo) <= np.minimum(t_hi, hi) + EPS)
        bad = (np.abs(tau) > tl.lim + 1e-6 + out.kp * EPS) & feasible
        if np.any(bad):
            found.append(f"predicted PD torque above the limit on joints {np.flatnonzero(bad)}")
        if np.any(np.abs(out.tau_ff) > tl.lim + EPS):
            found.append("feed-forward torque above the limit")
    rl = stages.get(RateLimit)
    if (isinstance(rl, RateLimit) and prev is not None and prev.kp.any() and stiff.any()
            and chain.mode == Mode.ACTIVE):
        step = np.abs(out.q_target - prev.q_target)
        r_lo, r_hi = prev.q_target - rl.step, prev.q_target + rl.step
        ok = np.maximum(r_lo, lo) <= np.minimum(r_hi, hi) + EPS
        if t_lo is not None and t_hi is not None:
            ok &= np.maximum(np.maximum(r_lo, lo), t_lo) <= np.minimum(np.minimum(r_hi, hi),
                                                                       t_hi) + EPS
        bad = (step > rl.step + EPS) & ok & stiff
        if np.any(bad):
            found.append(f"target step above the rate limit on joints {np.flatnonzero(bad)}")
    return found
