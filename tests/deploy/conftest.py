"""Deploy-test fixtures: real ONNX policy bundles for the tasks' real observation layouts: an
actor whose output layer is zero (it commands the default pose: the quadruped stands, the arm
holds home), one with random weights, one whose output is NaN (a broken policy)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from robot_rl.envs import load_task_config
from robot_rl.export.onnx_export import export_actor
from robot_rl.policies.mlp import ActorCritic
from robot_rl.robots import get_robot
from robot_rl.runtime.obs import ObsBuilder

# ROS 2 graphs of these tests: their own DDS domain, discovery on this machine only
os.environ["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


def export_task_bundle(task: str, path: Path, *, kind: str = "stand", seed: int = 0) -> Path:
    cfg = load_task_config(task)
    spec = get_robot(cfg.robot)
    layout = ObsBuilder(spec, cfg.obs).layout()
    obs_dim = sum(int(t["dim"]) for t in layout)
    torch.manual_seed(seed)
    policy = ActorCritic(obs_dim, spec.n_joints, (32, 32), (32, 32))
    last = policy.actor[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        last.bias.zero_()
        if kind == "stand":
            last.weight.zero_()
        elif kind == "random":
            last.weight.uniform_(-0.5, 0.5)
        else:  # "nan"
            last.bias.fill_(float("nan"))
    return export_actor(policy, path, robot=spec.name, obs_layout=layout,
                        action_type="joint_pos_offset", action_scale=spec.action_scale,
                        policy_dt=spec.policy_dt, algorithm="test",
                        extra={"task": task, "action_clip": cfg.action_clip,
                               "obs_clip": cfg.obs.clip})


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
