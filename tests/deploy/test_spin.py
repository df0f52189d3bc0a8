"""The graph's executor loop survives nodes destroyed from another thread.

rclpy raises ``InvalidHandle`` out of ``Executor.spin()`` when a node is destroyed while the
executor builds its wait set; a plain ``spin()`` thread then dies silently and every other
node of the process stops (found in CI: the safety node's watchdog stopped ticking after the
policy node was taken out of an in-process graph, 1 run in ~15 under load). With a plain
``spin()`` this churn kills the executor in 4 runs of 4."""

from __future__ import annotations

import time

import pytest

churn = pytest.importorskip("robot_rl_ros.churn")


def test_spin_keeps_running_while_nodes_are_destroyed_from_another_thread() -> None:
    rig = churn.ChurnRig().start()
    try:
        rig.churn(300)
        assert rig.alive(), "the executor thread died"
        n0 = rig.ticks
        time.sleep(0.2)
        assert rig.ticks - n0 > 10, "the surviving node's timer stopped"
    finally:
        rig.close()
    assert not rig.alive(), "spin() did not return after the executor shut down"
