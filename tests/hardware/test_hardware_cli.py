"""`robot-rl hardware`: virtual devices as separate processes, scan and calibrate over them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.servo.calibration import RobotCalibration

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robot_rl.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def virtual_bus() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "robot_rl.cli", "hardware", "virtual-bus",
                             "--robot", "arm6", "--protocol", "feetech"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/"), port
        yield port
    finally:
        proc.terminate()
        assert proc.wait(10) == 0  # SIGTERM: closes the pty and stops the plant cleanly


def test_scan_and_calibrate_over_a_virtual_bus_process(virtual_bus: str, tmp_path: Path) -> None:
    r = cli("hardware", "scan", "--port", virtual_bus, "--protocol", "feetech",
            "--baud", "1000000", "--max-id", "8")
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout.strip().splitlines()[-1])["found"]["feetech"]["1000000"]
    assert sorted(map(int, found)) == [1, 2, 3, 4, 5, 6] and set(found.values()) == {777}
    out = tmp_path / "arm6.json"
    r = cli("hardware", "calibrate", "--robot", "arm6", "--port", virtual_bus, "--yes",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    cal = RobotCalibration.load(out, robot="arm6")
    assert [j.motor_id for j in cal.joints.values()] == [1, 2, 3, 4, 5, 6]
    assert all(j.range_min < j.zero_ticks < j.range_max for j in cal.joints.values())


def test_bad_input_is_one_clear_line(virtual_bus: str) -> None:
    r = cli("hardware", "scan", "--port", "/dev/ttyNOPE0", "--protocol", "feetech")
    assert r.returncode == 2 and "/dev/ttyNOPE0" in r.stderr and "Traceback" not in r.stderr
    r = cli("hardware", "scan", "--port", virtual_bus, "--protocol", "dynamixel",
            "--baud", "57600", "--max-id", "3")
    assert r.returncode == 2 and "no servo answered" in r.stderr
    r = cli("hardware", "virtual-bus", "--robot", "quad12")
    assert r.returncode == 2 and "virtual-can" in r.stderr
