"""Standard ROS 2 messages <-> the core's `RobotState` / `JointCommand`.

- ``/joint_states`` (sensor_msgs/JointState): position, velocity, effort (measured torque).
- ``/imu/data`` (sensor_msgs/Imu): orientation (ROS order x, y, z, w; the core uses MuJoCo's
  w, x, y, z), angular velocity, linear acceleration (specific force).
- ``/policy/command``, ``/teleop/command`` and ``/command`` (sensor_msgs/JointState): position =
  target [rad], velocity = target velocity [rad/s], effort = feed-forward torque [N m];
  ``header.frame_id`` carries the safety mode of ``/command`` (``active``, ``hold``,
  ``damping``, ``stop``), and on ``/command`` also the safety node's session token and its
  sequence number, ``"MODE;SESSION;SEQ"`` (`command_frame` / `parse_frame`): the bridge
  follows only the safety node of its own graph, in order (a stray publisher on ``/command``,
  or a second graph on the same domain, is refused and the robot damped).
  Gains are not in the message (JointState has no field for them):
  ``active`` / ``hold`` use the robot's configured kp / kd, ``damping`` / ``stop`` kp = 0 and
  the robot's damping kd, so a command can never carry gains the robot config did not allow.
- Stamps: ``header.stamp`` is the wall-clock time of the *state reading* a command was computed
  from, carried unchanged from the bridge through policy and safety back to the bridge: its
  arrival there minus the stamp is the state → command latency. Each process maps stamps to
  its monotonic clock with one offset (both clocks are system-wide on one machine).
"""

from __future__ import annotations

import time

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Imu, JointState

from robot_rl.robots.spec import COMMAND_MODES, RobotSpec
from robot_rl.types import JointCommand, RobotState

MODES = COMMAND_MODES
_OFFSET = time.time() - time.monotonic()


def to_stamp(mono: float) -> Time:
    wall = mono + _OFFSET
    sec = int(wall)
    return Time(sec=sec, nanosec=int((wall - sec) * 1e9))


def from_stamp(stamp: Time) -> float:
    """A header stamp on this process's monotonic clock [s]."""
    return stamp.sec + stamp.nanosec * 1e-9 - _OFFSET


class StateMessages:
    """Reusable JointState + Imu for one robot (the bridge publishes both every tick)."""

    def __init__(self, spec: RobotSpec) -> None:
        self.spec = spec
        self.joints = JointState()
        self.joints.name = list(spec.joint_names)
        self.imu = Imu()
        self.imu.header.frame_id = "imu"
        self.joints.header.frame_id = "base"

    def fill(self, st: RobotState) -> tuple[JointState, Imu]:
        stamp = to_stamp(st.t)
        js, imu = self.joints, self.imu
        js.header.stamp = stamp
        js.position = st.q.tolist()
        js.velocity = st.dq.tolist()
        js.effort = [] if st.tau is None else st.tau.tolist()
        imu.header.stamp = stamp
        q = st.imu_quat
        o = imu.orientation
        o.w, o.x, o.y, o.z = float(q[0]), float(q[1]), float(q[2]), float(q[3])
        g, a = st.imu_gyro, st.imu_acc
        imu.angular_velocity.x, imu.angular_velocity.y, imu.angular_velocity.z = (
            float(g[0]), float(g[1]), float(g[2]))
        imu.linear_acceleration.x, imu.linear_acceleration.y, imu.linear_acceleration.z = (
            float(a[0]), float(a[1]), float(a[2]))
        return js, imu


def _order(spec: RobotSpec, names: list[str]) -> list[int] | None:
    """Indices of the spec's joints in ``names`` (None: same order, the fast path)."""
    if list(names) == list(spec.joint_names):
        return None
    try:
        return [list(names).index(n) for n in spec.joint_names]
    except ValueError:
        missing = [n for n in spec.joint_names if n not in names]
        raise ValueError(f"message lacks joints {missing}") from None


def _arr(values: object, idx: list[int] | None, n: int, what: str,
         n_names: int | None = None) -> np.ndarray:
    """``values`` as float64 (n,) in the spec's order (``idx``: where each spec joint is among
    the message's ``n_names`` names). ValueError for a wrong count, whatever the order."""
    a = np.asarray(values, dtype=np.float64)
    want = n if n_names is None else n_names
    if a.ndim != 1 or a.shape[0] != want:
        raise ValueError(f"{what} has {a.size} values for {want} joint names")
    if idx is not None:
        a = a[idx]
    return a


def joint_state_to_state(spec: RobotSpec, js: JointState, imu: Imu | None) -> RobotState:
    """A `RobotState` (t on the local monotonic clock) from the latest messages."""
    idx = _order(spec, js.name)
    n, m = spec.n_joints, len(js.name)
    st = RobotState(t=from_stamp(js.header.stamp), q=_arr(js.position, idx, n, "position", m),
                    dq=_arr(js.velocity, idx, n, "velocity", m),
                    tau=_arr(js.effort, idx, n, "effort", m) if len(js.effort) else None)
    if imu is not None:
        o, w, a = imu.orientation, imu.angular_velocity, imu.linear_acceleration
        st.imu_quat = np.array([o.w, o.x, o.y, o.z])
        st.imu_gyro = np.array([w.x, w.y, w.z])
        st.imu_acc = np.array([a.x, a.y, a.z])
    return st


def command_to_msg(cmd: JointCommand, stamp_mono: float, mode: str = "active",
                   msg: JointState | None = None, session: str = "", seq: int = 0
                   ) -> JointState:
    msg = JointState() if msg is None else msg
    msg.header.stamp = to_stamp(stamp_mono)
    msg.header.frame_id = command_frame(mode, session, seq)
    msg.name = list(cmd.joint_names)
    msg.position = np.asarray(cmd.q_target, dtype=np.float64).tolist()
    msg.velocity = np.asarray(cmd.dq_target, dtype=np.float64).tolist()
    msg.effort = np.asarray(cmd.tau_ff, dtype=np.float64).tolist()
    return msg


def command_frame(mode: str, session: str = "", seq: int = 0) -> str:
    """The ``header.frame_id`` of a command: its mode, and on ``/command`` the safety node's
    session token and sequence number."""
    return f"{mode};{session};{seq}" if session else mode


def parse_frame(frame_id: str) -> tuple[str, str, int]:
    """(mode, session, seq) of a command's ``header.frame_id`` (`command_frame`); session ""
    and seq -1 when it carries only a mode. ValueError for an unknown mode or a malformed
    frame."""
    parts = (frame_id or "active").split(";")
    mode = parts[0] or "active"
    if mode not in MODES:
        raise ValueError(f"unknown command mode '{mode}' (expected one of {MODES})")
    if len(parts) == 1:
        return mode, "", -1
    if len(parts) != 3 or not parts[2].isdigit():
        raise ValueError(f"malformed command frame '{frame_id[:60]}' (expected MODE;SESSION;SEQ)")
    return mode, parts[1], int(parts[2])


def msg_to_command(spec: RobotSpec, msg: JointState, mode: str | None = None
                   ) -> tuple[JointCommand, str, float]:
    """(command with the robot's gains for its mode, mode, stamp on the local clock). Raises
    ValueError for an unknown mode, a malformed frame, missing joints or wrong sizes
    (non-finite values pass: the safety chain's non-finite guard and the bridge judge them).
    ``mode``: the frame's, where the caller has already read it (`parse_frame`)."""
    if mode is None:
        mode = parse_frame(msg.header.frame_id)[0]
    idx = _order(spec, msg.name)
    n, m = spec.n_joints, len(msg.name)
    q = _arr(msg.position, idx, n, "position", m)
    dq = _arr(msg.velocity, idx, n, "velocity", m) if len(msg.velocity) else np.zeros(n)
    tau = _arr(msg.effort, idx, n, "effort", m) if len(msg.effort) else np.zeros(n)
    return _with_mode_gains(spec, mode, q, dq, tau), mode, from_stamp(msg.header.stamp)


def _with_mode_gains(spec: RobotSpec, mode: str, q: np.ndarray, dq: np.ndarray,
                     tau: np.ndarray) -> JointCommand:
    return spec.command(mode, q, dq, tau)


def with_mode_gains(spec: RobotSpec, cmd: JointCommand, mode: str) -> JointCommand:
    """What `msg_to_command` makes of ``command_to_msg(cmd, ..., mode)``, without the message:
    the targets of ``cmd`` (in the spec's joint order) with the robot's gains for ``mode``.
    The in-process graph's direct hand-over (`robot_rl_ros.transport.IntraProcess`) uses it,
    so a command carries the same gains whichever way it travelled."""
    if mode not in MODES:
        raise ValueError(f"unknown command mode '{mode}' (expected one of {MODES})")
    n = spec.n_joints
    q, dq, tau = (_arr(np.array(a, dtype=np.float64), None, n, what) for a, what in (
        (cmd.q_target, "position"), (cmd.dq_target, "velocity"), (cmd.tau_ff, "effort")))
    return _with_mode_gains(spec, mode, q, dq, tau)


__all__ = [
    "MODES",
    "StateMessages",
    "command_frame",
    "command_to_msg",
    "from_stamp",
    "joint_state_to_state",
    "msg_to_command",
    "parse_frame",
    "to_stamp",
    "with_mode_gains",
]
