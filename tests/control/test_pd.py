"""The PD law (`pd_torque`, `pd_target_range`) and `JointPDController`: hand-worked torques,
saturation, NaN / inf, batch shapes."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.control import JointPDController
from robot_rl.control.pd import pd_target_range, pd_torque
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


def test_pd_torque_by_hand() -> None:
    q_t, q, dq = np.array([0.5, -1.0]), np.array([0.1, 0.0]), np.array([1.0, -2.0])
    kp, kd = np.array([10.0, 20.0]), np.array([0.5, 1.0])
    dq_t, ff = np.array([0.0, 1.0]), np.array([0.3, -2.0])
    # a: 10 (0.5 - 0.1) + 0.5 (0 - 1) + 0.3 = 3.8; b: 20 (-1 - 0) + 1 (1 + 2) - 2 = -19
    np.testing.assert_allclose(pd_torque(q_t, q, dq, kp, kd, dq_t, ff), [3.8, -19.0])
    np.testing.assert_allclose(pd_torque(q_t, q, dq, kp, kd, dq_t, ff, np.array([3.0, 10.0])),
                               [3.0, -10.0])
    # no velocity target: -kd dq; no feed-forward: 0. a: 4 - 0.5 = 3.5; b: -20 + 2 = -18
    np.testing.assert_allclose(pd_torque(q_t, q, dq, kp, kd), [3.5, -18.0])
    out = np.zeros(2)
    assert pd_torque(q_t, q, dq, kp, kd, tau_max=np.array([3.0, 30.0]), out=out) is out
    np.testing.assert_allclose(out, [3.0, -18.0])


def test_pd_torque_nan_stays_nan_and_inf_saturates() -> None:
    kp, kd, lim = np.full(4, 10.0), np.full(4, 0.5), np.full(4, 5.0)
    q_t = np.array([np.nan, 0.0, 0.0, 0.0])
    q = np.array([0.0, -np.inf, 0.0, 0.0])
    dq = np.array([0.0, 0.0, np.inf, 1e300])
    tau = pd_torque(q_t, q, dq, kp, kd, tau_max=lim)
    assert np.isnan(tau[0])  # never clipped into a plausible torque
    assert tau[1] == 5.0  # an infinite position error saturates
    assert tau[2] == -5.0  # so does an infinite (or huge) velocity
    assert tau[3] == -5.0


@pytest.mark.parametrize("shape", [(2,), (3, 2), (4, 3, 2)])
def test_pd_torque_broadcasts_over_batch_dimensions(shape: tuple[int, ...]) -> None:
    """One robot (n,), K robots (K, n), M sub-steps of T ticks (T, M, n) with gains (n,):
    every row is the two-joint law of test_pd_torque_by_hand with dq_target 0: a: 4 - 0.5 +
    0.3 = 3.8, saturated to 3; b: -20 + 2 - 2 = -20."""
    q_t, q, dq = (np.broadcast_to(v, shape) for v in ([0.5, -1.0], [0.1, 0.0], [1.0, -2.0]))
    tau = pd_torque(q_t, q, dq, np.array([10.0, 20.0]), np.array([0.5, 1.0]),
                    np.zeros(2), np.array([0.3, -2.0]), np.array([3.0, 30.0]))
    assert tau.shape == shape
    np.testing.assert_allclose(tau.reshape(-1, 2), np.tile([3.0, -20.0], (tau.size // 2, 1)))
    # gains per tick (T, 1, n) against states per sub-step (T, M, n)
    kp = np.array([[[10.0, 20.0]], [[0.0, 0.0]]])
    tau = pd_torque(np.ones((2, 3, 2)), np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), kp,
                    np.zeros((2, 1, 2)))
    np.testing.assert_array_equal(tau[0], [[10.0, 20.0]] * 3)
    np.testing.assert_array_equal(tau[1], np.zeros((3, 2)))


def test_pd_target_range_by_hand() -> None:
    q, dq = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    kp, kd = np.array([10.0, 20.0]), np.array([0.5, 1.0])
    dq_t, ff, lim = np.array([0.0, 0.5]), np.array([0.3, 0.0]), np.array([5.0, 10.0])
    lo, hi = pd_target_range(-lim, lim, q, dq, kp, kd, dq_t, ff)
    # rest (the torque at target = q): a: 0.5 (0 - 1) + 0.3 = -0.2; b: 1 (0.5 - 0) = 0.5
    # a: (-5 + 0.2) / 10 = -0.48 .. (5 + 0.2) / 10 = 0.52; b: 1 + (-10.5) / 20 .. 1 + 9.5 / 20
    np.testing.assert_allclose(lo, [-0.48, 0.475])
    np.testing.assert_allclose(hi, [0.52, 1.475])
    np.testing.assert_allclose(pd_torque(lo, q, dq, kp, kd, dq_t, ff), -lim)
    np.testing.assert_allclose(pd_torque(hi, q, dq, kp, kd, dq_t, ff), lim)


def test_controller_is_the_law_for_any_input_and_follows_its_gains() -> None:
    kp, kd, lim = np.array([10.0, 20.0]), np.array([0.5, 1.0]), np.array([3.0, 30.0])
    pd = JointPDController(kp, kd, lim)
    want = [3.0, -18.0]  # test_pd_torque_by_hand without dq_target, tau_ff: 3.5 saturated
    np.testing.assert_allclose(pd.torque([0.5, -1.0], [0.1, 0.0], [1.0, -2.0]), want)  # type: ignore[arg-type]
    np.testing.assert_allclose(pd.torque(np.array([0.5, -1.0], np.float32), np.array([0.1, 0.0]),
                                         np.array([1.0, -2.0])), want, rtol=1e-6)
    pd.kp[:] = [0.0, 0.0]  # gains changed in place (domain randomisation) take effect
    np.testing.assert_allclose(pd.torque(np.array([0.5, -1.0]), np.array([0.1, 0.0]),
                                         np.array([1.0, -2.0])), [-0.5, 2.0])
    batch = JointPDController(np.tile(kp, (3, 1)), np.tile(kd, (3, 1)), np.tile(lim, (3, 1)))
    out = np.zeros((3, 2))
    assert batch.torque(np.tile([0.5, -1.0], (3, 1)), np.tile([0.1, 0.0], (3, 1)),
                        np.tile([1.0, -2.0], (3, 1)), out=out) is out
    np.testing.assert_allclose(out, [want] * 3)
