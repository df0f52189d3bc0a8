"""On-policy training runner: collects rollouts from the vector env, updates PPO, logs
TensorBoard scalars and a JSON history, checkpoints and resumes.

Checkpoints are plain torch state dicts loaded with ``weights_only=True`` (no unpickling of
arbitrary objects); the configs travel as JSON-able dicts inside them.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from robot_rl import __version__
from robot_rl.algos.ppo import PPO, PPOConfig, RolloutStorage
from robot_rl.config import from_dict, to_dict
from robot_rl.envs import EnvFactory, TaskConfig, get_task
from robot_rl.envs.vector import SubprocVectorEnv
from robot_rl.policies.mlp import ActorCritic
from robot_rl.robots import get_robot
from robot_rl.runtime.obs import ObsBuilder


@dataclass
class PolicyConfig:
    actor_hidden: tuple[int, ...] = (256, 128, 64)
    critic_hidden: tuple[int, ...] = (256, 128, 64)
    activation: str = "elu"
    init_noise_std: float = 1.0


@dataclass
class TrainConfig:
    """YAML schema of ``configs/algos/ppo*.yaml``."""

    seed: int = 0
    num_envs: int = 16
    num_workers: int = 2
    steps_per_env: int = 24
    iterations: int = 500
    save_interval: int = 100
    torch_threads: int = 1
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)

    def validate(self) -> None:
        if self.num_envs < 1 or self.steps_per_env < 1 or self.iterations < 0:
            raise ValueError("num_envs and steps_per_env must be >= 1, iterations >= 0")
        if self.num_workers < 0 or (self.num_workers and self.num_envs % self.num_workers):
            raise ValueError(f"num_envs ({self.num_envs}) must be a multiple of num_workers "
                             f"({self.num_workers})")
        if (self.num_envs * self.steps_per_env) % self.ppo.num_mini_batches:
            raise ValueError("num_envs * steps_per_env must be divisible by num_mini_batches")


def code_version() -> str:
    """Package version + git commit (+ '-dirty') of the source tree, when known."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                             capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return __version__
    if not rev:
        return __version__
    return f"{__version__}+g{rev}{'-dirty' if dirty.strip() else ''}"


def episode_infos(infos: dict[str, Any]) -> list[dict[str, float]]:
    """Per-env ``episode`` dicts of the envs that finished this step (SAME_STEP autoreset)."""
    final = infos.get("final_info")
    mask = infos.get("_final_info")
    if not final or mask is None or "episode" not in final:
        return []
    ep = final["episode"]
    out = []
    for i in np.flatnonzero(mask):
        out.append({k: float(v[i]) for k, v in ep.items()
                    if not k.startswith("_") and ep.get(f"_{k}", mask)[i]})
    return out


class OnPolicyRunner:
    """PPO on a registered task.

    Subclasses (e.g. the H-infinity runner) change ``algorithm``, `make_factory` (how envs
    are built), ``scalars`` (per-step env scalars, see `SubprocVectorEnv`), `policy_act_dim`,
    `collect`, `update` and `extra_state` / `load_extra_state`.

    Args:
        task: task name. cfg: training config. log_dir: where TensorBoard events, the history
            and checkpoints go (None: no files). task_config: the task's config (default: its
            YAML).
    """

    def __init__(self, task: str, cfg: TrainConfig, log_dir: str | Path | None = None,
                 task_config: TaskConfig | None = None,
                 env_fn: Callable[[int], gym.Env[Any, Any]] | None = None) -> None:
        cfg.validate()
        self.task, self.cfg = task, cfg
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.torch_threads)
        self.factory: EnvFactory | None = None
        if env_fn is None:
            get_task(task)
            self.factory = self.make_factory(task, task_config)
            env_fn = self.factory
        self.venv = SubprocVectorEnv(env_fn, num_envs=cfg.num_envs, num_workers=cfg.num_workers,
                                     scalars=self.scalars)
        obs_space = self.venv.single_observation_space
        act_space = self.venv.single_action_space
        if len(obs_space.shape or ()) != 1:
            raise ValueError(f"task {task}: PPO needs flat state observations; disable images")
        self.obs_dim = int(obs_space.shape[0])  # type: ignore[index]
        self.act_dim = self.policy_act_dim(int(act_space.shape[0]))  # type: ignore[index]
        p = cfg.policy
        self.policy = ActorCritic(self.obs_dim, self.act_dim, p.actor_hidden, p.critic_hidden,
                                  p.activation, p.init_noise_std)
        self.ppo = PPO(self.policy, cfg.ppo)
        self.storage = RolloutStorage(cfg.steps_per_env, cfg.num_envs, self.obs_dim,
                                      self.obs_dim, self.act_dim)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.iteration = 0
        self.env_steps = 0
        self.history: list[dict[str, float]] = []
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.writer: Any = None
        if self.log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(str(self.log_dir))
        obs, _ = self.venv.reset(seed=cfg.seed)
        self.obs = torch.as_tensor(obs, dtype=torch.float32)
        self._recent: list[dict[str, float]] = []

    algorithm: str = "ppo"
    scalars: int = 0

    def make_factory(self, task: str, task_config: TaskConfig | None) -> EnvFactory:
        """How the envs are built (subclasses may wrap them)."""
        return EnvFactory(task, task_config)

    def policy_act_dim(self, env_act_dim: int) -> int:
        """The actor's action size given the env's (subclasses may append other actions)."""
        return env_act_dim

    # -- training ------------------------------------------------------------------------
    @torch.no_grad()
    def collect(self) -> dict[str, float]:
        """One iteration of ``steps_per_env`` steps in every env; fills the storage."""
        policy, gamma = self.policy, self.cfg.ppo.gamma
        policy.train()
        t0 = time.perf_counter()
        episodes: list[dict[str, float]] = []
        for _ in range(self.cfg.steps_per_env):
            obs = self.obs
            policy.update_normalizers(obs)
            dist = policy.distribution(obs)
            actions = dist.sample()
            log_prob = dist.log_prob(actions).sum(-1)
            values = policy.value(obs)
            next_obs, rew, term, trunc, infos = self.venv.step(actions.numpy())
            rewards = torch.as_tensor(rew, dtype=torch.float32)
            timeout = np.flatnonzero(trunc & ~term)
            if timeout.size:  # bootstrap time-outs with the value of the final observation
                final = np.stack([infos["final_obs"][i] for i in timeout]).astype(np.float32)
                rewards[timeout] += gamma * policy.value(torch.as_tensor(final))
            dones = torch.as_tensor(term | trunc, dtype=torch.float32)
            self.storage.add(obs, obs, actions, log_prob, dist.mean, dist.stddev, values,
                             rewards, dones)
            episodes += episode_infos(infos)
            self.obs = torch.as_tensor(next_obs, dtype=torch.float32)
        last_values = policy.value(self.obs)
        self.storage.compute_returns(last_values, gamma, self.cfg.ppo.lam)
        steps = self.cfg.steps_per_env * self.cfg.num_envs
        self.env_steps += steps
        stats = {"collect_s": time.perf_counter() - t0, **self.episode_stats(episodes)}
        return stats

    def episode_stats(self, episodes: list[dict[str, float]]) -> dict[str, float]:
        """Fold this iteration's finished episodes into the recent window (200); their means."""
        self._recent = (self._recent + episodes)[-200:]
        stats = {"episodes": float(len(episodes))}
        if self._recent:
            for key in self._recent[-1]:
                vals = [e[key] for e in self._recent if key in e]
                stats[f"episode/{key}"] = float(np.mean(vals))
        return stats

    def learn(self, iterations: int | None = None, progress: bool = True,
              callback: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Run ``iterations`` (default: the config's) PPO iterations."""
        n = self.cfg.iterations if iterations is None else iterations
        bar = tqdm(range(n), disable=not progress, desc=f"{self.algorithm} {self.task}",
                   unit="it")
        t_start = time.perf_counter()
        for _ in bar:
            stats = self.collect()
            t0 = time.perf_counter()
            self.policy.train()
            losses = self.update()
            self.storage.clear()
            self.iteration += 1
            stats.update(losses)
            stats["learn_s"] = time.perf_counter() - t0
            stats["iteration"] = float(self.iteration)
            stats["env_steps"] = float(self.env_steps)
            stats["wall_s"] = time.perf_counter() - t_start
            stats["steps_per_s"] = (self.cfg.steps_per_env * self.cfg.num_envs
                                    / (stats["collect_s"] + stats["learn_s"]))
            self.history.append(stats)
            self._log(stats)
            if "episode/r" in stats:
                bar.set_postfix(ret=f"{stats['episode/r']:.2f}", sps=f"{stats['steps_per_s']:.0f}")
            if callback is not None:
                callback(stats)
            if (self.log_dir is not None and self.cfg.save_interval
                    and self.iteration % self.cfg.save_interval == 0):
                self.save(self.log_dir / f"model_{self.iteration}.pt")
        return self.history

    def update(self) -> dict[str, float]:
        """The learning step after `collect` (PPO on the filled storage)."""
        return self.ppo.update(self.storage, self.generator)

    def extra_state(self) -> dict[str, Any]:
        """More checkpoint entries (subclasses: other networks, multipliers, curricula)."""
        return {}

    def load_extra_state(self, ckpt: dict[str, Any]) -> None:
        """Restore what `extra_state` saved."""

    def _log(self, stats: dict[str, float]) -> None:
        if self.writer is None:
            return
        for key, val in stats.items():
            if key != "iteration":
                tag = key if "/" in key else f"train/{key}"
                self.writer.add_scalar(tag, val, self.iteration)

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        optim = self.ppo.optimizer.state_dict()
        torch.save({"policy": self.policy.state_dict(), "optimizer": optim,
                    "iteration": self.iteration, "env_steps": self.env_steps,
                    "learning_rate": self.ppo.learning_rate, "task": self.task,
                    "algorithm": self.algorithm, "code_version": code_version(),
                    "train_config": to_dict(self.cfg), "task_config": json.dumps(
                        to_dict(self.factory.cfg) if self.factory is not None else {}),
                    "obs_layout": json.dumps(self.obs_layout()), **self.extra_state()}, path)
        if self.log_dir is not None:
            (self.log_dir / "history.json").write_text(json.dumps(self.history))
        return path

    def obs_layout(self) -> list[dict[str, Any]]:
        """The observation terms (from the task's builder), for checkpoints and bundles."""
        if self.factory is not None:  # the builder alone: no MuJoCo model loaded per save
            cfg = self.factory.cfg
            return ObsBuilder(get_robot(cfg.robot), cfg.obs).layout()
        return [{"name": "obs", "dim": self.obs_dim, "scale": 1.0, "noise": 0.0}]

    def load(self, path: str | Path, load_optimizer: bool = True) -> None:
        ckpt = torch.load(Path(path), weights_only=True)
        if ckpt.get("task") != self.task:
            raise ValueError(f"checkpoint {path} was trained on task '{ckpt.get('task')}', "
                             f"not '{self.task}'")
        self.policy.load_state_dict(ckpt["policy"])
        if load_optimizer:
            self.ppo.optimizer.load_state_dict(ckpt["optimizer"])
            self.ppo.learning_rate = float(ckpt["learning_rate"])
        self.iteration = int(ckpt["iteration"])
        self.env_steps = int(ckpt["env_steps"])
        self.load_extra_state(ckpt)
        # the curves go on from where they were: the run's history up to this checkpoint
        hist = Path(path).parent / "history.json"
        if hist.is_file():
            self.history = [h for h in json.loads(hist.read_text())
                            if h.get("iteration", np.inf) <= self.iteration]

    def init_from(self, path: str | Path) -> dict[str, Any]:
        """Warm start: the actor-critic's weights and observation normaliser from another run's
        checkpoint (e.g. a PPO policy that walks, fine-tuned here under the disturber), with
        this run's counters, optimiser and algorithm state fresh. Returns what the record keeps
        of the source: its path, algorithm, iteration, env steps and code version."""
        ckpt = torch.load(Path(path), weights_only=True)
        if ckpt.get("task") != self.task:
            raise ValueError(f"--init checkpoint {path} was trained on task "
                             f"'{ckpt.get('task')}', not '{self.task}'")
        if json.loads(ckpt["obs_layout"]) != self.obs_layout():
            raise ValueError(f"--init checkpoint {path} has another observation layout than "
                             f"task '{self.task}' now builds: retrain it, or train from scratch")
        mine = self.policy.state_dict()
        theirs = ckpt["policy"]
        bad = [k for k, v in theirs.items() if k not in mine or mine[k].shape != v.shape]
        bad += sorted(set(mine) - set(theirs))
        if bad:
            raise ValueError(f"--init checkpoint {path}: its network does not match this "
                             f"config's (differing: {bad}); use the same policy sizes "
                             "(actor_hidden, critic_hidden)")
        self.policy.load_state_dict(ckpt["policy"])
        return {"checkpoint": str(path), "algorithm": ckpt.get("algorithm"),
                "iteration": int(ckpt["iteration"]), "env_steps": int(ckpt["env_steps"]),
                "code_version": ckpt.get("code_version")}

    def close(self) -> None:
        self.venv.close()
        if self.writer is not None:
            self.writer.close()


def load_policy(path: str | Path) -> tuple[ActorCritic, dict[str, Any]]:
    """Rebuild the actor-critic of a checkpoint (eval mode) and return it with the checkpoint."""
    ckpt = torch.load(Path(path), weights_only=True)
    base = {k: v for k, v in ckpt["train_config"].items()
            if k in {f.name for f in dataclasses.fields(TrainConfig)}}  # subclass configs too
    cfg = from_dict(TrainConfig, base, f"{path}:train_config")
    obs_dim = sum(int(t["dim"]) for t in json.loads(ckpt["obs_layout"]))
    act_dim = ckpt["policy"]["log_std"].shape[0]
    p = cfg.policy
    policy = ActorCritic(obs_dim, act_dim, p.actor_hidden, p.critic_hidden, p.activation,
                         p.init_noise_std)
    policy.load_state_dict(ckpt["policy"])
    policy.eval()
    return policy, ckpt


def command_line() -> str:
    return " ".join(["robot-rl", *sys.argv[1:]]) if sys.argv else ""
