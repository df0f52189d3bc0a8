"""H-infinity locomotion (Long et al. 2024, "Learning H-Infinity Locomotion Control"):
an actor trained with PPO against a learned disturber, under an H-infinity constraint.

Per step t, with the disturber's force d_t on the base (``ForceDisturbanceEnv``):

    task reward   r^task_t = sum of the tracking terms (weighted, x dt)
    cost          c_t = r^task_max - r^task_t            (>= 0; the "oracle" is r^task_max)
    normalised    c~_t = c_t / r^task_max,   d~_t = ||d_t|| / (m g)   (m: robot mass)

Actor (PPO):  max E[sum gamma^t r_t]  s.t.  E[c~] <= eta E[d~]    (the H-infinity bound: the
    cost per unit of disturbance stays below eta). Lagrangian relaxation with multiplier
    lambda >= 0: the actor's advantage is A = A_r - lambda A_c, where A_r and A_c are GAE
    advantages of the reward and of the cost from two value functions (a reward critic and a
    cost critic on the same normalised observation), then normalised over the batch as in
    PPO.
Dual ascent after every iteration:
    lambda <- clip(lambda + lambda_lr (mean c~ - eta mean d~), 0, lambda_max)
Disturber (PPO, its own Gaussian actor-critic on the actor's observation): reward
    c~_t - eta d~_t, i.e. it looks for forces whose cost exceeds the bound the actor must
    keep. Its action u (3,) is scaled by the current bound F_k: d = F_k u, projected onto
    the ball ||d|| <= F_k by the env.
Falls: a fall ends the episode and its cost stream, so it is charged the worst cost-to-go,
    gamma c_max / (1 - gamma), and pays the disturber gamma_d / (1 - gamma_d)
    (`add_fall_terminals`).
Warm-up: for the first ``warmup_iterations`` the bound stays 0 and lambda at lambda_init
    (the actor first learns to walk; the cost of an untrained actor says nothing about
    disturbances). Force curriculum: from then on F starts at force_init; after each
    iteration, with r the fall rate of the last ``curriculum_window`` episodes that ended,
    F += force_step if r < ``curriculum_fall_rate`` and F -= force_step otherwise; F in
    [0, force_max]. (``curriculum_window: 0``: r from the episodes that ended this iteration
    only, F held while r lies between the rate and twice it. With 2-3 episodes ending per
    iteration that r is nearly binary, and the fall rate does not settle at the target: see
    `next_force_bound`.)

Disturbed fraction: with ``disturbed_fraction`` f < 1 only a fixed, evenly spread share f of
    the envs has the disturber (bound F); the others run force-free (bound 0), and their
    steps neither train the disturber nor count in the curriculum's fall rate. The actor
    learns from both, as a robot meets both; its cost and the constraint cover all envs.

Oracle: with ``oracle: max`` (the default) the cost is measured from r^task_max, so at zero
    force the constraint asks for perfect tracking, which no walking gait gives: lambda
    reaches its cap right after the warm-up and stays there. With
    ``oracle: force_free`` (needs disturbed_fraction < 1) the oracle is what the same actor
    achieves without force, measured each iteration on the force-free envs, and the
    constraint bounds the cost the disturbance *adds*:
        mean_disturbed c~ - mean_force-free c~ <= eta mean_disturbed d~
    The dual step uses that difference, and lambda A_c enters the actor's advantage on the
    disturbed envs only, so the force-free envs train the actor on the task reward alone.

Every constant is in `HInfConfig`; docs/locomotion.md lists the values used.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from robot_rl.algos.ppo import PPO, PPOConfig, RolloutStorage
from robot_rl.algos.runner import OnPolicyRunner, TrainConfig, episode_infos
from robot_rl.envs.disturbance import TASK_TERMS, DisturbedEnvFactory
from robot_rl.policies.mlp import ActorCritic, mlp

ORACLES = ("max", "force_free")


@dataclass
class HInfConfig:
    """H-infinity constants (YAML ``hinf`` section); module docstring for their roles."""

    eta: float = 1.0
    lambda_init: float = 0.0
    lambda_lr: float = 0.2
    lambda_max: float = 2.0
    force_init: float = 0.0
    force_step: float = 0.5
    force_max: float = 60.0
    curriculum_fall_rate: float = 0.1
    curriculum_window: int = 50
    task_terms: tuple[str, ...] = TASK_TERMS
    disturber_hidden: tuple[int, ...] = (128, 64)
    disturber_init_std: float = 0.5
    cost_value_lr: float = 1e-3
    cost_value_epochs: int = 5
    warmup_iterations: int = 0
    disturbed_fraction: float = 1.0
    oracle: str = "max"

    def validate(self) -> None:
        if self.oracle not in ORACLES:
            raise ValueError(f"hinf.oracle must be one of {ORACLES}, got {self.oracle!r}")
        if self.oracle == "force_free" and self.disturbed_fraction >= 1:
            raise ValueError("hinf.oracle 'force_free' measures the oracle on the force-free "
                             "envs: set disturbed_fraction below 1 (e.g. 0.5)")
        if self.eta <= 0 or self.lambda_lr < 0 or self.lambda_max < self.lambda_init < 0:
            raise ValueError("need eta > 0, lambda_lr >= 0, 0 <= lambda_init <= lambda_max")
        if not 0 <= self.force_init <= self.force_max or self.force_step < 0:
            raise ValueError("need 0 <= force_init <= force_max and force_step >= 0")
        if not 0 < self.curriculum_fall_rate < 1:
            raise ValueError("curriculum_fall_rate must be in (0, 1)")
        if self.curriculum_window < 0:
            raise ValueError("curriculum_window must be >= 0 (episodes; 0: this iteration's)")
        if not self.task_terms:
            raise ValueError("task_terms is empty")
        if self.warmup_iterations < 0:
            raise ValueError("warmup_iterations must be >= 0")
        if not 0 < self.disturbed_fraction <= 1:
            raise ValueError(f"disturbed_fraction must be in (0, 1], got "
                             f"{self.disturbed_fraction}")


@dataclass
class HInfTrainConfig(TrainConfig):
    """YAML schema of ``configs/algos/hinf*.yaml``: PPO's settings for the actor plus
    ``hinf`` and the disturber's PPO settings."""

    hinf: HInfConfig = field(default_factory=HInfConfig)
    disturber_ppo: PPOConfig = field(default_factory=PPOConfig)

    def validate(self) -> None:
        super().validate()
        self.hinf.validate()
        self.disturber_ppo.validate()


def dual_ascent(lam: float, mean_cost: float, mean_force: float, cfg: HInfConfig) -> float:
    """One multiplier step: ``clip(lam + lr (mean c~ - eta mean d~), 0, lambda_max)``
    (``mean_cost``: the cost above the oracle, see `constraint_terms`)."""
    return float(np.clip(lam + cfg.lambda_lr * (mean_cost - cfg.eta * mean_force), 0.0,
                         cfg.lambda_max))


def constraint_terms(costs: torch.Tensor, forces: torch.Tensor, disturbed: np.ndarray,
                     oracle: str) -> tuple[float, float]:
    """The two means the dual step compares, from one iteration's normalised per-step costs
    and forces (steps x envs): (cost above the oracle, force). ``max``: every env's mean
    cost and force. ``force_free``: the disturbed envs' mean cost minus the force-free
    envs' (the cost the disturbance adds) and the disturbed envs' mean force."""
    if oracle == "max":
        return float(costs.mean()), float(forces.mean())
    d = torch.as_tensor(disturbed)
    return (float(costs[:, d].mean() - costs[:, ~d].mean()), float(forces[:, d].mean()))


def add_fall_terminals(cost: torch.Tensor, d_rewards: torch.Tensor, fell: np.ndarray,
                       cost_max: float, gamma: float, gamma_d: float) -> None:
    """A fall ends the episode, and with it the cost stream: without a terminal value,
    falling at once is what a cost-minimising actor learns. A fall therefore costs the rest
    of the episode at the worst rate, ``gamma * cost_max / (1 - gamma)`` (cost_max =
    r^task_max: no tracking ever again), and pays the disturber its best normalised rate,
    ``gamma_d / (1 - gamma_d)``.
    In place; ``fell``: indices of the envs that terminated (not timed out) this step."""
    if fell.size:
        cost[fell] += gamma * cost_max / (1.0 - gamma)
        d_rewards[fell] += gamma_d / (1.0 - gamma_d)


def next_force_bound(bound: float, fall_rate: float | None, cfg: HInfConfig) -> float:
    """The curriculum step (module docstring); no episode ended yet → unchanged.

    ``fall_rate`` is that of the last ``curriculum_window`` episodes: up below the target,
    down above it, so the rolling fall rate is held at the target. With
    ``curriculum_window`` 0 a hold band [target, 2 x target] applies
    to the rate of one iteration's few episodes."""
    if fall_rate is None:
        return bound
    target = cfg.curriculum_fall_rate
    if fall_rate < target:
        bound += cfg.force_step
    elif cfg.curriculum_window > 0 or fall_rate > 2 * target:
        bound -= cfg.force_step
    return float(np.clip(bound, 0.0, cfg.force_max))


class FallWindow:
    """The fall rate the curriculum steers: over the last ``window`` episodes that ended
    (``window`` 0: over this iteration's episodes only)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._recent: deque[bool] = deque(maxlen=max(window, 1))

    def rate(self, fell: list[bool]) -> float | None:
        """Add this iteration's episode outcomes; the rate (None: no episode yet)."""
        if self.window == 0:
            return float(np.mean(fell)) if fell else None
        self._recent.extend(fell)
        return float(np.mean(self._recent)) if self._recent else None

    @property
    def recent(self) -> list[bool]:
        """The outcomes in the window, oldest first (saved in checkpoints)."""
        return list(self._recent)

    @recent.setter
    def recent(self, fell: list[bool]) -> None:
        self._recent.clear()
        self._recent.extend(bool(f) for f in fell)


class HInfRunner(OnPolicyRunner):
    """Actor + cost critic + disturber on ``ForceDisturbanceEnv`` envs (module docstring)."""

    algorithm = "hinf"
    scalars = 2
    cfg: HInfTrainConfig

    def make_factory(self, task: str, task_config: Any) -> DisturbedEnvFactory:
        return DisturbedEnvFactory(task, task_config, task_terms=self.cfg.hinf.task_terms)

    def __init__(self, task: str, cfg: HInfTrainConfig, log_dir: Any = None,
                 task_config: Any = None) -> None:
        super().__init__(task, cfg, log_dir, task_config)
        h = cfg.hinf
        self.force_bound = 0.0 if h.warmup_iterations else h.force_init
        i, f = np.arange(cfg.num_envs), h.disturbed_fraction
        # env i is disturbed where floor((i + 1) f) steps up: a share f, evenly spread
        self.disturbed = np.floor((i + 1) * f) > np.floor(i * f)
        self._d_idx = torch.as_tensor(np.flatnonzero(self.disturbed))
        self._d_mask = torch.as_tensor(self.disturbed, dtype=torch.float32)
        self._set_bound()
        self.lam = h.lambda_init
        self.falls = FallWindow(h.curriculum_window)
        p = cfg.policy
        self.cost_critic = mlp(self.obs_dim, p.critic_hidden, 1, p.activation)
        self.cost_optimizer = torch.optim.Adam(self.cost_critic.parameters(), lr=h.cost_value_lr)
        self.disturber = ActorCritic(self.obs_dim, 3, h.disturber_hidden, h.disturber_hidden,
                                     p.activation, h.disturber_init_std)
        self.disturber_ppo = PPO(self.disturber, cfg.disturber_ppo)
        t, n = cfg.steps_per_env, cfg.num_envs
        self.cost_storage = RolloutStorage(t, n, self.obs_dim, self.obs_dim, 3)
        self.dist_storage = RolloutStorage(t, len(self._d_idx), self.obs_dim, self.obs_dim, 3)
        r_max = self.venv.get_attr("task_reward_max")[0]
        self.task_reward_max = float(r_max)
        self.weight = float(self.venv.get_attr("robot_weight")[0])  # d~ = |d| / (m g)

    def _set_bound(self) -> None:
        """The envs' force bounds: F for the disturbed ones, 0 for the others."""
        self._bounds = torch.as_tensor(np.where(self.disturbed, self.force_bound, 0.0),
                                       dtype=torch.float32)[:, None]
        self.venv.set_attr("force_bound", [float(b) for b in self._bounds[:, 0]])

    def policy_act_dim(self, env_act_dim: int) -> int:
        return env_act_dim - 3  # the env's last three action entries are the force

    def cost_value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.cost_critic(self.policy.obs_normalizer(obs)).squeeze(-1)

    @torch.no_grad()
    def collect(self) -> dict[str, float]:
        policy, dist_ac, gamma = self.policy, self.disturber, self.cfg.ppo.gamma
        policy.train()
        dist_ac.train()
        t0 = time.perf_counter()
        episodes: list[dict[str, float]] = []
        costs, forces = [], []
        d_idx, disturbed = self._d_idx, self.disturbed
        d_falls: list[bool] = []  # the disturbed envs' ended episodes: fell?
        for _ in range(self.cfg.steps_per_env):
            obs = self.obs
            policy.update_normalizers(obs)
            dist_ac.update_normalizers(obs)
            da = policy.distribution(obs)
            actions = da.sample()
            dd = dist_ac.distribution(obs)
            u = dd.sample()
            env_action = torch.cat([actions, self._bounds * u], dim=-1)
            next_obs, rew, term, trunc, infos = self.venv.step(env_action.numpy())
            scal = self.venv.last_scalars
            cost = torch.as_tensor(self.task_reward_max - scal[:, 0], dtype=torch.float32)
            c_norm = cost / self.task_reward_max
            d_norm = torch.as_tensor(scal[:, 1] / self.weight, dtype=torch.float32)
            costs.append(c_norm)
            forces.append(d_norm)
            rewards = torch.as_tensor(rew, dtype=torch.float32)
            d_rewards = c_norm - self.cfg.hinf.eta * d_norm
            timeout = np.flatnonzero(trunc & ~term)
            if timeout.size:  # bootstrap time-outs with each critic's value of the final obs
                final = torch.as_tensor(np.stack([infos["final_obs"][i] for i in timeout])
                                        .astype(np.float32))
                rewards[timeout] += gamma * policy.value(final)
                cost[timeout] += gamma * self.cost_value(final)
                d_rewards[timeout] += self.cfg.disturber_ppo.gamma * dist_ac.value(final)
            add_fall_terminals(cost, d_rewards, np.flatnonzero(term), self.task_reward_max,
                               gamma, self.cfg.disturber_ppo.gamma)
            dones = torch.as_tensor(term | trunc, dtype=torch.float32)
            self.storage.add(obs, obs, actions, da.log_prob(actions).sum(-1), da.mean,
                             da.stddev, policy.value(obs), rewards, dones)
            self.cost_storage.add(obs, obs, u, torch.zeros(len(u)), dd.mean, dd.stddev,
                                  self.cost_value(obs), cost, dones)
            o = obs[d_idx]
            self.dist_storage.add(o, o, u[d_idx], dd.log_prob(u).sum(-1)[d_idx],
                                  dd.mean[d_idx], dd.stddev[d_idx], dist_ac.value(o),
                                  d_rewards[d_idx], dones[d_idx])
            last, ended = infos.get("final_info"), infos.get("_final_info")
            if last and ended is not None and "episode" in last:
                fell = last["episode"]["fell"]
                d_falls += [bool(fell[i]) for i in np.flatnonzero(ended & disturbed)]
            episodes += episode_infos(infos)
            self.obs = torch.as_tensor(next_obs, dtype=torch.float32)
        p = self.cfg.ppo
        self.storage.compute_returns(policy.value(self.obs), gamma, p.lam)
        self.cost_storage.compute_returns(self.cost_value(self.obs), gamma, p.lam)
        dp = self.cfg.disturber_ppo
        self.dist_storage.compute_returns(dist_ac.value(self.obs[d_idx]), dp.gamma, dp.lam)
        # the actor's advantage: reward advantage minus lambda x cost advantage (with the
        # force-free oracle, on the disturbed envs only)
        h = self.cfg.hinf
        weight = self.lam * (self._d_mask if h.oracle == "force_free" else 1.0)
        self.storage.advantages = self.storage.advantages - weight * self.cost_storage.advantages
        self.env_steps += self.cfg.steps_per_env * self.cfg.num_envs
        mean_c, mean_d = constraint_terms(torch.stack(costs), torch.stack(forces), disturbed,
                                          h.oracle)
        stats = {"collect_s": time.perf_counter() - t0, "hinf/cost": mean_c,
                 "hinf/force": mean_d, "hinf/lambda": self.lam,
                 "hinf/force_bound": self.force_bound, **self.episode_stats(episodes)}
        # dual ascent and curriculum (they apply from the next iteration on)
        if self.iteration + 1 < h.warmup_iterations:
            pass
        elif self.iteration + 1 == h.warmup_iterations:
            self.force_bound = h.force_init
        else:
            self.lam = dual_ascent(self.lam, mean_c, mean_d, h)
            fall = self.falls.rate(d_falls)
            self.force_bound = next_force_bound(self.force_bound, fall, h)
        self._set_bound()
        return stats

    def update(self) -> dict[str, float]:
        out = super().update()
        # cost critic: regression on the cost returns
        s = self.cost_storage
        n = s.steps * s.num_envs
        obs, ret = s.obs.reshape(n, -1), s.returns.reshape(n)
        losses = []
        for _ in range(self.cfg.hinf.cost_value_epochs):
            for idx in torch.randperm(n, generator=self.generator).chunk(
                    self.cfg.ppo.num_mini_batches):
                loss = (self.cost_value(obs[idx]) - ret[idx]).pow(2).mean()
                self.cost_optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.cost_critic.parameters(), self.cfg.ppo.max_grad_norm)
                self.cost_optimizer.step()
                losses.append(loss.item())
        out["cost_value"] = float(np.mean(losses))
        self.disturber.train()
        dist = self.disturber_ppo.update(self.dist_storage, self.generator)
        out.update({f"disturber/{k}": v for k, v in dist.items()})
        s.clear()
        self.dist_storage.clear()
        return out

    def extra_state(self) -> dict[str, Any]:
        return {"cost_critic": self.cost_critic.state_dict(),
                "disturber": self.disturber.state_dict(),
                "disturber_optimizer": self.disturber_ppo.optimizer.state_dict(),
                "cost_optimizer": self.cost_optimizer.state_dict(),
                "hinf_state": {"lambda": self.lam, "force_bound": self.force_bound,
                               "recent_falls": self.falls.recent}}

    def load_extra_state(self, ckpt: dict[str, Any]) -> None:
        self.cost_critic.load_state_dict(ckpt["cost_critic"])
        self.disturber.load_state_dict(ckpt["disturber"])
        self.disturber_ppo.optimizer.load_state_dict(ckpt["disturber_optimizer"])
        self.cost_optimizer.load_state_dict(ckpt["cost_optimizer"])
        self.lam = float(ckpt["hinf_state"]["lambda"])
        self.force_bound = float(ckpt["hinf_state"]["force_bound"])
        self.falls.recent = ckpt["hinf_state"].get("recent_falls", [])
        self._set_bound()


__all__ = ["ORACLES", "FallWindow", "HInfConfig", "HInfRunner", "HInfTrainConfig",
           "constraint_terms", "dual_ascent", "next_force_bound"]
