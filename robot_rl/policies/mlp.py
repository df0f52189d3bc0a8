"""Gaussian MLP actor-critic with a running observation normaliser.

The normaliser is a module (buffers, no parameters) so that it is saved with the policy and
exported inside the ONNX graph: the robot feeds raw observations. The action distribution is
a diagonal Gaussian with a state-independent, learned standard deviation; at deployment the
mean is the action.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Normal

ACTIVATIONS: dict[str, type[nn.Module]] = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh,
                                           "silu": nn.SiLU}


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "elu") -> nn.Sequential:
    """``in → hidden... → out`` with ``activation`` between layers (none after the last)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{activation}'; use one of {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden]
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


class EmpiricalNormalization(nn.Module):
    """Running mean / std of observations (parallel Welford), ``(x - mean) / (std + eps)``.

    Updated from training batches only while ``self.training`` and until ``until`` samples
    have been seen (None = forever); frozen in eval mode and in the exported graph.
    """

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, dim: int, eps: float = 1e-2, until: int | None = None) -> None:
        super().__init__()
        self.eps = eps
        self.until = until
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / (torch.sqrt(self.var) + self.eps)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold a batch ``x`` of shape (B, dim) into the running statistics."""
        if not self.training or (self.until is not None and int(self.count) >= self.until):
            return
        n = x.shape[0]
        if n == 0:
            return
        batch_mean = x.mean(dim=0)
        batch_var = x.var(dim=0, unbiased=False)
        total = int(self.count) + n
        delta = batch_mean - self.mean
        self.mean += delta * (n / total)
        m_a = self.var * int(self.count)
        m_b = batch_var * n
        self.var.copy_((m_a + m_b + delta.pow(2) * int(self.count) * n / total) / total)
        self.count += n


class ActorCritic(nn.Module):
    """Actor (Gaussian MLP) and critic (MLP value) sharing one observation normaliser.

    Args:
        obs_dim: policy observation size. critic_obs_dim: critic input size (privileged
            observations); None = same as the policy's.
        act_dim: action size.
        actor_hidden, critic_hidden: hidden layer widths. activation: see ``ACTIVATIONS``.
        init_noise_std: initial action std.
    """

    def __init__(self, obs_dim: int, act_dim: int, actor_hidden: Sequence[int] = (256, 128, 64),
                 critic_hidden: Sequence[int] = (256, 128, 64), activation: str = "elu",
                 init_noise_std: float = 1.0, critic_obs_dim: int | None = None) -> None:
        super().__init__()
        self.obs_dim, self.act_dim = obs_dim, act_dim
        # constructor arguments, JSON-able: checkpoints rebuild the network from them
        self.arch = {"obs_dim": obs_dim, "act_dim": act_dim, "actor_hidden": list(actor_hidden),
                     "critic_hidden": list(critic_hidden), "activation": activation,
                     "init_noise_std": float(init_noise_std), "critic_obs_dim": critic_obs_dim}
        self.critic_obs_dim = critic_obs_dim or obs_dim
        self.obs_normalizer = EmpiricalNormalization(obs_dim)
        self.critic_obs_normalizer = (self.obs_normalizer if critic_obs_dim is None
                                      else EmpiricalNormalization(self.critic_obs_dim))
        self.actor = mlp(obs_dim, actor_hidden, act_dim, activation)
        self.critic = mlp(self.critic_obs_dim, critic_hidden, 1, activation)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(torch.log(
            torch.tensor(init_noise_std)))))
        # small last-layer init: near-zero initial actions, the default pose
        last = self.actor[-1]
        assert isinstance(last, nn.Linear)
        nn.init.uniform_(last.weight, -1e-2, 1e-2)
        nn.init.zeros_(last.bias)

    @property
    def std(self) -> torch.Tensor:
        return self.log_std.exp()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action (the mean) from raw observations: what is exported."""
        return self.actor(self.obs_normalizer(obs))

    def distribution(self, obs: torch.Tensor) -> Normal:
        mean = self.actor(self.obs_normalizer(obs))
        return Normal(mean, self.std.expand_as(mean))

    def value(self, critic_obs: torch.Tensor) -> torch.Tensor:
        """State value, shape (B,)."""
        return self.critic(self.critic_obs_normalizer(critic_obs)).squeeze(-1)

    def update_normalizers(self, obs: torch.Tensor, critic_obs: torch.Tensor | None = None) -> None:
        self.obs_normalizer.update(obs)
        if critic_obs is not None and self.critic_obs_normalizer is not self.obs_normalizer:
            self.critic_obs_normalizer.update(critic_obs)
