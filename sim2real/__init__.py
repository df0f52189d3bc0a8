"""Sim-to-real toolkit: domain randomisation, actuator models, system identification and the
reality proxy (the "real robot" of every test). Filled in by the sim-to-real issue."""
