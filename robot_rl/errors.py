"""The root of every error a user can act on.

`RobotRLError` is raised for causes outside the code: a config value, a bundle, a task name,
a device, a log. Its message names the cause and the fix. Each area subclasses it (and keeps
the built-in base its callers catch: a `ConfigError` is also a ValueError):

- `robot_rl.config.ConfigError`, `robot_rl.envs.registry.UnknownTaskError`
- `robot_rl.runtime.policy.BundleError`, `robot_rl.runtime.obs.ObsError`
- `robot_rl.deploy.DeployError` (the deployment cannot start)
- `hardware.errors.HardwareError` and below it the servo bus, CAN, camera and calibration
  errors
- `sim2real.experiment.SysIdError`

The CLI prints a `RobotRLError` as one line, without a traceback, and exits with 2; anything
else is a bug and keeps its traceback.
"""


class RobotRLError(Exception):
    """An error the user can fix; the message says what is wrong and what to do."""


__all__ = ["RobotRLError"]
