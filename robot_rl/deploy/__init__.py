"""The composition root: builds the deploy path from its configs.

- `config`: the deploy config (``configs/deploy/*.yaml``): robot, policy, backend, bridge,
  script.
- `backends`: the robot backends by name (sim, proxy, virtual devices, real devices).
- `build`: the typed builders of the three node cores (policy controller, safety supervisor,
  hardware bridge), shared by the ROS 2 nodes and `loop`.
- `loop`: `DeployLoop`, the whole chain in one thread without ROS (the reference).
- `report`: the deployment report (tracking, falls, safety interventions).
- `sim2sim`: one policy through the deploy chain on the training sim and the reality proxies.

Only the entry points (CLI, ROS 2 nodes, benchmarks) import this package.
"""
