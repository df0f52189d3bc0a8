"""`robot-rl bench NAME` implementations. Each returns a JSON-able dict (printed last).

Ratios are measured side by side in one run (interleaved rounds, medians), because these
machines are noisy; absolute figures are reported for context only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.bus import run as bus
from benchmarks.deploy import run as deploy
from benchmarks.env_throughput import run as env_throughput
from benchmarks.faults import run as faults
from benchmarks.policy_latency import run as policy_latency
from benchmarks.safety import run as safety
from benchmarks.train_throughput import run as train_throughput

BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "bus": bus,
    "deploy": deploy,
    "env-throughput": env_throughput,
    "faults": faults,
    "policy-latency": policy_latency,
    "safety": safety,
    "train-throughput": train_throughput,
}
