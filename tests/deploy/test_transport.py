"""The graph's two transports (`robot_rl_ros.transport`): the in-process direct hand-over and
the middleware give a node the same objects; and the nodes' stream-gap statistics."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from robot_rl.robots import get_robot
from robot_rl.types import JointCommand

convert = pytest.importorskip("robot_rl_ros.convert")  # needs the ROS message wheels
from robot_rl_ros.transport import (  # noqa: E402
    COMMAND,
    POLICY_COMMAND,
    STATE,
    Command,
    IntraProcess,
    read_command,
)


class _Owner:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


def test_bus_delivers_in_order_and_isolates_a_failing_subscriber() -> None:
    bus, calls = IntraProcess(), []
    safety, policy, broken = _Owner("safety"), _Owner("policy"), _Owner("broken")
    bus.subscribe(policy, STATE, lambda st: calls.append(("policy", st)), order=1)
    bus.subscribe(broken, STATE, lambda st: 1 / 0, order=2)
    bus.subscribe(safety, STATE, lambda st: calls.append(("safety", st)), order=0)
    bus.deliver(STATE, 7)
    bus.deliver(STATE, 8)  # the failure does not stop the others, nor reach the caller
    assert calls == [("safety", 7), ("policy", 7), ("safety", 8), ("policy", 8)]
    assert bus.errors == 2 and "broken on /joint_states: ZeroDivisionError" in bus.last_error
    assert not bus.has_subscribers(COMMAND)
    with pytest.raises(ValueError, match="no direct hand-over for topic '/estop'; topics: "
                                         "/joint_states"):
        bus.subscribe(safety, "/estop", print)


def test_drop_waits_for_a_delivery_under_way_and_then_nothing_arrives() -> None:
    bus, calls = IntraProcess(), []
    owner = _Owner("policy")
    entered, release = threading.Event(), threading.Event()

    def slow(st: int) -> None:
        entered.set()
        release.wait(2.0)
        calls.append(st)

    bus.subscribe(owner, STATE, slow)
    th = threading.Thread(target=bus.deliver, args=(STATE, 1))
    th.start()
    assert entered.wait(2.0)
    threading.Timer(0.1, release.set).start()
    t0 = time.monotonic()
    bus.drop(owner)  # returns only once the call into the owner is over
    assert calls == [1] and time.monotonic() - t0 >= 0.09
    bus.deliver(STATE, 2)
    th.join(2.0)
    assert calls == [1] and not bus.has_subscribers(STATE)


@pytest.mark.parametrize("mode", ["active", "hold", "damping", "stop"])
def test_a_command_arrives_the_same_by_direct_hand_over_and_by_message(mode: str) -> None:
    spec = get_robot("quad12")
    rng = np.random.default_rng(0)
    n = spec.n_joints
    # gains the robot config does not allow: neither path may pass them on
    cmd = JointCommand(spec.joint_names, rng.normal(size=n), rng.normal(size=n),
                       np.full(n, 999.0), np.full(n, 99.0), rng.normal(size=n))
    sent = Command(cmd, 1.0, mode, "abc", 7)
    via_topic = read_command(spec, convert.command_to_msg(cmd, 1.0, mode, session="abc", seq=7))
    bus, got = IntraProcess(), []
    bus.subscribe_command(_Owner("bridge"), spec, COMMAND, got.append)
    bus.deliver(COMMAND, sent)
    direct = got[0]
    assert via_topic.error == "" and direct.error == ""
    for c in (via_topic, direct):
        assert (c.mode, c.session, c.seq) == (mode, "abc", 7)
        assert abs(c.stamp - 1.0) < 1e-6
    for field in ("q_target", "dq_target", "kp", "kd", "tau_ff"):
        np.testing.assert_allclose(getattr(direct.cmd, field), getattr(via_topic.cmd, field))
    assert not np.shares_memory(direct.cmd.q_target, cmd.q_target)  # a copy: the sender may reuse
    assert np.all(direct.cmd.kp <= spec.kp)
    with pytest.raises(ValueError, match="unknown command mode 'fast'"):
        convert.with_mode_gains(spec, cmd, "fast")


def test_an_unreadable_command_message_says_why() -> None:
    spec = get_robot("quad12")
    n = spec.n_joints
    cmd = JointCommand(spec.joint_names, np.zeros(n), np.zeros(n), spec.kp, spec.kd, np.zeros(n))
    msg = convert.command_to_msg(cmd, 1.0, "active", session="abc", seq=3)
    msg.header.frame_id = "active;abc;x"
    bad_frame = read_command(spec, msg)
    assert bad_frame.cmd is None and (bad_frame.session, bad_frame.seq) == ("?", -1)
    assert "malformed command frame" in bad_frame.error
    msg.header.frame_id = "active;abc;4"
    msg.position = [0.0] * (n - 1)
    short = read_command(spec, msg)
    assert short.cmd is None and (short.session, short.seq) == ("abc", 4)
    assert "position has 11 values for 12 joint names" in short.error
    assert POLICY_COMMAND != COMMAND


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
