"""Domain randomisation: per-episode physics parameters, latency, motor strength, pushes,
external forces, and config validation."""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import pytest

from robot_rl.config import ConfigError
from robot_rl.envs import make_env
from robot_rl.evaluation import DR_OFF

OFF: dict[str, Any] = DR_OFF


def walk(**dr: Any) -> Any:
    return make_env("quad12-walk", overrides={"domain_rand": {**OFF, **dr}})


def test_episode_parameters_are_sampled_seeded_and_applied() -> None:
    env = walk(friction=[0.5, 1.25], added_base_mass=[-1.0, 2.0])
    base = env.robot.base_id
    nominal_f, nominal_m = env.dr.nominal_friction.copy(), env.dr.nominal_mass
    seen = []
    for seed in range(4):
        env.reset(seed=seed)
        p = env.dr.params()
        assert 0.5 <= p["friction_scale"] <= 1.25 and -1.0 <= p["added_base_mass"] <= 2.0
        np.testing.assert_allclose(env.model.geom_friction[:, 0], nominal_f * p["friction_scale"])
        assert env.model.body_mass[base] == pytest.approx(nominal_m + p["added_base_mass"])
        seen.append(p["friction_scale"])
    assert len(set(seen)) == 4
    env.reset(seed=2)
    assert env.dr.params()["friction_scale"] == seen[2]  # same seed, same episode


def _record_targets(env: Any) -> list[np.ndarray]:
    """The joint targets of each physics step (the env steps as a batch of one)."""
    log: list[np.ndarray] = []
    pd = env._solo_batch().pd
    inner = pd.torque

    def torque(q_target: np.ndarray, *a: Any, **k: Any) -> np.ndarray:
        log.append(np.array(q_target[0]))
        return inner(q_target, *a, **k)

    pd.torque = torque
    return log


def test_action_latency_delays_new_targets_by_whole_physics_steps() -> None:
    env = walk(action_latency_ticks=[2, 2])
    env.reset(seed=0)
    log = _record_targets(env)
    a = np.full(12, 0.8, np.float32)
    env.step(a)
    q0, new = env.robot_spec.q0, env.robot_spec.q0 + env.robot_spec.action_scale * 0.8
    assert len(log) == env.decimation == 4
    for k in range(2):
        np.testing.assert_allclose(log[k], q0)  # previous targets while the new ones travel
    for k in range(2, 4):
        np.testing.assert_allclose(log[k], new)
    with pytest.raises(ConfigError, match="at most one policy period"):
        walk(action_latency_ticks=[0, 5])


def test_motor_strength_scales_the_applied_torque(monkeypatch: pytest.MonkeyPatch) -> None:
    env = walk(motor_strength=[0.5, 0.9])
    env.reset(seed=3)
    s = env.dr.strength.copy()
    assert np.all((s >= 0.5) & (s <= 0.9)) and len(set(s.tolist())) == 12
    applied: list[np.ndarray] = []  # what MuJoCo's motors get at each physics step
    mj_step = mujoco.mj_step
    monkeypatch.setattr(mujoco, "mj_step", lambda m, d: (applied.append(d.ctrl.copy()),
                                                         mj_step(m, d)))
    pd = env._solo_batch().pd
    pd_out: list[np.ndarray] = []
    pd_inner = pd.torque
    pd.torque = lambda *a, **k: (r := pd_inner(*a, **k), pd_out.append(np.array(r[0])))[0]
    env.step(np.full(12, 1.0, np.float32))
    assert len(applied) == len(pd_out) == env.decimation
    for tau, raw in zip(applied, pd_out):
        np.testing.assert_allclose(tau[env.robot.act_ids], raw * s)
        assert np.abs(raw).max() > 1.0  # the PD pushes: the scaling is visible


def test_pushes_change_the_base_velocity_on_schedule() -> None:
    env = walk(push_interval_s=0.1, push_vel=1.0)  # every 5 policy steps
    env.reset(seed=0)
    pushes = []
    inner = env.push
    env.push = lambda dv: (pushes.append((env.step_count, np.array(dv))), inner(dv))
    for _ in range(11):
        env.step(np.zeros(12, np.float32))
    assert [k for k, _ in pushes] == [5, 10]
    assert all(np.all(np.abs(dv) <= 1.0) for _, dv in pushes)
    arm = make_env("arm6-reach")
    with pytest.raises(ValueError, match="floating base"):
        arm.push(np.zeros(2))


def test_external_force_is_applied_to_the_base_until_the_episode_ends() -> None:
    env = walk()
    env.reset(seed=0)
    env.set_external_force(np.array([30.0, -10.0, 0.0]))
    env.step(np.zeros(12, np.float32))
    np.testing.assert_allclose(env.data.xfrc_applied[env.robot.base_id], [30, -10, 0, 0, 0, 0])
    v = env.data.qvel[0]
    for _ in range(10):
        env.step(np.zeros(12, np.float32))
    assert env.data.qvel[0] > v + 0.1  # 30 N on 15 kg for 0.2 s
    env.reset(seed=1)
    assert not env.data.xfrc_applied.any()


def test_link_masses_centres_of_mass_and_contact_damping_are_randomised() -> None:
    from robot_rl.robots.mjstate import robot_bodies

    env = walk(link_mass=[0.8, 1.2], com_shift=0.01, contact_damping_ratio=[0.5, 0.9])
    bodies = robot_bodies(env.model, env.robot_spec)
    assert len(bodies) == 13  # trunk + 12 leg links; the floor is not the robot's
    d = env.dr
    for seed in range(3):
        env.reset(seed=seed)
        ratio = env.model.body_mass[bodies] / d.nominal_body_mass
        assert np.all((0.8 <= ratio) & (ratio <= 1.2)) and np.ptp(ratio) > 0.05
        np.testing.assert_allclose(env.model.body_inertia[bodies],
                                   d.nominal_inertia * ratio[:, None])
        shift = env.model.body_ipos[bodies] - d.nominal_ipos
        assert np.abs(shift).max() <= 0.01 and np.abs(shift).max() > 0.001
        damp = env.model.geom_solref[:, 1] / d.nominal_dampratio
        assert np.allclose(damp, damp[0]) and 0.5 <= damp[0] <= 0.9
        for _ in range(25):
            obs, *_ = env.step(np.zeros(12, np.float32))
        assert np.all(np.isfinite(obs))
    off = walk()
    off.reset(seed=0)
    np.testing.assert_array_equal(off.model.body_mass, mujoco_nominal_mass(off))


def mujoco_nominal_mass(env: Any) -> np.ndarray:
    import mujoco

    return mujoco.MjModel.from_xml_path(str(env.scene_path())).body_mass


def test_pd_gains_and_gyro_bias_are_randomised_per_episode() -> None:
    env = walk(kp_scale=[0.8, 1.2], kd_scale=[0.5, 1.5], gyro_bias=0.05)
    spec = env.robot_spec
    env.reset(seed=4)
    kp, kd = env.pd.kp / spec.kp, env.pd.kd / spec.kd
    assert np.all((0.8 <= kp) & (kp <= 1.2)) and np.all((0.5 <= kd) & (kd <= 1.5))
    np.testing.assert_allclose(kp, env.dr.kp_scale)
    bias = env.dr.gyro_bias.copy()
    assert np.abs(bias).max() <= 0.05 and np.abs(bias).max() > 0
    env.step(np.zeros(12, np.float32))
    np.testing.assert_allclose(env.state.imu_gyro, env.robot.sensor("imu_gyro") + bias)
    env.reset(seed=5)
    assert not np.allclose(env.dr.gyro_bias, bias)


@pytest.mark.parametrize(("dr", "message"), [
    ({"link_mass": [0.0, 1.0]}, "link_mass must be > 0"),
    ({"com_shift": -0.01}, "com_shift and gyro_bias must be >= 0"),
    ({"kd_scale": [1.2, 0.8]}, "kd_scale: low 1.2 above high 0.8"),
    ({"friction": [1.2, 0.8]}, "friction: low 1.2 above high 0.8"),
    ({"motor_strength": [0.0, 1.0]}, "must be > 0"),
    ({"push_vel": -1.0}, "must be >= 0"),
])
def test_bad_domain_rand_configs_are_refused(dr: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        walk(**dr)


@pytest.mark.parametrize("task,robot", [("quad12-walk", "quad12"), ("quad12-walk-rough", "quad12"),
                                        ("arm6-reach", "arm6"), ("arm6-lift", "arm6"),
                                        ("arm6-insert", "arm6")])
def test_the_shipped_domain_rand_files_randomise_every_task_of_their_robot(
        task: str, robot: str, tmp_path: Any) -> None:
    """configs/domain_rand/ROBOT.yaml (`train --domain-rand`) replaces the task's section: the
    knobs it sets vary from episode to episode in that task's env, the ones it leaves out are
    off; a file with a typo is refused with its name."""
    from robot_rl.envs.registry import CONFIG_DIR
    from robot_rl.train import task_config_for

    cfg = task_config_for(task, domain_rand=CONFIG_DIR / "domain_rand" / f"{robot}.yaml")
    dr = cfg.domain_rand
    assert dr.link_mass == (0.85, 1.15) and dr.kp_scale == (0.9, 1.1)
    assert (dr.push_vel > 0) == (robot == "quad12")
    env = make_env(task, cfg)
    try:
        seen = []
        for seed in range(3):
            env.reset(seed=seed)
            seen.append(env.dr.params())
        varied = {k for k in seen[0] if len({round(p[k], 9) for p in seen}) > 1}
        expected = {"friction_scale", "motor_strength_mean", "link_mass_scale_mean",
                    "contact_damping_ratio_scale", "kp_scale_mean", "kd_scale_mean"}
        if robot == "quad12":
            expected |= {"added_base_mass", "gyro_bias_norm"}
        assert expected <= varied, expected - varied
        assert robot == "quad12" or all(p["added_base_mass"] == 0.0 for p in seen)
    finally:
        env.close()
    bad = tmp_path / "dr.yaml"
    bad.write_text("link_mas: [0.9, 1.1]\n")
    with pytest.raises(ConfigError, match="dr.yaml"):
        task_config_for(task, domain_rand=bad)
