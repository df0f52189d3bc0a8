"""Sim-to-real toolkit: the reality proxy (the "real robot" of every test), motor and learned
actuator models, and system identification.

- `sim2real.proxy`, `sim2real.motor`: the reality proxy and its DC-motor model;
- `sim2real.log`: the system-identification log and its ``.npz`` / ``.mcap`` formats;
- `sim2real.experiment`: the robot on its stand, payloads, excitation and collection;
- `sim2real.sysid`: the identification (`fit`), built from `sim2real.params` (what is
  found), `sim2real.regressors` and `sim2real.linear_fit` (the least squares),
  `sim2real.rollout` (re-simulating the log) and `sim2real.report` (against known values);
- `sim2real.actuator`: the learned actuator network and the ideal PD baseline.
"""
