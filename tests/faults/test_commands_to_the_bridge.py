"""Issue 21, cases 4 and 5: the bridge is the last line.

Case 4: with one process per node, "active" commands q_max + 1 rad from a stray node on
``/command`` were applied; now they are ignored (the robot stays with its safety node).
Case 5: after a SIGSTOP of the policy node for 1 s, a command computed from a 1.0 s old
state was applied and the damping did not latch. Now the bridge follows only its graph's
safety node, in order, refuses commands computed from an old state, clamps what it follows
to the hard limits, and latches damping until a reset."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
from graphs import damped, deploy_config, start, wait_for
from sensor_msgs.msg import JointState

from hardware.bridge import HardwareBridge
from robot_rl.deploy.backends import open_backend
from robot_rl.deploy.config import BackendConfig
from robot_rl.types import JointCommand


def _bridge() -> tuple[HardwareBridge, object]:
    backend = open_backend("quad12", BackendConfig(kind="sim"))
    spec = backend.plant.spec
    bridge = HardwareBridge(spec, backend.make_robot, rate_hz=200, command_timeout_s=0.2,
                            soft_start_s=0.0, shutdown_damp_s=0.0, max_command_age_s=0.1)
    bridge.configure()
    bridge.activate()
    time.sleep(0.1)  # no command yet, within command_timeout_s: waiting, not latched
    assert bridge.mode == "waiting" and not bridge.latched
    return bridge, backend


def test_the_bridge_clamps_every_command_to_the_hard_limits() -> None:
    bridge, backend = _bridge()
    spec = bridge.spec
    n = spec.n_joints
    try:
        wild = JointCommand(spec.joint_names, spec.q_max + 1.0, spec.dq_max * 10,
                            spec.kp * 100, -spec.kd, spec.tau_max * 5)
        assert bridge.submit(wild, time.monotonic())
        assert wait_for(lambda: bridge.mode == "following", 1.0)
        sent = bridge.last_sent
        assert np.all(sent.q_target <= spec.q_max) and np.all(sent.kp <= spec.stand_kp)
        assert np.all(sent.kd >= 0) and np.all(np.abs(sent.tau_ff) <= spec.tau_max)
        assert np.all(np.abs(sent.dq_target) <= spec.dq_max) and bridge.clamped >= 1
        assert n == len(sent.q_target)
    finally:
        bridge.shutdown()
        backend.close()  # type: ignore[attr-defined]


def test_a_command_from_an_old_state_is_refused_and_damping_latches() -> None:
    bridge, backend = _bridge()
    spec = bridge.spec
    try:
        cmd = JointCommand.hold(spec.joint_names, bridge.last_state.q, spec.kp, spec.kd)
        assert bridge.submit(cmd, time.monotonic())
        assert wait_for(lambda: bridge.mode == "following", 1.0)
        assert not bridge.submit(cmd, time.monotonic() - 1.0)  # computed from a 1 s old state
        assert wait_for(lambda: not bridge.last_sent.kp.any(), 0.1)
        assert bridge.stale == 1 and "1.0" in bridge.latched
        assert bridge.submit(cmd, time.monotonic())  # fresh again: still latched
        time.sleep(0.05)
        assert bridge.mode == "latched" and not bridge.last_sent.kp.any()
        assert bridge.reset()[0]
        assert bridge.submit(JointCommand.hold(spec.joint_names, bridge.last_state.q, spec.kp,
                                               spec.kd), time.monotonic())
        assert wait_for(lambda: bridge.mode == "following", 1.0)
    finally:
        bridge.shutdown()
        backend.close()  # type: ignore[attr-defined]


def test_commands_from_a_stray_publisher_are_never_applied(bundles: dict[str, Path],
                                                           tmp_path: Path) -> None:
    from robot_rl_ros.convert import command_to_msg
    from robot_rl_ros.qos import COMMAND_QOS

    from robot_rl.robots import get_robot

    spec = get_robot("quad12")
    path, cfg = deploy_config(tmp_path, bundles["quad12_stand"])
    g = start("processes", path, cfg, tmp_path)
    try:
        g.activate()
        g.run(1.0, script=False)
        stray = g.operator.create_publisher(JointState, "/command", COMMAND_QOS)
        time.sleep(1.0)  # discovery
        bad = JointCommand.hold(spec.joint_names, spec.q_max + 1.0, spec.kp, spec.kd)
        for k in range(20):  # "active", stamped now, interleaved with the safety node's
            stray.publish(command_to_msg(bad, time.monotonic(), "active",
                                         session="", seq=10_000 + k))
            time.sleep(0.02)
        g.run(0.5, script=False)
    finally:
        stats = g.stop()
    b = stats["hardware_bridge"]
    # ignored, not obeyed (and not a reason to drop the robot: the safety node keeps it)
    assert b["foreign_commands"] >= 10 and not b["latched"], (b["foreign_commands"],
                                                              b["latched"])
    assert "deploy_operator" in " ".join(b["stray_publishers"])
    # none was followed: the safety node's own commands are inside the limits, so a stray
    # one followed would have had to be clamped (the bridge counts what it clamps)
    assert b["clamped_commands"] == 0 and b["mode"] in ("following", "passive"), b["mode"]


def test_a_stalled_policy_node_resumes_into_latched_damping(bundles: dict[str, Path],
                                                            tmp_path: Path) -> None:
    path, cfg = deploy_config(tmp_path, bundles["quad12_stand"])
    g = start("processes", path, cfg, tmp_path)
    pid = g.procs["policy_node"].pid
    try:
        g.activate()
        g.run(1.5, script=False)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(1.0)
        os.kill(pid, signal.SIGCONT)
        # the chain's fallback: hold 0.1 s, then from 0.5 s a 1.5 s sit-down and 0.5 s of
        # settling before the damping itself (2.5 s after the stall began)
        assert wait_for(lambda: damped(g), 5.0), g.operator.modes_seen[-5:]
        g.run(1.0, script=False)  # the policy is back: the chain must stay damped
        op = g.operator
        status, seen = dict(op.safety_status), list(op.modes_seen)
    finally:
        os.kill(pid, signal.SIGCONT)
        stats = g.stop()
    s = stats["safety_node"]
    why = (status, seen, s["interventions"], s["modes"])
    # damping latched (STOP where the tracking guard also judged the sit-down)
    assert status.get("mode") in ("DAMPING", "STOP"), why
    # once damping, the chain did not go back to active by itself
    modes = s["modes"]
    assert "damping" in modes and "active" not in modes[modes.index("damping"):], why
    assert s["interventions"]["command_watchdog"]["count"] > 0
    assert "latched" in s["interventions"]["command_watchdog"]["last_reason"], why
