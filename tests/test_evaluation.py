"""`robot-rl eval`: the suites measure what they claim on policies whose behaviour is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl.cli import main
from robot_rl.envs import make_env
from robot_rl.evaluation import EvalConfig, evaluate
from robot_rl.export import export_actor
from robot_rl.policies.mlp import ActorCritic


@pytest.fixture(scope="module")
def stand_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy that outputs zero: the PD loop holds the standing pose."""
    env = make_env("quad12-walk")
    policy = ActorCritic(env.obs_builder.dim, 12, (16,), (16,))
    with torch.no_grad():
        for p in policy.actor.parameters():
            p.zero_()
    path = tmp_path_factory.mktemp("eval") / "stand.onnx"
    return export_actor(policy, path, robot="quad12", obs_layout=env.obs_builder.layout(),
                        action_type="joint_pos_offset", action_scale=0.25, policy_dt=0.02,
                        algorithm="stand")


def test_nominal_tracking_error_of_a_standing_policy_is_the_command(stand_bundle: Path) -> None:
    cfg = EvalConfig(episodes=2, seconds=3.0, speeds=(0.5, 1.0))
    out = evaluate(stand_bundle, suites=("nominal",), cfg=cfg)["nominal"]
    for v in (0.5, 1.0):
        row = out[f"vx={v}"]
        assert row["survived"] == 1.0 and row["time_s"] == pytest.approx(3.0)
        assert row["vel_error"] == pytest.approx(v, abs=0.05)  # it stands still
        assert row["yaw_error"] < 0.05


def test_force_and_push_suites_knock_a_standing_robot_over(stand_bundle: Path) -> None:
    cfg = EvalConfig(episodes=2, seconds=4.0, forces=(0.0, 400.0), push_magnitudes=(0.0, 6.0),
                     push_every_s=1.0)
    out = evaluate(stand_bundle, suites=("force", "push"), cfg=cfg)
    assert out["force"]["force=0.0N"]["survived"] == 1.0
    assert out["force"]["force=400.0N"]["survived"] == 0.0  # 2.8 x its weight, sideways
    assert out["force"]["force=400.0N"]["time_s"] < 4.0
    assert out["push"]["push=0.0m/s"]["survived"] == 1.0
    assert out["push"]["push=6.0m/s"]["survived"] == 0.0


def test_cli_eval_writes_a_report_and_refuses_bad_input(stand_bundle: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    rc = main(["eval", str(stand_bundle), "--suite", "nominal", "--episodes", "1",
               "--seconds", "2.5", "--out", str(tmp_path)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["algorithm"] == "stand" and "vx=1.0" in summary["nominal"]
    assert (tmp_path / "eval.png").stat().st_size > 1000
    assert json.loads((tmp_path / "eval.json").read_text()) == summary
    assert main(["eval", str(stand_bundle), "--suite", "wind"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert main(["eval", str(stand_bundle), "--task", "arm6-reach"]) == 2
    assert "not 'arm6'" in capsys.readouterr().err
    assert np.isfinite(summary["nominal"]["vx=0.5"]["vel_error"])
