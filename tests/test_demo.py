"""`robot-rl demo --quick`: both deployments run through the ROS 2 graph end to end (each as
`robot-rl bringup` in its own process) and the report says what happened."""

from __future__ import annotations

import json
from pathlib import Path

from robot_rl.demo import run_demo


def test_quick_demo_deploys_both_robots_and_reports(tmp_path: Path) -> None:
    summary = run_demo(out_dir=tmp_path, quick=True)
    for name in ("report.md", "summary.json", "quad12_proxy/report.md", "quad12_proxy/run.png",
                 "arm6_virtual_bus/report.md", "arm6_virtual_bus/run.png"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "summary.json").read_text())
    quad, arm = saved["quad12_proxy"], saved["arm6_virtual_bus"]
    assert quad["backend"] == "proxy" and arm["backend"] == "virtual_bus"
    for run in (quad, arm):
        assert run["policy_commands"] > 100 and run["refused_commands"] == 0
        assert run["latency_us"]["n"] > 100
        for proc in run["processes"].values():
            assert proc["torch_loaded"] is False  # the deploy process never loads torch
        estop = next(e for e in run["events"] if e["event"] == "estop")
        assert estop["bridge_output_after"][-1] == "damped" and estop["s_to_damped"] < 5.0
    reset = next(e for e in arm["events"] if e["event"] == "reset")
    assert reset["ok"], reset
    assert "STOP" in quad["safety_mode_final"]  # the e-stop stays latched to the end
    assert quad["motion"]["samples"] > 100 and arm["reach"]["of"] >= 1
    report = (tmp_path / "report.md").read_text()
    assert "reality proxy" in report and "virtual Feetech bus" in report
    assert summary["wall_s"] > 0
