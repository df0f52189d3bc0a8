"""Tracking controllers (torch-free, ROS-free): the same code runs in training envs and on the robot."""

from robot_rl.control.pd import JointPDController

__all__ = ["JointPDController"]
