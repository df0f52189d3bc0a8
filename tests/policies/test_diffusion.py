"""Diffusion chunk policy: schedule and DDIM numbers, oracle sampling, DDPM loss, a tiny BC fit."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from robot_rl.policies.diffusion import (
    DiffusionChunkPolicy,
    DiffusionConfig,
    ddim_timesteps,
    timestep_embedding,
)


def test_ddim_timesteps_leading_spacing() -> None:
    assert ddim_timesteps(100, 5) == [80, 60, 40, 20, 0]
    assert ddim_timesteps(100, 1) == [0]
    assert ddim_timesteps(10, 10) == list(range(9, -1, -1))


def test_squaredcos_schedule_hand_worked() -> None:
    p = DiffusionChunkPolicy(DiffusionConfig(obs_dim=3, act_dim=2, horizon=4, train_steps=100))
    f = lambda s: math.cos((s / 100 + 0.008) / 1.008 * math.pi / 2) ** 2
    # abar_t = prod_{i<=t} (1 - beta_i) with beta_i = 1 - f(i+1)/f(i) (uncapped here) = f(t+1)/f(0)
    for t in (0, 20, 60, 80):
        assert p._abar64[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert all(a > b for a, b in zip(p._abar64, p._abar64[1:]))
    steps = p.ddim_steps()
    assert [(s.t, s.t_prev) for s in steps] == [(80, 60), (60, 40), (40, 20), (20, 0), (0, -1)]
    assert steps[-1].abar_prev == 1.0 and steps[0].abar_prev == p._abar64[60]


def test_timestep_embedding() -> None:
    e = timestep_embedding(torch.tensor([0, 7]), 8)
    assert e.shape == (2, 8)
    torch.testing.assert_close(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    freqs = [10000 ** (-i / 3) for i in range(4)]
    torch.testing.assert_close(e[1, :4], torch.tensor([math.sin(7 * f) for f in freqs]))


class _Oracle(nn.Module):
    """Predicts the exact noise that turns x_t into a known clean chunk x0 (normalised)."""

    def __init__(self, policy: DiffusionChunkPolicy, x0: torch.Tensor) -> None:
        super().__init__()
        self.abar, self.x0 = torch.tensor(policy._abar64, dtype=torch.float64), x0

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        ab = self.abar[t.reshape(-1)[0]]
        return (x - ab.sqrt() * self.x0) / (1 - ab).sqrt()


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_ddim_with_an_oracle_denoiser_returns_the_clean_chunk(eta: float) -> None:
    cfg = DiffusionConfig(obs_dim=3, act_dim=2, horizon=4, sample_steps=5)
    p = DiffusionChunkPolicy(cfg).double()
    p.act_low.copy_(torch.tensor([-2.0, 0.0]))
    p.act_high.copy_(torch.tensor([2.0, 1.0]))
    target = torch.tensor([[[1.5, 0.25], [-1.0, 0.5], [0.0, 0.75], [2.0, 1.0]]],
                          dtype=torch.float64)
    p.denoiser = _Oracle(p, p.normalize_actions(target))
    for seed in range(3):
        noise = torch.randn(1, 4, 2, generator=torch.Generator().manual_seed(seed),
                            dtype=torch.float64)
        out = p.sample(torch.zeros(1, 3, dtype=torch.float64), noise, eta=eta)
        torch.testing.assert_close(out, target, atol=1e-9, rtol=0)


def test_samples_stay_in_the_training_action_range() -> None:
    torch.manual_seed(0)
    p = DiffusionChunkPolicy(DiffusionConfig(obs_dim=5, act_dim=3, horizon=8))
    acts = torch.rand(256, 8, 3) * torch.tensor([1.0, 4.0, 0.1]) - 0.5
    p.fit_normalizers(torch.randn(256, 5), acts)
    out = p.sample(torch.randn(64, 5) * 10, torch.randn(64, 8, 3) * 5)
    low, high = acts.reshape(-1, 3).min(0).values, acts.reshape(-1, 3).max(0).values
    assert bool((out >= low - 1e-5).all() and (out <= high + 1e-5).all())
    torch.testing.assert_close(p.unnormalize_actions(p.normalize_actions(acts)), acts)


def test_ddpm_loss_with_a_zero_denoiser_is_the_noise_energy() -> None:
    p = DiffusionChunkPolicy(DiffusionConfig(obs_dim=2, act_dim=2, horizon=2))

    class Zero(nn.Module):
        def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(x)

    p.denoiser = Zero()
    obs, acts = torch.zeros(4, 2), torch.zeros(4, 2, 2)
    loss = p.loss(obs, acts, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    torch.randint(0, 100, (4,), generator=g)  # the loss draws t first, then eps
    eps = torch.randn(4, 2, 2, generator=g)
    assert float(loss) == pytest.approx(float((eps ** 2).mean()), rel=1e-6)
    with pytest.raises(ValueError, match="actions must have shape"):
        p.loss(obs, torch.zeros(4, 3, 2))


def test_tiny_behaviour_cloning_recovers_an_obs_to_chunk_mapping() -> None:
    """Chunks a_k = tanh(W obs) * (1 + k/H): after a short fit, DDIM samples track it."""
    torch.manual_seed(0)
    cfg = DiffusionConfig(obs_dim=4, act_dim=2, horizon=4, hidden=(128, 128), sample_steps=5)
    p = DiffusionChunkPolicy(cfg)
    w = torch.randn(4, 2)
    ramp = 1 + torch.arange(4).float() / 4

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        obs = torch.randn(n, 4)
        return obs, torch.tanh(obs @ w)[:, None, :] * ramp[None, :, None]

    obs, acts = data(2048)
    p.fit_normalizers(obs, acts)
    opt = torch.optim.AdamW(p.parameters(), lr=3e-3)
    test_obs, test_acts = data(256)

    def error() -> float:
        p.eval()
        with torch.no_grad():
            out = p.sample(test_obs, torch.randn(256, 4, 2))
        p.train()
        return float((out - test_acts).abs().mean())

    err0 = error()
    for _ in range(500):
        idx = torch.randint(0, 2048, (256,))
        loss = p.loss(obs[idx], acts[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    err = error()  # actions span [-2.5, 2.5]; untrained ~1.6
    assert err < 0.2 and err < err0 / 5, (err0, err)


def test_unet_fits_a_fixed_batch() -> None:
    torch.manual_seed(0)
    p = DiffusionChunkPolicy(DiffusionConfig(obs_dim=4, act_dim=2, horizon=8, denoiser="unet",
                                             unet_channels=(16, 32), n_groups=4))
    obs, acts = torch.randn(32, 4), torch.rand(32, 8, 2)
    p.fit_normalizers(obs, acts)
    opt = torch.optim.Adam(p.parameters(), lr=1e-3)
    losses = []
    for _ in range(120):  # same t and eps every step: a fixed objective
        loss = p.loss(obs, acts, generator=torch.Generator().manual_seed(0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], (losses[0], losses[-1])


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown denoiser"):
        DiffusionConfig(3, 2, denoiser="transformer").validate()
    with pytest.raises(ValueError, match="divisible by 4"):
        DiffusionConfig(3, 2, horizon=6, denoiser="unet", unet_channels=(16, 32, 64)).validate()
    with pytest.raises(ValueError, match="sample_steps"):
        DiffusionConfig(3, 2, sample_steps=0).validate()
