"""Diffusion action-chunk policy: a noise-prediction denoiser, DDPM training, DDIM sampling.

A chunk is ``H`` future actions ``[B, H, A]`` (raw units, e.g. joint targets [rad]). Actions
are scaled to [-1, 1] per dimension with the training data's range (``act_low``,
``act_high``, buffers); observations go through a running normaliser (buffers). Both live
inside the module, so the exported graph takes raw observations and returns raw actions.

Training (DDPM, Ho et al. 2020), epsilon prediction::

    x0 = normalise(actions),  t ~ U{0..T-1},  eps ~ N(0, I)
    x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,      loss = || eps_theta(x_t, t, obs) - eps ||^2

with ``abar`` from the squared-cosine schedule (Nichol & Dhariwal 2021, capped at 0.999) or a
linear one. Sampling (DDIM, Song et al. 2021) over K of the T steps with "leading" spacing
``tau_k = k * (T // K)``, k = K-1 .. 0 (T = 100, K = 5: 80, 60, 40, 20, 0; the spacing of
Diffusion Policy, Chi et al. 2023), from ``x = noise``::

    eps   = eps_theta(x, tau_k, obs)
    x0    = clip((x - sqrt(1 - abar) eps) / sqrt(abar), -1, 1)
    eps   = (x - sqrt(abar) x0) / sqrt(1 - abar)          (consistent with the clipped x0)
    sigma = eta sqrt((1 - abar_prev) / (1 - abar)) sqrt(1 - abar / abar_prev)
    x     = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z

with ``abar_prev = 1`` after the last step, so the result is the clipped ``x0``: the chunk
never leaves the training action range. ``eta = 0`` (the exported sampler) is deterministic
given the initial noise; ``eta > 0`` makes every step a Gaussian (mean, sigma) — the
per-step policy that DPPO fine-tunes (`DiffusionChunkPolicy.denoise_step`).

Denoisers (``DENOISERS``): ``mlp`` (flattened chunk + observation + time embedding through an
MLP) and ``unet`` (a 1-D temporal UNet with FiLM conditioning, as in Chi et al. 2023).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from robot_rl.policies.mlp import EmpiricalNormalization


@dataclass
class DiffusionConfig:
    """Shape and hyper-parameters of a `DiffusionChunkPolicy` (saved with checkpoints).

    obs_dim, act_dim: sizes per step; horizon: chunk length H. denoiser: ``mlp`` | ``unet``.
    hidden: MLP widths (mlp). unet_channels, kernel_size, n_groups: UNet levels (horizon must
    be divisible by 2 ** (len(unet_channels) - 1)). time_dim: sinusoidal embedding size.
    train_steps: T. sample_steps: K (DDIM). schedule: ``squaredcos`` | ``linear``.
    """

    obs_dim: int
    act_dim: int
    horizon: int = 8
    denoiser: str = "mlp"
    hidden: tuple[int, ...] = (256, 256, 256)
    unet_channels: tuple[int, ...] = (64, 128)
    kernel_size: int = 5
    n_groups: int = 8
    time_dim: int = 32
    train_steps: int = 100
    sample_steps: int = 5
    schedule: str = "squaredcos"

    def validate(self) -> None:
        if min(self.obs_dim, self.act_dim, self.horizon) < 1:
            raise ValueError("obs_dim, act_dim and horizon must be >= 1")
        if self.denoiser not in DENOISERS:
            raise ValueError(f"unknown denoiser '{self.denoiser}'; use one of {sorted(DENOISERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule '{self.schedule}'; use one of {sorted(SCHEDULES)}")
        if not 1 <= self.sample_steps <= self.train_steps:
            raise ValueError(f"need 1 <= sample_steps <= train_steps, got {self.sample_steps}, "
                             f"{self.train_steps}")
        if self.time_dim < 4 or self.time_dim % 2:
            raise ValueError(f"time_dim must be even and >= 4, got {self.time_dim}")
        if self.denoiser == "unet":
            down = 2 ** (len(self.unet_channels) - 1)
            if self.horizon % down:
                raise ValueError(f"unet with {len(self.unet_channels)} levels needs a horizon "
                                 f"divisible by {down}, got {self.horizon}")
            if any(c % self.n_groups for c in self.unet_channels):
                raise ValueError(f"unet_channels {self.unet_channels} must be multiples of "
                                 f"n_groups={self.n_groups}")


# -- noise schedules: T → abar_t (float64, decreasing) --
def _squaredcos(T: int) -> torch.Tensor:
    f = lambda s: math.cos((s / T + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = torch.tensor([min(1 - f(i + 1) / f(i), 0.999) for i in range(T)], dtype=torch.float64)
    return torch.cumprod(1 - betas, 0)


def _linear(T: int) -> torch.Tensor:
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0)


SCHEDULES: dict[str, Callable[[int], torch.Tensor]] = {"squaredcos": _squaredcos,
                                                       "linear": _linear}


def ddim_timesteps(train_steps: int, sample_steps: int) -> list[int]:
    """The K training steps DDIM visits, noisiest first: ``k * (T // K)``, k = K-1 .. 0.

    Leading spacing starts at step (K-1) T/K rather than T-1: the squared-cosine schedule's
    last steps have abar ~ 1e-7, where x0 = (x - sqrt(1-abar) eps) / sqrt(abar) amplifies
    rounding by ~1e3 (torch vs ONNX Runtime parity would suffer, to no sampling benefit)."""
    return [k * (train_steps // sample_steps) for k in range(sample_steps)][::-1]


def timestep_embedding(t: torch.Tensor, dim: int,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sinusoidal embedding of timesteps ``t`` (shape [N]) → [N, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=dtype) / (half - 1))
    arg = t.to(dtype)[:, None] * freqs[None]
    return torch.cat([arg.sin(), arg.cos()], dim=-1)


class _TimeMLP(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.net = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim))

    def forward(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        """t: [1] (one step for the whole batch) or [B] → [B, dim]."""
        first = self.net[0]
        assert isinstance(first, nn.Linear)
        emb = self.net(timestep_embedding(t.reshape(-1), self.dim, first.weight.dtype))
        return emb.expand(batch, -1) if emb.shape[0] == 1 else emb


class MLPDenoiser(nn.Module):
    """eps(x_t, t, obs): MLP on [flattened chunk, normalised obs, time embedding]."""

    def __init__(self, cfg: DiffusionConfig) -> None:
        super().__init__()
        self.h, self.a = cfg.horizon, cfg.act_dim
        self.time = _TimeMLP(cfg.time_dim)
        dims = [cfg.horizon * cfg.act_dim + cfg.obs_dim + cfg.time_dim, *cfg.hidden]
        layers: list[nn.Module] = []
        for i, o in itertools.pairwise(dims):
            layers += [nn.Linear(i, o), nn.Mish()]
        layers.append(nn.Linear(dims[-1], cfg.horizon * cfg.act_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        z = torch.cat([x.reshape(b, -1), cond, self.time(t, b)], dim=-1)
        return self.net(z).reshape(b, self.h, self.a)


class _ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, groups: int) -> None:
        super().__init__(nn.Conv1d(cin, cout, k, padding=k // 2), nn.GroupNorm(groups, cout),
                         nn.Mish())


class _ResBlock(nn.Module):
    """Two conv blocks with FiLM (per-channel scale and bias from the condition) between."""

    def __init__(self, cin: int, cout: int, cond_dim: int, k: int, groups: int) -> None:
        super().__init__()
        self.b0, self.b1 = _ConvBlock(cin, cout, k, groups), _ConvBlock(cout, cout, k, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * cout))
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()
        self.cout = cout

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        return self.b1(self.b0(x) * scale + bias) + self.skip(x)


class UNet1DDenoiser(nn.Module):
    """eps(x_t, t, obs): 1-D UNet over the chunk's time axis, conditioned by FiLM on
    [time embedding, normalised obs]; ``len(unet_channels)`` levels, ×2 down/up-sampling."""

    def __init__(self, cfg: DiffusionConfig) -> None:
        super().__init__()
        k, g = cfg.kernel_size, cfg.n_groups
        cond = cfg.time_dim + cfg.obs_dim
        self.time = _TimeMLP(cfg.time_dim)
        chans = [cfg.act_dim, *cfg.unet_channels]
        levels = list(itertools.pairwise(chans))
        self.down = nn.ModuleList()
        for i, (ci, co) in enumerate(levels):
            last = i == len(levels) - 1
            self.down.append(nn.ModuleList([
                _ResBlock(ci, co, cond, k, g), _ResBlock(co, co, cond, k, g),
                nn.Conv1d(co, co, 3, 2, 1) if not last else nn.Identity()]))
        top = chans[-1]
        self.mid = nn.ModuleList([_ResBlock(top, top, cond, k, g), _ResBlock(top, top, cond, k, g)])
        self.up = nn.ModuleList()
        for ci, co in reversed(levels[1:]):
            self.up.append(nn.ModuleList([
                _ResBlock(2 * co, ci, cond, k, g), _ResBlock(ci, ci, cond, k, g),
                nn.ConvTranspose1d(ci, ci, 4, 2, 1)]))
        first = cfg.unet_channels[0]
        self.out = nn.Sequential(_ConvBlock(first, first, k, g), nn.Conv1d(first, cfg.act_dim, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = torch.cat([self.time(t, x.shape[0]), cond], dim=-1)
        h = x.transpose(1, 2)  # [B, A, H]
        skips = []
        for level in self.down:
            assert isinstance(level, nn.ModuleList)
            r0, r1, down = level[0], level[1], level[2]
            h = r1(r0(h, c), c)
            skips.append(h)
            h = down(h)
        for r in self.mid:
            h = r(h, c)
        # as in Chi et al.: up level i joins the skip of down level L-1-i (the shallowest
        # skip is unused: the last up-sampling returns to full length without it)
        for level in self.up:
            assert isinstance(level, nn.ModuleList)
            r0, r1, up = level[0], level[1], level[2]
            h = r1(r0(torch.cat([h, skips.pop()], dim=1), c), c)
            h = up(h)
        return self.out(h).transpose(1, 2)


DENOISERS: dict[str, type[nn.Module]] = {"mlp": MLPDenoiser, "unet": UNet1DDenoiser}


@dataclass(frozen=True)
class DDIMStep:
    """Coefficients of one DDIM step from training step ``t`` (``t_prev`` = -1: the end)."""

    t: int
    t_prev: int
    abar: float
    abar_prev: float


class DiffusionChunkPolicy(nn.Module):
    """Noise-prediction diffusion policy over action chunks ``[B, H, A]`` (module docstring).

    ``forward(obs [B, obs_dim], noise [B, H, A]) -> actions [B, H, A]`` is the deterministic
    K-step DDIM sampler (eta = 0): what the bundle exports, with the loop unrolled.
    """

    act_low: torch.Tensor
    act_high: torch.Tensor
    abar: torch.Tensor

    def __init__(self, cfg: DiffusionConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.obs_dim, self.act_dim, self.horizon = cfg.obs_dim, cfg.act_dim, cfg.horizon
        self.obs_normalizer = EmpiricalNormalization(cfg.obs_dim)
        self.register_buffer("act_low", -torch.ones(cfg.act_dim))
        self.register_buffer("act_high", torch.ones(cfg.act_dim))
        self.denoiser = DENOISERS[cfg.denoiser](cfg)
        abar64 = SCHEDULES[cfg.schedule](cfg.train_steps)
        self._abar64 = abar64.tolist()  # python floats: the sampler's constants, exact in export
        self.register_buffer("abar", abar64.float())

    # -- normalisation ---------------------------------------------------------------------
    @torch.no_grad()
    def fit_normalizers(self, obs: torch.Tensor, actions: torch.Tensor) -> None:
        """Observation statistics and the per-dimension action range from training data.

        obs: [N, obs_dim]; actions: [N, H, A] or [N, A] (raw units)."""
        was = self.training
        self.obs_normalizer.train()
        self.obs_normalizer.update(obs.reshape(-1, self.obs_dim).float())
        self.obs_normalizer.train(was)
        flat = actions.reshape(-1, self.act_dim).float()
        self.act_low.copy_(flat.min(0).values)
        self.act_high.copy_(flat.max(0).values)

    def _half_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        mid = (self.act_high + self.act_low) / 2
        half = ((self.act_high - self.act_low) / 2).clamp_min(1e-4)
        return mid, half

    def normalize_actions(self, a: torch.Tensor) -> torch.Tensor:
        mid, half = self._half_range()
        return (a - mid) / half

    def unnormalize_actions(self, x: torch.Tensor) -> torch.Tensor:
        mid, half = self._half_range()
        return x * half + mid

    # -- training -----------------------------------------------------------------------------
    def loss(self, obs: torch.Tensor, actions: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """DDPM epsilon-prediction loss on a batch: obs [B, obs_dim], actions [B, H, A]."""
        b = obs.shape[0]
        if actions.shape != (b, self.horizon, self.act_dim):
            raise ValueError(f"actions must have shape [B={b}, H={self.horizon}, "
                             f"A={self.act_dim}], got {tuple(actions.shape)}")
        x0 = self.normalize_actions(actions)
        t = torch.randint(0, self.cfg.train_steps, (b,), generator=generator, device=obs.device)
        eps = torch.randn(x0.shape, generator=generator, device=obs.device)
        ab = self.abar[t].view(b, 1, 1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        pred = self.denoiser(x_t, t, self.obs_normalizer(obs))
        return torch.mean((pred - eps) ** 2)

    # -- sampling ------------------------------------------------------------------------------
    def ddim_steps(self, sample_steps: int | None = None) -> list[DDIMStep]:
        """The DDIM steps (noisiest first) for K = ``sample_steps`` (default cfg.sample_steps)."""
        k = self.cfg.sample_steps if sample_steps is None else sample_steps
        ts = ddim_timesteps(self.cfg.train_steps, k)
        ab = self._abar64
        return [DDIMStep(t, tp, ab[t], ab[tp] if tp >= 0 else 1.0)
                for t, tp in zip(ts, [*ts[1:], -1])]

    def denoise_step(self, x: torch.Tensor, cond: torch.Tensor, step: DDIMStep,
                     eta: float = 0.0) -> tuple[torch.Tensor, float]:
        """One DDIM step: the mean of x_prev (x [B, H, A] normalised; cond = normalised obs)
        and its standard deviation sigma (0 for eta = 0). x_prev = mean + sigma z."""
        eps = self.denoiser(x, torch.tensor([step.t], device=x.device), cond)
        ab, ab_prev = step.abar, step.abar_prev
        x0 = ((x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)).clamp(-1.0, 1.0)
        eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        mean = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps
        return mean, sigma

    def sample(self, obs: torch.Tensor, noise: torch.Tensor, sample_steps: int | None = None,
               eta: float = 0.0, step_noise: Sequence[torch.Tensor] | None = None
               ) -> torch.Tensor:
        """Chunk [B, H, A] in raw action units from obs [B, obs_dim] and noise [B, H, A].

        ``eta > 0`` needs ``step_noise`` (one [B, H, A] tensor per step) or draws it."""
        x = noise
        cond = self.obs_normalizer(obs)
        for i, step in enumerate(self.ddim_steps(sample_steps)):
            mean, sigma = self.denoise_step(x, cond, step, eta)
            if sigma > 0.0:
                z = step_noise[i] if step_noise is not None else torch.randn_like(mean)
                x = mean + sigma * z
            else:
                x = mean
        return self.unnormalize_actions(x)

    def forward(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.sample(obs, noise)


__all__ = ["DENOISERS", "DDIMStep", "DiffusionChunkPolicy", "DiffusionConfig", "MLPDenoiser",
           "UNet1DDenoiser", "ddim_timesteps", "timestep_embedding"]
