"""System-identification logs as MCAP files of the deploy graph's ROS 2 messages
(`sim2real.log`): a sysid log survives the round trip and fits the same; a plain
recording of /joint_states and /command (no metadata, other rates, other joint order, the
safety modes) becomes the log the bridge actually executed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl.robots import get_robot
from sim2real.experiment import excite_proxy
from sim2real.log import JOINT_STATE_DEF, SysIdError, SysIdLog, read_mcap
from sim2real.sysid import fit


def test_a_sysid_log_round_trips_through_mcap_and_fits_the_same(tmp_path: Path) -> None:
    log = excite_proxy("arm6", 0, seconds=8.0)
    path = log.save(tmp_path / "arm6.mcap")
    back = SysIdLog.load(path)
    for k in ("q", "dq", "tau", "q_target", "dq_target", "kp", "kd", "tau_ff",
              "tau_delivered"):
        np.testing.assert_array_equal(getattr(back, k), getattr(log, k), err_msg=k)
    np.testing.assert_allclose(back.t, log.t, atol=1e-6)
    assert back.meta == log.meta and back.control_dt == log.control_dt and back.fixed_base
    a = fit(log, latencies=(0,), max_segments=2, window_s=0.0).params  # (8 s: per interval)
    b = fit(back, latencies=(0,), max_segments=2, window_s=0.0).params
    np.testing.assert_allclose(b.motor_strength, a.motor_strength, rtol=1e-9)
    with pytest.raises(SysIdError, match="is a log of arm6"):
        SysIdLog.load(path, robot="quad12")
    (tmp_path / "junk.mcap").write_bytes(b"not an mcap file" * 10)
    with pytest.raises(SysIdError, match="not a readable MCAP"):
        SysIdLog.load(tmp_path / "junk.mcap", robot="arm6")
    log.kp[5] *= 0.5  # gains a /command message cannot carry
    with pytest.raises(SysIdError, match="keep the .npz"):
        log.save(tmp_path / "bad.mcap")


def _recording(path: Path, modes: list[str], order: list[int]) -> dict[str, np.ndarray]:
    """A graph-like recording of arm6: /joint_states at 500 Hz for 2 s, /command at 50 Hz
    from 0.1 s on (the first ones in ``modes``, then active), joints in ``order``."""
    from mcap_ros2.writer import Writer

    spec = get_robot("arm6")
    names = [spec.joint_names[i] for i in order]
    epoch = 1_700_000_000 * 10**9
    t = epoch + np.arange(1000, dtype=np.int64) * 2_000_000  # ns
    q = np.sin(np.arange(1000)[:, None] * 0.01 + np.arange(6)) * 0.3
    tc = epoch + 100_500_000 + np.arange(95, dtype=np.int64) * 20_000_000
    qt = np.cos(np.arange(95)[:, None] * 0.1 + np.arange(6)) * 0.2
    with path.open("wb") as f:
        w = Writer(f)
        js = w.register_msgdef("sensor_msgs/msg/JointState", JOINT_STATE_DEF)

        def stamp(ns: int) -> dict[str, int]:
            return {"sec": ns // 10**9, "nanosec": ns % 10**9}

        events = [(int(x), "s", k) for k, x in enumerate(t)] + [
            (int(x), "c", k) for k, x in enumerate(tc)]
        for ns, kind, k in sorted(events):
            if kind == "s":
                w.write_message("/joint_states", js, {
                    "header": {"stamp": stamp(ns), "frame_id": ""}, "name": names,
                    "position": q[k, order].tolist(), "velocity": (2 * q[k, order]).tolist(),
                    "effort": (3 * q[k, order]).tolist()}, ns, ns)
            else:
                mode = modes[k] if k < len(modes) else "active"
                w.write_message("/command", js, {
                    "header": {"stamp": stamp(ns), "frame_id": mode}, "name": names,
                    "position": qt[k, order].tolist(), "velocity": [], "effort": []}, ns, ns)
        w.finish()
    return {"t": t, "q": q, "tc": tc, "qt": qt}


def test_a_plain_recording_of_the_graph_becomes_the_executed_log(tmp_path: Path) -> None:
    spec = get_robot("arm6")
    path = tmp_path / "graph.mcap"
    order = [3, 1, 0, 5, 2, 4]
    rec = _recording(path, ["damping", "damping"], order)
    with pytest.raises(SysIdError, match="--robot"):
        read_mcap(path)  # no metadata: which robot?
    log = read_mcap(path, robot="arm6")
    # ticks whose interval saw no command yet are dropped (the tick in whose interval the
    # first command arrived is the first row); the rest keep the recording's rate
    first = int(np.searchsorted(rec["t"], rec["tc"][0]))
    assert len(log.t) == 1000 - first + 1
    assert log.control_dt == pytest.approx(0.002)
    k0 = 1000 - len(log.t)
    np.testing.assert_allclose(log.q, rec["q"][k0:])  # in the robot's joint order
    np.testing.assert_allclose(log.dq, 2 * rec["q"][k0:])
    # each tick carries the last command before the next tick, held between commands
    nxt = np.r_[rec["t"][k0 + 1:], np.iinfo(np.int64).max]
    c = np.searchsorted(rec["tc"], nxt) - 1
    damp = c < 2  # the first two commands were damping ones
    np.testing.assert_allclose(log.q_target[~damp], rec["qt"][c[~damp]])
    assert np.all(log.dq_target == 0.0) and np.all(log.tau_ff == 0.0)
    # gains from the mode, as the bridge applies them: damping first (kp 0, no target),
    # then the robot's own
    assert damp.any() and (~damp).any()
    assert np.all(log.kp[damp] == 0.0) and np.all(log.kd[damp] == spec.damping_kd)
    assert np.all(log.kp[~damp] == spec.kp) and np.all(log.kd[~damp] == spec.kd)
    assert log.meta["source"] == "mcap:graph.mcap"
    _recording(path, ["dance"], order)
    with pytest.raises(SysIdError, match="unknown command mode 'dance'"):
        read_mcap(path, robot="arm6")
    _recording(path, [], order[:5] + [order[4]])  # a joint missing
    with pytest.raises(SysIdError, match="lacks joints"):
        read_mcap(path, robot="arm6")
