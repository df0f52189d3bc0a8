"""One node in its own process: ``python -m robot_rl_ros.run_node NODE CONFIG --work-dir DIR``
(what `ProcessGraph` and the launch files start). Writes ``DIR/NODE.ready`` once the node
is up, ``DIR/NODE.error`` (the reason) if it cannot start, and ``DIR/NODE.json`` (its stats,
CPU, memory) when it exits on SIGINT / SIGTERM. The bridge shuts down through its lifecycle
(damped, then disconnected) before exiting."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import rclpy
from rclpy.signals import SignalHandlerOptions

from robot_rl.runtime.deploy_config import load_deploy_config
from robot_rl.runtime.realtime import freeze_heap, set_thread_realtime, thread_policy, tune_process
from robot_rl_ros.graph import make_executor, process_info, ros_environment, spin


def _policy_dt(cfg: Any) -> float:
    from robot_rl.runtime.policy import bundle_metadata

    path = cfg.policy_file()
    if path is None:
        raise ValueError("no policy_path in the deploy config")
    return float(bundle_metadata(path)["policy_dt"])


def make_node(name: str, cfg: Any) -> Any:
    if name == "policy_node":
        from robot_rl_ros.policy_node import PolicyNode

        return PolicyNode(cfg)
    if name == "safety_node":
        from robot_rl_ros.safety_node import SafetyNode

        return SafetyNode(cfg, _policy_dt(cfg))
    if name == "hardware_bridge":
        from robot_rl_ros.bridge_node import HardwareBridgeNode

        return HardwareBridgeNode(cfg, _policy_dt(cfg))
    raise ValueError(f"unknown node '{name}'; nodes: policy_node, safety_node, hardware_bridge")


def spin_realtime(executor: Any, priority: int, out: dict[str, Any], name: str = "node") -> None:
    """`spin` on this thread, first put in SCHED_FIFO at ``priority`` (0: left as is); what
    it got goes to ``out`` (``executor_policy``, ``executor_realtime_error``)."""
    err = set_thread_realtime(priority) if priority else None
    if err is not None:
        print(f"{name}: executor thread not real-time: {err}", file=sys.stderr)
    out.update(executor_policy=thread_policy(), executor_realtime_error=err)
    spin(executor)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="robot_rl_ros.run_node")
    ap.add_argument("node")
    ap.add_argument("config")
    ap.add_argument("--work-dir", default=".")
    args, _ = ap.parse_known_args(argv)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    ros_environment()
    tune_process()
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    try:
        try:
            cfg = load_deploy_config(args.config)
            node = make_node(args.node, cfg)
        except Exception as e:  # refuse to start, say why
            (work / f"{args.node}.error").write_text(f"{type(e).__name__}: {e}")
            print(f"{args.node}: {e}", file=sys.stderr)
            return 2
        if args.node != "hardware_bridge":  # (the bridge freezes the heap at configure)
            freeze_heap()  # the node is built
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        executor = make_executor(rclpy.get_default_context())
        executor.add_node(node)
        sched: dict[str, Any] = {}
        threading.Thread(target=spin_realtime, args=(executor, cfg.executor_realtime_priority,
                                                     sched, args.node), daemon=True).start()
        (work / f"{args.node}.ready").write_text("ok")
        done.wait()
        if args.node == "hardware_bridge":
            if node.bridge is not None:
                node.bridge.damp()
            try:
                node.trigger_shutdown()
            except Exception:
                node._close()
        stats = node.stats()
        stats.update(sched)
        stats["process"] = process_info()
        (work / f"{args.node}.json").write_text(json.dumps(stats, default=str))
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
    finally:
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def _entry(name: str) -> int:
    return main([name, *sys.argv[1:]])


def bridge_main() -> int:
    return _entry("hardware_bridge")


def policy_main() -> int:
    return _entry("policy_node")


def safety_main() -> int:
    return _entry("safety_node")


if __name__ == "__main__":
    sys.exit(main())
