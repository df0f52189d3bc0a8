"""Every `robot-rl bench NAME` runs (quick mode) and reports the keys its issue asks for.
These check structure and correctness figures (violations, parity), never timings."""

from __future__ import annotations

import pytest

from benchmarks import BENCHMARKS


@pytest.mark.serial  # a speed ratio
def test_env_throughput_quick() -> None:
    r = BENCHMARKS["env-throughput"](quick=True)
    for key in ("quad12_steps_per_s", "ant_v5_steps_per_s", "ratio_vs_ant", "vector_speedup",
                "independent_pair_speedup", "batched_steps_per_s", "ant_v5_async_steps_per_s",
                "batched_ratio_vs_ant"):
        assert r[key] > 0
    assert r["vector_efficiency"] == pytest.approx(
        r["vector_speedup"] / r["independent_pair_speedup"], rel=0.5)
    # the vector envs compared: 16 quad12-walk envs on 2 workers, 16 Ant-v5 processes
    assert r["batched_envs"] == r["ant_v5_async_processes"] == 16
    assert r["batched_workers"] == 2 and r["goals"]["batched_ratio_vs_ant"] == 2.0
    lo, hi = r["spread"]["batched_ratio_vs_ant_iqr"]
    assert lo <= r["batched_ratio_vs_ant"] <= hi


def test_safety_quick_has_no_violations() -> None:
    r = BENCHMARKS["safety"](quick=True)
    assert r["violations"] == 0
    for robot in ("quad12", "arm6", "arm6_cbf_qp"):
        done, total = map(int, r[robot]["estop_same_tick"].split("/"))
        assert done == total >= 1
        assert r[robot]["p50_us"] > 0 and r[robot]["p99_us"] >= r[robot]["p50_us"]


def test_policy_latency_quick_parity() -> None:
    r = BENCHMARKS["policy-latency"](quick=True)
    assert r["mlp"]["max_abs_diff"] <= 1e-5
    assert r["mlp"]["ort_p50_us"] > 0 and r["mlp"]["torch_p50_us"] > 0
    for row in ("diffusion", "diffusion_unet"):
        assert r[row]["max_abs_diff"] <= 1e-5 and r[row]["ddim_steps"] == 5
        assert r[row]["chunk"] == "8x7" and r[row]["ort_p50_us"] > 0


def test_train_throughput_quick() -> None:
    r = BENCHMARKS["train-throughput"](quick=True)
    for algo in ("ppo", "hinf"):
        assert r[algo]["steps_per_iteration"] == 64
        assert r[algo]["collect_steps_per_s"] > 0 and r[algo]["learner_updates_per_s"] > 0
    assert "time_to_walk" in r


@pytest.mark.serial  # buses timed over ptys and virtual CAN
def test_bus_quick() -> None:
    r = BENCHMARKS["bus"](quick=True)
    for key in ("arm6_feetech", "arm6_dynamixel", "quad12_can"):
        assert r[key]["cycles"] == 100 and r[key]["p99_ms"] >= r[key]["p50_ms"] > 0
    assert r["arm6_feetech"]["timeouts"] == 0 and r["quad12_can"]["motors"] == 12


def test_unknown_benchmark_is_listed() -> None:
    from robot_rl.cli import main

    with pytest.raises(SystemExit):
        main(["bench"])  # missing NAME: argparse usage error
    assert main(["bench", "nope"]) == 2
