"""Task registry: name → (env class, config class, default YAML). Explicit, no string eval.

``make_env("quad12-walk")`` loads ``configs/tasks/quad12-walk.yaml`` into the task's config
dataclass (validated), applies ``overrides`` and builds the env. Every task is also
registered with Gymnasium as ``robot_rl/<name>-v0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from robot_rl.config import load_config
from robot_rl.envs.base import RobotEnv, TaskConfig, resolve_limits
from robot_rl.errors import RobotRLError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class TaskEntry:
    env_cls: type[RobotEnv]
    cfg_cls: type[TaskConfig]
    config: str  # file name under configs/tasks/
    description: str


TASKS: dict[str, TaskEntry] = {}


def register_task(name: str, entry: TaskEntry) -> None:
    if name in TASKS:
        raise ValueError(f"task '{name}' registered twice")
    TASKS[name] = entry
    gym.register(id=f"robot_rl/{name}-v0", entry_point=_gym_entry,  # type: ignore[arg-type]
                 kwargs={"task": name},
                 disable_env_checker=True)


class UnknownTaskError(RobotRLError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get_task(name: str) -> TaskEntry:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task '{name}'; available tasks: "
                               f"{', '.join(sorted(TASKS))} (see `robot-rl envs`)") from None


def task_config_path(name: str) -> Path:
    return CONFIG_DIR / "tasks" / get_task(name).config


def load_task_config(name: str, path: str | Path | None = None,
                     overrides: dict[str, Any] | None = None) -> TaskConfig:
    """The task's config dataclass from ``path`` (default: its file in configs/tasks/)."""
    entry = get_task(name)
    return resolve_limits(load_config(entry.cfg_cls, path or task_config_path(name), overrides))


def make_env(name: str, config: str | Path | TaskConfig | None = None,
             overrides: dict[str, Any] | None = None, **env_kwargs: Any) -> RobotEnv:
    """Build task ``name`` from its YAML config (or a ready config object)."""
    entry = get_task(name)
    cfg = config if isinstance(config, TaskConfig) else load_task_config(name, config, overrides)
    return entry.env_cls(cfg, **env_kwargs)


def _gym_entry(task: str, **kwargs: Any) -> RobotEnv:
    return make_env(task, **kwargs)


class EnvFactory:
    """Picklable ``index → env`` factory for vector envs (loads the config once)."""

    def __init__(self, name: str, config: str | Path | TaskConfig | None = None,
                 overrides: dict[str, Any] | None = None, **env_kwargs: Any) -> None:
        self.name = name
        self.cfg = resolve_limits(config if isinstance(config, TaskConfig)
                                  else load_task_config(name, config, overrides))
        self.env_kwargs = env_kwargs

    def __call__(self, index: int = 0) -> RobotEnv:
        return get_task(self.name).env_cls(self.cfg, **self.env_kwargs)
