"""Residual composite policy: a frozen base policy plus a learned per-step correction.

    a = a_base(obs) + scale * r(obs, a_base)

``r`` is a Gaussian MLP actor-critic (`ActorCritic`) on ``[obs, a_base]`` (its running
normaliser covers both), initialised near zero so training starts from the base policy.
RL trains ``r`` (on-policy PPO over the distribution of ``r``, or off-policy), never the base.

The base is either *embedded* (a torch module obs [B, obs_dim] → action [B, A], e.g. a
PPO actor: base and residual are exported as one graph) or *external* (``base=None``: e.g.
a diffusion chunk policy running at its own rate; the caller passes ``base_action`` and the
bundle declares its base bundle by file name and SHA-256).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Normal

from robot_rl.policies.mlp import ActorCritic


class ResidualPolicy(nn.Module):
    """``base`` (frozen, or None for an external base) + ``scale`` x ``residual``.

    Args:
        residual: actor-critic whose observation is ``[obs, a_base]`` (obs_dim + act_dim).
        scale: residual scale (action units per unit of residual output).
        obs_dim: the base's observation size.
        base: frozen base module, or None (external base: pass ``base_action``).
    """

    def __init__(self, residual: ActorCritic, scale: float, obs_dim: int,
                 base: nn.Module | None = None) -> None:
        super().__init__()
        if residual.obs_dim <= obs_dim:
            raise ValueError(f"residual observation size {residual.obs_dim} must be obs_dim "
                             f"({obs_dim}) + act_dim")
        if not scale > 0:
            raise ValueError(f"residual scale must be > 0, got {scale}")
        self.obs_dim, self.act_dim = obs_dim, residual.act_dim
        if residual.obs_dim != obs_dim + self.act_dim:
            raise ValueError(f"residual observation size {residual.obs_dim} != obs_dim "
                             f"{obs_dim} + act_dim {self.act_dim}")
        self.residual, self.scale = residual, float(scale)
        self.base = base
        if base is not None:
            base.eval()
            for p in base.parameters():
                p.requires_grad_(False)

    @property
    def embedded_base(self) -> bool:
        return self.base is not None

    def train(self, mode: bool = True) -> ResidualPolicy:
        super().train(mode)
        if self.base is not None:
            self.base.eval()  # frozen: never in training mode (normaliser stays fixed)
        return self

    def base_action(self, obs: torch.Tensor, base_action: torch.Tensor | None = None
                    ) -> torch.Tensor:
        """The base's action [B, A] (``base_action`` as given for an external base)."""
        if base_action is not None:
            return base_action
        if self.base is None:
            raise ValueError("this residual policy has an external base: pass base_action")
        with torch.no_grad():
            out: torch.Tensor = self.base(obs)
            return out

    def residual_obs(self, obs: torch.Tensor, base_action: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """``[obs, a_base]``: the residual actor-critic's observation [B, obs_dim + A]."""
        return torch.cat([obs, self.base_action(obs, base_action)], dim=-1)

    def compose(self, base_action: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """``a_base + scale * r``."""
        return base_action + self.scale * r

    def distribution(self, obs: torch.Tensor, base_action: torch.Tensor | None = None) -> Normal:
        """Gaussian over the residual ``r`` (not over the composed action)."""
        return self.residual.distribution(self.residual_obs(obs, base_action))

    def value(self, obs: torch.Tensor, base_action: torch.Tensor | None = None) -> torch.Tensor:
        return self.residual.value(self.residual_obs(obs, base_action))

    def forward(self, obs: torch.Tensor, base_action: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Deterministic composed action [B, A] (the residual's mean): what is exported."""
        a_base = self.base_action(obs, base_action)
        r = self.residual(torch.cat([obs, a_base], dim=-1))
        return self.compose(a_base, r)


__all__ = ["ResidualPolicy"]
