"""The training envs apply the safety chain's limit stages (`robot_rl.safety.limits`): the
same stage objects as the chain, over a batch, with what the robot config configures."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.config import ConfigError
from robot_rl.control.pd import pd_torque
from robot_rl.envs import make_env
from robot_rl.safety.chain import build_stages
from robot_rl.safety.core import TickContext
from robot_rl.safety.limits import LIMIT_STAGES, CommandLimits, limit_entries
from robot_rl.safety.robot_config import load_robot_config
from robot_rl.types import JointCommand, RobotState


@pytest.mark.parametrize("robot", ["quad12", "arm6"])
def test_a_batch_is_limited_as_the_chain_limits_each_command(robot: str) -> None:
    rcfg = load_robot_config(robot=robot)
    spec = rcfg.effective_spec()
    dt, n, k = spec.policy_dt, spec.n_joints, 64
    rng = np.random.default_rng(3)
    span = spec.q_max - spec.q_min
    q = spec.q_min + rng.uniform(-0.05, 1.05, (k, n)) * span  # some beyond a limit
    dq = rng.normal(0.0, 3.0, (k, n))
    last = np.clip(q + rng.normal(0.0, 0.2, (k, n)), spec.q_min, spec.q_max)
    target = spec.q_min + rng.uniform(-0.3, 1.3, (k, n)) * span
    batch = target.copy()
    limits = CommandLimits(spec, limit_entries(rcfg.safety), dt)
    moved = limits.apply(batch, q, dq, last)
    # the chain's own stage objects, one command at a time, as the safety node ticks them
    stages = [s for s in build_stages(rcfg.safety, spec, dt) if s.name in LIMIT_STAGES]
    assert [s.name for s in stages] == list(LIMIT_STAGES)
    for i in range(k):
        cmd = JointCommand(spec.joint_names, target[i].copy(), np.zeros(n), spec.kp.copy(),
                           spec.kd.copy(), np.zeros(n))
        prev = JointCommand(spec.joint_names, last[i].copy(), np.zeros(n), spec.kp.copy(),
                            spec.kd.copy(), np.zeros(n))
        ctx = TickContext(spec, RobotState(t=0.0, q=q[i], dq=dq[i]), 0.0, 0.0, 0.0, dt, prev)
        for stage in stages:
            stage(cmd, ctx)
        np.testing.assert_array_equal(batch[i], cmd.q_target)
        assert moved[i] == pytest.approx(float(np.sum((cmd.q_target - target[i]) ** 2)))
    assert (moved > 0).mean() > 0.9  # (targets drawn far outside: nearly every one is moved)


OFFSET = {"action_type": "joint_pos_offset", "action_scale": None}  # q0 + 1.0 rad * a on arm6


def test_the_env_steps_inside_the_limits_of_the_robot_config() -> None:
    env = make_env("arm6-reach", overrides={"obs_noise": False, **OFFSET})
    spec = env.robot_spec
    margin = next(e["margin"] for e in env.cfg.safety_limits if e["type"] == "joint_limits")
    assert margin == 0.03  # configs/robots/arm6.yaml
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    step = spec.dq_max * spec.policy_dt
    for _ in range(40):
        q, dq, prev = env.data.qpos[:6].copy(), env.data.qvel[:6].copy(), env.q_target.copy()
        env.step(rng.choice([-1.0, 1.0], 6).astype(np.float32))  # bang-bang
        t = env.q_target
        assert np.all(t >= spec.q_min + margin - 1e-12) and np.all(t <= spec.q_max - margin + 1e-12)
        assert np.all(np.abs(t - prev) <= step + 1e-12)
        tau = pd_torque(t, q, dq, spec.kp, spec.kd, np.zeros(6), np.zeros(6))
        assert np.all(np.abs(tau) <= spec.tau_max + 1e-9)  # (the rate box allows it here)
    assert env._limited_steps > 30
    free = make_env("arm6-reach", overrides={"obs_noise": False, "safety_limits": [], **OFFSET})
    free.reset(seed=1)
    a = np.ones(6, dtype=np.float32)
    free.step(a)
    np.testing.assert_allclose(free.q_target, spec.q0 + spec.action_scale * a)  # unlimited


def test_an_episode_reports_how_often_the_limits_moved_its_targets() -> None:
    env = make_env("quad12-walk", overrides={"episode_s": 0.2})
    env.reset(seed=0)
    info: dict = {}
    for _ in range(10):
        _, _, term, trunc, info = env.step(np.full(12, 4.0, dtype=np.float32))
        if term or trunc:
            break
    ep = info["episode"]
    assert ep["limited_frac"] == pytest.approx(1.0)
    assert ep["action_rate"] == 0.0  # (the same action every step)
    assert 0.0 <= ep["torque_limit_frac"] <= 1.0


def test_an_episode_reports_its_smoothness() -> None:
    """Mean |a_t - a_t-1| of the executed (clipped) actions and the steps at a torque limit,
    in every episode's info (what `robot-rl eval`, the ship script and the sim2sim env column
    read): alternating -1 / +1 actions change by 2 every step."""
    env = make_env("arm6-reach", overrides={"episode_s": 0.4, "safety_limits": [], **OFFSET})
    env.reset(seed=0)
    info: dict = {}
    for k in range(100):
        a = np.full(6, 3.0 if k % 2 else -3.0, dtype=np.float32)  # (clipped to +-1)
        _, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    ep = info["episode"]
    assert ep["l"] == 20 and ep["action_rate"] == pytest.approx(2.0)
    assert ep["torque_limit_frac"] > 0.5  # (1 rad target jumps against kp 17.8: 3 N m caps)


def test_bad_limit_entries_are_refused_naming_them() -> None:
    with pytest.raises(ConfigError, match=r"safety_limits\[0\] \(joint_limits\).*margin"):
        make_env("arm6-reach", overrides={"safety_limits": [{"type": "joint_limits",
                                                               "margin": -1.0}]})
    with pytest.raises(ValueError, match="not limit stages"):
        make_env("arm6-reach", overrides={"safety_limits": [{"type": "estop"}]})


def _term_slice(env, name: str) -> slice:  # type: ignore[no-untyped-def]
    start = 0
    for t in env.obs_builder.layout():
        if t["name"] == name:
            return slice(start, start + int(t["dim"]))
        start += int(t["dim"])
    raise KeyError(name)


def test_delta_actions_never_ask_for_a_target_the_position_or_rate_stage_moves() -> None:
    """arm6-reach's joint_pos_delta actions move the previous target by at most
    action_scale (below dq_max x policy_dt) inside the joint range less the joint_limits
    margin, from the measured pose: an arm that keeps pushing into its upper stops is held
    there with targets the chain lets through (offset actions beyond the range were clamped
    on every step), and the observation shows the target it moves."""
    env = make_env("arm6-reach", overrides={"obs_noise": False})
    assert env.cfg.action_type == "joint_pos_delta"  # configs/tasks/arm6-reach.yaml
    spec, scale = env.robot_spec, env.action_scale
    assert scale * env.cfg.action_clip < float((spec.dq_max * spec.policy_dt).min())
    lo, hi = spec.q_min + 0.03, spec.q_max - 0.03  # configs/robots/arm6.yaml's margin
    obs, _ = env.reset(seed=2)
    np.testing.assert_array_equal(env.action_target, env.data.qpos[:6])
    sl = _term_slice(env, "joint_target")
    np.testing.assert_allclose(obs[sl], env.action_target - spec.q0, atol=1e-6)
    moved_at_rest = []
    for k in range(150):
        prev = env.action_target.copy()
        a = np.full(6, 3.0 if k % 10 else -0.5, dtype=np.float32)  # (clipped to +1)
        obs, *_ = env.step(a)
        # (moved from prev, or from where the motors can pull: DeltaBounds.hold)
        assert np.abs(env.action_target - prev).max() > 0 or np.allclose(prev, hi)
        assert np.all(env.action_target >= lo) and np.all(env.action_target <= hi)
        np.testing.assert_allclose(obs[sl], env.action_target - spec.q0, atol=1e-6)
        if k >= 120:
            moved_at_rest.append(env._limit_moved)
    np.testing.assert_allclose(env.action_target, hi)  # every joint at its upper bound
    assert moved_at_rest == [0.0] * 30  # held there: no stage moves these targets
