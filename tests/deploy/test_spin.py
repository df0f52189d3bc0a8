"""The graph's executor loop survives nodes destroyed from another thread.

rclpy raises ``InvalidHandle`` out of ``Executor.spin()`` when a node is destroyed while the
executor builds its wait set; a plain ``spin()`` thread then dies silently and every other
node of the process stops (found in CI: the safety node's watchdog stopped ticking after the
policy node was taken out of an in-process graph, 1 run in ~15 under load)."""

from __future__ import annotations

import threading
import time

import pytest

graph = pytest.importorskip("robot_rl_ros.graph")


def test_spin_keeps_running_while_nodes_are_destroyed_from_another_thread() -> None:
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from rclpy.signals import SignalHandlerOptions
    from std_msgs.msg import Bool

    graph.ros_environment()
    ctx = Context()
    rclpy.init(context=ctx, signal_handler_options=SignalHandlerOptions.NO)
    ex = graph.make_executor(ctx)
    try:
        keeper = Node("keeper", context=ctx, start_parameter_services=False)
        ticks = [0]

        def tick() -> None:
            ticks[0] += 1

        keeper.create_timer(0.002, tick)
        ex.add_node(keeper)
        th = threading.Thread(target=graph.spin, args=(ex,), daemon=True)
        th.start()
        # victims with the entities that race: default QoS-event handlers on a publisher and
        # a subscription, and a timer, destroyed while the executor waits on them
        for i in range(300):
            v = Node(f"victim_{i}", context=ctx, start_parameter_services=False)
            for k in range(8):
                v.create_publisher(Bool, f"/spin_test_{k}", 1)
                v.create_subscription(Bool, f"/spin_test_{k}", lambda _m: None, 1)
            v.create_timer(0.001, lambda: None)
            ex.add_node(v)
            time.sleep(0.001 * (i % 3))
            ex.remove_node(v)
            v.destroy_node()
        assert th.is_alive(), "the executor thread died"
        n0 = ticks[0]
        time.sleep(0.2)
        assert ticks[0] - n0 > 10, "the surviving node's timer stopped"
    finally:
        ex.shutdown(timeout_sec=1.0)
        rclpy.shutdown(context=ctx)


def test_spin_returns_when_the_executor_shuts_down() -> None:
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from rclpy.signals import SignalHandlerOptions

    graph.ros_environment()
    ctx = Context()
    rclpy.init(context=ctx, signal_handler_options=SignalHandlerOptions.NO)
    try:
        ex = graph.make_executor(ctx)
        node = Node("lonely", context=ctx, start_parameter_services=False)
        ex.add_node(node)
        th = threading.Thread(target=graph.spin, args=(ex,), daemon=True)
        th.start()
        time.sleep(0.1)
        ex.remove_node(node)
        node.destroy_node()
        ex.shutdown(timeout_sec=1.0)
        th.join(2.0)
        assert not th.is_alive()
    finally:
        rclpy.shutdown(context=ctx)
