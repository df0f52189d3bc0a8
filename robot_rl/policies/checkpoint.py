"""Policy checkpoints: one ``.pt`` file that rebuilds any policy kind and says how it deploys.

Layout (a dict of tensors and JSON strings, read with ``torch.load(weights_only=True)``)::

    {"format": "robot_rl.policy", "kind": "actor_critic" | "diffusion" | "residual",
     "arch": JSON (constructor arguments), "policy": state_dict,
     "deploy": JSON {robot, obs_layout, action_type, action_scale, policy_dt, algorithm,
                     task, config_hash, code_version, n_exec?, base_bundle?, extra}}

Training code for each algorithm writes these with `save_policy`; `robot-rl export` turns
them into bundles (``robot_rl.export.export_checkpoint``). The PPO runner's own training
checkpoints (with optimiser state) are read by the exporter too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robot_rl.config import from_dict
from robot_rl.policies.diffusion import DiffusionChunkPolicy, DiffusionConfig
from robot_rl.policies.mlp import ActorCritic
from robot_rl.policies.residual import ResidualPolicy

FORMAT = "robot_rl.policy"


def _ac_arch(p: nn.Module) -> dict[str, Any]:
    assert isinstance(p, ActorCritic)
    return dict(p.arch)


def _ac_build(arch: dict[str, Any]) -> nn.Module:
    a = dict(arch)
    return ActorCritic(a.pop("obs_dim"), a.pop("act_dim"), tuple(a.pop("actor_hidden")),
                       tuple(a.pop("critic_hidden")), **a)


def _diff_arch(p: nn.Module) -> dict[str, Any]:
    assert isinstance(p, DiffusionChunkPolicy)
    return asdict(p.cfg)


def _diff_build(arch: dict[str, Any]) -> nn.Module:
    return DiffusionChunkPolicy(from_dict(DiffusionConfig, arch, "checkpoint arch"))


def _res_arch(p: nn.Module) -> dict[str, Any]:
    assert isinstance(p, ResidualPolicy)
    base = None if p.base is None else {"kind": kind_of(p.base), "arch": arch_of(p.base)}
    return {"scale": p.scale, "obs_dim": p.obs_dim, "residual": arch_of(p.residual),
            "base": base}


def _res_build(arch: dict[str, Any]) -> nn.Module:
    base = None
    if arch.get("base") is not None:
        base = build(arch["base"]["kind"], arch["base"]["arch"])
    residual = _ac_build(arch["residual"])
    assert isinstance(residual, ActorCritic)
    return ResidualPolicy(residual, float(arch["scale"]), int(arch["obs_dim"]), base)


# kind → (class, arch of an instance, build from arch)
KINDS: dict[str, tuple[type[nn.Module], Callable[[nn.Module], dict[str, Any]],
                       Callable[[dict[str, Any]], nn.Module]]] = {
    "actor_critic": (ActorCritic, _ac_arch, _ac_build),
    "diffusion": (DiffusionChunkPolicy, _diff_arch, _diff_build),
    "residual": (ResidualPolicy, _res_arch, _res_build),
}


def kind_of(policy: nn.Module) -> str:
    for name, (cls, _, _) in KINDS.items():
        if type(policy) is cls:
            return name
    raise TypeError(f"no checkpoint kind for {type(policy).__name__}; known: {sorted(KINDS)}")


def arch_of(policy: nn.Module) -> dict[str, Any]:
    return KINDS[kind_of(policy)][1](policy)


def build(kind: str, arch: dict[str, Any]) -> nn.Module:
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind '{kind}'; known: {sorted(KINDS)}")
    return KINDS[kind][2](arch)


def save_policy(path: str | Path, policy: nn.Module, *, robot: str,
                obs_layout: Sequence[Mapping[str, Any]], action_type: str, action_scale: float,
                policy_dt: float, algorithm: str, task: str = "", config_hash: str = "",
                code_version: str = "", n_exec: int | None = None,
                base_bundle: str | None = None, extra: dict[str, Any] | None = None,
                limits: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Write a policy checkpoint (module docstring). ``action_type`` is the per-step type
    (for a diffusion policy: that of each chunk step); ``base_bundle``: file name of an
    external residual base's bundle (next to the exported residual bundle); ``limits``: the
    safety limit stages it was trained inside (its task config's ``safety_limits``)."""
    deploy = {"robot": robot, "obs_layout": [dict(t) for t in obs_layout],
              "action_type": action_type, "action_scale": float(action_scale),
              "policy_dt": float(policy_dt), "algorithm": algorithm, "task": task,
              "config_hash": config_hash, "code_version": code_version, "n_exec": n_exec,
              "base_bundle": base_bundle, "extra": dict(extra or {}),
              "limits": None if limits is None else [dict(e) for e in limits]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "kind": kind_of(policy), "arch": json.dumps(arch_of(policy)),
                "policy": policy.state_dict(), "deploy": json.dumps(deploy)}, path)
    return path


def load_policy_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any], str]:
    """Rebuild a checkpoint's policy (eval mode): (policy, deploy info, kind)."""
    return policy_from_checkpoint(torch.load(Path(path), weights_only=True), str(path))


def policy_from_checkpoint(ckpt: Any, source: str = "checkpoint"
                           ) -> tuple[nn.Module, dict[str, Any], str]:
    """`load_policy_checkpoint` on an already loaded checkpoint dict."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{source} is not a robot_rl policy checkpoint (no format "
                         f"'{FORMAT}')")
    kind = str(ckpt["kind"])
    policy = build(kind, json.loads(ckpt["arch"]))
    policy.load_state_dict(ckpt["policy"])
    policy.eval()
    return policy, json.loads(ckpt["deploy"]), kind


__all__ = ["FORMAT", "KINDS", "build", "kind_of", "load_policy_checkpoint",
           "policy_from_checkpoint", "save_policy"]
