"""Issue 21, cases 1 and 12: one bad message must never take the e-stop down.

A NaN ``/cmd_vel`` and ``/goal``, a ``/teleop/command`` with its joints in another order and 3
positions, and a ``/cmd_vel`` of 1e6 m/s used to raise out of their callbacks and kill the
executor that also serves ``/estop`` and ``~/reset`` (in-process graph), while the chain kept
walking the robot. Now each is refused or clamped, counted, and the e-stop works after them,
in both graph modes, and so is a NaN-producing bundle hot-swapped in (case 3: it is run on
the current observation before the swap). An executor or node process that dies anyway is
seen: the robot ends damped and the graph reports the failure."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from graphs import (
    MODES,
    bad_inputs,
    damped,
    deploy_config,
    publish,
    safety_mode,
    start,
    wait_for,
)
from robot_rl_ros.inject import set_policy
from std_msgs.msg import Bool

from robot_rl.robots import get_robot


@pytest.mark.parametrize("mode", MODES)
def test_bad_input_is_refused_and_the_estop_still_works(
        mode: str, bundles: dict[str, Path], tmp_path: Path) -> None:
    path, cfg = deploy_config(tmp_path, bundles["quad12_stand"])
    g = start(mode, path, cfg, tmp_path)
    try:
        g.activate()
        g.run(1.0, script=False)
        bad_inputs(g, get_robot("quad12").joint_names)
        g.run(0.5, script=False)
        assert not g.failures()
        assert safety_mode(g) == "ACTIVE" and not damped(g)  # nothing stopped the chain
        if mode == "in_process":
            pol = g.policy
            assert pol.commands_refused >= 2  # the NaN /cmd_vel and /goal
            assert pol.commands_clamped >= 1 and pol.controller.command[0] == 1.0  # trained max
            assert g.safety.bad_inputs >= 1  # the shuffled teleop command
        else:
            assert wait_for(lambda: int(g.operator.safety_status.get("bad_inputs", 0)) >= 1,
                            2.0), g.operator.safety_status
        # case 3: a bundle whose output is NaN is run before the hot swap and refused
        refused = set_policy(g, bundles["quad12_nan"])  # (processes: in its stats, below)
        assert refused or mode == "processes"
        g.run(0.5, script=False)
        assert safety_mode(g) == "ACTIVE"  # the old policy ran on, nothing held
        publish(g, Bool, "/estop", Bool(data=True), times=1)  # the e-stop works after it all
        assert wait_for(lambda: safety_mode(g) == "STOP", 1.0), safety_mode(g)
        publish(g, Bool, "/estop", Bool(data=False))  # false never releases it
        assert wait_for(lambda: damped(g), 5.0)  # (quad12: sits down first, then damps)
        assert safety_mode(g) == "STOP"
    finally:
        stats = g.stop()
    p = stats["policy_node"] if mode == "processes" else {}
    if mode == "processes":
        assert p["commands_refused"] >= 2 and p["commands_clamped"] >= 1, p
        assert stats["safety_node"]["bad_inputs"] >= 1
        swaps = p["swaps"]
        assert swaps and not swaps[-1]["ok"] and "non-finite" in swaps[-1]["reason"], swaps
        assert p["policy"] == str(bundles["quad12_stand"])


def test_a_stopped_executor_latches_stop_and_is_reported(bundles: dict[str, Path],
                                                         tmp_path: Path) -> None:
    """In-process: the chain's ticks run outside the executor (bridge and policy threads);
    with the executor gone /estop is unheard, so the safety node latches STOP itself."""
    path, cfg = deploy_config(tmp_path, bundles["quad12_stand"])
    g = start("in_process", path, cfg, tmp_path)
    try:
        g.activate()
        g.run(1.0, script=False)
        g.executors["safety_node"].shutdown(timeout_sec=1.0)  # the executor is gone
        assert wait_for(lambda: bool(g.failures()), 2.0)
        assert "executor 'graph' stopped" in g.failures()[0]
        assert wait_for(lambda: safety_mode(g) == "STOP", 2.0)
        assert "executor silent" in g.safety.sup.chain.estop.reason
        assert wait_for(lambda: damped(g), 5.0)
    finally:
        g.stop()


def test_a_dead_safety_process_latches_the_bridge_and_is_reported(
        bundles: dict[str, Path], tmp_path: Path) -> None:
    path, cfg = deploy_config(tmp_path, bundles["quad12_stand"])
    g = start("processes", path, cfg, tmp_path)
    try:
        g.activate()
        g.run(1.0, script=False)
        g.procs["safety_node"].send_signal(signal.SIGKILL)  # not through g.kill: unexpected
        assert wait_for(lambda: bool(g.failures()), 3.0)
        assert "safety_node exited" in g.failures()[0]
        g.run(0.4, script=False)  # (returns at once: the graph has failed)
        import time

        time.sleep(0.4)  # the bridge's own command timeout (0.1 s) latches meanwhile
    finally:
        stats = g.stop()
    b = stats["hardware_bridge"]
    assert "no safe command" in b["latched"], b["latched"]
    assert b["timeouts"] == 1 and "latched" in b["modes"], b["modes"]


def test_estop_on_a_chain_without_an_estop_stage_is_refused_at_load(tmp_path: Path) -> None:
    from robot_rl.config import ConfigError
    from robot_rl.safety.robot_config import CONFIG_DIR, load_robot_config

    text = (CONFIG_DIR / "quad12.yaml").read_text()
    path = tmp_path / "no_estop.yaml"
    path.write_text(text.replace("    - {type: estop}\n", ""))
    with pytest.raises(ConfigError, match="estop"):
        load_robot_config(path)
