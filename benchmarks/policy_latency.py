"""policy-latency: one observation → action, ONNX Runtime (the robot's path) vs torch eager,
measured side by side in interleaved rounds on 1 thread.

MLP: the PPO actor 48 → 512 → 256 → 128 → 12 with its observation normaliser, exported with
`robot_rl.export.export_actor` and run by `robot_rl.runtime.policy.OnnxPolicy`.
Goals (issue #5): ORT p99 ≤ 100 µs and ≥ 2x faster than torch eager. The diffusion chunk
sampler's row is added with the diffusion policy (not built yet).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _times(fn: Any, obs: np.ndarray) -> np.ndarray:
    out = np.empty(len(obs))
    for i, o in enumerate(obs):
        t0 = time.perf_counter_ns()
        fn(o)
        out[i] = time.perf_counter_ns() - t0
    return out / 1e3


def run(quick: bool = False, rounds: int = 5, calls: int = 2000) -> dict[str, Any]:
    import torch

    from robot_rl.export import export_actor
    from robot_rl.policies.mlp import ActorCritic
    from robot_rl.runtime.policy import OnnxPolicy

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
        rng = np.random.default_rng(0)

        @torch.inference_mode()
        def eager(o: np.ndarray) -> np.ndarray:
            return policy(torch.from_numpy(o).unsqueeze(0))[0].numpy()

        obs = rng.normal(0, 1, (calls, 48)).astype(np.float32)
        _times(ort.act, obs[:100])
        _times(eager, obs[:100])
        t_ort, t_torch = [], []
        for _ in range(rounds):
            obs = rng.normal(0, 1, (calls, 48)).astype(np.float32)
            t_ort.append(_times(ort.act, obs))
            t_torch.append(_times(eager, obs))
        diff = max(float(np.abs(ort.act(o) - eager(o)).max()) for o in obs[:100])
    o_all, t_all = np.concatenate(t_ort), np.concatenate(t_torch)
    o50, o99 = np.percentile(o_all, [50, 99])
    e50, e99 = np.percentile(t_all, [50, 99])
    return {
        "benchmark": "policy-latency",
        "threads": 1,
        "mlp": {"shape": "48-512-256-128-12", "calls": int(o_all.size),
                "ort_p50_us": round(float(o50), 1), "ort_p99_us": round(float(o99), 1),
                "torch_p50_us": round(float(e50), 1), "torch_p99_us": round(float(e99), 1),
                "speedup_p50": round(float(e50 / o50), 2),
                "speedup_p99": round(float(e99 / o99), 2),
                "max_abs_diff": diff},
        "diffusion": "not built yet (issue 5)",
        "goals": {"mlp_ort_p99_us": 100, "mlp_speedup": 2.0, "diffusion_ort_p99_us": 5000},
        "pass_mlp": bool(o99 <= 100 and e99 / o99 >= 2.0),
    }
