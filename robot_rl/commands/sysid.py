"""`robot-rl sysid ...`: system identification (`sim2real.sysid`).

- ``excite --robot R [--proxy-seed S] [--seconds T] --out LOG.npz``: the excitation experiment
  (robot on its stand, through its safety chain; `sim2real.experiment`) on the reality proxy
  of seed S (or the nominal sim without ``--proxy-seed``), logged at the control rate
  (`sim2real.log`: ``.npz`` or ``.mcap``).
- ``fit LOG.npz [--mass-kg M] [--out REPORT.json]``: identify the parameters; with a proxy
  log the report compares them with the proxy's own (`sim2real.report`). JSON summary last.
- ``actuator LOG.npz [--out DIR]``: an actuator network fitted on the log's delivered torque,
  against the ideal PD model on held-out data (`sim2real.actuator`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from robot_rl.argtypes import float_at_least, int_in
from sim2real.actuator import actuator_report
from sim2real.experiment import Payload, excite_proxy
from sim2real.linear_fit import WINDOW_S
from sim2real.log import SysIdLog
from sim2real.report import compare
from sim2real.sysid import fit as fit_log


def excite(args: argparse.Namespace) -> int:
    payload = None
    if args.payload_kg is not None:  # one per named link (a quadruped: one per calf)
        payload = [Payload(args.payload_kg, body, tuple(args.payload_pos))
                   for body in args.payload_body]
    log = excite_proxy(args.robot, args.proxy_seed, seconds=args.seconds, seed=args.seed,
                       amplitude=args.amplitude, speed=args.speed, payload=payload)
    path = log.save(args.out)
    print(json.dumps({"log": str(path), "robot": log.robot, "seconds": log.seconds,
                      "ticks": len(log.t), "control_dt": log.control_dt,
                      "source": log.meta.get("source"), "proxy_seed": args.proxy_seed}))
    return 0


def fit(args: argparse.Namespace) -> int:
    log = SysIdLog.load(args.log, args.robot)
    mass = args.mass_kg
    if mass is None and "total_mass_kg" in log.meta:
        mass = float(log.meta["total_mass_kg"])  # the proxy's weighing, recorded by excite
    payload_log = SysIdLog.load(args.payload_log, args.robot) if args.payload_log else None
    res = fit_log(log, total_mass_kg=mass, latencies=tuple(args.latencies),
                  progress=lambda m: print(m, file=sys.stderr), payload_log=payload_log,
                  anchor=args.anchor, inertia=args.inertia.replace("-", "_"),
                  window_s=WINDOW_S if args.window_s is None else args.window_s)
    out: dict[str, Any] = {"log": str(args.log), "robot": log.robot, **res.to_dict()}
    if "truth" in log.meta:
        out["against_proxy"] = compare(res.params, log.meta["truth"])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out))
    return 0


def actuator(args: argparse.Namespace) -> int:
    log = SysIdLog.load(args.log)
    report = actuator_report(log, train_fraction=args.train_fraction, seed=args.seed,
                             out=args.out)
    print(json.dumps(report))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sysid", help="system identification: excite the robot on its stand, "
                       "fit masses, joint damping / armature / friction, motor strength and "
                       "latency (JSON last)")
    ss = p.add_subparsers(dest="sysid_command", metavar="STEP", required=True)
    s = ss.add_parser("excite", help="run the excitation experiment and log it (.npz)")
    s.add_argument("--robot", default="quad12")
    s.add_argument("--proxy-seed", type=int_in(0), help="the reality proxy of this seed (default: "
                   "the nominal sim)")
    s.add_argument("--seconds", type=float_at_least(0.0, strict=True), default=120.0)
    s.add_argument("--seed", type=int, default=0, help="excitation seed")
    s.add_argument("--amplitude", type=float_at_least(0.0, strict=True), default=0.5,
                   help="peak, as a fraction of the distance to the nearer joint limit")
    s.add_argument("--speed", type=float_at_least(0.0, strict=True), default=0.5,
                   help="peak speed, as a fraction of the velocity limit")
    s.add_argument("--payload-kg", type=float_at_least(0.0, strict=True),
                   help="a known mass clamped to a link for this "
                   "run (a second log for `fit --payload-log`, which then sets the scale)")
    s.add_argument("--payload-body", nargs="+", default=["gripper"],
                   help="the link it is clamped to; several: one payload on each (quad12 on "
                   "its stand: FR_calf FL_calf RR_calf RL_calf, one anchor per leg)")
    s.add_argument("--payload-pos", type=float, nargs=3, default=[0.05, 0.0, 0.0],
                   metavar=("X", "Y", "Z"), help="its centre in the link's frame [m]")
    s.add_argument("--out", required=True, help="log path (.npz, or .mcap: ROS 2 messages)")
    s.set_defaults(func=excite)
    s = ss.add_parser("fit", help="identify the parameters from a log (JSON last)")
    s.add_argument("log", help="a log from `robot-rl sysid excite` (.npz or .mcap), or an MCAP "
                   "recording of the robot's /joint_states and /command")
    s.add_argument("--robot", help="the robot of an MCAP recording without /sysid/meta")
    s.add_argument("--mass-kg", type=float_at_least(0.0, strict=True),
                   help="the robot weighed [kg] (sets the absolute "
                   "scale; default: the log's recorded weighing, else the nominal mass)")
    s.add_argument("--latencies", type=int_in(0, 20), nargs="+", default=[0, 1, 2, 3],
                   help="candidate actuation latencies [physics ticks of 1 ms]")
    s.add_argument("--payload-log", help="a second log of the robot carrying a known payload "
                   "(`excite --payload-kg`): its known torques set the absolute scale")
    s.add_argument("--window-s", type=float_at_least(0.0),
                   help="every term of the equation averaged over "
                   "windows this long [s] (default 0.1): the sensor noise's bias out of the "
                   "accelerations (0: per control interval)")
    s.add_argument("--anchor", default="auto", choices=["auto", "mass", "strength", "payload"],
                   help="what sets the absolute scale (auto: payload if --payload-log, else "
                   "the weighing, or the motors' mean strength where gravity and link inertia "
                   "carry under 15 %% of the torque)")
    s.add_argument("--inertia", default="auto", choices=["auto", "global", "per-body"],
                   help="global: one mass scale for every moving link; per-body: per link its "
                   "mass scale and CoM offset (4 each, with a CAD-tolerance prior), anchored "
                   "by a payload log with one payload per leg; auto: per-body for a legged "
                   "robot with a payload log, else global")
    s.add_argument("--out", help="also write the report JSON here")
    s.set_defaults(func=fit)
    s = ss.add_parser("actuator", help="fit an actuator network (torque from the history of "
                      "position error and velocity) and compare it with the ideal PD model "
                      "on held-out data (JSON last)")
    s.add_argument("log", help="a log with delivered torque (`sysid excite` on the proxy)")
    s.add_argument("--train-fraction", type=float, default=0.75)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="write actuator_net.onnx and actuator_report.json here")
    s.set_defaults(func=actuator)
