"""ChunkExecutor: hand-worked interpolation, ACT ensembling, starvation, bad input, hull."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.control.chunk import ChunkExecutor

CHUNK = np.array([[0.0, 10.0], [1.0, 20.0], [3.0, 40.0]])  # H = 3, act_dim = 2


def test_linear_interpolation_between_steps_hand_worked() -> None:
    ex = ChunkExecutor(act_dim=2, horizon=3, step_dt=0.02)
    ex.push(CHUNK, t=1.0)
    np.testing.assert_allclose(ex.target(1.0), [0.0, 10.0])
    # s = 0.005 / 0.02 = 0.25 between step 0 and 1: 0.75*[0,10] + 0.25*[1,20]
    np.testing.assert_allclose(ex.target(1.005), [0.25, 12.5])
    np.testing.assert_allclose(ex.target(1.02), [1.0, 20.0])
    # s = 1.5: halfway from [1,20] to [3,40]
    np.testing.assert_allclose(ex.target(1.03), [2.0, 30.0])
    # n_exec = H: the last step is held through its own interval, up to t0 + H*step_dt
    np.testing.assert_allclose(ex.target(1.055), [3.0, 40.0])
    assert not ex.starved and ex.n_active == 1


def test_out_argument_is_written_in_place() -> None:
    ex = ChunkExecutor(2, 3, 0.02)
    ex.push(CHUNK, 0.0)
    out = np.zeros(2)
    res = ex.target(0.01, out=out)
    assert res is out
    np.testing.assert_allclose(out, [0.5, 15.0])


def test_execute_horizon_then_starvation_holds_last_target() -> None:
    ex = ChunkExecutor(2, 3, 0.02, n_exec=2)
    ex.push(CHUNK, 0.0)
    # the 2nd (last executed) interval still interpolates toward step 2
    np.testing.assert_allclose(ex.target(0.03), [2.0, 30.0])
    assert not ex.starved
    held = ex.target(0.04)  # window [0, 2*0.02) is over, no newer chunk: starved
    assert ex.starved and ex.n_active == 0
    np.testing.assert_allclose(held, [2.0, 30.0])  # last output, not step 2's value
    np.testing.assert_allclose(ex.target(0.5), [2.0, 30.0])
    assert ex.starved
    ex.push(CHUNK + 100.0, 0.6)
    np.testing.assert_allclose(ex.target(0.6), [100.0, 110.0])
    assert not ex.starved


def test_newest_chunk_takes_over_without_ensembling() -> None:
    ex = ChunkExecutor(1, 4, 0.1)
    ex.push(np.array([[0.0], [2.0], [4.0], [6.0]]), 0.0)
    ex.push(np.array([[10.0], [12.0], [14.0], [16.0]]), 0.1)
    np.testing.assert_allclose(ex.target(0.05), [1.0])  # second chunk not due yet
    np.testing.assert_allclose(ex.target(0.15), [11.0])  # newest active chunk wins
    assert ex.n_active == 2


@pytest.mark.parametrize("m", [0.5, 0.01, -0.3])
def test_temporal_ensemble_two_overlapping_chunks_hand_worked(m: float) -> None:
    ex = ChunkExecutor(1, 4, 0.1, temporal_ensemble=True, ensemble_m=m)
    ex.push(np.array([[0.0], [2.0], [4.0], [6.0]]), 0.0)  # oldest: i = 0, weight 1
    ex.push(np.array([[10.0], [12.0], [14.0], [16.0]]), 0.1)  # i = 1, weight exp(-m)
    # at t = 0.15: chunk A at s = 1.5 → 3.0 ; chunk B at s = 0.5 → 11.0
    w1 = math.exp(-m)
    expected = (1.0 * 3.0 + w1 * 11.0) / (1.0 + w1)
    np.testing.assert_allclose(ex.target(0.15), [expected], rtol=1e-12)
    if m == 0.5:  # exp(-0.5) = 0.6065307: (3 + 6.671838) / 1.6065307 = 6.020325
        assert ex.target(0.15)[0] == pytest.approx(6.020325, abs=1e-6)
    # before the second chunk's time only the first contributes
    ex2 = ChunkExecutor(1, 4, 0.1, temporal_ensemble=True, ensemble_m=m)
    ex2.push(np.array([[0.0], [2.0], [4.0], [6.0]]), 0.0)
    ex2.push(np.array([[10.0], [12.0], [14.0], [16.0]]), 0.1)
    np.testing.assert_allclose(ex2.target(0.05), [1.0])


def test_ensemble_oldest_gets_largest_weight_with_positive_m() -> None:
    ex = ChunkExecutor(1, 3, 0.1, temporal_ensemble=True, ensemble_m=1.0)
    for i in range(3):
        ex.push(np.full((3, 1), float(i)), 0.1 * i)  # constant chunks 0, 1, 2
    val = ex.target(0.2)[0]
    w = np.exp(-1.0 * np.arange(3))
    assert val == pytest.approx(float((w * [0.0, 1.0, 2.0]).sum() / w.sum()))
    assert val < 1.0  # pulled toward the oldest prediction (0.0)


def test_no_chunk_yet_raises_or_holds_initial() -> None:
    ex = ChunkExecutor(2, 3, 0.02)
    with pytest.raises(RuntimeError, match="no target yet"):
        ex.target(0.0)
    ex.reset(initial=np.array([0.5, -0.5]))
    np.testing.assert_allclose(ex.target(0.0), [0.5, -0.5])
    assert ex.starved
    ex.push(CHUNK, 0.1)  # future chunk: still holding
    np.testing.assert_allclose(ex.target(0.05), [0.5, -0.5])
    assert ex.starved
    np.testing.assert_allclose(ex.target(0.1), [0.0, 10.0])
    assert not ex.starved


def test_bad_input_raises_clear_value_errors() -> None:
    ex = ChunkExecutor(2, 3, 0.02)
    with pytest.raises(ValueError, match=r"shape \(4, 2\).*expected \(horizon=3, act_dim=2\)"):
        ex.push(np.zeros((4, 2)), 0.0)
    with pytest.raises(ValueError, match="shape"):
        ex.push(np.zeros(6), 0.0)
    with pytest.raises(ValueError, match="NaN"):
        ex.push(np.full((3, 2), np.nan), 0.0)
    ex.push(CHUNK, 1.0)
    with pytest.raises(ValueError, match="timestamps must increase"):
        ex.push(CHUNK, 0.5)
    with pytest.raises(ValueError, match="timestamps must increase"):
        ex.push(CHUNK, 1.0)
    ex.target(1.01)
    with pytest.raises(ValueError, match="went backwards"):
        ex.target(1.0)
    with pytest.raises(ValueError, match="n_exec"):
        ChunkExecutor(2, 3, 0.02, n_exec=4)


def test_tick_walks_the_control_grid() -> None:
    ex = ChunkExecutor(2, 3, step_dt=0.02, control_dt=0.002)
    ex.push(CHUNK, 2.0)
    vals = [ex.tick().copy() for _ in range(16)]
    np.testing.assert_allclose(vals[0], [0.0, 10.0])
    np.testing.assert_allclose(vals[5], [0.5, 15.0])  # t = 2.010: mid-way step 0 → 1
    np.testing.assert_allclose(vals[15], [2.0, 30.0])  # t = 2.030: s = 1.5, mid-way 1 → 2
    ex.reset()
    with pytest.raises(RuntimeError):
        ex.tick()


@settings(max_examples=60, deadline=None)
@given(data=st.data(), horizon=st.integers(1, 6), act_dim=st.integers(1, 3),
       ensemble=st.booleans(), m=st.floats(-1.0, 2.0))
def test_outputs_stay_in_the_hull_of_chunk_values(data: st.DataObject, horizon: int,
                                                   act_dim: int, ensemble: bool,
                                                   m: float) -> None:
    n_exec = data.draw(st.integers(1, horizon))
    ex = ChunkExecutor(act_dim, horizon, 0.02, n_exec=n_exec, temporal_ensemble=ensemble,
                       ensemble_m=m)
    vals = st.floats(-10.0, 10.0, allow_nan=False)
    lo = np.full(act_dim, np.inf)
    hi = np.full(act_dim, -np.inf)
    t_push, t_query = 0.0, 0.0
    for _ in range(data.draw(st.integers(1, 6))):
        chunk = np.array(data.draw(st.lists(st.lists(vals, min_size=act_dim, max_size=act_dim),
                                            min_size=horizon, max_size=horizon)))
        t_push += data.draw(st.floats(0.001, 0.08))
        ex.push(chunk, t_push)
        lo, hi = np.minimum(lo, chunk.min(axis=0)), np.maximum(hi, chunk.max(axis=0))
        for _ in range(data.draw(st.integers(0, 4))):
            t_query = max(t_query, t_push - 0.01) + data.draw(st.floats(0.0, 0.05))
            try:
                out = ex.target(t_query)
            except RuntimeError:
                continue  # nothing active yet and nothing to hold
            assert np.all(np.isfinite(out))
            assert np.all(out >= lo - 1e-9) and np.all(out <= hi + 1e-9)
