"""`StepBatch`: one policy step of K envs of one task, with one numpy call per operation.

Every `RobotEnv.step` runs here: a single env steps as a batch of one (its own), and a
vector-env worker (`robot_rl.envs.vector`) steps all of its envs as one batch. The step
logic therefore exists once, and env k of a batch follows exactly (bit for bit) the
trajectory it would follow alone: every operation is row-wise, and whatever is random is
drawn from env k's own generator, in the same order.

Per step: check and clip the actions → decode them to joint targets → pushes → for each of
the ``decimation`` physics steps one `JointPDController` call for all K robots (the same
controller the robot runs; per-robot gains, motor strength and action latency from each
env's domain randomisation) and one ``mj_step`` per robot → read the states → the task's
derived quantities, reward terms, termination, truncation → observations.

Tasks whose hooks are written for batches (``RobotEnv.batched = True``: quad12-walk) read
the K states into (K, ...) arrays, compute their reward terms for all K at once and build
the observations with `ObsBuilder.build_batch`. Other tasks (the arm tasks, with camera
observations and object poses) keep their per-env hooks, which the batch calls env by env;
the physics and the bookkeeping are shared either way. The per-step work that is not
MuJoCo's own is where Python's cost lies (a policy step of quad12 is 4 ``mj_step`` calls
and ~100 small numpy operations); a batch pays that cost once for K envs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np

from robot_rl.control.actions import clip_action
from robot_rl.control.pd import JointPDController
from robot_rl.robots.mjstate import as_slice
from robot_rl.safety.limits import CommandLimits
from robot_rl.types import RobotState

if TYPE_CHECKING:
    from robot_rl.envs.base import RobotEnv

__all__ = ["StepBatch"]


class StepBatch:
    """K envs of one task class (same config) stepped together.

    Between steps the envs own their state (actions, targets, commands, counters); a step
    gathers what it needs, computes for all K and hands each env its rows back, so an env
    can be reset, inspected or stepped alone at any time. The batch-wide arrays a task's
    batched hooks and reward terms read are attributes of the batch under the env
    attribute names (``command``, ``last_action``, ``_tau``, ... with a leading K axis),
    and ``st`` is the K states as one `RobotState` of (K, ...) arrays.
    """

    def __init__(self, envs: list[RobotEnv]) -> None:
        if not envs:
            raise ValueError("a step batch needs at least one env")
        e0 = envs[0]
        cls = type(e0)
        for i, e in enumerate(envs):
            if type(e) is not cls or (e.cfg is not e0.cfg and e.cfg != e0.cfg):
                raise ValueError(f"env {i} is a {type(e).__name__} with another config than "
                                 f"env 0 ({cls.__name__}); a batch holds one task and config")
        self.envs = envs
        self.k = k = len(envs)
        self.cls = cls
        self.cfg, self.robot_spec, self.dt = e0.cfg, e0.robot_spec, e0.dt
        self.decimation = e0.decimation
        self.batched = cls.batched
        spec = self.robot_spec
        n = spec.n_joints
        self.pd = JointPDController(np.tile(spec.kp, (k, 1)), np.tile(spec.kd, (k, 1)),
                                    np.tile(spec.tau_max, (k, 1)))
        self._tau_limit = 0.999 * spec.tau_max  # "at the torque limit" (smoothness metric)
        # the robot's safety-chain limit stages, ticked once per policy step as on the robot
        entries = list(e0.cfg.safety_limits or ())
        self.limits = CommandLimits(spec, entries, self.dt) if entries else None
        self.strength = np.ones((k, n))
        self.latency = np.zeros(k, dtype=np.int64)
        self._delayed = 0  # the largest latency in the batch [physics steps]
        self._scaled = False  # any motor strength other than 1
        self.gyro_bias = np.zeros((k, 3))
        self._epochs = [-1] * k
        r0 = e0.robot
        self._qs, self._vs, self._cs = r0._q_slice, r0._dq_slice, r0._ctrl_slice
        # per env: model, data and its (whole) qpos / qvel / ctrl buffers
        self._phys = [(e.model, e.data, e.data.qpos, e.data.qvel, e.data.ctrl) for e in envs]
        # per env: views of the MjData fields read after each step
        self._out = [(e.data.sensordata, e.data.actuator_force, e.data.xpos, e.data.qacc)
                     for e in envs]
        self._pre = cls._pre_physics is not _base_hook("_pre_physics")
        self.term_names = [name for name, _, _ in e0._term_fns]
        self.term_fns = e0._term_fns
        # batched tasks: the unweighted terms of a step (n_terms, K) and the weights (n_terms, 1)
        self._values = np.empty((len(self.term_fns), k))
        self._term_weights = np.array([w for _, _, w in self.term_fns]).reshape(-1, 1)
        if self.batched:
            if e0._cameras:
                raise ValueError(f"{cls.__name__}: batched tasks have no camera observations")
            self._sensors = r0._sensors
            self._touch = as_slice(r0.touch_adr_arr)
            self._n_touch = len(r0.touch_adr_arr)
            self._nsens = e0.model.nsensordata
            self._base_id = r0.base_id
            self._floating = spec.floating_base
            self._gyro_bias_on = e0.cfg.domain_rand.gyro_bias > 0
            self._qacc = np.empty((k, e0.model.nv))  # every env's qacc, for the finiteness test
        self.st: RobotState | None = None
        self.action = np.zeros((k, n))
        self.last_action = np.zeros((k, n))
        self.action_target = np.tile(spec.q0, (k, 1))  # the decoded targets (before limits)
        self._tau: np.ndarray = np.zeros((k, n))

    # the task's batch-wide quantities (``batch_compute`` sets them: gravity_b, fell, ...)
    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"StepBatch has no attribute {name!r} (set by the task's "
                             f"batch_compute?)")

    # -- the step ------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray,
                                                 list[dict[str, Any]]]:
        """Step the K envs with ``actions`` (K, n); checked finite by the caller.

        Returns observations ((K, dim) float32 for batched tasks, else a list of K), rewards
        (K,) float64, terminated (K,) bool, truncated (K,) bool and K info dicts (non-empty
        at episode ends). Envs that ended are not reset (the caller does that).
        """
        envs = self.envs
        clip = self.cfg.action_clip
        shape = self.action.shape
        last_action, prev_target, last_decoded = np.empty(shape), np.empty(shape), np.empty(shape)
        for i, e in enumerate(envs):
            last_action[i] = e.action
            prev_target[i] = e.q_target
            last_decoded[i] = e.action_target
        action = clip_action(actions, clip)
        q, dq = self._joints()
        decoded = envs[0].decode_action(action, last_decoded, q, dq)
        q_target = decoded.copy()
        if self.limits is not None:  # what the robot's chain lets through, at this state
            moved = self.limits.apply(q_target, q, dq, prev_target)
            for i, e in enumerate(envs):
                e._limit_moved = float(moved[i])
                e._limited_steps += e._limit_moved > 0.0
        self.action, self.last_action = action, last_action
        self.action_target = decoded
        push_vel = self.cfg.domain_rand.push_vel
        for i, e in enumerate(envs):
            e.action, e.last_action = action[i], last_action[i]
            e._prev_target, e.q_target = prev_target[i], q_target[i]
            e.action_target = decoded[i]
            if e._dr_epoch != self._epochs[i]:  # new episode: its randomised motor / gains
                self._take_params(i, e)
            if e._push_every and e.step_count and e.step_count % e._push_every == 0:
                e.push(e.np_random.uniform(-push_vel, push_vel, 2))
            if self._pre:
                e._pre_physics()
        self._physics(prev_target, q_target, q, dq)
        rate = np.abs(action - last_action).mean(axis=1)
        at_limit = (np.abs(self._tau) >= self._tau_limit).any(axis=1)
        for i, e in enumerate(envs):
            if e.step_count:  # (the first action has no previous one)
                e._rate_sum += float(rate[i])
            e._at_limit_steps += bool(at_limit[i])
            e.step_count += 1
        self._read()
        self._compute()
        terms = self._reward_terms(action)
        rewards, terms = terms[-1], terms.T
        terminated = self._terminated() | ~self._finite_acc()
        self._post_physics()
        truncated = ~terminated & self._truncated()
        infos: list[dict[str, Any]] = []
        for i, e in enumerate(envs):
            e._terms_row = terms[i, :-1]
            e._sums += terms[i]
            info: dict[str, Any] = {}
            if terminated[i] or truncated[i]:
                sums = e._sums.tolist()
                info["episode"] = {"r": sums[-1], "l": e.step_count,
                                   **{f"rew_{name}": v for name, v in
                                      zip(self.term_names, sums[:-1])},
                                   "limited_frac": e._limited_steps / max(e.step_count, 1),
                                   "action_rate": e._rate_sum / max(e.step_count - 1, 1),
                                   "torque_limit_frac": e._at_limit_steps
                                   / max(e.step_count, 1),
                                   **e._episode_info()}
            infos.append(info)
        return self._observe(), rewards, terminated, truncated, infos

    def _reward_terms(self, action: np.ndarray) -> np.ndarray:
        """(n_terms + 1, K): each env's weighted reward terms, then their sum (the reward),
        added in term order.

        Batched tasks call each term function once with the whole batch (``self``: (K, ...)
        arrays); a batch of one calls them on the env itself (scalars are cheaper than
        one-row arrays) and other tasks env by env. Either way env k gets the same values.
        """
        terms = np.zeros((len(self.term_fns) + 1, self.k))
        rewards = terms[-1]
        if self.batched and self.k > 1:
            st, values = self.st, self._values
            assert st is not None
            for j, (_, fn, _) in enumerate(self.term_fns):
                values[j] = fn(self, st, action)
            np.multiply(values, self._term_weights, out=terms[:-1])
            np.add.reduce(terms[:-1], axis=0, out=rewards)  # row by row: in term order
        else:
            for i, e in enumerate(self.envs):
                st1, a1, total = e.state, e.action, 0.0
                assert st1 is not None
                for j, (_, fn, w) in enumerate(self.term_fns):
                    value = w * fn(e, st1, a1)
                    terms[j, i] = value
                    total += value
                rewards[i] = total
        return terms

    def _finite_acc(self) -> np.ndarray:
        """(K,) bool: the joint accelerations after the step are finite (a diverged
        simulation ends the episode)."""
        if self.batched:  # (`_read` gathered them)
            return np.isfinite(self._qacc).all(axis=1)  # type: ignore[return-value]
        return np.array([np.isfinite(qacc).all() for _, _, _, qacc in self._out])

    def _take_params(self, i: int, e: RobotEnv) -> None:
        self.pd.kp[i] = e.pd.kp
        self.pd.kd[i] = e.pd.kd
        self.strength[i] = e.dr.strength
        self.latency[i] = e.dr.latency
        self.gyro_bias[i] = e.dr.gyro_bias
        self._epochs[i] = e._dr_epoch
        self._delayed = int(self.latency.max())
        self._scaled = bool((self.strength != 1.0).any())

    def _physics(self, prev_target: np.ndarray, q_target: np.ndarray, q: np.ndarray,
                 dq: np.ndarray) -> None:
        """``decimation`` physics steps from joint state ``q``, ``dq`` (K, n; updated in
        place): one PD call for all robots, one mj_step each."""
        pd, strength, phys = self.pd, self.strength, self._phys
        qs, vs, cs = self._qs, self._vs, self._cs
        tau = np.empty(q.shape)
        latency, delayed, scaled = self.latency, self._delayed, self._scaled
        step = mujoco.mj_step
        for sub in range(self.decimation):
            target = (np.where((latency > sub)[:, None], prev_target, q_target)
                      if sub < delayed else q_target)
            pd.torque(target, q, dq, out=tau)
            if scaled:
                tau *= strength
            for i, (m, d, qpos, qvel, ctrl) in enumerate(phys):
                ctrl[cs] = tau[i]
                step(m, d)
                q[i], dq[i] = qpos[qs], qvel[vs]
        self._tau = tau
        self._q, self._dq = q, dq
        for i, e in enumerate(self.envs):
            e._tau = tau[i]

    def _joints(self) -> tuple[np.ndarray, np.ndarray]:
        """Fresh (K, n) arrays of the joint positions and velocities."""
        n = self.robot_spec.n_joints
        q, dq = np.empty((self.k, n)), np.empty((self.k, n))
        qs, vs = self._qs, self._vs
        for i, (_, _, qpos, qvel, _) in enumerate(self._phys):
            q[i], dq[i] = qpos[qs], qvel[vs]
        return q, dq

    # -- states, task hooks, observations -----------------------------------------------
    def _read(self) -> None:
        """Each env's `RobotState` (``env.state``); for batched tasks also ``self.st``."""
        envs = self.envs
        if not self.batched:
            for e in envs:
                e.state = e._read_state()
            return
        k, phys, n = self.k, self._phys, self.robot_spec.n_joints
        nsens = self._nsens
        block = np.empty((k, nsens + n + 4))  # sensors | joint torques | time | base position
        sens, tau, t = block[:, :nsens], block[:, nsens:nsens + n], block[:, nsens + n]
        base = block[:, nsens + n + 1:] if self._floating else None
        command = np.array([e.command for e in envs], dtype=np.float64)
        cs, bid, acc = self._cs, self._base_id, self._qacc
        for i, ((_, d, _, _, _), (sensordata, force, xpos, qacc)) in enumerate(zip(phys,
                                                                                    self._out)):
            sens[i] = sensordata
            tau[i] = force[cs]
            t[i] = d.time
            acc[i] = qacc
            if base is not None:
                base[i] = xpos[bid]
        s = self._sensors
        quat = sens[:, s["imu_quat"]] if "imu_quat" in s else np.tile([1.0, 0, 0, 0], (k, 1))
        gyro = sens[:, s["imu_gyro"]] if "imu_gyro" in s else np.zeros((k, 3))
        if self._gyro_bias_on:
            gyro = gyro + self.gyro_bias
        acc = sens[:, s["imu_acc"]] if "imu_acc" in s else np.tile([0, 0, 9.81], (k, 1))
        lin = sens[:, s["base_linvel"]] if "base_linvel" in s else None
        contacts = sens[:, self._touch] > 0.0 if self._n_touch else None
        q, dq = self._q, self._dq
        self.st = RobotState(t=t, q=q, dq=dq,  # type: ignore[arg-type]  # t: (K,) times
                             tau=tau, imu_quat=quat, imu_gyro=gyro, imu_acc=acc,
                             base_lin_vel=lin, base_pos=base, command=command,
                             contacts=contacts)
        for i, e in enumerate(envs):  # each env's own state: row i, made when asked for
            e._state_row = (self.st, i)

    def _compute(self) -> None:
        self.cls.batch_compute(self)

    def _terminated(self) -> np.ndarray:
        return np.array(self.cls.batch_terminated(self), dtype=bool)

    def _post_physics(self) -> None:
        """The task's after-step hook; then each state shows the (possibly new) command."""
        self.cls.batch_post_physics(self)
        command = np.array([e.command for e in self.envs], dtype=np.float64)
        if self.st is not None:  # (the envs' own states not made yet will take it from here)
            self.st.command = command
        for i, e in enumerate(self.envs):
            if e._state_row is None:
                assert e._state is not None
                e._state.command = command[i]

    def _truncated(self) -> np.ndarray:
        return np.array(self.cls.batch_truncated(self), dtype=bool)

    def _observe(self) -> Any:
        envs = self.envs
        if not self.batched:
            return [e._observe(e.state) for e in envs]  # type: ignore[arg-type]
        e0 = envs[0]
        if self.k == 1:  # `build` on the env's own state: equal to `build_batch`'s row
            return e0._observe(e0.state)[None]  # type: ignore[arg-type]
        rngs = [e.np_random for e in envs] if e0.cfg.obs_noise else None
        assert self.st is not None
        return e0.obs_builder.build_batch(self.st, self.action, rngs, self.action_target)

    def observe_reset(self) -> Any:
        """After an env's reset (a batch of one): its state, derived quantities, observation."""
        for i, e in enumerate(self.envs):
            if e._dr_epoch != self._epochs[i]:
                self._take_params(i, e)
        if self.batched:  # (the per-env read takes the joints itself)
            self._q, self._dq = self._joints()
        self._read()
        self._compute()
        if self.batched:
            self.action = np.array([e.action for e in self.envs], dtype=np.float64)
            self.action_target = np.array([e.action_target for e in self.envs])
            return self._observe()[0]
        e = self.envs[0]
        return e._observe(e.state)  # type: ignore[arg-type]


def _base_hook(name: str) -> Any:
    from robot_rl.envs.base import RobotEnv

    return getattr(RobotEnv, name)
