"""QoS profiles of the graph (DESIGN.md): state and commands best effort, depth 1 (a late
sample is worthless, only the newest counts); e-stop, teleop intervention and diagnostics
reliable (an e-stop must never be dropped)."""

from typing import Any

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from robot_rl_ros.contain import contained

STATE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT,
                       history=HistoryPolicy.KEEP_LAST)
COMMAND_QOS = STATE_QOS
EVENT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                       history=HistoryPolicy.KEEP_LAST)


def quiet_sub() -> dict[str, Any]:
    """Keyword arguments for create_subscription: no QoS-event handlers (each one is another
    waitable the Python executor re-adds to its wait set on every wake-up)."""
    from rclpy.event_handler import SubscriptionEventCallbacks

    return {"event_callbacks": SubscriptionEventCallbacks(use_default_callbacks=False)}


def quiet_pub() -> dict[str, Any]:
    """The same for create_publisher."""
    from rclpy.event_handler import PublisherEventCallbacks

    return {"event_callbacks": PublisherEventCallbacks(use_default_callbacks=False)}


def subscribe(node: Any, msg_type: Any, topic: str, callback: Any, qos: QoSProfile) -> Any:
    """``node.create_subscription`` without QoS-event handlers (see `quiet_sub`), the callback
    fault-contained (`robot_rl_ros.contain`: an exception is logged and counted, the executor
    goes on)."""
    return node.create_subscription(msg_type, topic, contained(node, topic, callback), qos,
                                    **quiet_sub())


def publisher(node: Any, msg_type: Any, topic: str, qos: QoSProfile) -> Any:
    """``node.create_publisher`` without QoS-event handlers."""
    return node.create_publisher(msg_type, topic, qos, **quiet_pub())
