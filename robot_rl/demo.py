"""`robot-rl demo` / `make demo`: the best end-to-end thing the project does today.

1. trains a PPO policy for ``arm6-reach`` in MuJoCo (2 worker processes, CPU),
2. evaluates its deterministic (mean) action on held-out seeds against the zero and random
   policies, with a video of the trained policy,
3. stands the quad12 quadruped under the joint PD controller as a physics sanity check,
4. writes ``report.md``, ``summary.json`` and PNG plots under ``out_dir``.

Later issues turn this into the full deployment (ONNX bundle → ROS 2 graph → reality proxy).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.sim_rollout import rollout, run_episodes, summarize
from robot_rl.train import plot_curves

TASK = "arm6-reach"


def run_demo(out_dir: str | Path = "out/demo", quick: bool = False) -> dict[str, Any]:
    import torch

    from robot_rl.algos.runner import OnPolicyRunner, TrainConfig, code_version
    from robot_rl.config import load_config
    from robot_rl.envs.registry import CONFIG_DIR

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cfg = load_config(TrainConfig, CONFIG_DIR / "algos" / f"ppo-{TASK}.yaml")
    if quick:
        cfg.iterations = 5
    print(f"[1/4] training PPO on {TASK}: {cfg.iterations} iterations x {cfg.num_envs} envs x "
          f"{cfg.steps_per_env} steps ({cfg.num_workers} worker processes)", flush=True)
    runner = OnPolicyRunner(TASK, cfg, out / "train")
    try:
        history = runner.learn(progress=True)
        ckpt = runner.save(out / "train" / "model.pt")
    finally:
        runner.close()
    train_s = time.perf_counter() - t0
    policy = runner.policy.eval()

    def trained(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return policy(torch.as_tensor(obs).unsqueeze(0))[0].numpy()

    episodes = 5 if quick else 50
    print(f"[2/4] evaluating on {episodes} held-out seeds (trained vs zero vs random)", flush=True)
    rng = np.random.default_rng(0)
    eval_seed = 10_000
    results = {
        "trained": summarize(run_episodes(TASK, trained, episodes, eval_seed,
                                          video=str(out / "arm6_reach_trained.mp4"))),
        "zero": summarize(run_episodes(TASK, lambda o: np.zeros(6, np.float32), episodes,
                                       eval_seed)),
        "random": summarize(run_episodes(TASK, lambda o: rng.uniform(-1, 1, 6).astype(
            np.float32), episodes, eval_seed)),
    }
    print("[3/4] quad12 standing under the joint PD controller (zero policy, 10 s)", flush=True)
    stand = rollout("quad12-walk", policy="zero", steps=100 if quick else 500, seed=0)
    print("[4/4] writing the report", flush=True)
    plot_curves(history, out / "training_curve.png", title=f"PPO on {TASK}")
    summary: dict[str, Any] = {
        "demo": "arm6-reach PPO training + evaluation; quad12 PD standing check",
        "code_version": code_version(),
        "task": TASK,
        "train": {"iterations": cfg.iterations, "env_steps": int(history[-1]["env_steps"]),
                  "wall_s": round(train_s, 1), "seed": cfg.seed,
                  "final_return": history[-1].get("episode/r"),
                  "final_success_stochastic": history[-1].get("episode/success"),
                  "checkpoint": str(ckpt)},
        "eval": {name: {k: round(v, 4) for k, v in res.items()
                        if k in ("episodes", "success_mean", "r_mean", "r_std",
                                 "final_distance_mean", "final_distance_std")}
                 for name, res in results.items()},
        "quad12_stand": {"falls": stand["episodes"], "sim_time_s": stand["sim_time_s"],
                         "finite": stand["finite"]},
        "report": str(out / "report.md"),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(_report(summary))
    print((out / "report.md").read_text(), flush=True)
    return summary


def _report(s: dict[str, Any]) -> str:
    ev = s["eval"]
    rows = "\n".join(
        f"| {name} | {r['success_mean']:.0%} | {r['final_distance_mean'] * 100:.1f} ± "
        f"{r['final_distance_std'] * 100:.1f} | {r['r_mean']:.2f} ± {r['r_std']:.2f} |"
        for name, r in ev.items())
    t = s["train"]
    return f"""# robot-rl demo report

Code version `{s['code_version']}`. Total wall time {s['wall_s']} s.

## 1. PPO on `{s['task']}` (MuJoCo, CPU)

{t['iterations']} iterations, {t['env_steps']:,} env steps, {t['wall_s']} s, seed {t['seed']}.
Checkpoint `{t['checkpoint']}`; TensorBoard logs next to it. Curve: `training_curve.png`.

## 2. Evaluation on {int(ev['trained']['episodes'])} held-out seeds (one episode each)

Success = end-effector within 2 cm of the goal at the end of the 5 s episode.

| policy | success | final distance [cm] (mean ± std) | return (mean ± std) |
|---|---|---|---|
{rows}

Video of the trained (deterministic) policy: `arm6_reach_trained.mp4`.

## 3. quad12 standing check

Zero action (default pose through the joint PD) for {s['quad12_stand']['sim_time_s']:.0f} s:
{s['quad12_stand']['falls']} falls, finite state: {s['quad12_stand']['finite']}.

## Not yet here

ONNX export, the ROS 2 graph and the reality proxy come with their issues; this demo becomes
the full simulated deployment then.
"""
