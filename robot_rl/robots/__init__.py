"""Robot registry: name → `RobotSpec`. Adding a robot = one MJCF + one spec module + one entry."""

from __future__ import annotations

from robot_rl.robots.arm6 import ARM6
from robot_rl.robots.quad12 import QUAD12
from robot_rl.robots.spec import RobotSpec

ROBOTS: dict[str, RobotSpec] = {QUAD12.name: QUAD12, ARM6.name: ARM6}


def get_robot(name: str) -> RobotSpec:
    """Look up a robot by name; an unknown name lists the known ones."""
    try:
        return ROBOTS[name]
    except KeyError:
        raise KeyError(f"unknown robot '{name}'; available robots: "
                       f"{', '.join(sorted(ROBOTS))}") from None


__all__ = ["ROBOTS", "RobotSpec", "get_robot"]
