"""The control contract in every bundle: the runtime refuses a robot that differs from the
control a policy was trained under, field by field, naming the field and both values;
``policy.adopt_bundle_gains`` drives the robot with the bundle's gains instead; format 1
bundles are refused with the way to upgrade them, and the upgrade makes them loadable."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml

from robot_rl.config import ConfigError, load_config
from robot_rl.deploy.build import DeployError, load_robot, make_controller
from robot_rl.deploy.config import load_deploy_config
from robot_rl.robots import get_robot
from robot_rl.robots.contract import contract_of, mismatches
from robot_rl.robots.spec import RobotSpec
from robot_rl.runtime.controller import PolicyController
from robot_rl.runtime.policy import METADATA_KEY, BundleError, OnnxPolicy
from robot_rl.runtime.upgrade import upgrade_bundle
from robot_rl.safety.limits import limit_entries
from robot_rl.safety.robot_config import CONFIG_DIR, RobotConfig, load_robot_config

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "pretrained").glob("*.onnx"))


@pytest.mark.parametrize("bundle", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_bundle_carries_its_robots_contract(bundle: Path) -> None:
    meta = OnnxPolicy(bundle).metadata
    spec = get_robot(meta["robot"])
    assert meta["format_version"] == 2
    trained = meta["contract"].get("limits")
    assert meta["contract"] == {**contract_of(spec, trained), "limits": trained} or (
        "limits" not in meta["contract"] and meta["contract"] == {
            k: v for k, v in contract_of(spec).items() if k != "limits"})
    # (loads: nothing differs, the limit stages of the robot's chain included)
    PolicyController(spec, bundle, limits=limit_entries(load_robot_config(robot=spec.name).safety))


@pytest.mark.parametrize("change", ["margin", "scale", "missing", "order"])
def test_a_chain_that_limits_otherwise_than_in_training_is_refused(
        change: str, bundles: dict[str, Path]) -> None:
    """The limit stages a policy was trained inside (the training env applies the robot
    config's, `robot_rl.safety.limits`) are in its contract; a deployment whose chain limits
    otherwise refuses it, naming both lists."""
    bundle = bundles["quad12_stand"]  # exported from the quad12-walk task config
    spec = get_robot("quad12")
    shipped = limit_entries(load_robot_config(robot="quad12").safety)
    assert OnnxPolicy(bundle).metadata["contract"]["limits"] == shipped
    assert [e["type"] for e in shipped] == ["joint_limits", "rate_limit", "torque_limit"]
    PolicyController(spec, bundle, limits=shipped)  # the robot's own chain: accepted
    other = [dict(e) for e in shipped]
    if change == "margin":
        other[0]["margin"] += 0.02
    elif change == "scale":
        other[1]["scale"] = 0.5
    elif change == "missing":
        other = other[:2]
    else:
        other[1], other[2] = other[2], other[1]
    with pytest.raises(BundleError, match=r"safety limits: trained inside joint_limits\(margin="
                       r"0\.05\).*this robot's chain applies") as e:
        PolicyController(spec, bundle, limits=other)
    assert "safety stages' options" in str(e.value)
    assert mismatches(contract_of(spec), spec, other) == {}  # (a bundle trained without: kept)


def _changed(spec: RobotSpec, field: str) -> RobotSpec:
    """``spec`` with ``field`` changed the way a robot config or another robot would."""
    if field == "joint_names":
        names = list(spec.joint_names)
        names[1] = "other_joint"
        return dataclasses.replace(spec, joint_names=tuple(names))
    if field == "joint_order":
        order = np.r_[1, 0, np.arange(2, spec.n_joints)]
        arrays = {k: np.asarray(getattr(spec, k))[order] for k in (
            "q0", "q_min", "q_max", "dq_max", "tau_max", "kp", "kd", "damping_kd")}
        if spec.q_rest.size:
            arrays["q_rest"] = spec.q_rest[order]
        return dataclasses.replace(spec, joint_names=tuple(np.asarray(spec.joint_names)[order]),
                                   **arrays)
    if field in ("physics_dt", "policy_dt"):
        return dataclasses.replace(spec, **{field: getattr(spec, field) / 2})
    values = np.array(getattr(spec, field), dtype=np.float64)
    values[2] += {"q0": 0.01, "q_min": -0.05, "q_max": 0.05}.get(field, 0.5 * values[2])
    return dataclasses.replace(spec, **{field: values})


FIELDS = ("joint_names", "joint_order", "kp", "kd", "q0", "q_min", "q_max", "dq_max", "tau_max",
          "physics_dt", "policy_dt")


@pytest.mark.parametrize("field", FIELDS)
def test_a_robot_that_differs_in_any_field_is_refused(field: str) -> None:
    bundle = ROOT / "pretrained" / "quad12_walk_ppo.onnx"
    spec = get_robot("quad12")
    robot = _changed(spec, field)
    with pytest.raises(BundleError) as e:
        OnnxPolicy(bundle).check_robot(robot)
    msg = str(e.value)
    if field == "joint_names":
        assert "other_joint" in msg and spec.joint_names[1] in msg, msg
    elif field == "joint_order":
        assert "joint order" in msg and str(list(robot.joint_names)) in msg, msg
    elif field in ("physics_dt", "policy_dt"):
        want, got = getattr(spec, field), getattr(robot, field)
        assert f"{field}: trained at {want:g} s, this robot {got:g} s" in msg, msg
    else:  # the joint, the trained value and this robot's
        j = spec.joint_names[2]
        want, got = float(getattr(spec, field)[2]), float(getattr(robot, field)[2])
        assert f"{field} (trained vs this robot): {j} {want:g} vs {got:g}" in msg, msg
        assert msg.count(" vs ") == 2, msg  # (the heading and) only the joint that differs
    gains = field in ("kp", "kd")
    assert ("adopt_bundle_gains" in msg) == gains, msg
    assert not mismatches(contract_of(spec), spec)


def _deploy(tmp_path: Path, joints: dict[str, Any], adopt: bool) -> Path:
    spec = get_robot("quad12")
    rc = yaml.safe_load((CONFIG_DIR / "quad12.yaml").read_text())
    rc["joints"] = {n: dict(joints.get(n, {})) for n in spec.joint_names}
    (tmp_path / "robot.yaml").write_text(yaml.safe_dump(rc))
    cfg = {"robot": "quad12", "policy_path": str(ROOT / "pretrained" / "quad12_walk_ppo.onnx"),
           "robot_config": str(tmp_path / "robot.yaml"), "backend": {"kind": "sim"},
           "policy": {"adopt_bundle_gains": adopt}}
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_gains_overridden_in_the_robot_config_are_refused_or_adopted(tmp_path: Path) -> None:
    spec = get_robot("quad12")
    j = spec.joint_names[4]
    kp = float(spec.kp[4]) * 0.8
    refused = rf"kp \(trained vs this robot\): {j} {spec.kp[4]:g} vs {kp:g}.*adopt_bundle_gains"
    cfg = load_deploy_config(_deploy(tmp_path, {j: {"kp": kp}}, adopt=False))
    # (the shipped quad12 config's stand fallback runs a recovery bundle: refused first)
    with pytest.raises(ConfigError, match=f"recovery_bundle refused.*{refused}"):
        load_robot(cfg)
    robot = load_robot_config(tmp_path / "robot.yaml", gains_from=contract_of(spec)
                              ).effective_spec()
    assert robot.kp[4] == pytest.approx(kp)
    with pytest.raises(DeployError, match=refused):  # the policy itself
        make_controller(cfg, robot, load_config(RobotConfig, cfg.robot_config_path()))
    adopted = load_deploy_config(_deploy(tmp_path, {j: {"kp": kp}}, adopt=True))
    _, robot = load_robot(adopted)
    np.testing.assert_array_equal(robot.kp, spec.kp)  # the bundle's, i.e. as trained
    make_controller(adopted, robot, load_config(RobotConfig, adopted.robot_config_path()))
    # adopting the gains does not excuse anything else
    narrow = load_deploy_config(_deploy(tmp_path, {j: {"kp": kp, "q_max": float(
        spec.q_max[4]) - 0.1}}, adopt=True))
    with pytest.raises(ConfigError, match=rf"q_max \(trained vs this robot\): {j}"):
        load_robot(narrow)


def _as_format_1(src: Path, dst: Path) -> Path:
    model = onnx.load(str(src))
    prop = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    meta = json.loads(prop.value)
    del meta["contract"]
    meta["format_version"] = 1
    prop.value = json.dumps(meta)
    onnx.save_model(model, str(dst))
    return dst


def test_a_format_1_bundle_is_refused_until_upgraded(tmp_path: Path) -> None:
    src = ROOT / "pretrained" / "arm6_reach_ppo.onnx"
    old = _as_format_1(src, tmp_path / "old.onnx")
    with pytest.raises(BundleError, match=r"format_version 1 has no control contract.*"
                                          r"robot-rl export BUNDLE.onnx --upgrade"):
        OnnxPolicy(old)
    out = upgrade_bundle(old, tmp_path / "new.onnx")
    assert (out["from_version"], out["to_version"]) == (1, 2)
    new = OnnxPolicy(tmp_path / "new.onnx")
    # the src's metadata, its contract the robot's (a format 1 bundle was trained without
    # the chain's limits: none recorded)
    want = {**OnnxPolicy(src).metadata, "contract": contract_of(get_robot("arm6"))}
    assert new.metadata == want and new.metadata["contract"]["limits"] is None
    x = np.linspace(-1, 1, new.obs_dim).astype(np.float32)
    np.testing.assert_array_equal(new.act(x), OnnxPolicy(src).act(x))  # graph untouched
    again = upgrade_bundle(tmp_path / "new.onnx")
    assert again["from_version"] == again["to_version"] == 2
