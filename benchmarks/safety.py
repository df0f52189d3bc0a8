"""safety: fuzz the safety chain of each robot and time it.

Per robot: ``n`` ticks of random measured states (joints anywhere in their range, speeds up
to ±30 rad/s, random tilts) and random proposed commands — benign, out of range by 10x,
non-finite / huge ("wild"), missing — each output checked by `robot_rl.safety.check`
(violations must be 0). E-stops are engaged at random ticks (then reset) and that same tick
must be in STOP with a safe output: damping, or the robot's controlled stop where its
fallback has one (`robot_rl.safety.fallback`; the checks say when one is allowed). The
chain's cost per tick (``SafetyChain.step`` only) is reported as p50 / p99 µs, over all
ticks and over benign ticks (a quadruped's HOLD from ACTIVE runs its recovery bundle, one
ONNX step per policy period, which shows in the fuzz's p99).
Also in closed loop: each robot in MuJoCo tracking a smooth policy through the chain for
20 s (the cost a robot pays per tick in operation, reported separately from the fuzz cost,
whose commands keep most stages on their slow clipping paths).
Goals (issue 22: the stages' rules in readable numpy, no compiled code): violations 0;
p99 ≤ 200 µs per tick without the CBF-QP (closed loop, both robots), ≤ 500 µs with it (arm6
fuzz with ``cbf_workspace``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from robot_rl.safety.check import violations
from robot_rl.safety.core import Mode
from robot_rl.safety.harness import SafetyHarness
from robot_rl.safety.robot_config import (
    CONFIG_DIR,
    RobotConfig,
    load_robot_config,
    make_safety_chain,
)
from robot_rl.types import JointCommand, RobotState


def fuzz(cfg: RobotConfig, n: int, seed: int = 0) -> dict[str, Any]:
    chain = make_safety_chain(cfg)
    spec = chain.spec
    nj = spec.n_joints
    rng = np.random.default_rng(seed)
    mid, half = (spec.q_max + spec.q_min) / 2, (spec.q_max - spec.q_min) / 2
    kinds = rng.choice(4, size=n, p=[0.7, 0.15, 0.05, 0.1])  # benign, extreme, wild, none
    wild_vals = np.array([np.nan, np.inf, -np.inf, 1e308, -1e308, 0.0, 1e6, -1e6])
    estop_at = set(rng.choice(n, size=max(1, n // 2000), replace=False).tolist())
    times = np.zeros(n)
    n_viol = 0
    examples: list[str] = []
    estop_ok = estop_total = 0
    prev = None
    dt = cfg.control_dt
    for k in range(n):
        t = k * dt
        tilt = rng.normal(0.0, 0.5, 3) if rng.random() < 0.01 else np.zeros(3)
        quat = np.array([1.0, *tilt / 2])
        quat /= np.linalg.norm(quat)
        st = RobotState(t=t, q=mid + half * rng.uniform(-1, 1, nj),
                        dq=rng.uniform(-30, 30, nj) * (rng.random() < 0.3), imu_quat=quat,
                        tau=rng.uniform(-1, 1, nj) * spec.tau_max,
                        base_pos=np.array([0, 0, 0.3 if rng.random() < 0.99 else 0.05])
                        if spec.floating_base else None)
        kind = kinds[k]
        cmd: JointCommand | None
        if kind == 3:
            cmd = None
        elif kind == 2:
            arrs = [rng.choice(wild_vals, nj) * (rng.random(nj) < 0.3) + rng.normal(0, 1, nj)
                    for _ in range(5)]
            cmd = JointCommand(spec.joint_names, *arrs)
        else:
            scale = 10.0 if kind == 1 else 1.0
            cmd = JointCommand(spec.joint_names, mid + scale * half * rng.uniform(-1.2, 1.2, nj),
                               scale * rng.normal(0, 2, nj), spec.kp * rng.uniform(0, 2),
                               spec.kd * rng.uniform(0, 2), scale * rng.normal(0, 1, nj))
        if k in estop_at:
            chain.engage_estop("bench")
        t0 = time.perf_counter_ns()
        out = chain.step(cmd, st, t)
        times[k] = (time.perf_counter_ns() - t0) / 1e3
        bad = violations(chain, out, st, prev)
        if k in estop_at:
            estop_total += 1
            estop_ok += int(chain.mode == Mode.STOP and not bad)
        if bad:
            n_viol += 1
            if len(examples) < 5:
                examples.append(f"tick {k}: {bad}")
        prev = out
        if chain.mode != Mode.ACTIVE and rng.random() < 0.2:  # operator resets latched faults
            st.dq[:] = 0.0
            chain.reset(st)
            prev = None
    benign = times[kinds == 0]
    return {"ticks": n, "violations": n_viol, "violation_examples": examples,
            "p50_us": round(float(np.percentile(times, 50)), 1),
            "p99_us": round(float(np.percentile(times, 99)), 1),
            "benign_p50_us": round(float(np.percentile(benign, 50)), 1),
            "benign_p99_us": round(float(np.percentile(benign, 99)), 1),
            "estop_same_tick": f"{estop_ok}/{estop_total}",
            "stages": [s.name for s in chain.stages],
            "interventions": {k: v["count"] for k, v in chain.summary()["interventions"].items()}}


def closed_loop(robot: str, seconds: float) -> dict[str, Any]:
    """Chain cost in operation: the robot in MuJoCo tracking a smooth policy (sinusoids around
    the default pose) through the chain, as on the robot; ticks after the soft start."""
    h = SafetyHarness(robot)
    s = h.spec
    phase = np.linspace(0, np.pi, s.n_joints)

    def policy(state: RobotState, t: float) -> JointCommand:
        q = s.q0 + 0.08 * np.sin(2 * np.pi * 0.5 * t + phase)
        return JointCommand(s.joint_names, q, np.zeros(s.n_joints), s.kp.copy(), s.kd.copy(),
                            np.zeros(s.n_joints))

    log = h.run(policy, seconds)
    us = log.chain_us[int(2.5 / h.control_dt):]
    return {"ticks": int(us.size), "p50_us": round(float(np.percentile(us, 50)), 1),
            "p99_us": round(float(np.percentile(us, 99)), 1),
            "violations": len(log.violations),
            "interventions": {k: v["count"] for k, v in h.chain.summary()["interventions"].items()}}


def run(quick: bool = False, n: int = 100_000) -> dict[str, Any]:
    n = 3000 if quick else n
    result: dict[str, Any] = {"benchmark": "safety"}
    for robot in ("quad12", "arm6"):
        result[robot] = fuzz(load_robot_config(robot=robot), n)
        result[robot]["closed_loop"] = closed_loop(robot, 4.0 if quick else 20.0)
    qp_cfg = load_robot_config(CONFIG_DIR / "arm6_workspace.yaml")
    result["arm6_cbf_qp"] = fuzz(qp_cfg, max(1000, n // 5))
    robots = ("quad12", "arm6")
    result["violations"] = (sum(result[r]["violations"] + result[r]["closed_loop"]["violations"]
                                for r in robots) + result["arm6_cbf_qp"]["violations"])
    result["p99_us_closed_loop"] = max(result[r]["closed_loop"]["p99_us"] for r in robots)
    result["p99_us_fuzz"] = max(result[r]["p99_us"] for r in robots)
    result["p99_us_with_qp_arm6"] = result["arm6_cbf_qp"]["p99_us"]
    goals = {"violations": 0, "p99_us_without_qp": 200, "p99_us_with_qp_arm6": 500}
    result["goals"] = goals
    result["pass"] = bool(result["violations"] == 0
                          and result["p99_us_closed_loop"] <= goals["p99_us_without_qp"]
                          and result["p99_us_with_qp_arm6"] <= goals["p99_us_with_qp_arm6"])
    return result
