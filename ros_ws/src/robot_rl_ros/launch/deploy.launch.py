"""The deploy graph on a full ROS 2 install: `ros2 launch robot_rl_ros deploy.launch.py
config:=/path/to/configs/deploy/quad12_proxy.yaml`.

Starts policy_node, safety_node and the hardware_bridge lifecycle node (one process each, as
`robot-rl bringup CONFIG --processes` does), then configures and activates the bridge once it
is up. Without a full ROS 2 install (wheels only: no `ros2 launch`), use `robot-rl bringup`.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition


def generate_launch_description() -> LaunchDescription:
    config = LaunchConfiguration("config")
    work = LaunchConfiguration("work_dir")
    args = [config, "--work-dir", work]
    bridge = LifecycleNode(package="robot_rl_ros", executable="hardware_bridge",
                           name="hardware_bridge", namespace="", arguments=args, output="screen")
    configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(bridge),
                                            transition_id=Transition.TRANSITION_CONFIGURE))
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=bridge, goal_state="inactive",
        entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(bridge),
                                              transition_id=Transition.TRANSITION_ACTIVATE))]))
    return LaunchDescription([
        DeclareLaunchArgument("config", description="a configs/deploy/*.yaml file"),
        DeclareLaunchArgument("work_dir", default_value="/tmp/robot_rl_nodes",
                              description="where each node writes its stats when it exits"),
        Node(package="robot_rl_ros", executable="policy_node", arguments=args, output="screen"),
        Node(package="robot_rl_ros", executable="safety_node", arguments=args, output="screen"),
        bridge, activate, configure,
    ])
