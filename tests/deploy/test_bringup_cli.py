"""`robot-rl bringup`: a short run writes its report with the injected events; mistakes end in
one line naming the cause (exit status 2), before the robot is touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from robot_rl.cli import main

pytest.importorskip("robot_rl_ros.bringup")


def _write(tmp: Path, **cfg: object) -> Path:
    base = {"robot": "quad12", "backend": {"kind": "sim"},
            "bridge": {"publish_every": 5, "soft_start_s": 0.2, "shutdown_damp_s": 0.2},
            "run_s": 3.0, "script": [{"t": 0.0, "cmd": [0.3, 0.0, 0.0]}]}
    base.update(cfg)
    p = tmp / "deploy.yaml"
    p.write_text(yaml.safe_dump(base))
    return p


def test_bringup_runs_reports_and_injects_events(bundles: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _write(tmp_path, policy_path=str(bundles["quad12_stand"]))
    out = tmp_path / "out"
    assert main(["bringup", str(cfg), "--out", str(out), "--event", "2.0:estop"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["policy_commands"] > 50 and summary["safety_mode_final"] == "STOP"
    assert summary["events"][0]["event"] == "estop"
    assert summary["motion"]["until_s"] == pytest.approx(2.0, abs=0.3)
    assert summary["motion"]["falls"] == 0  # standing until the e-stop
    assert summary["interventions"]["estop"] > 0
    report = (out / "report.md").read_text()
    assert "estop" in report and "Deadline misses" in report
    assert (out / "run.png").stat().st_size > 10_000


@pytest.mark.parametrize(("cfg", "why"), [
    ({"robot_config": "configs/robots/arm6.yaml"}, "configures robot 'arm6'"),
    ({"backend": {"kind": "virtual_bus"}},
     "'virtual_bus' is not a backend of quad12; it has sim, proxy, virtual_can, can"),
    ({"policy_path": "nope.onnx"}, "policy bundle not found"),
])
def test_bringup_refuses_with_one_line(cfg: dict[str, object], why: str, tmp_path: Path,
                                       bundles: dict[str, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = {"policy_path": str(bundles["quad12_stand"]), **cfg}
    assert main(["bringup", str(_write(tmp_path, **data)), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and why in err[0] and err[0].startswith("robot-rl bringup: error:")


def test_unknown_event_is_refused(bundles: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _write(tmp_path, policy_path=str(bundles["quad12_stand"]))
    assert main(["bringup", str(cfg), "--event", "1:explode"]) == 2
    assert "unknown event 'explode'" in capsys.readouterr().err
