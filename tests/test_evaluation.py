"""`robot-rl eval`: the suites measure what they claim on policies whose behaviour is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl.cli import main
from robot_rl.envs import make_env
from robot_rl.evaluation import DR_OFF, EvalConfig, evaluate
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


def _summary(algorithm: str, surv: float, err: float, bundle: str, **over: object) -> dict:
    row = {"survived": surv, "vel_error": err}
    s = {"bundle": bundle, "task": "quad12-walk", "algorithm": algorithm, "episodes": 10,
         "seconds": 20.0, "seed": 1000,
         "push": {"push=1.0m/s": row, "push=2.0m/s": {"survived": 0.0,
                                                      "vel_error": float("nan")}}}
    s.update(over)
    return s


def test_compare_gives_mean_and_sample_std_over_seeds_per_method(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture
                                                                 ) -> None:
    from robot_rl.evaluation import compare, compare_markdown

    runs = [_summary("ppo", 0.6, 0.30, "p0.onnx"), _summary("ppo", 0.8, 0.20, "p1.onnx"),
            _summary("ppo", 1.0, 0.10, "p2.onnx"), _summary("hinf", 0.9, 0.25, "h0.onnx")]
    cmp = compare(runs)
    ppo = cmp["methods"]["ppo"]
    assert ppo["n"] == 3 and cmp["methods"]["hinf"]["n"] == 1
    row = ppo["push"]["push=1.0m/s"]
    assert row["survived_mean"] == pytest.approx(0.8) and row["survived_std"] == pytest.approx(0.2)
    assert row["vel_error_mean"] == pytest.approx(0.2)
    assert row["vel_error_std"] == pytest.approx(0.1)
    # one policy: no spread; no measurable episode: no error value
    assert cmp["methods"]["hinf"]["push"]["push=1.0m/s"]["survived_std"] is None
    assert ppo["push"]["push=2.0m/s"]["vel_error_mean"] is None
    md = compare_markdown(cmp)
    assert "| push=1.0m/s | 0.80 ± 0.20 | 0.200 ± 0.100 | 0.90 | 0.250 |" in md
    # the CLI writes the table, the JSON and the plot
    paths = []
    for i, s in enumerate(runs):
        p = tmp_path / f"eval{i}.json"
        p.write_text(json.dumps(s))
        paths.append(str(p))
    assert main(["eval-compare", *paths, "--out", str(tmp_path / "cmp")]) == 0
    for name in ("compare.json", "compare.md", "compare.png"):
        assert (tmp_path / "cmp" / name).stat().st_size > 100
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["methods"]["ppo"]["n"] == 3


def test_compare_refuses_unlike_evaluations(tmp_path: Path) -> None:
    from robot_rl.evaluation import compare

    a = _summary("ppo", 1.0, 0.1, "a.onnx")
    with pytest.raises(ValueError, match="other settings.*episodes 5 vs 10"):
        compare([a, _summary("hinf", 1.0, 0.1, "b.onnx", episodes=5)])
    b = _summary("hinf", 1.0, 0.1, "b.onnx")
    b["force"] = b.pop("push")
    with pytest.raises(ValueError, match="other suites"):
        compare([a, b])
    with pytest.raises(ValueError, match="not an `robot-rl eval` summary"):
        compare([a, {"bundle": "x"}])
    with pytest.raises(ValueError, match="no evaluation summaries"):
        compare([])
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["eval-compare", str(bad)]) != 0


class _Alternating:
    """Every joint's action alternates 0, ``amp``, 0, ``amp`` ...: |Δa| = amp each step."""

    def __init__(self, amp: float, n: int) -> None:
        self.amp, self.n, self.k = amp, n, 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.k += 1
        return np.full(self.n, self.amp * (self.k % 2), dtype=np.float32)


def test_action_rate_and_torque_limit_fraction_measure_how_hard_the_motors_are_driven() -> None:
    """On arm6 (kp 17.8 N m/rad, tau_max 3 N m, 1 rad per action unit): holding still needs
    no torque near the limit, 0.05 rad swings neither, 1 rad swings every 20 ms saturate the
    motors; with the robot's limits in the env (its torque_limit stage), they do not."""
    from robot_rl.evaluation import _episode

    offset = {"domain_rand": DR_OFF, "episode_s": 2.0, "action_type": "joint_pos_offset",
              "action_scale": None}  # (arm6-reach trains delta actions)
    env = make_env("arm6-reach", overrides=offset)
    limited = _episode(env, _Alternating(1.0, 6), np.array([0.22, 0.0, 0.12]), seed=0,
                       settle_s=0.5)  # type: ignore[arg-type]
    assert limited["torque_limit_frac"] < 0.1, limited
    env.close()
    env = make_env("arm6-reach", overrides={**offset, "safety_limits": []})
    goal = np.array([0.22, 0.0, 0.12])
    try:
        rows = {amp: _episode(env, _Alternating(amp, 6), goal, seed=0,  # type: ignore[arg-type]
                              settle_s=0.5) for amp in (0.0, 0.05, 1.0, 3.0)}
    finally:
        env.close()
    for amp, row in rows.items():  # (3.0 is executed clipped to the task's action_clip 1)
        assert row["action_rate"] == pytest.approx(min(amp, 1.0), abs=1e-6), row
    assert rows[0.0]["torque_limit_frac"] == 0.0 and rows[0.05]["torque_limit_frac"] < 0.05
    assert rows[1.0]["torque_limit_frac"] > 0.5, rows[1.0]


def test_a_bundle_is_evaluated_with_the_action_decoding_it_was_trained_with(
        tmp_path: Path) -> None:
    """arm6-reach trains joint_pos_delta actions now; a bundle that records offset actions
    (q0 + 1.0 rad * a, as the bundles before) is stepped in an env that decodes them so."""
    from robot_rl.evaluation import _make
    from robot_rl.runtime.policy import OnnxPolicy

    env = make_env("arm6-reach")
    assert env.cfg.action_type == "joint_pos_delta"
    policy = ActorCritic(env.obs_builder.dim, 6, (16,), (16,))
    path = export_actor(policy, tmp_path / "offset.onnx", robot="arm6",
                        obs_layout=env.obs_builder.layout(), action_type="joint_pos_offset",
                        action_scale=1.0, policy_dt=0.02, algorithm="test",
                        extra={"action_clip": 0.5})
    env.close()
    env = _make("arm6-reach", 1.0, OnnxPolicy(path))
    assert (env.cfg.action_type, env.action_scale, env.cfg.action_clip) == (
        "joint_pos_offset", 1.0, 0.5)
    env.reset(seed=0)
    env.step(np.ones(6, dtype=np.float32))
    np.testing.assert_allclose(env.action_target, env.robot_spec.q0 + 0.5)  # clipped at 0.5
    env.close()
