"""Issue 21, cases 8 and 9, and the supervision of node processes.

Case 8: ``bringup --processes --policy X`` ignored X (the nodes read the YAML): the arm6
bundle given for quad12 was not refused and the quad12 policy ran. Case 9: ``kill -9`` of
``bringup --processes`` left the three node processes running, motors on. Now the override
reaches every node (and is refused like any bundle), and node processes die with the
bring-up, the bridge damping first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from graphs import deploy_config, start, wait_for

from robot_rl.deploy.build import DeployError


def test_a_policy_override_reaches_every_node_and_is_checked(bundles: dict[str, Path],
                                                            tmp_path: Path) -> None:
    from robot_rl_ros.graph import ProcessGraph

    path, cfg = deploy_config(tmp_path, bundles["quad12_stand"])
    with pytest.raises(DeployError, match="for robot 'arm6', not 'quad12'"):
        ProcessGraph(path, cfg, tmp_path / "n1", policy_path=str(bundles["arm6_hold"])).start()
    g = start("processes", path, cfg, tmp_path, policy_path=str(bundles["quad12_random"]))
    try:
        g.activate()
        g.run(0.5, script=False)
    finally:
        stats = g.stop()
    assert stats["policy_node"]["policy"] == str(bundles["quad12_random"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_node_processes_die_with_a_killed_bringup_and_the_bridge_damps(
        bundles: dict[str, Path], tmp_path: Path) -> None:
    path, _ = deploy_config(tmp_path, bundles["quad12_stand"])
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "robot_rl.cli", "bringup", str(path), "--processes",
         "--duration", "60", "--out", str(out)], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    nodes = out / "nodes"
    try:
        t_end = time.monotonic() + 90
        assert proc.stdout is not None
        for line in proc.stdout:
            if "bringup: active" in line or time.monotonic() > t_end:
                break
        assert "bringup: active" in line, line
        pids = {n: int((nodes / f"{n}.ready").read_text()) for n in (
            "policy_node", "safety_node", "hardware_bridge")}
        assert all(_alive(p) for p in pids.values())
        proc.send_signal(signal.SIGKILL)  # kill -9: no chance to stop the graph itself
        proc.wait(10)
        assert wait_for(lambda: not any(_alive(p) for p in pids.values()), 20.0), {
            n: _alive(p) for n, p in pids.items()}
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in locals().get("pids", {}).values():  # (never left to disturb later tests)
            if _alive(p):
                os.kill(p, signal.SIGKILL)
    bridge = json.loads((nodes / "hardware_bridge.json").read_text())
    assert bridge["modes"][-1] == "passive" and bridge["state"] == "unconfigured", bridge["modes"]
