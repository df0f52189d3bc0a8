"""policy-latency: one observation → action, ONNX Runtime (the robot's path) vs torch eager,
measured side by side in interleaved rounds on 1 thread.

MLP: the PPO actor 48 → 512 → 256 → 128 → 12 with its observation normaliser, exported with
`robot_rl.export.export_actor` and run by `robot_rl.runtime.policy.OnnxPolicy`.
Diffusion: the chunk sampler (obs 30, chunk 8 x 7, K = 5 DDIM steps unrolled, 3 x 256 MLP
denoiser), exported with `robot_rl.export.export_diffusion`; the 1-D UNet denoiser's sampler
(channels 64, 128) is reported beside it. Each call samples its own noise.
Goals (issue #5): MLP ORT p99 ≤ 100 µs and ≥ 2x faster than torch eager; diffusion chunk ORT
p99 ≤ 5 ms.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.export import export_actor, export_diffusion
from robot_rl.policies.diffusion import DiffusionChunkPolicy, DiffusionConfig
from robot_rl.policies.mlp import ActorCritic
from robot_rl.runtime.policy import OnnxPolicy


def _times(fn: Any, obs: np.ndarray) -> np.ndarray:
    out = np.empty(len(obs))
    for i, o in enumerate(obs):
        t0 = time.perf_counter_ns()
        fn(o)
        out[i] = time.perf_counter_ns() - t0
    return out / 1e3


def _side_by_side(ort_fn: Any, torch_fn: Any, inputs: Any, rounds: int, rng: Any
                  ) -> tuple[np.ndarray, np.ndarray]:
    _times(ort_fn, inputs(rng, 100))  # warm-up
    _times(torch_fn, inputs(rng, 100))
    t_ort, t_torch = [], []
    for _ in range(rounds):
        xs = inputs(rng)
        t_ort.append(_times(ort_fn, xs))
        t_torch.append(_times(torch_fn, xs))
    return np.concatenate(t_ort), np.concatenate(t_torch)


def _row(o_all: np.ndarray, t_all: np.ndarray, diff: float, **extra: Any) -> dict[str, Any]:
    o50, o99 = np.percentile(o_all, [50, 99])
    e50, e99 = np.percentile(t_all, [50, 99])
    return {**extra, "calls": int(o_all.size),
            "ort_p50_us": round(float(o50), 1), "ort_p99_us": round(float(o99), 1),
            "torch_p50_us": round(float(e50), 1), "torch_p99_us": round(float(e99), 1),
            "speedup_p50": round(float(e50 / o50), 2), "speedup_p99": round(float(e99 / o99), 2),
            "max_abs_diff": diff}


def _diffusion(tmp: Path, denoiser: str, rounds: int, calls: int) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    cfg = DiffusionConfig(obs_dim=30, act_dim=7, horizon=8, denoiser=denoiser,
                          hidden=(256, 256, 256), unet_channels=(64, 128), sample_steps=5)
    policy = DiffusionChunkPolicy(cfg)
    policy.fit_normalizers(torch.randn(4096, 30) * 2.0, torch.rand(4096, 8, 7) * 2.0 - 1.0)
    policy.eval()
    path = export_diffusion(policy, tmp / f"diffusion_{denoiser}.onnx", robot="arm6",
                            obs_layout=[{"name": "obs", "dim": 30}],
                            chunk_action_type="joint_pos", action_scale=1.0, policy_dt=0.1)
    ort = OnnxPolicy(path, intra_op_threads=1)

    def inputs(rng: Any, n: int = calls) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(rng.normal(0, 1, 30).astype(np.float32),
                 rng.standard_normal((8, 7), dtype=np.float32)) for _ in range(n)]

    @torch.inference_mode()
    def eager(x: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return policy(torch.from_numpy(x[0])[None], torch.from_numpy(x[1])[None])[0].numpy()

    def run_ort(x: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return ort.act(x[0], noise=x[1])

    rng = np.random.default_rng(1)
    o_all, t_all = _side_by_side(run_ort, eager, inputs, rounds, rng)
    diff = max(float(np.abs(run_ort(x) - eager(x)).max()) for x in inputs(rng, 100))
    return _row(o_all, t_all, diff, denoiser=denoiser, obs_dim=30, chunk="8x7",
                ddim_steps=5, params=sum(p.numel() for p in policy.parameters()))


def run(quick: bool = False, rounds: int = 5, calls: int = 2000) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rounds, calls = (2, 200) if quick else (rounds, calls)
    policy = ActorCritic(48, 12, (512, 256, 128), (64,))
    policy.obs_normalizer.update(torch.randn(4096, 48) * 2.0 + 0.5)
    policy.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = export_actor(policy, Path(tmp) / "mlp.onnx", robot="quad12",
                            obs_layout=[{"name": "obs", "dim": 48, "scale": 1.0,
                                         "noise": 0.0}],
                            action_type="joint_pos_offset", action_scale=0.25,
                            policy_dt=0.02, algorithm="ppo")
        ort = OnnxPolicy(path, intra_op_threads=1)

        @torch.inference_mode()
        def eager(o: np.ndarray) -> np.ndarray:
            return policy(torch.from_numpy(o).unsqueeze(0))[0].numpy()

        def inputs(rng: Any, n: int = calls) -> np.ndarray:
            return rng.normal(0, 1, (n, 48)).astype(np.float32)

        rng = np.random.default_rng(0)
        o_all, t_all = _side_by_side(ort.act, eager, inputs, rounds, rng)
        diff = max(float(np.abs(ort.act(o) - eager(o)).max()) for o in inputs(rng, 100))
        mlp_row = _row(o_all, t_all, diff, shape="48-512-256-128-12")
        d_calls = max(50, calls // 4)
        diffusion = _diffusion(Path(tmp), "mlp", rounds, d_calls)
        unet = _diffusion(Path(tmp), "unet", rounds, max(20, d_calls // 4))
    return {
        "benchmark": "policy-latency",
        "threads": 1,
        "mlp": mlp_row,
        "diffusion": diffusion,
        "diffusion_unet": unet,
        "goals": {"mlp_ort_p99_us": 100, "mlp_speedup": 2.0, "diffusion_ort_p99_us": 5000},
        "pass_mlp": bool(mlp_row["ort_p99_us"] <= 100 and mlp_row["speedup_p99"] >= 2.0),
        "pass_diffusion": bool(diffusion["ort_p99_us"] <= 5000),
    }
