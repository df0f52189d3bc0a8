"""Issue 21, the one fall in 30 ``--processes`` starts: the state watchdog damped a walking
quadruped because the safety node judged a /joint_states more than 50 ms old.

A stall of the safety node's own process (the scheduler, a page fault) produces exactly that
when it ends: rclpy's executor runs the ready timers before the subscriptions, so the
watchdog timer ticked the chain on the state it had before the stall while the fresh one
waited in the queue behind it. The watchdog now yields once when its own callback comes late
(`safety_node.WATCHDOG_LATE`), and a fresh policy command taken before the state it was
computed from waits for that state (`ticks_waiting_for_state`) instead of being judged
against the stale one. A stall of the safety node longer than the state watchdog's
timeout, but shorter than the bridge's command age limit, must leave the robot walking."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from graphs import deploy_config, start


def test_a_short_stall_of_the_safety_node_itself_does_not_damp(bundles: dict[str, Path],
                                                                tmp_path: Path) -> None:
    path, cfg = deploy_config(tmp_path, bundles["quad12_stand"],
                              bridge={"max_command_age_s": 0.4, "command_timeout_s": 0.4})
    robot_yaml = Path(cfg.robot_config)
    text = robot_yaml.read_text()
    assert text.count("timeout_s: 0.25,") == 1
    robot_yaml.write_text(text.replace("timeout_s: 0.25,", "timeout_s: 0.1,"))
    g = start("processes", path, cfg, tmp_path)
    pid = g.procs["safety_node"].pid
    try:
        g.activate()
        g.run(2.0, script=False)  # the soft start is over, the policy runs
        for _ in range(3):  # three stalls of 0.2 s: twice the state watchdog's timeout
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.2)
            os.kill(pid, signal.SIGCONT)
            g.run(0.6, script=False)
        status, seen = dict(g.operator.safety_status), list(g.operator.modes_seen)
    finally:
        os.kill(pid, signal.SIGCONT)
        stats = g.stop()
    s = stats["safety_node"]
    why = (status, seen, s["interventions"], s["modes"], s["watchdog_deferred"])
    # judged before the graph's stop (its shutdown holds, then damps): from the first active
    # tick on the operator saw nothing but active (before activation the chain may report
    # damping: nothing commanded yet), and the node's own record agrees
    modes = s["modes"]
    assert status.get("mode") == "ACTIVE", why
    assert "active" in seen and seen[seen.index("active"):] == ["active"], why
    tail = modes[modes.index("active") + 1:] if "active" in modes else ["?"]
    assert set(tail) <= {"hold", "damping", "stop"} and tail.count("active") == 0, why
    assert s["watchdog_deferred"] >= 3, why  # the watchdog came late after each stall
