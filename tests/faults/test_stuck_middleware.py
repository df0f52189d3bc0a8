"""A middleware write that does not return must not stall the bridge's loop.

In one full test run the bridge's 500 Hz loop once stood still for 3.0 s after the safety
node's process was SIGKILLed: the loop wrote ``/joint_states`` and ``/imu/data`` itself, and
a DDS write that blocks stops whatever thread makes it (so its command timeout never fired).
Now the loop only hands each state over; the messages are written in a thread of their own.
Here a write is made to block (as a DDS write waiting on a dead reader would) and the loop
must go on: with the state messages as the chain's route (``intra_process=False``, as across
processes) the chain starves and the bridge's own command timeout latches damping; with the
in-process hand-over the chain keeps driving the robot. Either way the stuck writer is
reported (``state_messages.stuck_s``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from graphs import deploy_config, wait_for


@pytest.mark.parametrize("intra_process", [False, True], ids=["topics", "intra_process"])
def test_a_blocked_state_message_write_never_stalls_the_bridge_loop(
        intra_process: bool, bundles: dict[str, Path], tmp_path: Path) -> None:
    from robot_rl_ros.graph import InProcessGraph

    _, cfg = deploy_config(tmp_path, bundles["quad12_stand"])
    g = InProcessGraph(cfg, intra_process=intra_process).start()
    release = threading.Event()
    try:
        g.activate()
        g.run(1.0, script=False)
        node, br = g.bridge, g.bridge.bridge
        writer = node.pub_state.messages if intra_process else node.pub_state
        real = writer.joints.publish

        def blocked(msg: Any) -> None:  # a DDS write that does not come back
            release.wait(20.0)
            real(msg)

        writer.joints.publish = blocked
        assert br.mode == "following" and not br.latched
        ticks0, commands0 = br.ticks, br.commands
        time.sleep(1.5)
        n = br.ticks - ticks0
        late_ms = np.asarray(list(br.lateness_us)[-n:]) / 1e3
        assert n > 500, n  # ~750 at 500 Hz; a loop stuck in the write: 0
        assert late_ms.max() < 200.0, late_ms.max()
        assert node.stats()["state_messages"]["stuck_s"] > 1.0
        if intra_process:  # the chain does not need the messages: the robot is still driven
            assert br.commands - commands0 > 50, br.commands - commands0
            assert br.mode == "following" and not br.latched, (br.mode, br.latched)
        else:  # no state reaches the chain: the bridge's own 0.1 s command timeout damps
            assert wait_for(lambda: "no safe command" in br.latched, 1.0), br.latched
            assert br.timeouts == 1 and br.mode == "latched"
    finally:
        release.set()
        g.stop()
