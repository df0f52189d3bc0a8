"""arm6 MJCF vs its RobotSpec, gravity holding, a scripted grasp-and-lift, peg-in-hole fit.

Every controller here is the spec's joint PD, tau = clip(kp (q* - q) - kd dq, +-tau_max),
applied at every mj_step (physics_dt), as the envs and the hardware bridge do.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from robot_rl.robots.arm6 import ARM6 as SPEC

N = SPEC.n_joints


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(SPEC.mjcf))


def _home(model: mujoco.MjModel) -> mujoco.MjData:
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_forward(model, data)
    return data


def _qadr(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    jids = [model.joint(n).id for n in SPEC.joint_names]
    return model.jnt_qposadr[jids], model.jnt_dofadr[jids]


def _pd_step(model: mujoco.MjModel, data: mujoco.MjData, q_target: np.ndarray) -> None:
    qa, va = _qadr(model)
    tau = SPEC.kp * (q_target - data.qpos[qa]) - SPEC.kd * data.qvel[va]
    data.ctrl[:] = np.clip(tau, -SPEC.tau_max, SPEC.tau_max)
    mujoco.mj_step(model, data)


# --------------------------------------------------------------------------- model vs spec


def test_joints_actuators_and_limits_match_spec(model: mujoco.MjModel) -> None:
    hinge = mujoco.mjtJoint.mjJNT_HINGE
    arm_joints = [model.joint(j).name for j in range(model.njnt) if model.jnt_type[j] == hinge]
    assert tuple(arm_joints) == SPEC.joint_names
    jids = [model.joint(n).id for n in SPEC.joint_names]
    assert np.all(model.jnt_limited[jids] == 1)
    np.testing.assert_allclose(model.jnt_range[jids, 0], SPEC.q_min, atol=1e-6)
    np.testing.assert_allclose(model.jnt_range[jids, 1], SPEC.q_max, atol=1e-6)

    assert model.nu == N
    assert tuple(model.actuator(i).name for i in range(N)) == SPEC.joint_names
    for i, name in enumerate(SPEC.joint_names):
        assert model.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT
        assert model.actuator_trnid[i, 0] == model.joint(name).id
        assert model.actuator_gaintype[i] == mujoco.mjtGain.mjGAIN_FIXED
        assert model.actuator_biastype[i] == mujoco.mjtBias.mjBIAS_NONE  # plain motor
        assert model.actuator_gear[i, 0] == pytest.approx(1.0)
        assert model.actuator_gainprm[i, 0] == pytest.approx(1.0)
        assert model.actuator_ctrllimited[i] == 1
    np.testing.assert_allclose(model.actuator_ctrlrange[:, 0], -SPEC.tau_max, atol=1e-6)
    np.testing.assert_allclose(model.actuator_ctrlrange[:, 1], SPEC.tau_max, atol=1e-6)


def test_timing_names_and_home_keyframe_match_spec(model: mujoco.MjModel) -> None:
    assert model.opt.timestep == pytest.approx(SPEC.physics_dt)
    assert SPEC.decimation == 10
    assert not SPEC.floating_base
    assert model.body(SPEC.base_body).parentid == 0
    assert model.body_jntnum[model.body(SPEC.base_body).id] == 0  # bolted to the table
    model.site(SPEC.ee_site)
    for cam in SPEC.cameras:
        model.camera(cam)
    for site in ("cube_site", "peg_tip", "hole_top", "hole_bottom"):
        model.site(site)
    qa, _ = _qadr(model)
    np.testing.assert_allclose(model.key("home").qpos[qa], SPEC.q0, atol=1e-9)
    assert np.all((SPEC.q0 >= SPEC.q_min) & (SPEC.q0 <= SPEC.q_max))


def test_arm_mass_within_spec_range(model: mujoco.MjModel) -> None:
    base = model.body(SPEC.base_body).id
    arm_mass = model.body_subtreemass[base]
    lo, hi = SPEC.mass_range
    assert lo <= arm_mass <= hi, arm_mass
    # the subtree is the arm only: the objects are not in it
    for obj in ("cube", "peg", "hole"):
        assert model.body_rootid[model.body(obj).id] != base


def test_home_is_collision_free_and_ready_pose_is_in_front(model: mujoco.MjModel) -> None:
    data = _home(model)
    for c in data.contact[: data.ncon]:
        assert c.dist > -1e-3, (model.geom(c.geom1).name, model.geom(c.geom2).name, c.dist)
        bodies = {model.body(model.geom_bodyid[g]).name for g in (c.geom1, c.geom2)}
        assert bodies <= {"world", "cube", "peg", "hole"}, bodies  # the arm touches nothing
    ee = data.site(SPEC.ee_site).xpos
    assert 0.15 < ee[0] < 0.30 and abs(ee[1]) < 0.02 and 0.08 < ee[2] < 0.16, ee


def _can_collide(model: mujoco.MjModel, g1: int, g2: int) -> bool:
    return bool((model.geom_contype[g1] & model.geom_conaffinity[g2])
                or (model.geom_contype[g2] & model.geom_conaffinity[g1]))


def test_collision_filter_jaws_collide_links_do_not(model: mujoco.MjModel) -> None:
    geoms = {model.geom(g).name: g for g in range(model.ngeom)}
    for jaw in ("fixed_jaw", "moving_jaw_pad"):
        for other in ("cube", "peg", "table", "hole_wall_px"):
            assert _can_collide(model, geoms[jaw], geoms[other]), (jaw, other)
        assert model.geom_condim[geoms[jaw]] >= 4 and model.geom_friction[geoms[jaw], 0] >= 1.0
    base = model.body(SPEC.base_body).id
    arm = [g for g in range(model.ngeom) if model.body_rootid[model.geom_bodyid[g]] == base]
    assert len(arm) > 8
    for i, g1 in enumerate(arm):
        for g2 in arm[i + 1:]:
            assert not _can_collide(model, g1, g2), (model.geom(g1).name, model.geom(g2).name)
    assert _can_collide(model, geoms["cube"], geoms["peg"])


# --------------------------------------------------------------------------- dynamics


def test_pd_holds_home_against_gravity(model: mujoco.MjModel) -> None:
    data = _home(model)
    qa, _ = _qadr(model)
    worst = 0.0
    for _ in range(int(2.0 / SPEC.physics_dt)):
        _pd_step(model, data, SPEC.q0)
        worst = max(worst, float(np.max(np.abs(data.qpos[qa] - SPEC.q0))))
    assert np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))
    assert worst < 0.05, worst
    # gravity really loads the shoulder and elbow (the holding torque is not ~0)
    assert np.max(np.abs(data.ctrl[1:3])) > 0.1


def _ik_vertical(model: mujoco.MjModel, target: np.ndarray, q_init: np.ndarray) -> np.ndarray:
    """Damped least squares on the ee site: position + gripper pointing down, jaws along x."""
    data = mujoco.MjData(model)
    qa, va = _qadr(model)
    ee = model.site(SPEC.ee_site).id
    q = q_init.copy()
    jp, jr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    w = 0.2  # rad -> m weighting of the orientation error
    for _ in range(200):
        data.qpos[qa] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        mujoco.mj_jacSite(model, data, jp, jr, ee)
        rot = data.site_xmat[ee].reshape(3, 3)
        err = np.r_[target - data.site_xpos[ee],
                    w * np.cross(rot[:, 0], [0.0, 0.0, -1.0]),  # approach axis down
                    w * np.cross(rot[:, 2], [1.0, 0.0, 0.0])]   # jaws close along world x
        jac = np.r_[jp[:, va[:5]], w * jr[:, va[:5]], w * jr[:, va[:5]]]
        q[:5] += jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(9), err)
        q[:5] = np.clip(q[:5], SPEC.q_min[:5], SPEC.q_max[:5])
    return q


def test_grasp_and_lift_cube(model: mujoco.MjModel) -> None:
    data = _home(model)
    cube = model.body("cube").id
    ee = model.site(SPEC.ee_site).id
    c0 = data.xpos[cube].copy()
    g_open, g_close = 0.9, -0.1  # rad; the 3 cm cube is gripped at ~0.41 rad

    q_pre = _ik_vertical(model, c0 + np.array([0.0, 0.0, 0.07]), SPEC.q0)
    q_pre[5] = g_open
    q_down = _ik_vertical(model, c0 + np.array([0.0, 0.0, 0.012]), q_pre)
    q_down[5] = g_open
    q_closed = q_down.copy()
    q_closed[5] = g_close
    q_up = _ik_vertical(model, c0 + np.array([0.0, 0.0, 0.10]), q_down)
    q_up[5] = g_close

    q_cmd = SPEC.q0.copy()
    for q_next, duration in ((q_pre, 1.0), (q_down, 0.8), (q_closed, 0.5), (q_up, 1.0)):
        n = int(duration / SPEC.physics_dt)
        for i in range(n):  # linear ramp over 60% of the segment, then settle
            a = min(1.0, i / (0.6 * n))
            _pd_step(model, data, q_cmd + (q_next - q_cmd) * a)
        q_cmd = q_next
        if q_next is q_down:  # opened jaws came down around the cube without knocking it
            assert np.linalg.norm(data.xpos[cube] - c0) < 0.005

    for _ in range(int(1.0 / SPEC.physics_dt)):  # hold for 1 s
        _pd_step(model, data, q_up)
        assert data.xpos[cube][2] >= c0[2] + 0.05
        assert np.linalg.norm(data.xpos[cube] - data.site_xpos[ee]) < 0.015
    assert np.all(np.isfinite(data.qpos))
    touching = {frozenset((model.geom(c.geom1).name, model.geom(c.geom2).name))
                for c in data.contact[: data.ncon]}
    assert frozenset(("fixed_jaw", "cube")) in touching
    assert frozenset(("moving_jaw_pad", "cube")) in touching


@pytest.mark.parametrize("offset", [0.0, 0.0015])
def test_peg_drops_into_hole(model: mujoco.MjModel, offset: float) -> None:
    data = _home(model)
    top = data.site("hole_top").xpos.copy()
    bottom = data.site("hole_bottom").xpos.copy()
    assert top[2] - bottom[2] == pytest.approx(0.04, abs=0.005)
    adr = model.jnt_qposadr[model.joint("peg_joint").id]
    # peg upright, its bottom end 5 mm above the opening (offset < the 2 mm side clearance)
    data.qpos[adr:adr + 3] = top + np.array([offset, offset, 0.005 + 0.03])
    data.qpos[adr + 3:adr + 7] = [1.0, 0.0, 0.0, 0.0]
    mujoco.mj_forward(model, data)
    for _ in range(int(1.0 / SPEC.physics_dt)):
        _pd_step(model, data, SPEC.q0)
    tip = data.site("peg_tip").xpos
    assert np.all(np.isfinite(tip))
    assert np.linalg.norm(tip - bottom) < 0.01, tip - bottom
