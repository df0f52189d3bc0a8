"""`quad12`: Go2-class quadruped, 12 torque-controlled joints (hip, thigh, calf x FR FL RR RL).

MJCF: ``assets/quad12.xml`` (the robot) included by ``scene_flat.xml`` (plane floor,
the default ``mjcf``) and ``scene_rough.xml`` (128 x 128 height field "terrain" filled by the
env). Both scenes carry a ``home`` keyframe: the standing pose ``q0`` with the base at
0.3222 m, where the front feet just touch the ground.

Figures are Unitree Go2's published ones: joint ranges, link lengths (0.213 m thigh and
calf), link masses; torque limits 23.7 N m (hip, thigh) and 35.55 N m (calf), velocity
limits 30.1 rad/s (hip, thigh) and 20.06 rad/s (calf). Total mass 14.6 kg. The standing
pose and PD gains are the legged_gym / Unitree RL ones (kp 20, kd 0.5, action scale 0.25,
200 Hz physics, 50 Hz policy). Under that PD the robot stands with its base at ~0.27 m.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_rl.robots.spec import CanMotor, RobotHardware, RobotSpec

_LEGS = ("FR", "FL", "RR", "RL")
_PARTS = ("hip", "thigh", "calf")

JOINT_NAMES: tuple[str, ...] = tuple(f"{leg}_{part}_joint" for leg in _LEGS for part in _PARTS)

_HIP_LIM = 1.0472
_FRONT_THIGH = (-1.5708, 3.4907)
_REAR_THIGH = (-0.5236, 4.5379)
_CALF = (-2.7227, -0.83776)


ASSETS = Path(__file__).resolve().parent / "assets"

# Go2-class joint motors behind MIT-protocol drivers (position ±12.5 rad, gains up to
# 500 N m/rad and 5 N m s/rad; hip and thigh 45 rad/s and 25 N m, calf 30 rad/s and 45 N m:
# ranges that cover the spec's velocity and torque limits). Leg k (FR, FL, RR, RL) is CAN bus
# k (one adapter per leg), CAN ids 1 (hip), 2 (thigh), 3 (calf).
_MOTOR_RANGES = ({"p_max": 12.5, "v_max": 45.0, "kp_max": 500.0, "kd_max": 5.0, "t_max": 25.0},
                 {"p_max": 12.5, "v_max": 45.0, "kp_max": 500.0, "kd_max": 5.0, "t_max": 25.0},
                 {"p_max": 12.5, "v_max": 30.0, "kp_max": 500.0, "kd_max": 5.0, "t_max": 45.0})
HARDWARE = RobotHardware(
    backends=("virtual_can", "can"),
    can_motors=tuple(CanMotor(bus=j // 3, can_id=j % 3 + 1, **_MOTOR_RANGES[j % 3])
                     for j in range(len(JOINT_NAMES))),
    gains="per_message",
)


def _per_leg(fr: tuple[float, float, float], fl: tuple[float, float, float],
             rr: tuple[float, float, float], rl: tuple[float, float, float]) -> np.ndarray:
    return np.array([*fr, *fl, *rr, *rl], dtype=np.float64)


QUAD12 = RobotSpec(
    name="quad12",
    mjcf=ASSETS / "scene_flat.xml",
    joint_names=JOINT_NAMES,
    # standing pose [rad]: hips splayed 0.1 outward, thigh 0.8 front / 1.0 rear, calf -1.5
    q0=_per_leg((-0.1, 0.8, -1.5), (0.1, 0.8, -1.5), (-0.1, 1.0, -1.5), (0.1, 1.0, -1.5)),
    q_min=_per_leg((-_HIP_LIM, _FRONT_THIGH[0], _CALF[0]), (-_HIP_LIM, _FRONT_THIGH[0], _CALF[0]),
                   (-_HIP_LIM, _REAR_THIGH[0], _CALF[0]), (-_HIP_LIM, _REAR_THIGH[0], _CALF[0])),
    q_max=_per_leg((_HIP_LIM, _FRONT_THIGH[1], _CALF[1]), (_HIP_LIM, _FRONT_THIGH[1], _CALF[1]),
                   (_HIP_LIM, _REAR_THIGH[1], _CALF[1]), (_HIP_LIM, _REAR_THIGH[1], _CALF[1])),
    dq_max=np.tile([30.1, 30.1, 20.06], 4),
    tau_max=np.tile([23.7, 23.7, 35.55], 4),
    kp=np.full(12, 20.0),
    kd=np.full(12, 0.5),
    physics_dt=0.005,
    policy_dt=0.02,
    action_scale=0.25,
    floating_base=True,
    base_body="trunk",
    imu_site="imu",
    feet=("FR_foot", "FL_foot", "RR_foot", "RL_foot"),
    cameras=("track",),
    mass_range=(12.0, 15.0),
    damping_kd=np.full(12, 2.0),  # kd of the damping mode (kp = 0)
    # resting pose [rad] (the safety layer's sit-down ends here, then damps): hips splayed as
    # in q0 for a wide base; calf = -2 x thigh puts each foot straight under its hip (thigh and
    # calf are equally long), so the body goes straight down on its feet, level; thigh 1.0
    # gives a hip-to-sole height of 2 x 0.213 cos 1.0 + 0.022 = 0.25 m (0.32 at q0), which the
    # kp-20 PD sags to 0.15 m (measured: nominal and proxy seeds 3, 7; 0.26 at q0): low, yet
    # above fall_detect's 0.12 m while held stiffly; damping then lowers it onto its belly
    q_rest=_per_leg((-0.1, 1.0, -2.0), (0.1, 1.0, -2.0), (-0.1, 1.0, -2.0), (0.1, 1.0, -2.0)),
    # stand-up gains kp 40, kd 0.71: after 3 s passive on proxy seed 3 the robot lies on its
    # belly, calves folded at -2.72; with kp 20 a 2 s stand-up left the rear calves 0.5-0.66
    # rad short of q0 for good (the PD's 10-13 N m cannot lift the folded rear legs) and the
    # ramp to the policy tripped the tracking guard; with kp 40 it stood (0.29 m at 2.3 s)
    stand_gain_ratio=2.0,
    hardware=HARDWARE,
)

__all__ = ["ASSETS", "HARDWARE", "JOINT_NAMES", "QUAD12"]
