"""Issue 21, case 3: a policy's output is judged raw, before any clip; a bundle is run before
it is swapped in.

±inf used to be clipped to ±action_clip and arrive as a finite full-scale offset (the robot
fell); outputs x1e9 the same; a NaN-producing bundle hot-swapped in was accepted because
nothing ran it first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from graphs import MODES, deploy_config, safety_mode, start, wait_for
from robot_rl_ros.inject import set_policy

from robot_rl.robots import get_robot
from robot_rl.runtime.controller import PolicyController
from robot_rl.safety.core import Mode
from robot_rl.types import RobotState

SPEC = get_robot("quad12")


def _standing() -> RobotState:
    n = SPEC.n_joints
    return RobotState(t=0.0, q=SPEC.q0.copy(), dq=np.zeros(n))


@pytest.mark.parametrize("kind", ["quad12_nan", "quad12_inf", "quad12_huge"])
def test_a_bad_output_becomes_nan_targets_not_a_clipped_offset(
        kind: str, bundles: dict[str, Path]) -> None:
    ctl = PolicyController(SPEC, bundles[kind])
    cmd = ctl.step(_standing(), 0.0)
    assert np.isnan(cmd.q_target).all()  # the safety chain's non-finite guard sees it
    assert ctl.output_faults == 1 and ctl.last_fault
    assert not ctl.last_action.any()  # never fed back into the next observation


def test_a_good_output_is_decoded_as_before(bundles: dict[str, Path]) -> None:
    ctl = PolicyController(SPEC, bundles["quad12_random"])
    cmd = ctl.step(_standing(), 0.0)
    assert np.isfinite(cmd.q_target).all() and ctl.output_faults == 0


def test_the_chain_holds_its_fallback_on_a_nan_command(bundles: dict[str, Path]) -> None:
    from robot_rl.robots.config import CONFIG_DIR, load_robot_config
    from robot_rl.safety.chain import SafetyChain

    rcfg = load_robot_config(CONFIG_DIR / "quad12.yaml")
    spec = rcfg.effective_spec()
    chain = SafetyChain.from_config(rcfg.safety, spec, 0.02)
    ctl = PolicyController(spec, bundles["quad12_inf"])
    st = _standing()
    out = chain.step(ctl.step(st, 0.0), st, 0.0, command_t=0.0)
    assert chain.mode == Mode.HOLD and np.isfinite(out.q_target).all() and out.kp.any()
    assert np.all(out.q_target >= spec.q_min) and np.all(out.q_target <= spec.q_max)


@pytest.mark.parametrize("mode", MODES)
def test_a_nan_bundle_is_refused_before_the_hot_swap(mode: str, bundles: dict[str, Path],
                                                     tmp_path: Path) -> None:
    path, cfg = deploy_config(tmp_path, bundles["quad12_stand"])
    g = start(mode, path, cfg, tmp_path)
    try:
        g.activate()
        g.run(1.0, script=False)
        refused = set_policy(g, bundles["quad12_nan"])  # (metadata fits: the trial run says)
        if mode == "in_process":
            pol = g.policy
            assert refused and "non-finite policy output" in pol.swap_log[-1]["reason"]
            assert wait_for(lambda: pol.get_parameter("policy_path").value
                            == str(bundles["quad12_stand"]), 5.0)  # set back
        g.run(1.0, script=False)
        assert safety_mode(g) == "ACTIVE"  # the old policy ran on, nothing held
    finally:
        stats = g.stop()
    if mode == "processes":
        swaps = stats["policy_node"]["swaps"]
        assert swaps and not swaps[-1]["ok"] and "non-finite" in swaps[-1]["reason"], swaps
        assert stats["policy_node"]["policy"] == str(bundles["quad12_stand"])
