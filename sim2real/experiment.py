"""The system-identification experiment: the robot on its stand, known payloads clamped to
its links, the excitation trajectory and its collection through the robot's safety chain
into a `sim2real.log.SysIdLog` (what the fits of `sim2real.sysid` read).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import mujoco
import numpy as np

from hardware.sim_plant import SimPlant
from hardware.sim_robot import SimRobot
from robot_rl.robots import get_robot
from robot_rl.robots.mjstate import robot_bodies
from robot_rl.robots.spec import RobotSpec
from robot_rl.safety.robot_config import load_robot_config, make_supervisor
from robot_rl.types import JointCommand, RobotState
from sim2real.log import LOG_FIELDS, SysIdError, SysIdLog
from sim2real.proxy import reality_proxy

STAND_HEIGHT = 0.6  # m: base height when a floating-base robot hangs on the stand


# -- the model on its stand -------------------------------------------------------------------
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


def clear_workspace(model: mujoco.MjModel, data: mujoco.MjData, spec: RobotSpec) -> int:
    """Take the scene's loose objects (free bodies that are not the robot: arm6's cube and
    peg) off the table, onto the floor out of reach, at rest; returns how many. The
    experiment is run on a cleared table: an object the arm knocks over moves, and its later
    contacts are where no model of the scene expects them."""
    mine = set(robot_bodies(model, spec).tolist())
    n = 0
    for j in range(model.njnt):
        if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_FREE or int(model.jnt_bodyid[j]) in mine:
            continue
        q, v = int(model.jnt_qposadr[j]), int(model.jnt_dofadr[j])
        data.qpos[q:q + 7] = [-1.0 - 0.2 * n, 0.5, -0.7, 1.0, 0.0, 0.0, 0.0]
        data.qvel[v:v + 6] = 0.0
        n += 1
    if n:
        mujoco.mj_forward(model, data)
    return n


def moving_bodies(model: mujoco.MjModel, spec: RobotSpec) -> np.ndarray:
    """Ids of the bodies below the robot's base (what a stand or arm experiment moves)."""
    base = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, spec.base_body)
    ids = robot_bodies(model, spec)
    return ids[ids != base]


def robot_mass(model: mujoco.MjModel, spec: RobotSpec) -> float:
    """The robot's mass in ``model`` (base and every body below it) [kg]."""
    return float(model.body_mass[robot_bodies(model, spec)].sum())


def nominal_mass(robot: str) -> float:
    """The robot's total mass in its MJCF [kg] (what a scale reads on the nominal robot)."""
    spec = get_robot(robot)
    return robot_mass(mujoco.MjModel.from_xml_path(str(spec.mjcf)), spec)


# -- a known payload --------------------------------------------------------------------------
@dataclass
class Payload:
    """A known mass clamped to a link for the experiment: it anchors the identification's
    absolute scale (`sim2real.linear_fit`), since its torques are known exactly. ``pos``: its
    centre in the link's frame [m]; ``radius``: a solid sphere's, for its inertia."""

    mass_kg: float
    body: str = "gripper"
    pos: tuple[float, float, float] = (0.05, 0.0, 0.0)
    radius: float = 0.02

    def validate(self, model: mujoco.MjModel) -> int:
        """The link's body id; a clear error for a bad payload."""
        if not (self.mass_kg > 0 and np.isfinite(self.mass_kg)):
            raise SysIdError(f"payload mass must be > 0 kg, got {self.mass_kg}")
        if len(self.pos) != 3 or not np.all(np.isfinite(self.pos)) or not self.radius >= 0:
            raise SysIdError(f"payload pos must be 3 finite numbers [m] and radius >= 0, got "
                             f"{self.pos}, {self.radius}")
        bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, self.body)
        if bid <= 0:
            names = [model.body(i).name for i in range(1, model.nbody)]
            raise SysIdError(f"payload body '{self.body}' is not in the model; one of {names}")
        return int(bid)


def payloads(meta: dict[str, Any]) -> list[Payload]:
    """The payloads a log's meta records (none, one as a dict, or a list of them)."""
    raw = meta.get("payload") or []
    out = []
    for entry in [raw] if isinstance(raw, dict) else raw:
        d = dict(entry)
        if "pos" in d:  # (JSON stored it as a list)
            d["pos"] = tuple(d["pos"])
        out.append(Payload(**d))
    return out


def attach_payload(model: mujoco.MjModel, payload: Payload) -> None:
    """Merge ``payload`` into its link, in place: the link's mass, centre of mass and inertia
    become those of link and payload as one rigid body (parallel-axis theorem)."""
    b = payload.validate(model)
    m1, m2 = float(model.body_mass[b]), payload.mass_kg
    c1, c2 = model.body_ipos[b].copy(), np.asarray(payload.pos, dtype=float)
    rot = np.empty(9)
    mujoco.mju_quat2Mat(rot, model.body_iquat[b])
    r = rot.reshape(3, 3)
    i1 = r @ np.diag(model.body_inertia[b]) @ r.T  # about c1, in the body frame
    i2 = np.eye(3) * 0.4 * m2 * payload.radius ** 2
    c = (m1 * c1 + m2 * c2) / (m1 + m2)

    def shift(i: np.ndarray, m: float, d: np.ndarray) -> np.ndarray:
        return i + m * (float(d @ d) * np.eye(3) - np.outer(d, d))

    total = shift(i1, m1, c1 - c) + shift(i2, m2, c2 - c)
    moments, axes = np.linalg.eigh(total)
    if np.linalg.det(axes) < 0:
        axes[:, 0] = -axes[:, 0]
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, axes.reshape(-1))
    model.body_mass[b] = m1 + m2
    model.body_ipos[b] = c
    model.body_inertia[b] = moments
    model.body_iquat[b] = quat
    # the compiler's shortcut "inertial frame = body frame (position and/or rotation)" no
    # longer holds for this body: kinematics must use ipos and iquat as they are now
    model.body_sameframe[b] = 0
    model.body_simple[b] = 0


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
            fixed_base: bool = True,
            torque_sensor: Callable[[], np.ndarray] | None = None) -> SysIdLog:
    """Drive ``robot`` (the `hardware.robot.Robot` interface) through ``supervisor`` (its
    safety chain) with the targets, one per control tick; ``advance()`` waits for the next
    tick and returns the time (a sleep on hardware, physics steps in the lockstep sim);
    ``torque_sensor()``, if given, reads the joints' delivered torque with each state."""
    spec = robot.spec
    rows: dict[str, list[np.ndarray]] = {k: [] for k in LOG_FIELDS}
    delivered: list[np.ndarray] = []
    t = 0.0
    for k in range(len(q_target)):
        st: RobotState = robot.read_state()
        if torque_sensor is not None:
            delivered.append(np.array(torque_sensor(), dtype=np.float64))
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
                   meta=dict(meta or {}), tau_delivered=np.stack(delivered) if delivered
                   else None, **arrays)
    log.validate()
    return log


def excite_proxy(robot: str, proxy_seed: int | None, seconds: float = 120.0, seed: int = 0,
                 amplitude: float = 0.5, speed: float = 0.5,
                 payload: Payload | Sequence[Payload] | None = None) -> SysIdLog:
    """The experiment on the reality proxy of ``proxy_seed`` (None: the nominal sim), in
    lockstep (as fast as the machine goes): robot on its stand, through its safety chain.
    ``payload``: a known mass clamped to a link for this run, or several (one per leg of a
    quadruped: on its stand each leg's scale is its own), recorded in the log's meta."""
    rcfg = load_robot_config(robot=robot)
    spec = rcfg.effective_spec()
    plant = SimPlant(robot, model=robot_model(robot, fixed_base=True), realtime=0,
                     perturbation=None if proxy_seed is None else reality_proxy(proxy_seed))
    plant.set_joint_positions(spec.q0)
    cleared = clear_workspace(plant.model, plant.data, spec)
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
                            "amplitude": amplitude, "speed": speed,
                            "objects_cleared": cleared}
    if plant.proxy is not None:
        meta["proxy"] = plant.proxy.to_dict()
        meta["truth"] = proxy_truth(plant.proxy, plant.model, spec, plant.robot.dof_adr,
                                    plant.robot.act_ids)
    if payload is not None:  # (after the robot's own mass and truth are taken)
        loads = [payload] if isinstance(payload, Payload) else list(payload)
        for pl in loads:
            attach_payload(plant.model, pl)
        mujoco.mj_forward(plant.model, plant.data)
        meta["payload"] = [asdict(pl) for pl in loads]
    try:
        return collect(sim, make_supervisor(rcfg, spec, rcfg.control_dt), q_t, dq_t,
                       rcfg.control_dt, advance, meta, torque_sensor=plant.delivered_torque)
    finally:
        sim.disconnect()


def proxy_truth(proxy: Any, model: mujoco.MjModel, spec: RobotSpec, dof_adr: np.ndarray,
                act_ids: np.ndarray) -> dict[str, Any]:
    """The proxy's parameters in `sim2real.params.SysIdParams` terms: the mass scale of the
    moving bodies (mass-weighted mean of the per-body scales), the armature scale, and per
    joint the strength, the lumped damping (joint + gearbox viscous) and dry friction (joint
    frictionloss + gearbox Coulomb). ``model``: the proxy's (perturbed) model."""
    moving = moving_bodies(model, spec)
    scale = np.asarray(proxy.mass_scale)[moving - 1]
    nominal = model.body_mass[moving] / scale
    motor = proxy.motor_model()
    viscous = motor.viscous if motor is not None else np.zeros(spec.n_joints)
    coulomb = motor.coulomb if motor is not None else np.zeros(spec.n_joints)
    return {"mass_scale": float((nominal * scale).sum() / nominal.sum()),
            "body_mass_scale": scale.tolist(),
            "body_com_shift": np.asarray(proxy.com_shift)[moving - 1].tolist(),
            "armature_scale": proxy.armature_scale,
            "motor_strength": [float(proxy.motor_strength[a]) for a in act_ids],
            "joint_damping": (model.dof_damping[dof_adr] + viscous).tolist(),
            "joint_friction": (model.dof_frictionloss[dof_adr] + coulomb).tolist(),
            "latency_ticks": proxy.latency_ticks}


__all__ = ["STAND_HEIGHT", "Payload", "attach_payload", "clear_workspace", "collect",
           "excitation", "excite_proxy", "moving_bodies", "nominal_mass", "payloads",
           "proxy_truth", "robot_mass", "robot_model"]
