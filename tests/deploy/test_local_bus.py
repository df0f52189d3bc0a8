"""The in-process graph's direct hand-over (`robot_rl_ros.local.LocalBus`) and the command
conversion it shares with the topics, and the nodes' stream-gap statistics."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from robot_rl.robots import get_robot
from robot_rl.types import JointCommand

convert = pytest.importorskip("robot_rl_ros.convert")  # needs the ROS message wheels
from robot_rl_ros.local import LocalBus  # noqa: E402


class _Owner:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


def test_bus_delivers_in_order_and_isolates_a_failing_subscriber() -> None:
    bus, calls = LocalBus(), []
    safety, policy, broken = _Owner("safety"), _Owner("policy"), _Owner("broken")
    bus.subscribe(policy, "state", lambda st: calls.append(("policy", st)), order=1)
    bus.subscribe(broken, "state", lambda st: 1 / 0, order=2)
    bus.subscribe(safety, "state", lambda st: calls.append(("safety", st)), order=0)
    bus.deliver("state", 7)
    bus.deliver("state", 8)  # the failure does not stop the others, nor reach the caller
    assert calls == [("safety", 7), ("policy", 7), ("safety", 8), ("policy", 8)]
    assert bus.errors == 2 and "broken on state: ZeroDivisionError" in bus.last_error
    assert not bus.has_subscribers("command")
    with pytest.raises(ValueError, match="no topic 'joint_states'; topics: state"):
        bus.subscribe(safety, "joint_states", print)


def test_drop_waits_for_a_delivery_under_way_and_then_nothing_arrives() -> None:
    bus, calls = LocalBus(), []
    owner = _Owner("policy")
    entered, release = threading.Event(), threading.Event()

    def slow(st: int) -> None:
        entered.set()
        release.wait(2.0)
        calls.append(st)

    bus.subscribe(owner, "state", slow)
    th = threading.Thread(target=bus.deliver, args=("state", 1))
    th.start()
    assert entered.wait(2.0)
    threading.Timer(0.1, release.set).start()
    t0 = time.monotonic()
    bus.drop(owner)  # returns only once the call into the owner is over
    assert calls == [1] and time.monotonic() - t0 >= 0.09
    bus.deliver("state", 2)
    th.join(2.0)
    assert calls == [1] and not bus.has_subscribers("state")


@pytest.mark.parametrize("mode", ["active", "hold", "damping", "stop"])
def test_direct_command_gets_the_gains_the_topic_would_give(mode: str) -> None:
    spec = get_robot("quad12")
    rng = np.random.default_rng(0)
    n = spec.n_joints
    # gains the robot config does not allow: neither path may pass them on
    cmd = JointCommand(spec.joint_names, rng.normal(size=n), rng.normal(size=n),
                       np.full(n, 999.0), np.full(n, 99.0), rng.normal(size=n))
    via_topic, mode_back, _ = convert.msg_to_command(spec, convert.command_to_msg(cmd, 1.0, mode))
    direct = convert.with_mode_gains(spec, cmd, mode)
    assert mode_back == mode
    for field in ("q_target", "dq_target", "kp", "kd", "tau_ff"):
        np.testing.assert_allclose(getattr(direct, field), getattr(via_topic, field))
    assert not np.shares_memory(direct.q_target, cmd.q_target)  # a copy: the sender may reuse
    assert np.all(direct.kp <= spec.kp)
    with pytest.raises(ValueError, match="unknown command mode 'fast'"):
        convert.with_mode_gains(spec, cmd, "fast")


def test_arrival_gaps_keep_the_longest_gaps_and_when_they_began() -> None:
    """The nodes' stall finder: a 50 Hz stream with one 0.33 s hole 5 s in."""
    from robot_rl_ros.timing import ArrivalGaps

    gaps = ArrivalGaps(keep=3)
    t = 100.0
    for k in range(500):
        gaps.add(t)
        t += 0.33 if k == 250 else 0.02
    s = gaps.summary()
    assert s["arrivals"] == 500
    assert s["longest_gaps_ms"][0] == 330.0 and s["at_s"][0] == 5.0
    assert len(s["longest_gaps_ms"]) == 3 and s["longest_gaps_ms"][1] == 20.0
