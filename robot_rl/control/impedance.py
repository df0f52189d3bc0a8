"""Joint-space impedance control with model-based gravity / inverse-dynamics compensation.

``tau = sat(kp (q_t - q) + kd (dq_t - dq) + tau_g(q) [+ M(q) ddq_t] [+ c(q, dq)], tau_max)``

``tau_g(q)`` is MuJoCo's bias force at zero velocity (``qfrc_bias`` with ``qvel = 0``),
computed by recursive Newton-Euler (``mj_rne``) on a private ``MjData`` of the robot's own
MJCF (``spec.mjcf``), so it never touches the simulation or robot it controls. Free objects
in the scene (cube, peg) are ignored: they are separate kinematic trees and contribute
nothing to the robot's dofs. ``M(q) ddq_t`` includes the joints' rotor armature, as in
MuJoCo's mass matrix. ``c(q, dq)`` (Coriolis / centrifugal) is added only when the
controller is built with ``coriolis=True``.

Floating-base robots (quad12): refused unless ``allow_floating_base=True``. Then the
compensation is the *swing-leg* one: each leg's links are held against gravity with the
trunk fixed at its model pose (upright, or the orientation given to
``set_base_orientation``). It does not carry the body's weight in stance; that needs the
contact forces, which a joint-space controller does not know.
"""

from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.robots.mjstate import as_slice
from robot_rl.robots.spec import RobotSpec
from robot_rl.types import JointCommand


def _as_vec(x: np.ndarray | float | None, default: np.ndarray, n: int, name: str) -> np.ndarray:
    arr = np.array(default if x is None else x, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) or be a scalar; got {arr.shape}")
    return arr


class JointImpedanceController:
    """Joint impedance + gravity (and optional inverse-dynamics) compensation.

    All per-joint arrays have shape (n,) in ``spec.joint_names`` order.

    Args:
        spec: the robot; its MJCF ``spec.mjcf`` provides the dynamics model.
        kp: stiffness [N m/rad], (n,) or scalar; default ``spec.kp``.
        kd: damping [N m s/rad], (n,) or scalar; default ``spec.kd``.
        tau_max: symmetric torque limit [N m], (n,); default ``spec.tau_max``.
        coriolis: also compensate Coriolis / centrifugal torques c(q, dq) (uses measured dq).
        allow_floating_base: accept a floating-base robot (swing-leg compensation, see the
            module docstring); otherwise such a robot raises ``ValueError``.

    Raises:
        ValueError: floating base without ``allow_floating_base``, bad gain shapes or signs,
            or a joint name missing from the MJCF.
    """

    def __init__(self, spec: RobotSpec, kp: np.ndarray | float | None = None,
                 kd: np.ndarray | float | None = None, tau_max: np.ndarray | None = None,
                 coriolis: bool = False, allow_floating_base: bool = False) -> None:
        if spec.floating_base and not allow_floating_base:
            raise ValueError(
                f"robot '{spec.name}' has a floating base: joint-space gravity compensation "
                "cannot know the contact forces that carry the body. Use JointPDController, or "
                "pass allow_floating_base=True for swing-leg compensation (each leg's own "
                "weight with the trunk held fixed).")
        n = spec.n_joints
        self.spec = spec
        self.kp = _as_vec(kp, spec.kp, n, "kp")
        self.kd = _as_vec(kd, spec.kd, n, "kd")
        self.tau_max = _as_vec(tau_max, spec.tau_max, n, "tau_max")
        if np.any(self.kp < 0) or np.any(self.kd < 0) or np.any(self.tau_max <= 0):
            raise ValueError("impedance gains must be >= 0 and tau_max > 0")
        self.coriolis = coriolis
        self.model = mujoco.MjModel.from_xml_path(str(spec.mjcf))
        self.data = mujoco.MjData(self.model)
        m = self.model
        jids = []
        for name in spec.joint_names:
            jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)
            if jid < 0:
                raise ValueError(f"MJCF {spec.mjcf} has no joint named '{name}'")
            jids.append(jid)
        self.qpos_adr = np.array([m.jnt_qposadr[j] for j in jids], dtype=np.intp)
        self.dof_adr = np.array([m.jnt_dofadr[j] for j in jids], dtype=np.intp)
        self._armature = m.dof_armature[self.dof_adr].copy()
        # contiguous slices are cheaper than fancy indexing on every tick
        self._q_idx = self._as_slice(self.qpos_adr)
        self._v_idx = self._as_slice(self.dof_adr)
        self._free_qadr = -1
        if spec.floating_base:
            bid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, spec.base_body)
            if bid < 0 or m.body_jntnum[bid] < 1 or \
                    m.jnt_type[m.body_jntadr[bid]] != mujoco.mjtJoint.mjJNT_FREE:
                raise ValueError(f"robot '{spec.name}': base body '{spec.base_body}' has no "
                                 "free joint in the MJCF")
            self._free_qadr = int(m.jnt_qposadr[m.body_jntadr[bid]])
        self._frc = np.zeros(m.nv)
        self._tau_g = np.zeros(n)
        self._buf = np.zeros(n)
        self._buf2 = np.zeros(n)
        self._neg_tau_max = -self.tau_max

    _as_slice = staticmethod(as_slice)

    @property
    def n_joints(self) -> int:
        return self.spec.n_joints

    def set_base_orientation(self, quat: np.ndarray) -> None:
        """Floating base only: trunk orientation (w, x, y, z) used by later gravity terms."""
        if self._free_qadr < 0:
            raise ValueError(f"robot '{self.spec.name}' has no floating base")
        qw = np.asarray(quat, dtype=np.float64)
        a = self._free_qadr + 3
        self.data.qpos[a:a + 4] = qw / np.linalg.norm(qw)

    # -- dynamics terms -------------------------------------------------------------------
    def _rne(self, q: np.ndarray, dq: np.ndarray | None, ddq: np.ndarray | None) -> None:
        """Run RNE at (q, dq or 0, ddq or 0); result in ``self._frc`` (nv,) [N m]."""
        m, d = self.model, self.data
        d.qpos[self._q_idx] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        if dq is not None:
            d.qvel[self._v_idx] = dq
            mujoco.mj_comVel(m, d)
        if ddq is not None:
            d.qacc[self._v_idx] = ddq
        mujoco.mj_rne(m, d, 1 if ddq is not None else 0, self._frc)
        if dq is not None:  # leave zero velocity for the next pure-gravity call
            d.qvel[:] = 0.0
            d.cvel[:] = 0.0
            d.cdof_dot[:] = 0.0

    def gravity_torque(self, q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Gravity torque tau_g(q) [N m], (n,): ``qfrc_bias`` at zero velocity.

        Args:
            q: joint positions [rad], (n,).
            out: optional (n,) array to write into (no allocation).
        """
        self._rne(q, None, None)
        if out is None:
            out = np.empty(self.n_joints)
        return np.take(self._frc, self.dof_adr, out=out)

    def inverse_dynamics(self, q: np.ndarray, ddq: np.ndarray, dq: np.ndarray | None = None,
                         out: np.ndarray | None = None) -> np.ndarray:
        """``M(q) ddq + tau_g(q)`` [+ c(q, dq) if ``dq`` is given] [N m], (n,).

        Args:
            q: joint positions [rad], (n,).
            ddq: joint accelerations [rad/s^2], (n,).
            dq: joint velocities [rad/s], (n,), for the Coriolis term; None = zero velocity.
            out: optional (n,) output array.
        """
        self._rne(q, dq, ddq)
        if out is None:
            out = np.empty(self.n_joints)
        np.take(self._frc, self.dof_adr, out=out)
        np.multiply(self._armature, ddq, out=self._buf2)  # rotor inertia: MuJoCo's M has it
        out += self._buf2
        return out

    # -- control law ----------------------------------------------------------------------
    def feedforward(self, q: np.ndarray, dq: np.ndarray | None = None,
                    ddq_target: np.ndarray | None = None,
                    out: np.ndarray | None = None) -> np.ndarray:
        """Model torque of the law [N m], (n,): tau_g(q) [+ M ddq_t] [+ c(q, dq)]."""
        dq_used = dq if self.coriolis else None
        if ddq_target is None and dq_used is None:
            return self.gravity_torque(q, out=out)
        if out is None:
            out = np.empty(self.n_joints)
        if ddq_target is None:
            self._rne(q, dq_used, None)
            return np.take(self._frc, self.dof_adr, out=out)
        return self.inverse_dynamics(q, ddq_target, dq_used, out=out)

    def torque(self, q_target: np.ndarray, q: np.ndarray, dq: np.ndarray,
               dq_target: np.ndarray | None = None, ddq_target: np.ndarray | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
        """Saturated impedance torque [N m], (n,). Allocation-free when ``out`` is given.

        Args:
            q_target: desired positions [rad], (n,).
            q, dq: measured positions [rad] and velocities [rad/s], (n,).
            dq_target: desired velocities [rad/s], (n,); None = 0.
            ddq_target: desired accelerations [rad/s^2], (n,); None = gravity only.
            out: optional (n,) output array.
        """
        buf, buf2 = self._buf, self._buf2
        self.feedforward(q, dq, ddq_target, out=self._tau_g)
        np.subtract(q_target, q, out=buf)
        buf *= self.kp
        if dq_target is None:
            np.multiply(self.kd, dq, out=buf2)
            buf -= buf2
        else:
            np.subtract(dq_target, dq, out=buf2)
            buf2 *= self.kd
            buf += buf2
        buf += self._tau_g
        if out is None:
            out = np.empty(self.n_joints)
        np.minimum(buf, self.tau_max, out=out)
        return np.maximum(out, self._neg_tau_max, out=out)

    def command(self, q_target: np.ndarray, q: np.ndarray, dq: np.ndarray | None = None,
                dq_target: np.ndarray | None = None,
                ddq_target: np.ndarray | None = None) -> JointCommand:
        """The same law as a `JointCommand` for an MIT-protocol motor (PD runs on the motor).

        ``tau_ff`` is the model torque at the measured ``q`` (gravity, plus M ddq_t and
        c(q, dq) when asked for), saturated at ``tau_max``; the motor adds
        ``kp (q_target - q) + kd (dq_target - dq)``. Arrays are fresh copies, (n,).
        """
        n = self.n_joints
        tau_ff = self.feedforward(q, dq, ddq_target, out=np.empty(n))
        np.minimum(tau_ff, self.tau_max, out=tau_ff)
        np.maximum(tau_ff, self._neg_tau_max, out=tau_ff)
        dq_t = np.zeros(n) if dq_target is None else np.array(dq_target, dtype=np.float64)
        return JointCommand(self.spec.joint_names, np.array(q_target, dtype=np.float64), dq_t,
                            self.kp.copy(), self.kd.copy(), tau_ff)


__all__ = ["JointImpedanceController"]
