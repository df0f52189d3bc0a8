"""The task-command ranges a policy was trained on, for bounding commands on the robot.

A quadruped's ``/cmd_vel`` (vx, vy, yaw rate) or an arm's ``/goal`` outside what the policy
saw in training is an input it was never taught to handle (``/cmd_vel`` vx 1e6 made the walking
policy fall): the policy controller clamps every task command into these ranges.

Where they come from: the bundle's ``extra.command_ranges`` ([[lo, hi], ...], one pair per
command value) if it has them, else the YAML of the task it was trained on
(``extra.task`` → ``configs/tasks/TASK.yaml``): ``commands.lin_vel_x / lin_vel_y /
ang_vel_yaw`` for a ``velocity_command`` observation term, ``goal_low`` / ``goal_high`` for a
``goal_rel`` term. None when neither says (a policy with no task command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.config import ConfigError, load_yaml

TASKS = Path(__file__).resolve().parents[2] / "configs" / "tasks"
_VELOCITY_KEYS = ("lin_vel_x", "lin_vel_y", "ang_vel_yaw")


def _pairs(pairs: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(pairs, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2 or not np.isfinite(a).all() or np.any(a[:, 0] > a[:, 1]):
        raise ConfigError(f"{where}: command ranges must be finite [lo, hi] pairs, got "
                          f"{pairs!r}")
    return a[:, 0].copy(), a[:, 1].copy()


def command_bounds(meta: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(lo, hi) of the task command of the bundle with metadata ``meta``, or (None, None)."""
    extra = meta.get("extra") or {}
    if "command_ranges" in extra:
        return _pairs(extra["command_ranges"], "bundle extra.command_ranges")
    terms = {str(t["name"]).split(":", 1)[0] for t in meta.get("obs_terms", ())}
    task = str(extra.get("task", ""))
    path = TASKS / f"{task}.yaml"
    if not task or not path.is_file():
        return None, None
    cfg = load_yaml(path)
    if "velocity_command" in terms:
        cmds = cfg.get("commands") or {}
        if all(k in cmds for k in _VELOCITY_KEYS):
            return _pairs([cmds[k] for k in _VELOCITY_KEYS], f"{path}: commands")
    if "goal_rel" in terms and "goal_low" in cfg and "goal_high" in cfg:
        return _pairs(list(zip(cfg["goal_low"], cfg["goal_high"])), f"{path}: goal_low/high")
    return None, None


__all__ = ["command_bounds"]
