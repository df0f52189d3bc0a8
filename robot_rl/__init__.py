"""robot_rl: train robot policies in MuJoCo, export to ONNX, deploy them safely.

The core library is ROS-free. See ``DESIGN.md`` (shared) and ``docs/`` for the picture.
"""

import os

# Headless offscreen rendering by default (robots and CI have no display). MuJoCo reads this
# when it is first imported, so it is set here, before any submodule imports mujoco.
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
