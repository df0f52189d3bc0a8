"""`SafetySupervisor`: the safety chain with its command mux and e-stop latch (what
`safety_node` wraps, and the safety half of `DeployLoop`).

Sources: the policy's command and, while an operator intervenes, the teleop command (the mux
picks teleop while ``intervention`` is on, else the policy). Each tick runs `SafetyChain.step`
on the selected command with the latest state; the chain's own watchdogs turn a stale or
missing command into hold, then damping. The e-stop latches (`engage_estop`, from the
``/estop`` topic) until `reset`, which the chain refuses while the robot still moves.

Thread-safe: sources and the e-stop may arrive from other threads than the tick.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from robot_rl.safety.chain import SafetyChain
from robot_rl.safety.core import Mode
from robot_rl.types import JointCommand, RobotState


@dataclass
class _Source:
    command: JointCommand | None = None
    t: float | None = None
    count: int = 0


class SafetySupervisor:
    """Args: chain: the robot's configured safety chain."""

    def __init__(self, chain: SafetyChain) -> None:
        self.chain = chain
        self.spec = chain.spec
        self._lock = threading.Lock()
        self._policy = _Source()
        self._teleop = _Source()
        self.intervention = False
        self.state: RobotState | None = None
        self.state_t: float | None = None
        self.ticks = 0
        self.resets = 0
        self.last_output: JointCommand | None = None

    # -- inputs ------------------------------------------------------------------------------
    def submit_policy(self, cmd: JointCommand, t: float) -> None:
        with self._lock:
            self._policy = _Source(cmd, t, self._policy.count + 1)

    def submit_teleop(self, cmd: JointCommand, t: float) -> None:
        with self._lock:
            self._teleop = _Source(cmd, t, self._teleop.count + 1)

    def set_intervention(self, on: bool) -> None:
        with self._lock:
            self.intervention = bool(on)

    def update_state(self, state: RobotState, t: float | None = None) -> None:
        with self._lock:
            self.state, self.state_t = state, state.t if t is None else t

    def engage_estop(self, reason: str = "e-stop engaged") -> None:
        with self._lock:
            self.chain.engage_estop(reason)

    def reset(self) -> tuple[bool, str]:
        """Release the e-stop and latched faults: (ok, message)."""
        with self._lock:
            if self.state is None:
                return False, "reset refused: no joint state received yet"
            try:
                self.chain.reset(self.state)
            except ValueError as e:
                return False, str(e)
            self.resets += 1
            return True, "reset: e-stop released, faults cleared, soft start re-armed"

    def set_motors_on(self, on: bool) -> None:
        """Whether the motors apply the chain's commands (the bridge active) or not (passive,
        before its activation, after its deactivation): stages that judge how the robot
        follows its commands (the tracking guard) only judge while they do."""
        with self._lock:
            self.chain.motors_on = bool(on)

    def rearm(self) -> list[str]:
        """The bridge activates the robot from passive (`SafetyChain.rearm`): the latches
        cleared (none before a state has arrived)."""
        with self._lock:
            self.chain.motors_on = True
            return [] if self.state is None else self.chain.rearm(self.state)

    # -- the tick ----------------------------------------------------------------------------
    def tick(self, t: float) -> JointCommand | None:
        """One chain tick at time ``t`` with the latest state and the selected command;
        None until a state has arrived (nothing can be judged safe without one)."""
        with self._lock:
            if self.state is None:
                return None
            src = self._teleop if self.intervention else self._policy
            out = self.chain.step(src.command, self.state, t, state_t=self.state_t,
                                  command_t=src.t)
            self.ticks += 1
            self.last_output = out
            return out

    @property
    def policy_t(self) -> float | None:
        """When the latest policy command was submitted (None: none yet)."""
        return self._policy.t

    @property
    def mode(self) -> Mode:
        return self.chain.mode

    def diagnostics(self) -> dict[str, Any]:
        """Mode, source, counts and interventions per stage (for /diagnostics and reports)."""
        with self._lock:
            s = self.chain.summary()
            s.update(source="teleop" if self.intervention else "policy",
                     policy_commands=self._policy.count, teleop_commands=self._teleop.count,
                     resets=self.resets,
                     estop=bool(self.chain.estop is not None and self.chain.estop.engaged))
            return s


__all__ = ["SafetySupervisor"]
