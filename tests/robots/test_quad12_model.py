"""quad12 MJCF against its `RobotSpec`, and the physics the envs rely on: it stands under the
spec's joint PD, it collapses without it, and the rough-terrain scene stays finite."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from robot_rl.robots.quad12 import ASSETS, QUAD12

SPEC = QUAD12
FLAT = ASSETS / "scene_flat.xml"
ROUGH = ASSETS / "scene_rough.xml"


def _load(path) -> tuple[mujoco.MjModel, mujoco.MjData]:
    model = mujoco.MjModel.from_xml_path(str(path))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_forward(model, data)
    return model, data


@pytest.fixture(scope="module")
def flat() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(FLAT))


def _joint_ids(model: mujoco.MjModel) -> list[int]:
    return [model.joint(n).id for n in SPEC.joint_names]


def _run_pd(model: mujoco.MjModel, data: mujoco.MjData, seconds: float,
            kp: np.ndarray, kd: np.ndarray) -> np.ndarray:
    """Joint PD to q0 computed in Python at every mj_step; returns the trunk height trace."""
    qadr = model.jnt_qposadr[_joint_ids(model)]
    dadr = model.jnt_dofadr[_joint_ids(model)]
    trunk = model.body(SPEC.base_body).id
    heights = np.empty(round(seconds / model.opt.timestep))
    for i in range(heights.size):
        tau = kp * (SPEC.q0 - data.qpos[qadr]) - kd * data.qvel[dadr]
        data.ctrl[:] = np.clip(tau, -SPEC.tau_max, SPEC.tau_max)
        mujoco.mj_step(model, data)
        heights[i] = data.xpos[trunk, 2]
    return heights


def test_joints_actuators_and_limits_match_spec(flat: mujoco.MjModel) -> None:
    model = flat
    assert model.opt.timestep == pytest.approx(SPEC.physics_dt)
    hinges = [model.joint(i).name for i in range(model.njnt)
              if model.jnt_type[i] == mujoco.mjtJoint.mjJNT_HINGE]
    assert tuple(hinges) == SPEC.joint_names
    assert model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE
    assert model.body(model.jnt_bodyid[0]).name == SPEC.base_body
    jids = _joint_ids(model)
    np.testing.assert_allclose(model.jnt_range[jids, 0], SPEC.q_min, atol=1e-6)
    np.testing.assert_allclose(model.jnt_range[jids, 1], SPEC.q_max, atol=1e-6)
    assert all(model.jnt_limited[jids])
    # qpos / dof layout: free joint first, then the 12 joints contiguous in spec order
    np.testing.assert_array_equal(model.jnt_qposadr[jids], np.arange(7, 19))
    # one motor per joint, same name and order, gear 1, ctrlrange = +-tau_max
    assert model.nu == SPEC.n_joints
    assert tuple(model.actuator(i).name for i in range(model.nu)) == SPEC.joint_names
    np.testing.assert_array_equal(model.actuator_trnid[:, 0], jids)
    np.testing.assert_allclose(model.actuator_gear[:, 0], 1.0)
    assert all(model.actuator_ctrllimited)
    np.testing.assert_allclose(model.actuator_ctrlrange[:, 0], -SPEC.tau_max, atol=1e-6)
    np.testing.assert_allclose(model.actuator_ctrlrange[:, 1], SPEC.tau_max, atol=1e-6)
    # q0 inside the MJCF limits, and the keyframe holds q0 with zero ctrl
    key = model.key("home")
    np.testing.assert_allclose(key.qpos[7:], SPEC.q0, atol=1e-9)
    np.testing.assert_allclose(key.qpos[3:7], [1, 0, 0, 0])
    np.testing.assert_allclose(key.ctrl, 0.0)


def test_mass_sensors_feet_and_cameras(flat: mujoco.MjModel) -> None:
    model = flat
    trunk = model.body(SPEC.base_body).id
    lo, hi = SPEC.mass_range
    assert lo <= model.body_subtreemass[trunk] <= hi
    assert model.body_subtreemass[trunk] == pytest.approx(model.body_mass.sum())
    assert np.all(model.body_inertia[1:] > 0)
    for name in ("imu_gyro", "imu_acc", "imu_quat", "base_linvel", "base_pos"):
        sensor = model.sensor(name)
        assert model.site(int(sensor.objid[0])).name == SPEC.imu_site, name
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_forward(model, data)
    for foot in SPEC.feet:
        leg = foot.split("_")[0]
        geom, site = model.geom(foot), model.site(f"{leg}_foot_site")
        touch = model.sensor(f"{leg}_touch")
        assert touch.type[0] == mujoco.mjtSensor.mjSENS_TOUCH
        assert int(touch.objid[0]) == site.id
        # the touch site wraps its own foot, slightly bigger than the foot sphere
        assert model.site_bodyid[site.id] == model.geom_bodyid[geom.id]
        np.testing.assert_allclose(data.site_xpos[site.id], data.geom_xpos[geom.id], atol=1e-9)
        assert model.site_size[site.id, 0] > model.geom_size[geom.id, 0]
        assert model.body(model.geom_bodyid[geom.id]).name == f"{leg}_calf"
    touch_order = [model.sensor(f.replace("_foot", "_touch")).id for f in SPEC.feet]
    assert touch_order == sorted(touch_order)
    # no self-collision: no two robot geoms can ever collide
    robot = [g for g in range(model.ngeom) if model.geom_bodyid[g] != 0]
    for a in robot:
        for b in robot:
            assert not (model.geom_contype[a] & model.geom_conaffinity[b])
    for cam in SPEC.cameras:
        assert model.cam_mode[model.camera(cam).id] == mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM


def test_home_keyframe_front_feet_touch_the_floor(flat: mujoco.MjModel) -> None:
    model = flat
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_kinematics(model, data)
    bottoms = [data.geom_xpos[model.geom(f).id, 2] - model.geom_size[model.geom(f).id, 0]
               for f in SPEC.feet]
    assert min(bottoms) == pytest.approx(0.0, abs=1e-3)
    assert max(bottoms) < 0.015


def test_stands_under_spec_pd() -> None:
    model, data = _load(FLAT)
    feet = [model.geom(f).id for f in SPEC.feet]
    heights = _run_pd(model, data, 2.0, SPEC.kp, SPEC.kd)
    feet_xy = data.geom_xpos[feet, :2].copy()
    heights = np.concatenate([heights, _run_pd(model, data, 3.0, SPEC.kp, SPEC.kd)])
    assert np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))
    # the feet stay planted once settled: soft-contact friction must not let them creep apart
    # (default pyramidal cones spread them ~12 mm in these 3 s)
    assert np.abs(data.geom_xpos[feet, :2] - feet_xy).max() < 0.003
    trunk = model.body(SPEC.base_body).id
    projected_gravity_z = -data.xmat[trunk].reshape(3, 3)[2, 2]
    assert projected_gravity_z < -0.95
    assert heights.min() > 0.22 and heights.max() < 0.40
    # at rest: it holds its height over the last second (no creeping sag)
    assert np.ptp(heights[-200:]) < 0.005
    touch = [data.sensor(f.replace("_foot", "_touch")).data[0] for f in SPEC.feet]
    assert all(t > 1.0 for t in touch), touch
    # the four feet carry the weight between them
    weight = model.body_subtreemass[trunk] * -model.opt.gravity[2]
    assert sum(touch) == pytest.approx(weight, rel=0.1)


def test_collapses_without_torque() -> None:
    model, data = _load(FLAT)
    stand = data.qpos[2]
    zero = np.zeros(SPEC.n_joints)
    heights = _run_pd(model, data, 2.0, zero, zero)
    assert np.all(np.isfinite(data.qpos))
    assert heights[-1] < stand - 0.05


def test_rough_scene_random_terrain_stays_finite() -> None:
    model, data = _load(ROUGH)
    hid = model.hfield("terrain").id
    assert (model.hfield_nrow[hid], model.hfield_ncol[hid]) == (128, 128)
    assert model.geom("floor").type[0] == mujoco.mjtGeom.mjGEOM_HFIELD
    assert np.all(model.hfield_data == 0.0)
    rng = np.random.default_rng(0)
    model.hfield_data[:] = rng.uniform(0.0, 0.2, model.hfield_data.shape)  # <= 3 cm bumps
    data.qpos[2] += 0.2 * model.hfield_size[hid, 2]  # start above the highest bump
    mujoco.mj_forward(model, data)
    _run_pd(model, data, 2.0, SPEC.kp, SPEC.kd)
    assert np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))
    assert np.all(np.isfinite(data.sensordata))
    trunk = model.body(SPEC.base_body).id
    assert data.xmat[trunk, 8] > 0.9  # still upright on the bumps


def test_foot_slip_is_the_contact_points_tangential_speed() -> None:
    """`MjRobot.foot_slip`: standing, the feet's contact points are still; the robot dragged
    sideways at 0.5 m/s with its feet on the ground slips at 0.5 m/s on every foot; pivoting
    about one foot's contact point, that foot's centre moves but its contact point does not
    slip (the velocity is taken at the contact, not at the geom's centre); a foot in the air
    has no slip (NaN)."""
    from robot_rl.robots.mjstate import MjRobot

    model, data = _load(FLAT)
    robot = MjRobot(SPEC, model, data)
    kp, kd = np.asarray(SPEC.kp), np.asarray(SPEC.kd)
    _run_pd(model, data, 1.0, kp, kd)  # settle on the ground
    mujoco.mj_forward(model, data)
    still = robot.foot_slip()
    assert np.isfinite(still).all() and still.max() < 0.01, still
    data.qvel[:] = 0.0
    data.qvel[1] = 0.5  # the free joint's world y velocity: dragged sideways
    mujoco.mj_forward(model, data)
    np.testing.assert_allclose(robot.foot_slip(), 0.5, atol=0.01)
    # pivoting about foot 0's contact point (the whole robot rigid, spinning about an axis
    # through that point): its centre moves at w r, its contact point is still
    g = int(robot.foot_geom_ids[0])
    c = next(c for c in data.contact[: data.ncon] if g in (c.geom1, c.geom2))
    trunk = model.body(SPEC.base_body).id
    w = np.array([0.0, 2.0, 2.0])  # pitch (moves the foot centre) and yaw
    data.qvel[:] = 0.0
    data.qvel[0:3] = -np.cross(w, c.pos - data.xpos[trunk])
    data.qvel[3:6] = data.xmat[trunk].reshape(3, 3).T @ w  # the free joint's is local
    mujoco.mj_forward(model, data)
    v = np.empty(6)
    mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_GEOM, g, v, 0)
    assert np.linalg.norm(v[3:5]) > 0.03  # the foot's centre does move ...
    assert robot.foot_slip()[0] < 1e-6  # ... its contact point does not
    assert np.all(robot.foot_slip()[1:] > 0.1)  # the other feet are dragged round
    data.qpos[2] += 0.2  # lifted clear of the ground
    mujoco.mj_forward(model, data)
    assert np.isnan(robot.foot_slip()).all()
