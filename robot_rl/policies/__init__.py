"""Torch policy networks used by the algorithms and by the ONNX exporter."""

from robot_rl.policies.mlp import ActorCritic, EmpiricalNormalization, mlp

__all__ = ["ActorCritic", "EmpiricalNormalization", "mlp"]
