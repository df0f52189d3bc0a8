"""The inverse-dynamics regressors of a log: what the least squares of `sim2real.linear_fit`
needs from it, whatever the unknowns' values and the candidate latency.

The log is low-passed (zero phase, `smooth`). Per control interval k → k + 1 after the soft
start: the mid-point state and the mean acceleration; R, the nominal rigid-body torque there
(``mj_inverse`` on `rigid_body_model`: passive terms and constraints off); with a payload in
the log's meta, the payload's own torque; for per-body inertia, each moving body's share of
R and the derivative of R in its centre of mass; and whether the robot's links were clear of
contacts around the interval (`link_contacts`: a contact's force is not in R). The torque
side of the equation is `applied_torque`, the mean of the PD law over the interval.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.signal import butter, filtfilt

from robot_rl.control.pd import pd_torque
from robot_rl.robots import get_robot
from sim2real.experiment import attach_payload, clear_workspace, moving_bodies, payloads
from sim2real.log import SKIP_S, SysIdError, SysIdLog
from sim2real.rollout import RolloutModel

COM_STEP = 1e-4  # m: the finite-difference step of the CoM-shift columns (`log_regressors`)
CONTACT_MARGIN = 0.005  # m: links this close to something count as touching it


def smooth(x: np.ndarray, dt: float, cutoff_hz: float = 15.0) -> np.ndarray:
    """Zero-phase low-pass (4th-order Butterworth, forward and backward) along axis 0:
    sensor noise out, the motion (a few Hz) kept, no delay added."""
    b, a = butter(4, min(cutoff_hz * 2 * dt, 0.99))
    return np.asarray(filtfilt(b, a, x, axis=0))


def applied_torque(log: SysIdLog, q: np.ndarray, dq: np.ndarray, latency: int = 0,
                   substeps: int = 5, tau_max: np.ndarray | None = None) -> np.ndarray:
    """The mean torque the motors' PD law applied over each control interval k → k + 1 [N m],
    (T - 1, n): the law (`robot_rl.control.pd.pd_torque`, the interval's logged command and
    gains, clipped at ``tau_max``, default the robot's limit) evaluated at ``substeps``
    instants per interval on the state interpolated between the ticks, each torque applied
    ``latency`` sub-steps later (before the log: the first command).

    Why not the torque the motors report: a reading is one instant of a torque that drifts
    within the interval as the joint moves against a held target (by -kp dq per second), so
    its offset from the interval's mean is proportional to the velocity, and the least
    squares reads it as damping: kp times the reading's offset from the interval's centre
    [s], of the order of the joints' own damping."""
    t_n, n = q.shape
    sub = int(substeps)
    f = (np.arange(sub) / sub)[None, :, None]  # (1, sub, 1) fractions of the interval
    qs = q[:-1, None, :] + f * (q[1:] - q[:-1])[:, None, :]  # (T-1, sub, n)
    vs = dq[:-1, None, :] + f * (dq[1:] - dq[:-1])[:, None, :]
    lim = get_robot(log.robot).tau_max if tau_max is None else tau_max
    law = pd_torque(log.q_target[:-1, None, :], qs, vs, log.kp[:-1, None, :],
                    log.kd[:-1, None, :], log.dq_target[:-1, None, :], log.tau_ff[:-1, None, :],
                    lim).reshape((t_n - 1) * sub, n)
    if latency > 0:
        law = np.concatenate([np.repeat(law[:1], latency, axis=0), law[:-latency]])
    return np.asarray(law.reshape(t_n - 1, sub, n).mean(axis=1))


@dataclass
class Regressors:
    """What the least squares needs from a log, independent of the latency: per control
    interval of the used range (after the soft start), the mid-point state and mean
    acceleration, the nominal rigid-body torque there, whether the robot's links were clear
    of contacts, and the smoothed log."""

    ks: np.ndarray  # the intervals (consecutive)
    clear: np.ndarray  # (len(ks),) bool: no contact of the robot's links near the interval
    v_mid: np.ndarray  # (len(ks), n)
    acc: np.ndarray
    rigid: np.ndarray
    q: np.ndarray  # smoothed, (T, n)
    dq: np.ndarray
    payload: np.ndarray | None = None  # the known payload's torque, when the log had one
    bodies: np.ndarray | None = None  # (len(ks), n, 4 B): per moving body b its nominal
    # torque R_b (columns 0..B-1), then d tau / d(CoM shift) along x, y, z (B..4B-1, b-major)


def rigid_body_model(model: RolloutModel) -> mujoco.MjModel:
    """A copy of the nominal model whose inverse dynamics is the rigid-body torque R alone:
    no joint damping, armature or dry friction, and no constraints (a free scene object's
    contacts, or a limit, which the excitation keeps away from, would put arbitrary
    constraint forces into R)."""
    m = copy.copy(model.nominal)
    m.dof_damping[:] = 0.0
    m.dof_armature[:] = 1e-9  # (not 0: a massless gripper jaw would make M singular)
    m.dof_frictionloss[:] = 0.0
    m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONSTRAINT
    return m


def log_regressors(log: SysIdLog, model: RolloutModel, per_body: bool = False) -> Regressors:
    """The log's regressors (`Regressors`); ``per_body``: also each moving body's columns.

    The rigid-body torque is linear in each body's inertial parameters (recursive Newton-Euler),
    so body b's share is exactly the torque of the model with b's mass and inertia doubled,
    less the nominal torque; its CoM shift's is a finite difference of the body's ``ipos``
    (`COM_STEP`), which leaves out the parallel-axis term's second order in the shift."""
    dt, spec, idx = log.control_dt, model.spec, model.idx
    q, dq = smooth(log.q, dt), smooth(log.dq, dt)
    q_mid, v_mid = 0.5 * (q[1:] + q[:-1]), 0.5 * (dq[1:] + dq[:-1])
    acc = np.diff(dq, axis=0) / dt  # the mean acceleration over each interval
    m = rigid_body_model(model)
    skip = round(SKIP_S / dt)
    ks = np.arange(skip, len(q) - 1 - skip // 2)
    touching = link_contacts(log, model)
    # a contact's force is not in the inverse dynamics, and the low-pass spreads its effect
    # over ~50 ms: the intervals that close to a contact are left out
    margin = max(1, round(0.05 / dt))
    near = np.convolve(touching.astype(float), np.ones(2 * margin + 1), "same") > 0
    clear = ~near[ks] & ~near[ks + 1]
    if clear.sum() < 400:
        raise SysIdError(f"the robot's links touch something in {touching.mean():.0%} of the "
                         "log's ticks: excite it clear of the table and the objects")

    def inverse(models: list[mujoco.MjModel]) -> np.ndarray:
        """Each model's inverse dynamics at every interval: (len(models), len(ks), n)."""
        datas = [mujoco.MjData(mm) for mm in models]
        out = np.empty((len(models), len(ks), spec.n_joints))
        for i, k in enumerate(ks):
            for mm, d, o in zip(models, datas, out, strict=True):
                d.qpos[idx.qpos_adr] = q_mid[k]
                d.qvel[idx.dof_adr] = v_mid[k]
                d.qacc[idx.dof_adr] = acc[k]
                mujoco.mj_inverse(mm, d)
                o[i] = d.qfrc_inverse[idx.dof_adr]
        return out

    variants = [m]
    if log.meta.get("payload"):  # its torque: the model with it, less the model without
        mp = copy.copy(m)
        for pl in payloads(log.meta):
            attach_payload(mp, pl)
        variants.append(mp)
    if per_body:
        for b in model.moving:
            mb = copy.copy(m)
            mb.body_mass[b] *= 2.0
            mb.body_inertia[b] *= 2.0
            variants.append(mb)
        for b in model.moving:
            for axis in range(3):
                mb = copy.copy(m)
                mb.body_ipos[b, axis] += COM_STEP
                variants.append(mb)
    tau = inverse(variants)
    rigid, rest = tau[0], tau[1:]
    payload = None
    if log.meta.get("payload"):
        payload, rest = rest[0] - rigid, rest[1:]
    bodies = None
    if per_body:
        nb = len(model.moving)
        share = rest[:nb] - rigid
        shift = (rest[nb:] - rigid) / COM_STEP
        bodies = np.concatenate([share, shift]).transpose(1, 2, 0)  # (len(ks), n, 4 B)
    return Regressors(ks, clear, v_mid[ks], acc[ks], rigid, q, dq, payload, bodies)


def link_contacts(log: SysIdLog, model: RolloutModel,
                  margin: float = CONTACT_MARGIN) -> np.ndarray:
    """Per tick, whether a link of the robot touches anything (the table, the scene's
    objects at their nominal places unless the log says the table was cleared, the robot
    itself) at the logged joint positions, by MuJoCo's collision detection on the nominal
    model: (T,) bool. Within ``margin`` counts as touching: the logged angles are the
    motor-side encoders', up to half a gearbox play from the link's, so a link the log puts
    just clear of the table may be touching it."""
    m = copy.copy(model.nominal)
    m.geom_margin[:] = margin
    d = mujoco.MjData(m)
    if log.meta.get("objects_cleared"):  # the experiment ran on a cleared table
        clear_workspace(m, d, model.spec)
    idx = model.idx
    robot = np.zeros(m.nbody, dtype=bool)
    robot[moving_bodies(m, model.spec)] = True
    geom_robot = robot[m.geom_bodyid]
    out = np.zeros(len(log.q), dtype=bool)
    for k, q in enumerate(log.q):
        d.qpos[idx.qpos_adr] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_collision(m, d)
        if d.ncon:
            g = d.contact.geom[: d.ncon]
            out[k] = bool(geom_robot[g].any())  # (with the margin: every pair this close)
    return out


__all__ = ["COM_STEP", "CONTACT_MARGIN", "Regressors", "applied_torque", "link_contacts",
           "log_regressors", "rigid_body_model", "smooth"]
