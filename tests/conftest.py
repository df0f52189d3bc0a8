"""Shared test set-up: headless rendering backend before anything imports mujoco."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
