"""`robot-rl sim2sim`: one bundle through the same deploy chain on the training sim and on a
reality proxy; the report puts their metrics side by side."""

from __future__ import annotations

import json
from pathlib import Path

from robot_rl.cli import main


def test_sim2sim_report_side_by_side(bundles: dict[str, Path], tmp_path: Path,
                                     capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "s2s"
    assert main(["sim2sim", str(bundles["quad12_stand"]), "--seeds", "3", "--seconds", "2.5",
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(summary["gap"]) >= {"distance_m", "mean_power_w", "falls"}
    saved = json.loads((out / "sim2sim.json").read_text())
    sim, proxy = saved["runs"]["sim"], saved["runs"]["proxy3"]
    assert sim["proxy"] is None and proxy["proxy"]["seed"] == 3  # the proxy's parameters
    assert sim["falls"] == 0 and proxy["falls"] == 0 and sim["samples"] > 50
    assert sim["min_height_m"] > 0.2  # the standing policy stands on both
    # a standing robot's feet hardly slip (measured: mm/s); the metric is there on both
    assert 0.0 <= sim["foot_slip_mps"] < 0.05 and 0.0 <= proxy["foot_slip_mps"] < 0.05
    # a zero-action policy: no action change, no torque at a limit standing
    assert sim["action_rate"] == 0.0 and proxy["action_rate"] == 0.0
    assert sim["torque_limit_frac"] == 0.0 and proxy["torque_limit_frac"] == 0.0
    assert sim["interventions_per_s"] == round(sum(sim["interventions"].values()) / 2.5, 2)
    # the reference: the same commands in the training env, lockstep (a standing policy
    # stands there too, never limited: its targets are q0)
    env = saved["runs"]["env"]
    assert env["falls"] == 0 and env["action_rate"] == 0.0 and env["limited_frac"] == 0.0
    assert 0.0 < env["vel_error_mps"] < 1.0  # (commands 0 then 0.5 m/s: it stands)
    assert (out / "sim2sim.png").stat().st_size > 10_000
    assert "| metric | env | sim | proxy3 |" in (out / "report.md").read_text()
    assert main(["sim2sim", str(bundles["quad12_stand"]), "--to", "mars"]) == 2


def test_sim2sim_for_the_arm_reports_reaching(tmp_path: Path) -> None:
    """The shipped reach policy: the arm's profile (goals, final distances) on sim and a
    proxy; the first goal of the script is reached on both within 4 s."""
    from robot_rl.deploy.sim2sim import REACH_KEYS, sim2sim

    repo = Path(__file__).resolve().parents[2]
    s = sim2sim(repo / "pretrained" / "arm6_reach_ppo.onnx", robot="arm6", seeds=(1,),
                seconds=4.0, out=tmp_path)
    assert set(s["gap"]) == set(REACH_KEYS)
    for run in ("sim", "proxy1"):
        r = s["runs"][run]
        assert r["of"] == 1 and r["reached"] == 1, r
        assert r["goals"][0]["final_distance_cm"] < 2.0
        # the shipped reach policy moves its target in steps of <= 0.09 rad (delta actions):
        # far below the 0.3-0.75 of the bang-bang offset policy before it, and not still
        assert 0.0 < r["action_rate"] < 0.25 and 0.0 <= r["torque_limit_frac"] <= 1.0, r
    assert "| reached |" in (tmp_path / "report.md").read_text()
