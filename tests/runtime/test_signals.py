"""`robot_rl.runtime.signals.StopRequest`: set from a signal handler while the main thread
waits on it, as a node process's main loop does."""

from __future__ import annotations

import os
import signal
import threading
import time

from robot_rl.runtime.signals import StopRequest


def test_signals_during_the_wait_end_it_and_name_the_signal() -> None:
    stop = StopRequest()
    previous = stop.on_signals(signal.SIGUSR1)
    try:
        def send() -> None:  # three in a row, as PDEATHSIG and a supervisor's SIGTERM can come
            time.sleep(0.2)
            for _ in range(3):
                os.kill(os.getpid(), signal.SIGUSR1)

        threading.Thread(target=send, daemon=True).start()
        t0 = time.monotonic()
        assert stop.wait(5.0)
        assert time.monotonic() - t0 < 1.0 and stop.reason == "SIGUSR1"
        stop.set("later")  # the first reason is kept
        assert stop.reason == "SIGUSR1" and stop.is_set()
    finally:
        signal.signal(signal.SIGUSR1, previous[signal.SIGUSR1])


def test_wait_times_out_unset() -> None:
    stop = StopRequest()
    t0 = time.monotonic()
    assert not stop.wait(0.12) and not stop.is_set()
    assert 0.1 <= time.monotonic() - t0 < 0.5
