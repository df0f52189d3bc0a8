"""`robot-rl robot import NAME --mjcf FILE`: a robot's package written from its model file.

`describe_mjcf` reads what a MuJoCo model says about the robot: the actuated joints in
actuator order, their ranges, the torque limits (an actuator's ``forcerange``, or a torque
motor's ``ctrlrange`` x gear), the PD gains of position actuators, the default pose from a
keyframe (``home``, ``stand``, ``ready``, ``default`` or the first), floating base and base
body, the IMU site, the end-effector site and the feet found by name, the cameras, the mass
and the timestep. What the model does not say (velocity limits, gains of torque motors, the
action scale) gets a placeholder, and every placeholder or guess is listed in ``notes``, which
`write_robot` puts at the top of the package so that nobody mistakes it for a measured value.

`write_robot` writes the robot's folder ``<out>/<name>/``, everything a robot needs in one
place: ``__init__.py`` (a `RobotSpec` with those values); ``assets/`` (the model's folder,
meshes with it, copied) with ``<name>_robot.xml``, the model as the project drives it
(`conform`: one gear-1 torque motor per joint named after it, with the joint's torque limit
as its control range, since the envs and the sim backends write PD torques into ``ctrl``; for
a legged robot the IMU sensors ``imu_gyro`` / ``imu_acc`` / ``imu_quat`` / ``base_linvel`` on
its IMU site and a touch sensor ``<LEG>_touch`` around each foot; anything outside the robot,
such as a floor, and its keyframes left out); the scenes of its class's tasks, each the robot,
the class's shared scene (``robot_rl/robots/scenes/``: the arm tasks' table, the legged tasks'
flat and rough floor) and a ``home`` keyframe at q0 (a legged robot's base at the height where
its lowest foot touches the ground); and ``robot.yaml``, its deploy config (safety chain and
control period, from its class's template). The registry entry is one line in
``robot_rl/robots/__init__.py`` (the command prints it). MuJoCo's own compiler reads the file,
so anything it accepts (includes, defaults, meshes) is understood.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np
import yaml

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
    undamped = [_name(m, mujoco.mjtObj.mjOBJ_JOINT, j) for i, j in enumerate(joints)
                if kd[i] == 0.0 and _name(m, mujoco.mjtObj.mjOBJ_JOINT, j) not in guessed_gains]
    if undamped:
        notes.append(f"kd 0 on {undamped}: the model's position actuators have no velocity "
                     "term (its joints' own damping is physics, not the motor's); set the D "
                     "gain your motors run")
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


SCENES_DIR = Path(__file__).resolve().parent / "scenes"
CONFIG_TEMPLATES = Path(__file__).resolve().parents[2] / "configs" / "robots"
# the scenes each robot class's tasks load (file in the robot's assets/ → shared scene), the
# first is the spec's mjcf; and the deploy config it starts from
CLASS_SCENES = {"legged": {"scene_flat.xml": "floor_flat.xml",
                           "scene_rough.xml": "floor_rough.xml"},
                "arm": {"scene_table.xml": "table.xml"}}
CLASS_CONFIG = {"legged": "quad12.yaml", "arm": "arm6.yaml"}
IMU_SENSORS = (("imu_gyro", mujoco.mjtSensor.mjSENS_GYRO),
               ("imu_acc", mujoco.mjtSensor.mjSENS_ACCELEROMETER),
               ("imu_quat", mujoco.mjtSensor.mjSENS_FRAMEQUAT),
               ("base_linvel", mujoco.mjtSensor.mjSENS_VELOCIMETER))


def robot_class(spec: RobotSpec) -> str:
    return "legged" if spec.floating_base else "arm"


def _foot_name(geom: str) -> str:
    """A foot geom's name as the envs read it: ``<LEG>_foot`` (its touch sensor is
    ``<LEG>_touch``)."""
    if geom.endswith("_foot"):
        return geom
    leg = next((p for p in FOOT_ORDER if geom.upper().startswith(p)), geom)
    return f"{leg}_foot"


def _drop_unused_defaults(ms: mujoco.MjSpec) -> None:
    """Delete the default classes no element of the robot uses (a scene's, whose names the
    tasks' shared scenes may use too), keeping every ancestor of a used one."""
    used = {el.classname.name for kind in ("geoms", "joints", "sites", "actuators", "cameras",
                                           "tendons")
            for el in getattr(ms, kind)}
    used |= {b.childclass for b in ms.bodies if b.childclass}
    keep: set[str] = set()

    def walk(node: ET.Element, path: list[str]) -> None:
        for child in node.findall("default"):
            name = child.get("class", "main")
            if name in used:
                keep.update(path + [name])
            walk(child, path + [name])

    root = ET.fromstring(ms.to_xml())
    top = root.find("default")
    if top is None:
        return
    walk(top, [])
    names = [d.get("class") for d in top.iter("default") if d.get("class")]
    for name in reversed(names):  # (children first)
        if name not in keep and name != "main":
            ms.delete(ms.find_default(name))


def conform(draft: RobotDraft) -> tuple[str, RobotSpec]:
    """The robot's MJCF as the project drives it (module docstring), as XML text, and the
    spec with the names that MJCF uses (feet renamed ``<LEG>_foot``)."""
    spec = draft.spec
    ms = mujoco.MjSpec.from_file(str(spec.mjcf))
    m = ms.compile()
    for key in list(ms.keys):
        ms.delete(key)
    world = ms.worldbody
    for body in list(world.bodies):  # (a scene's other bodies)
        if body.name != spec.base_body:
            ms.delete(body)
    for kind in ("geoms", "sites", "lights", "cameras"):  # (a scene's floor, lights, ...)
        for el in list(getattr(world, kind)):
            ms.delete(el)
    # and the assets only they used (a floor's texture and material, a height field)
    used = {g.material for g in ms.geoms if g.material}
    for mat in list(ms.materials):
        if mat.name not in used:
            ms.delete(mat)
    textures = {t for mat in ms.materials for t in mat.textures if t}
    for tex in list(ms.textures):
        if tex.name not in textures:
            ms.delete(tex)
    for hfield in list(ms.hfields):
        ms.delete(hfield)
    _drop_unused_defaults(ms)
    tau = dict(zip(spec.joint_names, spec.tau_max, strict=True))
    joint_trn = mujoco.mjtTrn.mjTRN_JOINT
    for act in list(ms.actuators):
        if act.trntype != joint_trn or act.target not in tau:
            ms.delete(act)  # (a tendon or site actuator: the spec has no joint for it)
            continue
        limit = float(tau[act.target])
        act.name = act.target
        act.dyntype = mujoco.mjtDyn.mjDYN_NONE
        act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        act.biastype = mujoco.mjtBias.mjBIAS_NONE
        act.gainprm = np.r_[1.0, np.zeros(len(act.gainprm) - 1)]
        act.biasprm = np.zeros(len(act.biasprm))
        act.gear = np.r_[1.0, np.zeros(5)]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.ctrlrange = [-limit, limit]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_FALSE
    feet = spec.feet
    if spec.floating_base:
        feet = tuple(_foot_name(f) for f in spec.feet)
        ours = {name for name, _ in IMU_SENSORS} | {f"{f[:-5]}_touch" for f in feet}
        for sensor in list(ms.sensors):
            if sensor.name in ours:
                ms.delete(sensor)
        if spec.imu_site:
            for name, kind in IMU_SENSORS:
                ms.add_sensor(name=name, type=kind, objtype=mujoco.mjtObj.mjOBJ_SITE,
                              objname=spec.imu_site)
        for old, new in zip(spec.feet, feet, strict=True):
            g = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, old)
            body = ms.body(_name(m, mujoco.mjtObj.mjOBJ_BODY, int(m.geom_bodyid[g])))
            geom = ms.geom(old)
            geom.name = new
            radius = float(m.geom_rbound[g]) + 0.005  # (encloses the foot's contacts)
            site = f"{new}_site"
            if mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, site) < 0:  # (else: its own)
                body.add_site(name=site, pos=geom.pos, size=[radius, 0, 0], group=4)
            ms.add_sensor(name=f"{new[:-5]}_touch", type=mujoco.mjtSensor.mjSENS_TOUCH,
                          objtype=mujoco.mjtObj.mjOBJ_SITE, objname=site)
    return ms.to_xml(), dataclasses.replace(spec, feet=feet)


def _home(model_file: Path, spec: RobotSpec) -> np.ndarray:
    """The scene's ``home`` qpos: the robot at q0 (a floating base upright, its lowest foot on
    z = 0), everything else where the scene puts it."""
    m = mujoco.MjModel.from_xml_path(str(model_file))
    d = mujoco.MjData(m)
    adr = [int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, j)])
           for j in spec.joint_names]
    d.qpos[adr] = spec.q0
    if spec.floating_base:
        base = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, spec.base_body)
        free = int(m.jnt_qposadr[int(m.body_jntadr[base])])
        d.qpos[free:free + 7] = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
        mujoco.mj_kinematics(m, d)
        lowest = min(float(d.geom_xpos[g][2]) - float(m.geom_rbound[g]) for g in (
            mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f) for f in spec.feet))
        d.qpos[free + 2] = 1.0 - lowest
    return np.array(d.qpos)


def _write_scenes(spec: RobotSpec, assets: Path, robot_file: str) -> Path:
    """The scenes of the robot's class in ``assets`` (each with its ``home`` keyframe);
    returns the first (the spec's mjcf)."""
    first = None
    for scene, shared in CLASS_SCENES[robot_class(spec)].items():
        rel = os.path.relpath(SCENES_DIR / shared, assets)
        head = (f'<mujoco model="{spec.name}_{Path(shared).stem}">\n'
                f'  <include file="{robot_file}"/>\n  <include file="{rel}"/>\n')
        path = assets / scene
        path.write_text(head + "</mujoco>\n")
        qpos = _home(path, spec)
        path.write_text(head + '\n  <keyframe>\n    <key name="home" qpos="'
                        + " ".join(f"{float(x):.6g}" for x in qpos) + '"/>\n  </keyframe>\n'
                        "</mujoco>\n")
        first = first or path
    assert first is not None
    return first


def rewrite_scenes(spec: RobotSpec) -> list[Path]:
    """Write an imported robot's scenes again from its spec (after its q0 was changed: their
    ``home`` keyframes follow it); returns them. RobotImportError if ``spec`` was not written
    by `write_robot` (no ``<name>_robot.xml`` beside its mjcf)."""
    assets = spec.mjcf.resolve().parent
    robot_file = f"{spec.name}_robot.xml"
    if not (assets / robot_file).is_file():
        raise RobotImportError(f"{assets} has no {robot_file}: '{spec.name}' was not written by "
                               "`robot-rl robot import`; edit its scenes' home keyframe by hand")
    _write_scenes(spec, assets, robot_file)
    return [assets / scene for scene in CLASS_SCENES[robot_class(spec)]]


def _write_config(spec: RobotSpec, path: Path) -> None:
    """The robot's deploy config from its class's template (its robot name; a legged robot
    without a resting pose gets the hold fallback, `stand` needs ``q_rest``)."""
    template = CONFIG_TEMPLATES / CLASS_CONFIG[robot_class(spec)]
    cfg = yaml.safe_load(template.read_text())
    cfg["robot"] = spec.name
    if spec.floating_base and cfg["safety"].get("fallback", {}).get("type") == "stand":
        cfg["safety"]["fallback"] = {"type": "hold"}
    path.write_text(f"# {spec.name}'s deployment settings, written by `robot-rl robot import` "
                    f"from configs/robots/{template.name}\n# (robot_rl/safety/robot_config.py; "
                    "docs/safety.md): check them against your hardware.\n"
                    + yaml.safe_dump(cfg, sort_keys=False))


def _array(v: np.ndarray) -> str:
    return "np.array([" + ", ".join(f"{float(x):.6g}" for x in v) + "])"


def write_robot(draft: RobotDraft, out: str | Path) -> Path:
    """Write the robot's package ``<out>/<name>/`` (``__init__.py`` and ``assets/``); refuses
    to overwrite one. Returns the package directory."""
    pkg = Path(out) / draft.spec.name
    if pkg.exists():
        raise RobotImportError(f"{pkg} exists; remove it or choose another name")
    xml, spec = conform(draft)
    assets = pkg / "assets"
    shutil.copytree(spec.mjcf.parent, assets)
    robot_file = f"{spec.name}_robot.xml"
    # (next to the original, so that its meshdir / file paths hold as they were)
    (assets / robot_file).write_text(xml)
    try:
        scene = _write_scenes(spec, assets, robot_file)
        _write_config(spec, pkg / "robot.yaml")
    except (ValueError, OSError) as e:
        shutil.rmtree(pkg)
        raise RobotImportError(f"{draft.spec.mjcf}: the conformed model does not load: {e}"
                               ) from None
    spec = dataclasses.replace(spec, mjcf=scene)
    var = spec.name.upper()
    notes = "\n".join(f"- {n}" for n in draft.notes)
    text = f'''"""`{var}`: imported by `robot-rl robot import {spec.name}` from
{draft.spec.mjcf} (its folder copied to ``assets/``; ``{spec.name}_robot.xml`` is
the model as the project drives it, the ``scene_*.xml`` its tasks' scenes, ``robot.yaml`` its
deploy config).

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
    draft.spec = spec  # (what the package holds: its scene, the feet by their new names)
    return pkg


__all__ = ["RobotDraft", "RobotImportError", "conform", "describe_mjcf", "rewrite_scenes",
           "robot_class", "write_robot"]
