"""JointImpedanceController: gravity torque vs MuJoCo, drift in sim, saturation, commands."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from robot_rl.control.impedance import JointImpedanceController
from robot_rl.control.pd import JointPDController
from robot_rl.robots.arm6 import ARM6
from robot_rl.robots.quad12 import QUAD12

POSES = [
    ARM6.q0,
    np.zeros(6),
    np.array([0.3, 0.4, -0.6, 0.5, 0.2, 0.3]),
    np.array([-0.5, -0.3, -0.4, 0.8, 1.0, 0.5]),
    np.array([1.0, 0.2, -1.2, -0.5, -1.5, 1.2]),
]


@pytest.fixture(scope="module")
def ctrl() -> JointImpedanceController:
    return JointImpedanceController(ARM6)


@pytest.fixture(scope="module")
def sim() -> tuple[mujoco.MjModel, mujoco.MjData]:
    m = mujoco.MjModel.from_xml_path(str(ARM6.mjcf))
    return m, mujoco.MjData(m)


def _bias_at_rest(m: mujoco.MjModel, d: mujoco.MjData, q: np.ndarray) -> np.ndarray:
    mujoco.mj_resetDataKeyframe(m, d, 0)
    d.qpos[:6] = q
    d.qpos[6:9] = [0.3, -0.2, 0.4]  # free objects somewhere else: must not matter
    mujoco.mj_forward(m, d)
    return d.qfrc_bias[:6].copy()


@pytest.mark.parametrize("q", POSES)
def test_gravity_torque_equals_qfrc_bias_at_zero_velocity(ctrl: JointImpedanceController,
                                                          sim: tuple, q: np.ndarray) -> None:
    m, d = sim
    tau_g = ctrl.gravity_torque(q)
    np.testing.assert_allclose(tau_g, _bias_at_rest(m, d, q), atol=1e-12)
    assert tau_g[0] == 0.0  # shoulder_pan turns about the vertical: gravity does no work
    assert np.abs(tau_g[1:4]).max() > 0.01  # the pitch joints do carry weight


def test_gravity_torque_is_gradient_of_potential_energy(ctrl: JointImpedanceController,
                                                        sim: tuple) -> None:
    """tau_g = dV/dq, V = sum_i m_i g z_i, by central differences (independent of RNE)."""
    m, d = sim
    arm = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, b) for b in
           ("shoulder", "upper_arm", "lower_arm", "wrist", "gripper", "moving_jaw")]
    g = -m.opt.gravity[2]

    def potential(q: np.ndarray) -> float:
        d.qpos[:6] = q
        mujoco.mj_kinematics(m, d)
        return float(sum(m.body_mass[b] * g * d.xipos[b, 2] for b in arm))

    q = POSES[2]
    h = 1e-6
    grad = [(potential(q + h * e) - potential(q - h * e)) / (2 * h) for e in np.eye(6)]
    np.testing.assert_allclose(ctrl.gravity_torque(q), grad, atol=1e-7)


def test_inverse_dynamics_matches_mass_matrix(ctrl: JointImpedanceController,
                                              sim: tuple) -> None:
    m, d = sim
    q, ddq = POSES[3], np.array([1.0, -2.0, 0.5, 3.0, -1.0, 2.0])
    bias = _bias_at_rest(m, d, q)
    full_m = np.zeros((m.nv, m.nv))
    mujoco.mj_fullM(m, d, full_m)  # includes the rotor armature (0.028 kg m^2)
    expected = full_m[:6, :6] @ ddq + bias
    np.testing.assert_allclose(ctrl.inverse_dynamics(q, ddq), expected, atol=1e-12)
    # Coriolis: with dq, RNE equals qfrc_bias at that velocity
    dq = np.array([0.5, 1.0, -1.0, 2.0, 0.3, 0.0])
    d.qvel[:6] = dq
    mujoco.mj_forward(m, d)
    np.testing.assert_allclose(ctrl.inverse_dynamics(q, np.zeros(6), dq=dq),
                               d.qfrc_bias[:6], atol=1e-12)
    d.qvel[:] = 0.0
    np.testing.assert_allclose(ctrl.gravity_torque(q), bias, atol=1e-12)  # velocity reset


def _max_drift(m: mujoco.MjModel, d: mujoco.MjData, q: np.ndarray,
               ctrl: JointImpedanceController | None, seconds: float = 1.0) -> float:
    mujoco.mj_resetDataKeyframe(m, d, 0)
    d.qpos[:6] = q
    mujoco.mj_forward(m, d)
    tau = np.zeros(6)
    drift = 0.0
    for _ in range(int(seconds / m.opt.timestep)):
        if ctrl is not None:
            ctrl.torque(q, d.qpos[:6], d.qvel[:6], out=tau)
        d.ctrl[:] = tau
        mujoco.mj_step(m, d)
        drift = max(drift, float(np.abs(d.qpos[:6] - q).max()))
    return drift


def test_gravity_compensation_holds_the_arm_in_sim() -> None:
    m = mujoco.MjModel.from_xml_path(str(ARM6.mjcf))
    m.dof_frictionloss[:] = 0.0  # no static friction to hide a wrong compensation
    d = mujoco.MjData(m)
    comp = JointImpedanceController(ARM6, kp=0.0, kd=0.0)
    for q in (ARM6.q0, POSES[2], POSES[4]):
        with_comp = _max_drift(m, d, q, comp)
        without = _max_drift(m, d, q, None)
        # uncompensated the arm sags 0.29-0.86 rad in 1 s; compensated it stays put
        assert without > 0.2
        assert with_comp < 1e-6
        assert with_comp < 1e-4 * without


def test_hand_worked_law_and_saturation(ctrl: JointImpedanceController) -> None:
    imp = JointImpedanceController(ARM6, kp=2.0, kd=0.5)
    q = ARM6.q0
    dq = np.array([0.0, 0.2, 0.0, 0.0, 0.0, 0.0])
    q_t = q + np.array([0.1, 0.0, -0.1, 0.0, 0.0, 0.0])
    tau_g = ctrl.gravity_torque(q)
    # 2*0.1 = 0.2 ; -0.5*0.2 = -0.1 ; 2*-0.1 = -0.2 ; others 0 ; plus gravity
    expected = np.array([0.2, -0.1, -0.2, 0.0, 0.0, 0.0]) + tau_g
    np.testing.assert_allclose(imp.torque(q_t, q, dq), expected, atol=1e-12)
    # saturation: huge errors hit exactly +-tau_max (3 N m, gripper 1.5 N m)
    sat = ctrl.torque(q + 5.0, q, np.zeros(6))
    np.testing.assert_allclose(sat, ARM6.tau_max)
    sat = ctrl.torque(q - 5.0, q, np.zeros(6), ddq_target=np.full(6, -1e3))
    np.testing.assert_allclose(sat, -ARM6.tau_max)
    rng = np.random.default_rng(0)
    out = np.zeros(6)
    for _ in range(200):
        res = ctrl.torque(rng.uniform(-3, 3, 6), rng.uniform(-1.5, 1.5, 6),
                          rng.uniform(-20, 20, 6), dq_target=rng.uniform(-20, 20, 6),
                          ddq_target=rng.uniform(-500, 500, 6), out=out)
        assert res is out
        assert np.all(np.abs(out) <= ARM6.tau_max)


def test_joint_command_carries_gravity_feedforward(ctrl: JointImpedanceController) -> None:
    q, q_t = POSES[2], POSES[2] + 0.05
    cmd = ctrl.command(q_t, q)
    assert cmd.joint_names == ARM6.joint_names
    np.testing.assert_allclose(cmd.tau_ff, ctrl.gravity_torque(q))
    np.testing.assert_allclose(cmd.q_target, q_t)
    np.testing.assert_allclose(cmd.dq_target, np.zeros(6))
    np.testing.assert_allclose(cmd.kp, ARM6.kp)
    np.testing.assert_allclose(cmd.kd, ARM6.kd)
    # the motor-side PD law on this command reproduces the host-side torque
    dq = np.array([0.1, -0.2, 0.0, 0.3, 0.0, 0.0])
    motor = JointPDController(ARM6.kp, ARM6.kd, ARM6.tau_max)
    np.testing.assert_allclose(motor.torque_from_command(cmd, q, dq), ctrl.torque(q_t, q, dq),
                               atol=1e-12)


def test_floating_base_refused_unless_swing_leg_mode() -> None:
    with pytest.raises(ValueError, match="floating base"):
        JointImpedanceController(QUAD12)
    imp = JointImpedanceController(QUAD12, allow_floating_base=True)
    m = mujoco.MjModel.from_xml_path(str(QUAD12.mjcf))
    d = mujoco.MjData(m)
    dof = [m.jnt_dofadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)]
           for n in QUAD12.joint_names]
    quat = np.array([np.cos(0.2), np.sin(0.2), 0.0, 0.0])  # 0.4 rad roll
    for base_quat in (None, quat):
        if base_quat is not None:
            imp.set_base_orientation(base_quat)
            d.qpos[3:7] = base_quat
        d.qpos[7:] = QUAD12.q0
        mujoco.mj_forward(m, d)
        np.testing.assert_allclose(imp.gravity_torque(QUAD12.q0), d.qfrc_bias[dof], atol=1e-12)
    with pytest.raises(ValueError, match="no floating base"):
        JointImpedanceController(ARM6).set_base_orientation(quat)
