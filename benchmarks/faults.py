"""faults: issue 21's fault cases through the full ROS 2 graph on the reality proxy, in both
graph modes where the case applies, and the one-process-per-node start-up counted over
repeated starts.

Each case starts a graph of quad12 (proxy seed 3, the shipped PPO walking policy, walking at
0.5 m/s) or arm6 (its virtual servo bus), injects one fault, watches what reaches the motors
and reports: ``safe`` (the case's safe outcome held: a refused input, damping, a working
e-stop after the fault), ``falls`` (quadruped, from the simulator's truth), ``s_to_damping``
(from the fault to the motors damped, where the case ends in damping), ``estop_after``
(the e-stop still worked after the fault) and what the case measured. Then ``startups``:
N consecutive ``bringup --processes`` starts on the proxy (30 unless ``quick``), the falls
and their causes. Goal: every case safe, 0 falls where the fallback applies, 0 falls in the
starts.

Cases (issue 21's numbering): 1 bad messages, 2 bad config values, 3 a NaN bundle hot-swapped
in and a policy whose output turns infinite, 4 a stray ``/command`` publisher, 5 a policy
node stopped for 1 s, 6 HOLD while walking (intervention without a teleop command), 8 a
``--policy`` override for another robot, 9 ``kill -9`` of the bring-up, 10 a 330 ms policy
step, 11 serial replies 30-70 ms late, 12 a ``/cmd_vel`` of 1e6 m/s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from robot_rl_ros.convert import command_to_msg
from robot_rl_ros.graph import InProcessGraph, ProcessGraph, ros_environment
from robot_rl_ros.inject import bad_inputs, damped, publish, safety_mode, set_policy, wait_for
from robot_rl_ros.qos import COMMAND_QOS

from robot_rl.config import ConfigError, from_dict, load_yaml, merge, to_dict
from robot_rl.deploy.build import DeployError
from robot_rl.deploy.config import DeployConfig
from robot_rl.deploy.report import count_falls
from robot_rl.robots import get_robot
from robot_rl.safety.robot_config import CONFIG_DIR, load_robot_config
from robot_rl.types import JointCommand

REPO = Path(__file__).resolve().parents[1]
QUAD = REPO / "configs" / "deploy" / "quad12_proxy.yaml"
ARM = REPO / "configs" / "deploy" / "arm6_virtual_bus.yaml"
WALK = [{"t": 0.0, "cmd": [0.5, 0.0, 0.0]}]


def _config(tmp: Path, base: Path, **over: Any) -> tuple[Path, Any]:
    data = merge(load_yaml(base), over)
    if data.get("policy_path") and not Path(data["policy_path"]).is_absolute():
        data["policy_path"] = str(REPO / data["policy_path"])
    cfg = from_dict(DeployConfig, data, str(base))
    path = tmp / f"{base.stem}_{len(list(tmp.glob('*.yaml')))}.yaml"

    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return path, cfg


class _Run:
    """One case in one mode: the graph, the time of the fault, what was seen."""

    def __init__(self, mode: str, path: Path, cfg: Any, tmp: Path, **kw: Any) -> None:
        self.mode, self.cfg = mode, cfg
        self.g: Any = (InProcessGraph(cfg) if mode == "in_process" else
                       ProcessGraph(path, cfg, tmp / f"nodes_{time.monotonic_ns()}",
                                    watch_commands=True, **kw))
        self.out: dict[str, Any] = {"mode": mode}
        self.stats: dict[str, Any] = {}
        self.t_fault: float | None = None
        self.t_damped: float | None = None  # the motors first damped after the fault
        self._watch: threading.Thread | None = None
        self._done = threading.Event()

    def __enter__(self) -> _Run:
        self.g.start()
        self.g.activate()
        return self

    def fault(self) -> float:
        """The fault is injected now: from here on, note when the motors are first damped."""
        self.t_fault = t0 = time.monotonic()

        def watch() -> None:
            while not self._done.is_set():
                if damped(self.g):
                    self.t_damped = time.monotonic()
                    return
                time.sleep(0.005)

        self._watch = threading.Thread(target=watch, daemon=True)
        self._watch.start()
        return t0

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        if self.t_fault is not None and "s_to_damping" not in self.out:
            self.out["s_to_damping"] = (None if self.t_damped is None else
                                        round(self.t_damped - self.t_fault, 3))
        self.stats = self.g.stop()
        # a fall is judged up to the damping (a quadruped's controlled sit-down ends lying
        # down by design: damped, it settles onto its belly)
        self.out["falls"] = _falls(self.cfg, self.stats, self.t_damped)
        # what stopped the robot, where something did (the reason each stage last gave)
        inter = (self.stats.get("safety_node") or {}).get("interventions") or {}
        self.out["stops"] = {k: v.get("last_reason") for k, v in inter.items() if k in (
            "tracking_guard", "fall_detect", "state_watchdog", "command_watchdog")}
        if exc[0] is not None:
            self.out.update(safe=False, error=f"{exc[0].__name__}: {exc[1]}")

    def damping_after(self, t0: float, timeout: float = 5.0) -> float | None:
        """Seconds from the fault (`fault`) until the motors were damped (None: not within
        ``timeout`` s from now)."""
        wait_for(lambda: self.t_damped is not None, timeout)
        return None if self.t_damped is None else round(self.t_damped - t0, 3)

    def estop_works(self) -> bool:
        self.g.estop()
        return wait_for(lambda: safety_mode(self.g) == "STOP", 1.0)


def _falls(cfg: Any, stats: dict[str, Any], t_damped: float | None = None) -> int | None:
    """Falls from the simulator's truth (quadruped), up to ``t_damped`` if given."""
    truth = (stats.get("hardware_bridge") or {}).get("truth")
    if not truth or not get_robot(cfg.robot).floating_base:
        return None
    return count_falls(cfg, truth, t_damped)


def _quad(tmp: Path, **over: Any) -> tuple[Path, Any]:
    return _config(tmp, QUAD, script=WALK, **over)


def case_1(tmp: Path, mode: str) -> dict[str, Any]:
    with _Run(mode, *_quad(tmp), tmp) as r:
        r.g.run(4.0)
        bad_inputs(r.g, get_robot("quad12").joint_names)
        r.g.run(1.0)
        alive = not r.g.failures() and safety_mode(r.g) == "ACTIVE"
        t0 = r.fault()  # (the e-stop after the bad input)
        r.out["estop_after"] = r.estop_works()
        r.out["s_to_damping"] = r.damping_after(t0)
    r.out["safe"] = alive and r.out["estop_after"] and r.out["s_to_damping"] is not None
    return r.out


def case_3(tmp: Path, mode: str) -> dict[str, Any]:
    from robot_rl.export.onnx_export import export_constant_policy  # (lazy: torch)

    # (a quad12 bundle whose output is NaN, exported here: torch is a training dependency)
    nan = export_constant_policy("quad12-walk", tmp / "nan.onnx", float("nan"), (32, 32))
    with _Run(mode, *_quad(tmp), tmp) as r:
        r.g.run(4.0)
        refused = set_policy(r.g, nan)
        r.g.run(1.0)
        kept = safety_mode(r.g) == "ACTIVE"
        if mode == "in_process":  # and a running policy whose output turns infinite
            import numpy as np

            pol = r.g.policy.controller._cur.policy
            r.fault()
            pol.step = lambda obs, t: np.full(12, np.inf)
            r.out["fallback"] = wait_for(lambda: safety_mode(r.g) == "HOLD", 1.0)
            r.g.run(3.0)
        if r.t_fault is None:
            r.fault()
        r.out["estop_after"] = r.estop_works()
        r.out["s_to_damping"] = r.damping_after(r.t_fault or 0.0)
    pol_stats = r.stats.get("policy_node", {})
    swaps = pol_stats.get("swaps") or []
    r.out["swap_refused"] = bool(refused or (swaps and not swaps[-1]["ok"]))
    r.out["safe"] = (r.out["swap_refused"] and kept and r.out["estop_after"]
                     and r.out.get("fallback", True) and not r.out["falls"])
    return r.out


def case_4(tmp: Path, mode: str) -> dict[str, Any]:
    from sensor_msgs.msg import JointState

    spec = get_robot("quad12")
    with _Run(mode, *_quad(tmp), tmp) as r:
        r.g.run(4.0)
        stray = r.g.operator.create_publisher(JointState, "/command", COMMAND_QOS)
        time.sleep(1.0)
        bad = JointCommand.hold(spec.joint_names, spec.q_max + 1.0, spec.kp, spec.kd)
        r.fault()
        for k in range(20):
            stray.publish(command_to_msg(bad, time.monotonic(), "active", seq=10_000 + k,
                                         session="stray"))
            time.sleep(0.02)
        r.g.run(2.0)
        r.out["estop_after"] = r.estop_works()
    b = r.stats["hardware_bridge"]
    r.out.update(ignored=b["foreign_commands"], followed_beyond_limits=b["clamped_commands"],
                 latched=b["latched"][:80], s_to_damping=None)
    r.out["safe"] = (b["foreign_commands"] > 0 and b["clamped_commands"] == 0
                     and r.out["estop_after"] and not r.out["falls"])
    return r.out


def case_5(tmp: Path, mode: str) -> dict[str, Any]:
    with _Run(mode, *_quad(tmp), tmp) as r:
        r.g.run(4.0)
        pid = r.g.procs["policy_node"].pid
        r.fault()
        os.kill(pid, signal.SIGSTOP)
        time.sleep(1.0)
        os.kill(pid, signal.SIGCONT)
        r.g.run(4.0)
        r.out["estop_after"] = r.estop_works()
    modes = r.stats["safety_node"]["modes"]
    i = max((k for k, m in enumerate(modes) if m in ("damping", "stop")), default=None)
    resumed = i is None or "active" in modes[i:]
    stale = r.stats["hardware_bridge"]["stale_commands"]
    r.out.update(resumed_active=resumed, stale_refused=stale, modes=modes[-6:])
    r.out["safe"] = not resumed and r.out["estop_after"] and not r.out["falls"]
    return r.out


def case_6(tmp: Path, mode: str) -> dict[str, Any]:
    from std_msgs.msg import Bool

    with _Run(mode, *_quad(tmp), tmp) as r:
        r.g.run(5.0)
        publish(r.g, Bool, "/teleop/intervention", Bool(data=True), times=1)
        r.out["hold"] = wait_for(lambda: safety_mode(r.g) in ("HOLD", "DAMPING"), 1.0)
        r.g.run(3.0)
        r.fault()  # (the e-stop: judged up to the end of its sit-down)
        r.out["estop_after"] = r.estop_works()
        r.g.run(4.0)
    r.out["safe"] = r.out["hold"] and r.out["estop_after"] and not r.out["falls"]
    return r.out


def case_8(tmp: Path, mode: str) -> dict[str, Any]:
    path, cfg = _quad(tmp)
    g = ProcessGraph(path, cfg, tmp / "n8", policy_path=str(
        REPO / "pretrained" / "arm6_reach_ppo.onnx"))
    try:
        g.start()
        g.stop()
        return {"mode": mode, "safe": False, "error": "the arm6 bundle was accepted"}
    except DeployError as e:
        return {"mode": mode, "safe": "for robot 'arm6'" in str(e), "refused": str(e)[:120]}


def case_9(tmp: Path, mode: str) -> dict[str, Any]:
    path, _ = _quad(tmp)
    out = tmp / "b9"
    proc = subprocess.Popen([sys.executable, "-m", "robot_rl.cli", "bringup", str(path),
                             "--processes", "--duration", "60", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "bringup: active" in line:
            break
    nodes = out / "nodes"
    pids = [int((nodes / f"{n}.ready").read_text()) for n in (
        "policy_node", "safety_node", "hardware_bridge")]
    time.sleep(2.0)
    t0 = time.monotonic()
    proc.kill()
    proc.wait()

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False

    gone = wait_for(lambda: not any(alive(p) for p in pids), 15.0)
    bridge = nodes / "hardware_bridge.json"
    damped = bridge.exists() and json.loads(bridge.read_text())["modes"][-1] == "passive"
    return {"mode": mode, "safe": gone and damped, "s_to_exit": round(time.monotonic() - t0, 2),
            "bridge_damped_before_exit": damped}


def case_10(tmp: Path, mode: str) -> dict[str, Any]:
    import numpy as np

    with _Run(mode, *_quad(tmp), tmp) as r:
        r.g.run(4.0)
        br = r.g.bridge.bridge
        step = r.g.policy.controller.step

        def slow(*a: Any, **k: Any) -> Any:
            time.sleep(0.33)
            return step(*a, **k)

        r.g.policy.controller.step = slow
        ticks0, t0 = br.ticks, r.fault()
        r.g.run(3.0)
        n = br.ticks - ticks0
        late = np.asarray(list(br.lateness_us)[-n:]) / 1e3
        r.out["max_tick_lateness_ms"] = round(float(late.max()), 2)
        r.out["s_to_damping"] = r.damping_after(t0)
        r.out["estop_after"] = r.estop_works()
    r.out["safe"] = (r.out["max_tick_lateness_ms"] < 50.0 and r.out["s_to_damping"] is not None
                     and not r.out["falls"])
    return r.out


def case_11(tmp: Path, mode: str) -> dict[str, Any]:
    path, cfg = _config(tmp, ARM)
    with _Run(mode, path, cfg, tmp) as r:
        r.g.run(3.0)
        device = r.g.bridge.backend.device
        t0 = r.fault()
        device.late_replies((0.03, 0.07))  # every request, 30-70 ms late (20 ms timeout)
        r.out["s_to_damping"] = r.damping_after(t0, 10.0)
        r.out["fault"] = (r.g.bridge.bridge.robot.fault or "")[:160]
    r.out["safe"] = "late" in r.out["fault"] and r.out["s_to_damping"] is not None
    return r.out


def case_12(tmp: Path, mode: str) -> dict[str, Any]:
    from geometry_msgs.msg import Twist
    with _Run(mode, *_quad(tmp), tmp) as r:
        r.g.run(4.0)
        fast = Twist()
        fast.linear.x = 1e6
        publish(r.g, Twist, "/cmd_vel", fast)
        r.g.run(3.0, script=False)
        r.out["active"] = safety_mode(r.g) == "ACTIVE"
        r.fault()
        r.out["estop_after"] = r.estop_works()
        r.g.run(4.0)
    clamped = r.stats.get("policy_node", {}).get("commands_clamped")
    r.out["commands_clamped"] = clamped if clamped is not None else (
        r.g.policy.commands_clamped if hasattr(r.g, "nodes") and r.g.policy else None)
    r.out["safe"] = r.out["active"] and r.out["estop_after"] and not r.out["falls"]
    return r.out


def case_2(tmp: Path, mode: str) -> dict[str, Any]:
    text = (CONFIG_DIR / "quad12.yaml").read_text()
    variants = {"margin nan": ("margin: 0.05", "margin: .nan"),
                "timeout nan": ("timeout_s: 0.05", "timeout_s: .nan"),
                "rate scale 1e6": ("scale: 1.0}\n    - {type: torque", "scale: 1000000.0}\n"
                                   "    - {type: torque"),
                "no estop": ("    - {type: estop}\n", "")}
    refused: dict[str, bool] = {}
    for name, (old, new) in variants.items():
        assert old in text, old
        p = tmp / f"bad_{len(refused)}.yaml"
        p.write_text(text.replace(old, new, 1))
        try:
            load_robot_config(p)
            refused[name] = False
        except ConfigError:
            refused[name] = True
    return {"mode": mode, "safe": all(refused.values()), "refused": refused}


# case -> (function, modes)
CASES: dict[str, tuple[Callable[[Path, str], dict[str, Any]], tuple[str, ...]]] = {
    "1_bad_message": (case_1, ("in_process", "processes")),
    "2_bad_config": (case_2, ("load",)),
    "3_policy_output": (case_3, ("in_process", "processes")),
    "4_stray_command": (case_4, ("processes",)),
    "5_stale_command": (case_5, ("processes",)),
    "6_hold_fallback": (case_6, ("in_process", "processes")),
    "8_policy_override": (case_8, ("processes",)),
    "9_orphans": (case_9, ("processes",)),
    "10_slow_policy": (case_10, ("in_process",)),
    "11_late_serial": (case_11, ("in_process",)),
    "12_unbounded_command": (case_12, ("in_process", "processes")),
}


def startups(tmp: Path, n: int, seconds: float = 8.0) -> dict[str, Any]:
    """``n`` consecutive ``bringup --processes`` starts of the shipped quad12 proxy config
    (zero command): falls and their causes."""
    runs: list[dict[str, Any]] = []
    for k in range(n):
        out = tmp / f"start_{k}"
        proc = subprocess.run([sys.executable, "-m", "robot_rl.cli", "bringup", str(QUAD),
                               "--processes", "--duration", str(seconds), "--out", str(out)],
                              capture_output=True, text=True, timeout=300)
        s = json.loads((out / "summary.json").read_text()) if (
            out / "summary.json").exists() else {}
        m = s.get("motion") or {}
        node = out / "nodes" / "safety_node.json"
        ns = json.loads(node.read_text()) if node.exists() else {}
        reasons = {k: v.get("last_reason") for k, v in (ns.get("interventions") or {}).items()}
        runs.append({"rc": proc.returncode, "falls": m.get("falls"),
                     "state_age_ms": ns.get("state_age_ms"),
                     "watchdog_deferred": ns.get("watchdog_deferred"),
                     "reasons": {k: v for k, v in reasons.items() if k in (
                         "tracking_guard", "fall_detect", "state_watchdog")},
                     "min_height_m": m.get("min_height_m"),
                     "modes": s.get("safety_modes"),
                     "stops": {k: v for k, v in (s.get("interventions") or {}).items()
                               if k in ("tracking_guard", "fall_detect", "state_watchdog")}})
        print(f"faults bench: start {k + 1}/{n}: falls {m.get('falls')} modes "
              f"{s.get('safety_modes')}", flush=True)
    falls = sum(int(r.get("falls") or 0) for r in runs)
    ages = [r["state_age_ms"]["max"] for r in runs
            if r.get("state_age_ms") and r["state_age_ms"].get("n")]
    return {"starts": n, "falls": falls, "failed": sum(r["rc"] != 0 for r in runs),
            "with_fall": [r for r in runs if r["falls"]],
            "state_age_max_ms": sorted(round(a, 1) for a in ages),
            "watchdog_deferred": [r.get("watchdog_deferred") for r in runs]}


def run(quick: bool = False, cases: list[str] | None = None, starts: int | None = None
        ) -> dict[str, Any]:
    ros_environment()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in cases or list(CASES):
            fn, modes = CASES[name]
            for mode in modes:
                t0 = time.monotonic()
                try:
                    res = fn(tmp, mode)
                except Exception as e:  # a case that could not run is not safe
                    res = {"mode": mode, "safe": False, "error": f"{type(e).__name__}: {e}"}
                res["wall_s"] = round(time.monotonic() - t0, 1)
                results.setdefault(name, []).append(res)
                print(f"faults bench: {name} [{mode}]: {json.dumps(res, default=str)}",
                      flush=True)
        n = (3 if quick else 30) if starts is None else starts
        start = startups(tmp, n) if n else {"starts": 0, "falls": 0}
    flat = [r for rs in results.values() for r in rs]
    return {"benchmark": "faults", "cases": results, "startups": start,
            "all_safe": all(r.get("safe") for r in flat),
            "falls": sum(int(r.get("falls") or 0) for r in flat),
            "startup_falls": start["falls"], "startups_n": start["starts"]}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv)))
