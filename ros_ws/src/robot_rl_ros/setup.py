"""ament_python package of the ROS 2 nodes (also pip-installable: `make` does `pip install -e`)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "robot_rl_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    description="Thin rclpy nodes over the robot_rl deploy cores",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "hardware_bridge = robot_rl_ros.run_node:bridge_main",
            "policy_node = robot_rl_ros.run_node:policy_main",
            "safety_node = robot_rl_ros.run_node:safety_main",
        ],
    },
)
