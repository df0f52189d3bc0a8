"""`robot-rl sim2sim POLICY --to proxy`: the same bundle on the training sim and on reality
proxies, through the same deploy chain (`DeployLoop`: policy → safety chain → bridge at
500 Hz, real time), with the same command script; metrics side by side and a PNG.

Metrics per robot (simulator ground truth). Quadruped: distance, velocity- and yaw-tracking
error against the script, falls, mean |torque| and mechanical power, minimum base height,
foot slip.
Arm: goals reached (within 2 cm at the end of their 4 s segments), the mean final distance,
mean |torque| and power. Both: the safety chain's interventions per stage and per second, and
how hard the policy drives the motors: ``action_rate`` (mean over policy steps and joints of
|a_t - a_t-1| of the action the controller decoded, clipped to the bundle's action_clip as in
training) and ``torque_limit_frac`` (the fraction of policy steps at which a joint's true torque
is at its limit, 99.9 % of tau_max), both over the active phase. The gap between
``sim`` and the proxies is what on-robot fine-tuning has to close. Quadruped foot slip: the
mean tangential speed of the feet's contact points while they touch the ground
(`MjRobot.foot_slip`), over the samples the robot is up. For a walking robot the first column,
``env``, is the reference: the same commands in the training env in lockstep (`env_run`), so
that the deploy chain's own cost (its timing, soft start, threads) shows as ``sim`` minus
``env``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.config import from_dict
from robot_rl.deploy.config import DeployConfig
from robot_rl.deploy.loop import DeployLoop
from robot_rl.deploy.report import TruthRecorder, foot_slip_probe, locomotion_metrics, reach_metrics
from robot_rl.envs import make_env
from robot_rl.evaluation import DR_OFF
from robot_rl.robots import get_robot
from robot_rl.runtime.policy import OnnxPolicy, action_decoding, bundle_metadata

SCRIPT: list[dict[str, Any]] = [
    {"t": 0.0, "cmd": [0.0, 0.0, 0.0]}, {"t": 2.0, "cmd": [0.5, 0.0, 0.0]},
    {"t": 8.0, "cmd": [1.0, 0.0, 0.0]}, {"t": 12.0, "cmd": [0.5, 0.0, 0.5]},
    {"t": 16.0, "cmd": [0.0, 0.3, 0.0]}]
# the arm: /goal positions [m] in its base frame, inside the reach task's goal box
REACH_SCRIPT: list[dict[str, Any]] = [
    {"t": 0.0, "cmd": [0.22, 0.08, 0.12]}, {"t": 4.0, "cmd": [0.18, -0.10, 0.15]},
    {"t": 8.0, "cmd": [0.26, 0.05, 0.08]}, {"t": 12.0, "cmd": [0.20, 0.0, 0.18]},
    {"t": 16.0, "cmd": [0.24, -0.06, 0.10]}]
SMOOTH_KEYS = ("action_rate", "torque_limit_frac", "interventions_per_s")
WALK_KEYS = ("distance_m", "vel_error_mps", "yaw_error_rps", "falls", "mean_abs_torque_nm",
             "mean_power_w", "min_height_m", "foot_slip_mps", *SMOOTH_KEYS)
REACH_KEYS = ("reached", "final_distance_cm", "mean_abs_torque_nm", "mean_power_w", *SMOOTH_KEYS)


def _walks(robot: str) -> bool:
    """Walking profile for a floating base, reaching for an arm."""
    return get_robot(robot).floating_base


def _profile(robot: str) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The command script and the metrics of a robot (`_walks`)."""
    return (SCRIPT, WALK_KEYS) if _walks(robot) else (REACH_SCRIPT, REACH_KEYS)


def _config(policy: Path, robot: str, kind: str, seed: int | None, seconds: float
            ) -> DeployConfig:
    backend: dict[str, Any] = {"kind": kind}
    if seed is not None:
        backend["proxy_seed"] = seed
    return from_dict(DeployConfig, {
        "robot": robot, "policy_path": str(policy), "backend": backend, "run_s": seconds,
        "bridge": {"rate_hz": 500.0, "soft_start_s": 0.2, "shutdown_damp_s": 0.0},
        "script": _profile(robot)[0]})


def run_one(cfg: DeployConfig) -> dict[str, Any]:
    """One robot: the deploy loop for ``cfg.run_s`` s with truth recorded at the policy rate."""
    rec: dict[str, TruthRecorder] = {}
    limit = 0.999 * get_robot(cfg.robot).tau_max
    rate: list[float] = []
    at_limit: list[bool] = []
    steps = 0  # the controller's steps seen
    last: np.ndarray | None = None  # the action of the last one

    def on_tick(bridge: Any, state: Any) -> None:
        nonlocal steps, last
        rec["r"](bridge, state)
        ctl = loop.controller  # (stepped in this thread, by the loop's on_state)
        if ctl.steps == steps or bridge.state.value != "active":
            return
        steps = ctl.steps
        a = ctl.last_action.copy()
        if last is not None:
            rate.append(float(np.abs(a - last).mean()))
        last = a
        truth = loop.backend.truth  # (the sim backends: the simulator's own torque)
        tau = None if truth is None else truth().tau
        if tau is not None:
            at_limit.append(bool(np.any(np.abs(tau) >= limit)))

    loop = DeployLoop(cfg, on_tick=on_tick)
    rec["r"] = TruthRecorder(loop.backend.truth, loop.decimation,
                             foot_slip_probe(loop.backend))
    loop.start()
    try:
        loop.run(cfg.run_s)
    finally:
        stats = loop.stats()
        loop.stop()
    truth = rec["r"].to_dict()
    out = (locomotion_metrics if _walks(cfg.robot) else reach_metrics)(cfg, truth)
    out["interventions"] = {k: v["count"] for k, v in
                            stats["safety"]["interventions"].items()}
    out["interventions_per_s"] = round(sum(out["interventions"].values()) / cfg.run_s, 2)
    out["action_rate"] = round(float(np.mean(rate)), 4) if rate else None
    out["torque_limit_frac"] = round(float(np.mean(at_limit)), 4) if at_limit else None
    out["safety_mode_final"] = stats["safety"]["mode"]
    # why the chain stopped, if it did (e.g. which joint's tracking error, for how long)
    out["safety_reasons"] = {k: v["last_reason"] for k, v in
                             stats["safety"]["interventions"].items() if v.get("last_reason")}
    out["proxy"] = (loop.backend.plant.proxy.to_dict() if loop.backend.plant is not None
                    and loop.backend.plant.proxy is not None else None)
    out["_truth"] = truth
    return out


def env_run(policy: Path, robot: str, seconds: float, settle_s: float = 1.0,
            seed: int = 0) -> dict[str, Any]:
    """The command script in the training env of the bundle's task (domain randomisation
    off, the robot's limits applied as in training), stepped in lockstep: what the policy does
    without the deploy chain's threads, rates and soft start. Velocity and yaw errors as
    `locomotion_metrics` takes them (body-frame velocity against the command, from
    ``settle_s`` after each command change, none while fallen); walking robots only."""
    meta = bundle_metadata(policy)
    task = str(meta.get("extra", {}).get("task") or "quad12-walk")
    env = make_env(task, overrides={"robot": robot, "domain_rand": DR_OFF,
                                    "episode_s": seconds + 1.0, **action_decoding(meta)})
    pol = OnnxPolicy(policy)
    script = _profile(robot)[0]
    starts = [float(step["t"]) for step in script]
    try:
        obs, _ = env.reset(seed=seed)
        env._resample_every = 1 << 30  # type: ignore[attr-defined]  # (the script's commands)
        v_err, w_err = [], []
        # the env's own smoothness counters, summed over the episodes (a fall starts another)
        rate_sum = rate_n = limited = stepped = 0.0

        def take_counts() -> None:
            nonlocal rate_sum, rate_n, limited, stepped
            rate_sum += env._rate_sum
            rate_n += max(env.step_count - 1, 0)
            limited += env._limited_steps
            stepped += env.step_count

        falls, dist, steps = 0, 0.0, int(round(seconds / env.dt))
        for k in range(steps):
            t = k * env.dt
            i = max(j for j, t0 in enumerate(starts) if t0 <= t)
            cmd = np.array(script[i]["cmd"], dtype=np.float64)
            if not np.array_equal(env.command, cmd):
                env.command = cmd
                assert env.state is not None
                env.state.command = cmd.copy()
                obs = env._observe(env.state)
            xy = env.data.qpos[:2].copy()
            obs, _, term, _, _ = env.step(pol.act(obs))
            dist += float(np.linalg.norm(env.data.qpos[:2] - xy))
            st = env.state
            assert st is not None and st.base_lin_vel is not None
            if t + env.dt - starts[i] >= settle_s and not term:
                v_err.append(math.hypot(st.base_lin_vel[0] - cmd[0],
                                        st.base_lin_vel[1] - cmd[1]))
                w_err.append(abs(st.imu_gyro[2] - cmd[2]))
            if term:
                falls += 1
                take_counts()
                obs, _ = env.reset(seed=seed + falls)
                env._resample_every = 1 << 30  # type: ignore[attr-defined]
        take_counts()
        return {"distance_m": round(dist, 3), "falls": falls,
                "vel_error_mps": round(float(np.mean(v_err)), 3) if v_err else None,
                "yaw_error_rps": round(float(np.mean(w_err)), 3) if w_err else None,
                "action_rate": round(rate_sum / rate_n, 4) if rate_n else None,
                "limited_frac": round(limited / max(stepped, 1), 4)}
    finally:
        env.close()


def sim2sim(policy: str | Path, robot: str | None = None, seeds: tuple[int, ...] = (0, 1, 2),
            seconds: float = 20.0, out: str | Path | None = "out/sim2sim") -> dict[str, Any]:
    """``robot``: None = the bundle's own."""
    policy = Path(policy)
    if robot is None:
        robot = str(bundle_metadata(policy)["robot"])
    runs: dict[str, dict[str, Any]] = {}
    if _walks(robot):  # (the reference: the same commands in the training env)
        runs["env"] = env_run(policy, robot, seconds)
    runs["sim"] = run_one(_config(policy, robot, "sim", None, seconds))
    for s in seeds:
        runs[f"proxy{s}"] = run_one(_config(policy, robot, "proxy", s, seconds))
    script, keys = _profile(robot)
    proxies = [runs[f"proxy{s}"] for s in seeds]
    gap = {}
    for k in keys:
        vals = np.array([p.get(k) for p in proxies if p.get(k) is not None], dtype=float)
        base = runs["sim"].get(k)
        if vals.size and base is not None:
            gap[k] = {"sim": base, "proxy_mean": round(float(vals.mean()), 3),
                      "proxy_std": round(float(vals.std()), 3),
                      "proxy_minus_sim": round(float(vals.mean() - base), 3)}
    summary: dict[str, Any] = {
        "policy": str(policy), "robot": robot, "seconds": seconds, "proxy_seeds": list(seeds),
        "script": script, "gap": gap,
        "runs": {k: {kk: vv for kk, vv in v.items() if kk != "_truth"} for k, v in runs.items()}}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        _plot(runs, seconds, script, _walks(robot), out / "sim2sim.png")
        (out / "sim2sim.json").write_text(json.dumps(summary, indent=2))
        (out / "report.md").write_text(_report(summary))
        summary["report"] = str(out / "report.md")
    return summary


def _plot(runs: dict[str, dict[str, Any]], seconds: float, script: list[dict[str, Any]],
          walking: bool, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    ts = [s["t"] for s in script] + [seconds]
    for name, r in runs.items():
        if "_truth" not in r:  # (the env reference: no deploy-chain truth)
            continue
        rows = np.asarray(r["_truth"]["rows"] or [[0.0] * 14])
        t = rows[:, 0] - (r["_truth"]["t_active"] or rows[0, 0])
        lw = 1.5 if name == "sim" else 0.9
        if walking:
            ax[0].plot(t, rows[:, 4], label=name, lw=lw)
            ax[1].plot(t, rows[:, 3], label=name, lw=lw)
        else:
            seg = np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(script) - 1)
            goal = np.asarray([script[k]["cmd"][:3] for k in seg])
            ax[0].plot(t, 100 * np.linalg.norm(rows[:, 11:14] - goal, axis=1), label=name,
                       lw=lw)
            ax[1].plot(t, rows[:, 9], label=name, lw=lw)
    if walking:
        for k, s in enumerate(script):
            ax[0].hlines(s["cmd"][0], ts[k], ts[k + 1], colors="k", linestyles="--")
        ax[0].set_ylabel("vx [m/s] (dashed: command)")
        ax[1].set_ylabel("base height [m]")
    else:
        ax[0].axhline(2.0, color="k", ls="--", lw=0.8)
        ax[0].set_ylabel("distance to goal [cm] (dashed: 2 cm)")
        ax[1].set_ylabel("mean |torque| [N m]")
    ax[1].set_xlabel("time [s]")
    ax[0].legend(fontsize=8)
    ax[0].set_title("same policy, training sim vs reality proxies")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _report(s: dict[str, Any]) -> str:
    cols = list(s["runs"])
    keys = _profile(s["robot"])[1]
    rows = "\n".join(f"| {k} | " + " | ".join(str(s["runs"][c].get(k)) for c in cols) + " |"
                     for k in keys)
    inter = " | ".join(str(s["runs"][c].get("interventions")) for c in cols)
    stops = "".join(f"\n- {c}: the chain ended in {r['safety_mode_final']}; last reasons: "
                    f"{r.get('safety_reasons')}" for c, r in s["runs"].items()
                    if r.get("safety_mode_final") not in (None, "ACTIVE"))
    return f"""# Sim-to-sim: `{s['policy']}` on {s['robot']}

Training sim vs reality proxies (seeds {s['proxy_seeds']}), the same deploy chain (policy,
safety chain, 500 Hz bridge, real time) and command script ({s['seconds']} s). Plot:
`sim2sim.png`.

| metric | {' | '.join(cols)} |
|---|{'---|' * len(cols)}
{rows}
| safety interventions | {inter} |
{stops}
"""


__all__ = ["sim2sim"]
