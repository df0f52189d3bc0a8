"""`robot-rl bench NAME` implementations. Each module's ``run(quick=False)`` returns a JSON-able
dict (printed last).

Ratios are measured side by side in one run (interleaved rounds, medians), because these
machines are noisy; absolute figures are reported for context only.

`BENCHMARKS` maps each name to its module, imported only when that benchmark runs: the
benchmarks need torch (training, export) or rclpy (the ROS 2 graph), which a machine running
another benchmark may not have installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

MODULES: dict[str, str] = {
    "bus": "benchmarks.bus",
    "deploy": "benchmarks.deploy",
    "env-throughput": "benchmarks.env_throughput",
    "faults": "benchmarks.faults",
    "policy-latency": "benchmarks.policy_latency",
    "safety": "benchmarks.safety",
    "train-throughput": "benchmarks.train_throughput",
}


class _Registry(Mapping[str, Callable[..., dict[str, Any]]]):
    """name -> the benchmark's ``run`` (its module imported on first use)."""

    def __getitem__(self, name: str) -> Callable[..., dict[str, Any]]:
        run: Callable[..., dict[str, Any]] = importlib.import_module(MODULES[name]).run
        return run

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)


BENCHMARKS: Mapping[str, Callable[..., dict[str, Any]]] = _Registry()

__all__ = ["BENCHMARKS", "MODULES"]
