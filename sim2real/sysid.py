"""System identification: fit a robot's physical parameters (`sim2real.params.SysIdParams`)
from logged joint trajectories (`sim2real.log.SysIdLog`, recorded by `sim2real.experiment`:
the excitation on the stand, through the robot's safety chain).

`fit` puts the stages together:

- the log's inverse-dynamics regressors (`sim2real.regressors`), computed once;
- per candidate actuation latency (the PD law's torques applied that many physics steps
  late) the linear least squares of `sim2real.linear_fit`, which also sets the absolute
  scale (a weighing, the motors' datasheet strength, or a second log with known payloads);
  the candidate whose equations leave the smallest residual wins;
- segments of the log re-simulated from their logged start states under the logged commands
  (`sim2real.rollout`: the PD law at every physics step of a 1 ms implicit-fast model)
  measure the identified model, and the nominal one, against the log.

`sim2real.report.compare` scores an identification against known parameters (a proxy's).
Ground friction needs contact data and is not identified from stand data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sim2real.experiment import nominal_mass
from sim2real.linear_fit import WINDOW_S, fit_linear, resolve_inertia
from sim2real.log import SysIdLog
from sim2real.params import SysIdParams
from sim2real.regressors import log_regressors
from sim2real.rollout import RolloutModel, rollout_rms, segments


@dataclass
class FitResult:
    """The identified parameters and how well they, and the nominal ones, re-simulate the log."""

    params: SysIdParams
    residual_by_latency: dict[int, float]  # the equation's rms residual (picks the latency)
    rms_q_by_latency: dict[int, float]  # rad, rollout position error per candidate latency
    rms_q: float  # rad, at the identified parameters
    rms_q_nominal: float  # rad, with the nominal parameters
    seconds_used: float  # of rollouts per parameter set
    log_seconds: float
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = self.params.to_dict()
        return d


def fit(log: SysIdLog, total_mass_kg: float | None = None,
        latencies: Sequence[int] = (0, 1, 2, 3), segment_s: float = 0.5,
        max_segments: int | None = 60, timestep: float = 0.001,
        integrator: str = "implicitfast",
        progress: Callable[[str], None] | None = None,
        payload_log: SysIdLog | None = None, anchor: str = "auto",
        window_s: float = WINDOW_S, inertia: str = "auto") -> FitResult:
    """Identify `SysIdParams` from ``log`` (see the module docstring). ``total_mass_kg``: the
    robot weighed on a scale (None: its nominal mass); it sets the mass scale. ``timestep``
    and ``integrator``: the fitting model's physics (latencies count its ticks).
    ``payload_log``: a second experiment with a known payload
    (`sim2real.experiment.excite_proxy`'s ``payload``); its equations join the least squares
    and its known torques set the absolute scale. ``anchor``, ``inertia``, ``window_s``: see
    `sim2real.linear_fit.fit_linear`.

    The latency is the candidate whose least squares leaves the smallest equation residual,
    not the one whose rollouts track the log best: within a control interval a tick of
    latency moves the re-simulated positions less than the other model errors do. The
    rollouts of ``log`` (every candidate's, and the nominal model's) measure the identified
    model."""
    t0 = time.perf_counter()
    model = RolloutModel(log.robot, log.fixed_base, timestep, integrator)
    mass_scale = 1.0 if total_mass_kg is None else total_mass_kg / nominal_mass(log.robot)
    inertia = resolve_inertia(inertia, model.spec.floating_base, anchor,
                              payload_log is not None)
    per_body = inertia == "per_body"
    pre = log_regressors(log, model, per_body)
    with_payload = None if payload_log is None else (payload_log,
                                                     log_regressors(payload_log, model, per_body))
    segs = segments(log, segment_s, max_segments)

    def rms_q(p: SysIdParams) -> float:
        """Rollout position error over all segments [rad], from the smoothed log's states."""
        return rollout_rms(model, log, p, segs, pre.q, pre.dq)

    by_latency: dict[int, float] = {}
    fits: dict[int, SysIdParams] = {}
    for lat in latencies:  # per latency its least squares; the smallest residual wins
        fits[int(lat)] = fit_linear(log, model, mass_scale, anchor, latency=int(lat),
                                    window_s=window_s, pre=pre, payload=with_payload,
                                    inertia=inertia)
        by_latency[int(lat)] = rms_q(fits[int(lat)])
        if progress is not None:
            progress(f"latency {lat} ticks: {json.dumps(fits[int(lat)].to_dict())}; rollout "
                     f"rms {by_latency[int(lat)] * 1e3:.3f} mrad")
    lat = min(fits, key=lambda k: fits[k].equation_rms)
    best = fits[lat]
    nominal = SysIdParams(mass_scale=1.0, motor_strength=[1.0] * model.spec.n_joints)
    return FitResult(params=best,
                     residual_by_latency={k: round(f.equation_rms, 6) for k, f in fits.items()},
                     rms_q_by_latency=by_latency, rms_q=by_latency[lat],
                     rms_q_nominal=rms_q(nominal),
                     seconds_used=round(sum(n for _, n in segs) * log.control_dt, 2),
                     log_seconds=round(log.seconds + (payload_log.seconds if payload_log
                                                      is not None else 0.0), 2),
                     wall_s=round(time.perf_counter() - t0, 1))


__all__ = ["FitResult", "fit"]
