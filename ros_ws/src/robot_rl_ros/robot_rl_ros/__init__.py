"""ROS 2 (rclpy) nodes of robot_rl: thin wrappers over the ROS-free deploy cores.

- `bridge_node.HardwareBridgeNode` (lifecycle) over `hardware.bridge.HardwareBridge`;
- `policy_node.PolicyNode` over `robot_rl.runtime.controller.PolicyController`;
- `safety_node.SafetyNode` over `robot_rl.safety.supervisor.SafetySupervisor`;
- `graph` brings them up (one process with an executor, or one process per node).
"""
