"""`WorkspaceCBF` (``cbf_workspace``): a discrete-time control-barrier-function QP that keeps
end-effector sites of a fixed-base arm inside a box, above the table and out of keep-out
spheres, by minimally moving the arm joints' position targets.

Each tick, with q the measured arm joints [rad] (shape (n,)), u_ref the proposed arm targets
[rad] and, for every site s and barrier h_i (all positions in the robot base frame [m]):

    box faces   h = p - box_min,  box_max - p   (the z_min face is max(box_min_z, table_z + margin))
    spheres     h = ||p - c||^2 - r^2           [m^2]

the stage solves (OSQP, set up once, warm-started)

    min_u ||u - u_ref||^2   s.t.   grad h_i(p_s(q)) . J_s(q) (u - q) >= -gamma h_i(p_s(q))
                                   max(q_min, c - dq_max dt) <= u <= min(q_max, c + dq_max dt)

J_s = the 3 x n position Jacobian of site s w.r.t. the arm joints (mj_jacSite, linearised at
the measured q); c = the last safe target (or q on the first tick / after damping). So the
predicted barrier at the target is h(q) + grad h J (u - q) >= (1 - gamma) h(q): the target
stays in the safe set and approaches its boundary by at most a fraction gamma of the
remaining distance per tick. An already-safe u_ref passes unchanged (no QP is solved).
Infeasible QP or solver failure → HOLD (the command is left untouched).

"Arm joints" are the robot's joints that move the end-effector body (``spec.ee_site``, else
the first configured site): on arm6 every joint but the gripper. A site on the moving jaw is
evaluated at the measured gripper angle (the gripper target is not constrained).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import mujoco
import numpy as np
import osqp
from scipy import sparse

from robot_rl.robots.spec import RobotSpec
from robot_rl.safety.core import Mode, Stage, TickContext
from robot_rl.types import JointCommand

_BOX_SIGN = np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
_BOX_NAMES = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
_SOLVED = (osqp.SolverStatus.OSQP_SOLVED, osqp.SolverStatus.OSQP_SOLVED_INACCURATE)
_INFEASIBLE = (osqp.SolverStatus.OSQP_PRIMAL_INFEASIBLE,
               osqp.SolverStatus.OSQP_PRIMAL_INFEASIBLE_INACCURATE)


@dataclass
class WorkspaceCBFConfig:
    """YAML ``{type: cbf_workspace, ...}``. Positions in the robot base frame [m].

    Attributes:
        box_min, box_max: workspace box corners (x, y, z) [m], box_min < box_max.
        table_z: table-top height [m]; table_margin: clearance kept above it [m] (≥ 0).
        spheres: keep-out spheres, each (x, y, z, radius) [m], radius > 0.
        gamma: CBF decay rate per tick, 0 < gamma ≤ 1 (1: may reach the boundary in one tick).
        sites: MJCF sites kept in the safe set (on the robot), e.g. ``[ee]``.
    """

    box_min: tuple[float, float, float]
    box_max: tuple[float, float, float]
    table_z: float = 0.0
    table_margin: float = 0.02
    spheres: tuple[tuple[float, float, float, float], ...] = ()
    gamma: float = 0.2
    sites: tuple[str, ...] = ("ee",)
    predict_sag: bool = True

    def validate(self) -> None:
        lo, hi = np.asarray(self.box_min, float), np.asarray(self.box_max, float)
        if lo.shape != (3,) or hi.shape != (3,) or not np.isfinite(np.r_[lo, hi]).all():
            raise ValueError("box_min and box_max must be 3 finite numbers (x, y, z) [m]")
        if np.any(lo >= hi):
            raise ValueError(f"box_min {list(self.box_min)} must be < box_max "
                             f"{list(self.box_max)} on every axis")
        if not (np.isfinite(self.table_z) and np.isfinite(self.table_margin)
                and self.table_margin >= 0):
            raise ValueError(f"table_z must be finite and table_margin >= 0, got "
                             f"{self.table_z}, {self.table_margin}")
        if self.table_z + self.table_margin >= hi[2]:
            raise ValueError(f"table_z + table_margin = {self.table_z + self.table_margin} m "
                             f"is not below box_max z = {hi[2]} m: the safe set is empty")
        for i, sph in enumerate(self.spheres):
            if len(sph) != 4 or not np.isfinite(sph).all() or sph[3] <= 0:
                raise ValueError(f"spheres[{i}] = {list(sph)}: need (x, y, z, radius) with "
                                 "finite values and radius > 0")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if not self.sites or len(set(self.sites)) != len(self.sites):
            raise ValueError(f"sites must be a non-empty list of distinct names, got "
                             f"{list(self.sites)}")


def _ancestors(model: mujoco.MjModel, body: int) -> list[int]:
    """Bodies from ``body`` up to (excluding) the world body."""
    out = []
    while body > 0:
        out.append(body)
        body = int(model.body_parentid[body])
    return out


class WorkspaceCBF(Stage):
    """Shaping stage: projects the arm targets onto the linearised workspace CBF constraints.

    Args:
        spec: a fixed-base robot whose MJCF has the configured sites.
        cfg: `WorkspaceCBFConfig`.
        control_dt: control period [s] (the rate box is dq_max * control_dt).

    Raises:
        ValueError: floating-base robot, a missing site (the message lists the available
            sites), a site not on the robot, or no joint moving the end-effector.
    """

    name: ClassVar[str] = "cbf_workspace"
    shaping: ClassVar[bool] = True
    cfg: WorkspaceCBFConfig

    def __init__(self, spec: RobotSpec, cfg: WorkspaceCBFConfig, control_dt: float) -> None:
        super().__init__(spec, cfg, control_dt)
        cfg.validate()
        if spec.floating_base:
            raise ValueError(f"cbf_workspace needs a fixed-base arm; robot '{spec.name}' has a "
                             "floating base (remove this stage from its safety config)")
        m = mujoco.MjModel.from_xml_path(str(spec.mjcf))
        self.model, self.data = m, mujoco.MjData(m)
        base = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, spec.base_body)
        if base < 0 or any(m.body_jntnum[b] > 0 for b in _ancestors(m, base)):
            raise ValueError(f"cbf_workspace needs a fixed-base arm; body '{spec.base_body}' "
                             f"of robot '{spec.name}' is missing or not fixed to the world")
        names = [m.site(i).name for i in range(m.nsite)]
        self.site_ids = []
        for s in cfg.sites:
            sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, s)
            if sid < 0:
                raise ValueError(f"cbf_workspace: site '{s}' not found in {spec.mjcf.name}; "
                                 f"available sites: {', '.join(names)}")
            if base not in _ancestors(m, int(m.site_bodyid[sid])):
                raise ValueError(f"cbf_workspace: site '{s}' is not on robot '{spec.name}' "
                                 f"(not under body '{spec.base_body}')")
            self.site_ids.append(sid)
        ee = spec.ee_site or cfg.sites[0]
        ee_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, ee)
        if ee_id < 0:
            raise ValueError(f"cbf_workspace: end-effector site '{ee}' not in {spec.mjcf.name}")
        chain = _ancestors(m, int(m.site_bodyid[ee_id]))
        jids = [m.joint(j).id for j in spec.joint_names]
        self.arm = np.array([i for i, j in enumerate(jids) if m.jnt_bodyid[j] in chain])
        if self.arm.size == 0:
            raise ValueError(f"cbf_workspace: no joint of '{spec.name}' moves site '{ee}'")
        self.qadr = np.array([m.jnt_qposadr[j] for j in jids])
        self.dofs = np.array([m.jnt_dofadr[jids[i]] for i in self.arm])
        self.q_min, self.q_max = spec.q_min[self.arm], spec.q_max[self.arm]
        self.step = spec.dq_max[self.arm] * control_dt
        # barrier data: box faces (signs, offsets with the table merged into z_min), spheres
        lo = np.array(cfg.box_min, float)
        lo[2] = max(lo[2], cfg.table_z + cfg.table_margin)
        hi = np.array(cfg.box_max, float)
        self._box_off = np.array([-lo[0], hi[0], -lo[1], hi[1], -lo[2], hi[2]])
        sph = np.array(cfg.spheres, float).reshape(-1, 4)
        self._c, self._r2 = sph[:, :3], sph[:, 3] ** 2
        self.rows = 6 + len(sph)  # constraints per site
        self.labels = [f"site '{s}' {k}" for s in cfg.sites
                       for k in (*_BOX_NAMES, *(f"sphere {i}" for i in range(len(sph))))]
        mujoco.mj_kinematics(m, self.data)  # base pose: constant (fixed base)
        self._p0 = self.data.xpos[base].copy()
        self._r0t = self.data.xmat[base].reshape(3, 3).T.copy()
        n, mc = self.arm.size, self.rows * len(self.site_ids)
        self.n, self.mc, nc = n, mc, 2 * mc
        self._jac, self._bias = np.zeros((3, m.nv)), np.zeros(m.nv)
        self.tau_g = np.zeros(n)  # gravity torque on the arm joints at q [N m]
        # rows [0, mc): CBF at the measured q; [mc, 2 mc): target rows at the last target
        self.G = np.zeros((nc, n))  # grad h_i J [m/rad or m^2/rad]
        self.h = np.zeros(nc)  # barrier values [m or m^2]
        self.lc = np.zeros(nc)  # lower bounds of G u
        self._l = np.zeros(nc + n)
        self._u = np.r_[np.full(nc, np.inf), np.zeros(n)]
        self._ax = np.ones((n, nc + 1))  # CSC values of A = [G; I], column by column
        indices = np.tile(np.arange(nc + 1), (n, 1))
        indices[:, nc] = nc + np.arange(n)
        a = sparse.csc_matrix((self._ax.ravel().copy(), indices.ravel(),
                               np.arange(0, n * (nc + 1) + 1, nc + 1)), shape=(nc + n, n))
        self._qp = osqp.OSQP()
        self._qp.setup(sparse.identity(n, format="csc"), np.zeros(n), a,
                       np.r_[np.full(nc, -1.0), -np.ones(n)], np.r_[np.full(nc, np.inf),
                                                                    np.ones(n)],
                       eps_abs=1e-7, eps_rel=1e-7, polish=True, warm_starting=True,
                       max_iter=4000, verbose=False)

    def linearise(self, q: np.ndarray, r0: int = 0) -> None:
        """Barriers at joints ``q`` (n_joints,) [rad] into rows ``r0 ..`` of ``self.G``
        (·, n) and ``self.h``; with r0 = 0 also the gravity torque ``self.tau_g`` (n,)."""
        m, d = self.model, self.data
        d.qpos[self.qadr] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        for k, sid in enumerate(self.site_ids):
            mujoco.mj_jacSite(m, d, self._jac, None, sid)
            p = self._r0t @ (d.site_xpos[sid] - self._p0)
            jac = self._r0t @ self._jac[:, self.dofs]
            r = r0 + k * self.rows
            self.G[r:r + 6] = _BOX_SIGN @ jac
            self.h[r:r + 6] = _BOX_SIGN @ p + self._box_off
            if self.rows > 6:
                diff = p - self._c
                self.G[r + 6:r + self.rows] = 2.0 * diff @ jac
                self.h[r + 6:r + self.rows] = (diff * diff).sum(axis=1) - self._r2
        if r0 == 0 and self.cfg.predict_sag:
            mujoco.mj_rne(m, d, 0, self._bias)  # qvel = 0: gravity torque only
            self.tau_g[:] = self._bias[self.dofs]

    def constraints(self, cmd: JointCommand, ctx: TickContext) -> tuple[np.ndarray, np.ndarray]:
        """Fill ``G`` (2 mc, n), ``h`` and ``lc`` (G u >= lc) for this tick; return the target
        bounds (lb, ub), each (n,) [rad]. Needs a finite measured ``ctx.state.q``."""
        q, arm, mc = ctx.state.q, self.arm, self.mc
        self.linearise(q)
        qa = q[arm]
        off = np.zeros(self.n)  # settled PD position for target u: u + off
        if self.cfg.predict_sag:
            kp = cmd.kp[arm]
            np.divide(cmd.tau_ff[arm] - self.tau_g, kp, out=off, where=kp > 0)
        last = ctx.last_safe
        center = (last.q_target[arm] if last is not None and last.kp.any()
                  and last.q_target.shape == q.shape else qa)
        qc = q.copy()
        qc[arm] = center + off
        self.linearise(qc, mc)
        g, h = self.G, self.h
        self.lc[:mc] = g[:mc] @ (qa - off) - np.minimum(self.cfg.gamma * h[:mc], h[:mc])
        self.lc[mc:] = g[mc:] @ center - h[mc:]
        return (np.maximum(self.q_min, center - self.step),
                np.minimum(self.q_max, center + self.step))

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        q, arm, nc = ctx.state.q, self.arm, 2 * self.mc
        if q.shape != (self.spec.n_joints,) or not np.isfinite(q.sum()):
            ctx.request(self.name, "measured joint positions are missing or non-finite",
                        Mode.HOLD)
            return
        lb, ub = self.constraints(cmd, ctx)
        u_ref = cmd.q_target[arm]
        if (self.G @ u_ref >= self.lc).all() and (u_ref >= lb).all() and (u_ref <= ub).all():
            return  # already safe: untouched
        if not np.isfinite(u_ref.sum()) or (lb > ub).any():
            ctx.request(self.name, "workspace CBF: non-finite target or no target within the "
                        "joint and rate limits", Mode.HOLD)
            return
        self._l[:nc], self._l[nc:] = self.lc, lb
        self._u[nc:] = ub
        self._ax[:, :nc] = self.G.T
        self._qp.update(q=-u_ref, l=self._l, u=self._u, Ax=self._ax.ravel())
        res = self._qp.solve(raise_error=False)
        status = res.info.status_val
        x = np.clip(res.x, lb, ub) if status in _SOLVED else None
        if x is None or not (self.G @ x >= self.lc - 1e-6).all():
            ctx.request(self.name, self._failure(status, res.info.status), Mode.HOLD)
            return
        if np.abs(x - u_ref).max() > 1e-9:
            cmd.q_target[arm] = x
            ctx.record(self.name, "target projected by the workspace CBF")

    def _failure(self, status: int, text: str) -> str:
        """HOLD reason: the worst barrier and the solver status."""
        i = int(np.argmin(self.h[:self.mc]))
        where = (f"{self.labels[i]} violated (h = {self.h[i]:.4g})" if self.h[i] < 0
                 else f"closest: {self.labels[i]} (h = {self.h[i]:.4g})")
        kind = "infeasible" if status in _INFEASIBLE else f"not solved ({text})"
        return (f"workspace CBF QP {kind}: no target within the joint/rate limits keeps the "
                f"sites in the workspace; {where}")


def register(stages: dict[str, tuple[type[Stage], type[Any]]]) -> None:
    """Add ``cbf_workspace`` to a stage registry (e.g. `robot_rl.safety.stages.STAGES`)."""
    stages[WorkspaceCBF.name] = (WorkspaceCBF, WorkspaceCBFConfig)


__all__ = ["WorkspaceCBF", "WorkspaceCBFConfig", "register"]
