"""The sub-commands of `robot-rl` that live in their own modules (hardware, sysid)."""
