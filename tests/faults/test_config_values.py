"""Configuration and CLI values that used to pass validation and switch safety off (or crash):
each is now refused at load time with a `ConfigError` naming the file, the key and the reason,
or, on the command line, one clear line and exit status 2 instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_rl.cli import main
from robot_rl.config import ConfigError
from robot_rl.deploy.config import load_deploy_config
from robot_rl.robots import get_robot
from robot_rl.safety.robot_config import load_robot_config

ROOT = Path(__file__).resolve().parents[2]
ROBOTS_DIR = ROOT / "configs" / "robots"
DEPLOY_DIR = ROOT / "configs" / "deploy"


def _variant(tmp_path: Path, shipped: Path, old: str, new: str) -> Path:
    """A copy of a shipped config with the text ``old`` (once in it) replaced by ``new``."""
    text = shipped.read_text()
    assert text.count(old) == 1, f"{old!r} not once in {shipped}"
    path = tmp_path / shipped.name
    path.write_text(text.replace(old, new))
    return path


def _refused(load: object, path: Path, *words: str) -> str:
    with pytest.raises(ConfigError) as err:
        load(path)  # type: ignore[operator]
    msg = str(err.value)
    assert str(path) in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


# -- robot configs: the safety chain -----------------------------------------------------------
def test_nan_joint_limit_margin_is_refused(tmp_path: Path) -> None:
    """``margin: .nan`` passed ``margin < 0`` and let a +10 rad target through."""
    path = _variant(tmp_path, ROBOTS_DIR / "quad12.yaml", "{type: joint_limits, margin: 0.05}",
                    "{type: joint_limits, margin: .nan}")
    _refused(load_robot_config, path, "safety.stages[7] (joint_limits)", "key 'margin'",
             ".nan is not a finite number")


def test_nan_state_watchdog_timeout_is_refused(tmp_path: Path) -> None:
    """``timeout_s: .nan`` passed ``timeout_s <= 0`` and kept a 10 s-old state ACTIVE."""
    path = _variant(tmp_path, ROBOTS_DIR / "quad12.yaml", "state_watchdog, timeout_s: 0.05,",
                    "state_watchdog, timeout_s: .nan,")
    _refused(load_robot_config, path, "(state_watchdog)", "key 'timeout_s'",
             "not a finite number")


@pytest.mark.parametrize(("value", "reason"), [
    (".nan", ".nan is not a finite number"),
    ("1000000.0", "scale must be > 0 and <= 2, got 1000000.0"),
])
def test_unbounded_rate_limit_scale_is_refused(tmp_path: Path, value: str, reason: str) -> None:
    """``scale: .nan`` or ``1e6`` removed the rate limit."""
    path = _variant(tmp_path, ROBOTS_DIR / "arm6.yaml", "{type: rate_limit, scale: 1.0}",
                    f"{{type: rate_limit, scale: {value}}}")
    _refused(load_robot_config, path, "safety.stages[7] (rate_limit)", reason)


def test_gain_beyond_the_robots_range_is_refused(tmp_path: Path) -> None:
    """A per-joint ``kp: 1e5`` (5000 x the nominal 20 N m/rad) was accepted, and it also raised
    the torque_limit stage's gain clamp, which is relative to the effective gains."""
    spec = get_robot("quad12")
    joints = "".join(f"  {j}: {{}}\n" for j in spec.joint_names[1:])
    path = _variant(tmp_path, ROBOTS_DIR / "quad12.yaml", "safety:\n",
                    f"joints:\n  {spec.joint_names[0]}: {{kp: 100000.0}}\n{joints}safety:\n")
    _refused(load_robot_config, path, f"joints.{spec.joint_names[0]}.kp", "100000.0",
             "beyond quad12's range [0, 100]")


def test_chain_with_only_a_soft_start_is_refused(tmp_path: Path) -> None:
    """A chain of one ``soft_start`` stage (no limits, no watchdogs, no e-stop) was accepted."""
    path = tmp_path / "soft_only.yaml"
    path.write_text("robot: quad12\nsafety:\n  stages:\n    - {type: soft_start}\n")
    msg = _refused(load_robot_config, path, "mandatory stage(s)", "missing")
    for stage in ("estop", "state_watchdog", "command_watchdog", "non_finite", "joint_limits",
                  "rate_limit", "torque_limit"):
        assert stage in msg


# -- deploy configs: the bridge and the script -------------------------------------------------
def test_infinite_bridge_command_timeout_is_refused(tmp_path: Path) -> None:
    """``command_timeout_s: .inf`` left the robot stiff forever after the safety node died."""
    path = _variant(tmp_path, DEPLOY_DIR / "quad12_proxy.yaml", "command_timeout_s: 0.1",
                    "command_timeout_s: .inf")
    _refused(load_deploy_config, path, "key 'bridge.command_timeout_s'", ".inf is not a finite")


def test_infinite_shutdown_damp_is_refused(tmp_path: Path) -> None:
    """``shutdown_damp_s: .inf`` raised OverflowError at shutdown and skipped the disconnect."""
    path = _variant(tmp_path, DEPLOY_DIR / "quad12_proxy.yaml", "shutdown_damp_s: 1.0",
                    "shutdown_damp_s: .inf")
    _refused(load_deploy_config, path, "key 'bridge.shutdown_damp_s'", ".inf is not a finite")


def test_long_bridge_timeouts_are_refused(tmp_path: Path) -> None:
    path = _variant(tmp_path, DEPLOY_DIR / "quad12_proxy.yaml", "command_timeout_s: 0.1",
                    "command_timeout_s: 30.0")
    _refused(load_deploy_config, path, "bridge.command_timeout_s must be in (0, 1.0] s")
    path = _variant(tmp_path, DEPLOY_DIR / "quad12_proxy.yaml", "shutdown_damp_s: 1.0",
                    "shutdown_damp_s: 3600.0")
    _refused(load_deploy_config, path, "bridge.shutdown_damp_s must be in [0, 10.0] s")


def test_script_step_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    """``cmd: [0.5]`` raised IndexError 3 s after activation, and no report was written."""
    path = _variant(tmp_path, DEPLOY_DIR / "quad12_proxy.yaml", "{t: 3.0, cmd: [0.5, 0.0, 0.0]}",
                    "{t: 3.0, cmd: [0.5]}")
    _refused(load_deploy_config, path, "script[1].cmd", "1 value(s)", "quad12 takes 3",
             "/cmd_vel")
    path = _variant(tmp_path, DEPLOY_DIR / "arm6_virtual_bus.yaml",
                    "{t: 4.0, cmd: [0.18, -0.10, 0.15]}", "{t: 4.0, cmd: [0.18, -0.10]}")
    _refused(load_deploy_config, path, "script[1].cmd", "arm6 takes 3", "/goal")
    path = _variant(tmp_path, DEPLOY_DIR / "arm6_virtual_bus.yaml",
                    "{t: 4.0, cmd: [0.18, -0.10, 0.15]}", "{t: -4.0, cmd: [0.18, -0.10, 0.15]}")
    _refused(load_deploy_config, path, "key 'script[1]'", "t must be >= 0")


# -- what ships still loads ----------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(ROBOTS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_robot_configs_load(path: Path) -> None:
    cfg = load_robot_config(path)
    kinds = {e["type"] for e in cfg.safety.stages}
    assert set(cfg.safety.MANDATORY) <= kinds


@pytest.mark.parametrize("path", sorted(DEPLOY_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_deploy_configs_load(path: Path) -> None:
    cfg = load_deploy_config(path)
    assert cfg.script and all(len(s.cmd) == 3 for s in cfg.script)
    load_robot_config(cfg.robot_config_path())


# -- command line --------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "words"), [
    (["hardware", "scan", "--port", "/dev/ttyNOPE0", "--max-id", "300"],
     ["--max-id", "must be in 0..252, got 300"]),
    (["hardware", "scan", "--port", "/dev/ttyNOPE0", "--max-id", "-1"],
     ["--max-id", "must be in 0..252"]),
    (["hardware", "scan", "--port", "/dev/ttyNOPE0", "--baud", "-5"],
     ["--baud", "must be >= 1, got -5"]),
    (["hardware", "scan", "--port", "/dev/ttyNOPE0", "--baud", "fast"],
     ["--baud", "expected an integer, got 'fast'"]),
    (["hardware", "scan", "--port", "/dev/ttyNOPE0", "--protocol", "feetech", "--baud",
      "12345"], ["--baud 12345", "not a baud rate feetech servos support", "1000000"]),
    (["hardware", "scan", "--port", "/dev/ttyNOPE0", "--baud", "1000000", "12345"],
     ["--baud 12345", "not a baud rate feetech or dynamixel servos support"]),
    (["hardware", "virtual-can", "--robot", "arm6", "--proxy-seed", "-1"],
     ["--proxy-seed", "must be >= 0, got -1"]),
    (["hardware", "virtual-bus", "--robot", "quad12", "--realtime", "nan"],
     ["--realtime", "finite number >= 0"]),
    (["hardware", "calibrate", "--robot", "arm7", "--port", "/dev/ttyNOPE0"],
     ["--robot", "unknown robot 'arm7'", "arm6"]),
    (["sim", "quad12-walk", "--steps", "-5"], ["--steps", "must be >= 1, got -5"]),
    (["bringup", "configs/deploy/quad12_proxy.yaml", "--duration", "inf"],
     ["--duration", "finite number > 0"]),
    (["eval", "x.onnx", "--task", "quad12-walk", "--episodes", "0"],
     ["--episodes", "must be >= 1"]),
    (["sysid", "excite", "--seconds", "-1", "--out", "x.npz"], ["--seconds", "> 0"]),
])
def test_bad_cli_arguments_end_in_one_clear_line(capsys: pytest.CaptureFixture[str],
                                                  args: list[str], words: list[str]) -> None:
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err
