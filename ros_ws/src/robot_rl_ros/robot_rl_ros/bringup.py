"""`robot-rl bringup CONFIG`: the deploy graph for ``run_s`` seconds (or until Ctrl-C), the
scripted command sequence, then an orderly shutdown (robot damped) and a report: distance,
velocity tracking, falls, safety interventions, loop latency p50/p99, deadline misses, CPU
and memory, with a plot (``out/run.png``) and the full stats (``out/summary.json``).

A node process that exits or an executor that stops while the graph runs ends the run at once
(the bridge damps); it is listed under ``failures`` in the report, and the command line exits
non-zero. The report is written whatever ended the run.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from robot_rl.deploy.build import DeployError
from robot_rl.deploy.config import DeployConfig, load_deploy_config, resolve
from robot_rl.deploy.report import locomotion_metrics, plot_run, reach_metrics, write_json
from robot_rl.robots import get_robot
from robot_rl.runtime.signals import StopRequest
from robot_rl_ros.graph import InProcessGraph, ProcessGraph
from robot_rl_ros.inject import damped


def summarize(cfg: DeployConfig, stats: dict[str, Any], mode: str,
              until: float | None = None) -> dict[str, Any]:
    """The report's figures from the nodes' stats; motion is measured up to ``until`` s after
    activation (the first e-stop or killed node), if given."""
    b = stats.get("hardware_bridge", {})
    s = stats.get("safety_node", {})
    p = stats.get("policy_node", {})
    out: dict[str, Any] = {
        "robot": cfg.robot, "backend": cfg.backend.kind, "proxy_seed": cfg.backend.proxy_seed,
        "policy": p.get("policy", cfg.policy_path), "graph": mode,
        "bridge_rate_hz": b.get("rate_hz"), "policy_commands": p.get("published"),
        "policy_errors": p.get("errors"),
        "latency_us": b.get("command_latency_us"),
        "deadline_misses": {"late_commands": b.get("late_commands"),
                            "command_gaps": b.get("command_gaps"),
                            "late_bridge_ticks": b.get("late_ticks"),
                            "bridge_ticks": b.get("ticks")},
        "bridge_tick_lateness_us": b.get("tick_lateness_us"),
        "bridge_timeouts": b.get("timeouts"), "refused_commands": b.get("refused"),
        "safety_mode_final": s.get("mode"), "safety_modes": s.get("modes"),
        "interventions": {k: v["count"] for k, v in (s.get("interventions") or {}).items()},
        "policy_step_us": p.get("step_us"),
        "cpu_s": {"hardware_bridge": round(float(b.get("loop_cpu_s", 0.0)) - float(
            b.get("nested_cpu_s", 0.0)) + float(b.get("cpu_s", 0.0)), 3),
            "policy_node": p.get("cpu_s"),
            "safety_node": s.get("cpu_s")},
    }
    if b.get("truth"):
        if get_robot(cfg.robot).floating_base:
            out["motion"] = locomotion_metrics(cfg, b["truth"], until=until)
            out["motion"]["until_s"] = until
        else:
            out["reach"] = reach_metrics(cfg, b["truth"], until=until)
    procs = {k: v.get("process") for k, v in stats.items() if isinstance(v, dict)
             and v.get("process")}
    if "process" in stats:
        procs["graph"] = stats["process"]
    if "operator_process" in stats:
        procs["operator"] = stats["operator_process"]
    out["processes"] = procs
    return out


def _motion_section(s: dict[str, Any]) -> str:
    if s.get("motion"):
        m = s["motion"]
        span = f"up to t = {m['until_s']} s" if m.get("until_s") is not None else "to the end"
        return f"""## Motion (simulator ground truth, from activation {span})

| distance [m] | net [m] | vel. error [m/s] | yaw error [rad/s] | falls | min height [m] \
| power [W] |
|---|---|---|---|---|---|---|
| {m.get('distance_m')} | {m.get('net_displacement_m')} | {m.get('vel_error_mps')} \
| {m.get('yaw_error_rps')} | {m.get('falls')} | {m.get('min_height_m')} \
| {m.get('mean_power_w')} |
"""
    if s.get("reach"):
        r = s["reach"]
        rows = "\n".join(f"| {g['goal']} | {g['final_distance_cm']} | {g['min_distance_cm']} | "
                         f"{'yes' if g['reached'] else 'no'} |" for g in r.get("goals", []))
        return f"""## Reaching (simulator ground truth)

Goals reached (end effector within 2 cm at the end of the goal's segment): {r.get('reached')}
of {r.get('of')}.

| goal [m] | final distance [cm] | closest [cm] | reached |
|---|---|---|---|
{rows}
"""
    return "## Motion\n\nNo ground truth on this backend (a real robot).\n"


def report_markdown(s: dict[str, Any], note: str = "") -> str:
    lat = s.get("latency_us") or {}
    dm = s.get("deadline_misses") or {}
    rows = "\n".join(f"| {k} | {v} |" for k, v in (s.get("interventions") or {}).items())
    mem = "; ".join(f"{k}: {v.get('rss_mb')} MB (torch loaded: {v.get('torch_loaded')})"
                    for k, v in (s.get("processes") or {}).items() if v)
    events = "\n".join(f"- t = {e['t']} s, {e['event']}: {e['result']}" + (
        f"; motors: {' -> '.join(e.get('bridge_output_after') or [])} (damped after "
        f"{e.get('s_to_damped')} s)" if "bridge_output_after" in e else "")
        for e in s.get("events") or [])
    seed = f" (proxy seed {s['proxy_seed']})" if s.get("proxy_seed") is not None else ""
    return f"""# Deployment report: {s['robot']} on `{s['backend']}`{seed}

Policy `{s['policy']}`, ROS 2 graph `{s['graph']}`, bridge {s['bridge_rate_hz']} Hz.
{note}

{_motion_section(s)}
## Timing

State → `/command` latency p50 / p99 / max: {lat.get('p50')} / {lat.get('p99')} /
{lat.get('max')} µs over {lat.get('n')} commands. Deadline misses:
{dm.get('late_commands')} commands later than the policy period, {dm.get('command_gaps')}
missing policy periods, {dm.get('late_bridge_ticks')} of {dm.get('bridge_ticks')} bridge
ticks more than one period late. CPU [s]: {s.get('cpu_s')}. Memory: {mem}.

## Safety

Final mode {s.get('safety_mode_final')}; modes in order: {s.get('safety_modes')}.

{events or "No injected events."}

| stage | interventions |
|---|---|
{rows}

Plot: `run.png`.
"""


EVENTS = ("estop", "reset", "kill_policy")


def _event(graph: Any, kind: str) -> dict[str, Any]:
    """Apply one scripted fault / operator action; what happened."""
    if kind == "estop":
        graph.estop()
        return {"result": "e-stop published"}
    if kind == "reset":
        ok, msg = False, ""
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:  # refused while the robot still moves
            ok, msg = graph.reset()
            if ok:
                break
            time.sleep(0.2)
        return {"result": msg, "ok": ok}
    if kind == "kill_policy":
        graph.kill("policy_node")
        return {"result": "policy node killed"}
    raise ValueError(f"unknown event '{kind}' (estop, reset, kill_policy)")


def _observe(graph: Any, seconds: float) -> dict[str, Any]:
    """What reaches the motors after an event, until they are damped or ``seconds`` passed:
    the sequence of stiff / damped outputs and the seconds to damping (None: not damped)."""
    seen: list[str] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        m = "damped" if damped(graph) else "stiff"
        if not seen or seen[-1] != m:
            seen.append(m)
        if m == "damped":
            return {"bridge_output_after": seen, "s_to_damped": round(time.monotonic() - t0, 3)}
        time.sleep(0.005)
    return {"bridge_output_after": seen, "s_to_damped": None}


def bringup(config: str | Path, processes: bool = False, duration: float | None = None,
            out: str | Path | None = "out/bringup", note: str = "",
            policy_path: str | None = None,
            events: list[tuple[float, str]] | None = None) -> dict[str, Any]:
    """Run the graph of ``config``; the summary dict (also written under ``out``).

    ``events``: (seconds after activation, ``estop`` | ``reset`` | ``kill_policy``)."""
    for _, kind in events or []:
        if kind not in EVENTS:
            raise DeployError(f"unknown event '{kind}'; events: {', '.join(EVENTS)}")
    cfg_path = resolve(config)
    cfg = load_deploy_config(cfg_path)
    if policy_path:
        cfg.policy_path = policy_path
    seconds = cfg.run_s if duration is None else duration
    out_dir = Path(out) if out else None
    graph: Any = (ProcessGraph(cfg_path, cfg, (out_dir or Path("out/bringup")) / "nodes",
                               policy_path=policy_path, watch_commands=True)
                  if processes else InProcessGraph(cfg))
    stop = StopRequest()  # (a handler must not set a threading.Event: `robot_rl.runtime.signals`)
    previous = stop.on_signals(signal.SIGINT)[signal.SIGINT]
    log: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        print(f"bringup: {cfg.robot} on {cfg.backend.kind}, policy {cfg.policy_path}, "
              f"{'one process per node' if processes else 'one process'}", flush=True)
        graph.start()
        graph.activate()
        print(f"bringup: active; running {seconds:g} s (Ctrl-C stops, robot damped)",
              flush=True)
        t0 = time.monotonic()
        for at, kind in sorted(events or []):
            graph.run(max(0.0, at - (time.monotonic() - t0)), until=stop)
            if stop.is_set():
                break
            entry = {"t": round(time.monotonic() - t0, 2), "event": kind, **_event(graph, kind)}
            if kind in ("estop", "kill_policy"):  # (a quadruped sits down first: ~3.5 s)
                entry.update(_observe(graph, 6.0))
            print(f"bringup: t={entry['t']} s {kind}: {entry['result']}", flush=True)
            log.append(entry)
        graph.run(max(0.0, seconds - (time.monotonic() - t0)), until=stop)
        failures = graph.failures()
        if failures:
            print(f"bringup: graph failed: {'; '.join(failures)}; robot damped", flush=True)
    except DeployError:
        raise
    except Exception as e:  # the run itself failed: stop (damped), still report
        failures.append(f"bring-up error: {type(e).__name__}: {e}")
    finally:
        signal.signal(signal.SIGINT, previous)
        stats = graph.stop()
    # motion is judged up to the first e-stop (quadruped) / killed policy node; the arm's
    # e-stop is followed by a reset, so its reaching is judged over the whole run
    kinds = ("estop", "kill_policy") if get_robot(cfg.robot).floating_base else ("kill_policy",)
    stops = [e["t"] for e in log if e["event"] in kinds]
    summary = summarize(cfg, stats, "processes" if processes else "in-process",
                        until=min(stops) if stops else None)
    summary["events"] = log
    summary["failures"] = failures
    if out_dir is not None:
        b = stats.get("hardware_bridge", {})
        png = plot_run(cfg, b.get("truth") or {}, b.get("latency_samples_us") or [],
                       out_dir / "run.png", log)
        summary["plot"] = str(png) if png else None
        write_json(out_dir / "summary.json", summary)
        (out_dir / "report.md").write_text(report_markdown(summary, note))
        summary["report"] = str(out_dir / "report.md")
    return summary


__all__ = ["bringup", "report_markdown", "summarize"]
