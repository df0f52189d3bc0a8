"""Robot backends of a deployment, by name (``backend.kind`` of ``configs/deploy/*.yaml``).

Each factory returns a `Backend`: ``make_robot()`` builds the `Robot` the hardware bridge
connects (its errors name the missing device and the fix), ``truth()`` the simulator's own
state where there is one (sim, proxy and the virtual devices: evaluation only, never the
policy), ``close()`` stops what the backend started (plant, virtual devices).

- ``sim`` / ``proxy``: `SimRobot` on a real-time `SimPlant` (nominal, or the reality proxy
  of ``proxy_seed``);
- ``virtual_can``: the plant behind 4 emulated slcan adapters on ptys, reached through
  python-can and `CanRobot`, byte for byte the robot's CAN path;
- ``virtual_bus``: the plant behind an emulated servo chain on a pty, reached through
  pyserial and `ServoRobot`;
- ``can`` / ``serial``: the real devices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hardware.errors import HardwareError
from hardware.robot import Robot
from hardware.servo import BUSES
from hardware.servo.calibration import RobotCalibration
from hardware.servo_robot import ServoRobot
from hardware.sim_plant import PlantImu, SimPlant
from hardware.sim_robot import SimRobot
from hardware.virtual.plant_servo import bus_motors, identity_calibration, virtual_servo_bus
from robot_rl.config import resolve
from robot_rl.deploy.config import BackendConfig
from robot_rl.robots import get_robot
from robot_rl.types import RobotState
from sim2real.proxy import reality_proxy


@dataclass
class Backend:
    make_robot: Callable[[], Robot]
    truth: Callable[[], RobotState] | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    plant: SimPlant | None = None  # the simulated robot behind the backend, if any
    device: Any = None  # the virtual device in front of the plant (fault injection), if any

    def close(self) -> None:
        while self.closers:
            try:
                self.closers.pop()()
            except Exception:
                pass


def _plant(robot: str, cfg: BackendConfig) -> SimPlant:
    """The simulated robot: nominal for ``sim``, else the proxy of ``proxy_seed`` if set."""
    seed = None if cfg.kind == "sim" else cfg.proxy_seed
    return SimPlant(robot, realtime=cfg.realtime,
                    perturbation=None if seed is None else reality_proxy(seed))


def _sim(robot: str, cfg: BackendConfig) -> Backend:
    plant = _plant(robot, cfg).start()
    return Backend(lambda: SimRobot(plant), plant.state, [plant.stop], plant)


def _can_robot(robot: str, specs: list[Any], limits: list[Any], imu: Any) -> Robot:
    """`CanRobot` over the buses ``specs`` ((CanBusConfig, motors) per bus)."""
    # (lazy, as in `_virtual_can`: python-can)
    from hardware.can.link import CanBusError
    from hardware.can.multi import MultiCanBus
    from hardware.can_robot import CanRobot

    try:
        bus = MultiCanBus.open(specs, timeout=0.01, max_misses=3)
    except (CanBusError, OSError) as e:
        raise HardwareError(f"cannot open the CAN buses: {e}") from None
    return CanRobot(get_robot(robot), bus, limits, imu=imu)


def _virtual_can(robot: str, cfg: BackendConfig) -> Backend:
    # (lazy: the CAN modules load python-can, ~10 MB resident and 0.1 s, which a deployment
    # on any other backend does not need)
    from hardware.virtual.plant_can import can_bus_specs, can_layout, mit_adapters

    plant = _plant(robot, cfg).start()
    adapters = [a.start() for a in mit_adapters(plant)]
    slots = can_layout(plant.spec)
    specs = can_bus_specs(adapters, plant.spec)
    closers: list[Callable[[], None]] = [plant.stop, *[a.close for a in adapters]]
    return Backend(lambda: _can_robot(robot, specs, [s.limits for s in slots], PlantImu(plant)),
                   plant.state, closers, plant)


def _can(robot: str, cfg: BackendConfig) -> Backend:
    """Real CAN adapters. The motors are there (`CanRobot` over ``cfg.channels``), but no IMU
    driver exists yet, and a quadruped must not run blind: refused with the reason."""
    def make() -> Robot:
        raise HardwareError("backend 'can' has no IMU driver yet, and a quadruped cannot be "
                            "deployed without one; use backend 'virtual_can' (emulated "
                            "adapters) or add an ImuSource for your IMU to "
                            "robot_rl/deploy/backends.py")
    return Backend(make)


def _servo_robot(robot: str, protocol: str, port: str, cal: Any) -> Robot:
    spec = get_robot(robot)
    models = {n: m for n, (_, m) in bus_motors(spec, protocol).items()}
    bus = BUSES[protocol]({n: (cal[n].motor_id, models[n]) for n in spec.joint_names},
                          port, timeout_s=0.02)
    return ServoRobot(spec, bus, cal)


def _virtual_bus(robot: str, cfg: BackendConfig) -> Backend:
    plant = _plant(robot, cfg).start()
    virtual = virtual_servo_bus(plant, cfg.protocol).start()
    cal = identity_calibration(plant)
    return Backend(lambda: _servo_robot(robot, cfg.protocol, virtual.port, cal), plant.state,
                   [plant.stop, virtual.close], plant, virtual)


def _serial(robot: str, cfg: BackendConfig) -> Backend:
    def make() -> Robot:
        path = resolve(cfg.calibration)
        if not path.is_file():
            raise HardwareError(f"calibration file {path} not found; run `robot-rl hardware "
                                f"calibrate --robot {robot} --port {cfg.port}` first")
        return _servo_robot(robot, cfg.protocol, cfg.port,
                            RobotCalibration.load(path, robot=robot))
    return Backend(make)


BACKENDS: dict[str, Callable[[str, BackendConfig], Backend]] = {
    "sim": _sim, "proxy": _sim, "virtual_can": _virtual_can, "virtual_bus": _virtual_bus,
    "can": _can, "serial": _serial,
}


def open_backend(robot: str, cfg: BackendConfig) -> Backend:
    """Start the backend ``cfg.kind`` for ``robot`` (its devices are opened by make_robot)."""
    return BACKENDS[cfg.kind](robot, cfg)


__all__ = ["BACKENDS", "Backend", "open_backend"]
