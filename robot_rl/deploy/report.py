"""What a deployment run did, measured on the simulator's own state (`TruthRecorder`) and the
nodes' own timing: distance, velocity tracking against the scripted command, falls, safety
interventions, loop latency and deadline misses; `write_report` adds a PNG plot.

Ground truth (base position and velocity) exists only for simulated backends (sim, proxy,
the virtual devices); it is recorded for the report, never given to the policy.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.deploy.config import DeployConfig
from robot_rl.geometry import roll_pitch
from robot_rl.robots import get_robot
from robot_rl.safety.robot_config import load_robot_config

FALL_HEIGHT = 0.15   # m: the training task's termination height (quad12-walk)
FALL_TILT = 1.0      # rad: the training task's termination tilt
COLUMNS = 14         # `TruthRecorder`'s row
BLOCK = 4096         # rows per block of `TruthRecorder` (82 s at 50 Hz)


def foot_slip_probe(backend: Any) -> Any:
    """For a simulated backend with feet, a function giving each foot's contact-point slip
    now (`MjRobot.foot_slip`, under the plant's lock), for `TruthRecorder`; else None."""
    plant = getattr(backend, "plant", None)
    if plant is None or not plant.robot.foot_geom_ids.size:
        return None

    def slip() -> np.ndarray:
        with plant.lock:
            return np.asarray(plant.robot.foot_slip())

    return slip


class TruthRecorder:
    """Samples ``truth()`` every ``every`` bridge ticks while the bridge is active (as its
    ``on_tick`` hook).

    Rows: t [s, monotonic], x, y, z [m], vx, vy [m/s, body], yaw rate [rad/s], roll, pitch
    [rad], mean |tau| [N m], mechanical power sum |tau dq| [W], end effector x, y, z [m, base
    frame] (zeros without one)."""

    def __init__(self, truth: Any, every: int, slip: Any = None) -> None:
        self.truth, self.every = truth, max(1, every)
        self.slip = slip  # () -> per-foot contact-point slip [m/s], NaN in the air (sim)
        # the rows in float64 blocks of `BLOCK` (120 bytes a row, the last column the mean
        # slip over the feet in contact): a list of tuples of floats took ~500 bytes a row,
        # 1.5 MB a minute at 50 Hz, in the bridge's process
        self._blocks: list[np.ndarray] = []
        self._n = 0  # rows used in the last block
        self.t_active: float | None = None
        self._k = 0

    def __call__(self, bridge: Any, state: Any) -> None:
        self._k += 1
        if self._k % self.every:
            return
        if bridge.state.value != "active":  # only the deployed phase (not the sit-down)
            return
        if self.t_active is None:
            self.t_active = bridge.active_since
        st = self.truth()
        pos = st.base_pos if st.base_pos is not None else np.zeros(3)
        v = st.base_lin_vel if st.base_lin_vel is not None else np.zeros(3)
        rp = roll_pitch(st.imu_quat)
        tau = st.tau if st.tau is not None else np.zeros_like(st.q)
        ee = st.ee_pos if st.ee_pos is not None else np.zeros(3)
        slip = float("nan")
        if self.slip is not None:
            feet = np.asarray(self.slip(), dtype=np.float64)
            slip = float(np.nanmean(feet)) if np.isfinite(feet).any() else slip
        if not self._blocks or self._n == BLOCK:
            self._blocks.append(np.empty((BLOCK, COLUMNS + 1)))
            self._n = 0
        self._blocks[-1][self._n] = (
            time.monotonic(), pos[0], pos[1], pos[2], v[0], v[1], st.imu_gyro[2], rp[0], rp[1],
            np.abs(tau).mean(), np.abs(tau * st.dq).sum(), ee[0], ee[1], ee[2], slip)
        self._n += 1

    @property
    def rows(self) -> np.ndarray:
        """(n, `COLUMNS` + 1): the rows so far, the mean slip last."""
        if not self._blocks:
            return np.empty((0, COLUMNS + 1))
        return np.concatenate([*self._blocks[:-1], self._blocks[-1][:self._n]])

    def to_dict(self) -> dict[str, Any]:
        rows = self.rows
        out: dict[str, Any] = {"t_active": self.t_active, "rows": rows[:, :COLUMNS].tolist()}
        if self.slip is not None:
            out["slip"] = rows[:, COLUMNS].tolist()
        return out


def count_falls(cfg: DeployConfig, truth: dict[str, Any], until_t: float | None = None
                ) -> int:
    """Falls in a graph's truth record up to monotonic time ``until_t`` (e.g. when the motors
    were damped: a quadruped's controlled sit-down ends lying down by design), at the safety
    chain's own fall height (fall_detect's ``min_base_height``, 0.12 m on quad12; the
    sit-down's resting pose sags to ~0.145 m, under the training task's 0.15 m)."""
    stages = load_robot_config(cfg.robot_config_path()).safety.stages
    height = next((float(s.get("min_base_height", FALL_HEIGHT)) for s in stages
                   if s.get("type") == "fall_detect"), FALL_HEIGHT)
    until = None
    if until_t is not None and truth.get("t_active") is not None:
        until = until_t - float(truth["t_active"])
    return int(locomotion_metrics(cfg, truth, until=until, fall_height=height)["falls"])


def locomotion_metrics(cfg: DeployConfig, truth: dict[str, Any], settle_s: float = 1.0,
                       until: float | None = None, fall_height: float = FALL_HEIGHT
                       ) -> dict[str, Any]:
    """Distance, tracking error against the script, falls (from truth samples), over the
    run from activation to ``until`` s after it (e.g. an e-stop) or the end. A fall: the base
    below ``fall_height`` (default: the training task's termination height) or tilted beyond
    `FALL_TILT`, after having been up."""
    rows = np.asarray(truth.get("rows") or [], dtype=np.float64)
    t0 = truth.get("t_active")
    if rows.size == 0 or t0 is None:
        return {"samples": 0}
    end = np.inf if until is None else t0 + until
    keep = (rows[:, 0] >= t0) & (rows[:, 0] < end)
    rows = rows[keep]
    if rows.size == 0:
        return {"samples": 0}
    slips = np.asarray(truth.get("slip") or [], dtype=np.float64)
    slip = slips[keep] if len(slips) == len(keep) else None
    t = rows[:, 0] - t0
    xy = rows[:, 1:3]
    dist = float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum()) if len(xy) > 1 else 0.0
    fallen = (rows[:, 3] < fall_height) | (np.abs(rows[:, 7]) > FALL_TILT) | (
        np.abs(rows[:, 8]) > FALL_TILT)
    # a fall is going down once up: a robot that sat down while passive (the graph waits
    # for the policy's commands before it activates) and stands up is not one
    falls = int(np.sum(fallen[1:] & ~fallen[:-1]))
    v_err, w_err = [], []
    starts = [s.t for s in cfg.script]
    for i, ti in enumerate(t):
        cmd = cfg.command_at(float(ti))
        if cmd is None or len(cmd) < 3 or fallen[i]:
            continue
        since = ti - max([s for s in starts if s <= ti], default=0.0)
        if since < settle_s:
            continue
        v_err.append(math.hypot(rows[i, 4] - cmd[0], rows[i, 5] - cmd[1]))
        w_err.append(abs(rows[i, 6] - cmd[2]))
    return {"samples": int(len(rows)), "duration_s": round(float(t[-1]), 2),
            "distance_m": round(dist, 3), "net_displacement_m": round(float(
                np.linalg.norm(xy[-1] - xy[0])), 3),
            "falls": falls, "down_at_activation": bool(fallen[0]),
            "fallen_at_end": bool(fallen[-1]),
            "vel_error_mps": round(float(np.mean(v_err)), 3) if v_err else None,
            "yaw_error_rps": round(float(np.mean(w_err)), 3) if w_err else None,
            **_effort(rows), "min_height_m": round(float(rows[:, 3].min()), 3),
            # the mean tangential speed of the feet's contact points while standing on them
            "foot_slip_mps": (round(float(np.nanmean(slip[~fallen])), 4) if slip is not None
                              and np.isfinite(slip[~fallen]).any() else None)}


def _effort(rows: np.ndarray) -> dict[str, float]:
    """Mean |torque| [N m] and mean mechanical power [W] of `TruthRecorder` rows."""
    return {"mean_abs_torque_nm": round(float(rows[:, 9].mean()), 2),
            "mean_power_w": round(float(rows[:, 10].mean()), 1)}


def reach_metrics(cfg: DeployConfig, truth: dict[str, Any], tol_m: float = 0.02,
                  until: float | None = None) -> dict[str, Any]:
    """Per scripted goal: the end effector's distance to it at the end of its segment, and
    whether it got within ``tol_m`` (the reach task's success radius); their mean final
    distance, mean |torque| and power; up to ``until`` s after activation if given (a killed
    policy node)."""
    rows = np.asarray(truth.get("rows") or [], dtype=np.float64)
    t0 = truth.get("t_active")
    if rows.size == 0 or t0 is None:
        return {"samples": 0}
    if until is not None:
        rows = rows[rows[:, 0] < t0 + until]
        if rows.size == 0:
            return {"samples": 0}
    t = rows[:, 0] - t0
    goals: list[dict[str, Any]] = []
    bounds = [s.t for s in cfg.script] + [float(t[-1]) + 1e-9]
    for k, step in enumerate(cfg.script):
        seg = (t >= bounds[k]) & (t < bounds[k + 1])
        # a goal scripted at or after the run's end is not part of it (the recorder's last
        # sample can land a tick past ``run_s``)
        if not seg.any() or len(step.cmd) < 3 or step.t >= cfg.run_s:
            continue
        d = np.linalg.norm(rows[seg, 11:14] - np.asarray(step.cmd[:3]), axis=1)
        goals.append({"goal": list(step.cmd[:3]), "final_distance_cm": round(100 * float(
            d[-1]), 2), "min_distance_cm": round(100 * float(d.min()), 2),
            "reached": bool(d[-1] <= tol_m)})
    final = [g["final_distance_cm"] for g in goals]
    return {"samples": int(len(rows)), "goals": goals,
            "reached": int(sum(bool(g["reached"]) for g in goals)), "of": len(goals),
            "final_distance_cm": round(float(np.mean(final)), 2) if final else None,
            **_effort(rows)}


def plot_run(cfg: DeployConfig, truth: dict[str, Any], latency_us: list[float], path: Path,
             events: list[dict[str, Any]] | None = None) -> Path | None:
    """One PNG: velocity vs command and base height (quadruped) or the end effector's
    distance to the scripted goal (arm), and the latency histogram; events as vertical
    lines."""
    rows = np.asarray(truth.get("rows") or [], dtype=np.float64)
    if rows.size == 0 or truth.get("t_active") is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    t = rows[:, 0] - truth["t_active"]
    cmd = [cfg.command_at(float(x)) or (0.0, 0.0, 0.0) for x in t]
    c = np.array([list(v[:3]) + [0.0] * (3 - len(v[:3])) for v in cmd], dtype=np.float64)
    fig, ax = plt.subplots(3, 1, figsize=(9, 9))
    if get_robot(cfg.robot).floating_base:
        ax[0].plot(t, rows[:, 4], label="vx (truth)")
        ax[0].plot(t, rows[:, 5], label="vy (truth)")
        ax[0].plot(t, rows[:, 6], label="yaw rate (truth)", alpha=0.7)
        ax[0].plot(t, c[:, 0], "k--", label="vx cmd")
        ax[0].plot(t, c[:, 1], "k:", label="vy cmd")
        ax[0].plot(t, c[:, 2], "k-.", label="yaw cmd", alpha=0.6)
        ax[0].set_ylabel("m/s, rad/s")
        ax[0].set_title("base velocity vs /cmd_vel")
        ax[1].plot(t, rows[:, 3])
        ax[1].axhline(FALL_HEIGHT, color="r", ls="--", label="fall height")
        ax[1].set_ylabel("base height [m]")
    else:
        dist = np.linalg.norm(rows[:, 11:14] - c, axis=1) * 100
        ax[0].plot(t, dist, label="|ee - goal|")
        ax[0].axhline(2.0, color="g", ls="--", label="2 cm (success)")
        ax[0].set_ylabel("distance [cm]")
        ax[0].set_title("end effector to the /goal")
        for k, name in enumerate("xyz"):
            ax[1].plot(t, rows[:, 11 + k], label=f"ee {name}")
            ax[1].plot(t, c[:, k], "k--", alpha=0.5)
        ax[1].set_ylabel("ee position [m]")
    for e in events or []:
        for a in ax[:2]:
            a.axvline(e["t"], color="m", alpha=0.5)
        ax[0].text(e["t"], ax[0].get_ylim()[1], e["event"], fontsize=7, color="m", va="top")
    ax[0].legend(fontsize=7, ncol=3)
    ax[1].legend(fontsize=7)
    ax[1].set_xlabel("time since activation [s]")
    if latency_us:
        ax[2].hist(np.asarray(latency_us) / 1e3, bins=60)
    ax[2].set_xlabel("state -> /command latency [ms]")
    ax[2].set_ylabel("commands")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))


__all__ = ["TruthRecorder", "count_falls", "locomotion_metrics", "plot_run", "reach_metrics",
           "write_json"]
