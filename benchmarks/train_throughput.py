"""train-throughput: PPO and H-infinity on quad12-walk with their shipped configs
(configs/algos/ppo-quad12-walk.yaml, hinf.yaml), a few iterations each, interleaved.

Reports env steps/s of the rollout (policy inference + vector env), learner minibatch updates
per second, and overall env steps/s per iteration (collect + learn). The wall time to a
policy that walks comes from the training record of the shipped bundle
(pretrained/quad12_walk_*.json) when one exists.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from robot_rl.algos.hinf import HInfRunner, HInfTrainConfig
from robot_rl.algos.runner import OnPolicyRunner, TrainConfig
from robot_rl.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def _measure(runner: Any, iterations: int) -> list[dict[str, float]]:
    hist = runner.learn(iterations, progress=False)
    return hist[-iterations:]


def run(quick: bool = False, iterations: int = 6, rounds: int = 2) -> dict[str, Any]:
    iterations, rounds = (1, 1) if quick else (iterations, rounds)
    algos = {"ppo": (OnPolicyRunner, TrainConfig, "ppo-quad12-walk.yaml"),
             "hinf": (HInfRunner, HInfTrainConfig, "hinf.yaml")}
    runners = {}
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in algos}
    try:
        for name, (cls, cfg_cls, file) in algos.items():
            cfg = load_config(cfg_cls, ROOT / "configs" / "algos" / file)
            if quick:
                cfg.num_envs, cfg.steps_per_env = 8, 8
            runners[name] = cls("quad12-walk", cfg, None)
            runners[name].learn(1, progress=False)  # warm-up
        for _ in range(rounds):
            for name, r in runners.items():
                rows[name] += _measure(r, iterations)
    finally:
        for r in runners.values():
            r.close()
    out: dict[str, Any] = {"benchmark": "train-throughput", "task": "quad12-walk"}
    for name, hist in rows.items():
        cfg = runners[name].cfg
        batch = cfg.num_envs * cfg.steps_per_env
        updates = cfg.ppo.num_mini_batches * cfg.ppo.num_learning_epochs
        collect = statistics.median(h["collect_s"] for h in hist)
        learn = statistics.median(h["learn_s"] for h in hist)
        out[name] = {"num_envs": cfg.num_envs, "steps_per_iteration": batch,
                     "collect_steps_per_s": round(batch / collect, 1),
                     "learner_updates_per_s": round(updates / learn, 2),
                     "steps_per_s": round(batch / (collect + learn), 1),
                     "collect_s": round(collect, 3), "learn_s": round(learn, 3),
                     "iterations": len(hist)}
    walk = {}
    for name in algos:  # the shipped walking policies: their env steps at this rate
        rec = ROOT / "pretrained" / f"quad12_walk_{name}.record.json"
        if rec.is_file():
            r = json.loads(rec.read_text())
            steps = r.get("env_steps")
            walk[name] = {"env_steps": steps, "iteration": r.get("iteration"),
                          "wall_min_at_this_rate": round(steps / out[name]["steps_per_s"] / 60, 1)
                          if steps else None}
    out["time_to_walk"] = walk or "no shipped locomotion policy yet (see docs/locomotion.md)"
    out["hinf_vs_ppo_steps_per_s"] = round(out["hinf"]["steps_per_s"]
                                           / out["ppo"]["steps_per_s"], 3)
    return out
