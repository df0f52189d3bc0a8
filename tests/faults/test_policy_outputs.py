"""Issue 21, case 3: a policy's output is judged raw, before any clip; a bundle is run before
it is swapped in.

±inf used to be clipped to ±action_clip and arrive as a finite full-scale offset (the robot
fell); outputs x1e9 the same; a NaN-producing bundle hot-swapped in was accepted because
nothing ran it first (the hot swap through the graph, both modes: test_bad_messages.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
    from robot_rl.safety.chain import SafetyChain
    from robot_rl.safety.robot_config import CONFIG_DIR, load_robot_config

    rcfg = load_robot_config(CONFIG_DIR / "quad12.yaml")
    spec = rcfg.effective_spec()
    chain = SafetyChain.from_config(rcfg.safety, spec, 0.02)
    ctl = PolicyController(spec, bundles["quad12_inf"])
    st = _standing()
    out = chain.step(ctl.step(st, 0.0), st, 0.0, command_t=0.0)
    assert chain.mode == Mode.HOLD and np.isfinite(out.q_target).all() and out.kp.any()
    assert np.all(out.q_target >= spec.q_min) and np.all(out.q_target <= spec.q_max)
