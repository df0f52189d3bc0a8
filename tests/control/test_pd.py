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


@pytest.mark.parametrize("shape", [(12,), (3, 12)])
def test_c_kernel_equals_the_numpy_formulation_bit_for_bit(shape: tuple[int, ...]) -> None:
    """The C call (float64 arrays) and the numpy path (lists) give the same bits, saturation,
    NaN and huge values included, with and without dq_target / tau_ff."""
    rng = np.random.default_rng(3)
    pd = JointPDController(rng.uniform(0, 60, shape), rng.uniform(0, 3, shape),
                           rng.uniform(5, 40, shape))
    for trial in range(50):
        q_t, q, dq = (rng.normal(0, 3, shape) for _ in range(3))
        dq_t = rng.normal(0, 5, shape) if trial % 2 else None
        ff = rng.normal(0, 30, shape) if trial % 3 else None
        if trial % 5 == 0:
            q_t.flat[0], dq.flat[1], q.flat[2] = np.nan, 1e300, -np.inf
        fast = pd.torque(q_t, q, dq, dq_t, ff)
        slow = pd.torque(q_t.tolist(), q, dq, dq_t, ff)  # lists: the numpy formulation
        np.testing.assert_array_equal(fast, slow)
        assert np.all((np.abs(fast) <= pd.tau_max) | np.isnan(fast))
        if trial % 5 == 0:
            assert np.isnan(fast.flat[0])  # NaN is never clipped into a plausible torque
            assert fast.flat[1] == -pd.tau_max.flat[1]  # a huge velocity saturates
            assert fast.flat[2] == pd.tau_max.flat[2]  # so does an infinite error


def test_kernel_refuses_bad_buffers_by_name() -> None:
    from robot_rl.safety import _kernels as K
    z = np.zeros(3)
    with pytest.raises(ValueError, match="out has 2 values, expected 3"):
        K.pd_torque(z, z, z, z, z, z + 1, None, None, np.zeros(2))
    with pytest.raises(TypeError, match="out must be a C-contiguous writable"):
        K.pd_torque(z, z, z, z, z, z + 1, None, None, z.copy().setflags(write=False) or
                    np.frombuffer(bytes(24)))
    with pytest.raises(TypeError, match="dq must be float64"):
        K.pd_torque(z, z, z.astype(np.float32), z, z, z + 1, None, None, np.zeros(3))
