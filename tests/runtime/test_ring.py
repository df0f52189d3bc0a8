"""`robot_rl.runtime.ring.Ring`: the last N samples, oldest first, in a fixed array."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.bridge import percentiles
from robot_rl.runtime.ring import Ring


def test_keeps_the_last_values_in_order_and_counts_all() -> None:
    r = Ring(4)
    assert len(r) == 0 and np.asarray(r).shape == (0,)
    for v in (1.0, 2.0, 3.0):
        r.append(v)
    assert list(r) == [1.0, 2.0, 3.0] and len(r) == 3
    for v in (4.0, 5.0, 6.0):
        r.append(v)
    assert list(r) == [3.0, 4.0, 5.0, 6.0] and len(r) == 4 and r.count == 6
    np.testing.assert_array_equal(np.asarray(r, dtype=np.float32), [3, 4, 5, 6])
    assert list(r)[-2:] == [5.0, 6.0]
    r.values()[0] = 99.0  # a copy: the ring is not changed through it
    assert r.values()[0] == 3.0
    with pytest.raises(ValueError, match="size >= 1"):
        Ring(0)


def test_memory_is_taken_once_and_appends_allocate_nothing() -> None:
    r = Ring(1000)
    buf = r._a
    for k in range(2500):
        r.append(float(k))
    assert r._a is buf and r._a.size == 1000  # the same array throughout
    assert r.values()[0] == 1500.0 and r.values()[-1] == 2499.0


def test_percentiles_of_a_ring_and_of_a_list_agree() -> None:
    rng = np.random.default_rng(0)
    vals = rng.exponential(100.0, 5000)
    r = Ring(10_000)
    for v in vals:
        r.append(float(v))
    assert percentiles(r) == percentiles(vals.tolist())
    assert percentiles(Ring(3))["n"] == 0
