"""`robot-rl eval POLICY --task quad12-walk --suite nominal|push|force|terrain`.

The policy bundle runs through the torch-free runtime (`OnnxPolicy`, checked against the
task's robot and observation layout) in the MuJoCo task with domain randomisation off and
a fixed velocity command per episode (no resampling). Per condition, ``episodes`` episodes of
``seconds`` s (seeds ``seed``, ``seed + 1``, ...):

- nominal: forward commands vx = 0.25, 0.5, 0.75, 1.0 m/s (vy = yaw rate = 0) on flat ground;
- push: vx = 0.5 m/s; every ``push_every_s`` a horizontal velocity change of the base of
  0.5 .. 2.5 m/s in a random direction (the impulse of a shove);
- force: vx = 0.5 m/s; a constant horizontal force of 20 .. 80 N on the base, in a random
  direction per episode;
- terrain: the rough height-field task (``TASK-rough``), vx = 0.25 .. 1.0 m/s.

Metrics per condition (mean ± std over episodes): survival (no fall for the whole episode),
time to fall, velocity-tracking error ``mean |v_xy - cmd_xy|`` [m/s] and yaw-rate error
[rad/s] over the steps after the first ``settle_s`` (the start from standing), measured on
the true base velocity in the body frame; and how hard the policy drives its motors, over
every step, as the env reports them per episode: ``action_rate`` (mean over steps and joints
of |a_t - a_t-1| of the action the env executes, clipped to its action_clip, in the policy's
action units; x action_scale in rad of joint target; `robot-rl sim2sim` measures the same
through the deploy chain) and ``torque_limit_frac`` (the fraction of steps that end with a
joint's torque at its limit, 99.9 % of tau_max). The JSON summary is
printed last; with ``out`` a JSON file and a PNG plot are written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.config import to_dict
from robot_rl.envs import make_env
from robot_rl.envs.base import RobotEnv
from robot_rl.envs.randomization import DomainRandConfig
from robot_rl.runtime.policy import OnnxPolicy, action_decoding

DR_OFF: dict[str, Any] = to_dict(DomainRandConfig())  # the defaults switch everything off


@dataclass
class EvalConfig:
    episodes: int = 10
    seconds: float = 20.0
    seed: int = 1000
    settle_s: float = 2.0
    push_every_s: float = 3.0
    push_magnitudes: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 2.5)
    forces: tuple[float, ...] = (20.0, 40.0, 60.0, 80.0)
    speeds: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    disturbed_speed: float = 0.5

    def validate(self) -> None:
        if self.episodes < 1 or self.seconds <= self.settle_s:
            raise ValueError("need episodes >= 1 and seconds > settle_s")


Disturb = Callable[[RobotEnv, int, np.random.Generator], None]


def _episode(env: RobotEnv, policy: OnnxPolicy, command: np.ndarray, seed: int,
             settle_s: float, disturb: Disturb | None = None) -> dict[str, float]:
    """One episode with a fixed command; ``disturb(env, step, rng)`` runs before each step."""
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed + 7919)
    env.command = np.array(command, dtype=np.float64)  # fixed: never resampled
    env._resample_every = 1 << 30  # type: ignore[attr-defined]
    if env.state is not None:  # the fixed command into the first observation too
        env.state.command = env.command.copy()
        obs = env._observe(env.state)
    settle = int(round(settle_s / env.dt))
    v_err, w_err = [], []
    fell, steps = False, 0
    while True:
        if disturb is not None:
            disturb(env, steps, rng)
        obs, _, term, trunc, info = env.step(policy.act(obs))
        steps += 1
        st = env.state
        if st is not None and steps > settle and st.base_lin_vel is not None:
            v_err.append(math.hypot(st.base_lin_vel[0] - command[0],
                                    st.base_lin_vel[1] - command[1]))
            w_err.append(abs(st.imu_gyro[2] - command[2]))
        if term or trunc:
            fell = bool(term)
            break
    return {"survived": float(not fell), "time_s": steps * env.dt,
            "vel_error": float(np.mean(v_err)) if v_err else float("nan"),
            "yaw_error": float(np.mean(w_err)) if w_err else float("nan"),
            # (the episode's own smoothness figures, `robot_rl.envs.batch.StepBatch`)
            "action_rate": float(info["episode"]["action_rate"]),
            "torque_limit_frac": float(info["episode"]["torque_limit_frac"])}


def _stats(rows: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {"episodes": float(len(rows))}
    for key in rows[0]:
        vals = np.array([r[key] for r in rows])
        vals = vals[np.isfinite(vals)]
        out[key] = round(float(vals.mean()), 4) if vals.size else float("nan")
        out[f"{key}_std"] = round(float(vals.std()), 4) if vals.size else float("nan")
    return out


def _make(task: str, seconds: float, policy: OnnxPolicy) -> RobotEnv:
    """The task's env without randomisation, decoding actions as ``policy`` was trained."""
    return make_env(task, overrides={"domain_rand": DR_OFF, "episode_s": seconds,
                                     **action_decoding(policy.metadata)})


def _run(task: str, policy: OnnxPolicy, cfg: EvalConfig, conditions: list[tuple[str, Any]],
         command: Callable[[Any], np.ndarray], disturb: Callable[[Any], Disturb | None]
         ) -> dict[str, Any]:
    env = _make(task, cfg.seconds, policy)
    try:
        policy.check_robot(env.robot_spec, env.obs_builder.layout())
        out = {}
        for name, value in conditions:
            rows = [_episode(env, policy, command(value), cfg.seed + i, cfg.settle_s,
                             disturb(value)) for i in range(cfg.episodes)]
            out[name] = _stats(rows)
        return out
    finally:
        env.close()


def _forward(v: float) -> np.ndarray:
    return np.array([v, 0.0, 0.0])


def suite_nominal(task: str, policy: OnnxPolicy, cfg: EvalConfig) -> dict[str, Any]:
    return _run(task, policy, cfg, [(f"vx={v}", v) for v in cfg.speeds], _forward,
                lambda v: None)


def suite_terrain(task: str, policy: OnnxPolicy, cfg: EvalConfig) -> dict[str, Any]:
    rough = task if task.endswith("-rough") else f"{task}-rough"
    return _run(rough, policy, cfg, [(f"vx={v}", v) for v in cfg.speeds], _forward,
                lambda v: None)


def suite_push(task: str, policy: OnnxPolicy, cfg: EvalConfig) -> dict[str, Any]:
    def disturb(mag: float) -> Disturb:
        def push(env: RobotEnv, step: int, rng: np.random.Generator) -> None:
            every = int(round(cfg.push_every_s / env.dt))
            if step and step % every == 0:
                ang = rng.uniform(-np.pi, np.pi)
                env.push(mag * np.array([np.cos(ang), np.sin(ang)]))
        return push

    return _run(task, policy, cfg, [(f"push={m}m/s", m) for m in cfg.push_magnitudes],
                lambda m: _forward(cfg.disturbed_speed), disturb)


def suite_force(task: str, policy: OnnxPolicy, cfg: EvalConfig) -> dict[str, Any]:
    def disturb(force: float) -> Disturb:
        def apply(env: RobotEnv, step: int, rng: np.random.Generator) -> None:
            if step == 0:
                ang = rng.uniform(-np.pi, np.pi)
                env.set_external_force(force * np.array([np.cos(ang), np.sin(ang), 0.0]))
        return apply

    return _run(task, policy, cfg, [(f"force={f}N", f) for f in cfg.forces],
                lambda f: _forward(cfg.disturbed_speed), disturb)


SUITES: dict[str, Callable[[str, OnnxPolicy, EvalConfig], dict[str, Any]]] = {
    "nominal": suite_nominal, "push": suite_push, "force": suite_force,
    "terrain": suite_terrain,
}


def evaluate(bundle: str | Path, task: str = "quad12-walk", suites: tuple[str, ...] = ("nominal",),
             cfg: EvalConfig | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Run the suites on a bundle; returns (and with ``out`` writes) the summary."""
    cfg = cfg or EvalConfig()
    cfg.validate()
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite(s) {unknown}; available: {', '.join(SUITES)}")
    policy = OnnxPolicy(bundle)
    summary: dict[str, Any] = {"bundle": str(bundle), "task": task,
                               "algorithm": policy.metadata["algorithm"],
                               "episodes": cfg.episodes, "seconds": cfg.seconds,
                               "seed": cfg.seed}
    for name in suites:
        summary[name] = SUITES[name](task, policy, cfg)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(summary, indent=2))
        plot_summary(summary, out / "eval.png")
    return summary


def plot_summary(summary: dict[str, Any], path: Path) -> None:
    """Survival and tracking error per condition, one panel per suite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = [s for s in SUITES if s in summary]
    fig, axes = plt.subplots(1, len(suites), figsize=(4.5 * len(suites), 3.4), squeeze=False)
    for ax, name in zip(axes[0], suites):
        rows = summary[name]
        labels = list(rows)
        surv = [rows[k]["survived"] for k in labels]
        err = [rows[k]["vel_error"] for k in labels]
        ax.bar(labels, surv, color="tab:blue", alpha=0.7, label="survival")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{name} ({summary['algorithm']})")
        ax.tick_params(axis="x", rotation=30)
        ax2 = ax.twinx()
        ax2.plot(labels, err, "o-", color="tab:red", label="|v - cmd| [m/s]")
        ax2.set_ylim(0, max(0.3, float(np.nanmax(err)) * 1.2) if err else 1)
        ax.set_ylabel("survival")
        ax2.set_ylabel("velocity error [m/s]")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


SETTINGS = ("task", "episodes", "seconds", "seed")  # what must agree for a comparison


def compare(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Methods side by side over training seeds: ``summaries`` are `evaluate` outputs, one
    per trained policy (one training seed each), grouped by their ``algorithm``. Per method,
    suite and condition: the mean and std over the policies of each policy's survival rate
    and mean velocity error, and ``n`` (policies). All summaries must share the evaluation
    settings (task, episodes, seconds, first episode seed) and hold the same suites."""
    if not summaries:
        raise ValueError("no evaluation summaries to compare")
    first = summaries[0]
    for i, s in enumerate(summaries):
        missing = [k for k in (*SETTINGS, "algorithm", "bundle") if k not in s]
        if missing:
            raise ValueError(f"summary {i} is not an `robot-rl eval` summary (no "
                             f"{', '.join(missing)})")
        differ = [k for k in SETTINGS if s[k] != first[k]]
        if differ:
            what = ", ".join(f"{k} {s[k]} vs {first[k]}" for k in differ)
            raise ValueError(f"summary {i} ({s['bundle']}) was evaluated with other settings "
                             f"than summary 0: {what}; evaluate every policy with the same "
                             f"settings")
    suites = [name for name in SUITES if name in first]
    for i, s in enumerate(summaries):
        if [name for name in SUITES if name in s] != suites:
            raise ValueError(f"summary {i} ({s['bundle']}) holds other suites than summary 0 "
                             f"({suites}); run the same --suite for every policy")
    methods: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        methods.setdefault(str(s["algorithm"]), []).append(s)
    out: dict[str, Any] = {**{k: first[k] for k in SETTINGS}, "suites": suites, "methods": {}}
    for method, group in methods.items():
        m: dict[str, Any] = {"n": len(group), "bundles": [s["bundle"] for s in group]}
        for suite in suites:
            rows: dict[str, Any] = {}
            for cond in first[suite]:
                surv = np.array([s[suite][cond]["survived"] for s in group], dtype=float)
                err = np.array([s[suite][cond]["vel_error"] for s in group], dtype=float)
                err = err[np.isfinite(err)]  # NaN: no episode lasted long enough to measure
                rows[cond] = {"survived_mean": round(float(surv.mean()), 4),
                              "survived_std": _sample_std(surv),
                              "vel_error_mean": round(float(err.mean()), 4) if err.size
                              else None,
                              "vel_error_std": _sample_std(err)}
            m[suite] = rows
        out["methods"][method] = m
    return out


def _sample_std(x: np.ndarray) -> float | None:
    """The sample standard deviation (n - 1), or None for fewer than 2 values."""
    return round(float(x.std(ddof=1)), 4) if x.size >= 2 else None


def _pm(mean: float | None, std: float | None, digits: int) -> str:
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def compare_markdown(cmp: dict[str, Any]) -> str:
    """The comparison as Markdown tables, one per suite: survival and velocity error,
    mean ± std over each method's policies (n of them)."""
    methods = cmp["methods"]
    head = " | ".join(f"{m} (n={v['n']}) survival | {m} vel. error [m/s]"
                      for m, v in methods.items())
    lines = [f"Evaluation: {cmp['task']}, {cmp['episodes']} episodes of {cmp['seconds']} s per "
             f"condition per policy; mean ± sample std over each method's n policies (training "
             f"seeds; no ± where n = 1; — where no episode lasted long enough to measure).", ""]
    for suite in cmp["suites"]:
        lines += [f"### {suite}", "", f"| condition | {head} |",
                  "|---|" + "---|" * (2 * len(methods))]
        conds = list(next(iter(methods.values()))[suite])
        for cond in conds:
            cells = []
            for v in methods.values():
                r = v[suite][cond]
                cells += [_pm(r["survived_mean"], r["survived_std"], 2),
                          _pm(r["vel_error_mean"], r["vel_error_std"], 3)]
            lines.append(f"| {cond} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_compare(cmp: dict[str, Any], path: Path) -> None:
    """Survival (bars, ± std over policies) per condition, one panel per suite, the methods
    side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites, methods = cmp["suites"], cmp["methods"]
    fig, axes = plt.subplots(1, len(suites), figsize=(4.8 * len(suites), 3.6), squeeze=False)
    width = 0.8 / max(1, len(methods))
    for ax, suite in zip(axes[0], suites):
        conds = list(next(iter(methods.values()))[suite])
        x = np.arange(len(conds))
        for j, (name, m) in enumerate(methods.items()):
            mean = [m[suite][c]["survived_mean"] for c in conds]
            std = [m[suite][c]["survived_std"] or 0.0 for c in conds]
            ax.bar(x + (j - (len(methods) - 1) / 2) * width, mean, width, yerr=std, capsize=3,
                   label=f"{name} (n={m['n']})")
        ax.set_xticks(x, conds, rotation=30)
        ax.set_ylim(0, 1.05)
        ax.set_title(suite)
        ax.set_ylabel("survival")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["SUITES", "EvalConfig", "compare", "compare_markdown", "evaluate", "plot_compare"]
