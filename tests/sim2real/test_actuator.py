"""Actuator models: the DC-motor envelope, friction and backlash with hand-worked numbers,
the proxy's motors in the plant, and an actuator network that predicts held-out torque
better than the ideal PD model."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.sim_plant import Backlash, MitLaw, SimPlant
from sim2real.actuator import actuator_report, ideal_pd_torque
from sim2real.experiment import excite_proxy
from sim2real.log import SysIdLog
from sim2real.motor import DCMotorModel
from sim2real.proxy import ProxyParams, reality_proxy
from sim2real.regressors import applied_torque


def motor(**over: float) -> DCMotorModel:
    args = {"tau_stall": 20.0, "omega_max": 10.0, "coulomb": 0.5, "viscous": 0.1,
            "backlash": 0.02}
    args.update(over)
    return DCMotorModel(**{k: np.array([v]) for k, v in args.items()})


def test_torque_speed_envelope_and_friction_hand_worked() -> None:
    m = motor()
    # motoring at 4 rad/s: cap 20 (1 - 4/10) = 12; braking: only the stall limit
    assert m.envelope(np.array([15.0]), np.array([4.0]))[0] == pytest.approx(12.0)
    assert m.envelope(np.array([-15.0]), np.array([4.0]))[0] == pytest.approx(-15.0)
    assert m.envelope(np.array([-25.0]), np.array([4.0]))[0] == pytest.approx(-20.0)
    assert m.envelope(np.array([5.0]), np.array([12.0]))[0] == 0.0  # beyond no-load speed
    assert m.envelope(np.array([5.0]), np.array([0.0]))[0] == 5.0
    # friction: 0.5 tanh(2 / 0.01) + 0.1 x 2 = 0.7
    assert m.friction(np.array([2.0]))[0] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="omega_max"):
        motor(omega_max=0.0)
    with pytest.raises(ValueError, match="coulomb"):
        motor(coulomb=-1.0)


def test_backlash_is_a_play_operator() -> None:
    b = Backlash(np.array([0.02]), np.array([0.0]))
    assert b.update(np.array([0.005]))[0] == 0.0  # inside the play: the motor stays
    assert b.update(np.array([0.03]))[0] == pytest.approx(0.02)  # pushed along
    assert b.update(np.array([0.025]))[0] == pytest.approx(0.02)  # reversal: dead band
    assert b.update(np.array([0.0]))[0] == pytest.approx(0.01)


def test_the_proxy_plant_runs_its_motors() -> None:
    plant = SimPlant("quad12", realtime=0, perturbation=reality_proxy(3))
    m = plant.motor
    assert m is not None and plant.proxy is not None and plant.proxy.motor is not None
    assert np.all(m.omega_max >= plant.spec.dq_max) and np.all(m.backlash <= 0.01)
    # the draws before the motors are those of a proxy sampled without them
    bare = ProxyParams.sample(3, plant.model)
    assert bare.motor_strength == plant.proxy.motor_strength and bare.motor is None
    # repositioned joints: the motor-side encoders follow (no stale play from the old pose)
    q1 = plant.spec.q0 + 0.3
    plant.set_joint_positions(q1)
    assert plant.backlash is not None
    np.testing.assert_allclose(plant.backlash.q_motor, q1)
    plant.set_joint_positions(plant.spec.q0)
    for j in range(12):
        plant.set_law(j, MitLaw(tau_max=float(plant.spec.tau_max[j]), p_des=0.0, kp=20.0,
                                kd=0.5, enabled=True))
    plant.step(20)
    delivered = plant.delivered_torque()
    reported = np.array([plant.joint_state(j)[2] for j in range(12)])
    # delivered = strength x reported - gearbox friction (friction from the speed one step
    # earlier: hence the tolerance, far below the strength's effect of 0.1-5 N m here)
    strength = np.array(plant.proxy.motor_strength)[plant.robot.act_ids]
    dq = plant.robot.dq
    np.testing.assert_allclose(delivered, strength * reported - m.friction(dq), atol=0.02)
    assert np.abs(delivered - reported).max() > 0.1


def test_the_ideal_pd_model_is_the_pd_law_hand_worked() -> None:
    """`ideal_pd_torque` and `applied_torque` (on a state held over the interval) are the law
    kp (q* - q) + kd (dq* - dq) + tau_ff, clipped at the torque limit."""
    rows = 3
    one = np.ones((rows, 1))
    log = SysIdLog(robot="x", control_dt=0.005, fixed_base=True, t=np.arange(rows) * 0.005,
                   q=0.0 * one, dq=1.0 * one, tau=0.0 * one, q_target=0.1 * one,
                   dq_target=0.0 * one, kp=20.0 * one, kd=0.5 * one,
                   tau_ff=np.array([[0.2], [-0.8], [0.0]]))
    # 20 x 0.1 - 0.5 x 1 + tau_ff = 1.7 (clipped to 1.5), 0.7, 1.5
    expected = np.array([[1.5], [0.7], [1.5]])
    np.testing.assert_allclose(ideal_pd_torque(log, np.array([1.5])), expected)
    np.testing.assert_allclose(applied_torque(log, log.q, log.dq, substeps=4,
                                              tau_max=np.array([1.5])), expected[:-1])


def test_actuator_net_beats_the_ideal_pd_model_on_held_out_data(tmp_path) -> None:
    log = excite_proxy("quad12", 0, seconds=30.0)
    assert log.tau_delivered is not None
    rep = actuator_report(log, out=str(tmp_path))
    assert rep["actuator_net"]["rms"] < 0.6 * rep["ideal_pd"]["rms"], rep
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "actuator_net.onnx"))
    x = np.zeros((4, len(rep["inputs"])), dtype=np.float32)
    assert sess.run(None, {"x": x})[0].shape == (4,)
