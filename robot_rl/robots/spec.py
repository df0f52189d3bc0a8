"""`RobotSpec`: the one place that holds a robot's constants, and `RobotHardware`, what its
real hardware is.

Each robot is one package (``robot_rl/robots/quad12/``, ``robot_rl/robots/arm6/``): its
``RobotSpec`` (with its `RobotHardware`) in ``__init__.py`` next to its MJCF files in
``assets/``. Training envs, the tracking controllers, the safety chain, the hardware drivers,
the virtual devices and the deployment backends all read the robot's constants from here,
never from copies, and never name a robot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robot_rl.types import JointCommand

COMMAND_MODES = ("active", "hold", "stand", "damping", "stop")  # the safety layer's

GAINS = ("per_message", "firmware")  # where a robot's PD gains live (`RobotHardware.gains`)


@dataclass(frozen=True)
class CanMotor:
    """One joint's motor on a CAN bus speaking the MIT protocol: which bus (adapter) and CAN
    id, and the ranges the driver scales its fields over (position [rad], speed [rad/s],
    kp [N m/rad], kd [N m s/rad], torque [N m]; the motor type's firmware constants)."""

    bus: int
    can_id: int
    p_max: float
    v_max: float
    kp_max: float
    kd_max: float
    t_max: float


@dataclass(frozen=True)
class ServoMotor:
    """One joint's serial-bus servo: its id on the bus and its model per servo protocol
    (the control table the driver uses), e.g. ``{"feetech": "sts3215"}``."""

    motor_id: int
    models: tuple[tuple[str, str], ...]  # (protocol, model) pairs

    def model(self, protocol: str) -> str:
        for proto, name in self.models:
            if proto == protocol:
                return name
        raise KeyError(f"servo {self.motor_id} has no model for protocol '{protocol}'; it has "
                       f"{', '.join(p for p, _ in self.models)}")


@dataclass(frozen=True)
class RobotHardware:
    """What the robot's hardware is.

    Attributes:
        backends: the hardware backends it supports besides ``sim`` and ``proxy`` (which
            every robot has): e.g. ``virtual_can`` and ``can`` for CAN motors, ``virtual_bus``
            and ``serial`` for a servo bus (`robot_rl.deploy.backends`).
        can_motors: per joint (in ``joint_names`` order), its CAN motor, if it has them.
        servo_motors: per joint, its servo, if it has them.
        gains: ``per_message`` (every command carries kp and kd, as MIT motors take them) or
            ``firmware`` (the servo's own position loop gains; a command carries none).
    """

    backends: tuple[str, ...] = ()
    can_motors: tuple[CanMotor, ...] = ()
    servo_motors: tuple[ServoMotor, ...] = ()
    gains: str = "per_message"

    def __post_init__(self) -> None:
        if self.gains not in GAINS:
            raise ValueError(f"RobotHardware.gains must be one of {GAINS}, got {self.gains!r}")


@dataclass(frozen=True)
class RobotSpec:
    """Constants of one robot. Per-joint arrays are in ``joint_names`` order.

    Attributes:
        name: registry name, e.g. ``"quad12"``.
        mjcf: path of the robot's scene MJCF (the robot on its default ground/table).
        joint_names: actuated joints, also the MJCF joint and motor-actuator names.
        q0: default pose [rad]: standing (quadruped) or home (arm).
        q_min, q_max: joint position limits [rad] (the MJCF ``range``).
        dq_max: joint velocity limits [rad/s].
        tau_max: motor torque limits [N m] (the MJCF actuator ``ctrlrange``).
        kp: PD stiffness [N m/rad]; kd: PD damping [N m s/rad].
        physics_dt: MuJoCo timestep [s]; the PD loop runs at this rate.
        policy_dt: policy period [s]; must be an integer multiple of ``physics_dt``.
        action_scale: joint_pos_offset actions are ``q0 + action_scale * a`` [rad].
        floating_base: True if the root body has a free joint (legged robots).
        base_body: root body name.
        imu_site: site carrying the gyro / accelerometer / framequat sensors.
        ee_site: end-effector site (arms), or "".
        feet: foot geom names, in contact-sensor order (legged robots).
        cameras: MJCF camera names.
        mass_range: plausible total mass [kg] (checked by the tests against the MJCF).
        damping_kd: kd used in damping mode (kp = 0) by the safety layer [N m s/rad].
        q_rest: resting pose [rad]: low and statically stable (a quadruped crouched with its
            feet under its hips), where the safety layer's controlled stop ends before it
            damps (`robot_rl.safety.fallback`); empty = the robot has none.
        hardware: what its real hardware is (`RobotHardware`).
        stand_gain_ratio: the stand-up's gains (`stand_kp`, `stand_kd`; the ``stand``
            command mode, used by the safety chain's soft start to stand the robot up from
            the ground) are kp x this and kd x its square root (the same damping ratio). 1 =
            the policy's gains. A policy's gains hold a standing robot; from its belly, a
            folded leg needs more torque to lift it than they give within the tracking guard's
            error.
    """

    name: str
    mjcf: Path
    joint_names: tuple[str, ...]
    q0: np.ndarray
    q_min: np.ndarray
    q_max: np.ndarray
    dq_max: np.ndarray
    tau_max: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    physics_dt: float
    policy_dt: float
    action_scale: float
    floating_base: bool
    base_body: str
    imu_site: str = ""
    ee_site: str = ""
    feet: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    mass_range: tuple[float, float] = (0.0, float("inf"))
    damping_kd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    q_rest: np.ndarray = field(default_factory=lambda: np.zeros(0))
    stand_gain_ratio: float = 1.0
    hardware: RobotHardware = field(default_factory=RobotHardware)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        for key in ("q0", "q_min", "q_max", "dq_max", "tau_max", "kp", "kd"):
            arr = np.asarray(getattr(self, key), dtype=np.float64)
            if arr.shape != (n,):
                raise ValueError(f"RobotSpec {self.name}: {key} has shape {arr.shape}, "
                                 f"expected ({n},) for joints {self.joint_names}")
            arr.setflags(write=False)
            object.__setattr__(self, key, arr)
        damping = np.asarray(self.damping_kd, dtype=np.float64)
        if damping.size == 0:
            damping = np.asarray(self.kd) * 2.0
        elif damping.shape != (n,):
            raise ValueError(f"RobotSpec {self.name}: damping_kd has shape {damping.shape}, "
                             f"expected ({n},)")
        damping = damping.copy()
        damping.setflags(write=False)
        object.__setattr__(self, "damping_kd", damping)
        rest = np.array(self.q_rest, dtype=np.float64)
        if rest.size and rest.shape != (n,):
            raise ValueError(f"RobotSpec {self.name}: q_rest has shape {rest.shape}, "
                             f"expected ({n},) or empty")
        rest.setflags(write=False)
        object.__setattr__(self, "q_rest", rest)
        if np.any(self.q_min >= self.q_max):
            raise ValueError(f"RobotSpec {self.name}: q_min must be below q_max")
        if np.any((self.q0 < self.q_min) | (self.q0 > self.q_max)):
            raise ValueError(f"RobotSpec {self.name}: q0 outside the joint limits")
        if rest.size and np.any((rest < self.q_min) | (rest > self.q_max)):
            raise ValueError(f"RobotSpec {self.name}: q_rest outside the joint limits")
        if not 1.0 <= self.stand_gain_ratio <= 5.0:
            raise ValueError(f"RobotSpec {self.name}: stand_gain_ratio must be in [1, 5], got "
                             f"{self.stand_gain_ratio}")
        if np.any(self.kp < 0) or np.any(self.kd < 0) or np.any(self.tau_max <= 0):
            raise ValueError(f"RobotSpec {self.name}: gains must be >= 0 and tau_max > 0")
        ratio = self.policy_dt / self.physics_dt
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(f"RobotSpec {self.name}: policy_dt {self.policy_dt} is not an "
                             f"integer multiple of physics_dt {self.physics_dt}")

    @property
    def stand_kp(self) -> np.ndarray:
        return self.kp * self.stand_gain_ratio

    @property
    def stand_kd(self) -> np.ndarray:
        return self.kd * float(np.sqrt(self.stand_gain_ratio))

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    @property
    def decimation(self) -> int:
        """Physics steps per policy step."""
        return int(round(self.policy_dt / self.physics_dt))

    def command(self, mode: str, q: np.ndarray, dq: np.ndarray, tau_ff: np.ndarray
                ) -> JointCommand:
        """The command a mode of the safety layer sends with these targets: ``active`` and
        ``hold`` with the robot's kp / kd, ``stand`` with its stand-up gains (`stand_kp`,
        `stand_kd`), ``damping`` and ``stop`` pure damping (kp 0, the robot's damping kd).
        The ROS graph's /command carries the mode, never gains (a JointState has no field
        for them), so this is where gains come from on the way in."""
        if mode not in COMMAND_MODES:
            raise ValueError(f"unknown command mode '{mode}' (expected one of {COMMAND_MODES})")
        if mode in ("damping", "stop"):
            return JointCommand.damping(self.joint_names, self.damping_kd)
        stand = mode == "stand"
        return JointCommand(self.joint_names, np.asarray(q, dtype=np.float64),
                            np.asarray(dq, dtype=np.float64),
                            self.stand_kp if stand else self.kp.copy(),
                            self.stand_kd if stand else self.kd.copy(),
                            np.asarray(tau_ff, dtype=np.float64))
