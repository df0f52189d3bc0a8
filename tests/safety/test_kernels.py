"""The C kernels of the safety stages against numpy formulations of the same rules, plus their
argument checks. The stages' behaviour with hand-worked numbers is in test_stages.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from robot_rl.safety import _kernels as K

N = 7
vals = st.floats(-50, 50, allow_nan=False, width=64)
vec = arrays(np.float64, N, elements=vals)
pos = arrays(np.float64, N, elements=st.floats(0.0, 40.0, width=64))


def np_rate(qt, dqt, ref, step, q_lo, q_hi, dq_max):
    r_lo, r_hi = ref - step, ref + step
    lo, hi = np.maximum(r_lo, q_lo), np.minimum(r_hi, q_hi)
    empty = lo > hi
    nearest = np.where(r_lo > q_hi, q_hi, q_lo)
    lo, hi = np.where(empty, nearest, lo), np.where(empty, nearest, hi)
    return np.clip(qt, lo, hi), np.clip(dqt, -dq_max, dq_max), r_lo, r_hi


@settings(max_examples=300, deadline=None)
@given(vec, vec, vec, pos, vec, pos, pos, st.booleans())
def test_rate_limit_matches_numpy(qt, dqt, ref, step, q_lo, width, dq_max,
                                  stiff_last) -> None:
    q_hi = q_lo + width
    q = ref + 1.0
    last_kp = np.full(N, 20.0 if stiff_last else 0.0)
    want = np_rate(qt, dqt, ref if stiff_last else q, step, q_lo, q_hi, dq_max)
    a, b, r_lo, r_hi = qt.copy(), dqt.copy(), np.zeros(N), np.zeros(N)
    changed = K.rate_limit(a, b, ref, last_kp, q, step, q_lo, q_hi, dq_max, r_lo, r_hi)
    for got, w in zip((a, b, r_lo, r_hi), want):
        np.testing.assert_array_equal(got, w)
    assert changed == (not (np.array_equal(a, qt) and np.array_equal(b, dqt)))
    # no last output: the step is measured from the measured position
    a2, b2 = qt.copy(), dqt.copy()
    K.rate_limit(a2, b2, None, None, q, step, q_lo, q_hi, dq_max, r_lo, r_hi)
    np.testing.assert_array_equal(a2, np_rate(qt, dqt, q, step, q_lo, q_hi, dq_max)[0])


def np_torque(qt, dqt, kp, kd, ff, q, dq, lim, kp_max, kd_max, p_lo, p_hi, r_lo, r_hi):
    kp, kd, ff = np.clip(kp, 0, kp_max), np.clip(kd, 0, kd_max), np.clip(ff, -lim, lim)
    rest = kd * (dqt - dq) + ff
    tau = kp * (qt - q) + rest
    qt, dqt = qt.copy(), dqt.copy()
    for i in np.flatnonzero(np.abs(tau) > lim):
        if kp[i] <= 1e-6:
            dqt[i] = dq[i]
            continue
        t_lo, t_hi = q[i] + (-lim[i] - rest[i]) / kp[i], q[i] + (lim[i] - rest[i]) / kp[i]
        lo, hi = max(t_lo, p_lo[i]), min(t_hi, p_hi[i])
        if r_lo is not None and max(lo, r_lo[i]) <= min(hi, r_hi[i]):
            lo, hi = max(lo, r_lo[i]), min(hi, r_hi[i])
        qt[i] = (p_hi[i] if t_lo > p_hi[i] else p_lo[i]) if lo > hi else min(max(qt[i], lo), hi)
    return qt, dqt, kp, kd, ff, tau


@settings(max_examples=300, deadline=None)
@given(vec, vec, arrays(np.float64, N, elements=st.floats(-10, 60, width=64)),
       arrays(np.float64, N, elements=st.floats(-1, 3, width=64)), vec, vec, vec, pos, vec,
       pos, st.booleans())
def test_torque_limit_matches_numpy(qt, dqt, kp, kd, ff, q, dq, lim, p_lo, width,
                                    with_rate) -> None:
    kp[0] = 0.0  # always one joint without stiffness
    p_hi = p_lo + width
    kp_max, kd_max = np.full(N, 40.0), np.full(N, 2.0)
    r_lo, r_hi = (q - 0.5, q + 0.5) if with_rate else (None, None)
    want = np_torque(qt, dqt, kp, kd, ff, q, dq, lim, kp_max, kd_max, p_lo, p_hi, r_lo, r_hi)
    got = [x.copy() for x in (qt, dqt, kp, kd, ff)]
    flags = K.torque_limit(*got, q, dq, lim, kp_max, kd_max, p_lo, p_hi, r_lo, r_hi)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12)
    assert bool(flags & 4) == bool(np.any(np.abs(want[5]) > lim))
    assert bool(flags & 1) == (not (np.array_equal(kp, want[2]) and np.array_equal(kd, want[3])))
    assert bool(flags & 2) == (not np.array_equal(ff, want[4]))


@given(vec, vec, vec)
def test_clamp_tracking_and_finite(x, a, b) -> None:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    y = x.copy()
    assert K.clamp(y, lo, hi) == bool(np.any((x < lo) | (x > hi)))
    np.testing.assert_array_equal(y, np.clip(x, lo, hi))
    err, over = K.tracking(x, a, np.full(N, 1.0), b, np.abs(a))
    assert err == np.abs(x - a).max() and over == bool(np.any(np.abs(b) > np.abs(a)))
    assert K.tracking(x, a, np.zeros(N), None, np.abs(a)) == (-1.0, False)
    assert K.all_finite(x, a, b)
    bad = b.copy()
    bad[3] = np.nan
    assert not K.all_finite(x, a, bad)
    bad[3] = -np.inf
    assert not K.all_finite(bad)


def test_ramp_and_roll_pitch() -> None:
    qt, dqt, ff, q0 = np.full(3, 1.0), np.full(3, 2.0), np.full(3, -4.0), np.zeros(3)
    K.ramp(qt, dqt, ff, q0 + 0.5, 0.25)
    np.testing.assert_allclose(qt, 0.5 + 0.25 * 0.5)
    np.testing.assert_allclose(dqt, 0.5)
    np.testing.assert_allclose(ff, -1.0)
    ang = 0.3
    roll, pitch = K.roll_pitch(np.array([np.cos(ang / 2), np.sin(ang / 2), 0.0, 0.0]))
    assert roll == pytest.approx(ang) and pitch == pytest.approx(0.0, abs=1e-12)
    roll, pitch = K.roll_pitch(np.array([np.cos(ang / 2), 0.0, np.sin(ang / 2), 0.0]))
    assert pitch == pytest.approx(ang) and roll == pytest.approx(0.0, abs=1e-12)


def test_pack() -> None:
    block = np.zeros((5, 4))
    rows = [np.arange(4.0) + 10 * k for k in range(5)]
    assert K.pack(block, *rows)
    np.testing.assert_array_equal(block, np.stack(rows))
    block[:] = 0.0
    assert not K.pack(block, *rows[:4], np.arange(4))  # int64: caller converts
    assert not K.pack(block, *rows[:4], np.zeros(3))  # wrong length
    assert not K.pack(block, *rows[:4], rows[0].astype(np.float32))
    assert not K.pack(block, *rows[:4], [0.0, 1.0, 2.0, 3.0])  # not a buffer


def test_argument_errors_name_the_argument() -> None:
    x = np.zeros(4)
    with pytest.raises(TypeError, match="hi must be float64"):
        K.clamp(x, x, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="hi has 3 values, expected 4"):
        K.clamp(x, x, np.zeros(3))
    with pytest.raises(TypeError, match="x must be a C-contiguous writable float64 array"):
        ro = np.zeros(4)
        ro.flags.writeable = False
        K.clamp(ro, x, x)
    with pytest.raises(TypeError, match="x must be a C-contiguous"):
        K.clamp(np.zeros(8)[::2], x, x)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        K.clamp(x, x)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="quat must have 4 values"):
        K.roll_pitch(np.zeros(3))
