"""SimPlant: motor laws evaluated at every physics step, real-time pacing."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hardware.sim_plant import MitLaw, PositionServoLaw, SimPlant
from sim2real.proxy import reality_proxy


def test_servo_laws_hold_the_arm_at_its_goals_and_limp_when_disabled() -> None:
    plant = SimPlant("arm6", realtime=0)
    spec = plant.spec
    goals = spec.q0 + np.array([0.3, -0.2, 0.2, 0.1, 0.5, 0.0])
    laws = [PositionServoLaw(kp=float(spec.kp[j]), kd=float(spec.kd[j]),
                             tau_max=float(spec.tau_max[j]), goal=float(goals[j]), enabled=True)
            for j in range(spec.n_joints)]
    for j, law in enumerate(laws):
        plant.set_law(j, law)
    plant.step(int(2.0 / spec.physics_dt))
    q = np.array([plant.joint_state(j)[0] for j in range(spec.n_joints)])
    assert np.abs(q - goals).max() < 0.08  # position loop against gravity
    tau = np.array([plant.joint_state(j)[2] for j in range(spec.n_joints)])
    assert np.all(np.abs(tau) <= spec.tau_max + 1e-9)
    for law in laws:
        law.enabled = False
    plant.step(int(1.0 / spec.physics_dt))
    assert all(plant.joint_state(j)[2] == 0.0 for j in range(spec.n_joints))


def test_mit_laws_make_the_quadruped_stand() -> None:
    plant = SimPlant("quad12", realtime=0)
    s = plant.spec
    for j in range(s.n_joints):
        plant.set_law(j, MitLaw(tau_max=float(s.tau_max[j]), p_des=float(s.q0[j]),
                                kp=float(s.kp[j]), kd=float(s.kd[j]), enabled=True))
    plant.step(int(3.0 / s.physics_dt))
    st = plant.state()
    assert st.base_pos is not None and st.base_pos[2] > 0.2
    assert np.abs(st.q - s.q0).max() < 0.4  # kp 20: the calves sag ~0.3 rad under 14.6 kg


def test_realtime_pacing() -> None:
    plant = SimPlant("arm6", realtime=1.0)
    with plant:
        time.sleep(0.5)
    sim_s = plant.steps * plant.spec.physics_dt
    assert sim_s == pytest.approx(0.5, abs=0.15)


def test_motor_encoders_read_the_link_now_within_the_backlash() -> None:
    """With a motor model, the encoder sits behind the gearbox's play: after every physics
    step it is within half the play of where the link is now (not where it was a step ago:
    a 1 ms stale position reads as -kp x 1 ms of extra damping in every fit on its data)."""
    plant = SimPlant("quad12", realtime=0, perturbation=reality_proxy(0))
    s = plant.spec
    assert plant.backlash is not None
    half = plant.backlash.half
    far = s.q0 + 0.4 * np.sign(s.q_max - s.q0)  # fast moves: the play is taken up
    for j in range(s.n_joints):
        plant.set_law(j, MitLaw(tau_max=float(s.tau_max[j]), p_des=float(far[j]),
                                kp=float(s.kp[j]), kd=float(s.kd[j]), enabled=True))
    lag = 0.0
    for _ in range(300):
        q_before = plant.robot.q.copy()
        plant.step(1)
        q_link = plant.robot.q
        assert np.all(np.abs(plant.backlash.q_motor - q_link) <= half + 1e-12)
        lag = max(lag, float(np.max(np.abs(q_link - q_before) - half)))
    assert lag > 0.0  # a step moved some joint by more than its half play: the test can fail
