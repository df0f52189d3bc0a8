"""Servo packet codecs (hand-worked bytes from the ROBOTIS e-manual and Feetech docs),
byte stuffing, CRC / checksum, register encodings, and joint calibration (no I/O)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from dynamixel_sdk import protocol2_packet_handler as dxl_ph
from scservo_sdk import scservo_def

from hardware.servo.calibration import (
    CalibrationError,
    JointCalibration,
    RobotCalibration,
)
from hardware.servo.protocol import (
    BROADCAST_ID,
    CRC_TABLE,
    DYNAMIXEL,
    FEETECH,
    MODELS,
    PING,
    READ,
    REBOOT,
    STS_TABLE,
    SYNC_READ,
    SYNC_WRITE,
    WRITE,
    X_SERIES_TABLE,
    Packet,
    PacketParser,
    crc16,
    feetech_checksum,
    stuff,
    unstuff,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def le(value: int, n: int) -> bytes:
    return value.to_bytes(n, "little")


# --------------------------------------------------------------- Dynamixel 2.0
# Example packets of the ROBOTIS e-manual, Protocol 2.0 page.
DXL_INSTRUCTIONS = [
    ("ping id 1", 1, PING, b"", "FF FF FD 00 01 03 00 01 19 4E"),
    ("ping broadcast", BROADCAST_ID, PING, b"", "FF FF FD 00 FE 03 00 01 31 42"),
    ("read present position", 1, READ, DYNAMIXEL.read_params(132, 4),
     "FF FF FD 00 01 07 00 02 84 00 04 00 1D 15"),
    ("write goal position 512", 1, WRITE, DYNAMIXEL.write_params(116, le(512, 4)),
     "FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89"),
    ("reboot", 1, REBOOT, b"", "FF FF FD 00 01 03 00 08 2F 4E"),
    ("sync read ids 1 2", BROADCAST_ID, SYNC_READ, DYNAMIXEL.sync_read_params(132, 4, [1, 2]),
     "FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA"),
    ("sync write 150 / 170", BROADCAST_ID, SYNC_WRITE,
     DYNAMIXEL.sync_write_params(116, 4, {1: le(150, 4), 2: le(170, 4)}),
     "FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87"),
]
DXL_STATUSES = [
    ("ping reply XM430-W210 fw 38", 1, 0, h("06 04 26"),
     "FF FF FD 00 01 07 00 55 00 06 04 26 65 5D"),
    ("empty status", 1, 0, b"", "FF FF FD 00 01 04 00 55 00 A1 0C"),
    ("read reply 166", 1, 0, le(166, 4), "FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0"),
    ("read reply 2079", 2, 0, le(2079, 4), "FF FF FD 00 02 08 00 55 00 1F 08 00 00 BA BE"),
]


@pytest.mark.parametrize(("what", "motor_id", "instr", "params", "wire"), DXL_INSTRUCTIONS,
                         ids=[c[0] for c in DXL_INSTRUCTIONS])
def test_dynamixel_instruction_bytes(what: str, motor_id: int, instr: int, params: bytes,
                                     wire: str) -> None:
    assert DYNAMIXEL.instruction(motor_id, instr, params) == h(wire)
    (packet,) = PacketParser(DYNAMIXEL, status=False).feed(h(wire))
    assert packet == Packet(motor_id, instr, params, 0, True)


@pytest.mark.parametrize(("what", "motor_id", "error", "params", "wire"), DXL_STATUSES,
                         ids=[c[0] for c in DXL_STATUSES])
def test_dynamixel_status_bytes(what: str, motor_id: int, error: int, params: bytes,
                                wire: str) -> None:
    assert DYNAMIXEL.status(motor_id, error, params) == h(wire)
    (packet,) = PacketParser(DYNAMIXEL, status=True).feed(h(wire))
    assert (packet.motor_id, packet.error, packet.params, packet.valid) == (
        motor_id, error, params, True)


def test_crc_table_is_the_robotis_table() -> None:
    # first entries of the e-manual's table, and the SDK's table in full
    assert CRC_TABLE[:8] == (0x0000, 0x8005, 0x800F, 0x000A, 0x801B, 0x001E, 0x0014, 0x8011)
    assert CRC_TABLE[255] == 0x0202
    assert crc16(h("FF FF FD 00 01 03 00 01")) == 0x4E19
    assert crc16(b"") == 0


def test_stuffing_hand_worked() -> None:
    assert stuff(h("03 74 00 FF FF FD 00")) == h("03 74 00 FF FF FD FD 00")
    assert stuff(h("FF FF FD FD")) == h("FF FF FD FD FD")
    assert unstuff(h("03 74 00 FF FF FD FD 00")) == h("03 74 00 FF FF FD 00")
    # LEN counts the stuffed byte; the CRC is over the stuffed frame
    wire = DYNAMIXEL.instruction(1, WRITE, DYNAMIXEL.write_params(112, h("FF FF FD 00")))
    assert wire[:7] == h("FF FF FD 00 01 0A 00")
    assert wire[7:-2] == h("03 70 00 FF FF FD FD 00")
    assert crc16(wire[:-2]) == int.from_bytes(wire[-2:], "little")
    (packet,) = PacketParser(DYNAMIXEL, status=False).feed(wire)
    assert packet.params == h("70 00 FF FF FD 00") and packet.valid


def test_encoder_matches_the_robotis_sdk_on_random_packets() -> None:
    # dynamixel_sdk's own stuffing (addStuffing) and CRC (updateCRC) as the reference
    rng = random.Random(1)
    sdk = dxl_ph.Protocol2PacketHandler()
    stuffed_seen = 0
    for _ in range(300):
        params = bytes(rng.choice([0xFF, 0xFD, 0x00, rng.randrange(256)])
                       for _ in range(rng.randrange(0, 24)))
        motor_id, instr = rng.randrange(0, 253), rng.choice([READ, WRITE, SYNC_WRITE])
        n = len(params) + 3
        tx = [0xFF, 0xFF, 0xFD, 0x00, motor_id, n & 0xFF, n >> 8, instr, *params, 0, 0]
        ref = sdk.addStuffing(tx)
        total = (ref[5] | ref[6] << 8) + 7
        expected = bytes(ref[:total - 2]) + le(sdk.updateCRC(0, ref, total - 2), 2)
        ours = DYNAMIXEL.instruction(motor_id, instr, params)
        assert ours == expected, params.hex(" ")
        stuffed_seen += total - 7 != n
        (packet,) = PacketParser(DYNAMIXEL, status=False).feed(ours)
        assert packet.params == params and packet.valid
    assert stuffed_seen > 10


@pytest.mark.parametrize("protocol", [DYNAMIXEL, FEETECH], ids=["dynamixel", "feetech"])
def test_parser_resyncs_byte_by_byte_and_flags_corruption(protocol: object) -> None:
    proto = DYNAMIXEL if protocol is DYNAMIXEL else FEETECH
    rng = random.Random(2)
    frames = [proto.status(rng.randrange(1, 20), 0, bytes(rng.randrange(256) for _ in range(n)))
              for n in (0, 1, 2, 4, 9)]
    stream = b"\x00\xff\x13" + b"".join(frames)
    parser = PacketParser(proto, status=True)
    got = [p for byte in stream for p in parser.feed(bytes([byte]))]
    assert [p.valid for p in got] == [True] * len(frames)
    assert [proto.status(p.motor_id, p.error, p.params) for p in got] == frames
    bad = bytearray(frames[3])
    bad[-1] ^= 0x01
    (packet,) = PacketParser(proto, status=True).feed(bytes(bad))
    assert not packet.valid
    assert parser.pending == 0


def test_dynamixel_status_parser_skips_instruction_packets() -> None:
    parser = PacketParser(DYNAMIXEL, status=True)
    stream = DYNAMIXEL.instruction(1, PING) + DYNAMIXEL.status(1, 0x80, b"")
    (packet,) = parser.feed(stream)
    assert packet.error == 0x80


# --------------------------------------------------------------------- Feetech
def test_feetech_hand_worked_packets() -> None:
    # ping id 1: ~(01 + 02 + 01) = ~0x04 = 0xFB
    assert FEETECH.instruction(1, PING) == h("FF FF 01 02 01 FB")
    assert FEETECH.status(1, 0) == h("FF FF 01 02 00 FC")
    # read Present_Position (56 = 0x38), 2 bytes: ~(01+04+02+38+02) = ~0x41 = 0xBE
    assert FEETECH.instruction(1, READ, FEETECH.read_params(56, 2)) == h("FF FF 01 04 02 38 02 BE")
    # write Goal_Position (42 = 0x2A) = 2048 = 00 08: ~(01+05+03+2A+00+08) = ~0x3B = 0xC4
    wire = FEETECH.instruction(1, WRITE, FEETECH.write_params(42, le(2048, 2)))
    assert wire == h("FF FF 01 05 03 2A 00 08 C4")
    # sync write ids 1, 2 Goal_Position 1000 / 3000: LEN = 2*3 + 4 = 0x0A
    wire = FEETECH.instruction(BROADCAST_ID, SYNC_WRITE, FEETECH.sync_write_params(
        42, 2, {1: le(1000, 2), 2: le(3000, 2)}))
    assert wire[:7] == h("FF FF FE 0A 83 2A 02")
    assert wire[7:-1] == h("01 E8 03 02 B8 0B")
    assert wire[-1] == feetech_checksum(wire[2:-1])
    assert FEETECH.unpack_sync_write(FEETECH.sync_write_params(42, 2, {3: h("01 02")})) == (
        42, 2, {3: h("01 02")})
    # status with the overload bit (0x20) and a 2-byte reading 0x0800
    (packet,) = PacketParser(FEETECH, status=True).feed(FEETECH.status(7, 0x20, le(2048, 2)))
    assert (packet.motor_id, packet.error, packet.params) == (7, 0x20, h("00 08"))


# ------------------------------------------------------------------ registers
def test_register_tables_match_the_vendor_addresses() -> None:
    x = X_SERIES_TABLE
    assert [(x[n].address, x[n].size) for n in (
        "Model_Number", "Torque_Enable", "Hardware_Error_Status", "Goal_Position",
        "Present_Current", "Present_Velocity", "Present_Position", "Present_Temperature")] == [
        (0, 2), (64, 1), (70, 1), (116, 4), (126, 2), (128, 4), (132, 4), (146, 1)]
    s = STS_TABLE
    assert [(s[n].address, s[n].size) for n in (
        "Model_Number", "Torque_Enable", "Goal_Position", "Present_Position", "Present_Velocity",
        "Present_Load", "Present_Voltage", "Present_Temperature")] == [
        (3, 2), (40, 1), (42, 2), (56, 2), (58, 2), (60, 2), (62, 1), (63, 1)]
    assert MODELS["sts3215"].model_number == 777
    assert MODELS["xl430-w250"].model_number == 1060


def test_signed_encodings() -> None:
    pos = X_SERIES_TABLE["Present_Position"]
    assert pos.encode(-1) == h("FF FF FF FF") and pos.decode(h("FF FF FF FF")) == -1
    assert X_SERIES_TABLE["Present_Current"].decode(h("38 FF")) == -200
    speed = STS_TABLE["Present_Velocity"]
    assert speed.encode(-100) == le(0x8064, 2) and speed.decode(le(0x8064, 2)) == -100
    load = STS_TABLE["Present_Load"]
    assert load.decode(le(0x400 | 300, 2)) == -300 and load.decode(le(300, 2)) == 300
    for value in (-4000, -1, 0, 1, 4095):  # same as the vendor's SCS_TOSCS / SCS_TOHOST
        raw = int.from_bytes(STS_TABLE["Goal_Position"].encode(value), "little")
        assert raw == scservo_def.SCS_TOSCS(value, 15)
        assert scservo_def.SCS_TOHOST(raw, 15) == value
    with pytest.raises(ValueError, match="Torque_Enable"):
        X_SERIES_TABLE["Torque_Enable"].encode(256)
    with pytest.raises(ValueError, match="Goal_Position"):
        STS_TABLE["Goal_Position"].encode(1 << 15)
    with pytest.raises(KeyError, match="no register 'Goal_Current'"):
        MODELS["sts3215"].register("Goal_Current")


# ---------------------------------------------------------------- calibration
def test_ticks_radians_hand_worked() -> None:
    j = JointCalibration(motor_id=1, homing_offset=100, direction=-1, range_min=500,
                         range_max=3500)
    assert j.zero_ticks == 2148
    assert j.ticks_to_rad(2148) == 0.0
    assert j.ticks_to_rad(2148 + 1024) == pytest.approx(-math.pi / 2)  # a quarter turn
    assert j.rad_to_ticks(-math.pi / 2) == 3172
    assert j.rad_to_ticks(10.0) == 500  # clipped to the range
    assert j.rad_to_ticks(10.0, clip=False) == 2148 - 6519
    lo, hi = j.limits_rad
    assert lo == pytest.approx(-(3500 - 2148) * 2 * math.pi / 4096)
    assert hi == pytest.approx((2148 - 500) * 2 * math.pi / 4096)
    arr = j.ticks_to_rad(np.array([2148, 3172]))
    np.testing.assert_allclose(arr, [0.0, -math.pi / 2])
    np.testing.assert_array_equal(j.rad_to_ticks(arr), [2148, 3172])
    assert j.velocity_to_rad_s(10, MODELS["xl430-w250"].velocity_unit_rad_s) == pytest.approx(
        -10 * 0.229 * 2 * math.pi / 60)
    assert JointCalibration.from_zero(2, 1900, 0, 4095).homing_offset == -148


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"direction": 0}, "direction"), ({"range_min": 3000, "range_max": 1000}, "range"),
    ({"homing_offset": 5000}, "homing_offset"), ({"motor_id": 300}, "id 300"),
    ({"range_max": 2.5}, "integer")])
def test_joint_calibration_validation(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"motor_id": 1} | kwargs
    with pytest.raises(CalibrationError, match=match):
        JointCalibration(**args)  # type: ignore[arg-type]


def test_calibration_save_load_and_errors(tmp_path: Path) -> None:
    cal = RobotCalibration("arm6", {
        "shoulder_pan": JointCalibration(1, -12, 1, 800, 3300),
        "elbow_flex": JointCalibration(3, 40, -1, 900, 3100)})
    path = cal.save(tmp_path / "cal" / "arm6.json")
    back = RobotCalibration.load(path, robot="arm6", joints=["shoulder_pan", "elbow_flex"])
    assert back == cal
    assert back.ticks_to_rad({"elbow_flex": 2088}) == {"elbow_flex": 0.0}
    assert back.rad_to_ticks({"shoulder_pan": 0.0}) == {"shoulder_pan": 2036}

    with pytest.raises(CalibrationError, match="not 'quad12'"):
        RobotCalibration.load(path, robot="quad12")
    with pytest.raises(CalibrationError, match=r"missing \['wrist'\]"):
        RobotCalibration.load(path, joints=["shoulder_pan", "elbow_flex", "wrist"])
    with pytest.raises(CalibrationError, match="no calibration file"):
        RobotCalibration.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text('{"robot": "arm6",')
    with pytest.raises(CalibrationError, match="not valid JSON"):
        RobotCalibration.load(tmp_path / "bad.json")
    data = json.loads(path.read_text())
    data["joints"]["elbow_flex"]["direction"] = 2
    (tmp_path / "dir.json").write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match=r"dir\.json: joint 'elbow_flex': direction"):
        RobotCalibration.load(tmp_path / "dir.json")
    data["joints"]["elbow_flex"] = {"id": 1, "homing_offset": 0, "direction": 1,
                                    "range_min": 0, "range_max": 4095}
    (tmp_path / "dup.json").write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match="both use motor id 1"):
        RobotCalibration.load(tmp_path / "dup.json")
    data["joints"]["elbow_flex"]["speed"] = 3
    (tmp_path / "key.json").write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match=r"unknown keys \['speed'\]"):
        RobotCalibration.load(tmp_path / "key.json")
