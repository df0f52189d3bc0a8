"""Safety filter chain (ROS-free, torch-free): makes any command safe before the motors."""

from robot_rl.safety.cbf import WorkspaceCBF, WorkspaceCBFConfig
from robot_rl.safety.chain import SafetyChain, SafetyConfig, build_stages
from robot_rl.safety.core import Mode, SafetyEvent, Stage, TickContext
from robot_rl.safety.stages import STAGES

STAGES[WorkspaceCBF.name] = (WorkspaceCBF, WorkspaceCBFConfig)

__all__ = ["STAGES", "Mode", "SafetyChain", "SafetyConfig", "SafetyEvent", "Stage",
           "TickContext", "build_stages"]
