"""`robot-rl` command line. Each sub-command lives in its own function; JSON summaries last.

Errors a user can cause (unknown task, bad config, bad arguments) end in one line naming the
cause and the fix, with exit status 2, never a bare traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import BENCHMARKS
from robot_rl import __version__
from robot_rl.argtypes import float_at_least, int_in
from robot_rl.commands.hardware import add_parser as add_hardware
from robot_rl.commands.robot import add_parser as add_robot
from robot_rl.commands.sysid import add_parser as add_sysid
from robot_rl.demo import run_demo
from robot_rl.deploy.sim2sim import sim2sim
from robot_rl.envs import TASKS, make_env
from robot_rl.errors import RobotRLError
from robot_rl.evaluation import (
    SUITES,
    EvalConfig,
    compare,
    compare_markdown,
    evaluate,
    plot_compare,
)
from robot_rl.runtime.policy import OnnxPolicy
from robot_rl.runtime.upgrade import upgrade_bundle
from robot_rl.sim_rollout import rollout


class UserError(RobotRLError):
    """An error the user can fix; printed without a traceback."""


def _cmd_envs(args: argparse.Namespace) -> int:
    rows = []
    for name in sorted(TASKS):
        entry = TASKS[name]
        if args.verbose:
            env = make_env(name)
            obs_dim = env.obs_builder.dim
            act_dim = env.action_space.shape[0]  # type: ignore[index]
            rows.append(f"{name:20s} obs {obs_dim:3d}  act {act_dim:2d}  {entry.description}")
            env.close()
        else:
            rows.append(f"{name:20s} {entry.description}")
    print("\n".join(rows))
    return 0


def _cmd_sim(args: argparse.Namespace) -> int:
    summary = rollout(args.task, policy=args.policy, steps=args.steps, seed=args.seed,
                      config=args.config, video=args.video, progress=not args.quiet)
    print(json.dumps(summary))
    return 0


ROS_INSTALL = ("pip install ros-jazzy-rclpy ros-jazzy-rmw-fastrtps-cpp ros-jazzy-lifecycle-msgs "
               "ros-jazzy-sensor-msgs ros-jazzy-std-msgs ros-jazzy-std-srvs "
               "ros-jazzy-geometry-msgs ros-jazzy-trajectory-msgs ros-jazzy-diagnostic-msgs")


def _ros_bringup() -> Any:
    """The ROS 2 bring-up module (ros_ws/src/robot_rl_ros), or a UserError saying what to
    install."""
    try:
        from robot_rl_ros import bringup  # (lazy: rclpy is an optional install)
    except ImportError as e:
        raise UserError(f"the ROS 2 graph needs rclpy and the robot_rl_ros package ({e}); "
                        f"run `make bootstrap`, or install the wheels: {ROS_INSTALL}") from None
    return bringup


def _cmd_bringup(args: argparse.Namespace) -> int:
    ros = _ros_bringup()
    events = []
    for spec in args.event or []:
        at, _, kind = spec.partition(":")
        try:
            events.append((float(at), kind))
        except ValueError:
            raise UserError(f"--event {spec!r}: expected SECONDS:KIND, e.g. 7.5:estop") from None
    summary = ros.bringup(args.config, processes=args.processes, duration=args.duration,
                          out=args.out, policy_path=args.policy, events=events,
                          note=args.note or "")
    print(json.dumps(summary))
    if summary.get("failures"):
        print(f"bringup: the graph failed: {'; '.join(summary['failures'])} (report: "
              f"{summary.get('report')})", file=sys.stderr)
        return 1
    return 0


def _cmd_sim2sim(args: argparse.Namespace) -> int:
    if args.to != "proxy":
        raise UserError(f"--to {args.to!r}: only 'proxy' (the reality proxy) is available")
    summary = sim2sim(args.policy, robot=args.robot, seeds=tuple(args.seeds),
                      seconds=args.seconds, out=args.out)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.name not in BENCHMARKS:
        raise UserError(f"unknown benchmark '{args.name}'; available: "
                        f"{', '.join(sorted(BENCHMARKS))}")
    result = BENCHMARKS[args.name](quick=args.quick)
    print(json.dumps(result))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from robot_rl.train import train  # (lazy: torch, loaded only to train)

    summary = train(args.task, algo=args.algo, config=args.config, iterations=args.iterations,
                    seed=args.seed, out=args.out, resume=args.resume, progress=not args.quiet,
                    init=args.init, domain_rand=args.domain_rand, robot=args.robot)
    print(json.dumps(summary))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    if args.upgrade:  # (a bundle's metadata only: no torch)
        print(json.dumps(upgrade_bundle(args.checkpoint, args.out)))
        return 0
    from robot_rl.export import export_checkpoint  # (lazy: torch, loaded only to export)
    out = Path(args.out) if args.out else Path(args.checkpoint).with_suffix(".onnx")
    try:
        path = export_checkpoint(args.checkpoint, out)
    except (ValueError, KeyError) as err:
        raise UserError(f"cannot export {args.checkpoint}: {err}") from None
    meta = OnnxPolicy(path).metadata  # re-load: the bundle must pass the runtime's checks
    print(json.dumps({"bundle": str(path), "robot": meta["robot"], "obs_dim": meta["obs_dim"],
                      "act_dim": meta["act_dim"], "config_hash": meta["config_hash"]}))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    pol = OnnxPolicy(args.bundle)
    if args.robot:
        pol.check_robot(args.robot)
    meta = pol.metadata
    if not args.json:
        print(f"{args.bundle}: {meta['algorithm']} policy for {meta['robot']}, "
              f"{meta['action_type']} x{meta['act_dim']} (scale {meta['action_scale']}), "
              f"policy_dt {meta['policy_dt']} s")
        for t in meta["obs_terms"]:
            print(f"  {t['name']:24s} dim {t['dim']:3d}  scale {t.get('scale', 1.0)}")
    print(json.dumps(meta))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    suites = tuple(SUITES) if args.suite == "all" else tuple(args.suite.split(","))
    cfg = EvalConfig(episodes=args.episodes, seconds=args.seconds, seed=args.seed)
    try:
        summary = evaluate(args.policy, args.task, suites, cfg, args.out)
    except ValueError as err:  # bad suite / settings, or a bundle that does not fit
        raise UserError(str(err)) from None
    print(json.dumps(summary))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    summaries = []
    for path in args.summaries:
        try:
            summaries.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: cannot read an evaluation summary ({err}); pass the "
                            f"eval.json files `robot-rl eval --out DIR` wrote") from None
    try:
        cmp = compare(summaries)
    except ValueError as err:
        raise UserError(str(err)) from None
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(cmp, indent=2))
        (out / "compare.md").write_text(compare_markdown(cmp))
        plot_compare(cmp, out / "compare.png")
    print(compare_markdown(cmp))
    print(json.dumps(cmp))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    summary = run_demo(out_dir=args.out, quick=args.quick)
    print(json.dumps(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="robot-rl",
        description="Train robot policies in MuJoCo, export them to ONNX and deploy them "
                    "safely through ROS 2.")
    p.add_argument("--version", action="version", version=f"robot-rl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("envs", help="list the registered tasks")
    s.add_argument("-v", "--verbose", action="store_true", help="also build each env and "
                   "show observation / action sizes")
    s.set_defaults(func=_cmd_envs)

    s = sub.add_parser("sim", help="roll out a task with a simple policy (JSON summary last)")
    s.add_argument("task", help="task name (see `robot-rl envs`)")
    s.add_argument("--policy", choices=("random", "zero"), default="zero",
                   help="zero = hold the default pose; random = uniform actions")
    s.add_argument("--steps", type=int_in(1), default=500, help="policy steps (default 500)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--config", help="task YAML (default: configs/tasks/TASK.yaml)")
    s.add_argument("--video", help="write an MP4 of the rollout to this path")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_sim)

    s = sub.add_parser("train", help="train a policy on a task (JSON summary last)")
    s.add_argument("task", help="task name (see `robot-rl envs`)")
    s.add_argument("--algo", default="ppo", help="algorithm (ppo, hinf)")
    s.add_argument("--config", help="algorithm YAML (default: configs/algos/ALGO-TASK.yaml "
                   "if it exists, else configs/algos/ALGO.yaml)")
    s.add_argument("--iterations", type=int_in(1), help="override the config's iterations (with "
                   "--resume: how many more)")
    s.add_argument("--seed", type=int, help="override the config's seed")
    s.add_argument("--out", help="run directory (default runs/TASK-ALGO-sSEED)")
    s.add_argument("--resume", help="checkpoint to resume from (weights, optimiser, counters, "
                   "the H-inf multiplier and force bound, and the curves up to it)")
    s.add_argument("--init", help="start a new run from another run's checkpoint: the policy's "
                   "weights and observation normaliser only (e.g. H-inf fine-tuning of a PPO "
                   "policy); counters, optimiser and algorithm state start fresh")
    s.add_argument("--domain-rand", help="a domain-randomisation YAML in place of the task "
                   "file's domain_rand section (configs/domain_rand/ROBOT.yaml: every knob, "
                   "the ranges around the reality proxy's)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--robot", help="run the task on another robot of its class (a quadruped "
                   "for the walk tasks, an arm for the arm tasks; `robot-rl robot import`)")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("export", help="export a checkpoint to an ONNX policy bundle (JSON last)")
    s.add_argument("checkpoint", help="training checkpoint (model.pt), or with --upgrade a bundle")
    s.add_argument("--out", help="bundle path (default: CHECKPOINT with .onnx; with --upgrade "
                   "the bundle itself)")
    s.add_argument("--upgrade", action="store_true",
                   help="upgrade a format 1 bundle to the current format: add the control "
                   "contract of its robot as the project defines it")
    s.set_defaults(func=_cmd_export)

    s = sub.add_parser("inspect", help="show (and check) a policy bundle's metadata (JSON last)")
    s.add_argument("bundle", help="policy bundle (.onnx)")
    s.add_argument("--robot", help="also check the bundle is for this robot")
    s.add_argument("--json", action="store_true", help="only the JSON line")
    s.set_defaults(func=_cmd_inspect)

    s = sub.add_parser("eval", help="evaluate a policy bundle in sim: tracking, pushes, forces, "
                       "terrain (JSON summary last)")
    s.add_argument("policy", help="policy bundle (.onnx)")
    s.add_argument("--task", default="quad12-walk", help="task (default quad12-walk)")
    s.add_argument("--suite", default="nominal", help="nominal, push, force, terrain, a "
                   "comma-separated list, or all (default nominal)")
    s.add_argument("--episodes", type=int_in(1), default=10, help="episodes per condition")
    s.add_argument("--seconds", type=float_at_least(0.0, strict=True), default=20.0,
                   help="episode length [s]")
    s.add_argument("--seed", type=int, default=1000, help="first episode seed")
    s.add_argument("--out", help="write eval.json and eval.png here")
    s.set_defaults(func=_cmd_eval)

    s = sub.add_parser("eval-compare", help="methods side by side over training seeds, from "
                       "`robot-rl eval` summaries (table and JSON last)")
    s.add_argument("summaries", nargs="+", help="eval.json files, one per trained policy")
    s.add_argument("--out", help="write compare.json, compare.md and compare.png here")
    s.set_defaults(func=_cmd_compare)

    s = sub.add_parser("bringup", help="start the ROS 2 deploy graph of a deploy config, run "
                       "its command script, report (JSON last)")
    s.add_argument("config", help="deploy config, e.g. configs/deploy/quad12_proxy.yaml")
    s.add_argument("--processes", action="store_true", help="one process per node")
    s.add_argument("--duration", type=float_at_least(0.0, strict=True),
                   help="seconds to run (default: the config's run_s)")
    s.add_argument("--policy", help="override the config's policy_path")
    s.add_argument("--out", default="out/bringup", help="report directory")
    s.add_argument("--event", action="append", metavar="SECONDS:KIND",
                   help="inject an event after activation: estop, reset or kill_policy "
                        "(repeatable), e.g. --event 7:estop --event 8.5:reset")
    s.add_argument("--note", help="a line for the report (e.g. what the policy is)")
    s.set_defaults(func=_cmd_bringup)

    s = sub.add_parser("sim2sim", help="a policy on the training sim and on reality proxies, "
                       "side by side (report + PNG; JSON last)")
    s.add_argument("policy", help="policy bundle (.onnx)")
    s.add_argument("--to", default="proxy", help="target (proxy)")
    s.add_argument("--robot", help="the robot (default: the bundle's)")
    s.add_argument("--seeds", type=int_in(0), nargs="*", default=[0, 1, 2], help="proxy seeds "
                   "(none: the training sim only)")
    s.add_argument("--seconds", type=float_at_least(0.0, strict=True), default=20.0)
    s.add_argument("--out", default="out/sim2sim")
    s.set_defaults(func=_cmd_sim2sim)

    s = sub.add_parser("bench", help="run a benchmark (JSON summary last)")
    s.add_argument("name", help="benchmark name, e.g. env-throughput")
    s.add_argument("--quick", action="store_true", help="short run (smoke test)")
    s.set_defaults(func=_cmd_bench)

    add_hardware(sub)  # `robot-rl hardware ...` (robot_rl/commands/hardware.py)
    add_sysid(sub)  # `robot-rl sysid excite|fit` (robot_rl/commands/sysid.py)
    add_robot(sub)  # `robot-rl robot import` (robot_rl/commands/robot.py)

    s = sub.add_parser("demo", help="the end-to-end demo of what the project can do now")
    s.add_argument("--out", default="out/demo", help="report directory (default out/demo)")
    s.add_argument("--quick", action="store_true", help="short run (smoke test)")
    s.set_defaults(func=_cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # user-caused errors: one clear line, no traceback
        if _is_user_error(err):
            print(f"robot-rl {args.command}: error: {err}", file=sys.stderr)
            return 2
        raise


def _is_user_error(err: BaseException) -> bool:
    """Errors the user can fix (every area's errors derive from `RobotRLError`; a missing
    file is one too); anything else is a bug and keeps its traceback."""
    return isinstance(err, (RobotRLError, FileNotFoundError))


def _entry() -> Any:  # console-script entry point
    sys.exit(main())


if __name__ == "__main__":
    _entry()
