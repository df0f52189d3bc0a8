"""The ROS 2 graph end to end (rclpy over FastDDS on localhost): quad12 on the sim and arm6
over its virtual serial bus; rates, e-stop and reset, a dead policy or safety node, a hot
swap, refused bundles / configs / devices, and the graph in one process per node."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.config import from_dict
from robot_rl.deploy.build import DeployError
from robot_rl.deploy.config import DeployConfig

rclpy_graph = pytest.importorskip("robot_rl_ros.graph")
InProcessGraph, ProcessGraph = rclpy_graph.InProcessGraph, rclpy_graph.ProcessGraph


def quad_cfg(policy: Path, **over: Any) -> DeployConfig:
    data: dict[str, Any] = {
        "robot": "quad12", "policy_path": str(policy), "backend": {"kind": "sim"},
        "bridge": {"rate_hz": 500, "publish_every": 5, "soft_start_s": 0.2,
                   "shutdown_damp_s": 0.2}, "run_s": 5.0,
        "script": [{"t": 0.0, "cmd": [0.0, 0.0, 0.0]}]}
    data.update(over)
    return from_dict(DeployConfig, data)


def wait_for(cond: Any, timeout: float) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("intra_process", [True, False], ids=["direct", "topics"])
def test_quad12_graph_rates_estop_and_reset(bundles: dict[str, Path],
                                            intra_process: bool) -> None:
    g = InProcessGraph(quad_cfg(bundles["quad12_stand"]), intra_process=intra_process).start()
    try:
        # a stale state while passive (as when processes start on a busy machine) latched
        # damping; the bridge's activation event re-arms the chain
        sw = next(s for s in g.safety.sup.chain.stages if s.name == "state_watchdog")
        sw.tripped = True
        g.activate()  # once the policy's commands reach the safety node
        assert g.safety.policy_live()
        g.run(1.0)
        assert not sw.latched and g.safety.sup.mode.name == "ACTIVE"
        pol, br = g.policy, g.bridge.bridge
        n0, p0, c0, t0 = pol.states_received, pol.published, br.commands, time.monotonic()
        g.run(2.0)
        dt = time.monotonic() - t0
        assert (pol.states_received - n0) / dt == pytest.approx(100.0, rel=0.2)  # 500 Hz / 5
        assert (pol.published - p0) / dt == pytest.approx(50.0, rel=0.2)  # policy rate
        assert (br.commands - c0) / dt == pytest.approx(50.0, rel=0.2)  # safe commands
        assert br.mode == "following" and g.safety.sup.mode.name == "ACTIVE"
        assert g.bridge.backend.truth().base_pos[2] > 0.22  # standing
        g.estop()
        assert wait_for(lambda: g.safety.sup.mode.name == "STOP", 0.5)
        # quad12's fallback: a controlled sit-down (stiff), then damping
        # (configs/robots/quad12.yaml: stand 0.3 s, sit 1.5 s, settle 0.5 s)
        assert br.last_sent.kp.any()
        assert wait_for(lambda: not br.last_sent.kp.any(), 4.0)  # damped
        time.sleep(0.5)
        assert g.safety.sup.mode.name == "STOP" and not br.last_sent.kp.any()  # latched
        ok, msg = False, ""
        for _ in range(20):  # refused while the robot still sinks; then released
            ok, msg = g.reset()
            if ok:
                break
            assert "moves" in msg
            time.sleep(0.25)
        assert ok, msg
        assert wait_for(lambda: g.safety.sup.mode.name == "ACTIVE", 1.0)
        assert wait_for(lambda: bool(br.last_sent.kp.any()), 0.5)  # stiff again
    finally:
        stats = g.stop()
    assert stats["hardware_bridge"]["refused"] == 0


def test_direct_hand_over_keeps_every_topic_published(bundles: dict[str, Path]) -> None:
    g = InProcessGraph(quad_cfg(bundles["quad12_stand"])).start()
    observer = rclpy_graph.TopicCounter(["/joint_states", "/policy/command", "/command"],
                                        context=g.context)
    g.executors["hardware_bridge"].add_node(observer)
    try:
        # the chain's nodes take the hot data from the bus, not from the middleware
        topics = {s.topic_name for s in g.safety.subscriptions}
        assert "/policy/command" not in topics and "/joint_states" not in topics
        assert "/command" not in {s.topic_name for s in g.bridge.subscriptions}
        g.activate()
        g.run(2.0)
        # ... and still publish everything for observers (rates: 100 / 50 / 50 Hz)
        seen = observer.counts
        assert seen["/joint_states"] > 100, seen
        assert seen["/policy/command"] > 50, seen
        assert seen["/command"] > 50, seen
        assert g.transport.errors == 0 and g.bridge.bridge.mode == "following"
    finally:
        g.executors["hardware_bridge"].remove_node(observer)
        observer.destroy_node()
        g.stop()


def test_a_policy_that_raises_in_its_worker_leaves_the_chain_holding(
        bundles: dict[str, Path]) -> None:
    g = InProcessGraph(quad_cfg(bundles["quad12_stand"])).start()
    try:
        g.activate()
        g.run(1.0)
        br = g.bridge.bridge

        def broken(*_a: Any, **_k: Any) -> Any:
            raise RuntimeError("onnxruntime fell over")

        g.policy.controller.step = broken  # not a ValueError: nothing in the node catches it
        ticks = br.ticks
        assert wait_for(lambda: g.safety.sup.mode.name == "HOLD", 0.5)
        assert wait_for(lambda: g.safety.sup.mode.name == "DAMPING", 1.0)
        assert wait_for(lambda: not br.last_sent.kp.any(), 4.0)  # (after the sit-down)
        assert br.ticks - ticks > 100 and not br.fault  # the bridge's loop kept going
        pol = g.policy  # contained in the policy node's worker, counted there
        assert pol.callback_errors["policy step"] > 10
        assert "onnxruntime fell over" in pol.last_callback_error
    finally:
        g.stop()


def test_activation_is_refused_while_the_safety_node_is_stopped(bundles: dict[str, Path]
                                                               ) -> None:
    g = InProcessGraph(quad_cfg(bundles["quad12_stand"])).start()
    try:
        g.estop()  # engaged while the robot is still passive
        assert wait_for(lambda: g.operator.safety_status.get("mode") == "STOP", 5.0)
        with pytest.raises(DeployError, match=r"safety node is stopped \(the e-stop is "
                                              r"engaged\).*safety_node/reset"):
            g.activate()
        assert g.bridge.bridge.mode == "passive"  # not activated: still damped
    finally:
        g.stop()


def test_activation_waits_for_the_policy_and_is_refused_without_it(
        bundles: dict[str, Path]) -> None:
    """The motors take torque only once the policy's commands reach the safety node (a
    /diagnostics report newer than the request says so); with the policy node gone, the
    graph refuses to activate, says why, and the robot stays passive."""
    g = InProcessGraph(quad_cfg(bundles["quad12_stand"])).start()
    try:
        assert wait_for(lambda: g.operator.safety_status.get("policy_live") == "True", 5.0)
        g.kill("policy_node")
        assert wait_for(lambda: not g.safety.policy_live(), 1.0)  # 3 periods without one
        with pytest.raises(DeployError, match="no policy command reached the safety node"):
            g.activate(timeout=2.0)
        assert g.bridge.bridge.mode == "passive"
    finally:
        g.stop()


def test_dead_policy_node_holds_then_damps_and_dead_safety_node_damps(
        bundles: dict[str, Path]) -> None:
    g = InProcessGraph(quad_cfg(bundles["quad12_stand"])).start()
    try:
        g.activate()
        g.run(1.0)
        br = g.bridge.bridge
        t_kill = time.monotonic()  # (before: under load the kill itself takes > 0.1 s)
        g.kill("policy_node")
        # the safety chain's command watchdog: hold after 0.1 s, damping after 0.5 s
        # (the node logs a new mode after the tick's publish: wait for the log, not the
        # supervisor's mode, which is set first; a fresh-clone run read the log in between)
        assert wait_for(lambda: g.safety.modes[-1][1] == "hold", 0.5), g.safety.modes
        modes = [(round(t - t_kill, 3), m) for t, m in g.safety.modes]
        t_hold = next((t for t, m in g.safety.modes if m == "hold" and t >= t_kill), None)
        if t_hold is None:  # held since before the kill: a lapse of > 0.1 s on a loaded VM
            assert modes[-1][1] == "hold" and modes[-1][0] < 0, modes
        else:
            assert t_hold - g.safety.sup.policy_t > 0.1, modes  # not early
        assert br.last_sent.kp.any()
        assert wait_for(lambda: g.safety.sup.mode.name == "DAMPING", 1.0)
        assert time.monotonic() - t_kill < 0.5 + 0.3
        assert wait_for(lambda: not br.last_sent.kp.any(), 4.0)  # (after the sit-down)
        g.kill("safety_node")  # nobody sends /command now: the bridge's own timeout damps
        assert wait_for(lambda: br.mode == "latched", 0.5)
        assert not br.last_sent.kp.any()
    finally:
        g.stop()


def test_hot_swap_keeps_the_deadlines_and_a_bad_bundle_is_refused(
        bundles: dict[str, Path], tmp_path: Path) -> None:
    g = InProcessGraph(quad_cfg(bundles["quad12_stand"])).start()
    try:
        g.activate()
        g.run(1.0)
        pol, br = g.policy, g.bridge.bridge
        corrupt = tmp_path / "corrupt.onnx"
        corrupt.write_bytes(b"\x08\x07" + bundles["quad12_stand"].read_bytes()[50:400])
        for bad, why in [(corrupt, "not a valid ONNX model"),
                         (bundles["arm6_hold"], "for robot 'arm6', not 'quad12'"),
                         (tmp_path / "missing.onnx", "not found")]:
            res = g.set_policy(bad)
            assert not res.successful and why in res.reason
            assert pol.get_parameter("policy_path").value == str(bundles["quad12_stand"])
        published, gaps = pol.published, len(br.gap_log)
        late0 = int((np.asarray(br.latency_us) > 20_000).sum())
        res = g.set_policy(bundles["quad12_random"])
        assert res.successful
        assert wait_for(lambda: any(s["ok"] for s in pol.swap_log), 2.0)
        g.run(0.5)
        assert pol.controller.path == bundles["quad12_random"]
        assert pol.published - published > 20  # kept publishing through the swap
        # No deadline lost to the swap: the onnxruntime session is built in a background
        # thread. These 2-core VMs miss an occasional policy period with or without a swap
        # (bench deploy: 3 of 3,000 in 60 s), so allow one lone missed period, never two
        # in a row, and at most one command later than the 20 ms period.
        new_gaps = list(br.gap_log)[gaps:]
        assert len(new_gaps) <= 1 and all(gap < 0.05 for gap in new_gaps), new_gaps
        late = int((np.asarray(br.latency_us) > 20_000).sum()) - late0
        assert late <= 1, f"{late} commands later than the 20 ms period during the swap"
    finally:
        g.stop()


def test_arm6_graph_over_the_virtual_serial_bus(bundles: dict[str, Path]) -> None:
    cfg = from_dict(DeployConfig, {
        "robot": "arm6", "policy_path": str(bundles["arm6_hold"]),
        "backend": {"kind": "virtual_bus", "protocol": "feetech"},
        "bridge": {"rate_hz": 100, "soft_start_s": 0.3, "shutdown_damp_s": 0.2},
        "script": [{"t": 0.0, "cmd": [0.22, 0.08, 0.12]}]})
    g = InProcessGraph(cfg).start()
    try:
        plant = g.bridge.backend.plant
        spec = plant.spec
        with plant.lock:  # start away from home: the chain ramps in from the measured pose
            plant.data.qpos[plant.robot.qpos_adr[1]] += 0.4
        g.activate()
        g.run(3.0)
        q = plant.state().q
        assert abs(q[1] - spec.q0[1]) < 0.08  # servo goals sent over the bus were followed
        b = g.bridge.stats()
        assert b["commands"] > 100 and b["refused"] == 0 and b["fault"] is None
    finally:
        g.stop()


def test_bad_bundle_config_or_device_refuses_to_activate(bundles: dict[str, Path],
                                                        tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="for robot 'arm6', not 'quad12'"):
        InProcessGraph(quad_cfg(bundles["arm6_hold"])).start()
    wrong = quad_cfg(bundles["quad12_stand"], robot_config="configs/robots/arm6.yaml")
    with pytest.raises(DeployError, match="configures robot 'arm6'"):
        InProcessGraph(wrong).start()
    cal = tmp_path / "arm6.json"
    from hardware.sim_plant import SimPlant
    from hardware.virtual.plant_servo import identity_calibration

    identity_calibration(SimPlant("arm6", realtime=0)).save(cal)
    missing = from_dict(DeployConfig, {
        "robot": "arm6", "policy_path": str(bundles["arm6_hold"]),
        "backend": {"kind": "serial", "port": "/dev/ttyNOPE0", "calibration": str(cal)}})
    with pytest.raises(DeployError, match="configure failed.*ttyNOPE0"):
        InProcessGraph(missing).start()


def test_graph_with_one_process_per_node(bundles: dict[str, Path], tmp_path: Path) -> None:
    import yaml

    from robot_rl.safety.robot_config import CONFIG_DIR

    # Four processes share two cores here, with the rest of the test suite: a state 50 ms
    # late latches the state watchdog's damping before the policy is killed (seen in a full
    # run). This test is about the kill, so the robot config gives the state 250 ms.
    robot_cfg = (CONFIG_DIR / "quad12.yaml").read_text()
    assert robot_cfg.count("state_watchdog, timeout_s: 0.05,") == 1
    robot_path = tmp_path / "quad12_robot.yaml"
    robot_path.write_text(robot_cfg.replace("state_watchdog, timeout_s: 0.05,",
                                            "state_watchdog, timeout_s: 0.25,"))
    cfg_path = tmp_path / "quad12_sim.yaml"
    cfg = quad_cfg(bundles["quad12_stand"], robot_config=str(robot_path),
                   executor_realtime_priority=70)
    from robot_rl.config import to_dict

    cfg_path.write_text(yaml.safe_dump(to_dict(cfg)))
    g = ProcessGraph(cfg_path, cfg, tmp_path / "nodes", watch_commands=True).start()
    op = g.operator
    stats: dict[str, Any] = {}

    def why() -> str:  # the safety node's account, for a failure message
        s = g.stop() if not stats else stats
        stats.update(s)
        return json.dumps({k: s.get("safety_node", {}).get(k) for k in (
            "modes", "interventions", "watchdog_ticks")}, default=str)

    try:
        g.activate()  # once the policy's commands reached the safety node for 1 s steadily
        assert float(op.safety_status["policy_live_s"]) >= ProcessGraph.POLICY_STEADY_S
        # Counted, not timed: on a loaded machine four processes share two cores, and the
        # rate checks belong to the in-process test and `bench deploy`.
        assert wait_for(lambda: op.commands_seen >= 60, 30.0), (op.commands_seen, why())
        # (a "hold" before the first policy command is right; then the soft start's stand-up,
        # "stand", at least its stand_s)
        assert wait_for(lambda: op.modes_seen[-1] == "active", 15.0), (op.modes_seen, why())
        n0 = len(op.modes_seen)
        g.kill("policy_node")  # SIGKILL: the process dies without a word
        # the dead policy shows on /command: hold, then damping, from the safety node
        assert wait_for(lambda: op.modes_seen[-1] == "damping", 10.0), (op.modes_seen, why())
        assert op.modes_seen[n0 - 1:] == ["active", "hold", "damping"], op.modes_seen
    finally:
        if not stats:
            stats.update(g.stop())
    b, s = stats["hardware_bridge"], stats["safety_node"]
    assert b["commands"] >= 60 and b["refused"] == 0 and b["fault"] is None, {
        k: b[k] for k in ("commands", "refused", "fault", "late_ticks", "ticks")}
    assert s["modes"][-2:] == ["hold", "damping"], s["modes"]
    for name in ("hardware_bridge", "safety_node"):  # executor_realtime_priority 70
        err = stats[name]["executor_realtime_error"]
        if err is None:  # root / CAP_SYS_NICE (CI): the executor thread really is FIFO
            assert stats[name]["executor_policy"] == "fifo"
        else:
            assert "SCHED_FIFO" in err and stats[name]["executor_policy"] == "other"
    for name in ("hardware_bridge", "safety_node"):
        proc = stats[name]["process"]
        # a regression guard (the 150 MB goal is measured by `bench deploy`): a first run
        # after a fresh install also compiles bytecode, which peaked at 153 MB
        assert proc["torch_loaded"] is False and proc["peak_rss_mb"] < 200
