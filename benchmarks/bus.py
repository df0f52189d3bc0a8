"""bus: motor-bus cycles through the real drivers against the virtual devices, each device in
its own process (`robot-rl hardware virtual-bus` / `virtual-can`), as on a robot.

- arm6: one cycle = SYNC_READ of the 6 present positions, SYNC_READ of the 6 present
  velocities, SYNC_WRITE of 6 goal positions, at 1 Mbaud on a pty (Feetech STS and
  Dynamixel Protocol 2.0).
- quad12: one cycle = 12 MIT command frames and their 12 replies over 4 slcan adapters (one
  per leg, 1 Mbit/s CAN behind each), through python-can's slcan interface.

Reports p50 / p99 cycle time [ms] and cycles/s (1 / mean). Goals (issue #7): arm6 ≥ 200
cycles/s, quad12 ≥ 500 cycles/s.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hardware.can.link import CanBusConfig
from hardware.can.mit import MitCommand
from hardware.can.multi import MultiCanBus
from hardware.servo import BUSES
from hardware.virtual.plant_can import can_layout
from hardware.virtual.plant_servo import bus_motors
from robot_rl.robots import get_robot

ROOT = Path(__file__).resolve().parents[1]


def _device(*args: str) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "robot_rl.cli", "hardware", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line:
        proc.kill()
        raise RuntimeError(f"virtual device {args} did not start")
    return proc, line


def _stats(times: np.ndarray) -> dict[str, float]:
    ms = times * 1e3
    return {"cycles": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "cycles_per_s": round(float(1.0 / times.mean()), 1)}


def arm6(protocol: str, n: int) -> dict[str, Any]:
    proc, (port,) = _device("virtual-bus", "--robot", "arm6", "--protocol", protocol)
    bus = BUSES[protocol](bus_motors(get_robot("arm6"), protocol), port)
    times = np.zeros(n)
    try:
        bus.open()
        goals = bus.sync_read("Present_Position")
        for k in range(n):
            t0 = time.perf_counter()
            bus.sync_read("Present_Position")
            bus.sync_read("Present_Velocity")
            bus.sync_write("Goal_Position", goals)
            times[k] = time.perf_counter() - t0
        stats = bus.stats
        out = _stats(times)
        out.update({"baudrate": 1_000_000, "retries": stats.retries, "timeouts": stats.timeouts})
        return out
    finally:
        bus.close()
        proc.terminate()
        proc.wait(10)


def quad12(n: int) -> dict[str, Any]:
    spec = get_robot("quad12")
    proc, ports = _device("virtual-can", "--robot", "quad12")
    slots = can_layout(spec)
    specs = [(CanBusConfig("slcan", p), {spec.joint_names[s.joint]: (s.can_id, s.limits)
                                         for s in slots if s.bus == b})
             for b, p in enumerate(ports)]
    bus = MultiCanBus.open(specs, timeout=0.01)
    times = np.zeros(n)
    try:
        bus.enable()
        cmds = {name: MitCommand(float(spec.q0[j]), 0.0, float(spec.kp[j]), float(spec.kd[j]),
                                 0.0) for j, name in enumerate(spec.joint_names)}
        for k in range(n):
            t0 = time.perf_counter()
            bus.command(cmds)
            times[k] = time.perf_counter() - t0
        return {**_stats(times), "motors": 12, "buses": len(ports)}
    finally:
        bus.close()
        proc.terminate()
        proc.wait(10)


def run(quick: bool = False, n: int = 2000) -> dict[str, Any]:
    n = 100 if quick else n
    out: dict[str, Any] = {"benchmark": "bus"}
    out["arm6_feetech"] = arm6("feetech", n)
    out["arm6_dynamixel"] = arm6("dynamixel", n)
    out["quad12_can"] = quad12(n)
    out["goals"] = {"arm6_cycles_per_s": 200, "quad12_cycles_per_s": 500}
    out["pass"] = bool(min(out["arm6_feetech"]["cycles_per_s"],
                           out["arm6_dynamixel"]["cycles_per_s"]) >= 200
                       and out["quad12_can"]["cycles_per_s"] >= 500)
    return out
