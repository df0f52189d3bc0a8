"""Robot registry: name → `RobotSpec`.

A robot is one folder: ``robot_rl/robots/<name>/`` (its `RobotSpec` in ``__init__.py``, its
MJCF and scenes in ``assets/``, its deploy config in ``robot.yaml`` or
``configs/robots/<name>.yaml``), written by hand or by `robot-rl robot import`, plus one entry
in `ROBOTS` below. Robots kept outside this repository are found through the environment
variable ``ROBOT_RL_ROBOT_PATH`` (folders separated by ``os.pathsep``, like PYTHONPATH): every
sub-folder ``<name>/`` of one of them whose ``__init__.py`` defines ``<NAME>`` (a `RobotSpec`
named ``<name>``) is registered too, in every process (vector-env workers and ROS 2 nodes
inherit the variable). A name given twice is refused.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from robot_rl.robots.arm6 import ARM6
from robot_rl.robots.quad12 import QUAD12
from robot_rl.robots.spec import RobotSpec

ROBOTS: dict[str, RobotSpec] = {QUAD12.name: QUAD12, ARM6.name: ARM6}

PATH_VAR = "ROBOT_RL_ROBOT_PATH"


def _load_folder(pkg: Path) -> RobotSpec:
    """The `RobotSpec` ``<NAME>`` of robot folder ``pkg`` (ImportError naming the folder)."""
    name = pkg.name
    module_name = f"robot_rl_user_robots.{name}"
    spec_ = importlib.util.spec_from_file_location(module_name, pkg / "__init__.py",
                                                   submodule_search_locations=[str(pkg)])
    if spec_ is None or spec_.loader is None:
        raise ImportError(f"{PATH_VAR}: cannot load {pkg / '__init__.py'}")
    module = importlib.util.module_from_spec(spec_)
    sys.modules[module_name] = module
    spec_.loader.exec_module(module)
    robot = getattr(module, name.upper(), None)
    if not isinstance(robot, RobotSpec) or robot.name != name:
        raise ImportError(f"{PATH_VAR}: {pkg / '__init__.py'} must define {name.upper()}, a "
                          f"RobotSpec named '{name}' (as `robot-rl robot import` writes it)")
    return robot


def _discover() -> None:
    for entry in os.environ.get(PATH_VAR, "").split(os.pathsep):
        if not entry:
            continue
        root = Path(entry)
        if not root.is_dir():
            raise ImportError(f"{PATH_VAR}: {root} is not a folder")
        for pkg in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file()):
            robot = _load_folder(pkg)
            if robot.name in ROBOTS:
                raise ImportError(f"{PATH_VAR}: robot '{robot.name}' of {pkg} is registered "
                                  "already; rename one of them")
            ROBOTS[robot.name] = robot


_discover()


def get_robot(name: str) -> RobotSpec:
    """Look up a robot by name; an unknown name lists the known ones."""
    try:
        return ROBOTS[name]
    except KeyError:
        raise KeyError(f"unknown robot '{name}'; available robots: "
                       f"{', '.join(sorted(ROBOTS))} (a robot of your own: `robot-rl robot "
                       f"import`, then register it or put its folder's parent on "
                       f"{PATH_VAR})") from None


__all__ = ["PATH_VAR", "ROBOTS", "RobotSpec", "get_robot"]
