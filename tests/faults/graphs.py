"""Helpers of the fault tests that run the ROS 2 graph: configs and a graph in either mode;
the injection itself is `robot_rl_ros.inject` (shared with `robot-rl bench faults`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from robot_rl_ros.inject import bad_inputs, damped, publish, safety_mode, wait_for

from robot_rl.config import from_dict, to_dict
from robot_rl.deploy.config import DeployConfig
from robot_rl.safety.robot_config import CONFIG_DIR

MODES = ("in_process", "processes")
__all__ = ["MODES", "bad_inputs", "damped", "deploy_config", "publish", "robot_config",
           "safety_mode", "start", "wait_for"]


def robot_config(tmp_path: Path, robot: str = "quad12") -> Path:
    """The shipped robot config with the state watchdog at 250 ms: the fault tests run four
    processes on two cores beside the rest of the suite, and a state 50 ms late would latch
    damping before the fault under test is injected."""
    text = (CONFIG_DIR / f"{robot}.yaml").read_text()
    old = "state_watchdog, timeout_s: 0.05,"
    assert text.count(old) == 1
    path = tmp_path / f"{robot}_robot.yaml"
    path.write_text(text.replace(old, "state_watchdog, timeout_s: 0.25,"))
    return path


def deploy_config(tmp_path: Path, policy: Path, robot: str = "quad12", backend: str = "sim",
                  **over: Any) -> tuple[Path, DeployConfig]:
    """A deploy config for ``robot`` on ``backend`` (and its YAML file, for node processes)."""
    data: dict[str, Any] = {
        "robot": robot, "policy_path": str(policy), "robot_config": str(
            robot_config(tmp_path, robot)),
        "backend": {"kind": backend, **({"proxy_seed": 3} if backend == "proxy" else {})},
        "bridge": {"rate_hz": 500, "publish_every": 5, "soft_start_s": 0.2,
                   "shutdown_damp_s": 0.2, "max_command_age_s": 0.25},
        "run_s": 5.0, "script": [{"t": 0.0, "cmd": [0.0, 0.0, 0.0] if robot == "quad12"
                                  else [0.2, 0.0, 0.12]}]}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    cfg = from_dict(DeployConfig, data)
    path = tmp_path / f"{robot}_deploy.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return path, cfg


def start(mode: str, path: Path, cfg: DeployConfig, tmp_path: Path, **kw: Any) -> Any:
    """A started graph of ``mode`` (``in_process`` | ``processes``)."""
    from robot_rl_ros.graph import InProcessGraph, ProcessGraph

    if mode == "in_process":
        return InProcessGraph(cfg).start()
    return ProcessGraph(path, cfg, tmp_path / "nodes", watch_commands=True, **kw).start()
