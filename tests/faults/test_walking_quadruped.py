"""Issue 21, cases 6 and 7, through the ROS 2 graph on the reality proxy with the shipped
walking policy.

Case 6: ``/teleop/intervention`` true with no teleop command turned a walking quadruped's
command into a frozen pose, and it tipped over (roll 0.82 after 0.35 s); now quad12's
fallback stops it and stands it on all four feet (`robot_rl.safety.fallback`), in both graph
modes. Case 7: the one-process-per-node start-up fell in 11 of 21 runs (the robot sank onto
its belly while passive, and the stand-up at the policy's gains could not lift it); now the
soft start stands up with the stand-up gains and waits to be standing before the policy takes
over."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphs import MODES, deploy_config, publish, safety_mode, start, wait_for
from std_msgs.msg import Bool

from robot_rl.deploy.report import count_falls

REPO = Path(__file__).resolve().parents[2]
WALK = REPO / "pretrained" / "quad12_walk_ppo.onnx"


def _walking(tmp_path: Path) -> tuple[Path, object]:
    return deploy_config(tmp_path, WALK, backend="proxy",
                         script=[{"t": 0.0, "cmd": [0.5, 0.0, 0.0]}],
                         bridge={"soft_start_s": 1.0, "shutdown_damp_s": 0.5})


@pytest.mark.parametrize("mode", MODES)
def test_start_walk_and_an_intervention_without_teleop_never_fall(mode: str,
                                                                   tmp_path: Path) -> None:
    path, cfg = _walking(tmp_path)
    g = start(mode, path, cfg, tmp_path)
    try:
        g.activate()  # (processes: after the passive wait the robot lies on its belly)
        assert wait_for(lambda: safety_mode(g) == "ACTIVE", 15.0)
        g.run(4.0)  # walking at 0.5 m/s (after the stand-up)
        assert safety_mode(g) == "ACTIVE", (safety_mode(g), g.operator.safety_status)
        publish(g, Bool, "/teleop/intervention", Bool(data=True), times=1)
        assert wait_for(lambda: safety_mode(g) == "HOLD", 1.0), (safety_mode(g),
                                                                 g.operator.safety_status)
        g.run(3.0)
        assert safety_mode(g) == "HOLD"  # standing, not damped
    finally:
        stats = g.stop()
    truth = stats["hardware_bridge"]["truth"]
    # no fall from the activation on: the stand-up from the ground (case 7), the walk, the
    # HOLD (case 6)
    assert truth and count_falls(cfg, truth) == 0  # type: ignore[arg-type]
    rows = truth["rows"]
    assert rows[-1][3] > 0.2, rows[-1][3]  # still up at the end (base height [m])
    if mode == "processes":  # it stood up with the stand-up gains
        assert "stand" in stats["safety_node"]["modes"], stats["safety_node"]["modes"]
