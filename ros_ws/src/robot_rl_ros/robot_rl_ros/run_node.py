"""One node in its own process: ``python -m robot_rl_ros.run_node NODE CONFIG --work-dir DIR``
(what `ProcessGraph` and the launch files start). Writes ``DIR/NODE.ready`` once the node
is up, ``DIR/NODE.error`` (the reason) if it cannot start, and ``DIR/NODE.json`` (its stats,
CPU, memory) when it exits on SIGINT / SIGTERM. The bridge shuts down through its lifecycle
(damped, then disconnected) before exiting.

``--policy PATH`` overrides the config's bundle (every node of a graph gets the same);
``--session TOKEN`` is the graph's session token (`robot_rl_ros.convert.command_frame`; by
default one derived from the config file and the boot, so the nodes of one launch agree);
``--parent PID``: the node ends (orderly: the bridge damps) when that process is gone, and
it exits with code 3 if its executor stops, so whoever started it sees the failure."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import rclpy
from rclpy.signals import SignalHandlerOptions

from robot_rl.deploy.config import load_deploy_config
from robot_rl.runtime.policy import bundle_metadata
from robot_rl.runtime.realtime import (
    freeze_heap,
    process_info,
    set_thread_realtime,
    set_threads_realtime,
    thread_policy,
    tune_process,
)
from robot_rl.runtime.signals import StopRequest
from robot_rl_ros.bridge_node import HardwareBridgeNode
from robot_rl_ros.graph import (
    die_with_parent,
    make_executor,
    ros_environment,
    spin,
)
from robot_rl_ros.policy_node import PolicyNode
from robot_rl_ros.safety_node import SafetyNode

SHUTDOWN_DEADLINE_S = 8.0


def _hard_exit(name: str) -> None:
    print(f"{name}: orderly shutdown took over {SHUTDOWN_DEADLINE_S} s; exiting now",
          file=sys.stderr, flush=True)
    os._exit(5)


GUARD_PRIORITY = 99  # above every real-time thread of a node process (it sleeps throughout)
_exited = threading.Event()  # the orderly shutdown is over (set by main, waited on by guard)


def guard(done: StopRequest, parent: int, name: str) -> None:
    """The node process's last resort, in its own thread at `GUARD_PRIORITY` (where the OS
    allows real-time scheduling): once the parent is gone (``--parent``) it starts the
    shutdown (``done``), and once the shutdown has begun it ends the process if it still runs
    `SHUTDOWN_DEADLINE_S` later. At the top priority it runs on time even if a real-time
    thread of this process spins and starves the main thread's orderly shutdown."""
    set_thread_realtime(GUARD_PRIORITY)  # (refused: normal scheduling, as before)
    while not done.wait(0.2):
        if parent and os.getppid() != parent:
            print(f"{name}: parent {parent} is gone; shutting down", file=sys.stderr,
                  flush=True)
            done.set("parent gone")
    if not _exited.wait(SHUTDOWN_DEADLINE_S):
        _hard_exit(name)


def default_session(config: str) -> str:
    """The session token of nodes started without one (launch files): from the config file's
    path, this boot and the ROS domain, so the nodes of one launch agree."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    key = f"{Path(config).resolve()}|{boot}|{os.environ.get('ROS_DOMAIN_ID', '0')}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _policy_dt(cfg: Any) -> float:
    path = cfg.policy_file()
    if path is None:
        raise ValueError("no policy_path in the deploy config")
    return float(bundle_metadata(path)["policy_dt"])


def make_node(name: str, cfg: Any, session: str = "") -> Any:
    if name == "policy_node":
        return PolicyNode(cfg)
    if name == "safety_node":
        return SafetyNode(cfg, _policy_dt(cfg), session=session)
    if name == "hardware_bridge":
        return HardwareBridgeNode(cfg, _policy_dt(cfg), session=session)
    raise ValueError(f"unknown node '{name}'; nodes: policy_node, safety_node, hardware_bridge")


def spin_realtime(executor: Any, priority: int, out: dict[str, Any], name: str = "node",
                  health: dict[str, Any] | None = None) -> None:
    """`spin` on this thread, first put in SCHED_FIFO at ``priority`` (0: left as is); what
    it got goes to ``out`` (``executor_policy``, ``executor_realtime_error``)."""
    err = set_thread_realtime(priority) if priority else None
    if err is not None:
        print(f"{name}: executor thread not real-time: {err}", file=sys.stderr)
    out.update(executor_policy=thread_policy(), executor_realtime_error=err)
    spin(executor, health)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="robot_rl_ros.run_node")
    ap.add_argument("node")
    ap.add_argument("config")
    ap.add_argument("--work-dir", default=".")
    ap.add_argument("--policy", default="", help="override the config's policy_path")
    ap.add_argument("--session", default="", help="the graph's session token")
    ap.add_argument("--parent", type=int, default=0, help="end when this process is gone")
    args, _ = ap.parse_known_args(argv)
    if args.parent:
        die_with_parent()
    if args.parent and os.getppid() != args.parent:
        return 4  # the parent died before this process got going
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    ros_environment()
    tune_process()
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    try:
        try:
            cfg = load_deploy_config(args.config)
            if args.policy:
                cfg.policy_path = args.policy
            node = make_node(args.node, cfg, args.session or default_session(args.config))
        except Exception as e:  # refuse to start, say why
            (work / f"{args.node}.error").write_text(f"{type(e).__name__}: {e}")
            print(f"{args.node}: {e}", file=sys.stderr)
            return 2
        if args.node != "hardware_bridge":  # (the bridge freezes the heap at configure)
            freeze_heap()  # the node is built
        done = StopRequest()  # (not a threading.Event: `robot_rl.runtime.signals`)
        done.on_signals(signal.SIGINT, signal.SIGTERM)
        threading.Thread(target=guard, args=(done, args.parent, args.node), daemon=True,
                         name="guard").start()
        executor = make_executor(rclpy.get_default_context())
        executor.add_node(node)
        sched: dict[str, Any] = {}
        if cfg.executor_realtime_priority:
            # the middleware's receive threads exist now (the node's participant): at the
            # executor's priority, so that a state or an e-stop is not queued behind normal
            # load before the real-time executor can see it
            moved, why = set_threads_realtime(cfg.executor_realtime_priority, "dds.")
            sched["dds_threads_realtime"] = len(moved)
            if why is not None:
                print(f"{args.node}: middleware threads not real-time: {why}", file=sys.stderr)
        health: dict[str, Any] = {}
        threading.Thread(target=spin_realtime, args=(executor, cfg.executor_realtime_priority,
                                                     sched, args.node, health),
                         daemon=True).start()
        (work / f"{args.node}.ready").write_text(f"{os.getpid()}")
        rc = 0
        while not done.wait(0.2):
            if health and not health.get("alive", True):
                print(f"{args.node}: executor stopped ({health.get('last_error')}); "
                      "shutting down", file=sys.stderr)
                rc = 3
                done.set("executor stopped")  # (the guard's deadline runs from here)
                break
        if sched.get("dds_threads_realtime"):  # (tearing down, a spinning one would starve us)
            set_threads_realtime(0, "dds.")
        # the orderly shutdown has `SHUTDOWN_DEADLINE_S` (the guard's); past it the process
        # ends anyway (the bridge has damped first), so a shutdown that hangs never leaves a
        # node running
        stop_worker = getattr(node, "stop_worker", None)
        if stop_worker is not None:  # (the policy and safety nodes' worker threads)
            stop_worker()
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
        _exited.set()
    return rc


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
