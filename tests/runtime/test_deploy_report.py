"""`reach_metrics` on hand-made truth rows: per-goal final distances, and the run's end
bounding which scripted goals count."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.config import from_dict
from robot_rl.deploy.config import DeployConfig
from robot_rl.deploy.report import reach_metrics


def _rows(ts: np.ndarray, ee: np.ndarray) -> list[list[float]]:
    rows = np.zeros((len(ts), 14))
    rows[:, 0], rows[:, 9], rows[:, 10], rows[:, 11:14] = ts, 1.0, 2.0, ee
    return rows.tolist()


def test_reach_metrics_scores_each_goal_within_the_run() -> None:
    cfg = from_dict(DeployConfig, {
        "robot": "arm6", "policy_path": "x.onnx", "run_s": 4.0,
        "script": [{"t": 0.0, "cmd": [0.2, 0.0, 0.1]}, {"t": 2.0, "cmd": [0.2, 0.1, 0.1]},
                   {"t": 4.0, "cmd": [0.0, 0.0, 0.3]}]})
    ts = 10.0 + np.arange(0.0, 4.04, 0.02)  # activation at 10 s; one sample past run_s
    ee = np.tile([0.2, 0.0, 0.1], (len(ts), 1))
    ee[ts - 10.0 >= 2.0] = [0.2, 0.07, 0.1]  # 3 cm short of the second goal
    m = reach_metrics(cfg, {"t_active": 10.0, "rows": _rows(ts, ee)})
    assert m["of"] == 2 and m["reached"] == 1  # the goal at t = run_s is not scored
    assert [g["final_distance_cm"] for g in m["goals"]] == pytest.approx([0.0, 3.0])
    assert m["final_distance_cm"] == pytest.approx(1.5)
    assert m["mean_abs_torque_nm"] == 1.0 and m["mean_power_w"] == 2.0
    early = reach_metrics(cfg, {"t_active": 10.0, "rows": _rows(ts, ee)}, until=1.0)
    assert early["of"] == 1 and early["reached"] == 1
    assert reach_metrics(cfg, {"t_active": None, "rows": []}) == {"samples": 0}


def test_locomotion_falls_are_going_down_once_up() -> None:
    """A robot that sat down while passive and stands up after the activation has not
    fallen (it is reported as down at activation); going down after that is one fall, and
    the tracking error skips the fallen samples."""
    from robot_rl.deploy.report import FALL_HEIGHT, locomotion_metrics

    cfg = from_dict(DeployConfig, {"robot": "quad12", "policy_path": "x.onnx", "run_s": 6.0,
                                   "script": [{"t": 0.0, "cmd": [0.5, 0.0, 0.0]}]})
    ts = 10.0 + np.arange(0.0, 6.0, 0.02)
    rows = np.zeros((len(ts), 14))
    rows[:, 0], rows[:, 4] = ts, 0.5  # walking at the commanded 0.5 m/s
    rows[:, 3] = 0.3
    rows[ts - 10.0 < 0.5, 3] = FALL_HEIGHT - 0.05  # sat down before the activation
    rows[ts - 10.0 >= 4.0, 3] = FALL_HEIGHT - 0.05  # down again at 4 s: a fall
    m = locomotion_metrics(cfg, {"t_active": 10.0, "rows": rows.tolist()})
    assert m["down_at_activation"] and m["falls"] == 1 and m["fallen_at_end"]
    assert m["vel_error_mps"] == pytest.approx(0.0)


def test_truth_recorder_keeps_active_rows_across_its_blocks() -> None:
    """Rows only while the bridge is active, one per ``every`` ticks, in order across the
    recorder's fixed blocks; the slip column only with a slip probe."""
    from types import SimpleNamespace

    from robot_rl.deploy import report
    from robot_rl.types import RobotState

    k = [0]

    def truth() -> RobotState:
        k[0] += 1
        return RobotState(t=0.0, q=np.zeros(2), dq=np.full(2, 2.0), tau=np.array([1.0, -3.0]),
                          imu_quat=np.array([1.0, 0.0, 0.0, 0.0]), imu_gyro=np.array(
                              [0.0, 0.0, 0.5]), imu_acc=np.zeros(3),
                          base_pos=np.array([float(k[0]), 0.0, 0.3]))

    bridge = SimpleNamespace(state=SimpleNamespace(value="inactive"), active_since=7.0)
    rec = report.TruthRecorder(truth, every=2, slip=lambda: np.array([0.1, np.nan, 0.3]))
    rec(bridge, None)
    rec(bridge, None)  # (inactive: no row)
    bridge.state.value = "active"
    n = report.BLOCK + 5  # into a second block
    for _ in range(2 * n):
        rec(bridge, None)
    d = rec.to_dict()
    rows = np.asarray(d["rows"])
    assert d["t_active"] == 7.0 and rows.shape == (n, report.COLUMNS)
    assert rows[:, 1].tolist() == [float(i) for i in range(1, n + 1)]  # base x, in order
    assert np.all(np.diff(rows[:, 0]) >= 0)
    assert rows[0, 3] == 0.3 and rows[0, 6] == 0.5  # z, yaw rate
    assert rows[0, 9] == 2.0 and rows[0, 10] == 8.0  # mean |tau|, sum |tau dq|
    assert d["slip"] == pytest.approx([0.2] * n)  # the mean over the feet in contact
    assert "slip" not in report.TruthRecorder(truth, every=1).to_dict()
