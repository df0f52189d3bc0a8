"""`robot-rl robot import NAME --mjcf FILE [--out DIR] [--imu-site S] [--ee-site S]`: write
a robot's package from its MuJoCo model (`robot_rl.robots.importer`); JSON summary last (the
package, the registry line to add, and every placeholder to check). `robot-rl robot rescene
NAME`: its scenes again, after its q0 changed."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from robot_rl.robots import ROBOTS, get_robot
from robot_rl.robots.importer import (
    RobotImportError,
    describe_mjcf,
    rewrite_scenes,
    write_robot,
)

ROBOTS_DIR = Path(__file__).resolve().parents[1] / "robots"


def import_robot(args: argparse.Namespace) -> int:
    if args.name in ROBOTS:
        raise RobotImportError(f"robot '{args.name}' is already registered; choose another "
                               "name")
    draft = describe_mjcf(args.mjcf, args.name)
    overrides = {k: v for k, v in (("imu_site", args.imu_site), ("ee_site", args.ee_site))
                 if v is not None}
    draft.spec = dataclasses.replace(draft.spec, **overrides)
    pkg = write_robot(draft, Path(args.out) if args.out else ROBOTS_DIR)
    var, spec = args.name.upper(), draft.spec
    print(json.dumps({
        "robot": args.name, "package": str(pkg), "joints": list(spec.joint_names),
        "floating_base": spec.floating_base, "feet": list(spec.feet),
        "imu_site": spec.imu_site, "ee_site": spec.ee_site,
        "register": [f"from robot_rl.robots.{args.name} import {var}",
                     f"ROBOTS[{var}.name] = {var}  # in robot_rl/robots/__init__.py"],
        "check": draft.notes}))
    return 0


def rescene(args: argparse.Namespace) -> int:
    scenes = rewrite_scenes(get_robot(args.name))
    print(json.dumps({"robot": args.name, "scenes": [str(p) for p in scenes]}))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("robot", help="bring your own robot: write its package from a model "
                       "file (JSON last)")
    ss = p.add_subparsers(dest="robot_command", metavar="STEP", required=True)
    s = ss.add_parser("import", help="a robot package (spec + assets) from an MJCF file")
    s.add_argument("name", help="registry name (lower case identifier), e.g. go2")
    s.add_argument("--mjcf", required=True, help="the robot's (or its scene's) MJCF file; its "
                   "folder (meshes) is copied")
    s.add_argument("--out", help="where the package goes (default: robot_rl/robots/)")
    s.add_argument("--imu-site", help="the IMU site, where the name search is ambiguous")
    s.add_argument("--ee-site", help="the end-effector site, where the name search is ambiguous")
    s.set_defaults(func=import_robot)
    s = ss.add_parser("rescene", help="write an imported robot's scenes again (their home "
                      "keyframe follows its spec's q0, after you changed it)")
    s.add_argument("name", help="a registered robot written by `robot-rl robot import`")
    s.set_defaults(func=rescene)


__all__ = ["add_parser", "import_robot"]
