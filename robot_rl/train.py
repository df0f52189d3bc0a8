"""`robot-rl train TASK --algo ppo`: train, checkpoint, and write a training record.

The run directory holds TensorBoard events, ``model_*.pt`` checkpoints, ``model.pt`` (final),
``history.json`` (per-iteration scalars), ``curves.png`` and ``record.json`` (the command,
seed, code version, configs, env steps, wall time and final metrics): what a shipped policy's
training record is made of.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from robot_rl.algos.hinf import HInfRunner, HInfTrainConfig
from robot_rl.algos.runner import OnPolicyRunner, TrainConfig, code_version, command_line
from robot_rl.config import ConfigError, load_config, to_dict
from robot_rl.envs import get_task
from robot_rl.envs.randomization import DomainRandConfig
from robot_rl.envs.registry import CONFIG_DIR, load_task_config


def _runner(algo: str) -> tuple[type, type]:
    """(runner class, config class) of an on-policy algorithm."""
    if algo == "hinf":
        return HInfRunner, HInfTrainConfig
    return OnPolicyRunner, TrainConfig


def _on_policy(algo: str, task: str, config: Path, iterations: int | None, seed: int | None,
               out: Path | None, resume: str | None, progress: bool,
               init: str | None = None, domain_rand: str | None = None,
               robot: str | None = None) -> dict[str, Any]:
    runner_cls, cfg_cls = _runner(algo)
    cfg: Any = load_config(cfg_cls, config)
    if iterations is not None:
        cfg.iterations = iterations
    if seed is not None:
        cfg.seed = seed
    out = out or Path("runs") / f"{task}{'-' + robot if robot else ''}-{algo}-s{cfg.seed}"
    version = code_version()  # the code the run starts with (the tree may change meanwhile)
    t0 = time.perf_counter()
    if resume and init:
        raise ConfigError("--resume and --init exclude each other: --resume continues a run, "
                          "--init starts a new one from another run's weights")
    task_config = None
    if robot is not None or domain_rand is not None:
        task_config = task_config_for(task, robot, domain_rand)
    runner = runner_cls(task, cfg, out, task_config)
    source = None
    try:
        if resume:
            runner.load(resume)
        elif init:
            source = runner.init_from(init)
        history = runner.learn(progress=progress)
        model = runner.save(out / "model.pt")
    finally:
        runner.close()
    plot_curves(history, out / "curves.png", title=f"{algo} {task} seed {cfg.seed}")
    last = history[-1] if history else {}
    record = {"task": task, "robot": runner.factory.cfg.robot if runner.factory else None,
              "algo": algo, "command": command_line(), "seed": cfg.seed,
              "code_version": version, "config_file": str(config),
              "domain_rand_file": domain_rand,
              "train_config": to_dict(cfg), "iterations": runner.iteration,
              "env_steps": runner.env_steps, "init_from": source,
              "wall_s": round(time.perf_counter() - t0, 1),
              "final": {k: v for k, v in last.items() if k.startswith("episode/")},
              "model": str(model), "history": str(out / "history.json")}
    (out / "record.json").write_text(json.dumps(record, indent=2))
    return record


ALGOS: dict[str, Callable[..., dict[str, Any]]] = {
    "ppo": functools.partial(_on_policy, "ppo"),
    "hinf": functools.partial(_on_policy, "hinf"),
}


def default_config(algo: str, task: str) -> Path:
    specific = CONFIG_DIR / "algos" / f"{algo}-{task}.yaml"
    return specific if specific.is_file() else CONFIG_DIR / "algos" / f"{algo}.yaml"


def domain_rand_overrides(path: Path) -> dict[str, Any]:
    """A task's whole ``domain_rand`` section from the YAML file ``path`` (e.g.
    configs/domain_rand/quad12.yaml): every knob the file leaves out is off, not the task
    file's; a clear error for a bad file."""
    if not path.is_file():
        raise ConfigError(f"--domain-rand {path}: no such file (see configs/domain_rand/)")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"--domain-rand {path}: expected a mapping of domain_rand keys")
    return {**to_dict(DomainRandConfig()), **data}


def task_config_for(task: str, robot: str | None = None, domain_rand: str | Path | None = None
                    ) -> Any:
    """The task's config on another ``robot`` of its class and / or with its ``domain_rand``
    section replaced by the YAML file ``domain_rand`` (`domain_rand_overrides`); a
    ConfigError naming the options for a bad robot or file."""
    overrides: dict[str, Any] = {}
    if robot is not None:
        overrides["robot"] = robot
    if domain_rand is not None:
        overrides["domain_rand"] = domain_rand_overrides(Path(domain_rand))
    try:
        return load_task_config(task, overrides=overrides)
    except (ValueError, TypeError) as err:
        given = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in
                         (("robot", robot), ("domain_rand", domain_rand)) if v is not None)
        raise ConfigError(f"{task} with {given}: {err}") from None


def train(task: str, algo: str = "ppo", config: str | None = None, iterations: int | None = None,
          seed: int | None = None, out: str | None = None, resume: str | None = None,
          progress: bool = True, init: str | None = None,
          domain_rand: str | None = None, robot: str | None = None) -> dict[str, Any]:
    get_task(task)
    if algo not in ALGOS:
        raise ConfigError(f"unknown algorithm '{algo}'; available: {', '.join(sorted(ALGOS))}")
    cfg_path = Path(config) if config else default_config(algo, task)
    run_dir = Path(out) if out else None  # default: runs/TASK-ALGO-sSEED
    return ALGOS[algo](task, cfg_path, iterations, seed, run_dir, resume, progress, init,
                       domain_rand, robot)


def plot_curves(history: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Return, episode length and success (if any) against env steps, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    keys = [k for k in ("episode/r", "episode/l", "episode/success", "episode/fell")
            if any(k in h for h in history)]
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4.2 * max(1, len(keys)), 3.4),
                             squeeze=False)
    steps = [h["env_steps"] / 1e3 for h in history]
    for ax, key in zip(axes[0], keys):
        ax.plot(steps, [h.get(key, float("nan")) for h in history])
        ax.set(xlabel="env steps [k]", ylabel=key.split("/")[1], title=title if key == keys[0]
               else "")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
