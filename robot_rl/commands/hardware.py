"""`robot-rl hardware ...`: virtual devices, bus scans and arm calibration.

- ``virtual-bus --robot arm6 --protocol feetech|dynamixel``: a virtual servo chain on a pty in
  front of the arm's real-time MuJoCo plant; the first line of output is the device path.
- ``virtual-can --robot quad12``: four emulated slcan adapters (one per leg) with the 12 MIT
  motors of the quadruped's plant; the first line is the four device paths.
- ``scan --port PORT [--protocol P] [--baud B ...]``: which servo ids answer at which baud.
- ``calibrate --robot arm6 --port PORT``: record each joint's zero and range into a JSON file.

Both virtual devices serve until SIGINT / SIGTERM. Bad arguments (an id outside the protocols'
range, a baud rate the protocol does not support, a negative seed) end in one line naming the
argument and the valid values, exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import time
from pathlib import Path
from typing import Any

from hardware.errors import HardwareError
from hardware.servo import BUSES
from hardware.servo.calibration import JointCalibration, RobotCalibration
from hardware.servo.protocol import MODELS as SERVO_MODELS
from hardware.sim_plant import PerturbationFactory, SimPlant
from hardware.virtual.plant_can import mit_adapters
from hardware.virtual.plant_servo import bus_motors, virtual_servo_bus
from robot_rl.argtypes import float_at_least, int_in
from robot_rl.robots import get_robot
from robot_rl.robots.spec import RobotSpec
from robot_rl.runtime.signals import StopRequest
from sim2real.proxy import reality_proxy

PROTOCOLS = ("feetech", "dynamixel")
# servo ids both protocols can address: 0..252 (253 is reserved, 254 = 0xFE the broadcast id)
MAX_SERVO_ID = 252


def supported_bauds(protocol: str) -> tuple[int, ...]:
    """The baud rates the servos of ``protocol`` can be set to (their Baud_Rate tables)."""
    return tuple(sorted({b for m in SERVO_MODELS.values() if m.protocol == protocol
                         for b in m.baudrates.values()}))


def _proxy(args: argparse.Namespace) -> PerturbationFactory | None:
    """The plant's perturbation: the reality proxy of ``--proxy-seed``, if given."""
    return None if args.proxy_seed is None else reality_proxy(args.proxy_seed)


def _robot(name: str) -> RobotSpec:
    try:
        return get_robot(name)
    except KeyError as err:
        raise HardwareError(f"--robot: {err.args[0]}") from None


def _serve_until_signalled(close: Any) -> int:
    done = StopRequest()  # (a handler must not set a threading.Event: `robot_rl.runtime.signals`)
    done.on_signals(signal.SIGINT, signal.SIGTERM)
    try:
        done.wait()
    finally:
        close()
    return 0


def virtual_bus(args: argparse.Namespace) -> int:
    spec = _robot(args.robot)
    if not spec.hardware.servo_motors:
        raise HardwareError(f"virtual-bus emulates a servo chain; {spec.name} has none "
                            "(RobotHardware.servo_motors): use virtual-can for CAN motors")
    plant = SimPlant(args.robot, realtime=args.realtime, perturbation=_proxy(args)).start()
    bus = virtual_servo_bus(plant, args.protocol).start()
    print(bus.port, flush=True)

    def close() -> None:
        bus.close()
        plant.stop()

    return _serve_until_signalled(close)


def virtual_can(args: argparse.Namespace) -> int:
    spec = _robot(args.robot)
    if not spec.hardware.can_motors:
        raise HardwareError(f"virtual-can emulates CAN motors; {spec.name} has none "
                            "(RobotHardware.can_motors): use virtual-bus for servos")
    plant = SimPlant(args.robot, realtime=args.realtime, perturbation=_proxy(args)).start()
    adapters = [a.start() for a in mit_adapters(plant)]
    print(" ".join(a.port for a in adapters), flush=True)

    def close() -> None:
        for a in adapters:
            a.close()
        plant.stop()

    return _serve_until_signalled(close)


def scan(args: argparse.Namespace) -> int:
    protocols = [args.protocol] if args.protocol else list(PROTOCOLS)
    bauds: dict[str, list[int] | None] = {p: None for p in protocols}  # None: the usual ones
    if args.baud:
        for proto in protocols:
            bauds[proto] = [b for b in args.baud if b in supported_bauds(proto)]
        unknown = [b for b in args.baud if not any(b in (bauds[p] or ()) for p in protocols)]
        if unknown:
            valid = "; ".join(f"{p}: {', '.join(map(str, supported_bauds(p)))}"
                              for p in protocols)
            raise HardwareError(f"--baud {', '.join(map(str, unknown))}: not a baud rate "
                                f"{' or '.join(protocols)} servos support ({valid})")
        protocols = [p for p in protocols if bauds[p]]
    found: dict[str, Any] = {}
    for proto in protocols:
        res = BUSES[proto].scan_port(args.port, bauds[proto], range(args.max_id + 1))
        if res:
            found[proto] = {str(b): {str(i): m for i, m in ids.items()} for b, ids in res.items()}
    if not found:
        raise HardwareError(f"no servo answered on {args.port} ({', '.join(protocols)}, ids "
                         f"0..{args.max_id}); check the bus power and cable, the protocol "
                         "(--protocol) and the baud rate (--baud)")
    for proto, per_baud in found.items():
        for baud, ids in per_baud.items():
            print(f"{proto} @ {baud} baud: ids {', '.join(ids)} (model numbers "
                  f"{', '.join(str(m) for m in ids.values())})")
    print(json.dumps({"port": args.port, "found": found}))
    return 0


def calibrate(args: argparse.Namespace) -> int:
    """Zero = the pose the arm is in when asked (the middle of every joint's range); range =
    the extremes seen while the user moves each joint by hand (torque off), or with --yes the
    robot spec's joint limits around that zero."""
    spec = _robot(args.robot)
    motors = bus_motors(spec, args.protocol)
    bus = BUSES[args.protocol](motors, args.port)
    with bus:
        bus.open()
        bus.torque_enable(on=False)
        if not args.yes:
            input("Move every joint to the middle of its range, then press Enter... ")
        zero = bus.sync_read("Present_Position")
        lo, hi = dict(zero), dict(zero)
        if args.yes:
            for j, n in enumerate(spec.joint_names):
                lo[n] = zero[n] + int(spec.q_min[j] * 4096 / (2 * math.pi))
                hi[n] = zero[n] + int(spec.q_max[j] * 4096 / (2 * math.pi))
        else:
            print("Move each joint through its whole range; press Ctrl-C when done.")
            try:
                while True:
                    pos = bus.sync_read("Present_Position")
                    for n, p in pos.items():
                        lo[n], hi[n] = min(lo[n], p), max(hi[n], p)
                    time.sleep(0.02)
            except KeyboardInterrupt:
                pass
    joints = {n: JointCalibration(motor_id=motors[n][0], homing_offset=int(zero[n]) - 2048,
                                  range_min=max(0, int(lo[n])), range_max=min(4095, int(hi[n])))
              for n in spec.joint_names}
    out = Path(args.out or f"calibration/{args.robot}.json")
    RobotCalibration(args.robot, joints).save(out)
    print(json.dumps({"calibration": str(out), "joints": {n: j.to_dict()
                                                          for n, j in joints.items()}}))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("hardware", help="virtual devices, bus scans, arm calibration")
    hw = p.add_subparsers(dest="hardware_command", metavar="ACTION", required=True)
    s = hw.add_parser("virtual-bus", help="virtual servo chain (arm6) on a pty; prints its path")
    s.add_argument("--robot", default="arm6")
    s.add_argument("--protocol", choices=PROTOCOLS, default="feetech")
    s.add_argument("--realtime", type=float_at_least(0.0), default=1.0,
                   help="sim s per wall s (1 = real time, 0 = free-running)")
    s.add_argument("--proxy-seed", type=int_in(0), help="serve the reality proxy of this "
                   "seed (sim2real/proxy.py) instead of the nominal model")
    s.set_defaults(func=virtual_bus)
    s = hw.add_parser("virtual-can", help="4 emulated slcan adapters with quad12's MIT motors")
    s.add_argument("--robot", default="quad12")
    s.add_argument("--realtime", type=float_at_least(0.0), default=1.0,
                   help="sim s per wall s (1 = real time, 0 = free-running)")
    s.add_argument("--proxy-seed", type=int_in(0), help="serve the reality proxy of this seed")
    s.set_defaults(func=virtual_can)
    s = hw.add_parser("scan", help="find the servo ids on a serial bus")
    s.add_argument("--port", required=True)
    s.add_argument("--protocol", choices=PROTOCOLS)
    s.add_argument("--baud", type=int_in(1), nargs="*", help="baud rates to try, ones the "
                   "protocol supports (default: the common ones)")
    s.add_argument("--max-id", type=int_in(0, MAX_SERVO_ID), default=20,
                   help=f"highest id to ping, 0..{MAX_SERVO_ID} (default 20)")
    s.set_defaults(func=scan)
    s = hw.add_parser("calibrate", help="record an arm's joint zeros and ranges (JSON)")
    s.add_argument("--robot", default="arm6")
    s.add_argument("--port", required=True)
    s.add_argument("--protocol", choices=PROTOCOLS, default="feetech")
    s.add_argument("--out", help="JSON path (default calibration/ROBOT.json)")
    s.add_argument("--yes", action="store_true", help="no prompts: the current pose is the "
                   "zero, the spec's limits the range")
    s.set_defaults(func=calibrate)


__all__ = ["add_parser"]
