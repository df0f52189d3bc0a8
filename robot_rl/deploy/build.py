"""Typed builders of the deploy path, shared by `DeployLoop` and the ROS 2 nodes: each node
builds its core from the deploy config with the same function (`make_controller`,
`robot_rl.safety.robot_config.make_supervisor`, `make_bridge`), so the graph and the ROS-free
loop run the same objects."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from hardware.bridge import HardwareBridge
from robot_rl.deploy.backends import Backend
from robot_rl.deploy.config import DeployConfig
from robot_rl.errors import RobotRLError
from robot_rl.robots.spec import RobotSpec
from robot_rl.runtime.controller import PolicyController
from robot_rl.runtime.policy import BundleError, bundle_metadata
from robot_rl.safety.limits import limit_entries
from robot_rl.safety.robot_config import RobotConfig, load_robot_config, robot_config_file

log = logging.getLogger(__name__)


class DeployError(RobotRLError, RuntimeError):
    """The deployment cannot start (wrong robot, bad bundle, missing device): the message
    names the cause and the fix; the robot is left damped or untouched."""


def load_robot(cfg: DeployConfig) -> tuple[RobotConfig, RobotSpec]:
    """The robot config and the spec every node drives the robot with: the robot config's
    (its ``joints:`` overrides applied), with the bundle's gains where the deploy config
    says ``policy.adopt_bundle_gains`` (logged)."""
    contract = None
    if cfg.policy.adopt_bundle_gains:
        path = cfg.policy_file()
        if path is None:
            raise DeployError("policy.adopt_bundle_gains needs a policy_path (the bundle whose "
                              "gains to adopt)")
        try:
            contract = bundle_metadata(path)["contract"]
        except BundleError as e:
            raise DeployError(f"policy.adopt_bundle_gains: {e}") from None
    rcfg = load_robot_config(cfg.robot_config_path(), gains_from=contract)
    if rcfg.robot != cfg.robot:
        raise DeployError(f"{cfg.robot_config_path()} configures robot '{rcfg.robot}', but the "
                          f"deployment is for '{cfg.robot}'; point robot_config at "
                          f"{robot_config_file(cfg.robot)}")
    spec = rcfg.effective_spec(contract)
    if contract is not None:
        own = rcfg.effective_spec()
        if not (np.array_equal(own.kp, spec.kp) and np.array_equal(own.kd, spec.kd)):
            log.warning("policy.adopt_bundle_gains: driving %s with the gains its policy was "
                        "trained with, kp %s kd %s (the robot config's: kp %s kd %s)",
                        spec.name, spec.kp.tolist(), spec.kd.tolist(), own.kp.tolist(),
                        own.kd.tolist())
    return rcfg, spec


def make_controller(cfg: DeployConfig, spec: RobotSpec, rcfg: RobotConfig) -> PolicyController:
    """The policy node's core: the bundle of ``cfg.policy_path`` for ``spec``, checked
    against the bridge rate (a whole number of bridge ticks per policy period) and against
    the limit stages of ``rcfg``'s chain (those it was trained inside)."""
    path = cfg.policy_file()
    if path is None:
        raise DeployError("no policy_path in the deploy config; set it to a .onnx bundle")
    try:
        ctl = PolicyController(spec, path, cfg.policy.command, cfg.policy.threads,
                               limits=limit_entries(rcfg.safety, str(cfg.robot_config_path())))
    except BundleError as e:
        raise DeployError(f"policy refused: {e}") from None
    steps = ctl.policy_dt * cfg.bridge.rate_hz
    if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
        raise DeployError(f"bridge.rate_hz {cfg.bridge.rate_hz} is not a multiple of the "
                          f"policy rate {1 / ctl.policy_dt:g} Hz")
    return ctl


def make_bridge(cfg: DeployConfig, spec: RobotSpec, backend: Backend, policy_dt: float,
                **hooks: Any) -> HardwareBridge:
    """The bridge node's core: the robot's fast loop over ``backend``'s robot."""
    b = cfg.bridge
    return HardwareBridge(spec, backend.make_robot, rate_hz=b.rate_hz,
                          publish_every=b.publish_every, command_timeout_s=b.command_timeout_s,
                          soft_start_s=b.soft_start_s, shutdown_damp_s=b.shutdown_damp_s,
                          command_period_s=policy_dt, realtime_priority=b.realtime_priority,
                          max_command_age_s=b.max_command_age_s, **hooks)


__all__ = ["DeployError", "load_robot", "make_bridge", "make_controller"]
