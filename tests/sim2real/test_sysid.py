"""System identification (`sim2real.sysid` and the modules it is built from): the excitation
is safe, the fit recovers the nominal robot's parameters, and on reality proxies the
identified model re-simulates the robot much better than the nominal one."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import pytest

from hardware import sim_plant
from robot_rl.robots import get_robot
from sim2real.experiment import Payload, attach_payload, excitation, excite_proxy, robot_model
from sim2real.log import SysIdError, SysIdLog
from sim2real.proxy import ProxyParams
from sim2real.regressors import (
    applied_torque,
    link_contacts,
    log_regressors,
    rigid_body_model,
    smooth,
)
from sim2real.report import compare
from sim2real.rollout import RolloutModel
from sim2real.sysid import fit


@pytest.fixture(scope="module")
def nominal_log() -> SysIdLog:
    return excite_proxy("quad12", None, seconds=40.0)


def test_excitation_stays_inside_the_limits_and_starts_and_ends_at_rest() -> None:
    for robot in ("quad12", "arm6"):
        spec = get_robot(robot)
        q, dq = excitation(spec, 30.0, 0.005, seed=3, amplitude=0.5, speed=0.5)
        room = np.minimum(spec.q0 - spec.q_min, spec.q_max - spec.q0)
        assert np.all(np.abs(q - spec.q0) <= 0.5 * room + 1e-9)
        assert np.all(np.abs(dq) <= 0.5 * spec.dq_max + 1e-9)
        np.testing.assert_allclose(q[0], spec.q0, atol=1e-9)
        np.testing.assert_allclose(q[-1], spec.q0, atol=1e-3)
        assert np.all(np.ptp(q, axis=0) > 0.2 * room)  # every joint moves
    with pytest.raises(SysIdError, match="amplitude"):
        excitation(get_robot("arm6"), 10.0, 0.005, amplitude=1.5)


def test_the_stand_model_hangs_the_quadruped() -> None:
    m = robot_model("quad12", fixed_base=True)
    assert m.nq == 12 and m.nv == 12 and m.nkey >= 1
    assert robot_model("quad12", fixed_base=False).nq == 19


def test_the_log_is_what_was_sent_through_the_chain_and_round_trips(
        nominal_log: SysIdLog, tmp_path: Path) -> None:
    log = nominal_log
    spec = get_robot("quad12")
    assert log.q.shape == (8000, 12) and log.control_dt == 0.005
    # the safety chain was in the loop: its soft start ramps the first commands in from the
    # measured pose, so they lag the excitation targets at first and match them later
    q_t, _ = excitation(spec, 40.0, 0.005)
    assert np.abs(log.q_target[2000:6000] - q_t[2000:6000]).max() < 1e-6
    assert np.all(np.abs(log.tau) <= spec.tau_max + 1e-9)
    back = SysIdLog.load(log.save(tmp_path / "log.npz"))
    np.testing.assert_array_equal(back.q, log.q)
    assert back.meta["source"] == "sim"
    (tmp_path / "bad.npz").write_bytes(b"not a log")
    with pytest.raises(SysIdError, match="not a sysid log"):
        SysIdLog.load(tmp_path / "bad.npz")
    with pytest.raises(SysIdError, match="no measured torque"):
        fit(SysIdLog(**{**log.__dict__, "tau": np.zeros_like(log.tau)}), latencies=(0,))


def test_fit_recovers_the_nominal_robot(nominal_log: SysIdLog) -> None:
    # the nominal sim steps at the robot's own physics_dt with Euler: fit with that physics
    res = fit(nominal_log, latencies=(0, 1, 2), max_segments=20,
              timestep=get_robot("quad12").physics_dt, integrator="euler")
    p = res.params
    assert p.latency_ticks == 0
    assert p.anchor == "mass"  # quad12's legs carry their weight: the weighing anchors it
    np.testing.assert_allclose(p.motor_strength, 1.0, atol=0.03)
    assert p.armature_scale == pytest.approx(1.0, abs=0.12)
    np.testing.assert_allclose(p.joint_damping, 0.1, rtol=0.3)  # the MJCF's 0.1 N m s/rad
    np.testing.assert_allclose(p.joint_friction, 0.2, rtol=0.25)  # and 0.2 N m
    # the linear fit's small biases (low-pass, Coulomb friction for MuJoCo's soft
    # frictionloss) re-simulate the noise-free nominal robot within a milliradian
    assert res.rms_q < 1e-3 and res.rms_q_nominal < 1e-4


def test_fit_on_a_proxy_makes_the_model_match_it() -> None:
    """The figures of docs/sim2real.md come from `robot-rl sysid` on 120 s logs; this checks
    the direction on a short one: the identified model re-simulates the proxy with less
    than half the nominal model's position error, and reports its errors."""
    log = excite_proxy("quad12", 1, seconds=40.0)
    res = fit(log, total_mass_kg=log.meta["total_mass_kg"], latencies=(0, 1, 2),
              max_segments=20)
    assert res.rms_q < 0.5 * res.rms_q_nominal, (res.rms_q, res.rms_q_nominal)
    report = compare(res.params, log.meta["truth"])
    assert report["mass_scale"]["rel_error"] < 0.1
    json.dumps(report)


def test_applied_torque_is_the_interval_mean_of_what_the_motors_applied(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`applied_torque` (the law on the logged commands and interpolated states) against the
    torque the plant applied at each physics step, averaged over each control interval; the
    motors' own reading (one instant of the interval) is further off by a velocity-
    proportional amount, which is why the fit does not use it."""
    applied: list[np.ndarray] = []
    step = sim_plant.SimPlant.step

    def recording_step(self: sim_plant.SimPlant, n: int = 1) -> None:
        for _ in range(n):
            step(self, 1)
            applied.append(self.data.actuator_force[self.robot.act_ids].copy())

    sample = ProxyParams.sample.__func__  # type: ignore[attr-defined]

    def exact_sensors(cls: type, seed: int, model: Any, spec: Any = None) -> ProxyParams:
        p = sample(cls, seed, model, spec)  # the proxy's 1 ms physics, read without noise
        p.q_noise = p.dq_noise = 0.0
        p.latency_ticks, p.motor = 0, None
        return p  # type: ignore[no-any-return]

    monkeypatch.setattr(sim_plant.SimPlant, "step", recording_step)
    monkeypatch.setattr(ProxyParams, "sample", classmethod(exact_sensors))
    log = excite_proxy("quad12", 0, seconds=8.0)
    sub = 5  # physics steps per control tick (1 ms, 5 ms)
    per_step = np.array(applied).reshape(len(log.t), sub, -1)  # row k: after tick k's command
    truth = per_step[:-1].mean(axis=1)  # intervals k -> k + 1
    found = applied_torque(log, log.q, log.dq, latency=0, substeps=sub)
    skip = 600  # after the soft start
    err = np.sqrt(np.mean((found[skip:] - truth[skip:]) ** 2))
    reading_err = np.sqrt(np.mean((log.tau[skip:-1] - truth[skip:]) ** 2))
    scale = np.sqrt(np.mean(truth[skip:] ** 2))
    assert err < 0.005 * scale  # measured: 0.0014 N m of 1.08 N m rms
    assert err < 0.1 * reading_err  # the reading: 0.060 N m off


def test_link_contacts_flag_the_ticks_where_the_arm_touches_the_table(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`link_contacts` (collision detection on the nominal model at the logged joints)
    against the contacts the plant itself had: every tick on which a link of the arm touched
    the table is flagged, and the fit leaves the intervals near them out."""
    table_ticks: list[bool] = []
    object_hits = []
    step = sim_plant.SimPlant.step

    def recording_step(self: sim_plant.SimPlant, n: int = 1) -> None:
        step(self, n)
        m, d = self.model, self.data
        hit = False
        for c in d.contact[: d.ncon]:
            b1, b2 = m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]
            names = {mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, int(b)) for b in (b1, b2)}
            hit |= "world" in names and bool(names - {"world", "cube", "peg"})
            if names & {"cube", "peg"} and names - {"world", "cube", "peg"}:
                object_hits.append(names)
        table_ticks.append(hit)

    monkeypatch.setattr(sim_plant.SimPlant, "step", recording_step)
    log = excite_proxy("arm6", None, seconds=30.0)
    model = RolloutModel("arm6")
    flagged = link_contacts(log, model)
    # mj_step detects contacts before it integrates: the contacts seen after tick k's step
    # are those of the state read at tick k
    plant = np.array(table_ticks)[: len(log.t)]
    assert plant.any()  # the excitation does touch the table: the test can fail
    assert np.all(flagged[plant])
    # the table was cleared of the loose objects first (they moved when knocked, and their
    # later contacts were where no model expected them)
    assert log.meta["objects_cleared"] == 2 and not object_hits
    assert flagged.mean() < 0.05
    r = log_regressors(log, model)
    ks = r.ks[r.clear]
    assert 0.5 < r.clear.mean() < 1.0
    assert not np.any(flagged[ks]) and not np.any(flagged[ks + 1])


def test_a_payload_merged_into_a_link_is_that_link_carrying_it() -> None:
    """`attach_payload` against MuJoCo compiling the payload as a child body: the same inverse
    dynamics; a bad payload is refused by name."""
    spec = get_robot("arm6")
    for body, pos in (("gripper", (0.05, 0.01, 0.0)), ("moving_jaw", (0.02, 0.0, -0.01))):
        merged = robot_model("arm6")
        attach_payload(merged, Payload(0.2, body=body, pos=pos, radius=0.02))
        ms = mujoco.MjSpec.from_file(str(spec.mjcf))
        child = ms.body(body).add_body(name="payload", pos=list(pos))
        child.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.02, 0, 0], mass=0.2,
                       contype=0, conaffinity=0)
        ref = ms.compile()
        forces = []
        for m in (merged, ref, robot_model("arm6")):
            d = mujoco.MjData(m)
            d.qpos[:6] = [0.3, -0.5, 0.8, 0.4, 0.2, 0.01]
            d.qvel[:6] = [0.3, -0.2, 0.5, 0.1, -0.4, 0.0]
            d.qacc[:6] = [1.0, -2.0, 0.5, 3.0, -1.0, 0.0]
            mujoco.mj_inverse(m, d)
            forces.append(d.qfrc_inverse[:6].copy())
        np.testing.assert_allclose(forces[0], forces[1], atol=1e-12)
        assert np.abs(forces[0] - forces[2]).max() > 0.1  # the payload is felt
    m = robot_model("arm6")
    with pytest.raises(SysIdError, match="one of"):
        attach_payload(m, Payload(0.2, body="hand"))
    with pytest.raises(SysIdError, match="> 0 kg"):
        attach_payload(m, Payload(0.0))


def weak_motors_proxy(monkeypatch: pytest.MonkeyPatch, dq_noise: float) -> None:
    """Proxies whose only perturbations are their motors' strengths (drawn as usual) and,
    if ``dq_noise`` > 0, the velocity sensor's noise."""
    sample = ProxyParams.sample.__func__  # type: ignore[attr-defined]

    def weak_motors(cls: Any, seed: int, model: Any, spec: Any = None) -> Any:
        p = sample(cls, seed, model, spec)
        return ProxyParams(seed=seed, mass_scale=[1.0] * len(p.mass_scale),
                           com_shift=[[0.0] * 3] * len(p.com_shift),
                           motor_strength=p.motor_strength, q_noise=0.0, dq_noise=dq_noise,
                           gyro_noise=0.0)

    monkeypatch.setattr(ProxyParams, "sample", classmethod(weak_motors))


def test_a_known_payload_sets_the_scale_that_the_strength_anchor_guesses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy whose motors are all weaker than their datasheet (strength 0.86-0.99, the
    rest nominal): the strength anchor (mean strength 1) scales every parameter up by the
    mean's error; a second log carrying a known 0.2 kg payload fixes the scale."""
    weak_motors_proxy(monkeypatch, dq_noise=0.0)
    log = excite_proxy("arm6", 0, seconds=30.0, seed=0)
    loaded = excite_proxy("arm6", 0, seconds=30.0, seed=1, payload=Payload(0.2))
    truth = np.asarray(log.meta["truth"]["motor_strength"])
    assert truth.mean() < 0.95  # the datasheet's guess is wrong: the test can fail
    guessed = fit(log, latencies=(0,), max_segments=3, anchor="strength").params
    anchored = fit(log, latencies=(0,), max_segments=3, payload_log=loaded).params
    assert anchored.anchor == "payload"
    err_guess = np.abs(np.asarray(guessed.motor_strength) / truth - 1)
    err_payload = np.abs(np.asarray(anchored.motor_strength) / truth - 1)
    assert err_guess.min() > 0.04  # every joint off by the mean's error
    assert err_payload.max() < 0.02, (anchored.motor_strength, truth)
    with pytest.raises(SysIdError, match="payload-kg"):
        fit(log, latencies=(0,), max_segments=3, payload_log=copy.copy(log))  # none in it


def test_window_means_remove_the_velocity_noise_bias(monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors in variables: the proxy's velocity-sensor noise (σ 0.05 rad/s, nothing else
    perturbed but the motors' strengths) in the per-interval accelerations biases the
    payload-anchored strengths low on every joint; the equation averaged over 0.1 s windows
    (the default) takes the acceleration from the velocity's change across the window and
    recovers them."""
    weak_motors_proxy(monkeypatch, dq_noise=0.05)
    log = excite_proxy("arm6", 0, seconds=30.0, seed=0)
    loaded = excite_proxy("arm6", 0, seconds=30.0, seed=1, payload=Payload(0.2))
    assert np.std(log.dq - smooth(log.dq, log.control_dt)) > 0.03  # the noise is there
    truth = np.asarray(log.meta["truth"]["motor_strength"])
    per_interval = fit(log, latencies=(0,), max_segments=3, payload_log=loaded, window_s=0.0)
    windowed = fit(log, latencies=(0,), max_segments=3, payload_log=loaded)
    err_interval = np.asarray(per_interval.params.motor_strength) / truth - 1
    err_window = np.asarray(windowed.params.motor_strength) / truth - 1
    assert np.all(err_interval < -0.05), err_interval
    assert np.all(np.abs(err_window) < 0.035), err_window
    with pytest.raises(SysIdError, match="window_s must be in"):
        fit(log, latencies=(0,), max_segments=3, window_s=-0.1)


def test_per_body_columns_are_each_links_share_of_the_rigid_torque(
        nominal_log: SysIdLog) -> None:
    """The per-body regressors: the bodies' shares add up to the nominal rigid-body torque,
    and a model with one link 15 % heavier and its CoM shifted is the nominal torque plus
    that link's columns times (scale - 1, scale x shift), up to the parallel-axis term's
    second order in the shift: halving the shift quarters what is left."""
    model = RolloutModel("quad12")
    r = log_regressors(nominal_log, model, per_body=True)
    assert r.bodies is not None
    nb = len(model.moving)
    assert r.bodies.shape == (len(r.ks), 12, 4 * nb)
    np.testing.assert_allclose(r.bodies[:, :, :nb].sum(-1), r.rigid, atol=1e-6)
    b = int(np.flatnonzero(model.moving == mujoco.mj_name2id(
        model.nominal, mujoco.mjtObj.mjOBJ_BODY, "RL_thigh"))[0])
    cols = r.bodies[:, :, [b, nb + 3 * b, nb + 3 * b + 1, nb + 3 * b + 2]]
    q_mid = 0.5 * (r.q[r.ks] + r.q[r.ks + 1])
    rows = np.arange(0, len(r.ks), 20)
    idx = model.idx

    def miss(scale: float, shift: np.ndarray) -> tuple[float, float]:
        """rms of (true - predicted) and of (true - nominal) over the sampled rows."""
        m = rigid_body_model(model)
        bid = model.moving[b]
        m.body_mass[bid] *= scale
        m.body_inertia[bid] *= scale
        m.body_ipos[bid] += shift
        d = mujoco.MjData(m)
        true = np.empty((len(rows), 12))
        for n, i in enumerate(rows):
            d.qpos[idx.qpos_adr], d.qvel[idx.dof_adr] = q_mid[i], r.v_mid[i]
            d.qacc[idx.dof_adr] = r.acc[i]
            mujoco.mj_inverse(m, d)
            true[n] = d.qfrc_inverse[idx.dof_adr]
        predicted = r.rigid[rows] + cols[rows] @ np.r_[scale - 1.0, scale * shift]
        return (float(np.sqrt(np.mean((true - predicted) ** 2))),
                float(np.sqrt(np.mean((true - r.rigid[rows]) ** 2))))

    shift = np.array([0.008, -0.004, 0.006])  # 1.1 cm
    left, effect = miss(1.15, shift)
    left_half, _ = miss(1.15, shift / 2)
    assert left < 0.05 * effect  # (measured: 3.7 % for this 1.1 cm on a 4 cm lever)
    assert left_half == pytest.approx(left / 4, rel=0.1)  # second order
    assert miss(1.15, np.zeros(3))[0] < 1e-6 * effect  # the mass scale's column is exact


def test_per_body_fit_with_a_payload_per_leg_identifies_quad12(tmp_path: Path) -> None:
    """The proxy's links have their own mass scales (0.85-1.2) and CoM shifts (±1 cm): one
    mass scale for all of them leaves the strengths wrong, per-body masses and CoMs anchored
    by one known payload per calf find them, and the hips' masses, which the stand cannot
    see, are reported as the prior's, not as found."""
    calves = [Payload(0.3, body, (0.0, 0.0, -0.1)) for body in
              ("FR_calf", "FL_calf", "RR_calf", "RL_calf")]
    log = excite_proxy("quad12", 1, seconds=30.0, seed=0)
    loaded = excite_proxy("quad12", 1, seconds=30.0, seed=1, payload=calves)
    assert len(loaded.meta["payload"]) == 4
    loaded.save(tmp_path / "p.npz")
    loaded = SysIdLog.load(tmp_path / "p.npz")  # the payload list survives the round trip
    truth = log.meta["truth"]
    lat = (truth["latency_ticks"],)
    one = fit(log, latencies=lat, max_segments=3, payload_log=loaded, inertia="global")
    per = fit(log, latencies=lat, max_segments=3, payload_log=loaded)  # auto: per body
    assert one.params.inertia == "global" and per.params.inertia == "per_body"
    c_one, c_per = compare(one.params, truth), compare(per.params, truth)
    s_one = c_one["motor_strength"]["max_rel_error"]
    s_per = c_per["motor_strength"]["max_rel_error"]
    assert s_per < 0.05 and s_per < 0.5 * s_one, (s_per, s_one)
    assert c_per["joint_damping"]["max_rel_error"] < 0.1
    assert c_per["armature_scale"]["rel_error"] < 0.05
    hips = {f"{leg}_hip" for leg in ("FR", "FL", "RR", "RL")}
    assert set(c_per["body_mass_scale"]["unobservable"]) == hips
    assert c_per["body_mass_scale"]["max_rel_error"] < 0.1  # thighs and calves
    json.dumps(c_per)
    with pytest.raises(SysIdError, match="payload anchor"):
        fit(log, latencies=lat, max_segments=3, inertia="per_body")
