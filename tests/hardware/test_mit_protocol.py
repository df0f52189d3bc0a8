"""MIT mini-cheetah codec: hand-worked numbers, bit layout, special frames, round trips."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.can.mit import (
    AK80_9,
    DEFAULT_LIMITS,
    MINI_CHEETAH,
    PRESETS,
    MitCommand,
    MitLimits,
    MitSpecial,
    float_to_uint,
    pack_command,
    pack_reply,
    parse_special,
    special_frame,
    uint_to_float,
    unpack_command,
    unpack_reply,
)
from robot_rl.robots.quad12 import HARDWARE as QUAD12_HARDWARE

# quad12's hip, thigh and calf motors (its robot description)
GO2_HIP, GO2_THIGH, GO2_CALF = (MitLimits.of(m) for m in QUAD12_HARDWARE.can_motors[:3])


def test_float_to_uint_hand_worked() -> None:
    # p = 0 on +-12.5 rad: 12.5 * 65535 / 25 = 32767.5 -> truncated like the firmware's (int) cast
    assert float_to_uint(0.0, -12.5, 12.5, 16) == 0x7FFF
    assert float_to_uint(12.5, -12.5, 12.5, 16) == 0xFFFF
    assert float_to_uint(-12.5, -12.5, 12.5, 16) == 0
    assert float_to_uint(500.0, 0.0, 500.0, 12) == 0xFFF  # kp = 500 -> full scale
    assert float_to_uint(250.0, 0.0, 500.0, 12) == 2047  # 2047.5 truncated
    assert float_to_uint(1.0, 0.0, 5.0, 12) == 819  # kd: 4095 / 5 = 819
    assert float_to_uint(-65.0, -65.0, 65.0, 12) == 0


def test_float_to_uint_clamps_and_refuses_nan() -> None:
    assert float_to_uint(100.0, -12.5, 12.5, 16) == 0xFFFF
    assert float_to_uint(-100.0, -12.5, 12.5, 16) == 0
    assert float_to_uint(-1.0, 0.0, 500.0, 12) == 0
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="non-finite"):
            float_to_uint(bad, -12.5, 12.5, 16)


def test_uint_to_float_endpoints() -> None:
    assert uint_to_float(0, -12.5, 12.5, 16) == -12.5
    assert uint_to_float(0xFFFF, -12.5, 12.5, 16) == pytest.approx(12.5)
    assert uint_to_float(0xFFF, 0.0, 500.0, 12) == pytest.approx(500.0)
    # 0x7FFF sits half an LSB below zero: the symmetric range has no exact zero code
    assert uint_to_float(0x7FFF, -12.5, 12.5, 16) == pytest.approx(-12.5 / 65535)


def test_pack_command_hand_worked_bytes() -> None:
    zero = pack_command(MitCommand(), MINI_CHEETAH)
    # p 0x7FFF, v 0x7FF, kp 0, kd 0, t 0x7FF
    assert zero == bytes.fromhex("7FFF7FF0000007FF")
    full = pack_command(MitCommand(p_des=12.5, v_des=-65.0, kp=500.0, kd=5.0, t_ff=18.0),
                        MINI_CHEETAH)
    # p 0xFFFF, v 0x000, kp 0xFFF, kd 0xFFF, t 0xFFF
    assert full == bytes.fromhex("FFFF000FFFFFFFFF")
    assert len(zero) == len(full) == 8


def _mid(x_int: int, lo: float, hi: float, bits: int) -> float:
    """The value in the middle of code ``x_int``'s interval."""
    return lo + (x_int + 0.5) * (hi - lo) / ((1 << bits) - 1)


def test_command_bit_layout_every_nibble() -> None:
    # distinct nibbles: p=0x1234 v=0x567 kp=0x89A kd=0xBCD t=0xEF0 -> 12 34 56 78 9A BC DE F0
    lim = MINI_CHEETAH
    ints = {"p": 0x1234, "v": 0x567, "kp": 0x89A, "kd": 0xBCD, "t": 0xEF0}
    data = bytes.fromhex("123456789ABCDEF0")
    cmd = unpack_command(data, lim)
    assert cmd.p_des == uint_to_float(ints["p"], -lim.p_max, lim.p_max, 16)
    assert cmd.v_des == uint_to_float(ints["v"], -lim.v_max, lim.v_max, 12)
    assert cmd.kp == uint_to_float(ints["kp"], 0.0, lim.kp_max, 12)
    assert cmd.kd == uint_to_float(ints["kd"], 0.0, lim.kd_max, 12)
    assert cmd.t_ff == uint_to_float(ints["t"], -lim.t_max, lim.t_max, 12)
    # encode from the middle of each code's interval so truncation is unambiguous
    mid = MitCommand(
        p_des=_mid(ints["p"], -lim.p_max, lim.p_max, 16),
        v_des=_mid(ints["v"], -lim.v_max, lim.v_max, 12),
        kp=_mid(ints["kp"], 0.0, lim.kp_max, 12),
        kd=_mid(ints["kd"], 0.0, lim.kd_max, 12),
        t_ff=_mid(ints["t"], -lim.t_max, lim.t_max, 12),
    )
    assert pack_command(mid, lim) == data


def test_reply_hand_worked_bytes_and_layout() -> None:
    assert pack_reply(3, 0.0, 0.0, 0.0, MINI_CHEETAH) == bytes.fromhex("037FFF7FF7FF")
    rep = unpack_reply(bytes.fromhex("05123456789A"), MINI_CHEETAH)
    assert rep.motor_id == 5
    assert rep.p == uint_to_float(0x1234, -12.5, 12.5, 16)
    assert rep.v == uint_to_float(0x567, -65.0, 65.0, 12)
    assert rep.tau == uint_to_float(0x89A, -18.0, 18.0, 12)
    assert rep.temperature is None and rep.error is None
    cubemars = unpack_reply(bytes.fromhex("05123456789A2800"), AK80_9)  # + temperature, error
    assert (cubemars.temperature, cubemars.error) == (0x28, 0)
    with pytest.raises(ValueError):
        unpack_reply(b"\x01\x02\x03", MINI_CHEETAH)
    with pytest.raises(ValueError):
        pack_reply(256, 0.0, 0.0, 0.0)


def test_special_frames() -> None:
    assert special_frame(MitSpecial.ENTER_MOTOR_MODE) == bytes.fromhex("FFFFFFFFFFFFFFFC")
    assert special_frame(MitSpecial.EXIT_MOTOR_MODE) == bytes.fromhex("FFFFFFFFFFFFFFFD")
    assert special_frame(MitSpecial.SET_ZERO) == bytes.fromhex("FFFFFFFFFFFFFFFE")
    for kind in MitSpecial:
        assert parse_special(special_frame(kind)) is kind
    assert parse_special(bytes.fromhex("FFFFFFFFFFFFFFFB")) is None
    assert parse_special(pack_command(MitCommand())) is None
    assert parse_special(bytes.fromhex("FFFFFFFFFFFF")) is None


def _lsb(span: float, bits: int) -> float:
    return span / ((1 << bits) - 1)


@settings(max_examples=200, deadline=None)
@given(p=st.floats(-12.5, 12.5), v=st.floats(-30.0, 30.0), kp=st.floats(0.0, 500.0),
       kd=st.floats(0.0, 5.0), t=st.floats(-45.0, 45.0))
def test_command_round_trip_within_one_lsb(p: float, v: float, kp: float, kd: float,
                                           t: float) -> None:
    lim = GO2_CALF
    back = unpack_command(pack_command(MitCommand(p, v, kp, kd, t), lim), lim)
    # truncation: the decoded value is at most one LSB below the input, never above
    for x, y, span, bits in ((p, back.p_des, 25.0, 16), (v, back.v_des, 60.0, 12),
                             (kp, back.kp, 500.0, 12), (kd, back.kd, 5.0, 12),
                             (t, back.t_ff, 90.0, 12)):
        assert -1e-9 <= x - y <= _lsb(span, bits) * (1 + 1e-9)


def test_reply_round_trip_within_one_lsb() -> None:
    rng = np.random.default_rng(0)
    lim = GO2_HIP
    for p, v, tau in rng.uniform([-12.5, -45.0, -25.0], [12.5, 45.0, 25.0], size=(500, 3)):
        rep = unpack_reply(pack_reply(7, p, v, tau, lim), lim)
        assert rep.motor_id == 7
        assert abs(rep.p - p) <= _lsb(25.0, 16) + 1e-12
        assert abs(rep.v - v) <= _lsb(90.0, 12) + 1e-12
        assert abs(rep.tau - tau) <= _lsb(50.0, 12) + 1e-12


def test_presets_cover_quad12_limits() -> None:
    # quad12 (Go2): 23.7 N m / 30.1 rad/s hip and thigh, 35.55 N m / 20.06 rad/s calf
    for lim in (GO2_HIP, GO2_THIGH):
        assert lim.t_max >= 23.7 and lim.v_max >= 30.1
    assert GO2_CALF.t_max >= 35.55 and GO2_CALF.v_max >= 20.06
    assert AK80_9 == MitLimits(12.5, 50.0, 500.0, 5.0, 18.0)
    assert PRESETS["default"] is DEFAULT_LIMITS
    with pytest.raises(ValueError):
        MitLimits(t_max=0.0)
