"""Re-simulating a log: the fitting model with identified parameters applied
(`RolloutModel`), the log's segments (`segments`), and the position error of a parameter set
over them (`rollout_rms`): how the identified model is measured against the nominal one."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import mujoco
import numpy as np

from robot_rl.control.pd import pd_torque
from robot_rl.robots import get_robot
from robot_rl.robots.mjstate import MjRobot
from sim2real.experiment import moving_bodies, robot_model
from sim2real.log import SKIP_S, SysIdError, SysIdLog
from sim2real.params import SysIdParams


class RolloutModel:
    """The fitting model: the robot's nominal model on its stand (``nominal``, the physics
    the fit assumes) and a copy with `SysIdParams` applied (``model``), which re-simulates
    logged segments under the logged commands."""

    def __init__(self, robot: str, fixed_base: bool = True, timestep: float = 0.001,
                 integrator: str = "implicitfast") -> None:
        self.spec = get_robot(robot)
        self.nominal = robot_model(robot, fixed_base)
        self.nominal.opt.timestep = timestep
        self.nominal.opt.integrator = getattr(mujoco.mjtIntegrator,
                                              f"mjINT_{integrator.upper()}")
        self.model = copy.copy(self.nominal)
        self.data = mujoco.MjData(self.model)
        self.idx = MjRobot(self.spec, self.model, self.data)
        self.moving = moving_bodies(self.model, self.spec)
        self.dt = timestep

    def apply(self, p: SysIdParams) -> None:
        """Give ``model`` the parameters ``p`` (relative to ``nominal``; an empty list keeps
        the nominal values)."""
        m, n = self.model, self.nominal
        b = self.moving
        scale = (np.asarray(p.body_mass_scale) if p.body_mass_scale
                 else np.full(len(b), p.mass_scale))
        m.body_mass[b] = n.body_mass[b] * scale
        m.body_inertia[b] = n.body_inertia[b] * scale[:, None]
        m.body_ipos[b] = n.body_ipos[b] + (np.asarray(p.body_com_shift) if p.body_com_shift
                                           else 0.0)
        m.dof_armature[:] = n.dof_armature * p.armature_scale
        m.dof_damping[:] = n.dof_damping
        m.dof_frictionloss[:] = n.dof_frictionloss
        adr = self.idx.dof_adr
        if p.joint_damping:
            m.dof_damping[adr] = np.maximum(p.joint_damping, 0.0)
        if p.joint_friction:
            m.dof_frictionloss[adr] = np.maximum(p.joint_friction, 0.0)
        gear = n.actuator_gear[:, 0].copy()
        if p.motor_strength:
            gear[self.idx.act_ids] *= np.asarray(p.motor_strength)
        m.actuator_gear[:, 0] = gear

    def simulate(self, log: SysIdLog, start: int, n_ticks: int, latency: int,
                 q0: np.ndarray, dq0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions and velocities at ticks ``start+1 .. start+n_ticks`` simulated from
        the state ``q0``, ``dq0`` at ``start`` under the logged commands: (n_ticks, n)."""
        m, d, r = self.model, self.data, self.idx
        mujoco.mj_resetData(m, d)
        r.q[:] = q0
        r.dq[:] = dq0
        mujoco.mj_forward(m, d)
        sub = max(1, round(log.control_dt / self.dt))
        tau_max = self.spec.tau_max
        queue = [np.zeros(self.spec.n_joints) for _ in range(latency)]
        qs = np.empty((n_ticks, self.spec.n_joints))
        dqs = np.empty_like(qs)
        for k in range(n_ticks):
            i = start + k
            qt, dqt, ff = log.q_target[i], log.dq_target[i], log.tau_ff[i]
            kp, kd = log.kp[i], log.kd[i]
            for _ in range(sub):
                # the motors' PD law (the envs' and the sim robot's) with the tick's logged
                # command and gains, at every physics step; a fresh array: safe to queue
                tau = pd_torque(qt, r.q, r.dq, kp, kd, dqt, ff, tau_max)
                if queue:
                    queue.append(tau)
                    tau = queue.pop(0)
                r.set_torque(tau)
                mujoco.mj_step(m, d)
            qs[k] = r.q
            dqs[k] = r.dq
        return qs, dqs


def segments(log: SysIdLog, segment_s: float, max_segments: int | None = None,
             skip_s: float = SKIP_S) -> list[tuple[int, int]]:
    """(start, length) of the segments used by the rollouts: consecutive, after the soft
    start, evenly thinned to ``max_segments``."""
    n = max(2, round(segment_s / log.control_dt))
    first = round(skip_s / log.control_dt)
    starts = list(range(first, len(log.t) - n - 1, n))
    if not starts:
        raise SysIdError(f"the log ({log.seconds:.1f} s) is shorter than the soft start plus "
                         f"one {segment_s} s segment")
    if max_segments is not None and len(starts) > max_segments:
        pick = np.linspace(0, len(starts) - 1, max_segments).round().astype(int)
        starts = [starts[i] for i in pick]
    return [(s, n) for s in starts]


def rollout_rms(model: RolloutModel, log: SysIdLog, p: SysIdParams,
                segs: Sequence[tuple[int, int]], q0: np.ndarray, dq0: np.ndarray) -> float:
    """The position error [rad, rms over all segments and joints] of ``model`` with ``p``
    re-simulating the ``segs`` of ``log``, each from its start state in ``q0``, ``dq0``."""
    model.apply(p)
    err = [model.simulate(log, s, n, p.latency_ticks, q0[s], dq0[s])[0]
           - log.q[s + 1:s + 1 + n] for s, n in segs]
    return float(np.sqrt(np.mean(np.concatenate(err) ** 2)))


__all__ = ["RolloutModel", "rollout_rms", "segments"]
