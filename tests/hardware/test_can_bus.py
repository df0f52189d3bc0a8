"""CanMotorBus / MultiCanBus against emulated slcan adapters on real ptys (python-can 'slcan')."""

import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import can
import pytest
import serial
from can.interfaces.slcan import slcanBus

from hardware.can import (
    CanBusConfig,
    CanBusError,
    CanMotorBus,
    MitCommand,
    MultiCanBus,
)
from hardware.can.mit import (
    AK80_9,
    MitLimits,
    MitSpecial,
    pack_command,
    special_frame,
    unpack_reply,
)
from hardware.virtual.slcan import EmulatedMitMotor, InertiaBackend, VirtualSlcanAdapter
from robot_rl.robots.quad12 import HARDWARE as QUAD12_HARDWARE

# quad12's hip, thigh and calf motors (its robot description)
GO2_HIP, GO2_THIGH, GO2_CALF = (MitLimits.of(m) for m in QUAD12_HARDWARE.can_motors[:3])

LIMITS = {1: GO2_HIP, 2: GO2_THIGH, 3: GO2_CALF}
MOTORS = {"hip": (1, GO2_HIP), "thigh": (2, GO2_THIGH), "calf": (3, GO2_CALF)}
HOLD = {name: MitCommand(kp=5.0, kd=0.2) for name in MOTORS}


@pytest.fixture
def adapter() -> Iterator[VirtualSlcanAdapter]:
    backend = InertiaBackend(LIMITS, realtime=False, dt=0.002)
    with VirtualSlcanAdapter(LIMITS, backend) as ad:
        yield ad


def _bus(ad: VirtualSlcanAdapter, **kw: float) -> CanMotorBus:
    opts: dict = {"timeout": 0.05, "retries": 1, "max_misses": 3} | kw
    return CanMotorBus(CanBusConfig("slcan", ad.port), MOTORS, **opts)


def test_adapter_speaks_lawicel_on_the_pty(adapter: VirtualSlcanAdapter) -> None:
    with serial.Serial(adapter.port, timeout=0.5) as port:
        def ask(line: bytes, expect_len: int) -> bytes:
            port.write(line + b"\r")
            return port.read(expect_len)

        assert ask(b"V", 6) == b"V1013\r"
        assert ask(b"N", 6) == b"NEMU1\r"
        assert ask(b"t0018" + b"00" * 8, 1) == b"\a"  # channel closed
        assert ask(b"S8", 1) == b"\r"
        assert ask(b"O", 1) == b"\r"
        assert ask(b"O", 1) == b"\a"  # already open
        assert ask(b"S6", 1) == b"\a"  # bitrate only while closed
        assert ask(b"F", 4) == b"F00\r"
        enter = special_frame(MitSpecial.ENTER_MOTOR_MODE).hex().upper().encode()
        reply = ask(b"t0018" + enter, 2 + 18)
        assert reply[:2] == b"z\r" and reply[2:7] == b"t0006" and reply[-1:] == b"\r"
        rep = unpack_reply(bytes.fromhex(reply[7:19].decode()), GO2_HIP)
        assert rep.motor_id == 1 and adapter.motors[1].motor_mode
        assert ask(b"t01", 1) == b"\a"  # malformed
        assert ask(b"Z1", 1) == b"\r"  # timestamps on: 4 more hex digits per frame
        reply = ask(b"t0028" + enter, 2 + 22)
        assert reply[2:7] == b"t0006" and len(reply) == 24 and reply[-1:] == b"\r"
        assert ask(b"t0048" + enter, 2) == b"z\r"  # no motor 4: acknowledged, no reply
        assert ask(b"T00000001" + b"8" + enter, 2) == b"Z\r"  # extended id: no MIT motor
        assert ask(b"r0018", 2) == b"z\r"  # remote frame: motors ignore it
        adapter.bus_off = True
        assert ask(b"t0018" + enter, 1) == b"\a"
        assert ask(b"F", 4) == b"F80\r"  # bus error flag
        adapter.bus_off = False
        assert ask(b"C", 1) == b"\r"


def test_python_can_slcan_reads_version_and_serial(adapter: VirtualSlcanAdapter) -> None:
    bus = slcanBus(channel=adapter.port, bitrate=1_000_000, sleep_after_open=0)
    try:
        assert bus.get_version(1.0) == (10, 13)
        assert bus.get_serial_number(1.0) == "EMU1"
        assert adapter.is_open and adapter.host_bitrate == 1_000_000
    finally:
        bus.shutdown()  # sends 'C'
    deadline = time.monotonic() + 2.0
    while adapter.is_open and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not adapter.is_open


def test_enable_then_cycle_returns_fresh_states(adapter: VirtualSlcanAdapter) -> None:
    with _bus(adapter) as bus:
        on = bus.enable()
        assert set(on) == set(MOTORS) and all(r.fresh for r in on.values())
        assert all(m.motor_mode for m in adapter.motors.values())
        out = bus.command(HOLD)
        assert set(out) == set(MOTORS)
        for name, r in out.items():
            assert r.fresh and r.cycle == 2 and r.can_id == MOTORS[name][0]
            assert abs(r.p) < 1e-3 and abs(r.v) < 0.05
        assert bus.stats.replies == 6 and bus.stats.frames_sent >= 6
        assert bus.faulted == frozenset()
    assert not any(m.motor_mode for m in adapter.motors.values())  # close() disabled them


def test_commands_ignored_outside_motor_mode(adapter: VirtualSlcanAdapter) -> None:
    with _bus(adapter) as bus:
        for _ in range(20):
            out = bus.command({"hip": MitCommand(p_des=1.0, kp=20.0, kd=0.5)})
        assert out["hip"].fresh  # the firmware still answers
        assert abs(out["hip"].p) < 1e-3 and adapter.backend.state(1)[0] == 0.0


def test_pd_tracking_moves_motor_toward_target(adapter: VirtualSlcanAdapter) -> None:
    target = 0.8
    with _bus(adapter) as bus:
        bus.enable()
        cmd = {name: MitCommand(p_des=target, kp=10.0, kd=0.5) for name in MOTORS}
        first = bus.command(cmd)
        for _ in range(400):
            last = bus.command(cmd)
        for name in MOTORS:
            assert abs(last[name].p - target) < 0.02 < abs(first[name].p - target)
            assert abs(last[name].v) < 0.1
        # encoder zero: the current position reads as zero afterwards
        zeroed = bus.zero(["hip", 2])
        assert abs(zeroed["hip"].p) < 1e-3 and abs(zeroed["thigh"].p) < 1e-3
        assert abs(bus.command(HOLD)["calf"].p - target) < 0.02


def test_vanished_motor_is_named_after_max_misses(adapter: VirtualSlcanAdapter) -> None:
    with _bus(adapter, max_misses=3) as bus:
        bus.enable()
        good = bus.command(HOLD)["thigh"]
        adapter.disappear(2)
        for _ in range(2):
            out = bus.command(HOLD)
            assert not out["thigh"].fresh and out["hip"].fresh
            assert out["thigh"].stamp == good.stamp and out["thigh"].cycle == good.cycle
            assert bus.faulted == {"thigh"}
        with pytest.raises(CanBusError, match=r"id 2 \(thigh\)") as err:
            bus.command(HOLD)
        assert err.value.motor_ids == (2,) and err.value.readings["calf"].fresh
        adapter.reappear(2)
        assert bus.command(HOLD)["thigh"].fresh and bus.faulted == frozenset()


def test_enable_names_silent_motors_and_missing_bus(adapter: VirtualSlcanAdapter) -> None:
    adapter.disappear(3)
    with _bus(adapter) as bus:
        with pytest.raises(CanBusError, match=r"id 3 \(calf\)") as err:
            bus.enable()
        assert err.value.motor_ids == (3,)
        adapter.bus_off = True
        with pytest.raises(CanBusError, match="no motor on this bus answers") as err:
            bus.enable()
        assert set(err.value.motor_ids) == {1, 2, 3}


def test_dropped_reply_is_not_presented_as_fresh(adapter: VirtualSlcanAdapter) -> None:
    with _bus(adapter, retries=1) as bus:
        bus.enable()
        before = bus.command(HOLD)
        adapter.drop_ids = {2}
        stale = bus.command(HOLD)
        assert stale["thigh"] == replace(before["thigh"], fresh=False)
        assert stale["hip"].fresh and stale["hip"].cycle == stale["thigh"].cycle + 1
        assert bus.stats.retries == 1 and bus.stats.timeouts == 1
        adapter.drop_ids = set()
        again = bus.command(HOLD)
        assert again["thigh"].fresh and again["thigh"].cycle == again["hip"].cycle


def test_late_reply_never_counts_for_a_later_cycle(adapter: VirtualSlcanAdapter) -> None:
    with _bus(adapter, retries=0, max_misses=10, late_horizon=0.3) as bus:
        bus.enable()
        adapter.delays = {2: 0.1}  # later than the timeout (0.05 s), within the late horizon
        for _ in range(3):
            out = bus.command(HOLD)
            assert not out["thigh"].fresh and out["hip"].fresh and out["calf"].fresh
        assert bus.stats.late_replies >= 2
        adapter.delays = {}
        out = bus.command(HOLD)
        assert out["thigh"].fresh and out["thigh"].cycle == out["hip"].cycle
        assert bus.stats.late_replies >= 3


def test_corrupt_frames_are_counted_not_raised(adapter: VirtualSlcanAdapter) -> None:
    with _bus(adapter, retries=0, max_misses=5) as bus:
        bus.enable()
        for mode in ("garbage", "dlc"):
            adapter.corrupt = {3: mode}  # type: ignore[dict-item]
            bad = bus.stats.bad_frames
            out = bus.command(HOLD)
            assert not out["calf"].fresh and out["hip"].fresh
            assert bus.stats.bad_frames == bad + 1
        adapter.corrupt = {}
        assert bus.command(HOLD)["calf"].fresh


def test_bitrate_mismatch_reaches_no_motor() -> None:
    with VirtualSlcanAdapter(LIMITS, bitrate=500_000) as ad, _bus(ad, timeout=0.02) as bus:
        with pytest.raises(CanBusError, match="1000000 bit/s") as err:
            bus.enable()
        assert set(err.value.motor_ids) == {1, 2, 3}


def test_bad_commands_and_names_raise_before_sending(adapter: VirtualSlcanAdapter) -> None:
    with _bus(adapter) as bus:
        with pytest.raises(ValueError, match="motor hip"):
            bus.command({"hip": MitCommand(p_des=float("nan"))})
        with pytest.raises(KeyError, match="knee"):
            bus.command({"knee": MitCommand()})
        assert bus.stats.frames_sent == 0
        # out-of-range values are clamped like the firmware does
        assert pack_command(MitCommand(p_des=99.0), GO2_HIP)[:2] == b"\xff\xff"


def test_missing_and_busy_ports_are_clear_errors(adapter: VirtualSlcanAdapter) -> None:
    with pytest.raises(CanBusError, match=r"/dev/ttyACM_nope not found.*ls /dev/ttyACM"):
        CanMotorBus(CanBusConfig("slcan", "/dev/ttyACM_nope"), MOTORS)
    with _bus(adapter), pytest.raises(CanBusError, match="busy"):
        _bus(adapter)
    with pytest.raises(CanBusError, match="can_nope"):
        CanMotorBus(CanBusConfig("socketcan", "can_nope"), MOTORS)
    with pytest.raises(CanBusError, match="not available"):
        CanMotorBus(CanBusConfig("no-such-interface", "x"), MOTORS)


LEGS = ("FR", "FL", "RR", "RL")
PARTS = (("hip", GO2_HIP), ("thigh", GO2_THIGH), ("calf", GO2_CALF))


def test_quad12_over_four_adapters() -> None:
    adapters = [VirtualSlcanAdapter(LIMITS).start() for _ in LEGS]
    specs = [(CanBusConfig("slcan", ad.port),
              {f"{leg}_{part}_joint": (i + 1, lim) for i, (part, lim) in enumerate(PARTS)})
             for leg, ad in zip(LEGS, adapters)]
    try:
        with MultiCanBus.open(specs, timeout=0.05, retries=1, max_misses=2) as quad:
            assert len(quad.motor_names) == 12
            assert all(r.fresh for r in quad.enable().values())
            cmds = {name: MitCommand(p_des=0.1, kp=5.0, kd=0.2) for name in quad.motor_names}
            times = []
            for _ in range(60):
                t0 = time.perf_counter()
                out = quad.command(cmds)
                times.append(time.perf_counter() - t0)
            assert set(out) == set(quad.motor_names) and all(r.fresh for r in out.values())
            times.sort()
            print(f"\n12-motor cycle over 4 slcan ptys: p50 {1e3 * statistics.median(times):.2f}"
                  f" ms, p90 {1e3 * times[int(0.9 * len(times))]:.2f} ms,"
                  f" max {1e3 * times[-1]:.2f} ms")
            adapters[2].disappear(3)  # RR calf
            quad.command(cmds)
            assert quad.faulted == {"RR_calf_joint"}
            with pytest.raises(CanBusError, match=r"id 3 \(RR_calf_joint\)") as err:
                quad.command(cmds)
            assert err.value.motor_ids == (3,) and len(err.value.readings) == 12
            assert err.value.readings["FR_calf_joint"].fresh
    finally:
        for ad in adapters:
            ad.close()


def test_quad12_cycle_time_with_adapter_processes() -> None:
    """The emulators in processes of their own (as the reality proxy runs them): timing only
    (the stand-alone emulator's motors are a preset type, AK80-9)."""
    cli = [sys.executable, "-m", "hardware.virtual", "slcan", "--ids", "1", "2", "3",
           "--preset", "ak80-9"]
    procs = [subprocess.Popen(cli, stdout=subprocess.PIPE, text=True) for _ in LEGS]
    try:
        ports = [p.stdout.readline().strip() for p in procs if p.stdout is not None]
        specs = [(CanBusConfig("slcan", port), {f"{leg}_{i}": (i, AK80_9) for i in (1, 2, 3)})
                 for leg, port in zip(LEGS, ports)]
        with MultiCanBus.open(specs, timeout=0.05, retries=1) as quad:
            quad.enable()
            cmds = {name: MitCommand(kp=5.0, kd=0.2) for name in quad.motor_names}
            times = []
            for _ in range(100):
                t0 = time.perf_counter()
                out = quad.command(cmds)
                times.append(time.perf_counter() - t0)
            assert len(out) == 12 and all(r.fresh for r in out.values())
        times.sort()
        print(f"\n12-motor cycle, 4 emulator processes: p50 {1e3 * statistics.median(times):.2f}"
              f" ms, p90 {1e3 * times[90]:.2f} ms, max {1e3 * times[-1]:.2f} ms")
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=5)


def test_multi_bus_without_file_descriptors_uses_threads() -> None:
    """python-can's in-process 'virtual' interface has no fileno: worker threads instead."""
    stop = threading.Event()

    def firmware(channel: str) -> None:
        motors = {1: EmulatedMitMotor(1, GO2_HIP, InertiaBackend([1]))}
        wire = can.Bus(interface="virtual", channel=channel)
        while not stop.is_set():
            msg = wire.recv(0.01)
            if msg is not None and msg.arbitration_id in motors:
                reply = motors[msg.arbitration_id].handle(bytes(msg.data))
                if reply is not None:
                    wire.send(can.Message(arbitration_id=0, data=reply, is_extended_id=False))
        wire.shutdown()

    channels = ("robot_rl_test_v0", "robot_rl_test_v1")
    threads = [threading.Thread(target=firmware, args=(ch,), daemon=True) for ch in channels]
    for t in threads:
        t.start()
    buses = [CanMotorBus(CanBusConfig("virtual", ch), {f"m{k}": (1, GO2_HIP)}, timeout=0.2,
                         bus=can.Bus(interface="virtual", channel=ch))
             for k, ch in enumerate(channels)]
    try:
        with MultiCanBus(buses) as pair:
            assert all(b._fileno() is None for b in buses)
            assert all(r.fresh for r in pair.enable().values())
            out = pair.command({"m0": MitCommand(p_des=0.3, kp=5.0), "m1": MitCommand()})
            assert set(out) == {"m0", "m1"} and all(r.fresh for r in out.values())
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=2)
