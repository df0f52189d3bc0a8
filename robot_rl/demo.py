"""`robot-rl demo` / `make demo`: the main job, a full simulated deployment of the shipped
policies through the ROS 2 graph, as a user would run it (`robot-rl bringup`, one process
each, so every figure is the deploy process's own: torch never loaded there).

1. quad12 on the reality proxy (`sim2real/proxy.py`, seed 3: perturbed masses, friction,
   motor strength, a 1 ms implicit integrator, sensor noise, actuation latency), through
   ``hardware_bridge`` (500 Hz) → ``policy_node`` (50 Hz, ONNX) → ``safety_node``, with a
   scripted ``/cmd_vel`` sequence and an e-stop at the end;
2. arm6 over its real serial path (a virtual Feetech STS3215 chain on a pty in front of the
   real-time MuJoCo arm) with the shipped reach policy: three ``/goal`` targets, an e-stop
   mid-run and a reset;
3. a report (``report.md``, ``summary.json``, each run's plot and full stats).

The locomotion policy: ``pretrained/quad12_walk_ppo.onnx`` (it transfers to the reality
proxies: no fall on seeds 0-3; the H-infinity policy falls on proxy 0, docs/results.md), else
``..._hinf.onnx`` if shipped; else a standing policy is exported for the task's observation
layout, and the report says that no trained walking policy exists yet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "pretrained"
LOCOMOTION = ("quad12_walk_ppo.onnx", "quad12_walk_hinf.onnx")
REACH = "arm6_reach_ppo.onnx"


def _record(bundle: Path) -> dict[str, Any]:
    rec = bundle.with_suffix(".record.json")
    return json.loads(rec.read_text()) if rec.is_file() else {}


def _bringup(config: str, out: Path, policy: Path | None, events: list[str],
             duration: float | None, note: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "robot_rl.cli", "bringup", config, "--out", str(out)]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    if duration is not None:
        cmd += ["--duration", str(duration)]
    for e in events:
        cmd += ["--event", e]
    if note:
        cmd += ["--note", note]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    (out / "bringup.log").parent.mkdir(parents=True, exist_ok=True)
    (out / "bringup.log").write_text(proc.stdout + proc.stderr)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"`{' '.join(cmd[2:])}` failed (exit {proc.returncode}):\n"
                           f"{(proc.stderr or proc.stdout)[-2000:]}")
    summary = json.loads(lines[-1])
    summary["wall_s"] = round(time.monotonic() - t0, 1)
    return summary


def run_demo(out_dir: str | Path = "out/demo", quick: bool = False) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    shipped = [PRETRAINED / n for n in LOCOMOTION if (PRETRAINED / n).is_file()]
    if shipped:
        quad_policy, rec = shipped[0], _record(shipped[0])
        quad_note = (f"Shipped locomotion policy `{quad_policy.name}` "
                     f"({rec.get('status', 'see its training record')}).")
    else:  # (lazy: the exporter needs torch, which only this fallback uses)
        from robot_rl.export.onnx_export import export_standing_policy

        quad_policy = export_standing_policy("quad12-walk", out / "quad12_stand.onnx")
        quad_note = ("No trained walking policy is shipped yet (issue 6): the quadruped runs "
                     "a standing policy (zero action), so the velocity commands are not "
                     "tracked; the run shows the deployment, not locomotion.")
    arm_policy = PRETRAINED / REACH
    print(f"[1/3] quad12 on the reality proxy through the ROS 2 graph: {quad_policy.name}",
          flush=True)
    # (the e-stop 4.5 s before the end: quad12's controlled stop stands, sits down, settles
    # and damps in ~3.5 s)
    quad_s = 10.0 if quick else 30.0
    quad = _bringup("configs/deploy/quad12_proxy.yaml", out / "quad12_proxy", quad_policy,
                    [f"{quad_s - 4.5}:estop"], quad_s, quad_note)
    print("[2/3] arm6 over the virtual Feetech serial bus through the ROS 2 graph: "
          f"{arm_policy.name}", flush=True)
    arm_events = ["2.5:estop", "3.5:reset"] if quick else ["6.5:estop", "7.5:reset"]
    arm = _bringup("configs/deploy/arm6_virtual_bus.yaml", out / "arm6_virtual_bus",
                   arm_policy if arm_policy.is_file() else None, arm_events,
                   6.0 if quick else None, f"Shipped reach policy `{arm_policy.name}` "
                   f"({_record(arm_policy).get('status', 'no training record')}).")
    print("[3/3] writing the report", flush=True)
    summary = {"demo": "simulated deployment through the ROS 2 graph",
               "quad12_proxy": quad, "arm6_virtual_bus": arm,
               "locomotion_policy_shipped": bool(shipped),
               "wall_s": round(time.monotonic() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(_report(summary, quad_note))
    print((out / "report.md").read_text(), flush=True)
    return summary


def _fmt_lat(s: dict[str, Any]) -> str:
    lat = s.get("latency_us") or {}
    return f"{lat.get('p50')} / {lat.get('p99')} µs"


def _estop_line(s: dict[str, Any]) -> str:
    ev = [e for e in s.get("events") or [] if e["event"] == "estop"]
    if not ev:
        return "no e-stop"
    seq = " -> ".join(ev[0].get("bridge_output_after") or [])
    return (f"e-stop at {ev[0]['t']} s: motors {seq or '(not observed)'}, damped after "
            f"{ev[0].get('s_to_damped')} s")


def _report(s: dict[str, Any], quad_note: str) -> str:
    q, a = s["quad12_proxy"], s["arm6_virtual_bus"]
    m = q.get("motion") or {}
    r = a.get("reach") or {}
    resets = [e for e in a.get("events") or [] if e["event"] == "reset"]
    goals = "\n".join(f"| {g['goal']} | {g['final_distance_cm']} | {g['min_distance_cm']} | "
                      f"{'yes' if g['reached'] else 'no'} |" for g in r.get("goals", []))
    mem = {k: v.get("peak_rss_mb") for k, v in (q.get("processes") or {}).items() if v}
    return f"""# robot-rl demo: simulated deployment through the ROS 2 graph

Total wall time {s['wall_s']} s. Each run is `robot-rl bringup CONFIG` in its own process
(`hardware_bridge` lifecycle node → `policy_node` → `safety_node`, one executor); full
reports: `quad12_proxy/report.md`, `arm6_virtual_bus/report.md`, with plots `run.png`.

## 1. quad12 on the reality proxy (seed {q.get('proxy_seed')})

{quad_note}

| distance [m] | velocity error [m/s] | yaw-rate error [rad/s] | falls | safety interventions |
|---|---|---|---|---|
| {m.get('distance_m')} | {m.get('vel_error_mps')} | {m.get('yaw_error_rps')} | {m.get('falls')} \
| {q.get('interventions')} |

Latency state → `/command` p50 / p99: {_fmt_lat(q)}; deadline misses
{q.get('deadline_misses')}. {_estop_line(q)}. Peak memory of the deploy process: {mem} MB
(torch loaded: {any(v.get('torch_loaded') for v in (q.get('processes') or {}).values() if v)}).

## 2. arm6 over the virtual Feetech bus

Goals reached (within 2 cm at the end of the goal's segment): {r.get('reached')} of
{r.get('of')}.

| goal [m] | final distance [cm] | closest [cm] | reached |
|---|---|---|---|
{goals}

{_estop_line(a)}; reset: {resets[0]['result'] if resets else 'none'}. Latency p50 / p99:
{_fmt_lat(a)}; deadline misses {a.get('deadline_misses')}. Interventions:
{a.get('interventions')}.
"""


__all__ = ["run_demo"]
