"""Tracking controllers (torch-free, ROS-free).

The same code runs in the training envs and on the robot."""

from robot_rl.control.pd import JointPDController

__all__ = ["JointPDController"]
