"""`ARM6`: SO-101-class 5-DoF arm + gripper (Feetech STS3215 servos) on a table.

MJCF: ``assets/arm6.xml`` (the arm, primitive geoms, SO-101 link offsets, masses and
joint ranges) included by ``assets/scene_table.xml`` (table top at z = 0, a 3 cm cube,
a 2 x 2 x 6 cm peg, a square-hole fixture, cameras "wrist" and "scene", keyframe "home").

Sources of the figures (TheRobotStudio/SO-ARM100, ``Simulation/SO101``; LeRobot's SO-101
follower driver; Feetech STS3215 data sheet):

* joint ranges: the SO-101 "new calibration" URDF/MJCF (q = 0 is mid-range);
* tau_max 3.0 N m: STS3215 (12 V) stall torque ~2.9-3.0 N m. The gripper gets 1.5 N m because
  LeRobot writes Max_Torque_Limit = 500 (of 1000) to the gripper servo so a closed grip does not
  overheat it;
* dq_max 4.7 rad/s: STS3215 no-load speed 0.222 s / 60 deg at 12 V;
* kp 17.8 N m/rad: the position gain of the STS3215 servo model identified by the Open Duck
  Mini project and shipped in the SO-101 MuJoCo model (joints_properties.xml, together with
  armature 0.028, damping 0.60, frictionloss 0.052, which arm6.xml uses as joint properties).
  kd 0.6 N m s/rad on top of the 0.6 joint damping gives damping ratios ~0.7-0.8 on every
  joint at physics_dt = 2 ms (explicit PD, well inside the stability limit kd*dt/I << 2);
  gravity sag at q0 is < 0.03 rad.
* action_scale 1.0 rad: joint_pos_offset actions q0 + 1.0 * a with a in [-1, 1] span most of
  every joint's range (ranges are +-1.66 .. +-1.92 rad around a mid-range zero) and cover every
  top-down grasp on the table objects (the largest offset from q0 needed to put the gripper
  vertically on the cube / peg / hole is ~0.7-1.0 rad); the safety layer clips to q_min/q_max.
* q0 ("ready"): gripper in front of the robot, ee ~0.11 m above the table and 0.21 m out,
  pointing ~57 deg down, jaws half open (0.8 rad ~ 5 cm gap).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_rl.robots.spec import RobotHardware, RobotSpec, ServoMotor

JOINT_NAMES = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")

ASSETS = Path(__file__).resolve().parent / "assets"

# One servo per joint, ids 1..6 in joint order: Feetech STS3215 (as the SO-101), or Dynamixel
# XL430-W250 on a Dynamixel bus. The servo's own position loop holds the gains (firmware).
HARDWARE = RobotHardware(
    backends=("virtual_bus", "serial"),
    servo_motors=tuple(ServoMotor(motor_id=j + 1, models=(("feetech", "sts3215"),
                                                          ("dynamixel", "xl430-w250")))
                       for j in range(len(JOINT_NAMES))),
    gains="firmware",
)

ARM6 = RobotSpec(
    name="arm6",
    mjcf=ASSETS / "scene_table.xml",
    joint_names=JOINT_NAMES,
    q0=np.array([0.0, -0.5, 0.5, 1.0, 0.0, 0.8]),
    q_min=np.array([-1.91986, -1.74533, -1.69, -1.65806, -2.74385, -0.174533]),
    q_max=np.array([1.91986, 1.74533, 1.69, 1.65806, 2.84121, 1.745329]),
    dq_max=np.full(6, 4.7),
    tau_max=np.array([3.0, 3.0, 3.0, 3.0, 3.0, 1.5]),
    kp=np.full(6, 17.8),
    kd=np.full(6, 0.6),
    physics_dt=0.002,
    policy_dt=0.02,
    action_scale=1.0,
    floating_base=False,
    base_body="base",
    imu_site="",
    ee_site="ee",
    feet=(),
    cameras=("wrist", "scene"),
    # Mass of the arm alone: the subtree of body "base" (base 0.147 kg + moving links
    # 0.485 kg = 0.632 kg in the MJCF, as the SO-101 model), not the table or the objects.
    mass_range=(0.55, 0.75),
    damping_kd=np.full(6, 0.5),
    hardware=HARDWARE,
)

__all__ = ["ARM6", "ASSETS", "HARDWARE", "JOINT_NAMES"]
