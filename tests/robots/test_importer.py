"""`robot-rl robot import`: a robot package from its MJCF. Our own two models, imported as if
they were someone else's, give back what their hand-written specs say (joints, ranges,
torque limits, pose, base, IMU, end effector, feet, rates, mass); the written package loads as
a valid `RobotSpec` whose MJCF compiles from the copied assets; position actuators give their
gains; what a model lacks is refused with the fix."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import mujoco
import numpy as np
import pytest

from robot_rl.cli import main
from robot_rl.robots import get_robot
from robot_rl.robots.importer import RobotImportError, describe_mjcf, write_robot
from robot_rl.robots.spec import RobotSpec


@pytest.mark.parametrize("robot", ["quad12", "arm6"])
def test_importing_our_own_models_gives_back_their_specs(robot: str, tmp_path: Path) -> None:
    spec = get_robot(robot)
    draft = describe_mjcf(spec.mjcf, f"my_{robot}")
    d = draft.spec
    assert d.joint_names == spec.joint_names
    for key in ("q_min", "q_max", "tau_max", "q0"):
        np.testing.assert_allclose(getattr(d, key), getattr(spec, key), err_msg=key)
    assert (d.floating_base, d.base_body, d.imu_site, d.ee_site, d.feet) == (
        spec.floating_base, spec.base_body, spec.imu_site, spec.ee_site, spec.feet)
    assert (d.physics_dt, d.policy_dt) == (spec.physics_dt, spec.policy_dt)
    assert spec.mass_range[0] <= draft.mass <= spec.mass_range[1]
    assert set(d.cameras) == set(spec.cameras)
    # torque motors carry no gains: placeholders, and the package says so
    assert any("placeholders kp" in n for n in draft.notes)
    assert any("dq_max" in n for n in draft.notes)

    pkg = write_robot(draft, tmp_path)
    mod_spec = importlib.util.spec_from_file_location(f"my_{robot}", pkg / "__init__.py")
    assert mod_spec is not None and mod_spec.loader is not None
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    written: RobotSpec = getattr(mod, f"MY_{robot.upper()}")
    assert written.joint_names == spec.joint_names and written.mjcf.is_file()
    np.testing.assert_allclose(written.q_max, spec.q_max, atol=1e-5)
    m = mujoco.MjModel.from_xml_path(str(written.mjcf))  # from the copied assets
    assert m.nu == spec.n_joints
    assert "placeholders kp" in (pkg / "__init__.py").read_text()
    with pytest.raises(RobotImportError, match="exists"):
        write_robot(draft, tmp_path)


ARM = """<mujoco>
  <compiler angle="radian"/>
  <option timestep="0.004"/>
  <worldbody>
    <body name="base">
      <body name="link1">
        <joint name="j1" type="hinge" axis="0 0 1" {range}/>
        <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.02" mass="0.5"/>
        <body name="link2" pos="0.2 0 0">
          <joint name="j2" type="hinge" axis="0 1 0" range="-2 2"/>
          <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.02" mass="0.3"/>
          <site name="tool_tip" pos="0.2 0 0"/>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position joint="j1" kp="30" kv="1.5" forcerange="-4 4" forcelimited="true"/>
    <position joint="j2" kp="20" kv="1" {force2}/>
  </actuator>
  <keyframe><key name="ready" qpos="0.3 -0.5"/></keyframe>
</mujoco>
"""


def test_position_actuators_give_their_gains_and_missing_facts_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "arm.xml"
    path.write_text(ARM.format(range='range="-1 1"', force2='forcerange="-2 2"'))
    draft = describe_mjcf(path, "two_link")
    d = draft.spec
    np.testing.assert_allclose(d.kp, [30.0, 20.0])
    np.testing.assert_allclose(d.kd, [1.5, 1.0])
    np.testing.assert_allclose(d.tau_max, [4.0, 2.0])
    np.testing.assert_allclose(d.q0, [0.3, -0.5])  # keyframe "ready"
    assert (d.floating_base, d.base_body, d.ee_site) == (False, "base", "tool_tip")
    assert (d.physics_dt, d.policy_dt) == (0.004, 0.02)
    assert not any("placeholders kp" in n for n in draft.notes)
    path.write_text(ARM.format(range="", force2='forcerange="-2 2"'))
    with pytest.raises(RobotImportError, match="joint 'j1' has no range"):
        describe_mjcf(path, "two_link")
    path.write_text(ARM.format(range='range="-1 1"', force2=""))
    with pytest.raises(RobotImportError, match="joint 'j2' has no force limit"):
        describe_mjcf(path, "two_link")
    # the command: a package and the registry line; a registered name is refused
    path.write_text(ARM.format(range='range="-1 1"', force2='forcerange="-2 2"'))
    assert main(["robot", "import", "two_link", "--mjcf", str(path), "--out",
                 str(tmp_path / "pkgs")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["joints"] == ["j1", "j2"] and (tmp_path / "pkgs" / "two_link" / "__init__.py"
                                               ).is_file()
    assert out["register"][0] == "from robot_rl.robots.two_link import TWO_LINK"
    assert main(["robot", "import", "quad12", "--mjcf", str(path)]) == 2  # already registered
    assert "already registered" in capsys.readouterr().err


@pytest.mark.parametrize(("robot", "task"), [("quad12", "quad12-walk"), ("arm6", "arm6-reach")])
def test_an_imported_robot_trains_exports_and_deploys_with_the_projects_commands(
        robot: str, task: str, tmp_path: Path) -> None:
    """Import → its class's task → a (short) training run → export → the deploy loop on the sim
    backend, each by the CLI a user runs, the robot found through ROBOT_RL_ROBOT_PATH: nothing
    written outside the robot's folder. The model is one of ours, taken from its scene file
    (floor, lights and keyframe left out, its motors and sensors made the project's)."""
    import os
    import subprocess
    import sys

    spec = get_robot(robot)
    name = f"my_{robot}"
    robots = tmp_path / "robots"
    robots.mkdir()
    env = {**os.environ, "ROBOT_RL_ROBOT_PATH": str(robots)}

    def cli(*args: str) -> dict:
        run = subprocess.run([sys.executable, "-m", "robot_rl.cli", *args], env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        return json.loads(run.stdout.strip().splitlines()[-1])

    out = cli("robot", "import", name, "--mjcf", str(spec.mjcf), "--out", str(robots))
    pkg = robots / name
    assert out["package"] == str(pkg)
    files = {p.name for p in (pkg / "assets").iterdir()}
    scenes = {"scene_flat.xml", "scene_rough.xml"} if spec.floating_base else {"scene_table.xml"}
    assert scenes | {f"{name}_robot.xml"} <= files and (pkg / "robot.yaml").is_file()
    if spec.floating_base:  # feet by the envs' names; the home pose stands on the floor
        assert out["feet"] == list(spec.feet)
    # the user's check of the placeholders: the gains this robot runs
    init = (pkg / "__init__.py").read_text()
    for key in ("kp", "kd", "dq_max"):
        values = ", ".join(repr(float(v)) for v in getattr(spec, key))
        init, n = re.subn(rf"\n    {key}=np\.array\(\[[^\]]*\]\),",
                          f"\n    {key}=np.array([{values}]),", init)
        assert n == 1, key
    q0 = spec.q0.copy()
    q0[0] += 0.05  # (a pose of the user's): the scenes follow after `robot rescene`
    values = ", ".join(repr(float(v)) for v in q0)
    init, n = re.subn(r"\n    q0=np\.array\(\[[^\]]*\]\),", f"\n    q0=np.array([{values}]),",
                      init)
    assert n == 1
    (pkg / "__init__.py").write_text(init)
    scenes = cli("robot", "rescene", name)["scenes"]
    for scene in scenes:
        m = mujoco.MjModel.from_xml_path(scene)
        key = m.key("home").qpos
        j = m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, spec.joint_names[0])]
        assert key[j] == pytest.approx(q0[0], abs=1e-5)
    run = cli("train", task, "--robot", name, "--iterations", "2", "--out",
              str(tmp_path / "run"), "--quiet")
    assert run["robot"] == name and run["env_steps"] > 0
    bundle = cli("export", str(tmp_path / "run" / "model.pt"), "--out",
                 str(tmp_path / "p.onnx"))
    assert bundle["robot"] == name
    s2s = cli("sim2sim", str(tmp_path / "p.onnx"), "--seeds", "--seconds", "3", "--out",
              str(tmp_path / "s2s"))
    assert s2s["robot"] == name
    report = (tmp_path / "s2s" / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| metric |"))
    assert "| sim |" in header and ("| env |" in header) == spec.floating_base
