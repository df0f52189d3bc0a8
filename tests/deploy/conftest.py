"""Deploy-test fixtures: real ONNX policy bundles for the tasks' real observation layouts: an
actor whose output layer is zero (it commands the default pose: the quadruped stands, the arm
holds home), one with random weights, one whose output is NaN (a broken policy)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from robot_rl.export.onnx_export import export_for_task, export_standing_policy, task_actor

# ROS 2 graphs of these tests: their own DDS domain, discovery on this machine only
os.environ["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


def export_task_bundle(task: str, path: Path, *, kind: str = "stand", seed: int = 0) -> Path:
    if kind == "stand":
        return export_standing_policy(task, path, hidden=(32, 32))
    torch.manual_seed(seed)
    policy = task_actor(task, hidden=(32, 32))
    last = policy.actor[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        last.bias.zero_()
        if kind == "random":
            last.weight.uniform_(-0.5, 0.5)
        else:  # "nan"
            last.bias.fill_(float("nan"))
    return export_for_task(policy, task, path, algorithm="test")


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bundles")
    return {
        "quad12_stand": export_task_bundle("quad12-walk", d / "quad12_stand.onnx"),
        "quad12_random": export_task_bundle("quad12-walk", d / "quad12_random.onnx",
                                            kind="random"),
        "quad12_nan": export_task_bundle("quad12-walk", d / "quad12_nan.onnx", kind="nan"),
        "arm6_hold": export_task_bundle("arm6-reach", d / "arm6_hold.onnx"),
    }
