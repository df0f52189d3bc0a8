"""MuJoCo tasks (Gymnasium API), registered by name. `robot-rl envs` lists them."""

from robot_rl.envs.arm6_tasks import Arm6InsertEnv, Arm6LiftEnv, Arm6ReachEnv, ArmTaskConfig
from robot_rl.envs.base import RobotEnv, TaskConfig
from robot_rl.envs.quad12_walk import Quad12WalkEnv, WalkConfig
from robot_rl.envs.registry import (
    TASKS,
    EnvFactory,
    TaskEntry,
    UnknownTaskError,
    get_task,
    load_task_config,
    make_env,
    register_task,
)

register_task("quad12-walk", TaskEntry(Quad12WalkEnv, WalkConfig, "quad12-walk.yaml",
                                       "quad12 velocity tracking on flat ground"))
register_task("quad12-walk-rough", TaskEntry(Quad12WalkEnv, WalkConfig, "quad12-walk-rough.yaml",
                                             "quad12 velocity tracking on a random height field"))
register_task("arm6-reach", TaskEntry(Arm6ReachEnv, ArmTaskConfig, "arm6-reach.yaml",
                                      "arm6 end-effector to a sampled point"))
register_task("arm6-lift", TaskEntry(Arm6LiftEnv, ArmTaskConfig, "arm6-lift.yaml",
                                     "arm6 grasp the cube and lift it 5 cm"))
register_task("arm6-insert", TaskEntry(Arm6InsertEnv, ArmTaskConfig, "arm6-insert.yaml",
                                       "arm6 insert the peg into the hole (sparse + shaped)"))

__all__ = ["TASKS", "EnvFactory", "RobotEnv", "TaskConfig", "TaskEntry", "UnknownTaskError",
           "get_task", "load_task_config", "make_env", "register_task"]
