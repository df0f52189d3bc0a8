"""System identification: fit a robot's physical parameters from logged joint trajectories
(`sim2real.experiment`: the excitation on the stand, through the safety chain).

Two stages:

- **inverse dynamics, linear least squares** (`fit_linear`): per joint j and control
  interval k of the low-passed log (15 Hz, zero phase; intervals slower than 0.3 rad/s, where
  MuJoCo's soft dry friction is not yet saturated, or near the torque limit or the motor's
  torque-speed envelope left out), ``s_j tau_jk - d_j dq_jk - f_j sign(dq_jk) - a A_jk =
  m R_jk``: R the nominal rigid-body torque (``mj_inverse``, passive terms and constraints
  off) at the interval's mid-point and mean acceleration, A the nominal armature torque,
  tau the mean torque the motor's PD law applied over the interval (`applied_torque`, from
  the logged command and state: a torque *reading* is one instant of a torque that drifts
  by -kp dq per second against a held target, which reads as extra damping). Unknowns: per
  joint the motor **strength** s_j, the lumped viscous **damping** d_j and dry **friction**
  f_j (joint and gearbox), and the global **armature** scale a. Intervals near a contact
  of a link (`link_contacts`) are left out: its force is not in R. Every term is averaged
  over a 0.1 s window per row (`window_s`; the same linear filter on both sides keeps the
  equation exact): the acceleration's window mean is the velocity's change across the
  window, where a per-interval acceleration carries enough velocity-sensor noise to bias
  least squares (errors in variables: 12 % low strengths on the proxies).
  ``inertia: per_body`` replaces m R by each moving link's share of R times its own mass
  scale, plus its CoM shift's columns (4 unknowns per link, a CAD-tolerance prior for what
  the motion does not show): a quadruped's links differ one by one, and one mass scale for
  all of them put 18-21 % into quad12's strengths.
- **the absolute scale**: positions, velocities and commanded torques cannot tell a robot
  whose inertias, damping, armature and friction are all k times larger from one whose motors
  are k times weaker. One quantity must be known: the **mass** from a weighing (m given),
  or, where gravity and link inertia carry too little of the torque to anchor it (a geared
  servo arm, where armature and damping dominate: rigid-body share below 15 %; quad12 on
  its stand: 26-33 %, arm6: 3-7 %), the motors'
  **mean strength** from their datasheet (mean s_j = 1, m fitted); or, best, a second log
  carrying **known payloads** (one per leg on a quadruped's stand, where each leg's scale
  is its own), whose exactly known torques set the scale.
- **latency** (`fit`): one least squares per candidate actuation latency (the law's torques
  applied that many physics steps late); the smallest equation residual wins. Segments of
  the log re-simulated from their logged start states under the logged commands
  (`RolloutModel`: the MIT law at every physics step of a 1 ms implicit-fast model) measure
  the identified model against the nominal one.

Ground friction needs contact data and is not identified from stand data; on the stand a
quadruped's hip links' masses barely move the joints (reported as unobservable, the
prior's; docs/sim2real.md has the figures).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import mujoco
import numpy as np

from robot_rl.control.pd import JointPDController
from robot_rl.robots import get_robot
from sim2real.experiment import (
    SKIP_S,
    STAND_HEIGHT,
    SysIdError,
    SysIdLog,
    attach_payload,
    clear_workspace,
    collect,
    excitation,
    excite_proxy,
    moving_bodies,
    nominal_mass,
    payloads,
    proxy_truth,
    robot_mass,
    robot_model,
)

# -- the model --------------------------------------------------------------------------------
INERTIA = ("auto", "global", "per_body")  # `fit_linear`'s inertial models
BODY_MASS_PRIOR = 0.1  # per-body mass scale: prior 1 ± this (std; a CAD model's tolerance)
COM_PRIOR = 0.006  # m: per-body CoM offset, prior 0 ± this per axis (std)
OBSERVABLE = 0.5  # a body's mass counts as identified below this x the prior's std


@dataclass
class SysIdParams:
    """What is identified, per joint in the robot's joint order where a list: the motor
    strength (delivered / commanded torque), the joint's lumped viscous damping [N m s/rad]
    and dry friction [N m] (joint and gearbox together); globally, the mass scale of the
    moving links and the armature scale (relative to the nominal MJCF); the actuation
    latency in physics steps of the fitting model. Empty lists mean nominal."""

    mass_scale: float = 1.0
    armature_scale: float = 1.0
    motor_strength: list[float] = field(default_factory=list)
    joint_damping: list[float] = field(default_factory=list)
    joint_friction: list[float] = field(default_factory=list)
    latency_ticks: int = 0
    anchor: str = "mass"  # what set the absolute scale: "mass" (weighed), "strength" or
    # "payload" (a second log carrying a known mass)
    inertia: str = "global"  # "global": one mass scale; "per_body": per moving body
    body_mass_scale: list[float] = field(default_factory=list)  # per moving body (per_body)
    body_com_shift: list[list[float]] = field(default_factory=list)  # [m], body frame
    body_mass_std: list[float] = field(default_factory=list)  # posterior std of each scale
    body_names: list[str] = field(default_factory=list)
    equation_rms: float = 0.0  # the weighted equation rows' residual at this solution

    SCALES = ("mass_scale", "armature_scale")
    PER_JOINT = ("motor_strength", "joint_damping", "joint_friction")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def observable(self) -> np.ndarray:
        """Per body (per_body fits): whether the data pinned its mass down, i.e. its
        posterior std is under half the prior's; the others are the prior's guess (a quad12
        hip on its stand: only its small roll inertia moves the joints)."""
        return np.asarray(self.body_mass_std) < OBSERVABLE * BODY_MASS_PRIOR


class RolloutModel:
    """The nominal model with `SysIdParams` applied, re-simulating logged segments."""

    def __init__(self, robot: str, fixed_base: bool = True, timestep: float = 0.001,
                 integrator: str = "implicitfast") -> None:
        from robot_rl.robots.mjstate import MjRobot

        self.spec = get_robot(robot)
        self.nominal = robot_model(robot, fixed_base)
        self.nominal.opt.timestep = timestep
        self.nominal.opt.integrator = getattr(mujoco.mjtIntegrator,
                                              f"mjINT_{integrator.upper()}")
        self.model = copy.copy(self.nominal)
        self.data = mujoco.MjData(self.model)
        self.idx = MjRobot(self.spec, self.model, self.data)
        self.moving = moving_bodies(self.model, self.spec)
        self.dt = timestep
        # the joint PD law of the envs and the sim robot, with each tick's logged gains
        self.pd = JointPDController(self.spec.kp, self.spec.kd, self.spec.tau_max)

    def apply(self, p: SysIdParams) -> None:
        m, n = self.model, self.nominal
        b = self.moving
        scale = (np.asarray(p.body_mass_scale) if p.body_mass_scale
                 else np.full(len(b), p.mass_scale))
        m.body_mass[b] = n.body_mass[b] * scale
        m.body_inertia[b] = n.body_inertia[b] * scale[:, None]
        m.body_ipos[b] = n.body_ipos[b] + (np.asarray(p.body_com_shift) if p.body_com_shift
                                           else 0.0)
        m.dof_armature[:] = n.dof_armature * p.armature_scale
        m.dof_damping[:] = n.dof_damping
        m.dof_frictionloss[:] = n.dof_frictionloss
        adr = self.idx.dof_adr
        if p.joint_damping:
            m.dof_damping[adr] = np.maximum(p.joint_damping, 0.0)
        if p.joint_friction:
            m.dof_frictionloss[adr] = np.maximum(p.joint_friction, 0.0)
        gear = n.actuator_gear[:, 0].copy()
        if p.motor_strength:
            gear[self.idx.act_ids] *= np.asarray(p.motor_strength)
        m.actuator_gear[:, 0] = gear

    def simulate(self, log: SysIdLog, start: int, n_ticks: int, latency: int,
                 q0: np.ndarray, dq0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions and velocities at ticks ``start+1 .. start+n_ticks`` simulated from
        the state ``q0``, ``dq0`` at ``start`` under the logged commands: (n_ticks, n)."""
        m, d, r = self.model, self.data, self.idx
        mujoco.mj_resetData(m, d)
        r.q[:] = q0
        r.dq[:] = dq0
        mujoco.mj_forward(m, d)
        sub = max(1, round(log.control_dt / self.dt))
        pd = self.pd
        queue = [np.zeros(self.spec.n_joints) for _ in range(latency)]
        qs = np.empty((n_ticks, self.spec.n_joints))
        dqs = np.empty_like(qs)
        for k in range(n_ticks):
            i = start + k
            pd.kp[:], pd.kd[:] = log.kp[i], log.kd[i]
            qt, dqt, ff = log.q_target[i], log.dq_target[i], log.tau_ff[i]
            for _ in range(sub):
                tau = pd.torque(qt, r.q, r.dq, dqt, ff)  # a fresh array: safe to queue
                if queue:
                    queue.append(tau)
                    tau = queue.pop(0)
                r.set_torque(tau)
                mujoco.mj_step(m, d)
            qs[k] = r.q
            dqs[k] = r.dq
        return qs, dqs


# -- the fit ----------------------------------------------------------------------------------
def smooth(x: np.ndarray, dt: float, cutoff_hz: float = 15.0) -> np.ndarray:
    """Zero-phase low-pass (4th-order Butterworth, forward and backward) along axis 0:
    sensor noise out, the motion (a few Hz) kept, no delay added."""
    from scipy.signal import butter, filtfilt

    b, a = butter(4, min(cutoff_hz * 2 * dt, 0.99))
    return np.asarray(filtfilt(b, a, x, axis=0))


def applied_torque(log: SysIdLog, q: np.ndarray, dq: np.ndarray, latency: int = 0,
                   substeps: int = 5, tau_max: np.ndarray | None = None) -> np.ndarray:
    """The mean torque the motors' PD law applied over each control interval k → k + 1 [N m],
    (T - 1, n): the law (`JointPDController`, the interval's logged command) evaluated at
    ``substeps`` instants per interval on the state interpolated between the ticks, each
    torque applied ``latency`` sub-steps later (before the log: the first command).

    Why not the torque the motors report: a reading is one instant of a torque that drifts
    within the interval as the joint moves against a held target (by -kp dq per second), so
    its offset from the interval's mean is proportional to the velocity: with kp 20 and a
    reading 1-4 ms off the centre of a 5 ms interval, 0.02-0.08 N m s/rad of apparent damping,
    as large as the joints' own (measured on the proxy: damping found 0.040-0.117 against
    0.0755 depending on the reading's instant, 0.0755 from the physics-rate record)."""
    t_n, n = q.shape
    sub = int(substeps)
    f = (np.arange(sub) / sub)[None, :, None]  # (1, sub, 1) fractions of the interval
    qs = q[:-1, None, :] + f * (q[1:] - q[:-1])[:, None, :]  # (T-1, sub, n)
    vs = dq[:-1, None, :] + f * (dq[1:] - dq[:-1])[:, None, :]
    lim = get_robot(log.robot).tau_max if tau_max is None else tau_max
    kp, kd = log.kp[:-1, None, :], log.kd[:-1, None, :]
    law = (kp * (log.q_target[:-1, None, :] - qs) + kd * (log.dq_target[:-1, None, :] - vs)
           + log.tau_ff[:-1, None, :])
    law = np.clip(law, -lim, lim).reshape((t_n - 1) * sub, n)
    if latency > 0:
        law = np.concatenate([np.repeat(law[:1], latency, axis=0), law[:-latency]])
    return np.asarray(law.reshape(t_n - 1, sub, n).mean(axis=1))


@dataclass
class _Regressors:
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


COM_STEP = 1e-4  # m: the finite-difference step of the CoM-shift columns (`_regressors`)


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


def _regressors(log: SysIdLog, model: RolloutModel, per_body: bool = False) -> _Regressors:
    """The log's regressors (`_Regressors`); ``per_body``: also each moving body's columns.

    The rigid-body torque is linear in each body's inertial parameters (recursive Newton-Euler),
    so body b's share is exactly the torque of the model with b's mass and inertia doubled,
    less the nominal torque; its CoM shift's is a finite difference of the body's ``ipos``,
    which leaves the parallel-axis term's second order in the shift (3.7 % of a 1.1 cm
    shift's effect on a quad12 thigh, whose CoM is 4 cm from its joint)."""
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
    return _Regressors(ks, clear, v_mid[ks], acc[ks], rigid, q, dq, payload, bodies)


WINDOW_S = 0.1  # s: every term of the equation averaged over this window (`_rows`)
CONTACT_MARGIN = 0.005  # m: links this close to something count as touching it


def link_contacts(log: SysIdLog, model: RolloutModel,
                  margin: float = CONTACT_MARGIN) -> np.ndarray:
    """Per tick, whether a link of the robot touches anything (the table, the scene's
    objects at their nominal places unless the log says the table was cleared, the robot
    itself) at the logged joint positions, by MuJoCo's collision detection on the nominal
    model: (T,) bool. Within ``margin`` counts as touching: the logged angles are the
    motor-side encoders', up to half a gearbox play (≤ 5 mrad on the proxies, ~1.5 mm at the
    gripper) from the link's, and a link grazing the table there was missed (single
    intervals with a 3 N m residual at the true parameters)."""
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


def window_mean(x: np.ndarray, half: int) -> np.ndarray:
    """Centred moving average over ``2 half + 1`` samples along axis 0, where the window fits
    (the first and last ``half`` samples dropped): shape (len(x) - 2 half, ...)."""
    if half <= 0:
        return np.asarray(x, dtype=np.float64)
    c = np.cumsum(np.concatenate([np.zeros((1, *x.shape[1:])), x]), axis=0)
    return np.asarray((c[2 * half + 1:] - c[:-2 * half - 1]) / (2 * half + 1))


def _rows(log: SysIdLog, model: RolloutModel, r: _Regressors, latency: int,
          min_speed: float, window_s: float
          ) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """One log's equations per joint (weighted rows, right-hand sides) and each joint's
    rigid-body share of the torque. A payload's known torque goes to the right-hand side.

    Every term of the equation is averaged over a window of ``window_s`` centred on each
    row (the same linear filter on both sides keeps the equation exact): the acceleration's
    mean over a window is the velocity's change across it divided by its length, where the
    per-interval acceleration is a derivative of the velocity sensor's noise. That noise in
    a regressor biases least squares (errors in variables): with the proxy's σ 0.05 rad/s
    velocity noise, per-interval rows put the payload-anchored strengths 12 % low (all
    parameters alike), 1 % without the noise. A row is kept only where every interval of
    its window is usable (moving, unsaturated, clear of contacts)."""
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
    per_body is only anchored by known payloads: with a weighing or the mean strength,
    3 of quad12's 4 leg scales are left to the prior (measured: 30-47 % errors)."""
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
               pre: _Regressors | None = None,
               payload: tuple[SysIdLog, _Regressors | None] | None = None,
               inertia: str = "auto") -> SysIdParams:
    """The inverse-dynamics least squares of the module docstring, for an actuation latency of
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
        r = _regressors(lg, model, per_body) if given is None else given
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


def segments(log: SysIdLog, segment_s: float, max_segments: int | None = None,
             skip_s: float = SKIP_S) -> list[tuple[int, int]]:
    """(start, length) of the segments used by the rollouts: consecutive, after the soft
    start, evenly thinned to ``max_segments``."""
    n = max(2, round(segment_s / log.control_dt))
    first = round(skip_s / log.control_dt)
    starts = list(range(first, len(log.t) - n - 1, n))
    if not starts:
        raise SysIdError(f"the log ({log.seconds:.1f} s) is shorter than the soft start plus "
                         f"one {segment_s} s segment")
    if max_segments is not None and len(starts) > max_segments:
        pick = np.linspace(0, len(starts) - 1, max_segments).round().astype(int)
        starts = [starts[i] for i in pick]
    return [(s, n) for s in starts]


@dataclass
class FitResult:
    params: SysIdParams
    residual_by_latency: dict[int, float]  # the equation's rms residual (picks the latency)
    rms_q_by_latency: dict[int, float]  # rad, rollout position error per candidate latency
    rms_q: float  # rad, at the identified parameters
    rms_q_nominal: float  # rad, with the nominal parameters
    seconds_used: float  # of rollouts per parameter set
    log_seconds: float
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = self.params.to_dict()
        return d


def fit(log: SysIdLog, total_mass_kg: float | None = None,
        latencies: Sequence[int] = (0, 1, 2, 3), segment_s: float = 0.5,
        max_segments: int | None = 60, timestep: float = 0.001,
        integrator: str = "implicitfast",
        progress: Callable[[str], None] | None = None,
        payload_log: SysIdLog | None = None, anchor: str = "auto",
        window_s: float = WINDOW_S, inertia: str = "auto") -> FitResult:
    """Identify `SysIdParams` from ``log`` (see the module docstring). ``total_mass_kg``: the
    robot weighed on a scale (None: its nominal mass); it sets the mass scale. ``timestep``
    and ``integrator``: the fitting model's physics (latencies count its ticks).
    ``payload_log``: a second experiment with a known payload (`excite_proxy`'s
    ``payload``); its equations join the least squares and its known torques set the
    absolute scale. ``anchor``, ``inertia``: see `fit_linear`.

    The latency is the candidate whose least squares leaves the smallest equation residual
    (on quad12 and arm6 proxies 0-2 the true one in 6 of 6; the rollouts' position error,
    the first criterion, picked it in 3 of 6: within a control interval a tick of latency
    moves the re-simulated positions less than the other model errors do). The rollouts of
    ``log`` (every candidate's, and the nominal model's) measure the identified model."""
    t0 = time.perf_counter()
    model = RolloutModel(log.robot, log.fixed_base, timestep, integrator)
    mass_scale = 1.0 if total_mass_kg is None else total_mass_kg / nominal_mass(log.robot)
    inertia = resolve_inertia(inertia, model.spec.floating_base, anchor,
                              payload_log is not None)
    per_body = inertia == "per_body"
    pre = _regressors(log, model, per_body)
    with_payload = None if payload_log is None else (payload_log,
                                                     _regressors(payload_log, model, per_body))
    segs = segments(log, segment_s, max_segments)
    q_s, dq_s = pre.q, pre.dq  # the rollouts' start states

    def rms_q(p: SysIdParams) -> float:
        """Rollout position error over all segments [rad]."""
        model.apply(p)
        err = [model.simulate(log, s, n, p.latency_ticks, q_s[s], dq_s[s])[0]
               - log.q[s + 1:s + 1 + n] for s, n in segs]
        return float(np.sqrt(np.mean(np.concatenate(err) ** 2)))

    by_latency: dict[int, float] = {}
    fits: dict[int, SysIdParams] = {}
    for lat in latencies:  # per latency its least squares; the smallest residual wins
        fits[int(lat)] = fit_linear(log, model, mass_scale, anchor, latency=int(lat),
                                    window_s=window_s, pre=pre, payload=with_payload,
                                    inertia=inertia)
        by_latency[int(lat)] = rms_q(fits[int(lat)])
        if progress is not None:
            progress(f"latency {lat} ticks: {json.dumps(fits[int(lat)].to_dict())}; rollout "
                     f"rms {by_latency[int(lat)] * 1e3:.3f} mrad")
    lat = min(fits, key=lambda k: fits[k].equation_rms)
    best = fits[lat]
    nominal = SysIdParams(mass_scale=1.0, motor_strength=[1.0] * model.spec.n_joints)
    return FitResult(params=best,
                     residual_by_latency={k: round(f.equation_rms, 6) for k, f in fits.items()},
                     rms_q_by_latency=by_latency, rms_q=by_latency[lat],
                     rms_q_nominal=rms_q(nominal),
                     seconds_used=round(sum(n for _, n in segs) * log.control_dt, 2),
                     log_seconds=round(log.seconds + (payload_log.seconds if payload_log
                                                      is not None else 0.0), 2),
                     wall_s=round(time.perf_counter() - t0, 1))


def compare(found: SysIdParams, truth: dict[str, Any]) -> dict[str, Any]:
    """Relative errors of an identification against known parameters (a proxy's): the
    global scales, and per joint the largest error over the joints."""
    out: dict[str, Any] = {}
    for k in SysIdParams.SCALES:
        out[k] = {"found": round(getattr(found, k), 4), "true": round(truth[k], 4),
                  "rel_error": round(abs(getattr(found, k) / truth[k] - 1.0), 4)}
    for k in SysIdParams.PER_JOINT:
        f, t = np.asarray(getattr(found, k)), np.asarray(truth[k])
        out[k] = {"max_rel_error": round(float(np.max(np.abs(f / t - 1))), 4),
                  "median_rel_error": round(float(np.median(np.abs(f / t - 1))), 4),
                  "found": np.round(f, 4).tolist(), "true": np.round(t, 4).tolist()}
    out["latency_ticks"] = {"found": found.latency_ticks, "true": truth["latency_ticks"]}
    per = list(SysIdParams.PER_JOINT)
    if found.body_mass_scale and "body_mass_scale" in truth:
        f, t = np.asarray(found.body_mass_scale), np.asarray(truth["body_mass_scale"])
        err = np.abs(f / t - 1)
        seen = found.observable()
        out["body_mass_scale"] = {
            "max_rel_error": round(float(np.max(err[seen], initial=0.0)), 4),
            "median_rel_error": round(float(np.median(err[seen])) if seen.any() else 0.0, 4),
            "unobservable": [found.body_names[i] if found.body_names else int(i)
                             for i in np.flatnonzero(~seen)],
            "unobservable_max_rel_error": round(float(np.max(err[~seen], initial=0.0)), 4),
            "found": np.round(f, 4).tolist(), "true": t.tolist(),
            "posterior_std": np.round(found.body_mass_std, 4).tolist()}
        per.append("body_mass_scale")
        c = np.asarray(found.body_com_shift) - np.asarray(truth["body_com_shift"])
        out["body_com_shift"] = {"max_abs_error_mm": round(float(np.abs(c).max()) * 1e3, 2),
                                 "rms_error_mm": round(float(np.sqrt(np.mean(c ** 2))) * 1e3, 2),
                                 "true_rms_mm": round(float(np.sqrt(np.mean(np.asarray(
                                     truth["body_com_shift"]) ** 2))) * 1e3, 2)}
    out["max_rel_error"] = round(max([out[k]["rel_error"] for k in SysIdParams.SCALES]
                                     + [out[k]["max_rel_error"] for k in per]), 4)
    return out


__all__ = [
    "STAND_HEIGHT",
    "FitResult",
    "RolloutModel",
    "SysIdError",
    "SysIdLog",
    "SysIdParams",
    "collect",
    "compare",
    "excitation",
    "excite_proxy",
    "fit",
    "fit_linear",
    "moving_bodies",
    "nominal_mass",
    "proxy_truth",
    "robot_mass",
    "robot_model",
    "segments",
]
