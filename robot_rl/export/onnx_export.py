"""Export torch policies to single-file ONNX policy bundles, one exporter per policy kind.

Every bundle maps raw observations ``obs`` (float32 [B, obs_dim]) to ``action``; the
normalisers are baked into the graph. ``metadata_props`` holds one key, ``"robot_rl"``,
whose value is a JSON object::

    {"format_version": 2, "robot": "quad12",
     "contract": {"joint_names": [...], "kp": [...], "kd": [...], "q0": [...], "q_min": [...],
                  "q_max": [...], "dq_max": [...], "tau_max": [...], "physics_dt": 0.005,
                  "policy_dt": 0.02},
     "obs_terms": [{"name": "base_ang_vel", "dim": 3, "scale": 0.25, "noise": 0.2}, ...],
     "obs_dim": 45, "act_dim": 12, "action_type": "joint_pos_offset", "action_scale": 0.25,
     "policy_dt": 0.02, "horizon": 1, "algorithm": "ppo", "config_hash": "...",
     "code_version": "0.1.0+g1234abc", "extra": {...}}

``contract`` is the control the policy was trained under (`robot_rl.robots.contract`), checked
against the robot by the runtime before it drives it.

Kinds:
- Gaussian MLP actor (`export_actor`): ``obs`` → ``action`` [B, act_dim] (the mean).
- Diffusion chunk sampler (`export_diffusion`): inputs ``obs`` and ``noise`` [B, H, act_dim]
  (the sampler's initial noise, so the graph is deterministic) → ``action`` [B, H, act_dim],
  the K DDIM steps unrolled. ``action_type`` is ``"chunk"``, ``horizon`` is H, and
  ``"chunk": {"action_type": per-step type, "n_exec": steps to execute per chunk,
  "sample_steps": K, "denoiser": "mlp"|"unet"}``.
- Residual composite (`export_residual`): with an embedded base, ``obs`` → base + residual
  in one graph; with an external base, inputs ``obs`` and ``base_action`` [B, act_dim].
  ``"residual": {"scale": s, "base": "embedded" | {"file": NAME, "sha256": HEX}}`` (an
  external base bundle is found next to the residual bundle and checked by hash).

The torch-free readers are in `robot_rl.runtime` (`OnnxPolicy`, `ChunkPolicy`, `ResidualStack`).
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

from robot_rl.algos.runner import code_version, load_policy
from robot_rl.envs import load_task_config
from robot_rl.policies.checkpoint import FORMAT, policy_from_checkpoint
from robot_rl.policies.diffusion import DiffusionChunkPolicy
from robot_rl.policies.mlp import ActorCritic
from robot_rl.policies.residual import ResidualPolicy
from robot_rl.robots import get_robot
from robot_rl.robots.contract import contract_of
from robot_rl.runtime.obs import ObsBuilder
from robot_rl.runtime.policy import ACTION_TYPES, FORMAT_VERSION, METADATA_KEY, file_sha256

OPSET = 17


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


def _metadata(*, robot: str, obs_layout: Sequence[Mapping[str, Any]], obs_dim: int,
              act_dim: int, action_type: str, action_scale: float, policy_dt: float,
              algorithm: str, horizon: int = 1, config_hash: str = "", code_version: str = "",
              extra: dict[str, Any] | None = None,
              limits: Sequence[Mapping[str, Any]] | None = None, **kind: Any) -> dict[str, Any]:
    """Validated bundle metadata (ValueError naming the inconsistent argument)."""
    terms = _terms(obs_layout)
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
        # the control the training envs run the robot under: its registry spec
        # (`robot_rl.envs.base`), which the runtime checks the robot against
        "contract": contract_of(get_robot(robot), limits),
        "obs_dim": int(obs_dim), "act_dim": int(act_dim), "action_type": action_type,
        "action_scale": float(action_scale), "policy_dt": float(policy_dt),
        "horizon": int(horizon), "algorithm": algorithm, "config_hash": config_hash,
        "code_version": code_version, **kind, "extra": dict(extra or {}),
    }
    json.dumps(meta)  # fails early on non-JSON-able extra
    return meta


def _write_bundle(module: nn.Module, example: tuple[torch.Tensor, ...],
                  input_names: list[str], meta: dict[str, Any], path: str | Path) -> Path:
    """Trace ``module`` (float32, CPU, eval) to ONNX with a dynamic batch axis on every
    input and on ``action``, attach ``meta`` and check the model."""
    module = module.eval()
    axes = {name: {0: "batch"} for name in [*input_names, "action"]}
    with (tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad()):
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation / tracer notices
        raw = Path(tmp) / "policy.onnx"
        torch.onnx.export(module, example, raw, dynamo=False, input_names=input_names,
                          output_names=["action"], dynamic_axes=axes, opset_version=OPSET,
                          do_constant_folding=True, external_data=False)
        model = onnx.load(str(raw))
    del model.metadata_props[:]
    prop = model.metadata_props.add()
    prop.key, prop.value = METADATA_KEY, json.dumps(meta)
    model.producer_name = "robot_rl"
    model.doc_string = (f"robot_rl {meta['algorithm']} policy for {meta['robot']}: "
                        f"obs[{meta['obs_dim']}] -> {meta['action_type']}")
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path


def _cpu_copy(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).cpu().float().eval()


def export_actor(policy: ActorCritic, path: str | Path, *, robot: str,
                 obs_layout: Sequence[Mapping[str, Any]], action_type: str,
                 action_scale: float, policy_dt: float, algorithm: str,
                 config_hash: str = "", code_version: str = "",
                 extra: dict[str, Any] | None = None,
                 limits: Sequence[Mapping[str, Any]] | None = None) -> Path:
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
    obs_dim, act_dim = int(policy.obs_dim), int(policy.act_dim)
    meta = _metadata(robot=robot, obs_layout=obs_layout, obs_dim=obs_dim, act_dim=act_dim,
                     action_type=action_type, action_scale=action_scale, policy_dt=policy_dt,
                     algorithm=algorithm, config_hash=config_hash, code_version=code_version,
                     extra=extra, limits=limits)
    actor = _Actor(_cpu_copy(policy))  # type: ignore[arg-type]
    return _write_bundle(actor, (torch.zeros(1, obs_dim),), ["obs"], meta, path)


def export_diffusion(policy: DiffusionChunkPolicy, path: str | Path, *, robot: str,
                     obs_layout: Sequence[Mapping[str, Any]], chunk_action_type: str,
                     action_scale: float, policy_dt: float, algorithm: str = "diffusion",
                     n_exec: int | None = None, config_hash: str = "", code_version: str = "",
                     extra: dict[str, Any] | None = None,
                     limits: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Write ``policy``'s K-step DDIM sampler (eta = 0, unrolled) as an ONNX bundle.

    Graph: inputs ``obs`` [B, obs_dim] and ``noise`` [B, H, A] (standard normal, the
    sampler's initial noise) → ``action`` [B, H, A] in raw action units. ``chunk_action_type``
    is the type of each step (e.g. ``joint_pos``); ``n_exec`` the steps to execute per chunk
    (default H); chunk step k is the action for ``t_chunk + k * policy_dt``.
    """
    h, a = policy.horizon, policy.act_dim
    n_exec = h if n_exec is None else int(n_exec)
    if not 1 <= n_exec <= h:
        raise ValueError(f"n_exec must be in [1, horizon={h}], got {n_exec}")
    if chunk_action_type not in ACTION_TYPES or chunk_action_type == "chunk":
        raise ValueError(f"chunk_action_type must be a per-step type in "
                         f"{[t for t in ACTION_TYPES if t != 'chunk']}, got '{chunk_action_type}'")
    chunk = {"action_type": chunk_action_type, "n_exec": n_exec,
             "sample_steps": policy.cfg.sample_steps, "denoiser": policy.cfg.denoiser}
    meta = _metadata(robot=robot, obs_layout=obs_layout, obs_dim=policy.obs_dim, act_dim=a,
                     action_type="chunk", action_scale=action_scale, policy_dt=policy_dt,
                     algorithm=algorithm, horizon=h, config_hash=config_hash,
                     code_version=code_version, extra=extra, chunk=chunk, limits=limits)
    example = (torch.zeros(1, policy.obs_dim), torch.zeros(1, h, a))
    return _write_bundle(_cpu_copy(policy), example, ["obs", "noise"], meta, path)


class _ExternalResidual(nn.Module):
    def __init__(self, policy: ResidualPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor, base_action: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.policy(obs, base_action)
        return out


def export_residual(policy: ResidualPolicy, path: str | Path, *, robot: str,
                    obs_layout: Sequence[Mapping[str, Any]], action_type: str,
                    action_scale: float, policy_dt: float, algorithm: str = "residual_ppo",
                    base_bundle: str | Path | None = None, config_hash: str = "",
                    code_version: str = "", extra: dict[str, Any] | None = None,
                    limits: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Write a residual composite as an ONNX bundle.

    Embedded base (``policy.base`` set): one graph ``obs`` → ``a_base + scale * r``.
    External base: ``base_bundle`` (an existing bundle, which must sit in the same folder as
    ``path``) is declared by file name and SHA-256; the graph takes ``obs`` and
    ``base_action`` [B, A] and returns the composed action.
    """
    a, o = policy.act_dim, policy.obs_dim
    if policy.embedded_base:
        if base_bundle is not None:
            raise ValueError("the residual policy embeds its base; do not pass base_bundle")
        base: Any = "embedded"
        module: nn.Module = _cpu_copy(policy)
        example: tuple[torch.Tensor, ...] = (torch.zeros(1, o),)
        names = ["obs"]
    else:
        if base_bundle is None:
            raise ValueError("the residual policy has an external base: pass base_bundle "
                             "(the base's .onnx bundle)")
        base_bundle = Path(base_bundle)
        if not base_bundle.is_file():
            raise FileNotFoundError(f"base bundle not found: {base_bundle}")
        if base_bundle.resolve().parent != Path(path).resolve().parent:
            raise ValueError(f"the base bundle {base_bundle} must be in the same folder as the "
                             f"residual bundle {path} (it is found by file name)")
        base = {"file": base_bundle.name, "sha256": file_sha256(base_bundle)}
        module = _ExternalResidual(_cpu_copy(policy))  # type: ignore[arg-type]
        example, names = (torch.zeros(1, o), torch.zeros(1, a)), ["obs", "base_action"]
    meta = _metadata(robot=robot, obs_layout=obs_layout, obs_dim=o, act_dim=a,
                     action_type=action_type, action_scale=action_scale, policy_dt=policy_dt,
                     algorithm=algorithm, config_hash=config_hash, code_version=code_version,
                     extra=extra, residual={"scale": policy.scale, "base": base}, limits=limits)
    return _write_bundle(module, example, names, meta, path)


def _task_io(task: str) -> tuple[Any, Any, Any]:
    """A registered task's config, robot spec and observation builder."""
    cfg = load_task_config(task)
    spec = get_robot(cfg.robot)
    return cfg, spec, ObsBuilder(spec, cfg.obs)


def export_for_task(policy: ActorCritic, task: str, path: str | Path, *, algorithm: str,
                    extra: dict[str, Any] | None = None, offset: bool = False) -> Path:
    """Export an actor for a registered task: robot, observation layout, action type, scale
    and clip, observation clip, policy rate and safety limits all from the task's and robot's
    configs (``offset``: offset actions at the robot's scale whatever the task's type)."""
    cfg, spec, builder = _task_io(task)
    own = not offset  # the task's own decoding
    return export_actor(policy, path, robot=spec.name, obs_layout=builder.layout(),
                        action_type=cfg.action_type if own else "joint_pos_offset",
                        action_scale=(cfg.action_scale if own and cfg.action_scale is not None
                                      else spec.action_scale),
                        policy_dt=spec.policy_dt, algorithm=algorithm,
                        extra={"task": task, "action_clip": cfg.action_clip,
                               "obs_clip": cfg.obs.clip, **(extra or {})},
                        limits=cfg.safety_limits)


def task_actor(task: str, hidden: Sequence[int] = (64, 64)) -> ActorCritic:
    """A fresh actor-critic sized for a registered task's observation and action."""
    _, spec, builder = _task_io(task)
    return ActorCritic(builder.dim, spec.n_joints, hidden, hidden)


def export_constant_policy(task: str, path: str | Path, value: float,
                           hidden: Sequence[int] = (64, 64), algorithm: str = "constant",
                           note: str = "") -> Path:
    """A real bundle for ``task`` whose every output is ``value`` (its output layer's weights
    zero, its bias ``value``), with offset actions whatever the task trains: 0 holds the
    default pose q0; NaN or inf is a broken policy, for the fault tests and `robot-rl bench
    faults`."""
    policy = task_actor(task, hidden)
    last = policy.actor[-1]
    assert isinstance(last, nn.Linear)
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(value)
    return export_for_task(policy, task, path, algorithm=algorithm,
                           extra={"note": note or f"constant output {value}"}, offset=True)


def export_standing_policy(task: str, path: str | Path, hidden: Sequence[int] = (64, 64)
                           ) -> Path:
    """A zero-action policy as a real bundle: the joint PD holds the default pose (the
    quadruped stands, the arm holds home). Timing and deployment runs use it where no
    trained policy is needed or none exists yet."""
    return export_constant_policy(task, path, 0.0, hidden, algorithm="stand",
                                  note="zero action: holds the default pose")


def _export_saved(policy: nn.Module, deploy: dict[str, Any], out: Path) -> Path:
    """Export a `robot_rl.policies.checkpoint` policy with the exporter of its kind."""
    common = {"robot": deploy["robot"], "obs_layout": deploy["obs_layout"],
              "action_scale": deploy["action_scale"], "policy_dt": deploy["policy_dt"],
              "algorithm": deploy["algorithm"], "config_hash": deploy.get("config_hash", ""),
              "code_version": deploy.get("code_version", ""),
              "extra": {"task": deploy.get("task", ""), **deploy.get("extra", {})},
              "limits": deploy.get("limits")}
    if isinstance(policy, DiffusionChunkPolicy):
        return export_diffusion(policy, out, chunk_action_type=deploy["action_type"],
                                n_exec=deploy.get("n_exec"), **common)
    if isinstance(policy, ResidualPolicy):
        base = deploy.get("base_bundle")
        return export_residual(policy, out, action_type=deploy["action_type"],
                               base_bundle=None if base is None else out.parent / base, **common)
    if isinstance(policy, ActorCritic):
        return export_actor(policy, out, action_type=deploy["action_type"], **common)
    raise ValueError(f"no exporter for {type(policy).__name__}")


def _task_limits(task_cfg: dict[str, Any]) -> dict[str, float]:
    """The task's action clip and observation clip, which the deploy path must apply too."""
    out = {}
    if isinstance(task_cfg.get("action_clip"), int | float):
        out["action_clip"] = float(task_cfg["action_clip"])
    obs = task_cfg.get("obs")
    if isinstance(obs, dict) and isinstance(obs.get("clip"), int | float):
        out["obs_clip"] = float(obs["clip"])
    return out


def export_checkpoint(ckpt_path: str | Path, out_path: str | Path) -> Path:
    """Export a checkpoint as an ONNX bundle: a policy checkpoint of any kind
    (`robot_rl.policies.checkpoint.save_policy`) or a PPO training checkpoint
    (``OnPolicyRunner.save``).

    For a PPO training checkpoint, the robot, action type and action scale come from its task
    config (the scale from the robot's `RobotSpec` where the task sets none), policy_dt from
    the spec, the observation terms from its ``obs_layout``.
    An external residual base is looked up next to ``out_path``. Raises FileNotFoundError /
    ValueError with the cause.
    """

    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {ckpt_path}")
    head = torch.load(ckpt_path, weights_only=True, map_location="cpu")
    if isinstance(head, dict) and head.get("format") == FORMAT:
        saved, deploy, _ = policy_from_checkpoint(head, str(ckpt_path))
        return _export_saved(saved, deploy, Path(out_path))
    policy, ckpt = load_policy(ckpt_path)
    task_cfg = json.loads(ckpt.get("task_config") or "{}")
    robot = task_cfg.get("robot") if isinstance(task_cfg, dict) else None
    if not robot:
        raise ValueError(f"checkpoint {ckpt_path} has no robot in its task config; cannot "
                         "tell which robot the policy is for")
    spec = get_robot(robot)
    layout = json.loads(ckpt["obs_layout"])
    train_cfg = ckpt.get("train_config", {})
    scale = task_cfg.get("action_scale")
    return export_actor(
        policy, out_path, robot=spec.name, obs_layout=layout,
        action_type=str(task_cfg.get("action_type", "joint_pos_offset")),
        action_scale=spec.action_scale if scale is None else float(scale),
        policy_dt=spec.policy_dt,
        algorithm=str(ckpt.get("algorithm", "ppo")),
        config_hash=config_hash(ckpt.get("task"), train_cfg, task_cfg),
        code_version=str(ckpt.get("code_version") or code_version()),
        extra={"task": ckpt.get("task"), "iteration": int(ckpt.get("iteration", 0)),
               **_task_limits(task_cfg),
               "env_steps": int(ckpt.get("env_steps", 0)), "checkpoint": ckpt_path.name},
        limits=task_cfg.get("safety_limits"))
