"""`robot-rl demo` / `make demo`: the best end-to-end thing the project does today.

1. trains a PPO policy for ``arm6-reach`` in MuJoCo (2 worker processes, CPU),
2. evaluates its deterministic (mean) action on held-out seeds against the zero and random
   policies, with a video of the trained policy,
3. runs the trained policy behind the arm's safety chain in MuJoCo with injected faults,
4. stands the quad12 quadruped under the joint PD controller as a physics sanity check,
5. writes ``report.md``, ``summary.json`` and PNG plots under ``out_dir``.

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
    print(f"[1/5] training PPO on {TASK}: {cfg.iterations} iterations x {cfg.num_envs} envs x "
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
    print(f"[2/5] evaluating on {episodes} held-out seeds (trained vs zero vs random)", flush=True)
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
    print("[3/5] the trained policy behind the safety chain (500 Hz chain, 50 Hz policy), "
          "with a NaN burst at 4 s and an e-stop at 6 s", flush=True)
    deploy = _deploy_with_faults(trained, seconds=3.0 if quick else 8.0)
    print("[4/5] quad12 standing under the joint PD controller (zero policy, 10 s)", flush=True)
    stand = rollout("quad12-walk", policy="zero", steps=100 if quick else 500, seed=0)
    print("[5/5] writing the report", flush=True)
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
        "safety_deploy": deploy,
        "quad12_stand": {"falls": stand["episodes"], "sim_time_s": stand["sim_time_s"],
                         "finite": stand["finite"]},
        "report": str(out / "report.md"),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(_report(summary))
    print((out / "report.md").read_text(), flush=True)
    return summary


def _deploy_with_faults(act: Any, seconds: float) -> dict[str, Any]:
    """Run the trained reach policy through `SafetyHarness` (chain + PD + MuJoCo) towards a
    fixed goal, inject a NaN burst and an e-stop, and report what the chain did."""
    from robot_rl.envs import load_task_config
    from robot_rl.robots import get_robot
    from robot_rl.runtime.obs import ObsBuilder
    from robot_rl.safety.core import Mode
    from robot_rl.safety.harness import Fault, SafetyHarness
    from robot_rl.types import JointCommand, RobotState

    cfg = load_task_config(TASK)
    spec = get_robot(cfg.robot)
    builder = ObsBuilder(spec, cfg.obs)
    goal = np.array([0.22, 0.08, 0.12])
    h = SafetyHarness("arm6")
    last_action = np.zeros(spec.n_joints)

    def policy(state: RobotState, t: float) -> JointCommand:
        state.command = goal
        obs = builder.build(state, last_action)
        a = np.clip(act(obs), -1.0, 1.0)
        last_action[:] = a
        q = spec.q0 + spec.action_scale * a
        n = spec.n_joints
        return JointCommand(spec.joint_names, q, np.zeros(n), spec.kp.copy(), spec.kd.copy(),
                            np.zeros(n))

    nan_t, estop_t = 0.5 * seconds, 0.75 * seconds
    dist: list[float] = []
    log = h.run(policy, seconds, [Fault("nan", nan_t, nan_t + 0.1), Fault("estop", estop_t)],
                on_tick=lambda hh, t: dist.append(float(np.linalg.norm(
                    hh.data.site_xpos[hh.robot.ee_site_id] - goal))))
    k_nan, k_estop = int(round(nan_t / h.control_dt)), int(round(estop_t / h.control_dt))
    return {"seconds": seconds, "goal": goal.tolist(),
            "distance_before_nan_cm": round(100 * dist[k_nan - 1], 2),
            "mode_at_nan": Mode(int(log.mode[k_nan])).name,
            "mode_at_estop": Mode(int(log.mode[k_estop])).name,
            "violations": len(log.violations),
            "chain_p50_us": round(float(np.percentile(log.chain_us, 50)), 1),
            "chain_p99_us": round(float(np.percentile(log.chain_us, 99)), 1),
            "interventions": {k: v["count"]
                              for k, v in h.chain.summary()["interventions"].items()}}


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

## 3. The policy behind the safety chain

The trained policy (50 Hz) through the arm6 safety chain and PD (500 Hz) in MuJoCo, towards
goal {s['safety_deploy']['goal']} for {s['safety_deploy']['seconds']} s: end-effector
{s['safety_deploy']['distance_before_nan_cm']} cm from the goal before the faults. A NaN
burst at 50 % of the run → mode {s['safety_deploy']['mode_at_nan']} in the same tick; an
e-stop at 75 % → mode {s['safety_deploy']['mode_at_estop']} in the same tick. Violations:
{s['safety_deploy']['violations']}. Chain cost per tick p50 / p99:
{s['safety_deploy']['chain_p50_us']} / {s['safety_deploy']['chain_p99_us']} µs.
Interventions: {s['safety_deploy']['interventions']}.

## 4. quad12 standing check

Zero action (default pose through the joint PD) for {s['quad12_stand']['sim_time_s']:.0f} s:
{s['quad12_stand']['falls']} falls, finite state: {s['quad12_stand']['finite']}.

## Not yet here

ONNX export, the ROS 2 graph and the reality proxy come with their issues; this demo becomes
the full simulated deployment then.
"""
