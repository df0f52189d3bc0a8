"""`robot-rl robot import NAME --mjcf FILE`: a robot's package written from its model file.

`describe_mjcf` reads what a MuJoCo model says about the robot: the actuated joints in
actuator order, their ranges, the torque limits (an actuator's ``forcerange``, or a torque
motor's ``ctrlrange`` x gear), the PD gains of position actuators, the default pose from a
keyframe (``home``, ``stand``, ``ready``, ``default`` or the first), floating base and base
body, the IMU site, the end-effector site and the feet found by name, the cameras, the mass
and the timestep. What the model does not say (velocity limits, gains of torque motors, the
action scale) gets a placeholder, and every placeholder or guess is listed in ``notes``, which
`write_robot` puts at the top of the package so that nobody mistakes it for a measured value.

`write_robot` writes ``<out>/<name>/__init__.py`` (a `RobotSpec` with those values) and copies
the model's folder (its meshes with it) to ``<out>/<name>/assets/``. The registry entry is one
line in ``robot_rl/robots/__init__.py`` (the command prints it). MuJoCo's own compiler reads
the file, so anything it accepts (includes, defaults, meshes) is understood.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.robots.spec import RobotSpec


class RobotImportError(RobotRLError, ValueError):
    """The model lacks something a robot package needs (the message says what and how to add
    it), or the package exists already."""


KEYFRAMES = ("home", "stand", "standing", "ready", "default")
EE_PATTERNS = (r"^ee$", r"end_?effector", r"ee_site", r"gripper", r"tool", r"grasp",
               r"attachment", r"tcp")
FOOT_ORDER = ("FR", "FL", "RR", "RL")  # the order quad12's walk task and contacts use
DEFAULT_POLICY_DT = 0.02


@dataclass
class RobotDraft:
    """What the model says about a robot (``spec``, its ``mjcf`` the imported file), its mass
    [kg], and what had to be guessed (``notes``)."""

    spec: RobotSpec
    mass: float
    notes: list[str] = field(default_factory=list)


def _name(m: mujoco.MjModel, kind: mujoco.mjtObj, i: int) -> str:
    return mujoco.mj_id2name(m, kind, i) or ""


def _subtree(m: mujoco.MjModel, root: int) -> list[int]:
    """Bodies under ``root`` (itself included)."""
    out = [root]
    for b in range(root + 1, m.nbody):
        parent = int(m.body_parentid[b])
        if parent in out:
            out.append(b)
    return out


def _joints(m: mujoco.MjModel, notes: list[str]) -> tuple[list[int], list[int]]:
    """(joint ids, actuator ids) of the actuated hinge / slide joints, in actuator order."""
    joints, acts = [], []
    for a in range(m.nu):
        if int(m.actuator_trntype[a]) != int(mujoco.mjtTrn.mjTRN_JOINT):
            notes.append(f"actuator '{_name(m, mujoco.mjtObj.mjOBJ_ACTUATOR, a)}' does not "
                         "drive a joint (tendon / site): left out")
            continue
        j = int(m.actuator_trnid[a, 0])
        if int(m.jnt_type[j]) not in (int(mujoco.mjtJoint.mjJNT_HINGE),
                                      int(mujoco.mjtJoint.mjJNT_SLIDE)):
            continue
        if j in joints:
            raise RobotImportError(f"joint '{_name(m, mujoco.mjtObj.mjOBJ_JOINT, j)}' has two "
                             "actuators; keep one per joint")
        joints.append(j)
        acts.append(a)
    if not joints:
        raise RobotImportError("the model has no actuator on a hinge or slide joint: nothing to "
                         "control")
    return joints, acts


def _limits(m: mujoco.MjModel, joints: list[int], acts: list[int], notes: list[str]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """q_min, q_max, tau_max, kp, kd."""
    n = len(joints)
    q_min, q_max = np.zeros(n), np.zeros(n)
    tau, kp, kd = np.zeros(n), np.zeros(n), np.zeros(n)
    guessed_gains = []
    for i, (j, a) in enumerate(zip(joints, acts, strict=True)):
        jn = _name(m, mujoco.mjtObj.mjOBJ_JOINT, j)
        if not m.jnt_limited[j]:
            raise RobotImportError(f"joint '{jn}' has no range in the model; give it one "
                             "(range=\"lo hi\", limited=\"true\") before importing")
        q_min[i], q_max[i] = m.jnt_range[j]
        gear = float(m.actuator_gear[a, 0])
        position = (int(m.actuator_biastype[a]) == int(mujoco.mjtBias.mjBIAS_AFFINE)
                    and m.actuator_biasprm[a, 1] != 0.0)
        if m.actuator_forcelimited[a]:
            tau[i] = float(np.max(np.abs(m.actuator_forcerange[a]))) * gear
        elif m.actuator_ctrllimited[a] and not position:
            tau[i] = float(np.max(np.abs(m.actuator_ctrlrange[a]))) * gear
        else:
            raise RobotImportError(f"actuator of joint '{jn}' has no force limit in the model "
                             "(forcerange, or ctrlrange on a torque motor); give it one")
        if position:  # kp (q* - q) - kd dq: gain kp, bias (0, -kp, -kd)
            kp[i], kd[i] = float(m.actuator_gainprm[a, 0]), float(-m.actuator_biasprm[a, 2])
        else:
            kp[i], kd[i] = tau[i] / 1.0, tau[i] / 40.0  # placeholders, noted below
            guessed_gains.append(jn)
    if guessed_gains:
        notes.append(f"kp / kd of {guessed_gains}: torque actuators carry no gains; "
                     "placeholders kp = tau_max per rad, kd = kp / 40. Set the gains your "
                     "motors will run (they become the bundles' control contract)")
    return q_min, q_max, tau, kp, kd


def _pose(m: mujoco.MjModel, joints: list[int], q_min: np.ndarray, q_max: np.ndarray,
          notes: list[str]) -> np.ndarray:
    keys = [_name(m, mujoco.mjtObj.mjOBJ_KEY, k) for k in range(m.nkey)]
    pick = next((keys.index(k) for k in KEYFRAMES if k in keys), 0 if m.nkey else None)
    adr = [int(m.jnt_qposadr[j]) for j in joints]
    if pick is None:
        notes.append("no keyframe: q0 is the model's reference pose (qpos0) inside the "
                     "ranges; add a standing / home keyframe")
        q0 = np.asarray(m.qpos0)[adr]
    else:
        q0 = np.asarray(m.key_qpos[pick])[adr]
        notes.append(f"q0 from keyframe '{keys[pick] or pick}'")
    return np.clip(q0, q_min, q_max)


def _find(names: list[str], patterns: tuple[str, ...]) -> list[str]:
    for p in patterns:
        hits = [n for n in names if re.search(p, n, re.IGNORECASE)]
        if hits:
            return hits
    return []


def describe_mjcf(path: str | Path, name: str) -> RobotDraft:
    """Read ``path`` (a robot or scene MJCF) into a `RobotDraft`; RobotImportError naming what
    the model lacks."""
    path = Path(path)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise RobotImportError(f"robot name '{name}' must be a Python identifier in lower case "
                         "(letters, digits, _)")
    try:
        m = mujoco.MjModel.from_xml_path(str(path))
    except (ValueError, OSError) as e:  # (MuJoCo's compiler error names the line)
        raise RobotImportError(f"{path}: MuJoCo cannot load it: {e}") from None
    notes: list[str] = []
    joints, acts = _joints(m, notes)
    q_min, q_max, tau, kp, kd = _limits(m, joints, acts, notes)
    free = [j for j in range(m.njnt) if int(m.jnt_type[j]) == int(mujoco.mjtJoint.mjJNT_FREE)]
    root = int(m.jnt_bodyid[joints[0]])
    while int(m.body_parentid[root]) != 0:
        root = int(m.body_parentid[root])
    floating = any(int(m.jnt_bodyid[f]) == root for f in free)
    base = _name(m, mujoco.mjtObj.mjOBJ_BODY, root)
    bodies = _subtree(m, root)
    sites = [_name(m, mujoco.mjtObj.mjOBJ_SITE, s) for s in range(m.nsite)
             if int(m.site_bodyid[s]) in bodies]
    geoms = [_name(m, mujoco.mjtObj.mjOBJ_GEOM, g) for g in range(m.ngeom)
             if int(m.geom_bodyid[g]) in bodies]
    imu = _find(sites, (r"^imu$", r"imu"))
    ee = [] if floating else _find(sites, EE_PATTERNS)
    if len(imu) > 1 or len(ee) > 1:
        notes.append(f"several candidates (imu {imu}, end effector {ee}): took the first; "
                     "pass --imu-site / --ee-site to choose")
    feet: list[str] = []
    if floating:
        named = [g for g in geoms if re.search(r"foot", g, re.IGNORECASE)
                 or re.fullmatch(r"(FR|FL|RR|RL)", g)]  # (menagerie: a leg's contact geom)
        feet = sorted(named, key=lambda g: next((i for i, p in enumerate(FOOT_ORDER)
                                                 if g.upper().startswith(p)), len(FOOT_ORDER)))
        if len(feet) != 4:
            notes.append(f"feet: found {feet} by name (geoms named *foot*, or FR / FL / RR / "
                         "RL); a quadruped task needs four, in FR, FL, RR, RL order: name "
                         "the feet's contact geoms in the MJCF")
        if not imu:
            notes.append("no IMU site (a site named *imu*): a walking policy needs one")
    n = len(joints)
    dt = float(m.opt.timestep)
    decimation = max(1, round(DEFAULT_POLICY_DT / dt))
    dq = np.full(n, 20.0 if floating else 5.0)
    notes.append(f"dq_max {dq[0]:g} rad/s on every joint: the model has no velocity limits; "
                 "set your motors' rated speed")
    scale = 0.25 if floating else 0.5
    kind = "a legged robot" if floating else "an arm"
    notes.append(f"action_scale {scale} rad: the usual for {kind}; the policy's reach around q0")
    mass = float(np.sum(m.body_mass[bodies]))
    try:
        spec = RobotSpec(
            name=name, mjcf=path, joint_names=tuple(_name(m, mujoco.mjtObj.mjOBJ_JOINT, j)
                                                    for j in joints),
            q0=_pose(m, joints, q_min, q_max, notes), q_min=q_min, q_max=q_max, dq_max=dq,
            tau_max=tau, kp=kp, kd=kd, physics_dt=dt, policy_dt=decimation * dt,
            action_scale=scale, floating_base=floating, base_body=base,
            imu_site=imu[0] if imu else "", ee_site=ee[0] if ee else "", feet=tuple(feet),
            cameras=tuple(_name(m, mujoco.mjtObj.mjOBJ_CAMERA, c) for c in range(m.ncam)),
            mass_range=(round(0.85 * mass, 3), round(1.15 * mass, 3)))
    except ValueError as e:  # (the spec's own checks: e.g. a zero torque limit)
        raise RobotImportError(f"{path}: {e}") from None
    return RobotDraft(spec, mass, notes)


def _array(v: np.ndarray) -> str:
    return "np.array([" + ", ".join(f"{float(x):.6g}" for x in v) + "])"


def write_robot(draft: RobotDraft, out: str | Path) -> Path:
    """Write the robot's package ``<out>/<name>/`` (``__init__.py`` and ``assets/``); refuses
    to overwrite one. Returns the package directory."""
    spec = draft.spec
    pkg = Path(out) / spec.name
    if pkg.exists():
        raise RobotImportError(f"{pkg} exists; remove it or choose another name")
    shutil.copytree(spec.mjcf.parent, pkg / "assets")
    var = spec.name.upper()
    notes = "\n".join(f"- {n}" for n in draft.notes)
    text = f'''"""`{var}`: imported by `robot-rl robot import {spec.name}` from
{spec.mjcf} (its folder copied to ``assets/``).

Check before training (placeholders and guesses of the import):
{notes}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_rl.robots.spec import RobotSpec

ASSETS = Path(__file__).resolve().parent / "assets"

{var} = RobotSpec(
    name={spec.name!r},
    mjcf=ASSETS / {spec.mjcf.name!r},
    joint_names={spec.joint_names!r},
    q0={_array(spec.q0)},
    q_min={_array(spec.q_min)},
    q_max={_array(spec.q_max)},
    dq_max={_array(spec.dq_max)},
    tau_max={_array(spec.tau_max)},
    kp={_array(spec.kp)},
    kd={_array(spec.kd)},
    physics_dt={spec.physics_dt!r},
    policy_dt={spec.policy_dt!r},
    action_scale={spec.action_scale!r},
    floating_base={spec.floating_base!r},
    base_body={spec.base_body!r},
    imu_site={spec.imu_site!r},
    ee_site={spec.ee_site!r},
    feet={spec.feet!r},
    cameras={spec.cameras!r},
    mass_range={spec.mass_range!r},
)

__all__ = ["ASSETS", {var!r}]
'''
    (pkg / "__init__.py").write_text(text)
    return pkg


__all__ = ["RobotDraft", "RobotImportError", "describe_mjcf", "write_robot"]
