"""The system-identification log (`SysIdLog`) and its two file formats.

What is logged per control tick: the state read (q, dq, the torque the motors report), the
command sent, and, where a joint torque sensor exists (the proxy's ground truth), the
delivered torque. `sim2real.experiment` records it; the fits (`sim2real.sysid`,
`sim2real.actuator`) read it.

Formats, chosen by the file's suffix (`SysIdLog.save` / `SysIdLog.load`):

- ``.npz``: every field, and a JSON header (robot, control period, stand, metadata).
- ``.mcap``: ROS 2 messages, read and written without ROS (`write_mcap`, `read_mcap`): the
  same topics and messages the deploy graph uses (DESIGN.md), so a recording of a real
  robot's graph (``ros2 bag record -s mcap /joint_states /command`` on a full ROS 2
  install, the robot on its stand, driven by an excitation) can be fitted like a
  `robot-rl sysid excite` log. Topics (CDR-encoded, `mcap_ros2`):

  - ``/joint_states`` (sensor_msgs/JointState): position, velocity, effort (measured
    torque). One message is one tick of the log; its log time is the tick's time.
  - ``/command`` (sensor_msgs/JointState): position = target, velocity = target velocity,
    effort = feed-forward torque, ``header.frame_id`` the safety mode. Gains are not in the
    message: they are the robot's for the mode (`RobotSpec.command`), as on the robot.
    Row k's command is the last one logged before tick k + 1 (held, as the bridge holds
    it); ticks before the first command are dropped.
  - ``/sysid/meta`` (std_msgs/String, optional): JSON with the robot, control period, stand
    and the experiment's metadata; written by `write_mcap`. Without it the robot must be
    named and the control period is the median tick interval.
  - ``/sysid/tau_delivered`` (sensor_msgs/JointState, optional): a joint torque sensor's
    reading in ``effort`` (the proxy's).

  A log whose gains differ from the robot's own for ``active`` or ``damping`` cannot be
  written as MCAP: a /command message carries the mode, not gains.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.robots import get_robot

LOG_FIELDS = ("t", "q", "dq", "tau", "q_target", "dq_target", "kp", "kd", "tau_ff")
SKIP_S = 2.5  # s at the start of a log left out of every fit: the chain's 2 s soft start


class SysIdError(RobotRLError, ValueError):
    """A log or a setting the identification cannot use (the message says why and what to do)."""


@dataclass
class SysIdLog:
    """Joint trajectories at the control rate: row k is the state read at tick k and the
    command sent right after it (held until tick k + 1). Arrays (T, n_joints), ``t`` (T,)."""

    robot: str
    control_dt: float
    fixed_base: bool
    t: np.ndarray
    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    q_target: np.ndarray
    dq_target: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    tau_ff: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    tau_delivered: np.ndarray | None = None  # a joint torque sensor's reading, if there is one

    @property
    def seconds(self) -> float:
        return float(len(self.t) * self.control_dt)

    def save(self, path: str | Path) -> Path:
        """``.npz`` (every field), or ``.mcap`` (ROS 2 messages: `write_mcap`)."""
        path = Path(path)
        if path.suffix == ".mcap":
            return write_mcap(self, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"robot": self.robot, "control_dt": self.control_dt,
                  "fixed_base": self.fixed_base, "meta": self.meta}
        extra = {} if self.tau_delivered is None else {"tau_delivered": self.tau_delivered}
        arrays = {k: getattr(self, k) for k in LOG_FIELDS} | extra
        np.savez_compressed(path, header=np.array(json.dumps(header)),
                            **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, path: str | Path, robot: str | None = None) -> SysIdLog:
        """A ``.npz`` log, or an ``.mcap`` recording of /joint_states and /command
        (`read_mcap`; ``robot`` names the robot where the file does not)."""
        path = Path(path)
        if not path.is_file():
            raise SysIdError(f"{path}: no such log; record one with `robot-rl sysid excite`")
        if path.suffix == ".mcap":
            return read_mcap(path, robot)
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                arrays = {k: np.asarray(z[k], dtype=np.float64) for k in LOG_FIELDS}
                if "tau_delivered" in z.files:
                    arrays["tau_delivered"] = np.asarray(z["tau_delivered"], dtype=np.float64)
        except (OSError, ValueError, KeyError) as e:
            raise SysIdError(f"{path}: not a sysid log ({e}); record one with "
                             "`robot-rl sysid excite`") from None
        log = cls(robot=header["robot"], control_dt=float(header["control_dt"]),
                  fixed_base=bool(header["fixed_base"]), meta=header.get("meta", {}),
                  **arrays)
        log.validate()
        return log

    def validate(self) -> None:
        spec = get_robot(self.robot)
        n, rows = spec.n_joints, len(self.t)
        for k in LOG_FIELDS[1:] + ("tau_delivered",):
            a = getattr(self, k)
            if a is None:
                continue
            if a.shape != (rows, n):
                raise SysIdError(f"sysid log field '{k}' has shape {a.shape}, expected "
                                 f"({rows}, {n}) for robot {self.robot}")
            if not np.all(np.isfinite(a)):
                raise SysIdError(f"sysid log field '{k}' holds NaN/inf values")
        if rows < 200:
            raise SysIdError(f"sysid log has {rows} ticks; at least 200 are needed")


# -- the MCAP format ----------------------------------------------------------------------------
STATE_TOPIC = "/joint_states"
COMMAND_TOPIC = "/command"
META_TOPIC = "/sysid/meta"
DELIVERED_TOPIC = "/sysid/tau_delivered"

_TIME = """================================================================================
MSG: std_msgs/Header
builtin_interfaces/Time stamp
string frame_id
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
"""
JOINT_STATE_DEF = """std_msgs/Header header
string[] name
float64[] position
float64[] velocity
float64[] effort
""" + _TIME
STRING_DEF = "string data\n"


def _stamp(t: float) -> dict[str, int]:
    ns = int(round(t * 1e9))
    return {"sec": ns // 1_000_000_000, "nanosec": ns % 1_000_000_000}


def write_mcap(log: SysIdLog, path: str | Path) -> Path:
    """Write ``log`` as an MCAP file (module docstring); tick times start at ``log.t``."""
    # lazy: mcap_ros2 is not a declared dependency, and only the .mcap format needs it
    from mcap_ros2.writer import Writer

    spec = get_robot(log.robot)
    active = np.all(log.kp == spec.kp, axis=1) & np.all(log.kd == spec.kd, axis=1)
    damping = np.all(log.kp == 0.0, axis=1) & np.all(log.kd == spec.damping_kd, axis=1)
    if not np.all(active | damping):
        k = int(np.flatnonzero(~(active | damping))[0])
        raise SysIdError(f"tick {k}: gains other than {log.robot}'s own for a safety mode; a "
                         "/command message carries the mode, not gains: keep the .npz format")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(spec.joint_names)
    t0 = 1_700_000_000.0 if float(log.t[0]) < 1e6 else 0.0  # a plausible epoch for tools
    with path.open("wb") as f:
        w = Writer(f)
        js = w.register_msgdef("sensor_msgs/msg/JointState", JOINT_STATE_DEF)
        text = w.register_msgdef("std_msgs/msg/String", STRING_DEF)
        header = {"robot": log.robot, "control_dt": log.control_dt,
                  "fixed_base": log.fixed_base, "meta": log.meta, "time_offset_s": t0}
        start = int(round((t0 + float(log.t[0])) * 1e9))
        w.write_message(META_TOPIC, text, {"data": json.dumps(header)}, start, start)
        for k, t in enumerate(log.t):
            tt = t0 + float(t)
            ns = int(round(tt * 1e9))
            w.write_message(STATE_TOPIC, js, {
                "header": {"stamp": _stamp(tt), "frame_id": ""}, "name": names,
                "position": log.q[k].tolist(), "velocity": log.dq[k].tolist(),
                "effort": log.tau[k].tolist()}, ns, ns)
            if log.tau_delivered is not None:
                w.write_message(DELIVERED_TOPIC, js, {
                    "header": {"stamp": _stamp(tt), "frame_id": ""}, "name": names,
                    "position": [], "velocity": [], "effort": log.tau_delivered[k].tolist()},
                    ns, ns)
            w.write_message(COMMAND_TOPIC, js, {  # sent right after the reading
                "header": {"stamp": _stamp(tt), "frame_id": "active" if active[k] else "damping"},
                "name": names, "position": log.q_target[k].tolist(),
                "velocity": log.dq_target[k].tolist(), "effort": log.tau_ff[k].tolist()},
                ns + 1, ns + 1)
        w.finish()
    return path


@functools.lru_cache(maxsize=8)
def _order(msg_names: tuple[str, ...], names: tuple[str, ...]) -> tuple[list[int], list[str]]:
    """Where each of the robot's joints is in a message's name list, and the joints missing
    from it (once per name list: a recording repeats the same one)."""
    idx = {n: i for i, n in enumerate(msg_names)}
    return [idx.get(n, -1) for n in names], [n for n in names if n not in idx]


def _ordered(msg: Any, names: tuple[str, ...], field: str, where: str) -> np.ndarray:
    """A JointState field in the robot's joint order (by name), or a clear error."""
    values = getattr(msg, field)
    order, missing = _order(tuple(msg.name), names)
    if missing or len(values) != len(msg.name):
        raise SysIdError(f"{where}: {field} lacks joints {missing or '(sizes differ)'}; "
                         f"expected {list(names)}")
    return np.array([values[i] for i in order], dtype=np.float64)


def read_mcap(path: str | Path, robot: str | None = None) -> SysIdLog:
    """The `SysIdLog` of an MCAP file (module docstring). ``robot``: needed when the file has
    no ``/sysid/meta`` (a plain recording of the graph); checked against it otherwise."""
    # lazy: mcap and mcap_ros2 are not declared dependencies, and only .mcap logs need them
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    path = Path(path)
    header: dict[str, Any] | None = None
    states: list[tuple[int, Any]] = []
    commands: list[tuple[int, Any]] = []
    delivered: list[Any] = []
    try:
        with path.open("rb") as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            for _, channel, message, msg in reader.iter_decoded_messages(
                    topics=[STATE_TOPIC, COMMAND_TOPIC, META_TOPIC, DELIVERED_TOPIC],
                    log_time_order=True):
                topic = channel.topic
                if topic == META_TOPIC:
                    header = json.loads(msg.data)
                elif topic == STATE_TOPIC:
                    states.append((message.log_time, msg))
                elif topic == COMMAND_TOPIC:
                    commands.append((message.log_time, msg))
                else:
                    delivered.append(msg)
    except Exception as e:  # the mcap readers raise their own error types
        raise SysIdError(f"{path}: not a readable MCAP file of ROS 2 messages ({e})") from None
    if header is not None and robot is not None and robot != header["robot"]:
        raise SysIdError(f"{path} is a log of {header['robot']}, not {robot}")
    name = robot if header is None else header["robot"]
    if name is None:
        raise SysIdError(f"{path} has no {META_TOPIC} naming the robot: pass it (--robot R)")
    if not states or not commands:
        raise SysIdError(f"{path}: needs {STATE_TOPIC} and {COMMAND_TOPIC} messages, has "
                         f"{len(states)} and {len(commands)}")
    spec = get_robot(name)
    names = spec.joint_names
    t_state = np.array([t for t, _ in states], dtype=np.int64)
    t_cmd = np.array([t for t, _ in commands], dtype=np.int64)
    # row k: the state at tick k and the last command before tick k + 1 (held until then)
    nxt = np.r_[t_state[1:], np.iinfo(np.int64).max]
    which = np.asarray(np.searchsorted(t_cmd, nxt, side="left"), dtype=np.int64) - 1
    rows = np.flatnonzero(which >= 0)
    if len(rows) < 200:
        raise SysIdError(f"{path}: {len(rows)} ticks with a command; at least 200 are needed")
    q, dq, tau, qt, dqt, kp, kd, ff = ([] for _ in range(8))
    cmds: dict[int, Any] = {}
    for k in rows:
        _, st = states[k]
        where = f"{path}: {STATE_TOPIC} #{k}"
        q.append(_ordered(st, names, "position", where))
        dq.append(_ordered(st, names, "velocity", where))
        tau.append(_ordered(st, names, "effort", where) if len(st.effort)
                   else np.zeros(len(names)))
        c = int(which[k])
        if c not in cmds:
            _, cm = commands[c]
            where = f"{path}: {COMMAND_TOPIC} #{c}"
            n = len(names)
            try:
                cmds[c] = spec.command(
                    cm.header.frame_id or "active", _ordered(cm, names, "position", where),
                    _ordered(cm, names, "velocity", where) if len(cm.velocity) else np.zeros(n),
                    _ordered(cm, names, "effort", where) if len(cm.effort) else np.zeros(n))
            except ValueError as e:
                raise SysIdError(f"{where}: {e}") from None
        cmd = cmds[c]
        qt.append(cmd.q_target)
        dqt.append(cmd.dq_target)
        kp.append(cmd.kp)
        kd.append(cmd.kd)
        ff.append(cmd.tau_ff)
    t = t_state[rows] * 1e-9 - (header or {}).get("time_offset_s", 0.0)
    dt = (float(header["control_dt"]) if header is not None
          else float(np.median(np.diff(t_state))) * 1e-9)
    extra = {}
    if len(delivered) == len(states):
        extra["tau_delivered"] = np.stack([_ordered(delivered[k], names, "effort",
                                                    f"{path}: {DELIVERED_TOPIC}")
                                           for k in rows])
    meta = dict((header or {}).get("meta", {}))
    meta.setdefault("source", f"mcap:{path.name}")
    log = SysIdLog(robot=name, control_dt=dt,
                   fixed_base=bool((header or {}).get("fixed_base", True)), t=t,
                   q=np.stack(q), dq=np.stack(dq), tau=np.stack(tau), q_target=np.stack(qt),
                   dq_target=np.stack(dqt), kp=np.stack(kp), kd=np.stack(kd),
                   tau_ff=np.stack(ff), meta=meta, **extra)
    log.validate()
    return log


__all__ = ["COMMAND_TOPIC", "DELIVERED_TOPIC", "JOINT_STATE_DEF", "LOG_FIELDS", "META_TOPIC",
           "SKIP_S", "STATE_TOPIC", "STRING_DEF", "SysIdError", "SysIdLog", "read_mcap",
           "write_mcap"]
