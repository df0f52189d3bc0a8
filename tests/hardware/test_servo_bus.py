"""Servo bus drivers against the virtual servo chain, through a real pty at 1 Mbaud;
and the vendors' own clients (dynamixel_sdk, scservo_sdk) against the same virtual bus."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dynamixel_sdk as dxl
import pytest
import scservo_sdk as scs

from hardware.servo.bus import (
    ChecksumError,
    DynamixelBus,
    FeetechBus,
    MissingMotorsError,
    MotorBus,
    MotorError,
    MotorHardwareError,
    MotorStatusError,
    MotorTimeoutError,
    NoResponseError,
    PortError,
)
from hardware.virtual.servo_bus import FirstOrderBackend, VirtualServoBus

BAUD = 1_000_000
MODELS = {"dynamixel": ("xl430-w250", "xm430-w350"), "feetech": ("sts3215", "sts3215")}
BUSES: dict[str, type[MotorBus]] = {"dynamixel": DynamixelBus, "feetech": FeetechBus}
Rig = tuple[VirtualServoBus, MotorBus, FirstOrderBackend]


def _eventually(check: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def _motors(protocol: str) -> dict[str, tuple[int, str]]:
    a, b = MODELS[protocol]
    return {"shoulder": (1, a), "elbow": (2, b), "wrist": (3, a)}


@pytest.fixture(params=["dynamixel", "feetech"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    protocol = request.param
    motors = _motors(protocol)
    backend = FirstOrderBackend([1, 2, 3], tau_s=0.02, initial_ticks=2048)
    with VirtualServoBus(protocol, {i: m for i, m in motors.values()}, backend) as virtual:
        # 50 ms per status packet: generous, so a loaded CI machine does not cause retries
        bus = BUSES[protocol](motors, virtual.port, BAUD, timeout_s=0.05, retries=2)
        bus.open()
        yield virtual, bus, backend
        bus.close()


def test_ping_scan_and_missing_id(rig: Rig) -> None:
    _, bus, _ = rig
    spec = bus.motors["elbow"][1]
    assert bus.ping("elbow") == spec.model_number
    bus.reset_stats()
    found = bus.scan(range(1, 6))
    assert sorted(found) == [1, 2, 3]
    assert found[2] == spec.model_number
    assert bus.stats.timeouts == 2  # ids 4 and 5 timed out cleanly, once each
    with pytest.raises(MotorTimeoutError, match="motor 9, register PING"):
        bus.ping(9, retries=0)


def test_read_write_and_motion(rig: Rig) -> None:
    virtual, bus, backend = rig
    assert bus.read("Present_Position", "shoulder") == 2048
    bus.write("Torque_Enable", "shoulder", 1)
    assert virtual.register(1, "Torque_Enable") == 1 and backend.torque[1]
    bus.write("Goal_Position", "shoulder", 3000)
    assert bus.read("Goal_Position", 1) == 3000
    assert _eventually(lambda: abs(bus.read("Present_Position", "shoulder") - 3000) <= 2)
    backend.set_position(2, 1234)  # moved by hand, torque off
    assert bus.read("Present_Position", "elbow") == 1234
    assert bus.read("Present_Temperature", "wrist") == 30
    with pytest.raises(ValueError, match="read-only"):
        bus.write("Present_Position", "elbow", 5)


def test_sync_read_write_and_torque(rig: Rig) -> None:
    virtual, bus, backend = rig
    assert bus.sync_read("Present_Position") == {"shoulder": 2048, "elbow": 2048, "wrist": 2048}
    bus.torque_enable()
    assert all(backend.torque.values())
    assert [virtual.register(i, "Torque_Enable") for i in (1, 2, 3)] == [1, 1, 1]
    goals = {"shoulder": 1000, "elbow": 2500, "wrist": 3900}
    sent = bus.stats.packets_sent
    bus.sync_write("Goal_Position", goals)
    assert bus.stats.packets_sent == sent + 1  # one packet for all three motors
    assert bus.sync_read("Goal_Position") == goals
    assert _eventually(lambda: all(abs(v - goals[k]) <= 2 for k, v in
                                   bus.sync_read("Present_Position").items()))
    assert bus.sync_read("Present_Position", [3, 1]).keys() == {3, 1}
    bus.torque_enable(["elbow"], on=False)
    assert backend.torque == {1: True, 2: False, 3: True}
    assert bus.stats.last_rtt_s > 0


def test_retry_after_a_dropped_reply(rig: Rig) -> None:
    virtual, bus, _ = rig
    virtual.drop_replies(2, count=1)
    bus.reset_stats()
    assert bus.read("Present_Position", "elbow") == 2048
    assert (bus.stats.retries, bus.stats.timeouts) == (1, 1)
    virtual.drop_replies(3, count=1)
    bus.reset_stats()
    assert bus.sync_read("Present_Position")["wrist"] == 2048
    assert (bus.stats.retries, bus.stats.timeouts) == (1, 1)


def test_bad_checksum_is_retried_then_reported(rig: Rig) -> None:
    virtual, bus, _ = rig
    virtual.corrupt_replies(1, count=1)
    bus.reset_stats()
    assert bus.read("Present_Position", "shoulder") == 2048
    assert (bus.stats.checksum_errors, bus.stats.retries) == (1, 1)
    virtual.corrupt_replies(1)
    with pytest.raises(ChecksumError, match=r"motor 1 \(shoulder\), register Present_Position"):
        bus.read("Present_Position", "shoulder")
    assert bus.stats.checksum_errors == 1 + 3


def test_a_motor_that_disappears(rig: Rig) -> None:
    virtual, bus, _ = rig
    assert bus.read("Present_Position", "elbow") == 2048
    virtual.disconnect(2)
    with pytest.raises(MotorTimeoutError, match=r"motor 2 \(elbow\), register Present_Position"
                       ) as info:
        bus.read("Present_Position", "elbow")  # raises: never the last value it read
    assert info.value.motor_id == 2 and "after 3 attempts" in str(info.value)
    with pytest.raises(MotorTimeoutError, match="motor 2"):
        bus.sync_read("Present_Position")
    virtual.reconnect()
    assert bus.sync_read("Present_Position")["elbow"] == 2048


def test_late_reply_beyond_timeout_then_recovery(rig: Rig) -> None:
    virtual, bus, backend = rig
    # Three attempts of 50 ms, each given-up one settling 100 ms before the next: the last
    # attempt waits from 300 to 350 ms. Each reply comes 600 ms after its request, well
    # after that window (a reply due at the start of the third attempt would be taken, as
    # the bus docstring says: nothing on the wire tells it apart).
    virtual.delay_replies(0.6, ids=1)
    t0 = time.monotonic()
    with pytest.raises(MotorTimeoutError, match="motor 1"):
        bus.read("Present_Position", "shoulder")
    virtual.clear_faults()
    backend.set_position(1, 777)
    # the late replies (0.6-0.9 s after their requests) land in the input buffer, to be flushed
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    assert bus.read("Present_Position", "shoulder") == 777  # fresh, not the late 2048


def test_hardware_errors(rig: Rig) -> None:
    virtual, bus, backend = rig
    bus.torque_enable(["shoulder"])
    virtual.set_hardware_error(1, 0x20)  # overload
    assert not backend.torque[1] and virtual.register(1, "Torque_Enable") == 0
    with pytest.raises(MotorHardwareError, match=r"motor 1 \(shoulder\).*overload") as info:
        bus.read("Present_Position", "shoulder")
    assert info.value.bits == 0x20
    bus.raise_on_hardware_error = False
    assert bus.read("Present_Position", "shoulder") == 2048
    assert bus.hardware_alerts[1] and bus.stats.hardware_errors >= 1
    virtual.set_hardware_error(3, 0x04)  # overheating
    bus.raise_on_hardware_error = True
    with pytest.raises(MotorHardwareError, match="overheating"):
        bus.read("Present_Position", "wrist")
    virtual.set_hardware_error(3, 0)
    if isinstance(bus, DynamixelBus):
        assert bus.read("Hardware_Error_Status", "shoulder") == 0x20
        bus.reboot("shoulder")
        assert virtual.register(1, "Hardware_Error_Status") == 0
    else:
        virtual.set_hardware_error(1, 0)
    bus.torque_enable(["shoulder", "wrist"])
    assert backend.torque[1] and backend.torque[3]


def test_open_errors() -> None:
    motors = _motors("feetech")
    with pytest.raises(PortError, match=r"/dev/ttyNOPE9 does not exist.*robot-rl hardware scan"):
        FeetechBus(motors, "/dev/ttyNOPE9").open()
    with VirtualServoBus("feetech", {1: "sts3215", 2: "sts3215", 3: "sts3215"}) as virtual:
        with pytest.raises(NoResponseError, match=r"at 115200 baud; expected ids 1 \(shoulder\), "
                           r"2 \(elbow\), 3 \(wrist\).*other baud rates"):
            FeetechBus(motors, virtual.port, 115_200, timeout_s=0.01).open()
        bus = FeetechBus(motors, virtual.port, BAUD)
        bus.open()
        with pytest.raises(PortError, match="busy"):
            FeetechBus(motors, virtual.port, BAUD).open()
        bus.close()
        with pytest.raises(MissingMotorsError, match=r"motor 7 \(gripper\) did not answer"):
            FeetechBus(motors | {"gripper": (7, "sts3215")}, virtual.port,
                       timeout_s=0.01).open()
    with VirtualServoBus("dynamixel", {1: "xm430-w350"}) as virtual:
        with pytest.raises(MissingMotorsError, match=r"model number 1020, expected xl430-w250"):
            DynamixelBus({"a": (1, "xl430-w250")}, virtual.port).open()
        assert DynamixelBus.scan_port(virtual.port, [57_600, BAUD], range(3)) == {BAUD: {1: 1020}}
    assert not os.path.exists(virtual.port)  # the pty is gone after close()
    with pytest.raises(ValueError, match="share id 1"):
        DynamixelBus({"a": (1, "xl430-w250"), "b": (1, "xl430-w250")})
    with pytest.raises(ValueError, match="unknown dynamixel model 'sts3215'"):
        DynamixelBus({"a": (1, "sts3215")})


def test_dynamixel_status_errors_and_byte_stuffing() -> None:
    with VirtualServoBus("dynamixel", {1: "xl430-w250"}) as virtual:
        bus = DynamixelBus({"a": (1, "xl430-w250")}, virtual.port, timeout_s=0.02)
        bus.open()
        with pytest.raises(MotorStatusError, match="data limit error"):
            bus.write("Goal_Position", "a", 5000)  # beyond Max_Position_Limit 4095
        bus.write("Torque_Enable", "a", 1)
        with pytest.raises(MotorStatusError, match="access error"):
            bus.write("Max_Position_Limit", "a", 3000)  # EEPROM is locked with torque on
        # FF FF FD inside the parameters travels stuffed both ways
        bus.write("Profile_Velocity", "a", 0x00FDFFFF)
        assert virtual.register(1, "Profile_Velocity") == 0x00FDFFFF
        assert bus.read("Profile_Velocity", "a") == 0x00FDFFFF
        bus.close()


def test_dynamixel_sdk_talks_to_the_virtual_bus() -> None:
    with VirtualServoBus("dynamixel", {1: "xl430-w250", 2: "xm430-w350"}) as virtual:
        port = dxl.PortHandler(virtual.port)
        assert port.openPort() and port.setBaudRate(BAUD)
        ph = dxl.PacketHandler(2.0)
        try:
            assert ph.ping(port, 1) == (1060, dxl.COMM_SUCCESS, 0)
            assert ph.ping(port, 2)[0] == 1020
            assert ph.ping(port, 5)[1] == dxl.COMM_RX_TIMEOUT
            assert ph.write1ByteTxRx(port, 1, 64, 1) == (dxl.COMM_SUCCESS, 0)
            assert ph.write4ByteTxRx(port, 1, 116, 3000) == (dxl.COMM_SUCCESS, 0)
            assert ph.read4ByteTxRx(port, 1, 116) == (3000, dxl.COMM_SUCCESS, 0)
            assert _eventually(lambda: abs(ph.read4ByteTxRx(port, 1, 132)[0] - 3000) <= 2)
            group = dxl.GroupSyncRead(port, ph, 132, 4)
            assert group.addParam(1) and group.addParam(2)
            assert group.txRxPacket() == dxl.COMM_SUCCESS
            assert abs(group.getData(1, 132, 4) - 3000) <= 2 and group.getData(2, 132, 4) == 2048
            writer = dxl.GroupSyncWrite(port, ph, 116, 4)
            writer.addParam(1, list((1500).to_bytes(4, "little")))
            writer.addParam(2, list((2500).to_bytes(4, "little")))
            assert writer.txPacket() == dxl.COMM_SUCCESS
            assert _eventually(lambda: virtual.register(2, "Goal_Position") == 2500)
            assert virtual.register(1, "Goal_Position") == 1500
        finally:
            port.closePort()


def test_scservo_sdk_talks_to_the_virtual_bus() -> None:
    with VirtualServoBus("feetech", {1: "sts3215", 2: "sts3215"}) as virtual:
        port = scs.PortHandler(virtual.port)
        assert port.openPort() and port.setBaudRate(BAUD)
        ph = scs.PacketHandler(0)
        try:
            assert ph.ping(port, 1) == (777, scs.COMM_SUCCESS, 0)
            assert ph.ping(port, 4)[1] == scs.COMM_RX_TIMEOUT
            assert ph.write1ByteTxRx(port, 2, 40, 1) == (scs.COMM_SUCCESS, 0)
            assert ph.write2ByteTxRx(port, 2, 42, 1000) == (scs.COMM_SUCCESS, 0)
            assert ph.read2ByteTxRx(port, 2, 42) == (1000, scs.COMM_SUCCESS, 0)
            assert _eventually(lambda: abs(ph.read2ByteTxRx(port, 2, 56)[0] - 1000) <= 2)
            group = scs.GroupSyncRead(port, ph, 56, 2)
            assert group.addParam(1) and group.addParam(2)
            assert group.txRxPacket() == scs.COMM_SUCCESS
            assert group.getData(1, 56, 2) == 2048
            assert abs(group.getData(2, 56, 2) - 1000) <= 2
            virtual.set_hardware_error(1, 0x20)
            assert ph.read2ByteTxRx(port, 1, 56)[2] == 0x20  # overload bit in the ERROR byte
        finally:
            port.closePort()


def test_unplugged_adapter_is_a_clear_error() -> None:
    virtual = VirtualServoBus("feetech", {1: "sts3215"}).start()
    bus = FeetechBus({"a": (1, "sts3215")}, virtual.port, timeout_s=0.02)
    bus.open()
    virtual.close()  # the pty goes away under the open port
    with pytest.raises(PortError, match=f"{virtual.port} failed.*unplugged"):
        bus.read("Present_Position", "a")
    assert not bus.is_open


def test_cli_process_serves_a_chain() -> None:
    cmd = [sys.executable, "-m", "hardware.virtual", "servo-bus", "--protocol", "dynamixel",
           "--motors", "1:xl430-w250", "4:xm430-w350"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        with DynamixelBus({"a": (1, "xl430-w250"), "b": (4, "xm430-w350")}, port) as bus:
            assert bus.ping("b") == 1020
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_errors_name_motor_register_and_cause() -> None:
    err = MotorError(4, "Goal_Position", "no status packet within 20 ms", "elbow")
    assert str(err) == "motor 4 (elbow), register Goal_Position: no status packet within 20 ms"
    assert (err.motor_id, err.register) == (4, "Goal_Position")
