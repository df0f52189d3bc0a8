"""Deployment configuration (``configs/deploy/*.yaml``): which robot, which backend, which
policy bundle, and the rates and timeouts of the deploy graph.

One file describes one deployment; `robot-rl bringup CONFIG` starts the ROS 2 graph from it
and `DeployLoop` runs the same pieces without ROS. Mistakes (an unknown robot or backend, a
backend that cannot drive this robot, rates that do not divide) are refused at load time with
the file, key and reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from robot_rl.config import load_config, resolve
from robot_rl.robots import ROBOTS
from robot_rl.robots.spec import RobotSpec
from robot_rl.safety.robot_config import robot_config_file

# the backends every robot has: its MuJoCo model, nominal or as the reality proxy
SIM_BACKENDS = ("sim", "proxy")


def robot_backends(spec: RobotSpec) -> tuple[str, ...]:
    """The backends ``spec``'s robot can be deployed on: the simulated ones and those its
    hardware description declares (`RobotHardware.backends`; `robot_rl.deploy.backends`)."""
    return SIM_BACKENDS + spec.hardware.backends


@dataclass
class BackendConfig:
    """Where the bridge's `Robot` comes from.

    Attributes:
        kind: one of the robot's backends (`robot_backends`).
        proxy_seed: the reality proxy behind ``proxy`` (and, if set, behind the virtual
            devices); None = the nominal model.
        realtime: sim seconds per wall second of the simulated robot (1 = real time).
        protocol: servo protocol of ``virtual_bus`` / ``serial`` (feetech | dynamixel).
        port: serial port of ``serial``; channels: CAN channels of ``can`` (one per leg).
        can_interface: python-can interface of ``can`` (slcan | socketcan).
        calibration: JSON calibration file of ``serial`` (`robot-rl hardware calibrate`).
    """

    kind: str = "sim"
    proxy_seed: int | None = None
    realtime: float = 1.0
    protocol: str = "feetech"
    port: str = ""
    channels: tuple[str, ...] = ()
    can_interface: str = "slcan"
    calibration: str = ""

    def validate(self) -> None:
        if self.kind == "proxy" and self.proxy_seed is None:
            raise ValueError("backend.proxy_seed is required for backend 'proxy'")
        if not self.realtime > 0:
            raise ValueError(f"backend.realtime must be > 0, got {self.realtime}")
        if self.protocol not in ("feetech", "dynamixel"):
            raise ValueError(f"backend.protocol must be feetech or dynamixel, got "
                             f"'{self.protocol}'")
        if self.kind == "serial" and not (self.port and self.calibration):
            raise ValueError("backend 'serial' needs backend.port (e.g. /dev/ttyACM0) and "
                             "backend.calibration (from `robot-rl hardware calibrate`)")
        if self.kind == "can" and not self.channels:
            raise ValueError("backend 'can' needs backend.channels (one CAN channel per leg)")


@dataclass
class BridgeConfig:
    """The hardware bridge's fast loop.

    Attributes:
        rate_hz: loop rate (read state, publish, write the latest safe command).
        publish_every: publish joint states / IMU every N-th tick.
        command_timeout_s: a safe command is held at most this long after it arrived, then
            the bridge damps until a new one arrives; in (0, 1] s (the bridge's last line of
            defence when the safety node dies: a stiff robot nobody commands for longer than
            a second is not safe).
        max_command_age_s: a command computed from a state older than this is refused and
            damping latched (a policy or safety node that stalled and resumed); in (0, 1] s.
            The state -> command latency is ~0.5-3 ms on these machines (docs/results.md).
        soft_start_s: on activation the gains ramp from 0 to the commanded ones over this;
            in [0, 10] s.
        shutdown_damp_s: on shutdown the robot is damped this long before disconnecting;
            in [0, 10] s (enough for any robot to come to rest).
        realtime_priority: 0 (default): the loop thread is scheduled like any other; 1-99: it
            runs in SCHED_FIFO at that priority (`robot_rl.runtime.realtime`), so a busy
            machine does not wake it late. Where the OS refuses, the bridge runs without it
            and its stats say why (``realtime_error``).
    """

    COMMAND_TIMEOUT_MAX: ClassVar[float] = 1.0
    RAMP_MAX: ClassVar[float] = 10.0  # soft_start_s, shutdown_damp_s

    rate_hz: float = 500.0
    publish_every: int = 1
    command_timeout_s: float = 0.1
    soft_start_s: float = 1.0
    shutdown_damp_s: float = 1.0
    realtime_priority: int = 0
    max_command_age_s: float = 0.1

    def validate(self) -> None:
        if not 0 <= self.realtime_priority <= 99:
            raise ValueError(f"bridge.realtime_priority must be 0 (off) or 1..99 (SCHED_FIFO), "
                             f"got {self.realtime_priority}")
        if not 1.0 <= self.rate_hz <= 2000.0:
            raise ValueError(f"bridge.rate_hz must be in [1, 2000], got {self.rate_hz}")
        if self.publish_every < 1:
            raise ValueError("bridge.publish_every must be >= 1")
        if not 0 < self.command_timeout_s <= self.COMMAND_TIMEOUT_MAX:
            raise ValueError(f"bridge.command_timeout_s must be in (0, "
                             f"{self.COMMAND_TIMEOUT_MAX}] s, got {self.command_timeout_s}")
        for key in ("soft_start_s", "shutdown_damp_s"):
            v = getattr(self, key)
            if not 0 <= v <= self.RAMP_MAX:
                raise ValueError(f"bridge.{key} must be in [0, {self.RAMP_MAX}] s, got {v}")
        if not 0 < self.max_command_age_s <= self.COMMAND_TIMEOUT_MAX:
            raise ValueError(f"bridge.max_command_age_s must be in (0, "
                             f"{self.COMMAND_TIMEOUT_MAX}] s, got {self.max_command_age_s}")


@dataclass
class PolicyNodeConfig:
    """Attributes: command: initial task command (vx, vy, yaw rate for the quadruped; a goal
    position for the arm); threads: onnxruntime intra-op threads; adopt_bundle_gains: drive
    the robot with the kp and kd of the bundle's control contract (the gains it was trained
    with) instead of refusing a bundle whose gains differ from the robot config's
    (`robot_rl.robots.contract`); every other field of the contract must still match."""

    command: tuple[float, ...] = ()
    threads: int = 1
    adopt_bundle_gains: bool = False

    def validate(self) -> None:
        if self.threads < 1:
            raise ValueError("policy.threads must be >= 1")


@dataclass
class ScriptStep:
    """From ``t`` [s] after activation on (t >= 0), command ``cmd``: the robot's task command
    of `TASK_COMMAND_SIZE` values (see `task_command`)."""

    t: float = 0.0
    cmd: tuple[float, ...] = ()

    def validate(self) -> None:
        if not self.t >= 0:
            raise ValueError(f"t must be >= 0 s (after activation), got {self.t}")


# Every task-command term of the observation builder (`robot_rl.runtime.obs`:
# velocity_command, goal_pos, goal_rel) reads 3 values; `PolicyController` defaults to 3 zeros.
TASK_COMMAND_SIZE = 3


def task_command(robot: str) -> str:
    """What the task command of ``robot`` is, for messages: a /cmd_vel twist for a floating
    base (legged robot), a /goal position for an arm."""
    if ROBOTS[robot].floating_base:
        return "a /cmd_vel twist (vx [m/s], vy [m/s], yaw rate [rad/s])"
    return "a /goal position (x, y, z) [m] in the base frame"


@dataclass
class DeployConfig:
    """YAML schema of ``configs/deploy/*.yaml``.

    Attributes:
        robot: robot name. robot_config: its deployment config (limits, safety chain);
            default ``configs/robots/<robot>.yaml``.
        policy_path: the policy bundle (relative paths are relative to the repository).
        backend, bridge, policy: see their classes.
        watchdog_hz: the safety node's command watchdog runs on every state (stale policy →
            hold → damping); a check that comes more than 1.25 / ``watchdog_hz`` after the
            previous one means the node's own process stalled, and yields once to the
            commands queued meanwhile.
        script: the scripted command sequence of a demo run (each step's ``cmd`` the
            robot's task command, `TASK_COMMAND_SIZE` values; refused at load otherwise);
            run_s its length, in (0, 86400] s.
        executor_realtime_priority: 0 (default): the policy and safety nodes' worker threads
            (the policy's inference, the safety chain's watchdog) and, with ``--processes``,
            each node process's executor and middleware threads (the safety node's command
            ticks, the bridge's command subscription) are scheduled like any other; 1-99:
            SCHED_FIFO at that priority, below the bridge loop's. Where the OS refuses, the
            node runs without it and its stats say why (``executor_realtime_error``).
    """

    robot: str = ""
    robot_config: str = ""
    policy_path: str = ""
    backend: BackendConfig = field(default_factory=BackendConfig)
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    policy: PolicyNodeConfig = field(default_factory=PolicyNodeConfig)
    watchdog_hz: float = 25.0
    script: tuple[ScriptStep, ...] = ()
    run_s: float = 20.0
    executor_realtime_priority: int = 0

    RUN_MAX: ClassVar[float] = 86_400.0  # run_s: a day

    def validate(self) -> None:
        if not 0 <= self.executor_realtime_priority <= 99:
            raise ValueError("executor_realtime_priority must be 0 (off) or 1..99 (SCHED_FIFO), "
                             f"got {self.executor_realtime_priority}")
        if self.robot not in ROBOTS:
            raise ValueError(f"robot: unknown robot '{self.robot}'; available: "
                             f"{', '.join(sorted(ROBOTS))}")
        allowed = robot_backends(ROBOTS[self.robot])
        if self.backend.kind not in allowed:
            raise ValueError(f"backend.kind: '{self.backend.kind}' is not a backend of "
                             f"{self.robot}; it has {', '.join(allowed)}")
        if not 1.0 <= self.watchdog_hz <= 1000.0:
            raise ValueError(f"watchdog_hz must be in [1, 1000], got {self.watchdog_hz}")
        if not 0 < self.run_s <= self.RUN_MAX:
            raise ValueError(f"run_s must be in (0, {self.RUN_MAX:g}] s, got {self.run_s}")
        n = TASK_COMMAND_SIZE
        if self.policy.command and len(self.policy.command) != n:
            raise ValueError(f"policy.command: {len(self.policy.command)} value(s), but "
                             f"{self.robot} takes {n}: {task_command(self.robot)}")
        for i, step in enumerate(self.script):
            if len(step.cmd) != n:
                raise ValueError(f"script[{i}].cmd: {len(step.cmd)} value(s) {list(step.cmd)}, "
                                 f"but {self.robot} takes {n}: {task_command(self.robot)}")
        times = [s.t for s in self.script]
        if times != sorted(times):
            raise ValueError("script: steps must be in increasing time order")

    def robot_config_path(self) -> Path:
        return resolve(self.robot_config) if self.robot_config else robot_config_file(self.robot)

    def policy_file(self) -> Path | None:
        return resolve(self.policy_path) if self.policy_path else None

    def command_at(self, t: float) -> tuple[float, ...] | None:
        """The scripted command in force ``t`` s after activation (None before the first)."""
        cmd = None
        for s in self.script:
            if s.t <= t:
                cmd = s.cmd
        return cmd


def load_deploy_config(path: str | Path) -> DeployConfig:
    return load_config(DeployConfig, resolve(path))


__all__ = ["SIM_BACKENDS", "TASK_COMMAND_SIZE", "BackendConfig", "BridgeConfig", "DeployConfig",
           "PolicyNodeConfig", "ScriptStep", "load_deploy_config", "resolve", "robot_backends",
           "task_command"]
