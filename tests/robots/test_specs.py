"""Every registered robot: the MJCF agrees with its spec module (joint order, limits, torque
limits), and bad specs are refused."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest

from robot_rl.robots import ROBOTS, get_robot


@pytest.mark.parametrize("name", sorted(ROBOTS))
def test_mjcf_limits_match_spec(name: str) -> None:
    spec = ROBOTS[name]
    model = mujoco.MjModel.from_xml_path(str(spec.mjcf))
    for i, joint in enumerate(spec.joint_names):
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)
        assert jid >= 0, f"{name}: joint {joint} missing"
        assert model.jnt_limited[jid]
        np.testing.assert_allclose(model.jnt_range[jid], [spec.q_min[i], spec.q_max[i]],
                                   atol=1e-6)
        aid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, joint)
        assert aid >= 0 and model.actuator_trnid[aid, 0] == jid
        assert model.actuator_ctrllimited[aid]
        np.testing.assert_allclose(model.actuator_ctrlrange[aid],
                                   [-spec.tau_max[i], spec.tau_max[i]], atol=1e-6)
        assert model.actuator_gear[aid, 0] == 1.0
    assert model.opt.timestep == pytest.approx(spec.physics_dt)


def test_unknown_robot_lists_available() -> None:
    with pytest.raises(KeyError, match="unknown robot 'dog'; available robots: arm6, quad12"):
        get_robot("dog")


@pytest.mark.parametrize(("change", "message"), [
    ({"q_min": ROBOTS["arm6"].q_max, "q_max": ROBOTS["arm6"].q_min}, "q_min must be below q_max"),
    ({"kp": -np.ones(6)}, "gains must be >= 0"),
    ({"tau_max": np.ones(5)}, "tau_max has shape"),
    ({"policy_dt": 0.003}, "not an integer multiple"),
    ({"q0": np.full(6, 9.0)}, "q0 outside the joint limits"),
])
def test_bad_spec_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(ROBOTS["arm6"], **change)  # type: ignore[arg-type]
