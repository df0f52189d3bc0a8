"""The reality proxy: seeded perturbations, partly outside the training randomisation, a
different integrator and timestep, sensor errors and actuation latency; the robot still
stands on it through its motor laws."""

from __future__ import annotations

import mujoco
import numpy as np

from hardware.sim_plant import MitLaw, SimPlant
from robot_rl.envs import load_task_config
from sim2real.proxy import ProxyParams, reality_proxy


def test_params_are_seeded_and_reach_outside_the_training_ranges() -> None:
    plant = SimPlant("quad12", realtime=0)
    a, b = ProxyParams.sample(3, plant.model), ProxyParams.sample(3, plant.model)
    assert a == b and a != ProxyParams.sample(4, plant.model)
    dr = load_task_config("quad12-walk").domain_rand  # type: ignore[attr-defined]
    outside = 0
    for seed in range(20):
        p = ProxyParams.sample(seed, plant.model)
        outside += not dr.friction[0] <= p.friction_scale <= dr.friction[1]
        outside += any(not dr.motor_strength[0] <= m <= dr.motor_strength[1]
                       for m in p.motor_strength)
    assert outside >= 10


def test_proxy_model_differs_from_the_nominal_one() -> None:
    nominal = SimPlant("quad12", realtime=0)
    proxy = SimPlant("quad12", realtime=0, perturbation=reality_proxy(1))
    m0, m1, p = nominal.model, proxy.model, proxy.proxy
    assert p is not None
    assert m1.opt.timestep == 0.001 and m1.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert m0.opt.timestep == 0.005
    np.testing.assert_allclose(m1.body_mass[1:], m0.body_mass[1:] * np.array(p.mass_scale))
    np.testing.assert_allclose(m1.geom_friction[:, 0], m0.geom_friction[:, 0] * p.friction_scale)
    np.testing.assert_allclose(m1.actuator_gear[:, 0], np.array(p.motor_strength))
    # sensor errors: the measured joint differs from the true one, by about the noise level
    q_true = float(proxy.robot.q[0])
    q_meas = [proxy.joint_state(0)[0] for _ in range(200)]
    assert 0.5 * p.q_noise < np.std(np.array(q_meas) - q_true) < 2.0 * p.q_noise


def test_quad12_stands_on_several_proxies_and_latency_delays_torque() -> None:
    for seed in (0, 1, 2):
        plant = SimPlant("quad12", realtime=0, perturbation=reality_proxy(seed))
        s = plant.spec
        for j in range(s.n_joints):
            plant.set_law(j, MitLaw(tau_max=float(s.tau_max[j]), p_des=float(s.q0[j]),
                                    kp=float(s.kp[j]), kd=float(s.kd[j]), enabled=True))
        plant.step(int(2.0 / plant.dt))
        st = plant.state()
        assert st.base_pos is not None and st.base_pos[2] > 0.18, seed
    plant = SimPlant("quad12", realtime=0, perturbation=reality_proxy(1))
    assert plant.proxy is not None
    k = plant.proxy.latency_ticks
    assert k == 2
    plant.set_law(2, MitLaw(tau_max=40.0, t_ff=5.0, enabled=True))
    forces = []
    for _ in range(k + 2):
        plant.step()
        forces.append(float(plant.data.actuator_force[plant.robot.act_ids[2]]))
    assert all(f == 0.0 for f in forces[:k]) and forces[k] != 0.0
