"""Safety chain core: modes, events, the per-tick context and the `Stage` base class.

A stage is a small object with ``reset(state)`` and ``__call__(cmd, ctx)``. It may change the
proposed command in place (clip, ramp, project) and record an event, or escalate the mode
(hold, damping, stop). Stages never allocate per tick unless they intervene.

Modes, in escalating order; the chain's output in each:
    ACTIVE   the (filtered) command goes to the motors;
    HOLD     the robot's fallback (`robot_rl.safety.fallback`): hold the last safe position
             target with the normal gains (``hold``), or stand on all feet (``stand``);
    DAMPING  kp = 0, kd = the robot's damping gains, no feed-forward (falls, stale state);
             where every stage asking for it allows (`Stage.controlled_stop`), the
             fallback's controlled stop first (``stand``: sit down, then damp);
    STOP     like DAMPING, latched until an explicit reset (e-stop, tracking fault).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, NamedTuple

import numpy as np

from robot_rl.robots.spec import RobotSpec
from robot_rl.types import JointCommand, RobotState


class Mode(IntEnum):
    ACTIVE = 0
    HOLD = 1
    DAMPING = 2
    STOP = 3


class SafetyEvent(NamedTuple):
    """One intervention: which stage, why, and the mode it asked for (ACTIVE = only clipped).
    Immutable; a NamedTuple because one is made per intervention inside the control tick."""

    t: float
    stage: str
    reason: str
    mode: Mode


@dataclass(slots=True)
class TickContext:
    """What a stage sees in one tick.

    Attributes:
        spec: the robot. state: the latest measured state. t: now [s] (robot clock).
        state_t: when ``state`` was measured [s]. command_t: when the proposed command was
            produced [s] (None: no command received yet). dt: control period [s].
        last_safe: the previous tick's output command (None on the first tick).
        mode: the mode requested so far this tick (stages escalate it with `request`).
        last_mode: the chain's mode on the previous tick.
        motors_on: whether the motors apply the chain's commands (False while the hardware
            bridge is passive, before its activation: nothing to judge tracking by).
        events: interventions recorded this tick (made from ``raw_events``, the
            (stage, reason, mode) tuples the stages record: cheaper inside the tick).
        q_lo, q_hi: position bounds the target must respect (set by the joint-limit stage;
            None = the spec's limits). r_lo, r_hi: this tick's rate-limit box (None = none).
            Later stages (torque limit, CBF) keep their corrections inside these boxes
            whenever that is feasible.
    """

    spec: RobotSpec
    state: RobotState
    t: float
    state_t: float
    command_t: float | None
    dt: float
    last_safe: JointCommand | None
    mode: Mode = Mode.ACTIVE
    raw_events: list[tuple[str, str, Mode]] = field(default_factory=list)
    last_mode: Mode = Mode.HOLD
    motors_on: bool = True
    q_lo: np.ndarray | None = None
    q_hi: np.ndarray | None = None
    r_lo: np.ndarray | None = None
    r_hi: np.ndarray | None = None


    @property
    def events(self) -> list[SafetyEvent]:
        return [SafetyEvent(self.t, *ev) for ev in self.raw_events]

    def record(self, stage: str, reason: str, mode: Mode = Mode.ACTIVE) -> None:
        self.raw_events.append((stage, reason, mode))
        if mode > self.mode:  # noqa: PLR1730  (max() costs a call in the tick)
            self.mode = mode

    def request(self, stage: str, reason: str, mode: Mode) -> None:
        """Escalate to ``mode`` (never de-escalates within a tick)."""
        self.record(stage, reason, mode)


# -- per-joint helpers of the stages (numpy, one vector per call; no Python loop over joints) --
def any_true(mask: np.ndarray) -> bool:
    """``mask.any()`` for the short vectors of a tick: np.count_nonzero skips the reduction
    machinery that makes ndarray.any() cost several ufunc calls on 6-12 values. Any non-zero
    value counts (NaN too)."""
    return int(np.count_nonzero(mask)) > 0


def all_finite(*arrays: np.ndarray) -> bool:
    """Every value of every array is finite (no NaN, no ±inf; 1e308 is finite). Values that
    are not numbers at all (None, text) are not finite."""
    try:  # (one flat array: one isfinite call for all of them)
        finite = np.isfinite(np.concatenate(arrays, axis=None))
    except (TypeError, ValueError):
        return False
    return int(np.count_nonzero(finite)) == finite.size


def clamp_inplace(x: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> bool:
    """Clamp ``x`` into [lo, hi] in place: values below ``lo`` become ``lo``, values above
    ``hi`` become ``hi``. True if some value moved. A NaN (in ``x`` or a bound) compares
    false both ways: it is left as it is, and does not count as moved."""
    below, above = x < lo, x > hi
    if not (any_true(below) or any_true(above)):
        return False
    np.copyto(x, lo, where=below)
    np.copyto(x, hi, where=above)
    return True


def meet(lo: np.ndarray, hi: np.ndarray, lo2: np.ndarray, hi2: np.ndarray,
         out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The box [lo2, hi2] moved inside [lo, hi], which has priority, per joint: where the two
    overlap, their intersection; where [lo2, hi2] lies wholly below (above) [lo, hi], the
    single point ``lo`` (``hi``), the nearest one. Both ends are [lo2, hi2]'s ends clamped
    into [lo, hi]. Needs lo <= hi and lo2 <= hi2. ``out``: two arrays for the result."""
    a, b = (None, None) if out is None else out
    a = np.minimum(np.maximum(lo2, lo, out=a), hi, out=a)
    b = np.maximum(np.minimum(hi2, hi, out=b), lo, out=b)
    return a, b


class Stage:
    """Base class of safety stages. Subclasses set ``name`` and implement ``__call__``.

    ``latching``: a stage that escalated to DAMPING or STOP keeps asking for it every tick
    until `SafetyChain.reset`.
    """

    name: ClassVar[str] = "stage"
    shaping: ClassVar[bool] = False  # True: edits the command; runs only in ACTIVE mode
    # `SafetyChain.rearm` (activation from passive) resets this stage; False for the STOP
    # latches (e-stop, tracking fault), which only an explicit reset clears
    rearm_clears: ClassVar[bool] = True
    # a DAMPING / STOP this stage asks for may begin with the robot's controlled stop (stiff
    # targets to a resting pose, `robot_rl.safety.fallback`): True only where the fault leaves
    # the measured state trustworthy and a stiff command harmless (the e-stop, a silent
    # policy); False (default): damping at once (a fall, a stale state, a stuck motor)
    controlled_stop: ClassVar[bool] = False

    def __init__(self, spec: RobotSpec, cfg: Any, control_dt: float) -> None:
        self.spec, self.cfg, self.control_dt = spec, cfg, control_dt

    def reset(self, state: RobotState | None) -> None:
        """Forget history (called at start, after a reset, and when re-activating)."""

    @property
    def latched(self) -> bool:
        """Whether this stage holds a latched fault (it keeps escalating until a reset)."""
        return False

    def __call__(self, cmd: JointCommand, ctx: TickContext) -> None:
        raise NotImplementedError
