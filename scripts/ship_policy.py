"""Ship a trained policy into ``pretrained/``: export the run's checkpoint to ONNX, evaluate
it (and the other seeds' runs, for the spread) through the torch-free runtime on held-out
seeds, and write the training record next to the bundle.

    python scripts/ship_policy.py RUN_DIR --name arm6_reach_ppo [--seed-runs RUN_DIR ...]
    python scripts/ship_policy.py RUN_DIR --name quad12_walk_ppo --checkpoint model_3000.pt

(``--checkpoint``: ship an intermediate checkpoint of a run still going or stopped early; the
record then says so.) Locomotion tasks are evaluated with `robot_rl.evaluation` (nominal,
push and force suites) instead of the arm's success rate.

Writes ``pretrained/NAME.onnx``, ``NAME.record.json`` (training command, seed, code version,
env steps, wall time, evaluation per seed and across seeds, the bundle's SHA-256) and
``NAME.curves.png`` (the run's learning curves). Arm tasks: success rate and final distance;
the zero and random policies are evaluated on the same seeds for reference.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from robot_rl.evaluation import EvalConfig, evaluate  # noqa: E402
from robot_rl.export.onnx_export import export_checkpoint  # noqa: E402
from robot_rl.runtime.policy import OnnxPolicy, action_decoding, file_sha256  # noqa: E402
from robot_rl.sim_rollout import run_episodes, summarize  # noqa: E402
from robot_rl.train import plot_curves  # noqa: E402

KEYS = ("episodes", "success_mean", "success_std", "final_distance_mean",
        "final_distance_std", "r_mean", "r_std", "action_rate_mean", "action_rate_std",
        "torque_limit_frac_mean", "torque_limit_frac_std", "limited_frac_mean",
        "limited_frac_std")


def _eval(task: str, act: Any, episodes: int, seed: int, meta: dict[str, Any]
          ) -> dict[str, float]:
    """``act`` on the task, its actions decoded as the bundle ``meta`` says."""
    res = summarize(run_episodes(task, act, episodes, seed,
                                 overrides=action_decoding(meta)))
    return {k: round(float(res[k]), 4) for k in KEYS if k in res}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--seed-runs", type=Path, nargs="*", default=[])
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--eval-seed", type=int, default=10_000)
    ap.add_argument("--checkpoint", help="a checkpoint file in RUN_DIR (default model.pt)")
    ap.add_argument("--note", default="", help="added to the record (e.g. how it was trained)")
    args = ap.parse_args()
    if args.checkpoint:
        return ship_checkpoint(args)
    out = REPO / "pretrained"
    out.mkdir(exist_ok=True)
    rec = json.loads((args.run / "record.json").read_text())
    task = rec["task"]
    bundle = export_checkpoint(args.run / "model.pt", out / f"{args.name}.onnx")
    per_seed = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in [args.run, *args.seed_runs]:
            r = json.loads((run / "record.json").read_text())
            path = bundle if run == args.run else export_checkpoint(
                run / "model.pt", Path(tmp) / f"s{r['seed']}.onnx")
            policy = OnnxPolicy(path)
            per_seed[str(r["seed"])] = {
                **_eval(task, policy.act, args.episodes, args.eval_seed, policy.metadata),
                "env_steps": r.get("env_steps") or r.get("final", {}).get("env_steps"),
                "wall_s": r.get("wall_s")}
    rng = np.random.default_rng(0)
    shipped = OnnxPolicy(bundle)
    n_act, meta = shipped.act_dim, shipped.metadata
    baselines = {
        "zero": _eval(task, lambda o: np.zeros(n_act, np.float32), args.episodes,
                      args.eval_seed, meta),
        "random": _eval(task, lambda o: rng.uniform(-1, 1, n_act).astype(np.float32),
                        args.episodes, args.eval_seed, meta)}
    succ = np.array([v.get("success_mean", np.nan) for v in per_seed.values()])
    dist = np.array([v.get("final_distance_mean", np.nan) for v in per_seed.values()])
    record = {
        "bundle": bundle.name, "sha256": file_sha256(bundle), "task": task,
        "algorithm": rec.get("algo"), "shipped_seed": rec.get("seed"),
        "training_command": rec.get("command"), "code_version": rec.get("code_version"),
        "train_config": rec.get("train_config"),
        "reproduce": [f"robot-rl train {task} --algo {rec.get('algo')} --seed {rec.get('seed')}",
                      f"python scripts/ship_policy.py runs/{task}-{rec.get('algo')}-s"
                      f"{rec.get('seed')} --name {args.name}"],
        "evaluation": {"episodes_per_seed": args.episodes, "eval_seeds_from": args.eval_seed,
                       "runtime": "onnxruntime (robot_rl.runtime.OnnxPolicy)",
                       "per_training_seed": per_seed,
                       "across_seeds": {"n": len(per_seed),
                                        "success_mean": round(float(np.nanmean(succ)), 4),
                                        "success_std": round(float(np.nanstd(succ)), 4),
                                        "final_distance_mean": round(float(np.nanmean(dist)), 4),
                                        "final_distance_std": round(float(np.nanstd(dist)), 4)},
                       "baselines": baselines},
        "status": (f"trained; {per_seed[str(rec.get('seed'))].get('success_mean', 0):.0%} "
                   f"success on {args.episodes} held-out seeds"),
    }
    (out / f"{args.name}.record.json").write_text(json.dumps(record, indent=2))
    if (args.run / "curves.png").is_file():
        shutil.copy(args.run / "curves.png", out / f"{args.name}.curves.png")
    print(json.dumps(record["evaluation"]["across_seeds"]))
    return 0


def ship_checkpoint(args: argparse.Namespace) -> int:
    """One checkpoint of a (locomotion) run: export, evaluate the suites, write the record."""
    import torch

    ckpt_path = args.run / args.checkpoint
    ckpt = torch.load(ckpt_path, weights_only=True, map_location="cpu")
    out = REPO / "pretrained"
    out.mkdir(exist_ok=True)
    bundle = export_checkpoint(ckpt_path, out / f"{args.name}.onnx")
    task = str(ckpt.get("task"))
    cfg = EvalConfig(episodes=args.episodes, seconds=20.0, seed=args.eval_seed)
    suites = evaluate(bundle, task, ("nominal", "push", "force"), cfg)
    long = evaluate(bundle, task, ("nominal",), EvalConfig(episodes=2, seconds=60.0,
                                                           seed=args.eval_seed + 500))
    meta = OnnxPolicy(bundle).metadata
    record = {
        "bundle": bundle.name, "sha256": file_sha256(bundle), "task": task,
        "algorithm": ckpt.get("algorithm", "ppo"), "checkpoint": args.checkpoint,
        "iteration": int(ckpt.get("iteration", 0)), "env_steps": int(ckpt.get("env_steps", 0)),
        "code_version": meta["code_version"], "train_config": ckpt.get("train_config"),
        "note": args.note,
        "evaluation": {"runtime": "onnxruntime (robot_rl.runtime.OnnxPolicy)",
                       "suites_20s": {k: suites[k] for k in ("nominal", "push", "force")},
                       "nominal_60s": long["nominal"], "episodes": args.episodes,
                       "eval_seed": args.eval_seed},
    }
    nom = long["nominal"]
    worst = max(v["vel_error"] for v in nom.values())
    algo = {"ppo": "PPO (DR only)", "hinf": "H-infinity (DR + learned disturber)"}.get(
        str(record["algorithm"]), str(record["algorithm"]))
    record["status"] = (f"{algo}, 1 training seed, iteration {record['iteration']}: "
                        f"60 s flat-ground runs at 0.25-1.0 m/s survived "
                        f"{min(v['survived'] for v in nom.values()):.0%}, worst mean velocity "
                        f"error {worst:.3f} m/s")
    (out / f"{args.name}.record.json").write_text(json.dumps(record, indent=2))
    if (args.run / "history.json").is_file():
        plot_curves(json.loads((args.run / "history.json").read_text()),
                    out / f"{args.name}.curves.png", title=f"{algo} on {task}")
    print(json.dumps({"status": record["status"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
