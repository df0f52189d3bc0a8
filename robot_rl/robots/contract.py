"""The control contract: the control a policy was trained under, written into its bundle and
checked against the robot before the policy drives it.

A policy is trained for one robot's control: its joints in one order, the PD gains ``kp`` and
``kd`` that turn its targets into torque, the default pose ``q0`` its actions are offsets
from, the position, velocity and torque limits, and the physics and policy periods. The
training envs take all of it from the robot's `RobotSpec`; `contract_of` writes it down, the
exporter puts it in every bundle (metadata key ``contract``), and `mismatches` lists each
field where the robot about to be driven differs, naming the joint and both values. The
runtime refuses a bundle with any mismatch (`robot_rl.runtime.controller`); with the deploy
config's ``policy.adopt_bundle_gains`` it drives the robot with the bundle's kp and kd instead
of refusing over them (`with_contract_gains`), and says so.

The contract also lists the safety chain's limit stages the policy was trained inside
(``limits``: ``{type, ...options}`` of joint_limits, rate_limit and torque_limit, as
`robot_rl.safety.limits.limit_entries` writes them; null for a policy trained without them,
the bundles before it). The deployment compares them with its robot config's chain: a
policy trained inside other limits than those that will hold it is refused.

Joints are matched by name, never by index: a bundle whose joints are the robot's in another
order is refused with both orders in the message (its observation and action are in its own
order), and every per-joint value is compared joint by joint, by name.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from robot_rl.robots.spec import RobotSpec

PER_JOINT = ("kp", "kd", "q0", "q_min", "q_max", "dq_max", "tau_max")
PERIODS = ("physics_dt", "policy_dt")
GAINS = ("kp", "kd")
FIELDS = ("joint_names", *PER_JOINT, *PERIODS)
RTOL, ATOL = 1e-6, 1e-9  # equal: what a JSON round trip of a float64 keeps


def contract_of(spec: RobotSpec, limits: Sequence[Mapping[str, Any]] | None = None
                ) -> dict[str, Any]:
    """The control contract of ``spec`` as a JSON-able dict; ``limits``: the limit stages
    the policy was trained inside (None: none, or not known)."""
    out: dict[str, Any] = {"joint_names": list(spec.joint_names)}
    for key in PER_JOINT:
        out[key] = [float(v) for v in getattr(spec, key)]
    for key in PERIODS:
        out[key] = float(getattr(spec, key))
    out["limits"] = None if limits is None else [dict(e) for e in limits]
    return out


def _valid_limits(v: Any) -> bool:
    return v is None or (isinstance(v, list) and all(
        isinstance(e, dict) and isinstance(e.get("type"), str)
        and all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                for k, x in e.items() if k != "type") for e in v))


def validate_contract(raw: Any) -> dict[str, Any]:
    """``raw`` as a contract; ValueError naming the missing or malformed field."""
    if not isinstance(raw, dict):
        raise ValueError("the control contract is not an object")
    missing = [k for k in FIELDS if k not in raw]
    if missing:
        raise ValueError(f"the control contract lacks {missing}")
    names = raw["joint_names"]
    if (not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names)
            or len(set(names)) != len(names)):
        raise ValueError(f"contract joint_names must be distinct joint names, got {names!r}")
    for key in PER_JOINT:
        v = raw[key]
        if (not isinstance(v, list) or len(v) != len(names)
                or not all(isinstance(x, int | float) and not isinstance(x, bool)
                           and math.isfinite(x) for x in v)):
            raise ValueError(f"contract {key} must be {len(names)} finite numbers (one per "
                             f"joint), got {v!r}")
    for key in PERIODS:
        v = raw[key]
        if not isinstance(v, int | float) or isinstance(v, bool) or not (
                math.isfinite(v) and v > 0):
            raise ValueError(f"contract {key} must be > 0, got {v!r}")
    if not _valid_limits(raw.get("limits")):
        raise ValueError("contract limits must be null or a list of {type, ...finite "
                         f"options}} stage entries, got {raw.get('limits')!r}")
    return raw


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)


def _same_limits(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    if [e["type"] for e in a] != [e["type"] for e in b]:
        return False
    for x, y in zip(a, b):
        if set(x) != set(y) or not all(_close(float(x[k]), float(y[k])) for k in x
                                       if k != "type"):
            return False
    return True


def _limits_line(entries: list[dict[str, Any]]) -> str:
    return ", ".join(e["type"] + "(" + " ".join(f"{k}={v:g}" for k, v in e.items()
                                                  if k != "type") + ")" for e in entries)


def mismatches(contract: dict[str, Any], spec: RobotSpec,
               limits: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """Where ``spec`` (and ``limits``, the deployment chain's limit stages, if given) differ
    from ``contract``: field (a `FIELDS` name, "joint_order" or "limits") → a line with the
    joints and both values ({} if it fits). A contract without limits (a policy trained
    without them) is not checked against ``limits``."""
    names = list(contract["joint_names"])
    robot = list(spec.joint_names)
    if set(names) != set(robot):
        return {"joint_names": f"joints: the policy was trained on {names}, {spec.name} has "
                               f"{robot} (missing {sorted(set(names) - set(robot))}, extra "
                               f"{sorted(set(robot) - set(names))})"}
    out = {}
    if names != robot:
        out["joint_order"] = f"joint order: the policy's is {names}, {spec.name}'s is {robot}"
    at = {n: i for i, n in enumerate(robot)}
    for key in PER_JOINT:
        mine = getattr(spec, key)
        diff = [f"{n} {float(v):g} vs {float(mine[at[n]]):g}"
                for n, v in zip(names, contract[key]) if not _close(float(v), float(mine[at[n]]))]
        if diff:
            out[key] = f"{key} (trained vs this robot): {', '.join(diff)}"
    for key in PERIODS:
        if not _close(float(contract[key]), float(getattr(spec, key))):
            out[key] = (f"{key}: trained at {contract[key]:g} s, this robot "
                        f"{getattr(spec, key):g} s")
    trained = contract.get("limits")
    if trained is not None and limits is not None and not _same_limits(trained, limits):
        out["limits"] = (f"safety limits: trained inside {_limits_line(trained)}, this robot's "
                         f"chain applies {_limits_line(limits) or 'none'}")
    return out


def with_contract_gains(spec: RobotSpec, contract: dict[str, Any]) -> RobotSpec:
    """``spec`` with the contract's kp and kd (matched by joint name; the damping gains and the
    stand-up's follow from them as in the spec)."""
    at = {n: i for i, n in enumerate(contract["joint_names"])}
    missing = [n for n in spec.joint_names if n not in at]
    if missing:
        raise ValueError(f"the contract has no gains for joints {missing}")
    kp = np.array([contract["kp"][at[n]] for n in spec.joint_names], dtype=np.float64)
    kd = np.array([contract["kd"][at[n]] for n in spec.joint_names], dtype=np.float64)
    return dataclasses.replace(spec, kp=kp, kd=kd)


__all__ = [
    "FIELDS",
    "GAINS",
    "PERIODS",
    "PER_JOINT",
    "contract_of",
    "mismatches",
    "validate_contract",
    "with_contract_gains",
]
