"""Fault injection into a running deploy graph (either mode), from outside the deploy chain:
what the fault tests (tests/faults) and `robot-rl bench faults` share.

- `publish`: a message on any topic from a node of the bring-up's own process (the
  operator), as a stray node or a bad client would send it;
- `bad_inputs`: malformed task and teleop messages (NaN ``/cmd_vel`` and ``/goal``, a
  ``/teleop/command`` with its joints reordered and 3 positions, a ``/cmd_vel`` of 1e6);
- `safety_mode`, `damped`: what the safety node says and what reaches the motors, read the
  same way in both modes (in-process: the nodes' own objects; processes: ``/diagnostics`` and
  the ``/command`` modes the operator watches).
"""

from __future__ import annotations

import math
import time
from typing import Any

from geometry_msgs.msg import PointStamped, Twist
from sensor_msgs.msg import JointState

from robot_rl_ros.qos import EVENT_QOS


def wait_for(cond: Any, timeout: float, period: float = 0.01) -> bool:
    """Poll ``cond()`` until it is true (True) or ``timeout`` s passed (False)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(period)
    return bool(cond())


def publish(g: Any, msg_type: Any, topic: str, msg: Any, times: int = 3,
            qos: Any = None) -> None:
    """Publish ``msg`` on ``topic`` from the graph's operator node, ``times`` times 50 ms
    apart (a new publisher is given 0.5 s to be discovered first)."""
    op = g.operator
    key = (topic, msg_type)
    pubs = op.__dict__.setdefault("_inject_pubs", {})
    if key not in pubs:
        pubs[key] = op.create_publisher(msg_type, topic, qos or EVENT_QOS)
        time.sleep(0.5)
    for _ in range(times):
        pubs[key].publish(msg)
        time.sleep(0.05)


def bad_inputs(g: Any, joint_names: tuple[str, ...] | list[str]) -> None:
    """Send malformed task and teleop messages and an unbounded task command."""
    nan = Twist()
    nan.linear.x = math.nan
    publish(g, Twist, "/cmd_vel", nan)
    goal = PointStamped()
    goal.point.x = math.nan
    publish(g, PointStamped, "/goal", goal)
    shuffled = JointState()
    shuffled.name = list(reversed(joint_names))
    shuffled.position = [0.1, 0.2, 0.3]
    publish(g, JointState, "/teleop/command", shuffled)
    fast = Twist()
    fast.linear.x = 1e6
    publish(g, Twist, "/cmd_vel", fast)


def set_policy(g: Any, path: Any, wait_s: float = 10.0) -> bool:
    """Ask the policy node for a hot swap to ``path`` (its ``policy_path`` parameter); True
    if it was refused, at once or after its trial run (in-process: read from the node's swap
    log; across processes the answer to the request, the trial run's verdict then being in the
    node's stats)."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    if in_process(g):
        res = g.set_policy(path)
        if not res.successful:
            return True
        pol = g.policy
        return wait_for(lambda: any(not s["ok"] for s in pol.swap_log), wait_s)
    client = g.operator.create_client(SetParameters, "/policy_node/set_parameters")
    req = SetParameters.Request()
    req.parameters = [Parameter("policy_path", value=str(path)).to_parameter_msg()]
    res = g.operator.call(client, req)
    refused = not res.results[0].successful
    time.sleep(3.0)  # (the trial run, in the node's background load)
    return refused


def in_process(g: Any) -> bool:
    return bool(getattr(g, "nodes", None))


def safety_mode(g: Any) -> str:
    """The safety node's mode: its own object in-process, its /diagnostics across processes."""
    if in_process(g) and "safety_node" in g.nodes:
        return str(g.safety.sup.mode.name)
    return str(g.operator.safety_status.get("mode", ""))


def damped(g: Any) -> bool:
    """Whether the motors are damped now (in-process: what the bridge last sent; processes:
    the last /command's mode, which needs the operator's ``watch_commands``)."""
    if in_process(g) and "hardware_bridge" in g.nodes:
        sent = g.bridge.bridge.last_sent
        return sent is not None and not sent.kp.any()
    seen = g.operator.modes_seen
    return bool(seen) and seen[-1] in ("damping", "stop")


__all__ = ["bad_inputs", "damped", "in_process", "publish", "safety_mode", "set_policy",
           "wait_for"]
