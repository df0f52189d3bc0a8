"""Process settings for a control loop written in Python (the deploy loop, the in-process
graph and each node process).

- GIL hand-over: CPython passes the GIL between threads every 5 ms by default, far too long
  for a 2 ms bridge loop beside an executor thread; `tune_process` sets 0.1 ms.
- Garbage collection: a full (generation-2) collection walks every tracked object. In a
  process that has imported MuJoCo, onnxruntime and rclpy and built its models that is
  ~250,000 objects and 30-150 ms with every thread stopped (measured on the CI machine's
  two cores), long enough to trip the 50 ms state watchdog. `freeze_heap`, called once the
  loop's objects exist (after configure), moves them into the permanent generation, so the
  collections that still run see only what the loop allocates since (a few ms at most).
  Reference counting still frees frozen objects; only cyclic garbage among them is kept.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_S = 0.0001


def tune_process() -> None:
    """A short GIL switch interval for this process."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def freeze_heap() -> int:
    """Collect once, then exempt every object alive now from later collections; returns how
    many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def thaw_heap() -> None:
    """Undo `freeze_heap` (a host process that outlives the loop: tests, notebooks)."""
    gc.unfreeze()


__all__ = ["SWITCH_INTERVAL_S", "freeze_heap", "thaw_heap", "tune_process"]
