"""System identification: fit a robot's physical parameters from logged joint trajectories
by optimisation over MuJoCo rollouts.

The experiment (what a robotics engineer does on the bench):

1. **Excite** (`excitation`): per joint, a multisine of a few components between 0.1 and
   2.5 Hz about the default pose, faded in and out over 2 s, its amplitude a fraction of the
   distance to the nearer joint limit and its peak speed at most half the velocity limit.
   A quadruped is hung on a stand (`robot_model(..., fixed_base=True)`: the base welded in
   the air) so the legs swing freely; an arm stays on its base.
2. **Collect** (`collect`): the targets go to the robot through the robot's own safety chain
   (soft start from the measured pose, joint / rate / torque limits, watchdogs) at the
   control rate, and every tick logs the state read (q, dq, measured motor torque) and the
   command actually sent. `SysIdLog` is that log (``.npz``).
3. **Fit** (`fit`), in two stages:

   - *torque channel* (linear least squares, per joint): the measured torque against the
     MIT law ``kp (q* - q) + kd (dq* - dq) + tau_ff`` recomputed from the logged command and
     state, with a ``kp dq`` column that absorbs the sample delay between the two; samples
     within 5 % of the torque limit are left out. The slope is the joint's **motor strength**
     (delivered / commanded torque).
   - *dynamics channel* (nonlinear least squares over rollouts, scipy's trust-region
     reflective): the log is cut into segments of ``segment_s``; each is re-simulated from
     its logged initial state under its logged commands, with the MIT law evaluated at every
     physics step (``timestep``, implicit-fast integrator by default), the strengths of the
     first stage, and the candidate parameters: **mass scale** (every body below the base,
     inertia with it), joint **damping**, **armature** and dry **friction** (frictionloss)
     scales, as log-scales. The residual is the simulated minus the logged joint positions
     and velocities, each divided by its sensor noise. The **actuation latency** (whole
     physics ticks) is chosen by fitting at each candidate latency and keeping the lowest cost.

Identifiability: positions, velocities and torques cannot separate a common scale of all
inertial parameters from the motor strength, which is why the measured torque fixes the
strength first. Ground friction needs contact and is not identified from stand data.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from robot_rl.robots import get_robot
from robot_rl.robots.spec import RobotSpec
from robot_rl.types import JointCommand, RobotState

STAND_HEIGHT = 0.6  # m: base height when a floating-base robot hangs on the stand
LOG_FIELDS = ("t", "q", "dq", "tau", "q_target", "dq_target", "kp", "kd", "tau_ff")


class SysIdError(ValueError):
    """A log or a setting the identification cannot use (the message says why and what to do)."""


# -- the model --------------------------------------------------------------------------------
def robot_model(robot: str, fixed_base: bool = True) -> mujoco.MjModel:
    """The robot's own MJCF; with ``fixed_base`` a floating-base robot's free joint is removed
    and its base hangs at `STAND_HEIGHT` (keyframes keep their joint part)."""
    spec = get_robot(robot)
    if not (fixed_base and spec.floating_base):
        return mujoco.MjModel.from_xml_path(str(spec.mjcf))
    ms = mujoco.MjSpec.from_file(str(spec.mjcf))
    base = ms.body(spec.base_body)
    for j in list(base.joints):
        ms.delete(j)
    base.pos = [0.0, 0.0, STAND_HEIGHT]
    for key in ms.keys:
        key.qpos = np.asarray(key.qpos)[7:]
        if len(key.qvel):
            key.qvel = np.asarray(key.qvel)[6:]
    return ms.compile()


def moving_bodies(model: mujoco.MjModel, spec: RobotSpec) -> np.ndarray:
    """Ids of the bodies below the robot's base (what a stand or arm experiment moves)."""
    base = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, spec.base_body)
    ids = []
    for b in range(1, model.nbody):
        p = b
        while p > 0 and p != base:
            p = int(model.body_parentid[p])
        if p == base and b != base:
            ids.append(b)
    return np.array(ids, dtype=np.int64)


@dataclass
class SysIdParams:
    """What is identified. Scales are relative to the nominal MJCF; ``latency_ticks`` counts
    physics steps of the fitting model's timestep; ``motor_strength`` is per joint (the
    robot's joint order)."""

    mass_scale: float = 1.0
    damping_scale: float = 1.0
    armature_scale: float = 1.0
    frictionloss_scale: float = 1.0
    motor_strength: list[float] = field(default_factory=list)
    latency_ticks: int = 0

    SCALES = ("mass_scale", "damping_scale", "armature_scale", "frictionloss_scale")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    def apply(self, p: SysIdParams) -> None:
        m, n = self.model, self.nominal
        b = self.moving
        m.body_mass[b] = n.body_mass[b] * p.mass_scale
        m.body_inertia[b] = n.body_inertia[b] * p.mass_scale
        m.dof_damping[:] = n.dof_damping * p.damping_scale
        m.dof_armature[:] = n.dof_armature * p.armature_scale
        m.dof_frictionloss[:] = n.dof_frictionloss * p.frictionloss_scale
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
        tau_max = self.spec.tau_max
        queue = [np.zeros(self.spec.n_joints) for _ in range(latency)]
        qs = np.empty((n_ticks, self.spec.n_joints))
        dqs = np.empty_like(qs)
        for k in range(n_ticks):
            i = start + k
            kp, kd, qt, dqt, ff = (log.kp[i], log.kd[i], log.q_target[i], log.dq_target[i],
                                   log.tau_ff[i])
            for _ in range(sub):
                tau = np.clip(kp * (qt - r.q) + kd * (dqt - r.dq) + ff, -tau_max, tau_max)
                if queue:
                    queue.append(tau)
                    tau = queue.pop(0)
                r.set_torque(tau)
                mujoco.mj_step(m, d)
            qs[k] = r.q
            dqs[k] = r.dq
        return qs, dqs


# -- the log ----------------------------------------------------------------------------------
@dataclass
class SysIdLog:
    """Joint trajectories at the control rate: row k is the state read at tick k and the
    command sent right after it (held until tick k + 1). Arrays (T, n_joints), ``t`` (T,)."""

    robot: str
    control_dt: float
    fixed_base: bool
    t: np.ndarray
    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    q_target: np.ndarray
    dq_target: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    tau_ff: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return float(len(self.t) * self.control_dt)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"robot": self.robot, "control_dt": self.control_dt,
                  "fixed_base": self.fixed_base, "meta": self.meta}
        np.savez_compressed(path, header=np.array(json.dumps(header)),
                            **{k: getattr(self, k) for k in LOG_FIELDS})
        return path

    @classmethod
    def load(cls, path: str | Path) -> SysIdLog:
        path = Path(path)
        if not path.is_file():
            raise SysIdError(f"{path}: no such log; record one with `robot-rl sysid excite`")
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                arrays = {k: np.asarray(z[k], dtype=np.float64) for k in LOG_FIELDS}
        except (OSError, ValueError, KeyError) as e:
            raise SysIdError(f"{path}: not a sysid log ({e}); record one with "
                             "`robot-rl sysid excite`") from None
        log = cls(robot=header["robot"], control_dt=float(header["control_dt"]),
                  fixed_base=bool(header["fixed_base"]), meta=header.get("meta", {}),
                  **arrays)
        log.validate()
        return log

    def validate(self) -> None:
        spec = get_robot(self.robot)
        n, rows = spec.n_joints, len(self.t)
        for k in LOG_FIELDS[1:]:
            a = getattr(self, k)
            if a.shape != (rows, n):
                raise SysIdError(f"sysid log field '{k}' has shape {a.shape}, expected "
                                 f"({rows}, {n}) for robot {self.robot}")
            if not np.all(np.isfinite(a)):
                raise SysIdError(f"sysid log field '{k}' holds NaN/inf values")
        if rows < 200:
            raise SysIdError(f"sysid log has {rows} ticks; at least 200 are needed")


# -- excitation and collection ----------------------------------------------------------------
def excitation(spec: RobotSpec, seconds: float, control_dt: float, seed: int = 0,
               amplitude: float = 0.5, speed: float = 0.5, n_sines: int = 5,
               band_hz: tuple[float, float] = (0.1, 2.5), fade_s: float = 2.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Joint targets and target velocities, shapes (T, n): multisines about ``spec.q0`` with
    a peak of ``amplitude`` x the distance to the nearer limit and a peak speed of at most
    ``speed`` x the velocity limit, faded in and out over ``fade_s``."""
    if not 0 < amplitude <= 0.9 or not 0 < speed <= 1.0:
        raise SysIdError(f"excitation amplitude must be in (0, 0.9] and speed in (0, 1], got "
                         f"{amplitude} and {speed}")
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds / control_dt)) * control_dt
    fade = np.clip(np.minimum(t, t[-1] - t) / fade_s, 0.0, 1.0)
    window = 0.5 - 0.5 * np.cos(np.pi * fade)
    room = np.minimum(spec.q0 - spec.q_min, spec.q_max - spec.q0)
    q, dq = np.empty((len(t), spec.n_joints)), np.empty((len(t), spec.n_joints))
    for j in range(spec.n_joints):
        f = np.exp(rng.uniform(np.log(band_hz[0]), np.log(band_hz[1]), n_sines))
        ph = rng.uniform(0, 2 * np.pi, n_sines)
        x = np.sin(2 * np.pi * f[None, :] * t[:, None] + ph).sum(1) * window
        v = np.gradient(x, control_dt)
        a = amplitude * room[j] / np.abs(x).max()
        a = min(a, speed * spec.dq_max[j] / np.abs(v).max())
        q[:, j] = spec.q0[j] + a * x
        dq[:, j] = a * v
    return q, dq


def collect(robot: Any, supervisor: Any, q_target: np.ndarray, dq_target: np.ndarray,
            control_dt: float, advance: Callable[[], float], meta: dict[str, Any] | None = None,
            fixed_base: bool = True) -> SysIdLog:
    """Drive ``robot`` (the `hardware.robot.Robot` interface) through ``supervisor`` (its
    safety chain) with the targets, one per control tick; ``advance()`` waits for the next
    tick and returns the time (a sleep on hardware, physics steps in the lockstep sim)."""
    spec = robot.spec
    rows: dict[str, list[np.ndarray]] = {k: [] for k in LOG_FIELDS}
    t = 0.0
    for k in range(len(q_target)):
        st: RobotState = robot.read_state()
        supervisor.update_state(st, t)
        cmd = JointCommand(spec.joint_names, q_target[k], dq_target[k], spec.kp.copy(),
                           spec.kd.copy(), np.zeros(spec.n_joints))
        supervisor.submit_policy(cmd, t)
        out = supervisor.tick(t)
        sent = robot.write_command(out)
        for name, val in (("t", np.array(t)), ("q", st.q), ("dq", st.dq), ("tau", st.tau),
                          ("q_target", sent.q_target), ("dq_target", sent.dq_target),
                          ("kp", sent.kp), ("kd", sent.kd), ("tau_ff", sent.tau_ff)):
            rows[name].append(np.array(val, dtype=np.float64))
        t = advance()
    arrays = {k: np.stack(v) for k, v in rows.items()}
    log = SysIdLog(robot=spec.name, control_dt=control_dt, fixed_base=fixed_base,
                   meta=dict(meta or {}), **arrays)
    log.validate()
    return log


def excite_proxy(robot: str, proxy_seed: int | None, seconds: float = 120.0, seed: int = 0,
                 amplitude: float = 0.5, speed: float = 0.5) -> SysIdLog:
    """The experiment on the reality proxy of ``proxy_seed`` (None: the nominal sim), in
    lockstep (as fast as the machine goes): robot on its stand, through its safety chain."""
    from hardware.sim_plant import SimPlant
    from hardware.sim_robot import SimRobot
    from robot_rl.robots.config import load_robot_config
    from robot_rl.runtime.deploy import make_supervisor

    rcfg = load_robot_config(robot=robot)
    spec = rcfg.effective_spec()
    plant = SimPlant(robot, model=robot_model(robot, fixed_base=True), realtime=0,
                     proxy_seed=proxy_seed)
    with plant.lock:
        plant.robot.q[:] = spec.q0
        mujoco.mj_forward(plant.model, plant.data)
    sim = SimRobot(plant, lockstep=True)
    sim.connect()
    sub = max(1, round(rcfg.control_dt / plant.dt))

    def advance() -> float:
        plant.step(sub)
        return plant.steps * plant.dt

    q_t, dq_t = excitation(spec, seconds, rcfg.control_dt, seed, amplitude, speed)
    meta: dict[str, Any] = {"source": "proxy" if proxy_seed is not None else "sim",
                            "total_mass_kg": round(robot_mass(plant.model, spec), 4),
                            "proxy_seed": proxy_seed, "excitation_seed": seed,
                            "amplitude": amplitude, "speed": speed}
    if plant.proxy is not None:
        meta["proxy"] = plant.proxy.to_dict()
        meta["truth"] = proxy_truth(plant.proxy, plant.model, spec, plant.robot.act_ids)
    try:
        return collect(sim, make_supervisor(rcfg, spec, rcfg.control_dt), q_t, dq_t,
                       rcfg.control_dt, advance, meta)
    finally:
        sim.disconnect()


def proxy_truth(proxy: Any, model: mujoco.MjModel, spec: RobotSpec, act_ids: np.ndarray
                ) -> dict[str, Any]:
    """The proxy's parameters in `SysIdParams` terms: the mass scale of the moving bodies
    (mass-weighted mean of the per-body scales), the joint scales, per-joint strengths."""
    moving = moving_bodies(model, spec)
    scale = np.asarray(proxy.mass_scale)[moving - 1]
    nominal = model.body_mass[moving] / scale
    return {"mass_scale": float((nominal * scale).sum() / nominal.sum()),
            "damping_scale": proxy.damping_scale, "armature_scale": proxy.armature_scale,
            "frictionloss_scale": proxy.frictionloss_scale,
            "motor_strength": [float(proxy.motor_strength[a]) for a in act_ids],
            "latency_ticks": proxy.latency_ticks}


# -- the fit ----------------------------------------------------------------------------------
def smooth(x: np.ndarray, dt: float, cutoff_hz: float = 15.0) -> np.ndarray:
    """Zero-phase low-pass (4th-order Butterworth, forward and backward) along axis 0:
    sensor noise out, the motion (a few Hz) kept, no delay added."""
    from scipy.signal import butter, filtfilt

    b, a = butter(4, min(cutoff_hz * 2 * dt, 0.99))
    return np.asarray(filtfilt(b, a, x, axis=0))


def robot_mass(model: mujoco.MjModel, spec: RobotSpec) -> float:
    """The robot's mass in ``model`` (base and every body below it) [kg]."""
    base = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, spec.base_body)
    return float(model.body_mass[base] + model.body_mass[moving_bodies(model, spec)].sum())


def nominal_mass(robot: str) -> float:
    """The robot's total mass in its MJCF [kg] (what a scale reads on the nominal robot)."""
    spec = get_robot(robot)
    return robot_mass(mujoco.MjModel.from_xml_path(str(spec.mjcf)), spec)


def fit_linear(log: SysIdLog, model: RolloutModel, mass_scale: float,
               min_speed: float = 0.05) -> SysIdParams:
    """Motor strengths and joint damping / armature / friction scales by linear least squares
    on the inverse dynamics, the mass scale given (see the module docstring): per joint j
    and sample k, ``s_j tau_jk - d D_jk - a A_jk - f F_jk = m R_jk`` with R the rigid-body
    torque of the nominal model, D, A, F the nominal damping, armature and dry-friction
    torques, and tau the torque the motor reports. State, velocity and torque are low-passed
    (zero phase); samples near the torque limit or slower than ``min_speed`` (static
    friction) are left out."""
    if not np.any(np.abs(log.tau) > 1e-9):
        raise SysIdError("the log has no measured torque (tau is all zero): log the motors' "
                         "torque readings; the strengths cannot be identified without them")
    dt, spec, idx = log.control_dt, model.spec, model.idx
    q, dq, tau = smooth(log.q, dt), smooth(log.dq, dt), smooth(log.tau, dt)
    qdd = np.gradient(dq, dt, axis=0)
    m = copy.copy(model.nominal)
    m.dof_damping[:] = 0.0
    m.dof_armature[:] = 1e-9  # (not 0: a massless gripper jaw would make M singular)
    m.dof_frictionloss[:] = 0.0
    # no constraints in the inverse: a free scene object's contacts (or a limit, which the
    # excitation keeps away from) would put arbitrary constraint forces into R
    m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONSTRAINT
    d = mujoco.MjData(m)
    skip = round(2.5 / dt)  # the soft start
    ks = np.arange(skip, len(q) - skip // 2, 2)
    rigid = np.empty((len(ks), spec.n_joints))
    for i, k in enumerate(ks):
        d.qpos[idx.qpos_adr] = q[k]
        d.qvel[idx.dof_adr] = dq[k]
        d.qacc[idx.dof_adr] = qdd[k]
        mujoco.mj_inverse(m, d)
        rigid[i] = d.qfrc_inverse[idx.dof_adr]
    nom = model.nominal
    d0, a0, f0 = (nom.dof_damping[idx.dof_adr], nom.dof_armature[idx.dof_adr],
                  nom.dof_frictionloss[idx.dof_adr])
    n = spec.n_joints
    rows, rhs = [], []
    for j in range(n):
        t_j, v_j, acc_j = tau[ks, j], dq[ks, j], qdd[ks, j]
        ok = (np.abs(t_j) < 0.95 * spec.tau_max[j]) & (np.abs(v_j) > min_speed)
        if ok.sum() < 100:
            raise SysIdError(f"joint {spec.joint_names[j]}: only {int(ok.sum())} usable "
                             "samples (moving, unsaturated); excite it more, or longer")
        w = 1.0 / max(float(np.std(t_j[ok])), 1e-3)  # each joint counts alike
        a = np.zeros((int(ok.sum()), n + 3))
        a[:, j] = t_j[ok]
        a[:, n] = -d0[j] * v_j[ok]
        a[:, n + 1] = -a0[j] * acc_j[ok]
        a[:, n + 2] = -f0[j] * np.sign(v_j[ok])
        rows.append(w * a)
        rhs.append(w * mass_scale * rigid[ok, j])
    theta, *_ = np.linalg.lstsq(np.concatenate(rows), np.concatenate(rhs), rcond=None)
    return SysIdParams(mass_scale=mass_scale, damping_scale=float(theta[n]),
                       armature_scale=float(theta[n + 1]),
                       frictionloss_scale=float(theta[n + 2]),
                       motor_strength=theta[:n].tolist())


def segments(log: SysIdLog, segment_s: float, max_segments: int | None = None,
             skip_s: float = 2.5) -> list[tuple[int, int]]:
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
    rms_q_by_latency: dict[int, float]  # rad, rollout position error per candidate latency
    rms_q: float  # rad, at the identified parameters
    rms_q_nominal: float  # rad, with the nominal parameters
    seconds_used: float  # of rollouts in the latency check
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
        progress: Callable[[str], None] | None = None) -> FitResult:
    """Identify `SysIdParams` from ``log`` (see the module docstring). ``total_mass_kg``: the
    robot weighed on a scale (None: its nominal mass); it sets the mass scale. ``timestep``
    and ``integrator``: the fitting model's physics (latencies count its ticks)."""
    t0 = time.perf_counter()
    model = RolloutModel(log.robot, log.fixed_base, timestep, integrator)
    mass_scale = 1.0 if total_mass_kg is None else total_mass_kg / nominal_mass(log.robot)
    lin = fit_linear(log, model, mass_scale)
    if progress is not None:
        progress(f"inverse dynamics: {json.dumps(lin.to_dict())}")
    segs = segments(log, segment_s, max_segments)
    q_s, dq_s = smooth(log.q, log.control_dt), smooth(log.dq, log.control_dt)  # start states

    def rms_q(p: SysIdParams) -> float:
        """Rollout position error over all segments [rad]."""
        model.apply(p)
        err = [model.simulate(log, s, n, p.latency_ticks, q_s[s], dq_s[s])[0]
               - log.q[s + 1:s + 1 + n] for s, n in segs]
        return float(np.sqrt(np.mean(np.concatenate(err) ** 2)))

    by_latency: dict[int, float] = {}
    for lat in latencies:  # the latency: the rollouts that match the log best
        by_latency[int(lat)] = rms_q(SysIdParams(**{**lin.to_dict(), "latency_ticks": lat}))
        if progress is not None:
            progress(f"latency {lat} ticks: rollout rms {by_latency[int(lat)] * 1e3:.3f} mrad")
    lat = min(by_latency, key=lambda k: by_latency[k])
    best = SysIdParams(**{**lin.to_dict(), "latency_ticks": lat})
    nominal = SysIdParams(mass_scale=1.0, motor_strength=[1.0] * model.spec.n_joints)
    return FitResult(params=best, rms_q_by_latency=by_latency, rms_q=by_latency[lat],
                     rms_q_nominal=rms_q(nominal),
                     seconds_used=round(sum(n for _, n in segs) * log.control_dt, 2),
                     log_seconds=round(log.seconds, 2),
                     wall_s=round(time.perf_counter() - t0, 1))


def compare(found: SysIdParams, truth: dict[str, Any]) -> dict[str, Any]:
    """Relative errors of an identification against known parameters (a proxy's)."""
    out: dict[str, Any] = {}
    for k in SysIdParams.SCALES:
        out[k] = {"found": round(getattr(found, k), 4), "true": round(truth[k], 4),
                  "rel_error": round(abs(getattr(found, k) / truth[k] - 1.0), 4)}
    s_f, s_t = np.asarray(found.motor_strength), np.asarray(truth["motor_strength"])
    out["motor_strength"] = {"max_rel_error": round(float(np.max(np.abs(s_f / s_t - 1))), 4),
                             "found": np.round(s_f, 4).tolist(),
                             "true": np.round(s_t, 4).tolist()}
    # what positions, velocities and commanded torques determine: each joint's parameters
    # per unit of motor strength (independent of the absolute scale a weighing sets)
    ratios = {}
    for k in SysIdParams.SCALES:
        r_f = getattr(found, k) / s_f
        r_t = truth[k] / s_t
        ratios[k.replace("_scale", "_per_strength")] = round(
            float(np.max(np.abs(r_f / r_t - 1))), 4)
    out["per_strength_max_rel_error"] = ratios
    out["latency_ticks"] = {"found": found.latency_ticks, "true": truth["latency_ticks"]}
    out["max_rel_error"] = round(max([out[k]["rel_error"] for k in SysIdParams.SCALES]
                                     + [out["motor_strength"]["max_rel_error"]]), 4)
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
