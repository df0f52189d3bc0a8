"""Shared test set-up: headless rendering backend before anything imports mujoco; the ROS 2
graphs of the tests in their own DDS domain (one per process: each pytest-xdist worker has
its own) with discovery on this machine only; the ``serial`` mark on the tests that judge
timing (real-time loops, ROS graphs, ptys, speed ratios), which ``make test`` runs after the
others, with nothing beside them; real ONNX
policy bundles for the tasks' real observation layouts (deploy and fault tests): an actor
whose output layer is zero (it commands the default pose: the quadruped stands, the arm holds
home), one with random weights, one whose output is NaN (a broken policy)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


# tests that judge timing: a real-time loop, a ROS graph, a pty or CAN device (elsewhere a
# test says so itself with @pytest.mark.serial: a speed ratio, a bus timed over a pty)
SERIAL = ("faults/", "deploy/", "hardware/", "test_demo.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        rel = Path(item.fspath).relative_to(root).as_posix()
        if rel.startswith(SERIAL):
            item.add_marker(pytest.mark.serial)


def export_task_bundle(task: str, path: Path, *, kind: str = "stand", seed: int = 0,
                       scale: float = 1.0) -> Path:
    """A bundle for ``task``: ``stand`` (zero output), ``random`` weights, ``nan`` output,
    ``inf`` output, or ``scaled`` (the random actor's output times ``scale``)."""
    import torch

    from robot_rl.export.onnx_export import (
        export_constant_policy,
        export_for_task,
        export_standing_policy,
        task_actor,
    )

    if kind == "stand":
        return export_standing_policy(task, path, hidden=(32, 32))
    if kind in ("nan", "inf"):
        return export_constant_policy(task, path, float(kind), (32, 32), algorithm="test")
    torch.manual_seed(seed)
    policy = task_actor(task, hidden=(32, 32))
    last = policy.actor[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():  # "random" or "scaled"
        last.bias.zero_()
        last.weight.uniform_(-0.5, 0.5)
        last.weight.mul_(scale)
    return export_for_task(policy, task, path, algorithm="test")


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bundles")
    return {
        "quad12_stand": export_task_bundle("quad12-walk", d / "quad12_stand.onnx"),
        "quad12_random": export_task_bundle("quad12-walk", d / "quad12_random.onnx",
                                            kind="random"),
        "quad12_nan": export_task_bundle("quad12-walk", d / "quad12_nan.onnx", kind="nan"),
        "quad12_inf": export_task_bundle("quad12-walk", d / "quad12_inf.onnx", kind="inf"),
        "quad12_huge": export_task_bundle("quad12-walk", d / "quad12_huge.onnx",
                                          kind="scaled", scale=1e9),
        "arm6_hold": export_task_bundle("arm6-reach", d / "arm6_hold.onnx"),
    }
