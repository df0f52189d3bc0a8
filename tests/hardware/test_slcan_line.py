"""The buffered slcan transport: record parsing, and both slcan drivers against the emulator."""

from __future__ import annotations

import time

import pytest

from hardware.can.bus import CanMotorBus
from hardware.can.link import CanBusConfig
from hardware.can.mit import MitCommand, MitLimits
from hardware.can.slcan_line import SlcanLineBus, _parse
from hardware.virtual.slcan import VirtualSlcanAdapter
from robot_rl.robots.quad12 import HARDWARE as QUAD12_HARDWARE

# quad12's hip, thigh and calf motors (its robot description)
GO2_HIP, GO2_THIGH, GO2_CALF = (MitLimits.of(m) for m in QUAD12_HARDWARE.can_motors[:3])


def test_records_parse_like_the_lawicel_spec() -> None:
    m = _parse(b"t00681122334455667788")
    assert m is not None and (m.arbitration_id, m.dlc) == (0x006, 8)
    assert bytes(m.data) == bytes.fromhex("1122334455667788")
    m = _parse(b"t00631122331A2B")  # 3 data bytes + a 4-digit timestamp
    assert m is not None and bytes(m.data) == b"\x11\x22\x33" and not m.is_extended_id
    m = _parse(b"T123456782ABCD")
    assert m is not None and m.is_extended_id and m.arbitration_id == 0x12345678
    assert bytes(m.data) == b"\xab\xcd"
    m = _parse(b"r1230")
    assert m is not None and m.is_remote_frame and m.arbitration_id == 0x123
    assert _parse(b"z") is None and _parse(b"") is None and _parse(b"V1013") is None
    with pytest.raises(ValueError):
        _parse(b"t0068112233")  # DLC 8 with 3 data bytes


@pytest.mark.parametrize("driver", ["line", "python-can"])
def test_both_slcan_drivers_run_a_motor(driver: str) -> None:
    with VirtualSlcanAdapter({1: GO2_CALF}).start() as adapter:
        cfg = CanBusConfig("slcan", adapter.port, options={"driver": driver})
        with CanMotorBus(cfg, {"calf": (1, GO2_CALF)}, timeout=0.02) as bus:
            assert isinstance(bus._bus, SlcanLineBus) == (driver == "line")
            bus.enable()
            for _ in range(50):
                r = bus.command({"calf": MitCommand(0.5, 0.0, 20.0, 1.0, 0.0)})["calf"]
                time.sleep(0.01)
            assert r.fresh and r.p > 0.1
