"""Tracking controllers (torch-free, ROS-free).

The same code runs in the training envs and on the robot."""

from robot_rl.control.chunk import ChunkExecutor
from robot_rl.control.ik import DampedLeastSquaresIK, IKResult
from robot_rl.control.impedance import JointImpedanceController
from robot_rl.control.pd import JointPDController

__all__ = ["ChunkExecutor", "DampedLeastSquaresIK", "IKResult", "JointImpedanceController",
           "JointPDController"]
