"""Learning algorithms (torch): PPO now; H-infinity, diffusion BC, DPPO, residual RL and AVG
with their issues."""
