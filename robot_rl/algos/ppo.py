"""Proximal Policy Optimisation (Schulman et al. 2017), in the form rsl_rl uses for legged
robots: GAE(λ), clipped surrogate, clipped value loss, entropy bonus, adaptive-KL learning
rate, global gradient-norm clipping, several epochs of shuffled minibatches.

Everything here is pure torch on tensors; the rollout collection lives in ``runner.py``.
Shapes: T = steps per env per iteration, N = number of envs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from robot_rl.policies.mlp import ActorCritic


@dataclass
class PPOConfig:
    """PPO hyper-parameters (YAML ``ppo`` section). Defaults follow rsl_rl's locomotion set-up."""

    learning_rate: float = 1e-3
    schedule: Literal["adaptive", "fixed"] = "adaptive"
    desired_kl: float = 0.01
    gamma: float = 0.99
    lam: float = 0.95
    clip_param: float = 0.2
    value_loss_coef: float = 1.0
    use_clipped_value_loss: bool = True
    entropy_coef: float = 0.01
    num_learning_epochs: int = 5
    num_mini_batches: int = 4
    max_grad_norm: float = 1.0
    lr_min: float = 1e-5
    lr_max: float = 1e-2

    def validate(self) -> None:
        if not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ValueError("gamma must be in (0, 1] and lam in [0, 1]")
        if self.learning_rate <= 0 or self.clip_param <= 0 or self.desired_kl <= 0:
            raise ValueError("learning_rate, clip_param and desired_kl must be > 0")
        if self.num_learning_epochs < 1 or self.num_mini_batches < 1:
            raise ValueError("num_learning_epochs and num_mini_batches must be >= 1")


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
                last_values: torch.Tensor, gamma: float,
                lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation.

    Args:
        rewards, values, dones: (T, N); ``dones[t]`` = the episode ended at step t (after it
            the env was reset, so no value is carried across). Time-outs are bootstrapped by
            the caller, who adds ``gamma * V(final_obs)`` to the reward of a truncated step.
        last_values: (N,) value of the observation after the last step.
    Returns:
        advantages, returns (T, N), with returns = advantages + values.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    gae = torch.zeros_like(last_values)
    for t in reversed(range(steps)):
        next_values = last_values if t == steps - 1 else values[t + 1]
        not_done = 1.0 - dones[t].float()
        delta = rewards[t] + gamma * next_values * not_done - values[t]
        gae = delta + gamma * lam * not_done * gae
        advantages[t] = gae
    return advantages, advantages + values


@dataclass
class Batch:
    """A flat minibatch of transitions (B = T*N / num_mini_batches)."""

    obs: torch.Tensor
    critic_obs: torch.Tensor
    actions: torch.Tensor
    old_log_prob: torch.Tensor
    old_mean: torch.Tensor
    old_std: torch.Tensor
    old_values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


class RolloutStorage:
    """Fixed-size buffers for one iteration of T steps of N envs."""

    def __init__(self, steps: int, num_envs: int, obs_dim: int, critic_obs_dim: int,
                 act_dim: int) -> None:
        self.steps, self.num_envs = steps, num_envs
        z = torch.zeros
        self.obs = z(steps, num_envs, obs_dim)
        self.critic_obs = z(steps, num_envs, critic_obs_dim)
        self.actions = z(steps, num_envs, act_dim)
        self.log_prob = z(steps, num_envs)
        self.mean = z(steps, num_envs, act_dim)
        self.std = z(steps, num_envs, act_dim)
        self.values = z(steps, num_envs)
        self.rewards = z(steps, num_envs)
        self.dones = z(steps, num_envs)
        self.advantages = z(steps, num_envs)
        self.returns = z(steps, num_envs)
        self.step = 0

    def add(self, obs: torch.Tensor, critic_obs: torch.Tensor, actions: torch.Tensor,
            log_prob: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, values: torch.Tensor,
            rewards: torch.Tensor, dones: torch.Tensor) -> None:
        if self.step >= self.steps:
            raise RuntimeError("rollout storage is full; call clear() after the update")
        t = self.step
        self.obs[t], self.critic_obs[t], self.actions[t] = obs, critic_obs, actions
        self.log_prob[t], self.mean[t], self.std[t] = log_prob, mean, std
        self.values[t], self.rewards[t], self.dones[t] = values, rewards, dones
        self.step += 1

    def compute_returns(self, last_values: torch.Tensor, gamma: float, lam: float) -> None:
        self.advantages, self.returns = compute_gae(self.rewards, self.values, self.dones,
                                                    last_values, gamma, lam)

    def clear(self) -> None:
        self.step = 0

    def minibatches(self, num_mini_batches: int, epochs: int,
                    generator: torch.Generator | None = None) -> Iterator[Batch]:
        """Shuffled minibatches over ``epochs``; advantages normalised over the whole batch."""
        n = self.steps * self.num_envs
        adv = self.advantages.reshape(n)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        flat = {"obs": self.obs.reshape(n, -1), "critic_obs": self.critic_obs.reshape(n, -1),
                "actions": self.actions.reshape(n, -1), "old_log_prob": self.log_prob.reshape(n),
                "old_mean": self.mean.reshape(n, -1), "old_std": self.std.reshape(n, -1),
                "old_values": self.values.reshape(n), "advantages": adv,
                "returns": self.returns.reshape(n)}
        size = n // num_mini_batches
        for _ in range(epochs):
            perm = torch.randperm(n, generator=generator)
            for i in range(num_mini_batches):
                idx = perm[i * size:(i + 1) * size]
                yield Batch(**{k: v[idx] for k, v in flat.items()})


def gaussian_kl(mean_old: torch.Tensor, std_old: torch.Tensor, mean_new: torch.Tensor,
                std_new: torch.Tensor) -> torch.Tensor:
    """KL(old ‖ new) of diagonal Gaussians, summed over action dims, shape (B,)."""
    return torch.sum(torch.log(std_new / std_old)
                     + (std_old.pow(2) + (mean_old - mean_new).pow(2)) / (2.0 * std_new.pow(2))
                     - 0.5, dim=-1)


def ppo_loss(policy: ActorCritic, batch: Batch,
             cfg: PPOConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO loss on one minibatch and its parts (surrogate, value, entropy, KL, clip fraction)."""
    dist = policy.distribution(batch.obs)
    log_prob = dist.log_prob(batch.actions).sum(-1)
    entropy = dist.entropy().sum(-1).mean()
    values = policy.value(batch.critic_obs)
    ratio = torch.exp(log_prob - batch.old_log_prob)
    surrogate = -batch.advantages * ratio
    surrogate_clipped = -batch.advantages * torch.clamp(ratio, 1.0 - cfg.clip_param,
                                                        1.0 + cfg.clip_param)
    surrogate_loss = torch.max(surrogate, surrogate_clipped).mean()
    if cfg.use_clipped_value_loss:
        v_clipped = batch.old_values + (values - batch.old_values).clamp(-cfg.clip_param,
                                                                         cfg.clip_param)
        value_loss = torch.max((values - batch.returns).pow(2),
                               (v_clipped - batch.returns).pow(2)).mean()
    else:
        value_loss = (values - batch.returns).pow(2).mean()
    loss = surrogate_loss + cfg.value_loss_coef * value_loss - cfg.entropy_coef * entropy
    with torch.no_grad():
        kl = gaussian_kl(batch.old_mean, batch.old_std, dist.mean, dist.stddev).mean()
        clip_frac = ((ratio - 1.0).abs() > cfg.clip_param).float().mean()
    return loss, {"loss": loss.detach(), "surrogate": surrogate_loss.detach(),
                  "value": value_loss.detach(), "entropy": entropy.detach(), "kl": kl,
                  "clip_fraction": clip_frac}


class PPO:
    """The PPO learner: owns the optimiser and the adaptive learning rate."""

    def __init__(self, policy: ActorCritic, cfg: PPOConfig) -> None:
        cfg.validate()
        self.policy, self.cfg = policy, cfg
        self.learning_rate = cfg.learning_rate
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)

    def _adapt_lr(self, kl: float) -> None:
        c = self.cfg
        if c.schedule != "adaptive":
            return
        if kl > 2.0 * c.desired_kl:
            self.learning_rate = max(c.lr_min, self.learning_rate / 1.5)
        elif 0.0 < kl < 0.5 * c.desired_kl:
            self.learning_rate = min(c.lr_max, self.learning_rate * 1.5)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate

    def update(self, storage: RolloutStorage,
               generator: torch.Generator | None = None) -> dict[str, float]:
        """Epochs of minibatch updates; returns the mean of each loss part."""
        sums: dict[str, float] = {}
        count = 0
        for batch in storage.minibatches(self.cfg.num_mini_batches,
                                         self.cfg.num_learning_epochs, generator):
            loss, parts = ppo_loss(self.policy, batch, self.cfg)
            self._adapt_lr(float(parts["kl"]))
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.policy.parameters(), self.cfg.max_grad_norm)
            self.optimizer.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1
        out = {k: v / count for k, v in sums.items()}
        out["learning_rate"] = self.learning_rate
        out["action_std"] = float(self.policy.std.mean().detach())
        return out
