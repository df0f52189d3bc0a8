"""Read a `RobotState` from MuJoCo data and write motor torques, for one `RobotSpec`.

Used by the training envs, the sim robot backend and the reality proxy, so the state a
policy sees in simulation is assembled in exactly one place. All MuJoCo indices are
resolved once at construction; a name missing from the MJCF is a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from robot_rl.robots.spec import RobotSpec
from robot_rl.types import RobotState


def as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """A contiguous index array as a slice (much cheaper to index with), else unchanged."""
    if len(idx) and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str, what: str) -> int:
    idx = mujoco.mj_name2id(model, kind, name)
    if idx < 0:
        raise ValueError(f"MJCF has no {what} named '{name}'")
    return int(idx)


def robot_bodies(model: mujoco.MjModel, spec: RobotSpec) -> np.ndarray:
    """Ids of the robot's bodies in ``model``: its base and every body below it (scene
    objects and the world excluded)."""
    base = _id(model, mujoco.mjtObj.mjOBJ_BODY, spec.base_body, "body")
    ids = []
    for b in range(1, model.nbody):
        p = b
        while p > 0 and p != base:
            p = int(model.body_parentid[p])
        if p == base:
            ids.append(b)
    return np.array(ids, dtype=np.int64)


class MjRobot:
    """Index bookkeeping between a `RobotSpec` and a loaded MuJoCo model.

    Args:
        spec: the robot's constants.
        model, data: a model that contains the robot (any scene that includes it).
        objects: names of free bodies whose pose is reported in ``RobotState.objects``.
    """

    def __init__(self, spec: RobotSpec, model: mujoco.MjModel, data: mujoco.MjData,
                 objects: Sequence[str] = ()) -> None:
        self.robot_spec, self.model, self.data = spec, model, data
        jids = [_id(model, mujoco.mjtObj.mjOBJ_JOINT, n, "joint") for n in spec.joint_names]
        self.qpos_adr = np.array([model.jnt_qposadr[j] for j in jids])
        self.dof_adr = np.array([model.jnt_dofadr[j] for j in jids])
        self.act_ids = np.array([_id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, n, "actuator")
                                 for n in spec.joint_names])
        # contiguous slices are much cheaper than fancy indexing in the hot loop
        self._q_slice = self._as_slice(self.qpos_adr)
        self._dq_slice = self._as_slice(self.dof_adr)
        self._ctrl_slice = self._as_slice(self.act_ids)
        self.base_id = _id(model, mujoco.mjtObj.mjOBJ_BODY, spec.base_body, "body")
        self._sensors: dict[str, slice] = {}
        if spec.imu_site:
            for name in ("imu_gyro", "imu_acc", "imu_quat", "base_linvel"):
                sid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SENSOR, name)
                if sid >= 0:
                    adr, dim = model.sensor_adr[sid], model.sensor_dim[sid]
                    self._sensors[name] = slice(adr, adr + dim)
            for required in ("imu_gyro", "imu_acc", "imu_quat"):
                if required not in self._sensors:
                    raise ValueError(f"robot {spec.name}: MJCF lacks sensor '{required}'")
        self.touch_adr = []
        for foot in spec.feet:
            sid = _id(model, mujoco.mjtObj.mjOBJ_SENSOR, foot.replace("_foot", "_touch"),
                      "touch sensor")
            self.touch_adr.append(int(model.sensor_adr[sid]))
        self.touch_adr_arr = np.array(self.touch_adr, dtype=np.int64)
        self.foot_geom_ids = np.array([_id(model, mujoco.mjtObj.mjOBJ_GEOM, f, "geom")
                                       for f in spec.feet], dtype=np.int64)
        self.ee_site_id = (_id(model, mujoco.mjtObj.mjOBJ_SITE, spec.ee_site, "site")
                           if spec.ee_site else -1)
        self.object_ids = {name: _id(model, mujoco.mjtObj.mjOBJ_BODY, name, "body")
                           for name in objects}

    _as_slice = staticmethod(as_slice)

    # -- fast accessors (views, no copies) ---------------------------------------------
    @property
    def q(self) -> np.ndarray:
        return self.data.qpos[self._q_slice]

    @property
    def dq(self) -> np.ndarray:
        return self.data.qvel[self._dq_slice]

    def set_torque(self, tau: np.ndarray) -> None:
        """Write motor torques [N m] to ``data.ctrl`` (gear 1 motors)."""
        self.data.ctrl[self._ctrl_slice] = tau

    def sensor(self, name: str) -> np.ndarray:
        return self.data.sensordata[self._sensors[name]]

    def foot_contacts(self) -> np.ndarray:
        """Per-foot contact flags from the touch sensors, shape (n_feet,)."""
        return self.data.sensordata[self.touch_adr_arr] > 0.0

    def foot_slip(self) -> np.ndarray:
        """Per foot, the tangential speed [m/s] of its contact point (the material point of
        the foot at the contact, ``v + w x r``: a rolling foot does not slip, a dragged one
        does), NaN for a foot without a contact; shape (n_feet,). Simulator truth, for
        reports: the foot's geom velocity at MuJoCo's contact position, less its component
        along the contact normal."""
        m, d = self.model, self.data
        out = np.full(len(self.foot_geom_ids), np.nan)
        vel = np.empty(6)
        for c in d.contact[: d.ncon]:
            for k, g in enumerate(self.foot_geom_ids):
                if g not in (c.geom1, c.geom2) or not np.isnan(out[k]):
                    continue
                mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_GEOM, int(g), vel, 0)
                w, v = vel[:3], vel[3:]  # world frame, at the geom's centre
                point = v + np.cross(w, c.pos - d.geom_xpos[g])
                n = c.frame[:3]
                out[k] = float(np.linalg.norm(point - (point @ n) * n))
        return out

    def base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """World position (3,) and rotation matrix (3, 3) of the base body."""
        d = self.data
        return d.xpos[self.base_id], d.xmat[self.base_id].reshape(3, 3)

    # -- full state ------------------------------------------------------------------------
    def read_state(self, command: np.ndarray | None = None,
                   images: dict[str, np.ndarray] | None = None) -> RobotState:
        """Assemble a `RobotState` (copies) from the current ``data`` (after mj_forward/step)."""
        d = self.data
        st = RobotState(t=float(d.time), q=self.q.copy(), dq=self.dq.copy(),
                        tau=d.actuator_force[self._ctrl_slice].copy())
        if command is not None:
            st.command = np.array(command, dtype=np.float64)
        if self._sensors:
            st.imu_quat = self.sensor("imu_quat").copy()
            st.imu_gyro = self.sensor("imu_gyro").copy()
            st.imu_acc = self.sensor("imu_acc").copy()
            if "base_linvel" in self._sensors:
                st.base_lin_vel = self.sensor("base_linvel").copy()
        if self.robot_spec.floating_base:
            st.base_pos = d.xpos[self.base_id].copy()
            if not self._sensors:
                st.imu_quat = d.xquat[self.base_id].copy()
        if self.touch_adr:
            st.contacts = self.foot_contacts().copy()
        if self.ee_site_id >= 0 or self.object_ids:
            p0, r0 = self.base_pose()
            if self.ee_site_id >= 0:
                st.ee_pos = r0.T @ (d.site_xpos[self.ee_site_id] - p0)
                mat = r0.T @ d.site_xmat[self.ee_site_id].reshape(3, 3)
                quat = np.empty(4)
                mujoco.mju_mat2Quat(quat, mat.reshape(-1))
                st.ee_quat = quat
            for name, bid in self.object_ids.items():
                pos = r0.T @ (d.xpos[bid] - p0)
                mat = r0.T @ d.xmat[bid].reshape(3, 3)
                quat = np.empty(4)
                mujoco.mju_mat2Quat(quat, mat.reshape(-1))
                st.objects[name] = np.concatenate([pos, quat])
        if images:
            st.images = images
        return st

    def world_to_base(self, p_world: np.ndarray) -> np.ndarray:
        """A world point [m] in the robot base frame."""
        p0, r0 = self.base_pose()
        return r0.T @ (p_world - p0)


__all__ = ["MjRobot", "as_slice", "robot_bodies"]
