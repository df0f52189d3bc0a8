"""`SimPlant`: a robot's MuJoCo model stepped in real time in its own thread — the physical
robot behind the virtual devices (servo bus, CAN adapter) and, later, the reality proxy.

Motor emulators do not write torques directly: each joint has a *motor law* evaluated at
every physics step with that step's joint state, like the inner loop of a real servo or
motor driver (an STS3215's position loop, an MIT driver's PD at tens of kHz):

- `PositionServoLaw`: torque enabled → ``tau = clip(kp (goal - q) - kd dq, ±tau_max)``;
  disabled → 0 (limp);
- `MitLaw`: motor mode → ``tau = clip(kp (p_des - q) + kd (v_des - dq) + t_ff, ±tau_max)``;
  otherwise 0.

Emulators update the laws' set-points (thread-safe, under ``plant.lock``) and read joint
states with `joint_state`. ``realtime`` = simulated seconds per wall second (1.0 = real time;
0 = as fast as possible, for tests that need no clock).

``perturbation``: what makes the plant differ from the nominal model, handed in as an object
(`Perturbation`; the reality proxy of a seed is ``sim2real.proxy.reality_proxy(seed)``):
model edits, joint and gyro sensor errors, an actuation latency in physics steps, and a motor
model (torque-speed envelope, gearbox friction, backlash play). The plant imports none of
the models; it calls them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import mujoco
import numpy as np

from robot_rl.control.pd import pd_torque
from robot_rl.robots import get_robot
from robot_rl.robots.mjstate import MjRobot
from robot_rl.robots.spec import RobotSpec
from robot_rl.types import RobotState


class SensorErrors(Protocol):
    """Errors of the motors' joint readings and of the IMU's gyro."""

    def joints(self, q: float, dq: float) -> tuple[float, float]: ...

    def gyro(self, w: np.ndarray) -> np.ndarray: ...


class MotorModel(Protocol):
    """A joint's motor and gearbox between the driver's torque and the link (per-joint
    arrays): the torque it can deliver, the friction opposing the motion, the play [rad]."""

    backlash: np.ndarray

    def envelope(self, tau: np.ndarray, dq: np.ndarray) -> np.ndarray: ...

    def friction(self, dq: np.ndarray) -> np.ndarray: ...


class Perturbation(Protocol):
    """What makes the plant another robot than the nominal model (e.g. the reality proxy)."""

    latency_ticks: int  # actuation latency [physics steps]

    def apply(self, model: mujoco.MjModel) -> None: ...

    def sensor_model(self) -> SensorErrors | None: ...

    def motor_model(self) -> MotorModel | None: ...

    def to_dict(self) -> dict[str, Any]:
        """Its parameters, for reports (JSON-ready)."""
        ...


# the plant's perturbation, built from its freshly loaded model and its robot
PerturbationFactory = Callable[[mujoco.MjModel, RobotSpec], Perturbation]


class Backlash:
    """A play operator per joint: the motor-side position follows the link within ±b/2."""

    def __init__(self, width: np.ndarray, q0: np.ndarray) -> None:
        self.half = 0.5 * np.asarray(width, dtype=np.float64)
        self.q_motor = np.asarray(q0, dtype=np.float64).copy()

    def update(self, q_link: np.ndarray) -> np.ndarray:
        self.q_motor = np.clip(self.q_motor, q_link - self.half, q_link + self.half)
        return self.q_motor


@dataclass
class PositionServoLaw:
    """A position-controlled servo's inner loop (gains in N m / rad, N m s / rad)."""

    kp: float
    kd: float
    tau_max: float
    goal: float = 0.0
    enabled: bool = False

    def torque(self, q: float, dq: float) -> float:
        if not self.enabled:
            return 0.0
        return float(pd_torque(self.goal, q, dq, self.kp, self.kd, tau_max=self.tau_max))


@dataclass
class MitLaw:
    """An MIT-protocol driver's PD loop on the last command."""

    tau_max: float
    p_des: float = 0.0
    v_des: float = 0.0
    kp: float = 0.0
    kd: float = 0.0
    t_ff: float = 0.0
    enabled: bool = False

    def torque(self, q: float, dq: float) -> float:
        if not self.enabled:
            return 0.0
        return float(pd_torque(self.p_des, q, dq, self.kp, self.kd, self.v_des, self.t_ff,
                               self.tau_max))


MotorLaw = PositionServoLaw | MitLaw


class MitLaws:
    """`MitLaw` for all of a robot's joints at once (one array per field, one `pd_torque`
    call per physics step): the drivers of a robot commanded as a whole (`SimRobot`)."""

    def __init__(self, tau_max: np.ndarray) -> None:
        self.tau_max = np.asarray(tau_max, dtype=np.float64).copy()
        n = self.tau_max.shape[0]
        self.p_des, self.v_des = np.zeros(n), np.zeros(n)
        self.kp, self.kd, self.t_ff = np.zeros(n), np.zeros(n), np.zeros(n)
        self.enabled = False

    def torques(self, q: np.ndarray, dq: np.ndarray, out: np.ndarray) -> np.ndarray:
        if not self.enabled:
            out[:] = 0.0
            return out
        tau: np.ndarray = pd_torque(self.p_des, q, dq, self.kp, self.kd, self.v_des,
                                    self.t_ff, self.tau_max, out=out)
        return tau


class SimPlant:
    """Args: robot: registry name; scene: MJCF path (default the robot's own / flat scene);
    realtime: sim seconds per wall second (0: free-running); keyframe: initial keyframe;
    perturbation: builds the plant's `Perturbation` from its model and robot (None: the
    nominal robot); model: a loaded model to use instead of ``scene`` (a perturbation edits
    it in place)."""

    def __init__(self, robot: str, scene: str | Path | None = None, realtime: float = 1.0,
                 keyframe: str = "home", perturbation: PerturbationFactory | None = None,
                 model: mujoco.MjModel | None = None) -> None:
        self.spec = get_robot(robot)
        if model is not None:  # a prepared model (e.g. the robot on a stand), used as is
            self.model = model
        else:
            path = Path(scene) if scene else self._default_scene()
            self.model = mujoco.MjModel.from_xml_path(str(path))
        self.model.opt.timestep = self.spec.physics_dt
        self.proxy: Perturbation | None = None  # (the reality proxy, where it is one)
        self.sensors: SensorErrors | None = None
        self.motor: MotorModel | None = None
        if perturbation is not None:
            self.proxy = perturbation(self.model, self.spec)
            self.proxy.apply(self.model)
            self.sensors = self.proxy.sensor_model()
            self.motor = self.proxy.motor_model()
        self.dt = float(self.model.opt.timestep)
        self.data = mujoco.MjData(self.model)
        key = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_KEY, keyframe)
        if key >= 0:
            mujoco.mj_resetDataKeyframe(self.model, self.data, key)
        mujoco.mj_forward(self.model, self.data)
        self.robot = MjRobot(self.spec, self.model, self.data)
        # the motor-side encoders (behind the gearbox's backlash when a motor model is on)
        self.backlash = (Backlash(self.motor.backlash, self.robot.q)
                         if self.motor is not None else None)
        self.realtime = realtime
        self.lock = threading.RLock()
        n = self.spec.n_joints
        self.laws: list[MotorLaw | None] = [None] * n
        self.all_laws: MitLaws | None = None  # (set_all_laws: instead of the per-joint ones)
        self._tau = np.zeros(n)
        latency = self.proxy.latency_ticks if self.proxy is not None else 0
        self._queue: list[np.ndarray] = [np.zeros(n) for _ in range(latency)]
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.steps = 0

    def _default_scene(self) -> Path:
        flat = self.spec.mjcf.parent / "scene_flat.xml"
        return flat if self.spec.floating_base and flat.is_file() else self.spec.mjcf

    # -- motor side --------------------------------------------------------------------------
    def set_law(self, joint: int, law: MotorLaw) -> None:
        with self.lock:
            self.laws[joint] = law

    def set_all_laws(self, laws: MitLaws | None) -> None:
        """One law object for every joint (None: back to the per-joint laws)."""
        with self.lock:
            self.all_laws = laws

    def joint_state(self, joint: int) -> tuple[float, float, float]:
        """(q [rad], dq [rad/s], tau [N m]) of one joint, as its motor measures them."""
        with self.lock:
            r = self.robot
            q_enc = r.q if self.backlash is None else self.backlash.q_motor
            q, dq = float(q_enc[joint]), float(r.dq[joint])
            if self.sensors is not None:
                q, dq = self.sensors.joints(q, dq)
            return q, dq, float(self.data.actuator_force[r.act_ids[joint]])

    def set_joint_positions(self, q: np.ndarray) -> None:
        """Put the joints at ``q`` [rad] (at rest where they are; the rest of the state as is)
        and recompute the derived quantities; the motor-side encoders follow (no play)."""
        with self.lock:
            self.robot.q[:] = q
            mujoco.mj_forward(self.model, self.data)
            if self.backlash is not None:
                self.backlash.q_motor = self.robot.q.copy()

    def delivered_torque(self) -> np.ndarray:
        """The torque each joint's actuator delivers to the link now [N m] (motor strength
        and gearbox friction included): what a joint torque sensor would read."""
        with self.lock:
            adr = self.robot.dof_adr
            return np.asarray(self.data.qfrc_actuator[adr] + self.data.qfrc_applied[adr])

    def state(self) -> RobotState:
        with self.lock:
            return self.robot.read_state()

    def imu(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """An IMU on the plant (the `hardware.robot.ImuSource` protocol): (t [monotonic s],
        quat (w, x, y, z), gyro [rad/s], acc [m/s^2]) from the MJCF's IMU sensors."""
        with self.lock:
            r = self.robot
            t = time.monotonic()
            gyro = r.sensor("imu_gyro").copy()
            if self.sensors is not None:
                gyro = self.sensors.gyro(gyro)
            return (t, r.sensor("imu_quat").copy(), gyro, r.sensor("imu_acc").copy())


    # -- physics -------------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        """``n`` physics steps with the motor laws evaluated at each."""
        with self.lock:
            r, tau, motor = self.robot, self._tau, self.motor
            for _ in range(n):
                q, dq = r.q, r.dq
                if self.backlash is not None:  # (kept in step with the link: see below)
                    q = self.backlash.q_motor
                if self.all_laws is not None:
                    self.all_laws.torques(q, dq, out=tau)
                else:
                    for j, law in enumerate(self.laws):
                        tau[j] = 0.0 if law is None else law.torque(float(q[j]), float(dq[j]))
                if motor is not None:  # the driver's envelope; gearbox friction on the joint
                    tau[:] = motor.envelope(tau, dq)
                    self.data.qfrc_applied[r.dof_adr] = -motor.friction(dq)
                if self._queue:  # actuation latency: apply the torque of k steps ago
                    self._queue.append(tau.copy())
                    r.set_torque(self._queue.pop(0))
                else:
                    r.set_torque(tau)
                mujoco.mj_step(self.model, self.data)
                if self.backlash is not None:  # the motor side follows the link's new position
                    self.backlash.update(r.q)  # (an encoder reads now, not one step ago)
                self.steps += 1

    def start(self) -> SimPlant:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sim-plant", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        dt = self.dt
        t0 = time.monotonic()
        sim0 = self.steps
        while not self._stop.is_set():
            self.step()
            if self.realtime > 0:
                due = t0 + (self.steps - sim0) * dt / self.realtime
                lag = due - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
                elif lag < -0.1:  # fell behind (slow machine): do not try to catch up
                    t0, sim0 = time.monotonic(), self.steps

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self._thread = None

    def __enter__(self) -> SimPlant:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PlantImu:
    """`SimPlant.imu` as an `ImuSource` object."""

    def __init__(self, plant: SimPlant) -> None:
        self.plant = plant

    def read(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        return self.plant.imu()


__all__ = ["Backlash", "MitLaw", "MitLaws", "MotorLaw", "MotorModel", "Perturbation",
           "PerturbationFactory", "PlantImu", "PositionServoLaw", "SensorErrors", "SimPlant"]
