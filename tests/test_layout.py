"""Project rules from DESIGN.md, enforced: nothing outside ros_ws/ imports rclpy, and the
deploy path (runtime, safety, control, hardware) never imports torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ["robot_rl", "sim2real", "hardware", "benchmarks"]
DEPLOY = ["robot_rl/runtime", "robot_rl/safety", "robot_rl/control", "hardware"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _offenders(dirs: list[str], module: str) -> list[str]:
    bad = []
    for d in dirs:
        for path in sorted((ROOT / d).rglob("*.py")):
            if module in _imports(path):
                bad.append(str(path.relative_to(ROOT)))
    return bad


def test_no_rclpy_outside_ros_ws() -> None:
    assert _offenders(CORE + ["tests"], "rclpy") == [], "rclpy imported outside ros_ws/"


def test_no_torch_on_deploy_path() -> None:
    assert _offenders(DEPLOY, "torch") == [], "torch imported on the deploy path"


def test_the_checker_catches_an_import(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from rclpy.node import Node\n    return Node\n")
    assert "rclpy" in _imports(bad)


@pytest.mark.parametrize("module", ["robot_rl.runtime.obs", "robot_rl.runtime.policy",
                                    "robot_rl.control", "robot_rl.safety",
                                    "robot_rl.robots.mjstate", "robot_rl.envs"])
def test_importing_core_loads_neither_rclpy_nor_torch(module: str) -> None:
    code = (f"import sys, {module}; "
            "bad = [m for m in ('rclpy', 'torch') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"{module} pulled in {proc.stdout.strip()} {proc.stderr[-500:]}"
