"""Damped-least-squares inverse kinematics for one site (the arm's ``ee`` site).

Each iteration, at the current joint estimate q (participating joints only):

    e   = [p_t - p(q);  w_rot * log(R_t R(q)^T)]           (base frame; rows 3 or 6)
    J   = [J_p;  w_rot * J_r]                               (mj_jacSite, base frame)
    dq  = J^T (J J^T + lambda^2 I)^-1 e  [+ (I - J^+ J) k_null (q_null - q)]
    q  <- clamp(q + s * dq, q_min, q_max),  s = min(1, min_j max_step_j / |dq_j|)

``J^T (J J^T + lambda^2 I)^-1`` is the damped pseudo-inverse; the null-space pull uses the
exact pseudo-inverse ``J^+``, so ``I - J^+ J`` projects exactly onto null(J) and the posture
pull cannot fight the task. Joints that sit on a limit and whose step would push them
further out are dropped from J and the step is solved again (a one-pass active set), so the
other joints take over their share. The step is scaled uniformly (its direction is kept) so
no joint moves more than ``max_step`` per iteration. Kinematics run on a private ``MjData``
of ``spec.mjcf``; the robot's state is never touched. Positions are in metres, angles in
radians, frames are the robot base body's frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import mujoco
import numpy as np

from robot_rl.robots.spec import RobotSpec


class IKResult(NamedTuple):
    """Outcome of one IK call.

    Attributes:
        q_target: joint targets [rad], (n_joints,) in ``spec.joint_names`` order; joints that
            do not take part (e.g. the gripper) are copied from the input.
        residual: target minus reached pose, base frame, unweighted: (3,) [m] or
            (6,) [m, m, m, rad, rad, rad] when an orientation target was given.
        pos_err: norm of the position residual [m].
        rot_err: norm of the orientation residual [rad] (0.0 without an orientation target).
        iterations: DLS steps taken.
        converged: both errors below their tolerances.
    """

    q_target: np.ndarray
    residual: np.ndarray
    pos_err: float
    rot_err: float
    iterations: int
    converged: bool


def _rotvec(rot: np.ndarray) -> np.ndarray:
    """Axis-angle 3-vector [rad] of rotation matrix ``rot`` (3, 3), angle in [0, pi]."""
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rot).reshape(-1))
    vec = np.empty(3)
    mujoco.mju_quat2Vel(vec, quat, 1.0)
    return vec


def _rotmat(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of an axis-angle 3-vector [rad]."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    quat = np.empty(4)
    mujoco.mju_axisAngle2Quat(quat, np.asarray(rotvec, dtype=np.float64) / angle, angle)
    mat = np.empty(9)
    mujoco.mju_quat2Mat(mat, quat)
    return mat.reshape(3, 3)


class DampedLeastSquaresIK:
    """Iterative DLS IK of a site, within the spec's joint limits.

    Args:
        spec: the robot; kinematics from ``spec.mjcf``, limits ``spec.q_min``/``q_max``.
        site: site name; default ``spec.ee_site``.
        joints: names of the participating joints; default the spec joints that move the
            site (its ancestors in the kinematic tree: the 5 arm joints of arm6, not the
            gripper, whose jaw is a child of the site's body).
        damping: lambda [m] of the damped pseudo-inverse (larger = smoother near
            singularities, slower convergence).
        max_step: per-iteration joint step limit [rad], scalar or (n_active,).
        n_iter: iterations per call, at most.
        tol_pos: position tolerance [m]; tol_rot: orientation tolerance [rad].
        rot_weight: weight [m/rad] of orientation errors against position errors.
        null_gain: gain (per iteration, 0..1) of the null-space pull toward ``q_null``.
        q_null: posture for the null-space pull, (n_joints,); default ``spec.q0``.
    """

    def __init__(self, spec: RobotSpec, site: str | None = None,
                 joints: Sequence[str] | None = None, damping: float = 0.01,
                 max_step: float | np.ndarray = 0.2, n_iter: int = 10, tol_pos: float = 1e-4,
                 tol_rot: float = 1e-3, rot_weight: float = 0.1, null_gain: float = 0.0,
                 q_null: np.ndarray | None = None) -> None:
        site = spec.ee_site if site is None else site
        if not site:
            raise ValueError(f"robot '{spec.name}' has no ee_site; pass site=NAME")
        if not damping > 0 or n_iter < 1 or tol_pos <= 0 or tol_rot <= 0 or rot_weight <= 0:
            raise ValueError("need damping > 0, n_iter >= 1, tolerances > 0, rot_weight > 0")
        if not 0.0 <= null_gain <= 1.0:
            raise ValueError(f"null_gain must be in [0, 1]; got {null_gain}")
        self.spec = spec
        self.model = mujoco.MjModel.from_xml_path(str(spec.mjcf))
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.site_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, site)
        if self.site_id < 0:
            raise ValueError(f"MJCF {spec.mjcf} has no site named '{site}'")
        self.base_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, spec.base_body)
        if self.base_id < 0:
            raise ValueError(f"MJCF {spec.mjcf} has no body named '{spec.base_body}'")
        jids = {}
        for name in spec.joint_names:
            jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)
            if jid < 0:
                raise ValueError(f"MJCF {spec.mjcf} has no joint named '{name}'")
            jids[name] = jid
        if joints is None:
            chain, body = set(), int(m.site_bodyid[self.site_id])
            while body > 0:
                chain.add(body)
                body = int(m.body_parentid[body])
            joints = [n for n in spec.joint_names if int(m.jnt_bodyid[jids[n]]) in chain]
        unknown = [n for n in joints if n not in jids]
        if unknown or not joints:
            raise ValueError(f"IK joints must be a non-empty subset of {spec.joint_names}; "
                             f"unknown: {unknown}")
        self.joints = tuple(joints)
        self.idx = np.array([spec.joint_names.index(n) for n in self.joints], dtype=np.intp)
        self.all_qpos_adr = np.array([m.jnt_qposadr[jids[n]] for n in spec.joint_names])
        self.dof_adr = np.array([m.jnt_dofadr[jids[n]] for n in self.joints], dtype=np.intp)
        self.q_min = spec.q_min[self.idx].copy()
        self.q_max = spec.q_max[self.idx].copy()
        k = len(self.joints)
        self.max_step = np.broadcast_to(np.asarray(max_step, dtype=np.float64), (k,)).copy()
        if np.any(self.max_step <= 0):
            raise ValueError("max_step must be > 0")
        self.damping, self.n_iter = float(damping), int(n_iter)
        self.tol_pos, self.tol_rot = float(tol_pos), float(tol_rot)
        self.rot_weight, self.null_gain = float(rot_weight), float(null_gain)
        q_null = spec.q0 if q_null is None else np.asarray(q_null, dtype=np.float64)
        if q_null.shape != (spec.n_joints,):
            raise ValueError(f"q_null must have shape ({spec.n_joints},)")
        self.q_null = q_null[self.idx].copy()
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))

    # -- kinematics -----------------------------------------------------------------------
    def _forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Site position (3,) [m], rotation (3, 3) and base rotation (3, 3), base frame."""
        m, d = self.model, self.data
        d.qpos[self.all_qpos_adr] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        r0 = d.xmat[self.base_id].reshape(3, 3)
        pos = r0.T @ (d.site_xpos[self.site_id] - d.xpos[self.base_id])
        rot = r0.T @ d.site_xmat[self.site_id].reshape(3, 3)
        return pos, rot, r0

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Site position (3,) [m] and rotation matrix (3, 3) in the base frame at ``q``
        (n_joints,) [rad]."""
        pos, rot, _ = self._forward(np.asarray(q, dtype=np.float64))
        return pos, rot

    def _jacobian(self, r0: np.ndarray, with_rot: bool) -> np.ndarray:
        """Task Jacobian (3 or 6, n_active), base frame, rotation rows weighted."""
        mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.site_id)
        jp = r0.T @ self._jacp[:, self.dof_adr]
        if not with_rot:
            return jp
        return np.vstack([jp, self.rot_weight * (r0.T @ self._jacr[:, self.dof_adr])])

    # -- solving --------------------------------------------------------------------------
    def solve(self, q: np.ndarray, dpos: np.ndarray, drot: np.ndarray | None = None) -> IKResult:
        """Joint targets moving the site by ``dpos`` (3,) [m] and, optionally, rotating it by
        ``drot`` (3,) [rad, axis-angle], both in the base frame, from its pose at ``q``.

        The goal is ``p_t = p(q) + dpos`` and ``R_t = exp(drot) R(q)`` (rotation applied in
        the base frame). This is what an ``ee_delta`` action calls.
        """
        q = np.asarray(q, dtype=np.float64)
        pos, rot = self.fk(q)
        rot_t = None if drot is None else _rotmat(np.asarray(drot, dtype=np.float64)) @ rot
        return self.solve_to(q, pos + np.asarray(dpos, dtype=np.float64), rot_t)

    def solve_to(self, q: np.ndarray, pos: np.ndarray,
                 rot: np.ndarray | None = None) -> IKResult:
        """Joint targets putting the site at ``pos`` (3,) [m] and, optionally, orientation
        ``rot`` (rotation matrix (3, 3) or quaternion (4,) w, x, y, z), base frame.

        Args:
            q: current joints [rad], (n_joints,): the start of the iteration.
        """
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (self.spec.n_joints,):
            raise ValueError(f"q must have shape ({self.spec.n_joints},); got {q.shape}")
        pos_t = np.asarray(pos, dtype=np.float64)
        if pos_t.shape != (3,) or not np.all(np.isfinite(pos_t)):
            raise ValueError(f"target position must be finite with shape (3,); got {pos_t}")
        rot_t = None
        if rot is not None:
            rot_t = np.asarray(rot, dtype=np.float64)
            if rot_t.shape == (4,):
                mat = np.empty(9)
                mujoco.mju_quat2Mat(mat, rot_t / np.linalg.norm(rot_t))
                rot_t = mat.reshape(3, 3)
            if rot_t.shape != (3, 3) or not np.all(np.isfinite(rot_t)):
                raise ValueError("target orientation must be a (3, 3) matrix or (4,) quat")
        q_out = q.copy()
        qa = np.minimum(np.maximum(q[self.idx], self.q_min), self.q_max)
        it = 0
        while True:
            q_out[self.idx] = qa
            p, r, r0 = self._forward(q_out)
            ep = pos_t - p
            er = _rotvec(rot_t @ r.T) if rot_t is not None else None
            pos_err = float(np.linalg.norm(ep))
            rot_err = 0.0 if er is None else float(np.linalg.norm(er))
            converged = pos_err < self.tol_pos and rot_err < self.tol_rot
            if converged or it >= self.n_iter:
                break
            e = ep if er is None else np.concatenate([ep, self.rot_weight * er])
            jac = self._jacobian(r0, er is not None)
            qa = qa + self._step(jac, e, qa)
            np.minimum(np.maximum(qa, self.q_min, out=qa), self.q_max, out=qa)
            it += 1
        residual = ep if er is None else np.concatenate([ep, er])
        return IKResult(q_out, residual, pos_err, rot_err, it, converged)

    def _step(self, jac: np.ndarray, e: np.ndarray, qa: np.ndarray) -> np.ndarray:
        """One DLS step (n_active,) [rad] with the limit active set and the step limit."""
        free = np.ones(jac.shape[1], dtype=bool)
        at_min, at_max = qa <= self.q_min, qa >= self.q_max
        lam2_eye = self.damping ** 2 * np.eye(jac.shape[0])
        dq = np.zeros(jac.shape[1])
        for _ in range(2):
            jf = jac * free
            a_inv_e = np.linalg.solve(jf @ jf.T + lam2_eye, e)
            dq = jf.T @ a_inv_e
            if self.null_gain > 0.0:
                z = self.null_gain * (self.q_null - qa) * free
                # exact projector onto null(J): the damped one would leak into the task
                dq += z - np.linalg.pinv(jf, rcond=1e-6) @ (jf @ z)
            blocked = free & ((at_min & (dq < 0)) | (at_max & (dq > 0)))
            if not blocked.any():
                break
            free &= ~blocked
            dq[blocked] = 0.0
        ratio = float(np.max(np.abs(dq) / self.max_step))
        if ratio > 1.0:
            dq /= ratio
        return dq


__all__ = ["DampedLeastSquaresIK", "IKResult"]
