"""robot_rl: train robot policies in MuJoCo, export to ONNX, deploy them safely.

The core library is ROS-free. See ``DESIGN.md`` (shared) and ``docs/`` for the picture.
"""

__version__ = "0.1.0"
