"""The safety chain's limit stages in training: a policy learns inside the limits that will
hold its commands on the robot.

On the robot, every policy command passes the chain's ``joint_limits``, ``rate_limit`` and
``torque_limit`` stages (`SafetyConfig.ORDERED`), ticked once per policy period on the state
measured then (`robot_rl.safety.robot_config.make_supervisor`): the target is kept inside the
joint range less a margin, within ``dq_max x scale x policy_dt`` of the last safe target, and
where the PD torque it asks for at the measured state stays within ``tau_max x scale``. A policy
trained without them learns targets the robot never gets (the quad12 H-infinity gait asked
for targets beyond the joint limits ~480 times in 20 s, and walked half as fast through the
chain as in its env).

`CommandLimits` runs those same stage objects (`robot_rl.safety.stages`, built from the same
YAML entries by `robot_rl.safety.chain.build_stage`) over a batch of K commands at once, the
training envs' (`robot_rl.envs.batch.StepBatch`): there is no second implementation of a
limit. `limit_entries` lists the stages a robot config applies, with every option filled in;
the training run records the list, the exporter writes it into the bundle's control contract
(``limits``), and the deployment refuses a bundle whose list differs from its robot config's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from robot_rl.config import from_dict
from robot_rl.robots.spec import RobotSpec
from robot_rl.safety.chain import SafetyConfig, build_stage
from robot_rl.safety.core import TickContext
from robot_rl.safety.stages import STAGES
from robot_rl.types import JointCommand, RobotState

LIMIT_STAGES = SafetyConfig.ORDERED  # joint_limits, rate_limit, torque_limit: in this order


def limit_entries(safety: SafetyConfig, source: str = "safety") -> list[dict[str, Any]]:
    """The limit stages of a chain config, in chain order, as ``{type, ...every option}``
    (defaults filled in, so two configs that limit alike give equal lists)."""
    out = []
    for i, entry in enumerate(safety.stages):
        kind = entry.get("type")
        if kind not in LIMIT_STAGES:
            continue
        _, cfg_cls = STAGES[kind]
        options = {k: v for k, v in entry.items() if k != "type"}
        cfg = from_dict(cfg_cls, options, f"{source}: safety.stages[{i}] ({kind})")
        out.append({"type": kind, **{k: float(v) for k, v in dataclasses.asdict(cfg).items()}})
    return out


class CommandLimits:
    """The limit stages of ``entries`` (as `limit_entries` returns) for ``spec``, ticked every
    ``dt`` seconds (the policy period), over K commands at once.

    `apply` takes the K decoded position targets, the measured joint positions and velocities
    and the previous step's limited targets (the chain's ``last_safe``), and limits the
    targets in place, with the robot's nominal gains (those the command carries on the robot;
    the simulated motors may be randomised around them).
    """

    def __init__(self, spec: RobotSpec, entries: list[dict[str, Any]], dt: float,
                 source: str = "limits") -> None:
        self.spec, self.dt = spec, dt
        kinds = [e.get("type") for e in entries]
        unknown = [k for k in kinds if k not in LIMIT_STAGES]
        if unknown:
            raise ValueError(f"{source}: {unknown} are not limit stages ({LIMIT_STAGES})")
        self.stages = [build_stage(e, spec, dt, f"{source}[{i}] ({e['type']})")
                       for i, e in enumerate(entries)]
        self._k = -1

    def _command(self, k: int) -> JointCommand:
        """K commands with the robot's nominal gains and no feed-forward."""
        spec, n = self.spec, self.spec.n_joints
        return JointCommand(spec.joint_names, np.zeros((k, n)), np.zeros((k, n)),
                            np.tile(spec.kp, (k, 1)), np.tile(spec.kd, (k, 1)), np.zeros((k, n)))

    def _alloc(self, k: int) -> None:
        self._cmd, self._last = self._command(k), self._command(k)
        self._before = np.zeros((k, self.spec.n_joints))
        self._k = k

    def apply(self, q_target: np.ndarray, q: np.ndarray, dq: np.ndarray,
              last_target: np.ndarray) -> np.ndarray:
        """Limit ``q_target`` (K, n) in place; returns (K,) float: how far the stages moved
        each command (the sum of squared target changes [rad^2]; > 0: moved). ``q``, ``dq``:
        the measured state (K, n); ``last_target``: the previous limited targets (K, n)."""
        k = q_target.shape[0]
        if k != self._k:
            self._alloc(k)
        cmd, last = self._cmd, self._last
        np.copyto(cmd.q_target, q_target)
        cmd.dq_target.fill(0.0)
        np.copyto(self._before, q_target)
        np.copyto(last.q_target, last_target)
        state = RobotState(t=0.0, q=q, dq=dq)
        ctx = TickContext(self.spec, state, 0.0, 0.0, 0.0, self.dt, last)
        for stage in self.stages:
            stage(cmd, ctx)
        np.copyto(q_target, cmd.q_target)
        np.subtract(cmd.q_target, self._before, out=self._before)
        moved: np.ndarray = np.einsum("ij,ij->i", self._before, self._before)
        return moved


__all__ = ["LIMIT_STAGES", "CommandLimits", "limit_entries"]
