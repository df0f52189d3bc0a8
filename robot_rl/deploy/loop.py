"""`DeployLoop`: the deploy chain without ROS, built by the same builders as the ROS 2 nodes
(`robot_rl.deploy.build`).

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
chain off the loop thread.
"""

from __future__ import annotations

import time
from typing import Any

from hardware.bridge import percentiles
from robot_rl.deploy.backends import open_backend
from robot_rl.deploy.build import load_robot, make_bridge, make_controller
from robot_rl.deploy.config import DeployConfig
from robot_rl.safety.robot_config import make_supervisor
from robot_rl.types import RobotState


class DeployLoop:
    """The whole deploy chain in one thread, no ROS (same cores as the nodes).

    Args: cfg: the deployment. on_tick: optional hook (bridge, state) per bridge tick.
    """

    def __init__(self, cfg: DeployConfig, on_tick: Any = None) -> None:
        self.cfg = cfg
        self.rcfg, self.spec = load_robot(cfg)
        self.controller = make_controller(cfg, self.spec, self.rcfg)
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
        return {"bridge": self.bridge.stats(), "policy_us": percentiles(self.policy_us),
                "chain_us": percentiles(self.chain_us), "safety": self.supervisor.diagnostics(),
                "policy_errors": self.errors, "last_policy_error": self.last_error}



__all__ = ["DeployLoop"]
