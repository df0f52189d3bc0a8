"""Issue 21, case 10: a slow policy must not stall the bridge's 500 Hz loop.

In the in-process graph the policy used to run in the bridge's loop thread (the direct
hand-over): a 330 ms policy step stalled the loop (tick lateness p99 387 ms) and the
watchdogs with it. Now the policy runs in its own worker thread: the loop keeps its period,
the safety chain holds the robot, then damps, and the bridge follows it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from graphs import damped, deploy_config, safety_mode, start, wait_for


def test_a_slow_policy_step_does_not_stall_the_bridge_loop(bundles: dict[str, Path],
                                                           tmp_path: Path) -> None:
    path, cfg = deploy_config(tmp_path, bundles["quad12_stand"])
    g = start("in_process", path, cfg, tmp_path)
    try:
        g.activate()
        g.run(1.0, script=False)
        br = g.bridge.bridge
        step = g.policy.controller.step

        def slow(*a: Any, **k: Any) -> Any:
            time.sleep(0.33)
            return step(*a, **k)

        g.policy.controller.step = slow
        ticks0 = br.ticks
        assert wait_for(lambda: safety_mode(g) in ("HOLD", "DAMPING"), 1.0)
        g.run(2.0, script=False)
        n = br.ticks - ticks0
        late_ms = np.asarray(list(br.lateness_us)[-n:]) / 1e3
        assert n > 500  # ~2.5 s at 500 Hz: the loop went on
        assert late_ms.max() < 200.0, late_ms.max()  # (a stalled loop: >= 330 ms)
        assert safety_mode(g) == "DAMPING" and wait_for(lambda: damped(g), 5.0)
        assert not br.fault
    finally:
        g.stop()
