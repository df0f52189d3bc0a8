"""`ros2 launch robot_rl_ros quad12_proxy.launch.py`: deploy.launch.py with the config
configs/deploy/quad12_proxy.yaml (or $ROBOT_RL_DEPLOY_CONFIG)."""

import os

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.environ.get("ROBOT_RL_DEPLOY_CONFIG", os.path.join(
    os.environ.get("ROBOT_RL_REPO", os.getcwd()), "configs", "deploy", "quad12_proxy.yaml"))


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(HERE, "deploy.launch.py")),
        launch_arguments={"config": CONFIG}.items())])
