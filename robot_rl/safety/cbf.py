"""`WorkspaceCBF` (``cbf_workspace``): a discrete-time control-barrier-function QP that keeps
sites of a fixed-base arm (the end-effector) inside a box, above the table and out of
keep-out spheres, by minimally moving the arm joints' position targets.

Barriers, per site s with position p (robot base frame [m]):
    box faces   h = p - box_min, box_max - p   [m]  (z_min face: max(box_min_z, table_z + margin))
    spheres     h = ||p - c||^2 - r^2          [m^2]

Each tick, with q the measured arm joints (n,) [rad] and u_ref the proposed targets (n,):

    min_u ||u - u_ref||^2  s.t.
      (cbf)    g_i(q) (u + off - q) >= -min(gamma h_i(q), h_i(q))     g_i = grad h_i(p_s(q)) J_s(q)
      (target) h_i(c + off) + g_i(c + off) (u - c) >= 0
      (box)    lb <= u <= ub: joint limits ∩ predicted PD torque |kp (u - q) + kd (dq_t - dq)
               + tau_ff| <= torque_scale tau_max ∩ rate box c ± dq_max dt, in that precedence
               where disjoint (the joint_limits / rate_limit stages' boxes when they ran)

J_s = 3 x n position Jacobian of site s (mj_jacSite, private MjData); c = the last safe target
(q on the first tick / after damping); off = (tau_ff - tau_g(q)) / kp, the gravity offset of the
command's PD law (``predict_sag``), so the rows hold where the arm settles. From inside, the
target nears a boundary by at most gamma of the margin per tick (discrete CBF linearised at q);
from outside it goes straight back; the target rows (linearised one rate step from u) cover the
linearisation error at q; the torque box keeps the servo unsaturated, where targets predict motion.
An already-safe u_ref passes unchanged (no QP). A row no target in the box satisfies (checked
before the solver), an infeasible QP or a solver failure → HOLD, command
untouched. Arm joints = the joints moving the end-effector body (``spec.ee_site``, else the first
site): on arm6 all but the gripper; sites on the moving jaw use the measured gripper angle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import mujoco
import numpy as np

from robot_rl.control.pd import pd_target_range
from robot_rl.robots.spec import RobotSpec
from robot_rl.safety.core import Mode, Stage, TickContext, meet
from robot_rl.types import JointCommand

_BOX_SIGN = np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
_BOX_NAMES = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
_TOL = 1e-9  # [m, m^2, rad]: violations below this are not corrected


@dataclass
class WorkspaceCBFConfig:
    """YAML ``{type: cbf_workspace, ...}``. Positions in the robot base frame [m].

    Attributes:
        box_min, box_max: workspace box corners (x, y, z) [m], box_min < box_max.
        table_z: table-top height [m]; table_margin: clearance kept above it [m] (≥ 0); cover
            what hangs below the sites (arm6 jaws: up to ~4 cm below "ee").
        spheres: keep-out spheres, each (x, y, z, radius) [m], radius > 0.
        gamma: CBF decay rate per tick, 0 < gamma ≤ 1 (1: may reach the boundary in one tick).
        sites: MJCF sites kept in the safe set (on the robot), e.g. ``[ee]``.
        predict_sag: constrain the settled PD position (target + gravity offset) [default on].
        torque_scale: the torque box uses torque_scale x tau_max (match the torque_limit stage).
    """

    box_min: tuple[float, float, float]
    box_max: tuple[float, float, float]
    table_z: float = 0.0
    table_margin: float = 0.02
    spheres: tuple[tuple[float, float, float, float], ...] = ()
    gamma: float = 0.2
    sites: tuple[str, ...] = ("ee",)
    predict_sag: bool = True
    torque_scale: float = 1.0

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
        if not 0 < self.torque_scale <= 1:
            raise ValueError(f"torque_scale must be in (0, 1], got {self.torque_scale}")
        if not self.sites or len(set(self.sites)) != len(self.sites):
            raise ValueError(f"sites must be a non-empty list of distinct names, got "
                             f"{list(self.sites)}")


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """Consecutive indices as a slice (indexing with it is a view, not a gather), others as
    they are."""
    if idx.size and np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
        return slice(int(idx[0]), int(idx[0]) + idx.size)
    return idx


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
        for s in (*cfg.sites, spec.ee_site or cfg.sites[0]):
            sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, s)
            if sid < 0:
                raise ValueError(f"cbf_workspace: site '{s}' not found in {spec.mjcf.name}; "
                                 f"available sites: {', '.join(names)}")
            if base not in _ancestors(m, int(m.site_bodyid[sid])):
                raise ValueError(f"cbf_workspace: site '{s}' is not on robot '{spec.name}' "
                                 f"(not under body '{spec.base_body}')")
            self.site_ids.append(sid)
        chain = _ancestors(m, int(m.site_bodyid[self.site_ids.pop()]))  # the end-effector's
        jids = [m.joint(j).id for j in spec.joint_names]
        self.arm = np.array([i for i, j in enumerate(jids) if m.jnt_bodyid[j] in chain])
        if self.arm.size == 0:
            raise ValueError(f"cbf_workspace: no joint of robot '{spec.name}' moves its "
                             "end-effector")
        self.qadr = _as_slice(np.array([m.jnt_qposadr[j] for j in jids]))
        self.dofs = _as_slice(np.array([m.jnt_dofadr[jids[i]] for i in self.arm]))
        self.q_min, self.q_max = spec.q_min[self.arm], spec.q_max[self.arm]
        self.step = spec.dq_max[self.arm] * control_dt
        self.tau_max = spec.tau_max[self.arm] * cfg.torque_scale
        lo = np.array(cfg.box_min, float)
        lo[2] = max(lo[2], cfg.table_z + cfg.table_margin)
        hi = np.array(cfg.box_max, float)
        self._box_off = np.array([-lo[0], hi[0], -lo[1], hi[1], -lo[2], hi[2]])
        sph = np.array(cfg.spheres, float).reshape(-1, 4)
        self._c, self._r2 = sph[:, :3], sph[:, 3] ** 2
        self.rows = 6 + len(sph)  # barriers per site
        self.labels = [f"site '{s}' {k}" for s in cfg.sites
                       for k in (*_BOX_NAMES, *(f"sphere {i}" for i in range(len(sph))))]
        mujoco.mj_kinematics(m, self.data)  # base pose: constant (fixed base)
        self._p0 = self.data.xpos[base].copy()
        self._r0t = self.data.xmat[base].reshape(3, 3).T.copy()
        # a world point x in one product: rows 0-5 the box barriers (x_min .. z_max, as
        # _BOX_SIGN orders them), rows 6-8 its position in the base frame r0t (x - p0)
        self._to_base = np.vstack([_BOX_SIGN @ self._r0t, self._r0t])
        self._base_off = np.r_[self._box_off, np.zeros(3)] - self._to_base @ self._p0
        n, mc = self.arm.size, self.rows * len(self.site_ids)
        self.n, self.mc, nc = n, mc, 2 * mc
        self._jac, self._bias = np.zeros((3, m.nv)), np.zeros(m.nv)
        self.tau_g = np.zeros(n)  # gravity torque on the arm joints at q [N m]
        # rows [0, mc): cbf rows at the measured q; [mc, 2 mc): target rows
        self.G = np.zeros((nc, n))  # g_i = grad h_i J [m/rad or m^2/rad]
        self.h = np.zeros(nc)  # barrier values [m or m^2]
        self.lc = np.zeros(nc)  # the constraints read G u >= lc
        self._l = np.zeros(nc + n)
        self._u = np.r_[np.full(nc, np.inf), np.zeros(n)]
        self._ax = np.ones((n, nc + 1))  # CSC values of A = [G; I], column by column
        indices = np.tile(np.arange(nc + 1), (n, 1))
        indices[:, nc] = nc + np.arange(n)
        import osqp  # here, not at import: a robot without the CBF stage never loads
        from scipy import sparse  # osqp + scipy (~60 MB resident)

        self._solved = (osqp.SolverStatus.OSQP_SOLVED, osqp.SolverStatus.OSQP_SOLVED_INACCURATE)
        self._infeasible = (osqp.SolverStatus.OSQP_PRIMAL_INFEASIBLE,
                            osqp.SolverStatus.OSQP_PRIMAL_INFEASIBLE_INACCURATE)
        a = sparse.csc_matrix((self._ax.ravel().copy(), indices.ravel(),
                               np.arange(0, n * (nc + 1) + 1, nc + 1)), shape=(nc + n, n))
        self._qp = osqp.OSQP()
        self._qp.setup(sparse.identity(n, format="csc"), np.zeros(n), a,
                       np.r_[np.full(nc, -1.0), -np.ones(n)], np.r_[self._u[:nc], np.ones(n)],
                       eps_abs=1e-7, eps_rel=1e-7, polishing=True, warm_starting=True,
                       max_iter=4000, verbose=False)

    def linearise(self, q: np.ndarray, r0: int = 0) -> None:
        """Barriers at joints ``q`` (n_joints,) [rad] into rows ``r0 ..`` of ``self.G``
        (2 mc, n) and ``self.h``; with r0 = 0 also the gravity torque ``self.tau_g`` (n,)."""
        m, d = self.model, self.data
        d.qpos[self.qadr] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        for k, sid in enumerate(self.site_ids):
            mujoco.mj_jacSite(m, d, self._jac, None, sid)
            grad = self._to_base @ self._jac[:, self.dofs]  # box rows; base-frame Jacobian
            val = self._to_base @ d.site_xpos[sid] + self._base_off  # box barriers; position
            r = r0 + k * self.rows
            self.G[r:r + 6], self.h[r:r + 6] = grad[:6], val[:6]
            if self.rows > 6:  # spheres: h = |p - c|^2 - radius^2, grad h = 2 (p - c) J
                diff = val[6:] - self._c
                self.G[r + 6:r + self.rows] = 2.0 * diff @ grad[6:]
                self.h[r + 6:r + self.rows] = np.einsum("ij,ij->i", diff, diff) - self._r2
        if r0 == 0 and self.cfg.predict_sag:
            mujoco.mj_rne(m, d, 0, self._bias)  # qvel = 0: gravity torque only
            self.tau_g[:] = self._bias[self.dofs]

    def constraints(self, cmd: JointCommand, ctx: TickContext) -> tuple[np.ndarray, np.ndarray]:
        """Fill ``G`` (2 mc, n), ``h`` and ``lc`` (G u >= lc) for this tick and return the
        bounds (lb, ub), each (n,) [rad]. Needs a finite measured state."""
        st, arm, mc = ctx.state, self.arm, self.mc
        self.linearise(st.q)
        qa, kp = st.q[arm], cmd.kp[arm]
        pos = kp > 0
        off = np.zeros(self.n)  # settled PD position for target u: u + off [rad]
        if self.cfg.predict_sag:
            np.divide(cmd.tau_ff[arm] - self.tau_g, kp, out=off, where=pos)
        last = ctx.last_safe
        center = (last.q_target[arm] if last is not None and last.kp.any()
                  and last.q_target.shape == st.q.shape else qa)
        qc = st.q.copy()
        qc[arm] = center + off
        self.linearise(qc, mc)
        g, h = self.G, self.h
        self.lc[:mc] = g[:mc] @ (qa - off) - np.minimum(self.cfg.gamma * h[:mc], h[:mc])
        self.lc[mc:] = g[mc:] @ center - h[mc:]
        # targets whose PD torque is within ±tau_max (any target on a joint with kp = 0)
        lo_t, hi_t = pd_target_range(-self.tau_max, self.tau_max, qa, st.dq[arm],
                                     np.where(pos, kp, 1.0), cmd.kd[arm], cmd.dq_target[arm],
                                     cmd.tau_ff[arm])
        lo_t[~pos], hi_t[~pos] = -np.inf, np.inf
        # the joint-limit / rate stages' boxes when they ran this tick, else the spec's
        q_lo = self.q_min if ctx.q_lo is None else ctx.q_lo[arm]
        q_hi = self.q_max if ctx.q_hi is None else ctx.q_hi[arm]
        if ctx.r_lo is not None and ctx.r_hi is not None:
            r_lo, r_hi = ctx.r_lo[arm], ctx.r_hi[arm]
        else:
            r_lo, r_hi = center - self.step, center + self.step
        lb, ub = meet(q_lo, q_hi, lo_t, hi_t)
        return meet(lb, ub, r_lo, r_hi)

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        st, arm, nc = ctx.state, self.arm, 2 * self.mc
        n_j = self.spec.n_joints
        if (st.q.shape != (n_j,) or st.dq.shape != (n_j,)
                or not np.isfinite(st.q.sum() + st.dq.sum())):
            ctx.request(self.name, "workspace CBF: measured joint state missing or non-finite",
                        Mode.HOLD)
            return
        lb, ub = self.constraints(cmd, ctx)
        u_ref = cmd.q_target[arm]
        if ((self.G @ u_ref >= self.lc - _TOL).all() and (u_ref >= lb - _TOL).all()
                and (u_ref <= ub + _TOL).all()):
            return  # already safe (to 1e-9): untouched
        if not np.isfinite(u_ref.sum() + self.lc.sum() + lb.sum() + ub.sum()):
            ctx.request(self.name, "workspace CBF: non-finite target or command", Mode.HOLD)
            return
        # exact certificate, no solver needed: a row that no u in the box [lb, ub] satisfies
        # (max over the box of g_i u below lc_i) makes the QP infeasible. It catches the
        # common case, a site outside the workspace farther than one rate step can bring back
        # (all of 13,591 infeasible QPs in 20,000 fuzzed ticks, none of the feasible ones)
        g = self.G
        if (np.where(g > 0.0, g * ub, g * lb).sum(axis=1) < self.lc - _TOL).any():
            ctx.request(self.name, self._failure(self._infeasible[0], "row infeasible"),
                        Mode.HOLD)
            return
        self._l[:nc], self._l[nc:] = self.lc, lb
        self._u[nc:] = ub
        self._ax[:, :nc] = self.G.T
        self._qp.update(q=-u_ref, l=self._l, u=self._u, Ax=self._ax.ravel())
        res = self._qp.solve(raise_error=False)
        status = res.info.status_val
        x = np.clip(res.x, lb, ub) if status in self._solved else None
        if x is None or not (self.G @ x >= self.lc - 1e-6).all():
            ctx.request(self.name, self._failure(status, res.info.status), Mode.HOLD)
            return
        if np.abs(x - u_ref).max() > 1e-9:
            cmd.q_target[arm] = x
            ctx.record(self.name, "target projected by the workspace CBF")

    def _failure(self, status: int, text: str) -> str:
        """HOLD reason: solver outcome and the measured barrier nearest to violation."""
        i = int(np.argmin(self.h[:self.mc]))
        where = (f"{self.labels[i]} violated (h = {self.h[i]:.4g})" if self.h[i] < 0
                 else f"closest: {self.labels[i]} (h = {self.h[i]:.4g})")
        kind = "infeasible" if status in self._infeasible else f"not solved ({text})"
        return (f"workspace CBF QP {kind}: no target within the joint/torque/rate limits keeps "
                f"the sites in the workspace; {where}")


def register(stages: dict[str, tuple[type[Stage], type[Any]]]) -> None:
    """Add ``cbf_workspace`` to a stage registry (e.g. `robot_rl.safety.stages.STAGES`)."""
    stages[WorkspaceCBF.name] = (WorkspaceCBF, WorkspaceCBFConfig)


__all__ = ["WorkspaceCBF", "WorkspaceCBFConfig", "register"]
