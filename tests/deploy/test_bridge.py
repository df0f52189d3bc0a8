"""The hardware bridge's lifecycle and fault behaviour on the real-time sim robot, and the
ROS-free deploy loop (policy → chain → bridge) on quad12: it stands, a NaN policy holds, a
missing device is refused."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hardware.bridge import HardwareBridge, Lifecycle
from hardware.errors import HardwareError
from robot_rl.config import from_dict
from robot_rl.deploy.backends import open_backend
from robot_rl.deploy.config import BackendConfig, DeployConfig
from robot_rl.deploy.loop import DeployLoop
from robot_rl.types import JointCommand


def _wait(cond, timeout: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(0.005)
    return False


def test_bridge_lifecycle_timeout_and_refusal() -> None:
    backend = open_backend("quad12", BackendConfig(kind="sim"))
    spec = backend.plant.spec
    states = []
    bridge = HardwareBridge(spec, backend.make_robot, rate_hz=200, command_timeout_s=0.1,
                            soft_start_s=0.5, shutdown_damp_s=0.0,
                            on_state=lambda st, k: states.append(st.t))
    try:
        with pytest.raises(HardwareError, match="not inactive"):
            bridge.activate()
        bridge.configure()
        # the process's objects are out of the collector's reach before the loop runs
        assert bridge.frozen_objects > 10_000 and gc.get_freeze_count() > 10_000
        assert _wait(lambda: bridge.last_sent is not None)
        assert bridge.mode == "passive" and not bridge.last_sent.kp.any()  # damped
        bridge.activate()  # soft start: the activation pose held with ramping gains
        time.sleep(0.1)
        kp_early = bridge.last_sent.kp.copy()
        assert 0 < kp_early.max() < spec.kp.max()
        n = spec.n_joints
        cmd = JointCommand(spec.joint_names, spec.q0.copy(), np.zeros(n), spec.kp.copy(),
                           spec.kd.copy(), np.zeros(n))
        t_sent = time.monotonic()
        assert bridge.submit(cmd, time.monotonic())
        assert _wait(lambda: bridge.mode == "following")
        np.testing.assert_allclose(bridge.last_sent.kp, spec.kp)  # full gains once commanded
        assert _wait(lambda: bridge.mode == "latched", 1.0)  # no new command: damping
        assert time.monotonic() - t_sent >= 0.1 and not bridge.last_sent.kp.any()
        assert bridge.timeouts == 1 and "no safe command" in bridge.latched
        assert bridge.submit(cmd, time.monotonic())  # a new command: still damped (latched)
        time.sleep(0.1)
        assert bridge.mode == "latched" and not bridge.last_sent.kp.any()
        far = JointCommand(spec.joint_names, bridge.last_state.q + 0.5, np.zeros(n),
                           spec.kp.copy(), spec.kd.copy(), np.zeros(n))
        assert bridge.reset()[0] and not bridge.latched
        assert bridge.submit(far, time.monotonic())  # 0.5 rad from the pose: not followed
        time.sleep(0.05)
        assert bridge.mode == "reentry" and not bridge.last_sent.kp.any()
        near = JointCommand(spec.joint_names, bridge.last_state.q.copy(), np.zeros(n),
                            spec.kp.copy(), spec.kd.copy(), np.zeros(n))
        assert bridge.submit(near, time.monotonic())  # at the pose: followed
        assert _wait(lambda: bridge.mode == "following")
        assert bridge.submit(cmd, time.monotonic())
        nan = JointCommand(spec.joint_names, np.full(n, np.nan), np.zeros(n), spec.kp.copy(),
                           spec.kd.copy(), np.zeros(n))
        assert not bridge.submit(nan, time.monotonic())  # refused, robot damped at once
        assert _wait(lambda: not bridge.last_sent.kp.any(), 0.05)
        assert bridge.refused == 1 and bridge.latched
        bridge.submit(cmd, time.monotonic())
        bridge.deactivate()  # hold: stiff, no timeout
        time.sleep(0.3)
        assert bridge.mode == "hold" and bridge.last_sent.kp.any()
        assert len(states) > 50 and np.all(np.diff(states) > 0)  # published every tick
    finally:
        bridge.shutdown()
        backend.close()
    assert bridge.state == Lifecycle.FINALIZED and bridge.robot is None
    assert gc.get_freeze_count() == 0  # thawed with the cleanup


def _cfg(policy: Path, **over) -> DeployConfig:  # type: ignore[no-untyped-def]
    data = {"robot": "quad12", "policy_path": str(policy), "backend": {"kind": "sim"},
            "bridge": {"rate_hz": 250, "soft_start_s": 0.2, "shutdown_damp_s": 0.0}}
    for k, v in over.items():
        data[k] = v
    return from_dict(DeployConfig, data)


def _run(cfg: DeployConfig, seconds: float = 2.5) -> tuple[Any, dict[str, Any]]:
    """Run a DeployLoop: (the simulator's final state, the loop's stats)."""
    loop = DeployLoop(cfg).start()
    try:
        loop.run(seconds)
        return loop.backend.truth(), loop.stats()
    finally:
        loop.stop()


def test_deploy_loop_stands_the_quadruped(bundles: dict[str, Path]) -> None:
    truth, s = _run(_cfg(bundles["quad12_stand"]))
    assert truth.base_pos[2] > 0.22  # standing (start 0.32, nominal stance ~0.27)
    b = s["bridge"]
    assert b["refused"] == 0 and b["timeouts"] == 0 and b["commands"] > 50
    assert s["safety"]["mode"] == "ACTIVE", s["safety"]
    assert s["safety"]["interventions"]["soft_start"]["count"] > 0


def test_deploy_loop_holds_on_nan_policy_output(bundles: dict[str, Path]) -> None:
    loop = DeployLoop(_cfg(bundles["quad12_nan"])).start()
    try:
        loop.run(1.0)
        s = loop.stats()
        sent = loop.bridge.last_sent
    finally:
        loop.stop()
    assert s["safety"]["mode"] == "HOLD"
    assert s["safety"]["interventions"]["non_finite"]["count"] > 0
    assert np.isfinite(sent.q_target).all() and sent.kp.any()  # a finite, stiff hold


def test_missing_device_is_refused_and_nothing_is_commanded(bundles: dict[str, Path],
                                                            tmp_path: Path) -> None:
    cal = tmp_path / "arm6.json"
    cfg = from_dict(DeployConfig, {
        "robot": "arm6", "policy_path": str(bundles["arm6_hold"]),
        "backend": {"kind": "serial", "port": "/dev/ttyNOPE0", "calibration": str(cal)}})
    loop = DeployLoop(cfg)
    with pytest.raises(HardwareError, match="calibration file .* not found"):
        loop.start()
    loop.stop()
    from hardware.sim_plant import SimPlant
    from hardware.virtual.plant_servo import identity_calibration

    identity_calibration(SimPlant("arm6", realtime=0)).save(cal)
    loop = DeployLoop(cfg)
    with pytest.raises(HardwareError, match="ttyNOPE0"):
        loop.start()
    loop.stop()
    assert loop.bridge.state == Lifecycle.FINALIZED or loop.bridge.robot is None


def test_deploy_loop_over_the_virtual_can_path_on_the_proxy(bundles: dict[str, Path]) -> None:
    """CanRobot → python-can slcan → 4 emulated adapters on ptys → MIT motors → the proxy."""
    cfg = _cfg(bundles["quad12_stand"], backend={"kind": "virtual_can", "proxy_seed": 3},
               bridge={"rate_hz": 200, "soft_start_s": 0.2, "shutdown_damp_s": 0.0})
    loop = DeployLoop(cfg).start()
    try:
        loop.run(2.5)
        truth, s = loop.backend.truth(), loop.stats()
        bus = dict(loop.bridge.robot.bus.stats)  # (read before stop: it disconnects)
    finally:
        loop.stop()
    assert truth.base_pos[2] > 0.22 and s["safety"]["mode"] == "ACTIVE", (truth.base_pos, s)
    assert s["bridge"]["commands"] > 40
    # every motor answered (a reply missed now and then on a loaded machine is that tick's
    # fault only, shown in the robot's ``fault`` until the next read: the state watchdog
    # judges staleness; what must not happen is a bus that stops answering)
    replies = sum(b.replies for b in bus.values())
    lost = sum(b.timeouts for b in bus.values())
    assert replies > 12 * 200 and lost <= 0.01 * replies, bus  # (>= 1 s of the 2.5 s at 200 Hz)


def test_late_ticks_are_attributed_to_a_slow_tick_before_them() -> None:
    """A tick whose own work overruns the period (here: a 12 ms stall in the state hand-over
    every 40th tick at 200 Hz) makes the next tick late; the report counts those apart from
    ticks that were woken late."""
    backend = open_backend("quad12", BackendConfig(kind="sim"))

    def stall(st: Any, k: int) -> None:
        if k % 40 == 20:
            time.sleep(0.012)

    bridge = HardwareBridge(backend.plant.spec, backend.make_robot, rate_hz=200,
                            soft_start_s=0.1, shutdown_damp_s=0.0, on_state=stall)
    try:
        bridge.configure()
        assert _wait(lambda: bridge.ticks >= 200, 6.0)
        assert bridge.stats()["late_ticks_active"] is None  # not activated yet
        bridge.activate()
        active_from = bridge.active_tick
        assert _wait(lambda: bridge.ticks >= 400, 6.0)
        stats = bridge.stats()
    finally:
        bridge.shutdown()
        backend.close()
    stalls = stats["ticks"] // 40
    assert stats["late_ticks"] >= stalls - 1  # each stall makes at least its next tick late
    assert stats["late_ticks_after_slow_tick"] >= stalls - 1
    assert stats["late_ticks_after_slow_tick"] <= stats["late_ticks"]
    assert stats["tick_us"]["max"] > 10_000
    # the active phase's own: the stalls after the activation, not those before
    before = (active_from - 20) // 40 + 1  # stalls at ticks 20, 60, ... before activation
    assert stats["late_ticks_active"] <= stats["late_ticks"] - before + 1
    assert stats["late_ticks_active"] >= (stats["ticks"] - active_from) // 40 - 1


def test_late_ticks_woken_late_name_the_thread_that_held_the_gil() -> None:
    """A thread in one long C call (which keeps the GIL) delays the loop thread's wake-up;
    the bridge's stats say which thread and where."""
    import threading

    backend = open_backend("quad12", BackendConfig(kind="sim"))
    bridge = HardwareBridge(backend.plant.spec, backend.make_robot, rate_hz=200,
                            soft_start_s=0.1, shutdown_damp_s=0.0)
    stop = threading.Event()

    def hog() -> None:
        while not stop.is_set():
            sum(range(3_000_000))  # ~30-100 ms in one C call: the GIL is not handed over
            time.sleep(0.05)

    th = threading.Thread(target=hog, name="gil-hog", daemon=True)
    try:
        bridge.configure()
        th.start()
        assert _wait(lambda: bridge.late_where and bridge.ticks > 100, 6.0)
        stats = bridge.stats()
    finally:
        stop.set()
        bridge.shutdown()
        backend.close()
        th.join()
    assert stats["late_ticks"] >= 1
    hogs = [k for k in stats["late_tick_threads"] if k.startswith("gil-hog: test_bridge.py:")]
    assert hogs, stats["late_tick_threads"]


def test_realtime_priority_is_the_loop_threads_alone_and_a_refusal_is_reported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``bridge.realtime_priority`` puts the loop thread (not the process) in SCHED_FIFO; where
    the OS refuses, the loop still runs, normally scheduled, and says why."""
    import os

    from robot_rl.runtime import realtime

    with pytest.raises(ValueError, match="realtime_priority"):
        from_dict(DeployConfig, {"robot": "quad12", "policy_path": "x.onnx",
                                 "bridge": {"realtime_priority": 120}}).validate()
    backend = open_backend("quad12", BackendConfig(kind="sim"))

    def run_bridge() -> HardwareBridge:
        bridge = HardwareBridge(backend.plant.spec, backend.make_robot, rate_hz=200,
                                shutdown_damp_s=0.0, realtime_priority=10)
        try:
            bridge.configure()  # returns once the loop thread has set its scheduling
            assert _wait(lambda: bridge.ticks > 20)
        finally:
            bridge.shutdown()
        return bridge

    granted = run_bridge()
    assert realtime.thread_policy() == "other"  # this (calling) thread is untouched
    if granted.realtime_error is None:  # root / CAP_SYS_NICE (CI): really FIFO
        assert granted.loop_policy == "fifo" and granted.stats()["loop_policy"] == "fifo"
    else:
        assert "SCHED_FIFO" in granted.realtime_error and granted.loop_policy == "other"

    def refuse(*args: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    refused = run_bridge()
    assert refused.loop_policy == "other" and refused.ticks > 20  # ran all the same
    assert "CAP_SYS_NICE" in refused.stats()["realtime_error"]
    assert "realtime_priority: 0" in refused.realtime_error  # the way out is named
    backend.close()


def test_late_commands_are_logged_with_their_time_and_latency() -> None:
    """Each command later than the policy period is kept with its arrival (since the
    activation) and latency: where a stall was, for the bench's JSON."""
    backend = open_backend("quad12", BackendConfig(kind="sim"))
    spec = backend.plant.spec
    bridge = HardwareBridge(spec, backend.make_robot, rate_hz=200, command_timeout_s=0.5,
                            soft_start_s=0.0, shutdown_damp_s=0.0, command_period_s=0.02,
                            max_command_age_s=1.0)  # (stale commands refused: tests/faults)
    try:
        bridge.configure()
        bridge.activate()
        n = spec.n_joints
        cmd = JointCommand(spec.joint_names, spec.q0.copy(), np.zeros(n), spec.kp.copy(),
                           spec.kd.copy(), np.zeros(n))
        now = time.monotonic()
        assert bridge.submit(cmd, now - 0.005, now=now)  # on time
        assert bridge.submit(cmd, now + 0.015, now=now + 0.265)  # 250 ms late
        s = bridge.stats()
        assert s["late_commands"] == 1 and s["command_gaps"] == 0
        (late,) = s["late_command_log"]
        assert late["latency_ms"] == pytest.approx(250.0, abs=0.2)
        assert late["at_s"] == pytest.approx(now + 0.265 - bridge.active_since, abs=1e-3)
    finally:
        bridge.shutdown()
        backend.close()  # (its plant thread would step on into later tests)
