"""Virtual devices stand-alone, each on a pty whose path is printed first, served until
Ctrl-C / SIGTERM (bench-top driver work without a robot; `robot-rl hardware virtual-bus` /
``virtual-can`` put a robot's simulated plant behind them instead):

    python -m hardware.virtual servo-bus --protocol dynamixel --motors 1:xl430-w250 4:xm430-w350
    python -m hardware.virtual slcan --ids 1 2 3 --preset ak80-9
"""

from __future__ import annotations

import argparse
import signal
from typing import Any

from hardware.can.mit import DEFAULT_LIMITS, PRESETS
from hardware.servo import protocol as sp
from hardware.virtual.servo_bus import VirtualServoBus
from hardware.virtual.slcan import VirtualSlcanAdapter


def _serve(device: Any, port: str) -> None:
    signal.signal(signal.SIGTERM, lambda *_: device.close())
    print(port, flush=True)
    try:
        device.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        device.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hardware.virtual",
                                 description="a virtual device on a pty; prints its path")
    sub = ap.add_subparsers(dest="device", required=True)
    s = sub.add_parser("servo-bus", help="a Dynamixel / Feetech servo chain")
    s.add_argument("--protocol", choices=sorted(sp.PROTOCOLS), default="feetech")
    s.add_argument("--motors", nargs="+", default=["1:sts3215"], metavar="ID:MODEL",
                   help="motors on the chain, e.g. 1:sts3215 2:sts3215")
    c = sub.add_parser("slcan", help="an slcan USB-CAN adapter with MIT motors behind it")
    c.add_argument("--ids", type=int, nargs="+", default=[1, 2, 3], help="motor CAN ids")
    c.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="MIT ranges of every motor")
    c.add_argument("--bitrate", type=int, default=1_000_000, help="motors' bus bitrate, bit/s")
    args = ap.parse_args(argv)
    if args.device == "servo-bus":
        try:
            motors = {int(i): m for i, m in (spec.split(":", 1) for spec in args.motors)}
            bus = VirtualServoBus(args.protocol, motors)
        except ValueError as exc:
            ap.error(str(exc))
        _serve(bus, bus.port)
    else:
        limits = PRESETS.get(args.preset, DEFAULT_LIMITS)
        adapter = VirtualSlcanAdapter(dict.fromkeys(args.ids, limits), bitrate=args.bitrate)
        _serve(adapter, adapter.port)


if __name__ == "__main__":
    main()
