"""PPO: GAE against hand-worked numbers, the loss on a fixed batch, the adaptive learning
rate, and a tiny training run that improves the return on a toy task."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from robot_rl.algos.ppo import PPO, Batch, PPOConfig, compute_gae, gaussian_kl, ppo_loss
from robot_rl.algos.runner import OnPolicyRunner, PolicyConfig, TrainConfig
from robot_rl.policies.mlp import ActorCritic, EmpiricalNormalization


def test_gae_hand_worked() -> None:
    # env 0 terminates at t=2 (last value ignored); env 1 runs on (bootstrapped from 2.0)
    rewards = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    values = torch.tensor([[0.5, 1.0], [0.5, 1.0], [0.5, 1.0]])
    dones = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    last = torch.tensor([10.0, 2.0])
    adv, ret = compute_gae(rewards, values, dones, last, gamma=0.9, lam=0.8)
    # env 0: 0.5 ; 0.95 + 0.72*0.5 = 1.31 ; 0.95 + 0.72*1.31 = 1.8932
    # env 1: 1 + 0.9*2 - 1 = 1.8 ; -0.1 + 0.72*1.8 = 1.196 ; -0.1 + 0.72*1.196 = 0.76112
    torch.testing.assert_close(adv, torch.tensor([[1.8932, 0.76112], [1.31, 1.196],
                                                  [0.5, 1.8]]))
    torch.testing.assert_close(ret, adv + values)


def test_gae_done_mid_rollout_cuts_the_trace() -> None:
    rewards = torch.tensor([[1.0], [5.0]])
    values = torch.zeros(2, 1)
    adv, _ = compute_gae(rewards, values, torch.tensor([[1.0], [0.0]]), torch.zeros(1), 0.99,
                         0.95)
    assert adv[0, 0].item() == pytest.approx(1.0)  # the 5.0 after the reset does not leak back


def _batch(policy: ActorCritic, n: int = 64, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, policy.obs_dim, generator=g)
    with torch.no_grad():
        dist = policy.distribution(obs)
        actions = dist.sample()
        values = policy.value(obs)
        return Batch(obs=obs, critic_obs=obs, actions=actions,
                     old_log_prob=dist.log_prob(actions).sum(-1), old_mean=dist.mean,
                     old_std=dist.stddev, old_values=values,
                     advantages=torch.randn(n, generator=g),
                     returns=values + torch.randn(n, generator=g))


def test_ppo_loss_on_fixed_batch_at_the_old_policy() -> None:
    torch.manual_seed(0)
    policy = ActorCritic(5, 3, (16,), (16,), init_noise_std=0.7)
    batch = _batch(policy)
    cfg = PPOConfig(entropy_coef=0.01, value_loss_coef=0.5)
    loss, parts = ppo_loss(policy, batch, cfg)
    # ratio = 1: surrogate = -mean(adv); value loss = mean((v - ret)^2); KL = 0
    assert parts["surrogate"].item() == pytest.approx(-batch.advantages.mean().item(), abs=1e-6)
    assert parts["value"].item() == pytest.approx(
        (batch.old_values - batch.returns).pow(2).mean().item(), rel=1e-5)
    assert parts["kl"].item() == pytest.approx(0.0, abs=1e-7)
    assert parts["clip_fraction"].item() == 0.0
    entropy = 3 * (0.5 + 0.5 * np.log(2 * np.pi) + np.log(0.7))
    assert parts["entropy"].item() == pytest.approx(entropy, rel=1e-5)
    expected = parts["surrogate"] + 0.5 * parts["value"] - 0.01 * parts["entropy"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_ppo_surrogate_is_clipped() -> None:
    torch.manual_seed(0)
    policy = ActorCritic(4, 2, (8,), (8,))
    batch = _batch(policy, n=8)
    batch.advantages = torch.ones(8)
    batch.old_log_prob = batch.old_log_prob - 0.5  # ratio = e^0.5 ≈ 1.65 > 1 + clip
    _, parts = ppo_loss(policy, batch, PPOConfig(clip_param=0.2))
    assert parts["surrogate"].item() == pytest.approx(-1.2, abs=1e-6)
    assert parts["clip_fraction"].item() == 1.0
    batch.advantages = -torch.ones(8)  # negative advantage: the unclipped ratio is the max
    _, parts = ppo_loss(policy, batch, PPOConfig(clip_param=0.2))
    assert parts["surrogate"].item() == pytest.approx(np.exp(0.5), rel=1e-5)


def test_gaussian_kl_hand_worked() -> None:
    kl = gaussian_kl(torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.tensor([[1.0]]),
                     torch.tensor([[2.0]]))
    # log 2 + (1 + 1) / 8 - 0.5
    assert kl.item() == pytest.approx(np.log(2) + 0.25 - 0.5)


def test_adaptive_learning_rate() -> None:
    ppo = PPO(ActorCritic(2, 1, (4,), (4,)), PPOConfig(learning_rate=1e-3, desired_kl=0.01))
    ppo._adapt_lr(0.05)
    assert ppo.learning_rate == pytest.approx(1e-3 / 1.5)
    ppo._adapt_lr(0.001)
    ppo._adapt_lr(0.001)
    assert ppo.learning_rate == pytest.approx(1e-3 * 1.5)
    assert ppo.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 1.5)
    ppo._adapt_lr(0.01)  # in band: unchanged
    assert ppo.learning_rate == pytest.approx(1e-3 * 1.5)


def test_normalizer_matches_batch_statistics() -> None:
    norm = EmpiricalNormalization(3)
    g = torch.Generator().manual_seed(0)
    data = torch.randn(1000, 3, generator=g) * torch.tensor([1.0, 5.0, 0.1]) + 3.0
    for chunk in data.split(137):
        norm.update(chunk)
    torch.testing.assert_close(norm.mean, data.mean(0), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(norm.var, data.var(0, unbiased=False), rtol=1e-4, atol=1e-4)
    norm.eval()
    norm.update(torch.zeros(10, 3))  # frozen in eval mode
    assert int(norm.count) == 1000


class PointEnv(gym.Env[np.ndarray, np.ndarray]):
    """Toy task: a 2-D point steered by velocity actions towards a random goal."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-10, 10, (4,), np.float32)
        self.action_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        self.pos = np.zeros(2)
        self.goal = np.zeros(2)
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.pos, self.goal - self.pos]).astype(np.float32)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-1, 1, 2)
        self.goal = self.np_random.uniform(-1, 1, 2)
        self.t = 0
        self.ret = 0.0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.pos = self.pos + 0.1 * np.clip(action, -1, 1)
        reward = -float(np.linalg.norm(self.goal - self.pos))
        self.t += 1
        self.ret += reward
        trunc = self.t >= 30
        info = {"episode": {"r": self.ret, "l": self.t}} if trunc else {}
        return self._obs(), reward, False, trunc, info


def _point_env(index: int) -> PointEnv:
    return PointEnv()


def test_tiny_training_run_improves_return(tmp_path: Any) -> None:
    cfg = TrainConfig(seed=0, num_envs=8, num_workers=0, steps_per_env=30, iterations=30,
                      save_interval=0, policy=PolicyConfig((32, 32), (32, 32), "elu", 0.5),
                      ppo=PPOConfig(learning_rate=3e-3, gamma=0.95))
    runner = OnPolicyRunner("point", cfg, tmp_path, env_fn=_point_env)
    hist = runner.learn(progress=False)
    first = np.mean([h["episode/r"] for h in hist[:3]])
    last = np.mean([h["episode/r"] for h in hist[-3:]])
    assert last > first + 3.0, f"return did not improve: {first:.2f} -> {last:.2f}"
    path = runner.save(tmp_path / "model.pt")
    runner.close()
    # resume: a new runner loads the weights and the counters
    runner2 = OnPolicyRunner("point", cfg, None, env_fn=_point_env)
    runner2.load(path)
    assert runner2.iteration == 30 and runner2.env_steps == 30 * 8 * 30
    for a, b in zip(runner.policy.state_dict().values(), runner2.policy.state_dict().values()):
        torch.testing.assert_close(a, b)
    # the curves go on: the saved run's history up to the checkpoint, then the new iterations
    assert [h["iteration"] for h in runner2.history] == list(range(1, 31))
    runner2.learn(2, progress=False)
    assert [h["iteration"] for h in runner2.history[-3:]] == [30, 31, 32]
    runner2.close()
