"""The one observation builder: `RobotState` → flat float32 observation vector.

Training envs, sim-to-sim evaluation and the robot's deploy loop all call `ObsBuilder.build`;
observations are never assembled anywhere else. The term list (names, dims, scales) is
written into every policy bundle's metadata, so the runtime can check it matches.

A term is named ``name`` or ``name:arg`` (e.g. ``object_pos:cube``). Each term's value is
multiplied by its scale; in training, Gaussian noise of the configured std (in the term's
unscaled units) is added before scaling; the result is clipped to ``[-clip, clip]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.geometry import projected_gravity
from robot_rl.robots.spec import RobotSpec
from robot_rl.types import RobotState


class ObsError(RobotRLError, ValueError):
    """The observation cannot be built from this state / configuration."""


@dataclass
class ObsConfig:
    """Observation configuration (YAML section ``obs``).

    Attributes:
        terms: ordered term names (see ``OBS_TERMS``), ``name`` or ``name:arg``.
        scales: term name → multiplier (default 1).
        noise: term name → Gaussian noise std in the term's own units, training only.
        clip: symmetric clip of the final vector.
    """

    terms: tuple[str, ...] = ()
    scales: dict[str, float] = field(default_factory=dict)
    noise: dict[str, float] = field(default_factory=dict)
    clip: float = 100.0

    def validate(self) -> None:
        if not self.terms:
            raise ValueError("obs.terms is empty: list at least one term of "
                             f"{', '.join(sorted(OBS_TERMS))}")
        names = set()
        for term in self.terms:
            base = term.split(":", 1)[0]
            if base not in OBS_TERMS:
                raise ValueError(f"obs.terms: unknown term '{term}'; known terms: "
                                 f"{', '.join(sorted(OBS_TERMS))}")
            names.add(term)
        for key in (*self.scales, *self.noise):
            if key not in names:
                raise ValueError(f"obs scale/noise for '{key}', which is not in obs.terms")
        if self.clip <= 0:
            raise ValueError(f"obs.clip must be > 0, got {self.clip}")
        if any(v < 0 for v in self.noise.values()):
            raise ValueError("obs.noise values must be >= 0")


@dataclass(frozen=True)
class _Ctx:
    spec: RobotSpec
    last_action: np.ndarray
    last_target: np.ndarray | None  # the policy's previous joint targets (before the chain)


TermFn = Callable[[RobotState, _Ctx, str], np.ndarray]
DimFn = Callable[[RobotSpec, int, str], int]


def _need(value: np.ndarray | None, term: str, what: str) -> np.ndarray:
    if value is None:
        raise ObsError(f"observation term '{term}' needs {what}, which this RobotState "
                       "does not have; drop the term from obs.terms or provide it")
    return value


def _object(st: RobotState, name: str) -> np.ndarray:
    try:
        return st.objects[name]
    except KeyError:
        raise ObsError(f"observation needs the pose of object '{name}', but the state only "
                       f"tracks {sorted(st.objects) or 'no objects'}") from None


def _command(st: RobotState, n: int, term: str) -> np.ndarray:
    if st.command.shape[-1] < n:
        raise ObsError(f"observation term '{term}' needs a command of {n} values, got "
                       f"{st.command.shape[-1]}")
    return st.command[..., :n]


# name → (dim(spec, action_dim, arg), value(state, ctx, arg))
OBS_TERMS: dict[str, tuple[DimFn, TermFn]] = {
    "base_lin_vel": (lambda s, a, g: 3,
                     lambda st, c, g: _need(st.base_lin_vel, "base_lin_vel",
                                            "a base linear velocity estimate")),
    "base_ang_vel": (lambda s, a, g: 3, lambda st, c, g: st.imu_gyro),
    "projected_gravity": (lambda s, a, g: 3, lambda st, c, g: projected_gravity(st.imu_quat)),
    "velocity_command": (lambda s, a, g: 3,
                         lambda st, c, g: _command(st, 3, "velocity_command")),
    "joint_pos": (lambda s, a, g: s.n_joints, lambda st, c, g: st.q - c.spec.q0),
    "joint_vel": (lambda s, a, g: s.n_joints, lambda st, c, g: st.dq),
    "last_action": (lambda s, a, g: a, lambda st, c, g: c.last_action),
    # the target a joint_pos_delta action moves (the decoder's previous one), from q0
    "joint_target": (lambda s, a, g: s.n_joints,
                     lambda st, c, g: _need(c.last_target, "joint_target",
                                            "the policy's previous joint targets") - c.spec.q0),
    "foot_contacts": (lambda s, a, g: len(s.feet),
                      lambda st, c, g: _need(st.contacts, "foot_contacts",
                                             "foot contact flags").astype(np.float64)),
    "ee_pos": (lambda s, a, g: 3, lambda st, c, g: _need(st.ee_pos, "ee_pos",
                                                         "an end-effector position")),
    "goal_pos": (lambda s, a, g: 3, lambda st, c, g: _command(st, 3, "goal_pos")),
    "goal_rel": (lambda s, a, g: 3,
                 lambda st, c, g: _command(st, 3, "goal_rel")
                 - _need(st.ee_pos, "goal_rel", "an end-effector position")),
    "object_pos": (lambda s, a, g: 3, lambda st, c, g: _object(st, g)[..., :3]),
    "object_quat": (lambda s, a, g: 4, lambda st, c, g: _object(st, g)[..., 3:7]),
    "object_rel": (lambda s, a, g: 3,
                   lambda st, c, g: _object(st, g)[..., :3]
                   - _need(st.ee_pos, "object_rel", "an end-effector position")),
}


class ObsBuilder:
    """Builds the flat observation of one robot from `RobotState`.

    Args:
        spec: the robot (joint count, default pose q0, feet).
        cfg: the term list, scales, noise and clip.
        action_dim: policy action size (for ``last_action``); default = joint count.
    """

    def __init__(self, spec: RobotSpec, cfg: ObsConfig, action_dim: int | None = None) -> None:
        cfg.validate()
        self.robot_spec, self.cfg = spec, cfg
        self.action_dim = spec.n_joints if action_dim is None else action_dim
        self._terms: list[tuple[str, str, TermFn, slice, float, float]] = []
        start = 0
        for term in cfg.terms:
            base, _, arg = term.partition(":")
            dim_fn, fn = OBS_TERMS[base]
            dim = dim_fn(spec, self.action_dim, arg)
            self._terms.append((term, arg, fn, slice(start, start + dim),
                                cfg.scales.get(term, 1.0), cfg.noise.get(term, 0.0)))
            start += dim
        self.dim = start
        self._zero_action = np.zeros(self.action_dim)
        # per-element scale and noise std, so scaling/noise are one vector op each
        self._scale = np.ones(self.dim, dtype=np.float32)
        self._noise = np.zeros(self.dim, dtype=np.float32)
        for _, _, _, sl, scale, noise in self._terms:
            self._scale[sl] = scale
            self._noise[sl] = noise
        self._has_noise = bool(self._noise.any())
        self._fns = [(term, arg, fn, sl, sl.stop - sl.start)
                     for term, arg, fn, sl, _, _ in self._terms]

    def layout(self) -> list[dict[str, object]]:
        """Term names, dims, scales and noise in order (written into bundle metadata)."""
        return [{"name": t, "dim": s.stop - s.start, "scale": sc, "noise": nz}
                for t, _, _, s, sc, nz in self._terms]

    def build(self, state: RobotState, last_action: np.ndarray | None = None,
              rng: np.random.Generator | None = None,
              out: np.ndarray | None = None,
              last_target: np.ndarray | None = None) -> np.ndarray:
        """Observation, float32, shape (dim,). ``rng`` adds the configured training noise;
        ``last_target``: the previous joint targets (for ``joint_target``)."""
        if out is None:
            out = np.empty(self.dim, dtype=np.float32)
        self._fill(state, self._zero_action if last_action is None else last_action, out,
                   last_target)
        if rng is not None and self._has_noise:
            out += rng.standard_normal(self.dim, dtype=np.float32) * self._noise
        return self._finish(out)

    def build_batch(self, states: RobotState, last_actions: np.ndarray,
                    rngs: list[np.random.Generator] | None = None,
                    last_targets: np.ndarray | None = None) -> np.ndarray:
        """Observations of K robots at once, float32 (K, dim): ``states`` is one `RobotState`
        whose arrays hold K rows (q (K, n), imu_quat (K, 4), command (K, c), ...),
        ``last_actions`` (K, action_dim), ``rngs`` one generator per robot (noise),
        ``last_targets`` (K, n) the previous joint targets. Row k
        equals ``build`` of robot k's own state, bit for bit: the same terms, and each
        robot's noise is drawn from its own generator."""
        k = last_actions.shape[0]
        out = np.empty((k, self.dim), dtype=np.float32)
        self._fill(states, last_actions, out, last_targets)
        if rngs is not None and self._has_noise:
            for i, rng in enumerate(rngs):
                out[i] += rng.standard_normal(self.dim, dtype=np.float32) * self._noise
        return self._finish(out)

    def _fill(self, state: RobotState, last_action: np.ndarray, out: np.ndarray,
              last_target: np.ndarray | None) -> None:
        ctx = _Ctx(self.robot_spec, last_action, last_target)
        for term, arg, fn, sl, dim in self._fns:
            value = fn(state, ctx, arg)
            if value.shape[-1] != dim:
                raise ObsError(f"observation term '{term}' has {value.shape[-1]} values, "
                               f"expected {dim}")
            out[..., sl] = value

    def _finish(self, out: np.ndarray) -> np.ndarray:
        out *= self._scale
        clip = self.cfg.clip
        np.minimum(out, clip, out=out)
        return np.maximum(out, -clip, out=out)

