"""`robot-rl demo --quick`: the demo runs end to end and writes its report."""

from __future__ import annotations

import json
from pathlib import Path

from robot_rl.demo import run_demo


def test_quick_demo_writes_report(tmp_path: Path) -> None:
    summary = run_demo(out_dir=tmp_path, quick=True)
    for name in ("report.md", "summary.json", "training_curve.png", "arm6_reach_trained.mp4",
                 "train/model.pt"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["train"]["env_steps"] == summary["train"]["env_steps"] > 0
    assert set(saved["eval"]) == {"trained", "zero", "random"}
    for res in saved["eval"].values():
        assert 0.0 <= res["success_mean"] <= 1.0 and res["final_distance_mean"] > 0.0
    assert saved["quad12_stand"] == {"falls": 0, "sim_time_s": 2.0, "finite": True}
    dep = saved["safety_deploy"]
    assert dep["mode_at_nan"] == "HOLD" and dep["mode_at_estop"] == "STOP"
    assert dep["violations"] == 0 and dep["interventions"]["non_finite"] > 0
    report = (tmp_path / "report.md").read_text()
    assert "| trained |" in report and "quad12 standing check" in report
    assert "behind the safety chain" in report
