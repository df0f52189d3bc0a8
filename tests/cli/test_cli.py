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


def tiny_train(tmp_path: Path, head: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A seconds-long PPO run on arm6-reach; ``head`` sets the run-size keys of the config."""
    cfg = tmp_path / "ppo.yaml"
    cfg.write_text(head + "policy: {actor_hidden: [16], critic_hidden: [16]}\n"
                   "ppo: {num_mini_batches: 2, num_learning_epochs: 1}\n")
    out = tmp_path / "run"
    return out, run("train", "arm6-reach", "--config", str(cfg), "--out", str(out), "--quiet")


def test_train_writes_checkpoint_and_record(tmp_path: Path) -> None:
    out, proc = tiny_train(tmp_path, "seed: 3\nnum_envs: 4\nnum_workers: 2\nsteps_per_env: 8\n"
                                     "iterations: 2\nsave_interval: 1\n")
    assert proc.returncode == 0, proc.stderr
    record = last_json(proc.stdout)
    assert record["seed"] == 3 and record["iterations"] == 2
    assert record["env_steps"] == 2 * 4 * 8
    assert record["command"].startswith("robot-rl train arm6-reach")
    assert str(record["code_version"]).startswith("0.1.0")
    for name in ("model.pt", "model_1.pt", "model_2.pt", "history.json", "curves.png",
                 "record.json"):
        assert (out / name).is_file(), name
    from robot_rl.algos.runner import load_policy

    policy, ckpt = load_policy(out / "model.pt")
    assert ckpt["task"] == "arm6-reach" and policy.obs_dim == 30 and policy.act_dim == 6


def test_train_bad_input() -> None:
    proc = run("train", "arm6-reach", "--algo", "sac", "--quiet")
    assert proc.returncode == 2 and "unknown algorithm 'sac'; available: hinf, ppo" in proc.stderr
    proc = run("train", "arm7-reach", "--quiet")
    assert proc.returncode == 2 and "unknown task 'arm7-reach'" in proc.stderr


def test_export_and_inspect_a_trained_checkpoint(tmp_path: Path) -> None:
    out, proc = tiny_train(tmp_path, "num_envs: 2\nnum_workers: 0\nsteps_per_env: 8\n"
                                     "iterations: 1\nsave_interval: 0\n")
    assert proc.returncode == 0, proc.stderr
    proc = run("export", str(out / "model.pt"), "--out", str(tmp_path / "reach.onnx"))
    assert proc.returncode == 0, proc.stderr
    info = last_json(proc.stdout)
    assert info["robot"] == "arm6" and info["obs_dim"] == 30 and info["act_dim"] == 6
    proc = run("inspect", str(tmp_path / "reach.onnx"), "--robot", "arm6")
    assert proc.returncode == 0 and "goal_rel" in proc.stdout
    meta = last_json(proc.stdout)
    assert meta["algorithm"] == "ppo" and str(meta["code_version"]).startswith("0.1.0")
    proc = run("inspect", str(tmp_path / "reach.onnx"), "--robot", "quad12")
    assert proc.returncode == 2 and "bundle is for robot 'arm6', not 'quad12'" in proc.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes((tmp_path / "reach.onnx").read_bytes()[:100])
    proc = run("inspect", str(bad))
    assert proc.returncode == 2 and "not a valid ONNX model" in proc.stderr
    assert "Traceback" not in proc.stderr
