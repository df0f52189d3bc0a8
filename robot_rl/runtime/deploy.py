"""The deploy chain without ROS: builders shared with the ROS 2 nodes, and `DeployLoop`.

One tick (DESIGN.md): read state → build obs → policy (every policy period) → decode →
safety chain → command. The three pieces are the cores of the three nodes:

- `HardwareBridge` (``hardware_bridge``): the robot's fast loop at ``bridge.rate_hz``;
- `PolicyController` (``policy_node``): state → policy command, once per policy period;
- `SafetySupervisor` (``safety_node``): mux + e-stop + safety chain, once per policy tick
  (and on its watchdog when the policy is late). In deployment the chain therefore runs
  at the policy period: its rate limit is per policy step.

`DeployLoop` runs the policy and the chain inside the bridge's loop thread, synchronously,
on the ticks that start a policy period: the reference the ROS graph is measured against
(`robot-rl bench deploy`, sim-to-sim). It is not a robot's deployment path: there a slow
policy step would stall the loop and its timeouts; the ROS graph runs the policy and the
chain off the loop thread (issue 21).
"""

from __future__ import annotations

import time
from typing import Any

from robot_rl.errors import RobotRLError
from robot_rl.robots.config import RobotConfig, load_robot_config
from robot_rl.robots.spec import RobotSpec
from robot_rl.runtime.deploy_config import DeployConfig
from robot_rl.types import RobotState


class DeployError(RobotRLError, RuntimeError):
    """The deployment cannot start (wrong robot, bad bundle, missing device): the message
    names the cause and the fix; the robot is left damped or untouched."""


def load_robot(cfg: DeployConfig) -> tuple[RobotConfig, RobotSpec]:
    rcfg = load_robot_config(cfg.robot_config_path())
    if rcfg.robot != cfg.robot:
        raise DeployError(f"{cfg.robot_config_path()} configures robot '{rcfg.robot}', but the "
                          f"deployment is for '{cfg.robot}'; point robot_config at "
                          f"configs/robots/{cfg.robot}.yaml")
    return rcfg, rcfg.effective_spec()


def make_controller(cfg: DeployConfig, spec: RobotSpec) -> Any:
    from robot_rl.runtime.controller import PolicyController
    from robot_rl.runtime.policy import BundleError

    path = cfg.policy_file()
    if path is None:
        raise DeployError("no policy_path in the deploy config; set it to a .onnx bundle")
    try:
        ctl = PolicyController(spec, path, cfg.policy.command, cfg.policy.threads)
    except BundleError as e:
        raise DeployError(f"policy refused: {e}") from None
    steps = ctl.policy_dt * cfg.bridge.rate_hz
    if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
        raise DeployError(f"bridge.rate_hz {cfg.bridge.rate_hz} is not a multiple of the "
                          f"policy rate {1 / ctl.policy_dt:g} Hz")
    return ctl


def make_supervisor(rcfg: RobotConfig, spec: RobotSpec, policy_dt: float) -> Any:
    from robot_rl.safety.chain import SafetyChain
    from robot_rl.safety.supervisor import SafetySupervisor

    return SafetySupervisor(SafetyChain.from_config(rcfg.safety, spec, policy_dt,
                                                    str(rcfg.robot)))


def make_bridge(cfg: DeployConfig, spec: RobotSpec, backend: Any, policy_dt: float,
                **hooks: Any) -> Any:
    from hardware.bridge import HardwareBridge

    b = cfg.bridge
    return HardwareBridge(spec, backend.make_robot, rate_hz=b.rate_hz,
                          publish_every=b.publish_every, command_timeout_s=b.command_timeout_s,
                          soft_start_s=b.soft_start_s, shutdown_damp_s=b.shutdown_damp_s,
                          command_period_s=policy_dt, realtime_priority=b.realtime_priority,
                          max_command_age_s=b.max_command_age_s, **hooks)


class DeployLoop:
    """The whole deploy chain in one thread, no ROS (same cores as the nodes).

    Args: cfg: the deployment. on_tick: optional hook (bridge, state) per bridge tick.
    """

    def __init__(self, cfg: DeployConfig, on_tick: Any = None) -> None:
        from hardware.backends import open_backend

        self.cfg = cfg
        self.rcfg, self.spec = load_robot(cfg)
        self.controller = make_controller(cfg, self.spec)
        self.supervisor = make_supervisor(self.rcfg, self.spec, self.controller.policy_dt)
        self.decimation = int(round(self.controller.policy_dt * cfg.bridge.rate_hz))
        self.backend = open_backend(cfg.robot, cfg.backend)
        self.bridge = make_bridge(cfg, self.spec, self.backend, self.controller.policy_dt,
                                  on_state=self._on_state, on_tick=on_tick)
        self.policy_us: list[float] = []
        self.chain_us: list[float] = []
        self.errors = 0
        self.last_error = ""

    def _on_state(self, st: RobotState, tick: int) -> None:
        sup = self.supervisor
        sup.update_state(st)
        if tick % self.decimation:
            return
        t0 = time.perf_counter()
        try:
            cmd = self.controller.step(st, st.t)
            sup.submit_policy(cmd, st.t)  # (its age: the state's it was computed from)
        except ValueError as e:  # a bad / non-finite observation: the chain holds
            self.errors += 1
            self.last_error = str(e)
        t1 = time.perf_counter()
        out = sup.tick(time.monotonic())
        t2 = time.perf_counter()
        self.policy_us.append((t1 - t0) * 1e6)
        self.chain_us.append((t2 - t1) * 1e6)
        if out is not None:
            self.bridge.submit(out, st.t)

    def start(self) -> DeployLoop:
        self.bridge.configure()  # (it freezes the heap before its loop starts, cleanup thaws)
        self.supervisor.rearm()  # as the safety node does on the bridge's activation
        self.bridge.activate()
        return self

    def stop(self) -> None:
        try:
            self.bridge.shutdown()
        finally:
            self.backend.close()

    def run(self, seconds: float, script: bool = True) -> None:
        """Run for ``seconds`` wall seconds, applying the config's command script."""
        t0 = time.monotonic()
        while (el := time.monotonic() - t0) < seconds:
            cmd = self.cfg.command_at(el) if script else None
            if cmd is not None:
                self.controller.set_command(cmd)
            time.sleep(0.01)

    def stats(self) -> dict[str, Any]:
        from hardware.bridge import percentiles

        return {"bridge": self.bridge.stats(), "policy_us": percentiles(self.policy_us),
                "chain_us": percentiles(self.chain_us), "safety": self.supervisor.diagnostics(),
                "policy_errors": self.errors, "last_policy_error": self.last_error}



__all__ = ["DeployError", "DeployLoop", "load_robot", "make_bridge", "make_controller",
           "make_supervisor"]
