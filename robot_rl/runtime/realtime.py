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
- Real-time scheduling: under load (a training run, a camera pipeline) the kernel's fair
  scheduler may wake the bridge's loop thread milliseconds after its timer expired: at 500 Hz
  that is a late tick. `set_thread_realtime` puts the *calling thread* in SCHED_FIFO, so it
  preempts every normal thread when its sleep ends (ros2_control's controller manager does
  the same for its update thread). It needs CAP_SYS_NICE (root) or an ``rtprio`` limit
  (``/etc/security/limits.conf``: ``@robot - rtprio 98``). Where it is refused the loop runs
  as before and says why; the kernel's RT throttling (``sched_rt_runtime_us``, 95 % by
  default) keeps a runaway loop from locking the machine.
- The middleware's threads: a message reaches a node through the DDS implementation's own
  receive threads (Fast DDS: ``dds.udp.*``, ``dds.shm.*``, ...), which the process does not
  create and which run normally scheduled. Under CPU load they wait behind every other
  normal thread, so a node whose executor is real-time still sees its ``/joint_states`` late.
  `set_threads_realtime` puts a process's existing threads whose names start with a prefix
  (``dds.``) in SCHED_FIFO too.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
from pathlib import Path
from typing import Any

SWITCH_INTERVAL_S = 0.0001


def tune_process() -> None:
    """A short GIL switch interval for this process."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def set_thread_realtime(priority: int) -> str | None:
    """Put the calling thread in SCHED_FIFO at ``priority`` (1-99). Returns None when it took
    effect, else why not (the thread keeps its normal scheduling)."""
    if not 1 <= priority <= 99:
        raise ValueError(f"real-time priority must be in 1..99, got {priority}")
    if not hasattr(os, "sched_setscheduler"):
        return f"SCHED_FIFO is not available on {sys.platform}"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0: this thread
    except PermissionError:
        return ("SCHED_FIFO refused (EPERM): run as root, grant CAP_SYS_NICE, or allow it in "
                "/etc/security/limits.conf (rtprio); or set bridge.realtime_priority: 0")
    except OSError as e:
        return f"SCHED_FIFO refused: {e}"
    return None


def set_threads_realtime(priority: int, prefix: str) -> tuple[list[str], str | None]:
    """Put every existing thread of this process whose name (``/proc/self/task/*/comm``)
    starts with ``prefix`` in SCHED_FIFO at ``priority`` (0: back to normal scheduling, for
    a shutdown, where a real-time thread that spins would starve the rest). Returns the
    names it moved and None, or what it moved before it was refused and why (Linux only)."""
    if not 0 <= priority <= 99:
        raise ValueError(f"real-time priority must be in 0..99, got {priority}")
    tasks = Path("/proc/self/task")
    if not hasattr(os, "sched_setscheduler") or not tasks.is_dir():
        return [], f"per-thread scheduling is not available on {sys.platform}"
    moved: list[str] = []
    for task in sorted(tasks.iterdir()):
        try:
            name = (task / "comm").read_text().strip()
            if name.startswith(prefix):
                policy = os.SCHED_FIFO if priority else os.SCHED_OTHER
                os.sched_setscheduler(int(task.name), policy, os.sched_param(priority))
                moved.append(name)
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        except PermissionError:
            return moved, "SCHED_FIFO refused (EPERM): run as root or grant CAP_SYS_NICE"
        except OSError as e:
            return moved, f"SCHED_FIFO refused: {e}"
    return moved, None


def thread_policy() -> str:
    """The calling thread's scheduling policy: 'fifo', 'rr' or 'other' ('unknown' where the
    OS does not say, e.g. macOS)."""
    if not hasattr(os, "sched_getscheduler"):
        return "unknown"
    pol = os.sched_getscheduler(0)
    return {os.SCHED_FIFO: "fifo", os.SCHED_RR: "rr"}.get(pol, "other")


def freeze_heap() -> int:
    """Collect once, then exempt every object alive now from later collections; returns how
    many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def thaw_heap() -> None:
    """Undo `freeze_heap` (a host process that outlives the loop: tests, notebooks)."""
    gc.unfreeze()

def memory_mb() -> dict[str, float]:
    """Resident memory of this process: now and peak [MB]."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = round(int(val.split()[0]) / 1024,
                                                                        1)
    return out


def process_info() -> dict[str, Any]:
    """Memory, CPU time, pid of this process, and whether torch was loaded (the deploy path
    must not load it)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {**memory_mb(), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
            "torch_loaded": "torch" in sys.modules, "pid": os.getpid()}


__all__ = ["SWITCH_INTERVAL_S", "freeze_heap", "memory_mb", "process_info", "set_thread_realtime",
           "thaw_heap", "thread_policy", "tune_process"]
