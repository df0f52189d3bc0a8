"""Export the deterministic actor of an `ActorCritic` to a single-file ONNX policy bundle.

The bundle's graph maps raw observations ``obs`` (float32, shape [B, obs_dim]) to actions
``action`` (float32, shape [B, act_dim]); the observation normaliser is baked into the graph.
``metadata_props`` holds one key, ``"robot_rl"``, whose value is a JSON object::

    {"format_version": 1, "robot": "quad12",
     "obs_terms": [{"name": "base_ang_vel", "dim": 3, "scale": 0.25, "noise": 0.2}, ...],
     "obs_dim": 45, "act_dim": 12, "action_type": "joint_pos_offset", "action_scale": 0.25,
     "policy_dt": 0.02, "horizon": 1, "algorithm": "ppo", "config_hash": "...",
     "code_version": "0.1.0+g1234abc", "extra": {...}}

The torch-free reader is `robot_rl.runtime.policy.OnnxPolicy`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from robot_rl.policies.mlp import ActorCritic

METADATA_KEY = "robot_rl"
FORMAT_VERSION = 1
OPSET = 17
ACTION_TYPES = ("joint_pos_offset", "joint_pos", "ee_delta", "chunk")


class _Actor(nn.Module):
    """Deterministic actor: raw obs [B, obs_dim] → action [B, act_dim] (the Gaussian mean)."""

    def __init__(self, policy: ActorCritic) -> None:
        super().__init__()
        self.obs_normalizer = policy.obs_normalizer
        self.actor = policy.actor

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self.obs_normalizer(obs))


def config_hash(*configs: Any) -> str:
    """Short SHA-256 (16 hex digits) of the configs' canonical JSON (sorted keys)."""
    blob = json.dumps(configs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _terms(obs_layout: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    terms = []
    for i, t in enumerate(obs_layout):
        missing = [k for k in ("name", "dim") if k not in t]
        if missing:
            raise ValueError(f"obs_layout[{i}] lacks {missing}: {dict(t)}")
        dim = int(t["dim"])
        if dim < 1:
            raise ValueError(f"obs_layout[{i}] ('{t['name']}') has dim {dim}, expected >= 1")
        terms.append({"name": str(t["name"]), "dim": dim, "scale": float(t.get("scale", 1.0)),
                      "noise": float(t.get("noise", 0.0))})
    return terms


def export_actor(policy: ActorCritic, path: str | Path, *, robot: str,
                 obs_layout: Sequence[Mapping[str, Any]], action_type: str,
                 action_scale: float, policy_dt: float, algorithm: str,
                 config_hash: str = "", code_version: str = "",
                 extra: dict[str, Any] | None = None) -> Path:
    """Write ``policy``'s deterministic actor as an ONNX bundle at ``path`` and return it.

    Args:
        policy: the trained actor-critic (not modified; a CPU float32 eval copy is exported).
        path: output ``.onnx`` file (parent folders are created).
        robot: robot registry name. obs_layout: observation terms in order, as returned by
            ``ObsBuilder.layout()`` ({name, dim, scale, noise}); their dims must sum to
            ``policy.obs_dim``.
        action_type: one of ``ACTION_TYPES``. action_scale: action decoding scale.
        policy_dt: policy period [s]. algorithm: e.g. ``"ppo"``.
        config_hash, code_version: provenance strings. extra: more JSON-able metadata.

    Graph: input ``obs`` float32 [B, obs_dim] → output ``action`` float32 [B, act_dim],
    dynamic batch axis B. Raises ValueError on inconsistent arguments.
    """
    terms = _terms(obs_layout)
    obs_dim, act_dim = int(policy.obs_dim), int(policy.act_dim)
    if sum(t["dim"] for t in terms) != obs_dim:
        raise ValueError(f"obs_layout dims sum to {sum(t['dim'] for t in terms)}, but the "
                         f"policy takes {obs_dim} observations")
    if action_type not in ACTION_TYPES:
        raise ValueError(f"unknown action_type '{action_type}'; use one of {ACTION_TYPES}")
    if not robot:
        raise ValueError("robot name is empty")
    if not (math.isfinite(policy_dt) and policy_dt > 0):
        raise ValueError(f"policy_dt must be > 0, got {policy_dt}")
    if not math.isfinite(action_scale):
        raise ValueError(f"action_scale must be finite, got {action_scale}")
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "robot": robot, "obs_terms": terms,
        "obs_dim": obs_dim, "act_dim": act_dim, "action_type": action_type,
        "action_scale": float(action_scale), "policy_dt": float(policy_dt), "horizon": 1,
        "algorithm": algorithm, "config_hash": config_hash, "code_version": code_version,
        "extra": dict(extra or {}),
    }
    meta_json = json.dumps(meta)  # fails early on non-JSON-able extra

    actor = _Actor(copy.deepcopy(policy).cpu().float()).eval()
    with (tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad()):
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        raw = Path(tmp) / "actor.onnx"
        torch.onnx.export(actor, (torch.zeros(1, obs_dim),), raw, dynamo=False,
                          input_names=["obs"], output_names=["action"],
                          dynamic_axes={"obs": {0: "batch"}, "action": {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True, external_data=False)
        model = onnx.load(str(raw))
    del model.metadata_props[:]
    prop = model.metadata_props.add()
    prop.key, prop.value = METADATA_KEY, meta_json
    model.producer_name = "robot_rl"
    model.doc_string = f"robot_rl {algorithm} policy for {robot}: obs[{obs_dim}] -> {action_type}"
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path


def export_checkpoint(ckpt_path: str | Path, out_path: str | Path) -> Path:
    """Export a training checkpoint (``OnPolicyRunner.save``) as an ONNX bundle.

    The robot comes from the checkpoint's task config; action scale and policy_dt from the
    robot's `RobotSpec`; the observation terms from the checkpoint's ``obs_layout``.
    Raises FileNotFoundError / ValueError with the cause.
    """
    from robot_rl.algos.runner import code_version, load_policy
    from robot_rl.robots import get_robot

    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {ckpt_path}")
    policy, ckpt = load_policy(ckpt_path)
    task_cfg = json.loads(ckpt.get("task_config") or "{}")
    robot = task_cfg.get("robot") if isinstance(task_cfg, dict) else None
    if not robot:
        raise ValueError(f"checkpoint {ckpt_path} has no robot in its task config; cannot "
                         "tell which robot the policy is for")
    spec = get_robot(robot)
    layout = json.loads(ckpt["obs_layout"])
    train_cfg = ckpt.get("train_config", {})
    return export_actor(
        policy, out_path, robot=spec.name, obs_layout=layout, action_type="joint_pos_offset",
        action_scale=spec.action_scale, policy_dt=spec.policy_dt,
        algorithm=str(ckpt.get("algorithm", "ppo")),
        config_hash=config_hash(ckpt.get("task"), train_cfg, task_cfg),
        code_version=str(ckpt.get("code_version") or code_version()),
        extra={"task": ckpt.get("task"), "iteration": int(ckpt.get("iteration", 0)),
               "env_steps": int(ckpt.get("env_steps", 0)), "checkpoint": ckpt_path.name})
