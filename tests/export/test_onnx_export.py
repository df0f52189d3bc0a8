"""ONNX export: parity with torch (normaliser baked in), metadata, checkpoint export."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from robot_rl.algos.ppo import PPOConfig
from robot_rl.algos.runner import OnPolicyRunner, PolicyConfig, TrainConfig
from robot_rl.envs import load_task_config
from robot_rl.export import METADATA_KEY, export_actor, export_checkpoint
from robot_rl.policies.mlp import ActorCritic
from robot_rl.robots import get_robot
from robot_rl.runtime.policy import OnnxPolicy

LAYOUT = [{"name": "base_ang_vel", "dim": 3, "scale": 0.25, "noise": 0.2},
          {"name": "projected_gravity", "dim": 3, "scale": 1.0, "noise": 0.05},
          {"name": "velocity_command", "dim": 3, "scale": 1.0, "noise": 0.0},
          {"name": "joint_pos", "dim": 12, "scale": 1.0, "noise": 0.01},
          {"name": "joint_vel", "dim": 12, "scale": 0.05, "noise": 1.5},
          {"name": "last_action", "dim": 12, "scale": 1.0, "noise": 0.0}]


def trained_like_policy(obs_dim: int, hidden: list[int], act_dim: int,
                        seed: int = 0) -> tuple[ActorCritic, torch.Tensor, torch.Tensor]:
    """ActorCritic with O(1)-gain weights and a normaliser fitted to shifted/scaled data."""
    torch.manual_seed(seed)
    policy = ActorCritic(obs_dim, act_dim, hidden, hidden)
    for layer in policy.actor:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.normal_(layer.weight, std=layer.in_features ** -0.5)
            torch.nn.init.normal_(layer.bias, std=0.1)
    mean, std = torch.randn(obs_dim) * 5.0, torch.rand(obs_dim) * 3.0 + 0.1
    policy.train()
    for _ in range(4):
        policy.update_normalizers(mean + std * torch.randn(256, obs_dim))
    policy.eval()
    assert float(policy.obs_normalizer.mean.abs().max()) > 1.0
    return policy, mean, std


def export(policy: ActorCritic, path: Path, layout: list[dict] | None = None) -> Path:
    layout = layout or [{"name": "obs", "dim": policy.obs_dim, "scale": 1.0, "noise": 0.0}]
    return export_actor(policy, path, robot="quad12", obs_layout=layout,
                        action_type="joint_pos_offset", action_scale=0.25, policy_dt=0.02,
                        algorithm="ppo", config_hash="abc123", code_version="0.1.0+gtest",
                        extra={"note": "unit test"})


@pytest.mark.parametrize(("obs_dim", "hidden", "act_dim"),
                         [(45, [512, 256, 128], 12), (24, [128, 128], 6), (7, [16], 3)])
def test_parity_with_torch(tmp_path: Path, obs_dim: int, hidden: list[int],
                           act_dim: int) -> None:
    policy, mean, std = trained_like_policy(obs_dim, hidden, act_dim)
    pol = OnnxPolicy(export(policy, tmp_path / "p.onnx"))
    gen = torch.Generator().manual_seed(1)
    near = mean + std * torch.randn(500, obs_dim, generator=gen)
    far = mean + 10.0 * std * torch.randn(400, obs_dim, generator=gen)  # far from the mean
    wide = 50.0 * torch.rand(100, obs_dim, generator=gen) - 25.0
    obs = torch.cat([near, far, wide]).float()
    with torch.no_grad():
        ref = policy(obs).numpy()
        ref64 = copy.deepcopy(policy).double()(obs.double()).numpy()
    out = pol.act(obs.numpy())
    assert out.shape == (1000, act_dim) and out.dtype == np.float32
    assert np.abs(ref).max() > 1.0  # non-trivial actions
    # in-distribution observations (actions of order 1): 1e-5 absolute
    assert np.abs(out[:500] - ref[:500]).max() <= 1e-5
    # far / wide inputs drive hidden activations and actions to 10-30, where 1e-5 is a few
    # float32 ulps and torch float32 itself is ~1.5e-5 off float64: there, ORT must be as
    # close to the float64 result as torch float32 is
    assert np.abs(out - ref64).max() <= 2.0 * np.abs(ref - ref64).max() + 1e-6
    single = pol.act(obs[0].numpy().astype(np.float64))
    assert single.shape == (act_dim,)
    np.testing.assert_allclose(single, ref[0], atol=1e-5)


def test_metadata_round_trip(tmp_path: Path) -> None:
    policy, _, _ = trained_like_policy(45, [32, 32], 12)
    path = export(policy, tmp_path / "sub" / "bundle.onnx", LAYOUT)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["obs"]
    assert [o.name for o in model.graph.output] == ["action"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 45  # dynamic batch axis
    props = {p.key: p.value for p in model.metadata_props}
    meta = json.loads(props[METADATA_KEY])
    assert meta == OnnxPolicy(path).metadata
    assert meta["obs_terms"] == LAYOUT
    assert (meta["robot"], meta["obs_dim"], meta["act_dim"]) == ("quad12", 45, 12)
    assert (meta["action_type"], meta["action_scale"], meta["policy_dt"]) == (
        "joint_pos_offset", 0.25, 0.02)
    assert (meta["horizon"], meta["algorithm"], meta["format_version"]) == (1, "ppo", 2)
    assert (meta["config_hash"], meta["code_version"]) == ("abc123", "0.1.0+gtest")
    # the control the training env runs quad12 under (its registry spec), field by field
    spec, c = get_robot("quad12"), meta["contract"]
    assert c["joint_names"] == list(spec.joint_names)
    for key in ("kp", "kd", "q0", "q_min", "q_max", "dq_max", "tau_max"):
        assert c[key] == getattr(spec, key).tolist(), key
    assert (c["physics_dt"], c["policy_dt"]) == (spec.physics_dt, spec.policy_dt) == (
        0.005, 0.02)
    assert meta["extra"] == {"note": "unit test"}


def test_export_does_not_modify_policy(tmp_path: Path) -> None:
    policy, _, _ = trained_like_policy(24, [16], 6)
    policy.train()
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    export(policy, tmp_path / "p.onnx")
    assert policy.training
    for k, v in policy.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_export_bad_arguments(tmp_path: Path) -> None:
    policy, _, _ = trained_like_policy(24, [16], 6)
    with pytest.raises(ValueError, match="dims sum to 23"):
        export(policy, tmp_path / "p.onnx", [{"name": "obs", "dim": 23}])
    with pytest.raises(ValueError, match="unknown action_type 'torque'"):
        export_actor(policy, tmp_path / "p.onnx", robot="arm6",
                     obs_layout=[{"name": "obs", "dim": 24}], action_type="torque",
                     action_scale=0.1, policy_dt=0.02, algorithm="ppo")
    with pytest.raises(ValueError, match="policy_dt"):
        export_actor(policy, tmp_path / "p.onnx", robot="arm6",
                     obs_layout=[{"name": "obs", "dim": 24}], action_type="joint_pos",
                     action_scale=0.1, policy_dt=0.0, algorithm="ppo")
    assert not (tmp_path / "p.onnx").exists()


def test_export_checkpoint_from_real_run(tmp_path: Path) -> None:
    cfg = TrainConfig(seed=0, num_envs=2, num_workers=0, steps_per_env=8, iterations=1,
                      save_interval=0, policy=PolicyConfig(actor_hidden=(16,),
                                                           critic_hidden=(16,)),
                      ppo=PPOConfig(num_mini_batches=2, num_learning_epochs=1))
    runner = OnPolicyRunner("arm6-reach", cfg, log_dir=None)
    try:
        runner.learn(progress=False)
        ckpt = runner.save(tmp_path / "model.pt")
        layout = runner.obs_layout()
    finally:
        runner.close()
    bundle = export_checkpoint(ckpt, tmp_path / "out" / "bundle.onnx")
    pol = OnnxPolicy(bundle)
    arm6 = get_robot("arm6")
    pol.check_robot(arm6, layout)
    meta = pol.metadata
    assert meta["robot"] == "arm6" and meta["obs_terms"] == layout
    task = load_task_config("arm6-reach")  # (its action type and scale: the robot's or its own)
    assert (meta["action_type"], meta["action_scale"], meta["policy_dt"]) == (
        task.action_type, task.action_scale or arm6.action_scale, arm6.policy_dt)
    assert meta["action_type"] == "joint_pos_delta" and meta["algorithm"] == "ppo"
    assert len(meta["config_hash"]) == 16 and meta["code_version"].startswith("0.1.0")
    assert meta["extra"]["task"] == "arm6-reach" and meta["extra"]["iteration"] == 1
    obs = np.random.default_rng(0).normal(size=(64, pol.obs_dim)).astype(np.float32)
    with torch.no_grad():
        ref = runner.policy.eval()(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(pol.act(obs), ref, atol=1e-5)


def test_export_checkpoint_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        export_checkpoint(tmp_path / "nope.pt", tmp_path / "b.onnx")
