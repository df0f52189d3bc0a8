"""Project rules from DESIGN.md checked at run time (the import contracts of pyproject.toml,
run by `make test` through `lint-imports`, check the static imports): importing the core or
the deploy path loads neither rclpy nor torch, whatever their imports do on the way."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["robot_rl.runtime.obs", "robot_rl.runtime.policy",
                                    "robot_rl.runtime.controller", "robot_rl.control",
                                    "robot_rl.safety", "robot_rl.robots.mjstate",
                                    "robot_rl.envs", "hardware.bridge", "robot_rl.deploy.loop",
                                    "robot_rl.deploy.build"])
def test_importing_core_loads_neither_rclpy_nor_torch(module: str) -> None:
    code = (f"import sys, {module}; "
            "bad = [m for m in ('rclpy', 'torch') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"{module} pulled in {proc.stdout.strip()} {proc.stderr[-500:]}"


def test_a_deployment_off_can_does_not_load_python_can() -> None:
    """python-can costs a deploy process ~10 MB resident (it drags in sqlite3, email, wrapt):
    only the CAN backends load it, when they are opened."""
    code = ("import sys; import robot_rl.deploy.loop, robot_rl.deploy.backends as b, "
            "hardware.virtual.plant_servo; from robot_rl.deploy.config import BackendConfig; "
            "be = b.open_backend('quad12', BackendConfig(kind='sim')); be.close(); "
            "print('can' in sys.modules); sys.exit(1 if 'can' in sys.modules else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"python-can loaded: {proc.stdout.strip()} {proc.stderr[-500:]}"
