"""The linear least squares of system identification: per joint j and control interval k of
the low-passed log (`sim2real.regressors`), the inverse-dynamics equation

    s_j tau_jk - d_j dq_jk - f_j sign(dq_jk) - a A_jk = m R_jk

with R the nominal rigid-body torque at the interval's mid-point and mean acceleration, A the
nominal armature torque, and tau the mean torque the motors' PD law applied over the interval
(`sim2real.regressors.applied_torque`, from the logged command and state). Unknowns: per
joint the motor **strength** s_j, the lumped viscous **damping** d_j and dry **friction** f_j
(joint and gearbox), the global **armature** scale a, and the inertial ones: one mass scale m
for every moving link (``inertia: global``), or per moving link its mass scale and CoM shift
(``per_body``: a quadruped's links differ one by one, and one mass scale for all of them
pushes their differences into the strengths), with a CAD-tolerance prior
(`sim2real.params`) for what the motion does not show.

Left out: intervals slower than 0.3 rad/s (MuJoCo's soft dry friction not yet saturated),
near the torque limit or the motor's torque-speed envelope, and near a contact of a link
(its force is not in R). Every term is averaged over a window per row (`WINDOW_S`; the same
linear filter on both sides keeps the equation exact): the acceleration's window mean is the
velocity's change across the window, where a per-interval acceleration carries enough
velocity-sensor noise to bias least squares (errors in variables).

**The absolute scale**: positions, velocities and commanded torques cannot tell a robot
whose inertias, damping, armature and friction are all k times larger from one whose motors
are k times weaker. One quantity must be known (``anchor``): the **mass** from a weighing;
or, where gravity and link inertia carry too little of the torque to anchor it (under 15 %:
a geared servo arm, where armature and damping dominate), the motors' **mean strength** from
their datasheet (mean s_j = 1, m fitted); or, best, a second log carrying **known payloads**
(one per leg on a quadruped's stand, where each leg's scale is its own), whose exactly known
torques set the scale.
"""

from __future__ import annotations

import numpy as np

from sim2real.log import SysIdError, SysIdLog
from sim2real.params import BODY_MASS_PRIOR, COM_PRIOR, SysIdParams
from sim2real.regressors import Regressors, applied_torque, log_regressors
from sim2real.rollout import RolloutModel

INERTIA = ("auto", "global", "per_body")  # `fit_linear`'s inertial models
WINDOW_S = 0.1  # s: every term of the equation averaged over this window (`_rows`)


def window_mean(x: np.ndarray, half: int) -> np.ndarray:
    """Centred moving average over ``2 half + 1`` samples along axis 0, where the window fits
    (the first and last ``half`` samples dropped): shape (len(x) - 2 half, ...)."""
    if half <= 0:
        return np.asarray(x, dtype=np.float64)
    c = np.cumsum(np.concatenate([np.zeros((1, *x.shape[1:])), x]), axis=0)
    return np.asarray((c[2 * half + 1:] - c[:-2 * half - 1]) / (2 * half + 1))


def _rows(log: SysIdLog, model: RolloutModel, r: Regressors, latency: int,
          min_speed: float, window_s: float
          ) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """One log's equations per joint (weighted rows, right-hand sides) and each joint's
    rigid-body share of the torque. A payload's known torque goes to the right-hand side.

    Every term of the equation is averaged over a window of ``window_s`` centred on each
    row (the same linear filter on both sides keeps the equation exact): the acceleration's
    mean over a window is the velocity's change across it divided by its length, where the
    per-interval acceleration is a derivative of the velocity sensor's noise. That noise in
    a regressor biases least squares (errors in variables) and scales every parameter alike.
    A row is kept only where every interval of its window is usable (moving, unsaturated,
    clear of contacts)."""
    spec = model.spec
    sub = max(1, round(log.control_dt / model.dt))
    tau = applied_torque(log, r.q, r.dq, latency, sub, spec.tau_max)[r.ks]
    ks = r.ks
    # the readings at both ends of each interval: none near the limit; and the law's torque
    # clear of the motors' torque-speed envelope, which the law does not know: a DC motor
    # delivers at most tau_max (1 - |dq| / no-load speed) while it drives the joint, and the
    # no-load speed is taken as the velocity limit (a datasheet's is above it)
    reading = np.maximum(np.abs(log.tau[ks]), np.abs(log.tau[ks + 1]))
    speed = np.maximum(np.abs(r.dq[ks]), np.abs(r.dq[ks + 1]))
    cap = spec.tau_max * np.clip(1.0 - speed / spec.dq_max, 0.0, 1.0)
    enveloped = (tau * r.v_mid > 0) & (np.abs(tau) > 0.9 * cap)
    a0 = model.nominal.dof_armature[model.idx.dof_adr]
    half = max(0, round(window_s / log.control_dt / 2))
    step = max(1, half)  # rows this far apart: overlapping windows add little
    n = spec.n_joints
    rows, rhs, share = [], [], []
    # unknowns: s (n), damping (n), friction (n), armature scale, then the inertial ones:
    # the mass scale, or per moving body its mass scale (B) and first-moment shift (3 B)
    for j in range(n):
        v_j = r.v_mid[:, j]
        ok = ((reading[:, j] < 0.95 * spec.tau_max[j]) & ~enveloped[:, j] & r.clear
              & (np.abs(v_j) > min_speed))
        inert = -(r.rigid[:, j:j + 1] if r.bodies is None else r.bodies[:, j, :])
        k_in = inert.shape[1]
        cols = np.concatenate([np.stack([tau[:, j], -v_j, -np.sign(v_j),
                                         -a0[j] * r.acc[:, j]], axis=1), inert,
                               np.stack([r.payload[:, j] if r.payload is not None
                                         else np.zeros(len(ks)), ok.astype(float)], axis=1)],
                              axis=1)
        avg = window_mean(cols, half)[::step]
        use = avg[:, -1] > 1.0 - 1e-9  # every interval of the window usable
        if use.sum() < 50:
            raise SysIdError(f"joint {spec.joint_names[j]}: only {int(use.sum())} usable "
                             f"{window_s:g} s windows (moving, unsaturated); excite it more, "
                             "or longer")
        c = avg[use]
        w = 1.0 / max(float(np.std(c[:, 0])), 1e-3)  # each joint counts alike
        share.append(float(np.std(c[:, 4:4 + k_in].sum(axis=1))) * w)
        a = np.zeros((len(c), 3 * n + 1 + k_in))
        a[:, j], a[:, n + j], a[:, 2 * n + j] = c[:, 0], c[:, 1], c[:, 2]
        a[:, 3 * n], a[:, 3 * n + 1:] = c[:, 3], c[:, 4:4 + k_in]
        rows.append(w * a)
        rhs.append(w * c[:, 4 + k_in])
    return rows, rhs, share


def resolve_inertia(inertia: str, floating_base: bool, anchor: str, has_payload: bool) -> str:
    """``auto``: per_body for a legged robot on its stand with a payload log (its links'
    masses and CoMs differ one by one, and each leg's scale is its own), else global.
    per_body is only anchored by known payloads: a weighing or the mean strength is one
    number for the whole robot, and all but one leg's scale would be left to the prior."""
    if inertia not in INERTIA:
        raise SysIdError(f"inertia must be one of {INERTIA}, not {inertia!r}")
    payload_anchor = has_payload and anchor in ("auto", "payload")
    if inertia == "auto":
        return "per_body" if floating_base and payload_anchor else "global"
    if inertia == "per_body" and not payload_anchor:
        raise SysIdError("inertia 'per_body' needs the payload anchor: a second log with a "
                         "known payload on each chain (quad12: one per calf, `robot-rl sysid "
                         "excite --payload-kg KG --payload-body FR_calf FL_calf RR_calf "
                         "RL_calf`) passed as --payload-log; or use --inertia global")
    return inertia


def fit_linear(log: SysIdLog, model: RolloutModel, mass_scale: float, anchor: str = "auto",
               min_speed: float = 0.3, latency: int = 0, window_s: float = WINDOW_S,
               pre: Regressors | None = None,
               payload: tuple[SysIdLog, Regressors | None] | None = None,
               inertia: str = "auto") -> SysIdParams:
    """The least squares of the module docstring, for an actuation latency of
    ``latency`` ticks of the fitting model. ``anchor``: "mass" (the mass scale is
    ``mass_scale``), "strength" (the mean motor strength is 1, the mass scale fitted),
    "payload" (a second log, ``payload``, of the same robot carrying a known mass: its known
    torques set the scale, nothing else is assumed) or "auto" (payload if there is that log,
    else mass, unless the rigid-body torque carries under 15 % of the applied torque).
    States are low-passed (zero phase); each control interval's mean applied torque comes
    from the logged commands (`applied_torque`); intervals where a motor reported a torque
    near its limit, where the law's torque could meet the motor's torque-speed envelope, or
    where a joint moved slower than ``min_speed`` (MuJoCo's soft dry friction not saturated
    yet) are left out. ``pre``: the log's regressors, when fitting several latencies (and
    the payload log's, as the tuple's second item).

    ``inertia``: "global", one mass scale for every moving link; "per_body", per moving
    body b its mass scale s_b (inertia scaled alike) and first-moment shift p_b = s_b c_b
    (c_b its CoM's offset from the nominal, body frame), 4 per body, with a Gaussian prior
    (`BODY_MASS_PRIOR`, `COM_PRIOR`: a CAD model's tolerances) that settles the directions
    the motion does not excite (a hip's CoM along its own axis), weighted against the rows'
    residual of a first, unregularised pass (maximum a posteriori); "auto": see
    `resolve_inertia`."""
    inertia = resolve_inertia(inertia, model.spec.floating_base, anchor, payload is not None)
    per_body = inertia == "per_body"
    if not (np.isfinite(window_s) and 0.0 <= window_s <= 1.0):
        raise SysIdError(f"window_s must be in [0, 1] s (0: per control interval), got "
                         f"{window_s}")
    if anchor not in ("auto", "mass", "strength", "payload"):
        raise SysIdError(f"anchor must be auto, mass, strength or payload, not {anchor!r}")
    if anchor == "payload" and payload is None:
        raise SysIdError("anchor 'payload' needs a second log with a known payload "
                         "(`robot-rl sysid excite --payload-kg KG`)")
    logs = [(log, pre)] + ([payload] if payload is not None else [])
    rows, rhs, share = [], [], []
    for lg, given in logs:
        if not np.any(np.abs(lg.tau) > 1e-9):
            raise SysIdError("the log has no measured torque (tau is all zero): log the "
                             "motors' torque readings; the strengths cannot be identified "
                             "without them")
        if lg.robot != log.robot:
            raise SysIdError(f"the payload log is of {lg.robot}, the other of {log.robot}")
        r = log_regressors(lg, model, per_body) if given is None else given
        if per_body and r.bodies is None:
            raise SysIdError("inertia 'per_body' needs regressors with per-body columns")
        if lg is not log and r.payload is None:
            raise SysIdError("the payload log has no payload in its meta: record it with "
                             "`robot-rl sysid excite --payload-kg KG`")
        a, b, sh = _rows(lg, model, r, latency, min_speed, window_s)
        rows += a
        rhs += b
        share += sh if lg is log else []
    n = model.spec.n_joints
    if anchor == "auto":
        anchor = ("payload" if payload is not None
                  else "mass" if float(np.mean(share)) >= 0.15 else "strength")
    big = 1e3 * max(len(a) for a in rows) ** 0.5
    width = rows[0].shape[1]
    i0 = 3 * n + 1  # the first inertial unknown
    masses = model.nominal.body_mass[model.moving]
    row = np.zeros((1, width))
    if anchor == "mass":  # the moving links' total mass
        row[0, i0:i0 + (len(masses) if per_body else 1)] = (big * masses / masses.sum()
                                                           if per_body else big)
        target = big * mass_scale
    elif anchor == "strength":
        row[0, :n], target = big / n, big
    else:  # the payload's torques (right-hand side) set the scale
        row, target = row[:0], None
    a_mat = np.concatenate([*rows, row])
    b_vec = np.concatenate([*rhs, [] if target is None else [target]])
    theta, *_ = np.linalg.lstsq(a_mat, b_vec, rcond=None)
    data = np.concatenate(rows), np.concatenate(rhs)
    sigma = float(np.sqrt(np.mean((data[0] @ theta - data[1]) ** 2)))
    if per_body:  # MAP: the prior weighted against the first pass's row residual
        nb = len(masses)
        w = np.concatenate([np.full(nb, sigma / BODY_MASS_PRIOR),
                            np.full(3 * nb, sigma / COM_PRIOR)])
        prior = np.zeros((4 * nb, width))
        prior[:, i0:] = np.diag(w)
        full = np.concatenate([a_mat, prior])
        theta, *_ = np.linalg.lstsq(full, np.concatenate([b_vec, w * np.r_[np.ones(nb),
                                                                           np.zeros(3 * nb)]]),
                                    rcond=None)
        # the posterior's standard deviations: what the data pinned down, what the prior
        cov = sigma ** 2 * np.linalg.pinv(full.T @ full)
        std = np.sqrt(np.diag(cov))[i0:i0 + nb]
        s_b = theta[i0:i0 + nb]
        shift = theta[i0 + nb:].reshape(nb, 3) / s_b[:, None]
        mass = float((masses * s_b).sum() / masses.sum())
        sigma = float(np.sqrt(np.mean((data[0] @ theta - data[1]) ** 2)))
    else:
        mass = float(theta[i0])
    return SysIdParams(mass_scale=mass, armature_scale=float(theta[3 * n]),
                       motor_strength=theta[:n].tolist(),
                       joint_damping=theta[n:2 * n].tolist(),
                       joint_friction=theta[2 * n:3 * n].tolist(), latency_ticks=int(latency),
                       anchor=anchor, inertia=inertia,
                       body_mass_scale=s_b.tolist() if per_body else [],
                       body_com_shift=shift.tolist() if per_body else [],
                       body_mass_std=std.tolist() if per_body else [],
                       body_names=[model.nominal.body(int(b)).name for b in model.moving]
                       if per_body else [], equation_rms=sigma)


__all__ = ["INERTIA", "WINDOW_S", "fit_linear", "resolve_inertia", "window_mean"]
