"""The `robot-rl` command line as a user runs it (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "robot_rl.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def last_json(out: str) -> dict[str, object]:
    return json.loads(out.strip().splitlines()[-1])


def test_help_lists_commands() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for cmd in ("envs", "sim", "bench", "demo"):
        assert cmd in proc.stdout


def test_envs_lists_every_task() -> None:
    proc = run("envs")
    assert proc.returncode == 0
    for task in ("quad12-walk", "quad12-walk-rough", "arm6-reach", "arm6-lift", "arm6-insert"):
        assert task in proc.stdout


def test_unknown_task_lists_available_ones() -> None:
    proc = run("sim", "quad13-walk", "--steps", "5")
    assert proc.returncode == 2
    assert "unknown task 'quad13-walk'; available tasks: arm6-insert" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    cfg = tmp_path / "walk.yaml"
    cfg.write_text("robot: quad12\nepisode_s: long\n")
    proc = run("sim", "quad12-walk", "--config", str(cfg), "--steps", "5")
    assert proc.returncode == 2
    assert f"{cfg}: key 'episode_s': expected a number, got 'long'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("policy", ["zero", "random"])
def test_sim_prints_json_summary(policy: str) -> None:
    proc = run("sim", "quad12-walk", "--policy", policy, "--steps", "300", "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = last_json(proc.stdout)
    assert summary["steps"] == 300 and summary["finite"] is True
    if policy == "zero":
        assert summary["episodes"] == 0  # standing still: no fall within 6 s
    else:
        assert summary["episodes"] >= 1 and "reward_terms" in summary  # random: it falls


def test_sim_writes_a_video(tmp_path: Path) -> None:
    import cv2

    video = tmp_path / "arm.mp4"
    proc = run("sim", "arm6-reach", "--policy", "random", "--steps", "40", "--video",
               str(video), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert last_json(proc.stdout)["video_frames"] == 40
    cap = cv2.VideoCapture(str(video))
    frames = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames += 1
        assert frame.std() > 5.0
    assert frames == 40
