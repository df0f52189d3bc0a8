"""Node churn on a running executor: nodes created and destroyed from another thread, the
fault that a node taken out of a live graph is. Used by the tests of `graph.spin` and for
soak runs; kept here so that nothing outside ``ros_ws/`` imports rclpy."""

from __future__ import annotations

import threading
import time
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Bool

from robot_rl_ros.graph import make_executor, ros_environment, spin


class ChurnRig:
    """A context, an executor spun by `graph.spin` in its own thread, and one long-lived
    node whose 500 Hz timer counts ticks (``ticks``): if the executor stops, it stops."""

    def __init__(self) -> None:
        ros_environment()
        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.executor = make_executor(self.context)
        self.keeper = Node("churn_keeper", context=self.context,
                           start_parameter_services=False)
        self.ticks = 0
        self.keeper.create_timer(0.002, self._tick)
        self.executor.add_node(self.keeper)
        self.thread = threading.Thread(target=spin, args=(self.executor,), daemon=True)

    def _tick(self) -> None:
        self.ticks += 1

    def start(self) -> ChurnRig:
        self.thread.start()
        return self

    def churn(self, n: int, entities: int = 8) -> None:
        """Add and destroy ``n`` nodes, each with ``entities`` publishers and subscriptions
        (default QoS-event handlers: the waitables that race) and a timer."""
        for i in range(n):
            v = Node(f"churn_{i}", context=self.context, start_parameter_services=False)
            for k in range(entities):
                v.create_publisher(Bool, f"/churn_{k}", 1)
                v.create_subscription(Bool, f"/churn_{k}", _ignore, 1)
            v.create_timer(0.001, _nothing)
            self.executor.add_node(v)
            time.sleep(0.001 * (i % 3))
            self.executor.remove_node(v)
            v.destroy_node()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def close(self) -> None:
        self.executor.remove_node(self.keeper)
        self.keeper.destroy_node()
        self.executor.shutdown(timeout_sec=1.0)
        self.thread.join(2.0)
        if self.context.ok():
            rclpy.shutdown(context=self.context)


def _ignore(_msg: Any) -> None:
    pass


def _nothing() -> None:
    pass


__all__ = ["ChurnRig"]
