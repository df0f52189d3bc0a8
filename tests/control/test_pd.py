"""Joint PD controller: hand-worked torques and saturation."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.control import JointPDController
from robot_rl.types import JointCommand


def test_hand_worked_torque_and_saturation() -> None:
    pd = JointPDController(kp=np.array([20.0, 20.0, 20.0]), kd=np.array([0.5, 0.5, 0.5]),
                           tau_max=np.array([23.7, 23.7, 35.55]))
    q_t = np.array([0.1, 1.0, -3.0])
    q = np.array([0.0, 0.0, 0.0])
    dq = np.array([2.0, 0.0, 0.0])
    # 20*0.1 - 0.5*2 = 1.0 ; 20*1 = 20 ; 20*-3 = -60 → -35.55
    np.testing.assert_allclose(pd.torque(q_t, q, dq), [1.0, 20.0, -35.55])
    # with velocity target and feed-forward: 20*0.1 + 0.5*(1-2) + 0.3 = 1.8
    tau = pd.torque(q_t, q, dq, dq_target=np.array([1.0, 0, 0]), tau_ff=np.array([0.3, 0, 0]))
    assert tau[0] == pytest.approx(1.8)
    out = np.zeros(3)
    res = pd.torque(q_t, q, dq, out=out)
    assert res is out


def test_torque_from_command_uses_command_gains() -> None:
    pd = JointPDController(np.ones(2), np.ones(2), np.full(2, 5.0))
    cmd = JointCommand(("a", "b"), np.array([1.0, 0.0]), np.zeros(2), np.array([0.0, 10.0]),
                       np.array([2.0, 0.0]), np.array([0.5, 0.0]))
    tau = pd.torque_from_command(cmd, q=np.array([0.0, 1.0]), dq=np.array([1.0, 0.0]))
    np.testing.assert_allclose(tau, [-1.5, -5.0])  # 0 - 2*1 + 0.5 ; -10 clipped to -5


def test_bad_gains_refused() -> None:
    with pytest.raises(ValueError, match="gains must be >= 0"):
        JointPDController(np.array([-1.0]), np.array([0.1]), np.array([1.0]))
    with pytest.raises(ValueError, match="shape"):
        JointPDController(np.ones(2), np.ones(3), np.ones(2))
