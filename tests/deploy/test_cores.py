"""The ROS-free deploy cores: policy controller (obs parity with the env, decoding, hot swap,
refusals), safety supervisor (mux, e-stop latch, reset) and the deploy config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from robot_rl.config import ConfigError, from_dict
from robot_rl.deploy.config import DeployConfig
from robot_rl.envs import make_env
from robot_rl.robots import get_robot
from robot_rl.runtime.controller import PolicyController
from robot_rl.runtime.policy import BundleError
from robot_rl.safety.core import Mode
from robot_rl.safety.robot_config import load_robot_config, make_supervisor
from robot_rl.types import JointCommand
from tests.conftest import export_task_bundle


def test_controller_builds_the_env_observation_and_decodes_like_the_env(
        bundles: dict[str, Path]) -> None:
    env = make_env("quad12-walk", overrides={"obs_noise": False})
    env.reset(seed=3)
    spec = env.robot_spec
    ctl = PolicyController(spec, bundles["quad12_random"], command=env.command)
    st = env.state
    assert st is not None
    obs_env = env._observe(st)
    obs = ctl.observe(st)
    np.testing.assert_allclose(obs, obs_env, atol=1e-6)
    cmd = ctl.step(st, 0.0)
    a = ctl._cur.policy.act(obs_env)
    np.testing.assert_allclose(cmd.q_target, env.decode_action(np.clip(a, -4, 4),
                                                                env.action_target, st.q, st.dq),
                               atol=1e-6)
    np.testing.assert_array_equal(cmd.kp, spec.kp)
    np.testing.assert_allclose(ctl.last_action, np.clip(a, -4, 4), atol=1e-6)
    env.close()


def test_a_delta_bundle_moves_the_controllers_own_target_as_the_env_does(
        tmp_path: Path) -> None:
    """joint_pos_delta on the robot: the controller keeps its last decoded target (from the
    measured pose at the first step), builds the env's observation of it (``joint_target``)
    and moves it as the env does, step after step; `reset` starts again from the measured
    pose."""
    bundle = export_task_bundle("arm6-reach", tmp_path / "arm6_random.onnx", kind="random")
    env = make_env("arm6-reach", overrides={"obs_noise": False})
    env.reset(seed=4)
    assert env.state is not None
    ctl = PolicyController(env.robot_spec, bundle, command=env.state.command)
    assert ctl.metadata["action_type"] == "joint_pos_delta" and ctl.last_target is None
    start = env.state.q.copy()
    for k in range(6):
        st = env.state
        np.testing.assert_allclose(ctl.observe(st), env._observe(st), atol=1e-6)
        cmd = ctl.step(st, 0.02 * k)
        env.step(ctl.last_action.astype(np.float32))
        np.testing.assert_allclose(cmd.q_target, env.action_target, atol=1e-6)
    assert np.abs(env.action_target - start).max() > 0.05  # (it moved)
    # the chain held or damped the arm, which sagged 0.5 rad from the target: the next target
    # moves from where the motors can pull the joints (3 N m / kp 17.8 = 0.17 rad), no windup
    spec = env.robot_spec
    sagged = dataclasses.replace(env.state, q=env.action_target - 0.5, dq=np.zeros(6))
    cmd = ctl.step(sagged, 0.5)
    reach = spec.tau_max / spec.kp + 0.09
    assert np.all(np.abs(cmd.q_target - sagged.q) <= reach + 1e-9), cmd.q_target - sagged.q
    ctl.reset()
    st = env.state
    cmd = ctl.step(st, 1.0)
    assert np.abs(cmd.q_target - st.q).max() <= 0.09 + 1e-9  # one step from the measured pose
    env.close()


def test_controller_refuses_bundles_that_do_not_fit(bundles: dict[str, Path],
                                                   tmp_path: Path) -> None:
    quad, arm = get_robot("quad12"), get_robot("arm6")
    with pytest.raises(BundleError, match="for robot 'quad12', not 'arm6'"):
        PolicyController(arm, bundles["quad12_stand"])
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(bundles["quad12_stand"].read_bytes()[:300])
    with pytest.raises(BundleError, match="truncated or corrupted"):
        PolicyController(quad, bad)
    with pytest.raises(BundleError, match="not found"):
        PolicyController(quad, tmp_path / "missing.onnx")


def test_hot_swap_switches_or_keeps_the_old_policy(bundles: dict[str, Path]) -> None:
    spec = get_robot("quad12")
    ctl = PolicyController(spec, bundles["quad12_stand"], command=[0.5, 0, 0])
    env = make_env("quad12-walk")
    env.reset(seed=0)
    st = env.state
    np.testing.assert_allclose(ctl.step(st, 0.0).q_target, spec.q0)
    with pytest.raises(BundleError):
        ctl.swap(bundles["arm6_hold"])  # wrong robot: refused ...
    assert ctl.path == bundles["quad12_stand"]  # ... and the old one still runs
    np.testing.assert_allclose(ctl.step(st, 0.02).q_target, spec.q0)
    ctl.swap(bundles["quad12_random"])
    assert ctl.swaps == 1 and ctl.path == bundles["quad12_random"]
    assert np.abs(ctl.step(st, 0.04).q_target - spec.q0).max() > 1e-3
    env.close()


def test_arm_controller_needs_and_computes_the_end_effector(bundles: dict[str, Path]) -> None:
    env = make_env("arm6-reach")
    env.reset(seed=1)
    st = env.state
    assert st is not None and st.ee_pos is not None
    ctl = PolicyController(env.robot_spec, bundles["arm6_hold"], command=st.command)
    ee_true = st.ee_pos.copy()
    st.ee_pos = None  # the robot has no ee sensor: the controller computes it by FK
    ctl.observe(st)
    np.testing.assert_allclose(st.ee_pos, ee_true, atol=1e-6)
    env.close()


def _cmd(spec, q) -> JointCommand:  # type: ignore[no-untyped-def]
    n = spec.n_joints
    return JointCommand(spec.joint_names, np.asarray(q, float), np.zeros(n), spec.kp.copy(),
                        spec.kd.copy(), np.zeros(n))


def test_supervisor_mux_estop_latch_and_reset() -> None:
    rcfg = load_robot_config(robot="arm6")
    spec = rcfg.effective_spec()
    sup = make_supervisor(rcfg, spec, 0.02)
    assert sup.tick(0.0) is None  # no state yet: nothing can be judged safe
    env = make_env("arm6-reach")
    env.reset(seed=0)
    st = env.state
    st.t = 0.0
    sup.update_state(st)
    sup.submit_policy(_cmd(spec, spec.q0 + 0.01), 0.0)
    sup.submit_teleop(_cmd(spec, spec.q0 - 0.01), 0.0)
    out = sup.tick(0.0)
    assert sup.mode == Mode.ACTIVE and out is not None
    for k in range(1, 120):  # past the 2 s soft start: the policy target is reached
        sup.update_state(st, k * 0.02)
        sup.submit_policy(_cmd(spec, spec.q0 + 0.01), k * 0.02)
        sup.submit_teleop(_cmd(spec, spec.q0 - 0.01), k * 0.02)
        out = sup.tick(k * 0.02)
    np.testing.assert_allclose(out.q_target, np.clip(spec.q0 + 0.01, spec.q_min + 0.03,
                                                     spec.q_max - 0.03), atol=1e-9)
    sup.set_intervention(True)  # the operator takes over: teleop's command goes through
    t = 2.42
    sup.update_state(st, t)
    out = sup.tick(t)
    assert out.q_target[0] < spec.q0[0] and sup.diagnostics()["source"] == "teleop"
    sup.engage_estop("test")
    out = sup.tick(t + 0.02)
    assert sup.mode == Mode.STOP and not out.kp.any()  # damping in the same tick
    st.dq = np.full(spec.n_joints, 2.0)
    ok, msg = sup.reset()
    assert not ok and "moves" in msg  # refused while the arm moves
    assert sup.tick(t + 0.04) is not None and sup.mode == Mode.STOP  # still latched
    st.dq = np.zeros(spec.n_joints)
    ok, msg = sup.reset()
    assert ok, msg
    sup.update_state(st, t + 0.06)
    sup.submit_teleop(_cmd(spec, spec.q0 - 0.01), t + 0.06)
    sup.tick(t + 0.06)
    assert sup.mode == Mode.ACTIVE
    env.close()


def test_deploy_config_refuses_mistakes() -> None:
    with pytest.raises(ConfigError, match="unknown robot 'quad13'"):
        from_dict(DeployConfig, {"robot": "quad13"})
    with pytest.raises(ConfigError, match="'virtual_bus' is not a backend of quad12"):
        from_dict(DeployConfig, {"robot": "quad12", "backend": {"kind": "virtual_bus"}})
    with pytest.raises(ConfigError, match="proxy_seed is required"):
        from_dict(DeployConfig, {"robot": "quad12", "backend": {"kind": "proxy"}})
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(DeployConfig, {"robot": "quad12", "bridge": {"rate": 500}})
    cfg = from_dict(DeployConfig, {"robot": "quad12", "script": [
        {"t": 0.0, "cmd": [0, 0, 0]}, {"t": 2.0, "cmd": [0.5, 0, 0]}]})
    assert cfg.command_at(1.0) == (0.0, 0.0, 0.0) and cfg.command_at(2.5) == (0.5, 0.0, 0.0)
